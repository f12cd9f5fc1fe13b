//! LLM-as-judge for the modules without single labels (brand entities, competitors, taxonomy,
//! attributes, ranks, intended use, hard constraints): rubrics (`prompts/judges/*.yaml`) and
//! their checks, judge runs over a run's answers through the shared model client (cache,
//! pacing, retries) with a resumable journal, the judge CSV and its registry entry, and the
//! summaries (pass rate per criterion with a Wilson interval, criteria failing together,
//! self-consistency over repeated samples), rendered as text by [`text`]; and the check of a
//! judge against people ([`validate`]): a sheet for two annotators and the judge-vs-consensus
//! agreement next to the annotators' own; and the judge runs recorded in the registry read back
//! for reports ([`history`]).
//!
//! It must not depend on Braintrust, the batch workflow or terminal output.
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod error;
pub mod history;
pub mod prompt;
pub mod rubric;
pub mod run;
pub mod summary;
pub mod text;
pub mod validate;

pub use error::{Error, Result};
pub use rubric::{Criterion, LoadedRubric, Rubric, Scale};
pub use run::{JudgeOptions, JudgePlan, JudgeProgress, JudgeReport, Quiet, execute, plan};
pub use summary::{Aggregate, Summary, Verdict};
