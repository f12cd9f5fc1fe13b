//! What can go wrong building a dataset. Every variant names the file, and where it has one the
//! line or row, the column and the offending value.

use std::path::PathBuf;

/// Everything that can go wrong importing a table or building a dataset.
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

    /// A CSV file is not UTF-8 (saved as Latin-1 or Windows-1252, say).
    #[error(
        "{}:{line}: not UTF-8 text (byte {offset}); save the file as \"CSV UTF-8\" and import it again",
        path.display()
    )]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// 1-based line of the first bad byte.
        line: usize,
        /// Byte offset of the first bad byte.
        offset: usize,
    },

    /// A table could not be read at all (a broken CSV, a spreadsheet calamine cannot open).
    #[error("{}: {message}", path.display())]
    Table {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },

    /// The sheet asked for is not in the workbook.
    #[error("{}: no sheet named `{sheet}` (the sheets are: {})", path.display(), available.join(", "))]
    NoSheet {
        /// The workbook.
        path: PathBuf,
        /// The sheet asked for.
        sheet: String,
        /// The sheets it has.
        available: Vec<String>,
    },

    /// The table has no header row or no data rows.
    #[error("{}: {what} is empty (no header row, or no rows under it)", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
        /// `the sheet \`Sheet1\`` or `the file`.
        what: String,
    },

    /// The map file is not what `import-data` expects.
    #[error("{}: {message}", path.display())]
    Map {
        /// The map file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },

    /// A dataset key has no column to fill it.
    #[error(
        "{}: no column for {key} (looked for `{column}`; the columns are: {})",
        path.display(),
        available.join(", ")
    )]
    MissingColumn {
        /// The table.
        path: PathBuf,
        /// The dataset key (`input.keyword`).
        key: String,
        /// The column looked for.
        column: String,
        /// The table's columns.
        available: Vec<String>,
    },

    /// A cell of the table is wrong: empty where a value is required, an unknown label, an id
    /// that breaks the module's scheme, a duplicate id, bad JSON.
    #[error("{}: {unit} {number}, column `{column}`: {message}", path.display())]
    Cell {
        /// The table.
        path: PathBuf,
        /// `line` (CSV) or `row` (spreadsheet).
        unit: &'static str,
        /// 1-based line or row.
        number: usize,
        /// The column's header.
        column: String,
        /// What is wrong, quoting the offending value.
        message: String,
    },

    /// The records built do not pass the check `orchestrator validate` runs; nothing was
    /// written.
    #[error("the dataset for {module} does not pass `orchestrator validate`; nothing was written:\n{}", problems.join("\n"))]
    Invalid {
        /// The module.
        module: String,
        /// The problems, one per line.
        problems: Vec<String>,
    },

    /// The output file exists and `--force` was not given.
    #[error("{} already exists; nothing was written (--force replaces it)", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },

    /// A run could not be opened (chain, silver).
    #[error("run `{run}`")]
    Run {
        /// The run asked for.
        run: String,
        /// Why.
        #[source]
        source: registry::Error,
    },

    /// A run or export gives nothing to build from.
    #[error("{what}: {message}")]
    Nothing {
        /// The run or file.
        what: String,
        /// Why nothing can be built.
        message: String,
    },

    /// The module catalogue or a dataset could not be read.
    #[error(transparent)]
    Config(#[from] core_config::Error),
}

impl Error {
    /// A run opened through the registry, its error named as the run asked for.
    ///
    /// # Errors
    /// [`Error::Run`] when `opened` is an error.
    pub fn from_run<T>(run: &str, opened: registry::Result<T>) -> Result<T> {
        opened.map_err(|source| Self::Run {
            run: run.to_owned(),
            source,
        })
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
