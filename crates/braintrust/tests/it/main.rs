//! HTTP tests of the Braintrust client against the simulator, and the contract test of every
//! request body it sends.
#![allow(
    unreachable_pub,
    reason = "test helpers are shared between test modules"
)]

mod contract;
mod matching;
mod sim;
mod support;
mod upload;
