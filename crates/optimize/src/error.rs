//! The optimizer's errors.

use std::path::PathBuf;

/// Result with the optimizer's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that stops an optimization.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The project configuration (catalogue, dataset lines, environment).
    #[error(transparent)]
    Config(#[from] core_config::Error),
    /// Planning or running a module through the runner.
    #[error(transparent)]
    Runner(#[from] runner::Error),
    /// A prompt file without the editable sections.
    #[error("{}: {message}", path.display())]
    Markers {
        /// The prompt file.
        path: PathBuf,
        /// What is missing.
        message: String,
    },
    /// A bad split or option.
    #[error("{0}")]
    Invalid(String),
    /// The next call would pass a cap; nothing over the cap was sent.
    #[error(
        "the budget is spent: the next call would pass --{cap} ({spent} of {limit}); raise it or resume later"
    )]
    Budget {
        /// Which cap (`max-calls`, `max-cost`).
        cap: &'static str,
        /// What was spent.
        spent: String,
        /// The cap.
        limit: String,
    },
    /// A candidate quoted a test keyword (contamination); it was never sent.
    #[error("a candidate prompt quotes {count} test keyword(s) (first: `{first}`) and was refused")]
    Leak {
        /// How many keywords.
        count: usize,
        /// The first one.
        first: String,
    },
    /// A call failed for good (quota, key).
    #[error("a call failed")]
    Call(#[source] llm_client::Error),
    /// The proposer's answer was not a list of instructions.
    #[error("the proposer's answer is not {{\"instructions\": [...]}}: {0}")]
    Proposer(String),
    /// A file could not be read or written.
    #[error("{}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A registry problem while comparing.
    #[error(transparent)]
    Registry(#[from] registry::Error),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
