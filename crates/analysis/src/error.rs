//! The crate's one error type. Variants name the file, line, run or module they are about.

use std::path::PathBuf;

/// Why an analysis could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{}: cannot read or write", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A results CSV is malformed.
    #[error("{}:{line}: {message}", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// A module with no registered run whose CSV still exists.
    #[error(
        "{module} has no runs in the registry: run `orchestrator run {module}` first, or register CSVs with `experiment-registry repair`"
    )]
    NoRuns {
        /// The module.
        module: String,
    },
    /// No chosen module has a run.
    #[error(
        "no module has a registered run to analyse: run `orchestrator run MODULE` first, or register existing results CSVs with `experiment-registry repair`"
    )]
    NothingToAnalyse,
    /// A registered run whose results CSV is gone.
    #[error("run {id}: its results CSV {} no longer exists", path.display())]
    CsvGone {
        /// The run.
        id: String,
        /// Where the CSV was.
        path: PathBuf,
    },
    /// A CSV whose module cannot be told from its folder or file name.
    #[error("{}: cannot tell which module this CSV belongs to (its folder or file name should start with the module id, e.g. M12_…)", path.display())]
    UnknownModule {
        /// The CSV.
        path: PathBuf,
    },
    /// Text that is neither a run id, a CSV path nor a module id.
    #[error("`{text}` is not a run id (exp_…), a results CSV or a module id")]
    NotARun {
        /// What was given.
        text: String,
    },
    /// Two runs that must be of the same module are not.
    #[error(
        "{a} is a run of {module_a} and {b} a run of {module_b}: {what} needs two runs of the same module"
    )]
    DifferentModules {
        /// First run.
        a: String,
        /// Its module.
        module_a: String,
        /// Second run.
        b: String,
        /// Its module.
        module_b: String,
        /// The analysis.
        what: &'static str,
    },
    /// Two modules that are not a Path A / Path B pair.
    #[error(
        "{a} and {b} are not a Path A / Path B pair (pairs: m02/m02b, m04/m04b, m05/m05b, and the relevance chain m12–m16 against m12b: `paths chain m12b`)"
    )]
    NotAPair {
        /// First module.
        a: String,
        /// Second module.
        b: String,
    },
    /// A step of the relevance chain (m12–m16) without a run.
    #[error(
        "the relevance chain needs a run of each of m12, m13, m14, m15 and m16: {module} has none (run `orchestrator run {module}` first, or give one with --step)"
    )]
    ChainStep {
        /// The step's module.
        module: String,
    },
    /// A run given as a chain step that is not a run of m12–m16 (or a second run of a step).
    #[error(
        "{run} ({module}) is not a step of the relevance chain: give at most one run of each of m12, m13, m14, m15, m16"
    )]
    NotAChainStep {
        /// The run.
        run: String,
        /// Its module.
        module: String,
    },
    /// The catalogue or a results file could not be read.
    #[error(transparent)]
    Config(#[from] core_config::Error),
    /// The registry could not be read.
    #[error(transparent)]
    Registry(#[from] registry::Error),
    /// An output CSV could not be written.
    #[error(transparent)]
    Sheet(#[from] annotation::Error),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// Shorthand.
pub type Result<T, E = Error> = std::result::Result<T, E>;
