use std::fmt;
use std::path::PathBuf;

/// Everything that can go wrong while generating, reading, merging or exporting annotations.
///
/// Every variant names the file it is about and, where there is one, the line, row id and
/// column, so a binary can print it as is.
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

    /// The catalogue, a dataset or a results CSV could not be read.
    #[error(transparent)]
    Config(#[from] core_config::Error),

    /// A CSV file is malformed at a line.
    #[error("{}:{line}: {message}", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// What is wrong.
        message: String,
    },

    /// A workbook (`.xlsx`) cannot be read or written.
    #[error("{}: {message}", path.display())]
    Workbook {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },

    /// A file that should start with a header line is empty.
    #[error("{}: the file is empty (expected a header line starting with `row_id`)", path.display())]
    EmptyFile {
        /// The file.
        path: PathBuf,
    },

    /// An annotation CSV lacks columns the module's layout needs.
    #[error(
        "{}:1: missing column{} {} (module {module} needs them; was the header row edited?)",
        path.display(),
        if missing.len() == 1 { "" } else { "s" },
        quoted(missing)
    )]
    MissingColumns {
        /// The file.
        path: PathBuf,
        /// The module whose layout was expected.
        module: String,
        /// The columns that are not in the header.
        missing: Vec<String>,
    },

    /// Rows that do not fit the header (extra cells, another separator); nothing was read.
    #[error(
        "{}: {} row{} {} not fit the header ({columns} columns separated by `{delimiter}`), so {} cannot be read safely:{}{}\nFix {} in a text editor (or re-export the sheet) and run again.",
        path.display(),
        rows.len(),
        if rows.len() == 1 { "" } else { "s" },
        if rows.len() == 1 { "does" } else { "do" },
        if rows.len() == 1 { "it" } else { "they" },
        list_lines(rows.iter().take(SHOWN_ROWS).map(|r| format!("line {}: {}", r.line, r.problem))),
        if rows.len() > SHOWN_ROWS { format!("\n  ... and {} more", rows.len() - SHOWN_ROWS) } else { String::new() },
        if rows.len() == 1 { "this row" } else { "these rows" },
    )]
    MalformedRows {
        /// The file.
        path: PathBuf,
        /// Columns in the header.
        columns: usize,
        /// The header's separator.
        delimiter: char,
        /// Every such row.
        rows: Vec<MalformedRow>,
    },

    /// Two header cells have the same name.
    #[error("{}:1: column `{column}` appears twice in the header", path.display())]
    DuplicateColumn {
        /// The file.
        path: PathBuf,
        /// The repeated name.
        column: String,
    },

    /// Several rows carry the same `row_id`.
    #[error(
        "{}: duplicate row ids, so rows cannot be told apart; nothing was written:{}",
        path.display(),
        list_lines(duplicates.iter().map(|d| format!("row_id {} on lines {}", d.row_id, join(&d.lines))))
    )]
    DuplicateRowIds {
        /// The file.
        path: PathBuf,
        /// Each repeated id with the lines it appears on.
        duplicates: Vec<DuplicateRowId>,
    },

    /// Several rows carry the same `record_id` (the same record annotated twice).
    #[error(
        "{}: the same record on several rows, so it would be merged twice and repeat its id in a gold file; nothing was written:{}\nKeep one row per record (delete the others, or give them their own record) and run again.",
        path.display(),
        list_lines(duplicates.iter().map(|d| format!("record_id {} on lines {}", d.row_id, join(&d.lines))))
    )]
    DuplicateRecords {
        /// The file.
        path: PathBuf,
        /// Each repeated record id with the lines it appears on.
        duplicates: Vec<DuplicateRowId>,
    },

    /// Annotator cells that are not values of their field; nothing was written.
    #[error(
        "{}: {} annotator cell{} {} not valid for {module}; nothing was written:{}",
        path.display(),
        cells.len(),
        if cells.len() == 1 { "" } else { "s" },
        if cells.len() == 1 { "is" } else { "are" },
        list_lines(cells.iter().map(ToString::to_string))
    )]
    InvalidCells {
        /// The file.
        path: PathBuf,
        /// The module.
        module: String,
        /// Every offending cell.
        cells: Vec<InvalidCell>,
    },

    /// Annotator cells that are not values of their field; nothing was analysed.
    #[error("{}", not_values(path, module, shown, *total))]
    NotValues {
        /// The file.
        path: PathBuf,
        /// The module.
        module: String,
        /// The first offending cells.
        shown: Vec<InvalidCell>,
        /// How many there are in all.
        total: u64,
    },

    /// A field's declared labels cannot be counted.
    #[error("the labels of field `{field}`")]
    FieldLabels {
        /// The field.
        field: String,
        /// Why.
        #[source]
        source: agreement::Error,
    },

    /// The statistics refused their input.
    #[error(transparent)]
    Agreement(#[from] agreement::Error),

    /// No result CSV exists for a module.
    #[error(
        "no result CSV for module {module} in {} (run `orchestrator run {module}` first, or pass --source FILE)",
        folder.display()
    )]
    NoSource {
        /// The module.
        module: String,
        /// Where result CSVs were looked for.
        folder: PathBuf,
    },

    /// The module of a file cannot be told from its name.
    #[error(
        "{}: cannot tell the module from the file name (it should start with a module id such as M12_); pass --module",
        path.display()
    )]
    UnknownModule {
        /// The file.
        path: PathBuf,
    },

    /// A file has nothing to work on.
    #[error("{}: {message}", path.display())]
    Nothing {
        /// The file.
        path: PathBuf,
        /// Why there is nothing to do.
        message: String,
    },

    /// Records a gold file needs could not be found in any source.
    #[error(
        "{}: {} record id{} not found in {}: {}{}",
        path.display(),
        missing.len(),
        if missing.len() == 1 { "" } else { "s" },
        source_file.display(),
        missing.iter().take(10).map(|id| format!("`{id}`")).collect::<Vec<_>>().join(", "),
        if missing.len() > 10 { format!(" and {} more", missing.len() - 10) } else { String::new() }
    )]
    MissingRecords {
        /// The validated (or annotation) file.
        path: PathBuf,
        /// Where the records were looked up.
        source_file: PathBuf,
        /// The ids that were not found.
        missing: Vec<String>,
    },

    /// A file named on the command line does not exist.
    #[error(
        "{}: no such file{}",
        path.display(),
        looked_in.as_ref().map_or_else(String::new, |f| format!(" (also looked in {f})"))
    )]
    NoSuchFile {
        /// The file as given.
        path: PathBuf,
        /// The folder also searched, as shown to the user.
        looked_in: Option<String>,
    },

    /// A sidecar file (`*.meta.json`) is unreadable.
    #[error("{}: {message}", path.display())]
    Sidecar {
        /// The sidecar.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },

    /// An option value is out of range.
    #[error("{0}")]
    Invalid(String),
}

