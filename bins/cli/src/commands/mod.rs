//! One module per binary.

pub mod orchestrator;
