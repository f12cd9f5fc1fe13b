use std::path::PathBuf;

/// Why a run could not start or finish. Rows that fail individually are not errors of the run:
/// they are kept in the results with their reason.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },

    /// The catalogue, a dataset, a prompt or a schema is unusable.
    #[error(transparent)]
    Config(#[from] core_config::Error),

    /// A module's dataset or prompt file is missing.
    #[error("module {module}: cannot read its {what} {}", path.display())]
    Missing {
        /// `dataset` or `prompt`.
        what: &'static str,
        /// Module id.
        module: String,
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },

    /// The prompt template is malformed.
    #[error("{}: {message}", path.display())]
    Prompt {
        /// Prompt file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },

    /// The model API failed in a way no retry fixes (out of quota, bad key); the run stopped.
    /// Finished rows are kept in the journal: fix the cause and run again with `--resume`.
    #[error("the run stopped after {done} of {total} rows; finished rows are kept in {} (fix the cause below, then run again with --resume)", journal.display())]
    Fatal {
        /// Rows finished.
        done: usize,
        /// Rows in the run.
        total: usize,
        /// The journal.
        journal: PathBuf,
        /// The client's error.
        #[source]
        source: llm_client::Error,
    },

    /// Registering the run failed (its results CSV is written).
    #[error("the results are in {}, but registering the run failed", csv.display())]
    Registry {
        /// The results file.
        csv: PathBuf,
        /// The cause.
        #[source]
        source: registry::Error,
    },

    /// The dataset holds no record (an empty file, or only blank lines).
    #[error("{}: module {module}: the dataset has no records (is the file empty?)", path.display())]
    EmptyDataset {
        /// Module id.
        module: String,
        /// The dataset file.
        path: PathBuf,
    },

    /// A prompt placeholder the record does not feed; found before any call is made.
    #[error("{}:{line}: record `{record}`: {message}", dataset.display())]
    Render {
        /// Dataset file.
        dataset: PathBuf,
        /// Line of the record.
        line: usize,
        /// Record id.
        record: String,
        /// What is missing.
        message: String,
    },

    /// The run was interrupted (Ctrl-C); finished rows are in the journal.
    #[error("interrupted after {done} of {total} rows; finished rows are kept in {} (run again with --resume)", journal.display())]
    Interrupted {
        /// Rows finished.
        done: usize,
        /// Rows in the run.
        total: usize,
        /// The journal.
        journal: PathBuf,
    },

    /// A journal line that cannot be read.
    #[error("{}:{line}: {message}", path.display())]
    Journal {
        /// The journal file.
        path: PathBuf,
        /// Line number.
        line: usize,
        /// What is wrong.
        message: String,
    },

    /// `--resume` found nothing to resume.
    #[error("nothing to resume for {module}: no unfinished run in {}", folder.display())]
    NothingToResume {
        /// Module id.
        module: String,
        /// Where journals are looked for.
        folder: PathBuf,
    },

    /// `--resume` would mix different settings into one run.
    #[error("cannot resume {}: its {what} was `{then}`, now it is `{now}` (start a new run instead)", journal.display())]
    ResumeMismatch {
        /// The journal.
        journal: PathBuf,
        /// Which setting differs.
        what: &'static str,
        /// Value recorded in the journal.
        then: String,
        /// Value of this invocation.
        now: String,
    },

    /// `--dataset` names one file, so it works with one module only.
    #[error("--dataset works with exactly one module ({given} given)")]
    DatasetNeedsOneModule {
        /// Modules given.
        given: usize,
    },

    /// A module could not be planned (its dataset, prompt or schema is unusable).
    #[error("cannot plan a run of {module} {name}")]
    Plan {
        /// The module id.
        module: String,
        /// The module name.
        name: String,
        /// Why.
        #[source]
        source: Box<Error>,
    },

    /// The price table does not load.
    #[error(transparent)]
    Prices(llm_client::Error),

    /// The registry does not load, so a finished run could not be registered.
    #[error(
        "the experiment registry does not load, so the run could not be registered; nothing was sent"
    )]
    RegistryUnusable {
        /// Why.
        #[source]
        source: registry::Error,
    },

    /// A folder the run writes into cannot be written.
    #[error("{} cannot be written, so the run could not be kept; nothing was sent", path.display())]
    NotWritable {
        /// The folder (or file) that refused.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
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

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn a_registry_failure_names_its_cause_once() {
        let error = Error::Registry {
            csv: PathBuf::from("experiment_results/M12_X/M12_v1.csv"),
            source: registry::Error::Corrupt {
                path: PathBuf::from(".registry.json"),
                line: 3,
                column: 7,
                message: "EOF while parsing".to_owned(),
            },
        };
        // Printers walk the source chain, so the message itself must not repeat the cause.
        let mut chain = vec![error.to_string()];
        let mut cause = error.source();
        while let Some(c) = cause {
            chain.push(c.to_string());
            cause = c.source();
        }
        let text = chain.join("\n");
        assert_eq!(text.matches("EOF while parsing").count(), 1, "{text}");
    }
}
