//! The judge crate's one error type.

use std::path::PathBuf;

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong loading a rubric or running a judge.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A rubric file that does not read or break the rubric rules.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Rubric {
        /// The rubric file.
        path: PathBuf,
        /// 1-based line, when known.
        line: Option<usize>,
        /// What is wrong (naming the field).
        message: String,
    },
    /// A judge CSV or validation sheet cell that does not read.
    #[error("{}:{line}: {message}", path.display())]
    Sheet {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong (naming the column).
        message: String,
    },
    /// `--judge` names a run that is not a registered judge run.
    #[error("{run} is not a registered judge run (run `analyze-results judge RUN` first)")]
    NotAJudgeRun {
        /// The run as given.
        run: String,
    },
    /// A value outside its range (naming the option).
    #[error("{name}: {value} is not a share between 0 and 1")]
    Share {
        /// The option.
        name: String,
        /// The value given.
        value: f64,
    },
    /// No rubric for the module.
    #[error("{}: no rubric for module {module} (write one, or pass --rubric FILE)", path.display())]
    NoRubric {
        /// Module id.
        module: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A file could not be read or written.
    #[error("{}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The registry could not be read or updated.
    #[error("the registry")]
    Registry(#[from] registry::Error),
    /// The run to judge could not be opened.
    #[error("cannot open the run to judge")]
    Run(#[from] analysis::Error),
    /// The catalogue or a project file.
    #[error(transparent)]
    Config(#[from] core_config::Error),
    /// A validation sheet that does not read as a spreadsheet-safe CSV.
    #[error(transparent)]
    Annotation(#[from] annotation::Error),
    /// Agreement statistics that cannot be computed.
    #[error("agreement statistics")]
    Agreement(#[from] agreement::Error),
    /// The run has nothing to judge.
    #[error("run {run}: no rows to judge ({why})")]
    NothingToJudge {
        /// The run.
        run: String,
        /// Why.
        why: String,
    },
    /// `--resume` found no unfinished judge run, or one that does not match.
    #[error("{}: cannot resume: {message}", path.display())]
    Resume {
        /// The journal or folder.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The API refused for a reason retrying cannot fix (key, quota).
    #[error("the judge run stopped after {done} of {total} calls; finished calls are kept in {} (run again with --resume)", journal.display())]
    Fatal {
        /// Calls finished.
        done: usize,
        /// Calls in the run.
        total: usize,
        /// The journal.
        journal: PathBuf,
        /// The API error.
        #[source]
        source: llm_client::Error,
    },
    /// Interrupted (Ctrl-C).
    #[error("interrupted after {done} of {total} calls; finished calls are kept in {} (run again with --resume)", journal.display())]
    Interrupted {
        /// Calls finished.
        done: usize,
        /// Calls in the run.
        total: usize,
        /// The journal.
        journal: PathBuf,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