/// A row that does not fit the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedRow {
    /// 1-based line the row starts on.
    pub line: u64,
    /// What is wrong with it.
    pub problem: String,
}

/// Most rows listed in a message.
const SHOWN_ROWS: usize = 20;

/// One repeated `row_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateRowId {
    /// The id.
    pub row_id: String,
    /// Every line it is on.
    pub lines: Vec<u64>,
}

/// One annotator cell that is not a value of its field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidCell {
    /// The row's `row_id`.
    pub row_id: String,
    /// 1-based line in the file.
    pub line: u64,
    /// Column header.
    pub column: String,
    /// The cell as read.
    pub value: String,
    /// Why it is not accepted (e.g. the allowed labels).
    pub reason: String,
}

impl fmt::Display for InvalidCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "row_id {} (line {}), {}: ",
            self.row_id, self.line, self.column
        )?;
        // A pasted paragraph (or a runaway 10 MB cell) is cut, so the list stays readable.
        match self.value.char_indices().nth(SHOWN_CHARS) {
            None => write!(f, "`{}`", self.value)?,
            Some((end, _)) => write!(
                f,
                "`{}…` ({} characters)",
                &self.value[..end],
                self.value.chars().count()
            )?,
        }
        write!(f, ": {}", self.reason)
    }
}

/// Longest cell value quoted whole in a message.
const SHOWN_CHARS: usize = 60;

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn join(lines: &[u64]) -> String {
    lines
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn not_values(path: &std::path::Path, module: &str, shown: &[InvalidCell], total: u64) -> String {
    let one = total == 1;
    let mut message = format!(
        "{}: {} annotator cell{} {} not a value of {} field for module {module}; nothing was analysed:",
        path.display(),
        crate::analysis::thousands(total),
        if one { "" } else { "s" },
        if one { "is" } else { "are" },
        if one { "its" } else { "their" },
    );
    for cell in shown {
        message.push_str(&format!("\n  {cell}"));
    }
    let more = total.saturating_sub(shown.len() as u64);
    if more > 0 {
        message.push_str(&format!(
            "\n  ... and {} more",
            crate::analysis::thousands(more)
        ));
    }
    message.push_str(
        "\nCorrect these cells (or clear them to mark the rows as not annotated) and run again.",
    );
    message
}

fn list_lines(items: impl Iterator<Item = String>) -> String {
    items.map(|item| format!("\n  {item}")).collect()
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
    use super::*;

    #[test]
    fn a_long_cell_is_cut_in_messages() {
        let cell = |value: &str| InvalidCell {
            row_id: "2".into(),
            line: 3,
            column: "annotator_a_violates".into(),
            value: value.into(),
            reason: "not a label".into(),
        };
        assert_eq!(
            cell("maybe").to_string(),
            "row_id 2 (line 3), annotator_a_violates: `maybe`: not a label"
        );
        let long = "ja ".repeat(4_000_000);
        let shown = cell(&long).to_string();
        assert_eq!(
            shown,
            format!(
                "row_id 2 (line 3), annotator_a_violates: `{}…` (12000000 characters): not a label",
                &long[..60]
            )
        );
        // Cut on a character boundary, never inside one.
        assert!(
            cell(&"é".repeat(100))
                .to_string()
                .contains(&format!("`{}…`", "é".repeat(60)))
        );
    }
}
