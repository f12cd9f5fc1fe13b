//! Integration tests of the batch workflow: splitting and line validity, and the whole cycle
//! against the simulator.
#![allow(
    unreachable_pub,
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "test helpers are shared between test modules"
)]

mod support;

mod cycle;
mod split;
mod staging;
