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

    /// The registry file exists but is empty (or only whitespace). The file is left as it is.
    #[error(
        "{}: empty file (no registry in it); the file was left as it is \
         (`experiment-registry repair` rebuilds it after keeping a backup)",
        path.display()
    )]
    Empty {
        /// The registry file.
        path: PathBuf,
    },

    /// The registry file is not UTF-8 text. The file is left as it is.
    #[error(
        "{}:{line}: not UTF-8 text (first invalid byte at offset {offset}); the file was left \
         as it is (`experiment-registry repair` rebuilds it after keeping a backup)",
        path.display()
    )]
    NotUtf8 {
        /// The registry file.
        path: PathBuf,
        /// 1-based line of that byte.
        line: usize,
        /// 0-based byte offset of the first byte that is not UTF-8.
        offset: usize,
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

    /// A results CSV given by path does not exist.
    #[error("{}: no such results CSV", path.display())]
    CsvNotFound {
        /// The path given.
        path: PathBuf,
    },

    /// Neither a results CSV's name nor its folder's names a module.
    #[error(
        "{}: cannot tell which module this CSV belongs to (its folder or file name should start \
         with the module id, e.g. M12_…)",
        path.display()
    )]
    CsvModuleUnknown {
        /// The CSV.
        path: PathBuf,
    },

    /// A registered run names no results CSV.
    #[error("run {id} has no results CSV recorded")]
    NoCsv {
        /// The run.
        id: String,
    },

    /// A registered run's results CSV is gone.
    #[error(
        "run {id}: its results CSV {path} no longer exists (`experiment-registry cleanup` drops \
         such entries)"
    )]
    CsvGone {
        /// The run.
        id: String,
        /// The CSV as the project shows it.
        path: String,
    },
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
            Self::Empty { path } => format!("{}: empty file", path.display()),
            Self::NotUtf8 { path, line, offset } => format!(
                "{}:{line}: not UTF-8 text (first invalid byte at offset {offset})",
                path.display()
            ),
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
