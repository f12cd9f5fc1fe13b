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
/// A big CSV file ([`SPLIT_BYTES`] or more) whose fields are all labels is read in parts of
/// whole records on every core ([`AnnotationReader::open_parts`]); the parts' counts are merged
/// in file order, so the analysis, and every error with its line, is the one a single pass
/// gives.
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
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_PARTS));
    analyze_file_in_parts(module, file, options, progress, threads, SPLIT_BYTES)
}

/// Files smaller than this are read in one pass: threads would not pay for themselves.
pub const SPLIT_BYTES: u64 = 8 << 20;

/// At most this many parts (and threads).
const MAX_PARTS: usize = 16;

/// [`analyze_file`] with `parts` threads for a file of `split_bytes` or more.
///
/// # Errors
/// As [`analyze_file`].
pub fn analyze_file_in_parts<'a>(
    module: &'a ModuleSpec,
    file: &Path,
    options: &AnalysisOptions,
    progress: &mut dyn Progress,
    parts: usize,
    split_bytes: u64,
) -> Result<FileAnalysis<'a>> {
    if let Some(readers) = AnnotationReader::open_parts(file, parts, split_bytes)?
        && let Some(analysis) = analyze_parts(module, file, readers, options, progress)?
    {
        return Ok(analysis);
    }
    let mut reader = AnnotationReader::open(file)?;
    let Some(plan) = Plan::new(module, &mut reader)? else {
        return Err(no_fields(module));
    };
    let tally = tally_rows(&mut reader, &plan, &mut |rows| progress.rows_done(rows))?;
    progress.rows_done(tally.rows);
    if let Some(misfits) = tally.misfits {
        return Err(misfits);
    }
    let ids = Ids {
        parts: vec![tally.ids],
        ..Ids::default()
    };
    if ids.may_repeat() {
        repeated_ids(file, plan.row_id, &ids)?;
    }
    finish(
        module,
        &plan.shown,
        &plan.headers,
        tally.fields,
        tally.bad,
        tally.rows,
        options,
    )
}

fn no_fields(module: &ModuleSpec) -> Error {
    Error::Invalid(format!(
        "module {} declares no annotated field in modules.toml, so there is nothing to compare",
        module.id
    ))
}

/// What the analysis reads of a file: its header, the annotated fields' columns.
struct Plan<'a> {
    headers: Vec<String>,
    /// The file as messages name it (with its sheet, for a workbook).
    shown: std::path::PathBuf,
    row_id: Option<usize>,
    located: Vec<crate::merge::FieldColumns<'a>>,
    needed: Vec<usize>,
}

impl<'a> Plan<'a> {
    /// The plan for a reader's header, which then reads only the needed columns; `None` when
    /// the module has no annotated field.
    fn new<R: std::io::Read>(
        module: &'a ModuleSpec,
        reader: &mut AnnotationReader<R>,
    ) -> Result<Option<Self>> {
        let located = locate(module, reader, &[])?;
        if located.is_empty() {
            return Ok(None);
        }
        let row_id = reader.index_of("row_id");
        let needed: Vec<usize> = located
            .iter()
            .flat_map(|l| [Some(l.a), Some(l.b), l.llm])
            .chain([row_id])
            .flatten()
            .collect();
        reader.only_columns(&needed);
        Ok(Some(Self {
            headers: reader.headers().to_vec(),
            shown: reader.path().to_owned(),
            row_id,
            located,
            needed,
        }))
    }
}

/// The counts of some rows (the whole file, or one part of it).
struct RowsTally<'a> {
    fields: Vec<FieldTally<'a>>,
    bad: BadCells,
    rows: u64,
    ids: IdHashes,
    /// The rows that did not fit the header ([`Error::MalformedRows`]), when there were any.
    misfits: Option<Error>,
}

