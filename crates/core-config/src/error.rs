use std::path::PathBuf;

/// Everything that can go wrong while loading the catalogue, its files and the environment.
///
/// Every variant names the file it is about and, where there is one, the line, so a binary can
/// print it as is.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}:{line}:{column}: {message}", path.display())]
    Toml {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },

    #[error("{}:{line}: {message}", path.display())]
    Catalog {
        path: PathBuf,
        line: usize,
        message: String,
    },

    #[error("unknown module `{input}`{}; valid ids: {}", suggestion_text(.suggestion.as_deref()), .valid.join(", "))]
    UnknownModule {
        input: String,
        valid: Vec<String>,
        suggestion: Option<String>,
    },

    #[error(
        "no modules.toml in {} or any parent directory (run inside a project, or pass --root DIR)",
        start.display()
    )]
    RootNotFound { start: PathBuf },

    #[error("{}:{line}: {message}", path.display())]
    Dataset {
        path: PathBuf,
        line: usize,
        message: String,
    },

    #[error("{}:{line}: {message}", path.display())]
    Template {
        path: PathBuf,
        line: usize,
        message: String,
    },

    #[error("{}: {message}", path.display())]
    Schema { path: PathBuf, message: String },

    #[error("{}:{line}: {message}", path.display())]
    Csv {
        path: PathBuf,
        line: u64,
        message: String,
    },

    #[error("environment variable {name}: {message}")]
    Env { name: &'static str, message: String },

    #[error("{}:{line}: {message}", path.display())]
    DotEnv {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

fn suggestion_text(suggestion: Option<&str>) -> String {
    suggestion.map_or_else(String::new, |s| format!(" (did you mean `{s}`?)"))
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

/// An error and its causes on one line (`error: cause: cause`), for messages that must fit on
/// a line of a report or a table cell.
#[must_use]
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_error_chain_names_every_cause_on_one_line() {
        let inner = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let outer = std::io::Error::other(super::Error::io(std::path::Path::new("a.csv"), inner));
        let text = super::error_chain(&outer);
        assert!(text.contains("a.csv"), "{text}");
        assert!(text.ends_with("no such file"), "{text}");
        assert!(!text.contains('\n'));
    }
}
