use std::path::PathBuf;

/// Everything that can stop a batch command. Problems with single requests (a failed line, a
/// missing answer) are not errors: they are listed in the reports and the results CSV.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },

    /// The catalogue, a dataset, a prompt or a schema is unusable.
    #[error(transparent)]
    Config(#[from] core_config::Error),

    /// Planning or registering a run failed (missing prompt, broken dataset, registry).
    #[error(transparent)]
    Runner(#[from] runner::Error),

    /// A call to the API failed after the client's retries.
    #[error("{what}")]
    Api {
        /// What was being done, e.g. `uploading m12_batch.jsonl`.
        what: String,
        /// The client's error (never carries the key).
        #[source]
        source: llm_client::Error,
    },

    /// The folder is not a batch folder this tool (or the earlier one) wrote.
    #[error("{}: {message}", dir.display())]
    NotABatchDir {
        /// The folder.
        dir: PathBuf,
        /// What was expected and not found.
        message: String,
    },

    /// A manifest or report file that cannot be read.
    #[error("{}: {message}", path.display())]
    Manifest {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },

    /// A line of a request or result file that cannot be read.
    #[error("{}:{line}: {message}", path.display())]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },

    /// A record of a dataset cannot be turned into a request.
    #[error("{}:{line}: record `{record}`: {message}", dataset.display())]
    Record {
        /// The dataset.
        dataset: PathBuf,
        /// 1-based line.
        line: usize,
        /// The record id.
        record: String,
        /// What is wrong.
        message: String,
    },

    /// A module or synthetic dataset was asked for that does not exist.
    #[error("{0}")]
    Selection(String),

    /// The split limits cannot work.
    #[error("{0}")]
    Limits(String),

    /// The step cannot run yet (e.g. nothing uploaded, batches still running).
    #[error("{0}")]
    NotReady(String),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn api(what: impl Into<String>, source: llm_client::Error) -> Self {
        Self::Api {
            what: what.into(),
            source,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
