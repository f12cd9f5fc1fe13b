//! Running a module's experiment: render each record's prompt, call the model, parse and score
//! the answer, write the results CSV, register the run. Shared by the orchestrator and the batch
//! evaluator so rendering, parsing and scoring exist once. [`prepare`] turns a caller's options
//! into a checked [`RunSetup`] (modules, model, dataset, prices, plans, and a write probe of
//! the results folders and the registry) before the first call; [`detail_scores`] gives the
//! per-row scores reports show beyond right or wrong; [`text`] renders plans and run reports
//! as text for the orchestrator to print.
//!
//! It must not depend on Braintrust, the batch workflow or terminal output.
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod detail;
mod error;
pub mod journal;
pub mod metrics;
pub mod plan;
pub mod run;
pub mod score;
pub mod setup;
pub mod text;

pub use detail::detail_scores;
pub use error::{Error, Result};
pub use plan::{DEFAULT_SEED, Estimate, Plan, RunSettings, plan};
pub use run::{
    ExecOptions, Progress, Quiet, RunReport, RunReporter, ScoredRow, add_to_tally, error_row,
    execute, register, register_as, run_quietly, score_answer,
};
pub use setup::{RunOptions, RunSetup, prepare};
