//! The agreement analysis of one annotation file: the file is streamed once through the
//! annotation reader and each field's label reader into `agreement`'s accumulators, so memory
//! does not grow with the number of rows.
//!
//! [`analyze_file`] returns a [`FileAnalysis`]; [`FileAnalysis::report`] turns it into the
//! [`AnalysisReport`] whose JSON is the `calculate-agreement --json` contract.

mod report;
mod tally;
pub mod text;

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::path::Path;

use agreement::{AgreementReport, AnalysisOptions, ListReport, TextReport};
use core_config::{ModuleSpec, ScoreKind};

use crate::error::{Error, InvalidCell, Result};
use crate::merge::RowIds;
use crate::sheet::{AnnotationReader, AnnotationRow};
use crate::{Progress, locate};

pub use report::{AnalysisReport, Columns, FieldDetail, FieldReport};
use tally::{BadCells, FieldTally};

/// Every annotated field of one annotation file, analysed.
#[derive(Debug)]
pub struct FileAnalysis<'a> {
    /// The file's module.
    pub module: &'a ModuleSpec,
    /// Data rows read.
    pub total_rows: u64,
    /// In the module's order; the first is the primary field.
    pub fields: Vec<FieldAnalysis>,
}

/// One annotated field's statistics and where they came from.
#[derive(Debug)]
pub struct FieldAnalysis {
    /// The field's name (its score name in `modules.toml`).
    pub name: String,
    /// How the field is scored.
    pub score_kind: ScoreKind,
    /// Annotator A's column.
    pub column_a: String,
    /// Annotator B's column.
    pub column_b: String,
    /// The model's column, when the file has it.
    pub llm_column: Option<String>,
    /// Rows where annotator A filled this field.
    pub filled_a: u64,
    /// Rows where annotator B filled this field.
    pub filled_b: u64,
    /// Non-empty model cells that are not a value of the field (left out of the comparison).
    pub llm_unreadable: u64,
    /// The statistics.
    pub stats: FieldStats,
}

/// The statistics of one field, by the kind of its values.
#[derive(Debug)]
pub enum FieldStats {
    /// Labels: kappa and friends.
    Categorical(Box<AgreementReport>),
    /// List fields, and taxonomy / ranking tables compared as sets of their rows.
    List(ListReport),
    /// Free text.
    Text(TextReport),
}

impl FieldAnalysis {
    /// Rows both annotators filled.
    #[must_use]
    pub fn annotated_rows(&self) -> u64 {
        match &self.stats {
            FieldStats::Categorical(r) => r.annotated_rows,
            FieldStats::List(r) => r.annotated_rows,
            FieldStats::Text(r) => r.annotated_rows,
        }
    }

    /// Taxonomy and ranking tables, compared as sets of their rows.
    #[must_use]
    pub fn is_structured(&self) -> bool {
        matches!(self.score_kind, ScoreKind::Taxonomy | ScoreKind::Ranking)
    }
}

/// At most this many bad cells are listed; the rest are counted.
pub const SHOWN_BAD_CELLS: usize = 20;

/// Reads an annotation file once and analyses every annotated field of `module`.
///
/// # Errors
/// Naming the file, and the line, row id, column and value of every offending cell up to
/// [`SHOWN_BAD_CELLS`]: when an annotator cell is not a value of its field, when annotator
/// columns are missing, when the file is empty or unreadable, has no data rows, or has no row
/// that both annotators filled.
pub fn analyze_file<'a>(
    module: &'a ModuleSpec,
    file: &Path,
    options: &AnalysisOptions,
    progress: &mut dyn Progress,
) -> Result<FileAnalysis<'a>> {
    let mut reader = AnnotationReader::open(file)?;
    let located = locate(module, &reader, &[])?;
    if located.is_empty() {
        return Err(Error::Invalid(format!(
            "module {} declares no annotated field in modules.toml, so there is nothing to compare",
            module.id
        )));
    }
    let headers = reader.headers().to_vec();
    // The file as messages name it (with its sheet, for a workbook).
    let shown = reader.path().to_owned();
    let row_id = reader.index_of("row_id");
    let needed: Vec<usize> = located
        .iter()
        .flat_map(|l| [Some(l.a), Some(l.b), l.llm])
        .chain([row_id])
        .flatten()
        .collect();
    reader.only_columns(&needed);
    let mut fields = located
        .into_iter()
        .map(FieldTally::new)
        .collect::<Result<Vec<_>>>()?;
    let mut bad = BadCells::default();
    let mut rows = 0u64;
    let mut row = AnnotationRow {
        line: 0,
        cells: Vec::new(),
    };
    let mut ids = IdHashes::default();
    while reader.read_row(&mut row)? {
        rows += 1;
        if rows.is_multiple_of(1024) {
            progress.rows_done(rows);
        }
        ids.add(row.get_opt(row_id).trim());
        for field in &mut fields {
            field.add_row(&row, &headers, row_id, &mut bad)?;
        }
    }
    progress.rows_done(rows);
    if ids.may_repeat() {
        repeated_ids(file, row_id, &ids)?;
    }
    finish(module, &shown, &headers, fields, bad, rows, options)
}

