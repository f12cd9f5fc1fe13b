use std::path::PathBuf;

/// Everything that can go wrong talking to Braintrust or preparing a run for it.
///
/// Each variant names what it is about (the request, the run's local id, the file), so a binary
/// can print it as it is. No variant ever holds the API key: response bodies are cut short and
/// scrubbed of it before they are kept.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No API key is configured.
    #[error(
        "BRAINTRUST_API_KEY is not set: export BRAINTRUST_API_KEY=<your key> (or add the line \
         BRAINTRUST_API_KEY=<your key> to the project's .env); BRAINTRUST_API_URL selects a \
         self-hosted data plane or the local simulator (default https://api.braintrust.dev)"
    )]
    MissingKey,

    /// A configuration value cannot be used.
    #[error("{name}: {message}")]
    Config {
        /// The setting (an environment variable name).
        name: &'static str,
        /// What is wrong with it.
        message: String,
    },

    /// Braintrust answered with an error status (after any retries).
    #[error("{method} {path}: HTTP {status}{}{} ({})", reason_text(*.status), body_text(.body), attempts_text(*.attempts))]
    Http {
        /// Request method.
        method: &'static str,
        /// Request path (no host, no query).
        path: String,
        /// Response status.
        status: u16,
        /// The start of the response body, scrubbed of the key.
        body: String,
        /// Attempts made.
        attempts: u32,
    },

    /// The request did not get an answer (connection refused, timeout, reset), after retries.
    #[error("{method} {path}: {message} ({})", attempts_text(*.attempts))]
    Network {
        /// Request method.
        method: &'static str,
        /// Request path.
        path: String,
        /// What the transport said.
        message: String,
        /// Attempts made.
        attempts: u32,
    },

    /// The server asked to wait longer than the client is willing to.
    #[error(
        "{method} {path}: Braintrust asked to wait {seconds}s before trying again (HTTP {status}); try again later"
    )]
    WaitTooLong {
        /// Request method.
        method: &'static str,
        /// Request path.
        path: String,
        /// Status of the answer.
        status: u16,
        /// Requested wait.
        seconds: u64,
    },

    /// An answer that does not have the documented shape.
    #[error("{method} {path}: unexpected answer: {message}")]
    Protocol {
        /// Request method.
        method: &'static str,
        /// Request path.
        path: String,
        /// What was wrong with it.
        message: String,
    },

    /// An upload stopped part-way; rows already stored are replaced when the run is sent again.
    #[error("stopped after {stored} of {total} rows")]
    Partial {
        /// Rows the service confirmed.
        stored: usize,
        /// Rows of the run.
        total: usize,
        /// Why it stopped.
        source: Box<Error>,
    },

    /// A registered run names a module the catalogue does not have.
    #[error("run `{local_id}`: module `{module}` is not in modules.toml")]
    UnknownModule {
        /// The run.
        local_id: String,
        /// The module id as stored.
        module: String,
    },

    /// A registered run has no results CSV on disk.
    #[error("run `{local_id}`: results CSV {} is missing", path.display())]
    CsvMissing {
        /// The run.
        local_id: String,
        /// Where it should be.
        path: PathBuf,
    },

    /// A registered run has no CSV path at all.
    #[error("run `{local_id}`: the registry entry names no results CSV")]
    NoCsv {
        /// The run.
        local_id: String,
    },

    /// A run is already on Braintrust and re-uploading was not asked for.
    #[error(
        "run `{local_id}` is already uploaded ({url}); pass --force to upload it again (rows are replaced, not duplicated)"
    )]
    AlreadyUploaded {
        /// The run.
        local_id: String,
        /// Where it is.
        url: String,
    },

    /// No experiment answers to the reference given.
    #[error("no Braintrust experiment `{reference}` in project `{project}`{}", hint_text(.hint.as_deref()))]
    ExperimentNotFound {
        /// What was asked for (id, name or local id).
        reference: String,
        /// The project searched.
        project: String,
        /// A suggestion, if there is one.
        hint: Option<String>,
    },

    /// The experiment already belongs to another run in the registry.
    #[error("experiment `{experiment}` is already linked to run `{local_id}`")]
    AlreadyLinked {
        /// Experiment name.
        experiment: String,
        /// The run holding it.
        local_id: String,
    },

    /// The experiment's module could not be told from its name, metadata or rows.
    #[error("experiment `{experiment}`: cannot tell which module it is; pass --module")]
    ModuleUnknown {
        /// Experiment name.
        experiment: String,
    },

    /// What `datasets push` was given is neither a module nor a dataset file that can be used.
    #[error("dataset `{what}`: {message}")]
    DatasetSource {
        /// The module or file as given.
        what: String,
        /// What is wrong.
        message: String,
    },

    /// No dataset of that name in the project.
    #[error("no Braintrust dataset `{name}` in project `{project}`{}", hint_text(.hint.as_deref()))]
    DatasetNotFound {
        /// The name asked for.
        name: String,
        /// The project searched.
        project: String,
        /// A close name, or where to look.
        hint: Option<String>,
    },

    /// A pulled row cannot be a dataset record.
    #[error("dataset `{name}`, row `{id}`: {message}")]
    DatasetRow {
        /// The dataset.
        name: String,
        /// The row id.
        id: String,
        /// What is wrong with it.
        message: String,
    },

    /// A local file could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },

    /// The registry could not be read or written.
    #[error(transparent)]
    Registry(#[from] registry::Error),

    /// The async runtime the client runs on could not start.
    #[error("cannot start the async runtime")]
    Runtime {
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },

    /// A results CSV (or another project file) could not be read or written.
    #[error(transparent)]
    Files(#[from] core_config::Error),
}

fn reason_text(status: u16) -> String {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map_or_else(String::new, |r| format!(" {r}"))
}

fn body_text(body: &str) -> String {
    if body.is_empty() {
        String::new()
    } else {
        format!(": {body}")
    }
}

fn attempts_text(attempts: u32) -> String {
    if attempts == 1 {
        "1 attempt".to_owned()
    } else {
        format!("{attempts} attempts")
    }
}

fn hint_text(hint: Option<&str>) -> String {
    hint.map_or_else(String::new, |h| format!(" ({h})"))
}

impl Error {
    /// Whether the error means the key or the service as a whole is unusable, so there is no
    /// point trying the next run of a sync.
    #[must_use]
    pub fn is_fatal(&self) -> bool {
        if let Self::Partial { source, .. } = self {
            return source.is_fatal();
        }
        matches!(
            self,
            Self::MissingKey
                | Self::Config { .. }
                | Self::Http {
                    status: 401 | 403,
                    ..
                }
        )
    }

    /// The HTTP status, when Braintrust answered with an error.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Http { status, .. } | Self::WaitTooLong { status, .. } => Some(*status),
            Self::Partial { source, .. } => source.status(),
            _ => None,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_errors_read_as_one_line() {
        let e = Error::Http {
            method: "POST",
            path: "/v1/experiment/abc/insert".into(),
            status: 500,
            body: "boom".into(),
            attempts: 5,
        };
        assert_eq!(
            e.to_string(),
            "POST /v1/experiment/abc/insert: HTTP 500 Internal Server Error: boom (5 attempts)"
        );
        assert!(!e.is_fatal());
        let e = Error::Http {
            method: "POST",
            path: "/v1/project".into(),
            status: 401,
            body: String::new(),
            attempts: 1,
        };
        assert_eq!(
            e.to_string(),
            "POST /v1/project: HTTP 401 Unauthorized (1 attempt)"
        );
        assert!(e.is_fatal());
    }

    #[test]
    fn the_missing_key_message_names_what_to_set() {
        let text = Error::MissingKey.to_string();
        assert!(text.starts_with("BRAINTRUST_API_KEY is not set: export BRAINTRUST_API_KEY="));
        assert!(text.contains("BRAINTRUST_API_URL"));
    }
}
