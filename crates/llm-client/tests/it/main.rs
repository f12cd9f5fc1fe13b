//! Integration tests of the client against the local simulator (started in-process on a free
//! port) and against the OpenAI spec.

mod batches;
mod cache;
mod contract;
mod faults;
mod providers;
mod support;
