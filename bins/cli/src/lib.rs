//! The command-line layer of the toolkit: argument parsing, printing, exit codes and progress
//! bars over the library crates. Each binary in `src/bin/` is a one-line `main` calling into
//! [`commands`]; each command turns its arguments into library calls and renders the result.
//!
//! Library crates never print; this crate owns stdout (data), stderr (progress, diagnostics)
//! and exit codes.

pub mod commands;
pub mod common;
