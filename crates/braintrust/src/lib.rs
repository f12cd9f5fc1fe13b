//! A client for the documented Braintrust `/v1` REST endpoints and the logic to upload runs
//! idempotently, check their status, download experiments and match local runs to them.
//!
//! It must not depend on the model client or terminal output.
#![deny(clippy::print_stdout, clippy::print_stderr)]
