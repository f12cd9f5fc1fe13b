//! Native prompt optimization for one module: the train/dev/test split, a budgeted evaluator
//! that scores candidate prompts with the runner's own rendering, cache and scorer, four
//! search methods (`bootstrap` few-shot demos, `instructions` COPRO-like instruction search,
//! `mipro` joint instruction × demo search by successive halving, `gepa` reflective evolution
//! with a Pareto front), and the results: a new prompt version, `optimized.json`, the split
//! files, a `trials.jsonl` log that `--resume` continues, and baseline and optimized runs on the
//! test split, registered and compared with the registry's statistics.
//!
//! What the optimizer may edit is defined in [`prompt`]. Test records never reach a demo or a
//! proposer's error summary, and every candidate passes the contamination check
//! (`core_config::contamination`) against the test keywords before it is sent.
//!
//! It must not depend on Braintrust, the batch workflow or terminal output (progress goes
//! through [`Progress`]).
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod engine;
mod error;
mod finish;
mod methods;
pub mod prompt;
pub mod split;
pub mod text;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use engine::{Budget, Evaluator, Spent};
pub use error::{Error, Result};
pub use finish::{DryRun, Outcome, Setup, SplitSizes, call_bound, dry_run, optimize, prepare};
pub use methods::{Failure, PROPOSAL_MARKER, meta_prompt};

/// The search method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Few-shot demos from the train split, random search over demo sets on dev.
    Bootstrap,
    /// COPRO-like instruction search by a proposer model.
    Instructions,
    /// Joint instruction × demo-set search with successive halving on dev minibatches.
    Mipro,
    /// Reflective evolution of the instruction and worked examples with a Pareto front over dev
    /// records.
    Gepa,
}

impl Method {
    /// The name on the command line.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Bootstrap => "bootstrap",
            Self::Instructions => "instructions",
            Self::Mipro => "mipro",
            Self::Gepa => "gepa",
        }
    }
}

/// How much searching a run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// A smoke test.
    Lite,
    /// The everyday setting.
    Light,
    /// More trials and demos.
    Medium,
    /// The whole train and dev splits.
    Full,
}

/// The sizes a preset stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Sizes {
    /// Most train records bootstrapped.
    pub train: usize,
    /// Most dev records each candidate is scored on.
    pub dev: usize,
    /// Demos per candidate.
    pub demos: usize,
    /// Demo sets (bootstrap), combinations (mipro) or mutations (gepa).
    pub trials: usize,
    /// Instructions asked of the proposer per round.
    pub candidates: usize,
    /// Proposal rounds (instructions).
    pub rounds: usize,
}

impl Preset {
    /// The sizes of this preset.
    #[must_use]
    pub fn sizes(self) -> Sizes {
        let (train, dev, demos, trials, candidates, rounds) = match self {
            Self::Lite => (20, 20, 2, 3, 3, 1),
            Self::Light => (40, 40, 4, 8, 4, 3),
            Self::Medium => (120, 100, 6, 16, 6, 4),
            Self::Full => (usize::MAX, usize::MAX, 8, 32, 8, 6),
        };
        Sizes {
            train,
            dev,
            demos,
            trials,
            candidates,
            rounds,
        }
    }

    /// The name on the command line.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Lite => "lite",
            Self::Light => "light",
            Self::Medium => "medium",
            Self::Full => "full",
        }
    }
}

/// What the caller asks for.
#[derive(Debug, Clone)]
pub struct Options {
    /// Module id or name.
    pub module: String,
    /// Search method.
    pub method: Method,
    /// Preset.
    pub preset: Preset,
    /// Split files given instead of the seeded split (all three or none).
    pub train: Option<PathBuf>,
    /// Dev split file.
    pub dev: Option<PathBuf>,
    /// Test split file.
    pub test: Option<PathBuf>,
    /// Split this dataset (e.g. a gold file) instead of the module's.
    pub dataset: Option<PathBuf>,
    /// Model evaluated [default: the module's, else the environment's].
    pub model: Option<String>,
    /// Model that writes instructions [default: the evaluated model].
    pub proposer_model: Option<String>,
    /// Hard cap on calls sent (cache hits are free).
    pub max_calls: u64,
    /// Hard cap on cost, USD.
    pub max_cost: f64,
    /// Seed of the split and of every random choice.
    pub seed: u64,
    /// Continue the newest run of this module and method.
    pub resume: bool,
    /// Calls in flight.
    pub concurrency: usize,
}

/// Progress of a run, for the binary's stderr.
pub trait Progress: Send + Sync {
    /// After each trial: what was spent and the best dev score so far.
    fn trial(&self, what: &str, spent: &Spent, best_dev: f64) {
        let _ = (what, spent, best_dev);
    }
    /// A phase starts (`baseline on test`, …).
    fn phase(&self, name: &str) {
        let _ = name;
    }
}

/// A progress receiver that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl Progress for Quiet {}
