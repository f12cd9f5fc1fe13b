//! The crate's one error type.

use std::path::PathBuf;

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The analysis of a run (or choosing the runs) failed.
    #[error(transparent)]
    Analysis(Box<analysis::Error>),
    /// The registry could not be read or a run to compare opened.
    #[error(transparent)]
    Registry(Box<registry::Error>),
    /// An annotation file could not be analysed.
    #[error("cannot analyse the annotation file {}", path.display())]
    Annotation {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<annotation::Error>,
    },
    /// A module id is not in `modules.toml`.
    #[error("unknown module")]
    Catalog(#[from] core_config::Error),
    /// The two runs to compare are of different modules.
    #[error("run A is a run of {a} and run B a run of {b}: --compare needs two runs of one module")]
    CompareModules {
        /// Run A's module.
        a: String,
        /// Run B's module.
        b: String,
    },
    /// The errors file written by the analysis could not be read back.
    #[error("cannot read the errors file {}", path.display())]
    ErrorsCsv {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: csv::Error,
    },
    /// A template failed to render (a bug: the templates are part of the crate).
    #[error("cannot render {page}")]
    Template {
        /// The page.
        page: String,
        /// Why.
        #[source]
        source: minijinja::Error,
    },
    /// A file or folder could not be written or read.
    #[error("cannot write {}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl From<analysis::Error> for Error {
    fn from(e: analysis::Error) -> Self {
        Self::Analysis(Box::new(e))
    }
}

impl From<registry::Error> for Error {
    fn from(e: registry::Error) -> Self {
        Self::Registry(Box::new(e))
    }
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// The crate's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
