use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong with the registry.
///
/// Each variant names the file (and, for JSON problems, the line and column) or the experiment
/// it is about, so a binary can print it as it is.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },

    /// The registry file is not valid JSON, or not shaped like a registry. The file is left as
    /// it is.
    #[error(
        "{}:{line}:{column}: {message}; the file was left as it is \
         (`experiment-registry repair` rebuilds it after keeping a backup)",
        path.display()
    )]
    Corrupt {
        /// The registry file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What is wrong.
        message: String,
    },

    /// Another process held the registry lock for longer than the timeout.
    #[error(
        "{}: another process has held the registry lock for more than {}s; \
         try again when it has finished",
        path.display(),
        waited.as_secs()
    )]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// How long we waited.
        waited: Duration,
    },

    /// No experiment has this local id.
    #[error("no experiment `{id}` in the registry{}", suggestion_text(.suggestion.as_deref()))]
    NotFound {
        /// The id asked for.
        id: String,
        /// The closest existing id, if one is close.
        suggestion: Option<String>,
    },

    /// A results CSV could not be read.
    #[error(transparent)]
    Results(#[from] core_config::Error),
}

fn suggestion_text(suggestion: Option<&str>) -> String {
    suggestion.map_or_else(String::new, |s| format!(" (did you mean `{s}`?)"))
}

impl Error {
    /// For [`Error::Corrupt`], where and what without the advice on repairing it.
    #[must_use]
    pub fn short(&self) -> String {
        match self {
            Self::Corrupt {
                path,
                line,
                column,
                message,
            } => format!("{}:{line}:{column}: {message}", path.display()),
            other => other.to_string(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