fn finish<'a>(
    module: &'a ModuleSpec,
    file: &Path,
    headers: &[String],
    fields: Vec<FieldTally<'_>>,
    bad: BadCells,
    rows: u64,
    options: &AnalysisOptions,
) -> Result<FileAnalysis<'a>> {
    if bad.total > 0 {
        return Err(Error::NotValues {
            path: file.to_owned(),
            module: module.id.to_string(),
            shown: bad.shown,
            total: bad.total,
        });
    }
    let nothing = |message: String| Error::Nothing {
        path: file.to_owned(),
        message,
    };
    if rows == 0 {
        return Err(nothing(
            "the file has a header but no data rows, so there is nothing to compare".to_owned(),
        ));
    }
    let fields: Vec<FieldAnalysis> = fields
        .into_iter()
        .map(|f| f.finish(headers, options))
        .collect();
    if fields.iter().all(|f| f.annotated_rows() == 0) {
        let primary = &fields[0];
        return Err(nothing(format!(
            "no row has labels from both annotators yet ({} rows; annotator A filled {} in `{}`, annotator B {} in `{}`); fill the annotator columns first",
            thousands(rows),
            thousands(primary.filled_a),
            primary.column_a,
            thousands(primary.filled_b),
            primary.column_b
        )));
    }
    Ok(FileAnalysis {
        module,
        total_rows: rows,
        fields,
    })
}

/// Which row ids may repeat, in little memory and time: row ids are usually `1, 2, 3, ...`, and
/// a strictly increasing run of numbers cannot repeat, so only its bounds are kept; other ids
/// are kept as hashes. Only a possible repeat costs a second reading
/// ([`repeated_ids`]), which settles it exactly.
#[derive(Default)]
struct IdHashes {
    /// The bounds of the leading run of increasing numeric ids.
    run: Option<(u64, u64)>,
    /// Whether the run has ended.
    run_over: bool,
    seen: HashSet<u64>,
    repeated: HashSet<u64>,
    /// A later id may repeat one of the run.
    in_run_again: bool,
}

impl IdHashes {
    fn hash(id: &str) -> u64 {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        id.hash(&mut hasher);
        hasher.finish()
    }

    fn add(&mut self, id: &str) {
        if id.is_empty() {
            return;
        }
        let number = id.parse::<u64>().ok();
        if !self.run_over {
            let extended = match (self.run, number) {
                (None, Some(n)) => Some((n, n)),
                (Some((low, high)), Some(n)) if n > high => Some((low, n)),
                _ => None,
            };
            if extended.is_some() {
                self.run = extended;
                return;
            }
            self.run_over = true;
        }
        if self.in_run(id) {
            self.in_run_again = true;
        } else if !self.seen.insert(Self::hash(id)) {
            self.repeated.insert(Self::hash(id));
        }
    }

    /// Whether `id` is a number within the run's bounds.
    fn in_run(&self, id: &str) -> bool {
        match (self.run, id.parse::<u64>()) {
            (Some((low, high)), Ok(n)) => (low..=high).contains(&n),
            _ => false,
        }
    }

    fn may_repeat(&self) -> bool {
        self.in_run_again || !self.repeated.is_empty()
    }

    /// Whether `id` is worth collecting in the second reading.
    fn suspect(&self, id: &str) -> bool {
        !id.is_empty()
            && ((self.in_run_again && self.in_run(id))
                || (!self.repeated.is_empty() && self.repeated.contains(&Self::hash(id))))
    }
}

/// Reads the file's row ids again to name the repeated ones and their lines, as merge does
/// ([`Error::DuplicateRowIds`]); a mere hash collision passes.
fn repeated_ids(file: &Path, row_id: Option<usize>, ids: &IdHashes) -> Result<()> {
    let mut reader = AnnotationReader::open(file)?;
    reader.only_columns(&row_id.into_iter().collect::<Vec<_>>());
    let mut row = AnnotationRow {
        line: 0,
        cells: Vec::new(),
    };
    let mut candidates = RowIds::default();
    while reader.read_row(&mut row)? {
        let id = row.get_opt(row_id).trim();
        if ids.suspect(id) {
            candidates.add(id, row.line);
        }
    }
    candidates.check(reader.path())
}

/// An invalid cell as listed in messages.
pub(crate) fn invalid_cell(
    row: &AnnotationRow,
    row_id: Option<usize>,
    column: &str,
    cell: &str,
    reason: String,
) -> InvalidCell {
    let id = row.get_opt(row_id).trim();
    InvalidCell {
        row_id: if id.is_empty() {
            "(empty)".to_owned()
        } else {
            id.to_owned()
        },
        line: row.line,
        column: column.to_owned(),
        value: cell.to_owned(),
        reason,
    }
}

pub(crate) use present::thousands;

#[cfg(test)]
mod tests {
    use super::IdHashes;

    fn ids(list: &[&str]) -> IdHashes {
        let mut ids = IdHashes::default();
        for id in list {
            ids.add(id);
        }
        ids
    }

    #[test]
    fn increasing_numbers_cannot_repeat_and_others_are_caught() {
        assert!(!ids(&["1", "2", "3", "10"]).may_repeat());
        assert!(!ids(&["a", "b", "1", "2"]).may_repeat());
        let again = ids(&["1", "2", "3", "2"]);
        assert!(again.may_repeat() && again.suspect("2") && !again.suspect("x"));
        assert!(ids(&["1", "2", "x", "x"]).may_repeat());
        assert!(ids(&["5", "4", "5"]).may_repeat());
        assert!(!ids(&["5", "4", "6", ""]).may_repeat());
    }
}
