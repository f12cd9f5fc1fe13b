//! The command-line layer of the toolkit: argument parsing, printing, exit codes and progress
//! bars over the library crates. Each binary in `src/bin/` is a one-line `main` calling into
//! [`commands`]; each command turns its arguments into library calls and renders the result.
//!
//! Library crates never print; this crate owns stdout (data), stderr (progress, diagnostics)
//! and exit codes.

pub mod commands;
pub mod common;

// Every binary parses and writes a lot of small JSON values; mimalloc handles that many short
// allocations with noticeably less CPU than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