/// Counts every row of `reader`; `rows_done` hears how many rows were read every 1024 rows.
fn tally_rows<'a, R: std::io::Read>(
    reader: &mut AnnotationReader<R>,
    plan: &Plan<'a>,
    rows_done: &mut dyn FnMut(u64),
) -> Result<RowsTally<'a>> {
    let mut tally = RowsTally {
        fields: plan
            .located
            .iter()
            .copied()
            .map(FieldTally::new)
            .collect::<Result<Vec<_>>>()?,
        bad: BadCells::default(),
        rows: 0,
        ids: IdHashes::default(),
        misfits: None,
    };
    let mut row = AnnotationRow {
        line: 0,
        cells: Vec::new(),
    };
    loop {
        match reader.read_row(&mut row) {
            Ok(true) => {}
            Ok(false) => break,
            // Rows that do not fit are reported at the end of the rows: kept, so that a later
            // part's first error (which comes first) can still win.
            Err(e @ Error::MalformedRows { .. }) => {
                tally.misfits = Some(e);
                break;
            }
            Err(e) => return Err(e),
        }
        tally.rows += 1;
        if tally.rows.is_multiple_of(1024) {
            rows_done(tally.rows);
        }
        tally.ids.add(row.get_opt(plan.row_id).trim());
        for field in &mut tally.fields {
            field.add_row(&row, &plan.headers, plan.row_id, &mut tally.bad)?;
        }
    }
    Ok(tally)
}

