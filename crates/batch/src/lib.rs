//! The OpenAI Batch API workflow: request files (split by count, bytes and tokens), upload,
//! status, download, evaluation through the shared scorer, and resubmission of what failed.
//!
//! It must not depend on terminal output; progress goes through a trait.
#![deny(clippy::print_stdout, clippy::print_stderr)]