/// Reads the parts of a file on as many threads and merges their counts in file order; `None`
/// when the file must be read in one pass after all (a field that is not labels, or a cut that
/// fell inside a quoted cell).
fn analyze_parts<'a>(
    module: &'a ModuleSpec,
    file: &Path,
    mut readers: Vec<AnnotationReader<std::io::Take<std::fs::File>>>,
    options: &AnalysisOptions,
    progress: &mut dyn Progress,
) -> Result<Option<FileAnalysis<'a>>> {
    use std::sync::atomic::{AtomicU64, Ordering};
    let Some((first, later)) = readers.split_first_mut() else {
        return Ok(None);
    };
    if first.missed_cut() {
        // The header ran past the first cut.
        return Ok(None);
    }
    let Some(plan) = Plan::new(module, first)? else {
        return Err(no_fields(module));
    };
    if !plan.located.iter().all(|l| l.reader.labels().is_some()) {
        return Ok(None);
    }
    for reader in later.iter_mut() {
        reader.only_columns(&plan.needed);
    }
    let done_later = AtomicU64::new(0);
    let (first_tally, later_tallies) = std::thread::scope(|scope| {
        let handles: Vec<_> = later
            .iter_mut()
            .map(|reader| {
                let (plan, done_later) = (&plan, &done_later);
                scope.spawn(move || {
                    let mut told = 0;
                    let tally = tally_rows(reader, plan, &mut |rows| {
                        done_later.fetch_add(rows - told, Ordering::Relaxed);
                        told = rows;
                    });
                    (tally, reader.missed_cut())
                })
            })
            .collect();
        let first_tally = tally_rows(first, &plan, &mut |rows| {
            progress.rows_done(rows + done_later.load(Ordering::Relaxed));
        });
        let later: Vec<_> = handles
            .into_iter()
            // A worker's panic is a bug: it goes on as this thread's.
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect();
        ((first_tally, first.missed_cut()), later)
    });
    // In file order: the first error wins; a missed cut means the rows after it are wrong.
    let mut merged: Option<RowsTally<'a>> = None;
    let mut misfit_rows = Vec::new();
    let mut misfit_error = None;
    let mut ids = Ids::default();
    for (tally, missed) in std::iter::once(first_tally).chain(later_tallies) {
        let mut tally = tally?;
        if missed {
            return Ok(None);
        }
        if let Some(Error::MalformedRows { rows, .. }) = &mut tally.misfits {
            misfit_rows.append(rows);
            misfit_error = tally.misfits.take();
        }
        ids.parts.push(std::mem::take(&mut tally.ids));
        match merged.as_mut() {
            None => merged = Some(tally),
            Some(all) => {
                for (field, part) in all.fields.iter_mut().zip(&tally.fields) {
                    field.merge(part)?;
                }
                all.rows += tally.rows;
                all.bad.total += tally.bad.total;
                let room = SHOWN_BAD_CELLS.saturating_sub(all.bad.shown.len());
                all.bad.shown.extend(tally.bad.shown.into_iter().take(room));
            }
        }
    }
    let Some(all) = merged else {
        return Ok(None);
    };
    progress.rows_done(all.rows);
    if let Some(Error::MalformedRows {
        path,
        columns,
        delimiter,
        ..
    }) = misfit_error
    {
        return Err(Error::MalformedRows {
            path,
            columns,
            delimiter,
            rows: misfit_rows,
        });
    }
    ids.cross_check();
    if ids.may_repeat() {
        repeated_ids(file, plan.row_id, &ids)?;
    }
    finish(
        module,
        &plan.shown,
        &plan.headers,
        all.fields,
        all.bad,
        all.rows,
        options,
    )
    .map(Some)
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
    /// The smallest and largest numeric id in `seen`.
    numbers: Option<(u64, u64)>,
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
        } else if let Some(n) = number {
            let (low, high) = self.numbers.get_or_insert((n, n));
            (*low, *high) = ((*low).min(n), (*high).max(n));
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

/// The row ids of a file read in parts, each part's in an [`IdHashes`]: an id may repeat
/// within a part, or across two parts (the same hash in both, or a number within another
/// part's run of numbers). Like [`IdHashes`], it may suspect too much, never too little.
#[derive(Default)]
struct Ids {
    /// In file order.
    parts: Vec<IdHashes>,
    /// Hashes of ids that two parts both hold.
    across: HashSet<u64>,
    /// Whether a part's run of numbers overlaps another part's numbers.
    runs_overlap: bool,
}

impl Ids {
    /// Finds the ids that two parts may share.
    fn cross_check(&mut self) {
        let overlaps = |a: Option<(u64, u64)>, b: Option<(u64, u64)>| match (a, b) {
            (Some((a0, a1)), Some((b0, b1))) => a0 <= b1 && b0 <= a1,
            _ => false,
        };
        let mut holders: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
        for (i, part) in self.parts.iter().enumerate() {
            for &hash in &part.seen {
                let first = *holders.entry(hash).or_insert(i);
                if first != i {
                    self.across.insert(hash);
                }
            }
            for (j, other) in self.parts.iter().enumerate() {
                if i != j && (overlaps(part.run, other.run) || overlaps(part.run, other.numbers)) {
                    self.runs_overlap = true;
                }
            }
        }
    }

    fn may_repeat(&self) -> bool {
        self.runs_overlap || !self.across.is_empty() || self.parts.iter().any(IdHashes::may_repeat)
    }

    /// Whether `id` is worth collecting in the second reading.
    fn suspect(&self, id: &str) -> bool {
        !id.is_empty()
            && (self.parts.iter().any(|p| p.suspect(id))
                || (!self.across.is_empty() && self.across.contains(&IdHashes::hash(id)))
                || (self.runs_overlap && self.parts.iter().any(|p| p.in_run(id))))
    }
}

/// Reads the file's row ids again to name the repeated ones and their lines, as merge does
/// ([`Error::DuplicateRowIds`]); a mere hash collision passes.
fn repeated_ids(file: &Path, row_id: Option<usize>, ids: &Ids) -> Result<()> {
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
    use std::path::Path;

    use agreement::AnalysisOptions;
    use core_config::Catalog;

    use super::{IdHashes, analyze_file_in_parts};

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

    fn catalog() -> Catalog {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../modules.toml"))
                .unwrap();
        Catalog::parse(&text, Path::new("/p/modules.toml")).unwrap()
    }

    /// The analysis (its rows, the fields' counts and the JSON report: every statistic) or
    /// the error message.
    fn outcome(catalog: &Catalog, module: &str, path: &Path, parts: usize) -> String {
        let module = catalog.resolve(module).unwrap();
        let options = AnalysisOptions {
            bootstrap_replicates: 50,
            ..AnalysisOptions::default()
        };
        match analyze_file_in_parts(module, path, &options, &mut (), parts, 0) {
            Ok(analysis) => {
                let fields: Vec<_> = analysis
                    .fields
                    .iter()
                    .map(|f| (f.filled_a, f.filled_b, f.llm_unreadable))
                    .collect();
                let report = serde_json::to_string(&analysis.report("f.csv")).unwrap();
                format!("FileAnalysis {} {fields:?} {report}", analysis.total_rows)
            }
            Err(e) => e.to_string(),
        }
    }

    /// Whether reading the file in `parts` parts stops at a cut inside a quoted cell.
    fn missed_a_cut(path: &Path, parts: usize) -> bool {
        let readers = crate::AnnotationReader::open_parts(path, parts, 0)
            .unwrap()
            .unwrap();
        let mut row = crate::AnnotationRow {
            line: 0,
            cells: Vec::new(),
        };
        readers.into_iter().any(|mut reader| {
            while let Ok(true) = reader.read_row(&mut row) {}
            reader.missed_cut()
        })
    }

    /// Equal outcomes; the first difference is shown (the outcomes are long).
    fn assert_same(split: &str, one: &str, context: &str) {
        if let Some(at) = split.bytes().zip(one.bytes()).position(|(a, b)| a != b) {
            let from = split.floor_char_boundary(at.saturating_sub(200));
            let to = |s: &str| s.floor_char_boundary(at + 200);
            panic!(
                "{context}: differs at {at}:\n{}\n---\n{}",
                &split[from..to(split)],
                &one[from..to(one)]
            );
        }
        assert_eq!(split.len(), one.len(), "{context}");
    }

    /// An m12b sheet of `rows` rows in assorted spellings, line ends and quoting, with
    /// `extra` put in before row `at`, then `tail`.
    fn m12b_file(rows: u32, at: u32, extra: &str, tail: &str) -> Vec<u8> {
        let labels = ["R", "relevant", " s ", "S", "C", "n", "Not relevant", ""];
        let llm = ["R", "S", "C", "N", "maybe", ""];
        let mut text = "\u{feff}\"row_id\",\"annotator_a_relevancy\",\"annotator_b_relevancy\",\"llm_relevancy\",\"notes\"\r\n".to_owned();
        for i in 0..rows {
            if i == at {
                text.push_str(extra);
            }
            let a = labels[(i as usize * 7) % labels.len()];
            let b = labels[(i as usize * 5 + i as usize / 3) % labels.len()];
            let l = llm[(i as usize * 3) % llm.len()];
            let row = match i % 6 {
                0 => format!("\"{i}\",\"{a}\",\"{b}\",\"{l}\",\"two\nlines, \"\"quoted\"\"\"\r\n"),
                1 => format!("{i},{a},{b},{l},plain\n"),
                2 => format!("{i},{a},{b},{l},\"\"\r\n\r\n"),
                3 => format!("{i},{a},{b},{l},x\r"),
                4 => format!(",,,,\r\n{i},{a},{b},{l},\"a,b\"\n"),
                _ => format!("\"{i}\",\"{a}\",\"{b}\",\"{l}\",\"\u{e9}t\u{e9}\r\n\"\r\n"),
            };
            text.push_str(&row);
        }
        text.push_str(tail);
        text.into_bytes()
    }

    #[test]
    fn a_file_read_in_parts_gives_the_analysis_and_errors_of_one_pass() {
        let catalog = catalog();
        let dir = tempfile::tempdir().unwrap();
        let bad_labels: String = (0..30).map(|i| format!("x{i},maybe,R,R,n\n")).collect();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("clean", m12b_file(4000, 0, "", "")),
            (
                "misfits",
                m12b_file(4000, 3500, "7,R,R,R,x,extra\n8;R;R;R;x\n", "9,R,R,R,x,y\n"),
            ),
            ("bad_labels", m12b_file(4000, 1500, &bad_labels, "")),
            (
                "bad_utf8",
                m12b_file(4000, 3900, "9,R,R,R,\u{0}\n", "10,R,R,R,\"\"\n"),
            ),
            (
                "cut_off",
                m12b_file(4000, 0, "", "11,R,R,R,\"never\nclosed\n"),
            ),
            (
                "unclosed",
                m12b_file(4000, 2100, "12,R,R,R,\"opens,x\n1,2,3,4,5,6\n", ""),
            ),
            ("repeated_number", m12b_file(4000, 3800, "17,R,R,R,x\n", "")),
            ("ids_across_parts", {
                let mut t = m12b_file(0, 0, "", "");
                for i in 0..4000 {
                    t.extend_from_slice(format!("row{},R,S,C,x\n", i % 3000).as_bytes());
                }
                t
            }),
            ("numbers_across_parts", {
                let mut t = m12b_file(0, 0, "", "");
                for i in 0..4000u32 {
                    let id = if i < 2000 { 4000 - i } else { i + 100 };
                    t.extend_from_slice(format!("{id},R,S,C,x\n").as_bytes());
                }
                t
            }),
        ];
        for (name, mut text) in cases {
            if name == "bad_utf8" {
                // A byte that is not UTF-8 in a column the analysis does not read.
                let at = text.windows(2).rposition(|w| w == b"\0\n").unwrap();
                text[at] = 0xff;
            }
            let path = dir.path().join(format!("{name}.csv"));
            std::fs::write(&path, &text).unwrap();
            let one = outcome(&catalog, "m12b", &path, 1);
            for parts in [2, 3, 6] {
                // The parts path itself, not its fallback, is what is compared.
                assert!(!missed_a_cut(&path, parts), "{name}, {parts} parts");
                let split = outcome(&catalog, "m12b", &path, parts);
                assert_same(&split, &one, &format!("{name}, {parts} parts"));
            }
            let expected = match name {
                "clean" => "FileAnalysis",
                "misfits" => "do not fit",
                "bad_labels" => "and 10 more",
                "bad_utf8" => "not valid UTF-8",
                "cut_off" => "cut off",
                "unclosed" => "never closed",
                _ => "duplicate row ids",
            };
            assert!(one.contains(expected), "{name}: {one}");
        }
    }

    #[test]
    fn lists_and_cuts_inside_quoted_cells_fall_back_to_one_pass() {
        let catalog = catalog();
        let dir = tempfile::tempdir().unwrap();
        // A list field (m01): tallies of overlaps are not merged, the file is read in one pass.
        let mut list =
            "row_id,annotator_a_brand_entities,annotator_b_brand_entities,llm_brand_entities\n"
                .to_owned();
        for i in 0..3000 {
            list.push_str(&format!(
                "{i},\"[\"\"a\"\",\"\"b{}\"\"]\",\"[\"\"a\"\"]\",\n",
                i % 3
            ));
        }
        let list_path = dir.path().join("list.csv");
        std::fs::write(&list_path, &list).unwrap();
        // A note of many lines across the middle, each ending like a record.
        let mut long = m12b_file(100, 0, "", "").into_iter().collect::<Vec<u8>>();
        long.extend_from_slice(b"500,R,R,R,\"");
        for _ in 0..20_000 {
            long.extend_from_slice(b"a,\"\"\n");
        }
        long.extend_from_slice(b"end\"\n501,N,N,N,y\n");
        let long_path = dir.path().join("long.csv");
        std::fs::write(&long_path, &long).unwrap();
        for (module, path) in [("m01", &list_path), ("m12b", &long_path)] {
            let one = outcome(&catalog, module, path, 1);
            assert!(one.starts_with("FileAnalysis"), "{one}");
            assert_same(&outcome(&catalog, module, path, 2), &one, module);
            assert_same(&outcome(&catalog, module, path, 4), &one, module);
        }
    }
}
