//! Merging the two annotators: every annotated field is read with its module's labels, the two
//! answers are compared, and a disagreement is resolved by the chosen strategy. The result is
//! the annotation file plus `final_label`, `resolution` and `annotator_agreement` columns,
//! written to `validated_data/`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Serialize;

use core_config::{AnnotatedField, Annotator, ModuleSpec, ProjectPaths};

use crate::Progress;
use crate::error::{DuplicateRowId, Error, InvalidCell, Result};
use crate::files::{NewFile, Sidecar, stored_path, timestamp_now};
use crate::sheet::{AnnotationReader, AnnotationRow, SafeCsvWriter};
use crate::values::{FieldReader, FieldValue};

/// The final label of a disagreement the conservative strategy leaves to a person.
pub const NEEDS_REVIEW: &str = "NEEDS_REVIEW";

/// How a disagreement between the annotators is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The annotator who agrees with the model wins; annotator A when neither does.
    Majority,
    /// Disagreements become `NEEDS_REVIEW`.
    Conservative,
    /// Annotator A wins.
    AnnotatorA,
    /// Annotator B wins.
    AnnotatorB,
}

impl Strategy {
    /// Every strategy, in the order `--help` lists them.
    pub const ALL: [Self; 4] = [
        Self::Majority,
        Self::Conservative,
        Self::AnnotatorA,
        Self::AnnotatorB,
    ];

    /// The name used on the command line.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Majority => "majority",
            Self::Conservative => "conservative",
            Self::AnnotatorA => "annotator_a",
            Self::AnnotatorB => "annotator_b",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Strategy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!(
                    "unknown strategy `{s}` (expected one of: majority, conservative, annotator_a, annotator_b)"
                )
            })
    }
}

/// How one field's final value was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// Both annotators gave the same answer.
    Agreement,
    /// Majority: annotator A agreed with the model.
    MajorityALlm,
    /// Majority: annotator B agreed with the model.
    MajorityBLlm,
    /// Majority: neither agreed with the model, so annotator A's answer was kept.
    DefaultA,
    /// Conservative: left for review.
    Disagreement,
    /// Annotator A preferred.
    PreferA,
    /// Annotator B preferred.
    PreferB,
}

impl Resolution {
    /// Every code, in report order.
    pub const ALL: [Self; 7] = [
        Self::Agreement,
        Self::MajorityALlm,
        Self::MajorityBLlm,
        Self::DefaultA,
        Self::Disagreement,
        Self::PreferA,
        Self::PreferB,
    ];

    /// The code written in the `resolution` column.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agreement => "agreement",
            Self::MajorityALlm => "majority_a_llm",
            Self::MajorityBLlm => "majority_b_llm",
            Self::DefaultA => "default_a",
            Self::Disagreement => "disagreement",
            Self::PreferA => "prefer_a",
            Self::PreferB => "prefer_b",
        }
    }

    /// Reads a code from a `resolution` cell.
    #[must_use]
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == code.trim())
    }
}

impl fmt::Display for Resolution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A resolved value: an answer, or left for review.
#[derive(Debug, Clone, PartialEq)]
pub enum Final {
    /// The value kept.
    Value(FieldValue),
    /// The conservative strategy's marker.
    NeedsReview,
}

impl Final {
    /// The cell written in the validated CSV.
    #[must_use]
    pub fn cell(&self) -> String {
        match self {
            Self::Value(v) => v.cell(),
            Self::NeedsReview => NEEDS_REVIEW.to_owned(),
        }
    }
}

/// Resolves one field of one row.
#[must_use]
pub fn resolve(
    strategy: Strategy,
    a: &FieldValue,
    b: &FieldValue,
    llm: Option<&FieldValue>,
) -> (Final, Resolution) {
    if a.same_as(b) {
        return (Final::Value(a.clone()), Resolution::Agreement);
    }
    match strategy {
        Strategy::Majority => match llm {
            Some(model) if a.same_as(model) => (Final::Value(a.clone()), Resolution::MajorityALlm),
            Some(model) if b.same_as(model) => (Final::Value(b.clone()), Resolution::MajorityBLlm),
            _ => (Final::Value(a.clone()), Resolution::DefaultA),
        },
        Strategy::Conservative => (Final::NeedsReview, Resolution::Disagreement),
        Strategy::AnnotatorA => (Final::Value(a.clone()), Resolution::PreferA),
        Strategy::AnnotatorB => (Final::Value(b.clone()), Resolution::PreferB),
    }
}

/// Options of [`merge`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeOptions {
    /// How disagreements are resolved.
    pub strategy: Strategy,
    /// Write only the rows where the annotators disagree (all rows are still counted).
    pub disagreements_only: bool,
    /// Folder to write to instead of `validated_data/`.
    pub output_dir: Option<PathBuf>,
}

impl Default for MergeOptions {
    fn default() -> Self {
        Self {
            strategy: Strategy::Majority,
            disagreements_only: false,
            output_dir: None,
        }
    }
}

/// A row left out of the merge because an annotation is missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncompleteRow {
    /// The row's `row_id`.
    pub row_id: String,
    /// 1-based line.
    pub line: u64,
    /// The empty annotator columns.
    pub missing: Vec<String>,
}

/// Counts for one annotated field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldSummary {
    /// Scored field name.
    pub field: String,
    /// The column holding its final value.
    pub final_column: String,
    /// Rows where both annotators gave the same answer.
    pub agreements: usize,
    /// Rows where they did not.
    pub disagreements: usize,
    /// Rows per resolution code.
    pub resolutions: BTreeMap<Resolution, usize>,
}

/// What [`merge`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MergeReport {
    /// Module id.
    pub module: String,
    /// The annotation CSV read.
    pub file: PathBuf,
    /// The validated CSV written.
    pub output: PathBuf,
    /// Its provenance sidecar.
    pub sidecar: PathBuf,
    /// The strategy used.
    pub strategy: Strategy,
    /// Whether only disagreements were written.
    pub disagreements_only: bool,
    /// Data rows in the file.
    pub rows: usize,
    /// Rows both annotators completed (the merged rows).
    pub annotated: usize,
    /// Annotated rows where the annotators agree on every field.
    pub agreements: usize,
    /// Annotated rows where they differ on at least one field.
    pub disagreements: usize,
    /// Rows written to the output.
    pub written: usize,
    /// Rows left out because an annotation is missing.
    pub incomplete: Vec<IncompleteRow>,
    /// Resolutions of the primary field (`final_label`), per code.
    pub resolutions: BTreeMap<Resolution, usize>,
    /// Per-field counts (one entry per annotated field; the first is the primary one).
    pub fields: Vec<FieldSummary>,
    /// Whether the file has the model's column for every field (majority needs it).
    pub llm_columns_present: bool,
}

impl MergeReport {
    /// Share of annotated rows where the annotators agree (0 when none are annotated).
    #[must_use]
    pub fn agreement_rate(&self) -> f64 {
        if self.annotated == 0 {
            0.0
        } else {
            self.agreements as f64 / self.annotated as f64
        }
    }
}

/// The names of the columns a merge adds for a field: the primary field gets `final_label`,
/// `resolution`, `annotator_agreement`; another field gets `final_{column}`,
/// `resolution_{column}`, `agreement_{column}`.
#[must_use]
pub fn added_columns(field: &AnnotatedField, primary: bool) -> [String; 3] {
    if primary {
        return [
            "final_label".to_owned(),
            "resolution".to_owned(),
            "annotator_agreement".to_owned(),
        ];
    }
    let suffix = if field.column.is_empty() {
        &field.score
    } else {
        &field.column
    };
    [
        format!("final_{suffix}"),
        format!("resolution_{suffix}"),
        format!("agreement_{suffix}"),
    ]
}

/// Where one annotated field's columns are in an annotation file's header.
#[derive(Debug, Clone, Copy)]
pub struct FieldColumns<'a> {
    /// The field as the module's layout declares it.
    pub field: &'a AnnotatedField,
    /// Reads its cells with the module's labels.
    pub reader: FieldReader<'a>,
    /// Index of annotator A's column.
    pub a: usize,
    /// Index of annotator B's column.
    pub b: usize,
    /// Index of the model's column, when the file has it.
    pub llm: Option<usize>,
}

/// Finds every annotated field's columns in a file's header (the first is the primary field),
/// and checks that `extra_required` columns are there too.
///
/// # Errors
/// [`Error::MissingColumns`] naming every absent column.
pub fn locate<'a, R: std::io::Read>(
    module: &'a ModuleSpec,
    reader: &AnnotationReader<R>,
    extra_required: &[&str],
) -> Result<Vec<FieldColumns<'a>>> {
    let mut missing: Vec<String> = extra_required
        .iter()
        .filter(|c| reader.index_of(c).is_none())
        .map(|c| (*c).to_owned())
        .collect();
    let mut located = Vec::new();
    for field in &module.annotation.fields {
        let a_name = field.column_for(Annotator::A);
        let b_name = field.column_for(Annotator::B);
        let (a, b) = (reader.index_of(&a_name), reader.index_of(&b_name));
        if a.is_none() {
            missing.push(a_name);
        }
        if b.is_none() {
            missing.push(b_name);
        }
        let Some(score) = module.score_field(&field.score) else {
            continue;
        };
        if let (Some(a), Some(b)) = (a, b) {
            located.push(FieldColumns {
                field,
                reader: FieldReader::new(score),
                a,
                b,
                llm: reader.index_of(&field.llm),
            });
        }
    }
    if missing.is_empty() {
        Ok(located)
    } else {
        Err(Error::MissingColumns {
            path: reader.path().to_owned(),
            module: module.id.to_string(),
            missing,
        })
    }
}

/// Remembers row ids to report the repeated ones.
#[derive(Default)]
pub(crate) struct RowIds {
    lines: HashMap<String, Vec<u64>>,
    order: Vec<String>,
}

impl RowIds {
    pub(crate) fn add(&mut self, row_id: &str, line: u64) {
        if row_id.is_empty() {
            return;
        }
        let lines = self.lines.entry(row_id.to_owned()).or_default();
        if lines.len() == 1 {
            self.order.push(row_id.to_owned());
        }
        lines.push(line);
    }

    /// Fails with [`Error::DuplicateRecords`] when a record id repeats.
    pub(crate) fn check_records(self, path: &Path) -> Result<()> {
        match self.check(path) {
            Err(Error::DuplicateRowIds { path, duplicates }) => {
                Err(Error::DuplicateRecords { path, duplicates })
            }
            other => other,
        }
    }

    pub(crate) fn check(self, path: &Path) -> Result<()> {
        if self.order.is_empty() {
            return Ok(());
        }
        let duplicates = self
            .order
            .iter()
            .map(|id| DuplicateRowId {
                row_id: id.clone(),
                lines: self.lines[id].clone(),
            })
            .collect();
        Err(Error::DuplicateRowIds {
            path: path.to_owned(),
            duplicates,
        })
    }
}

/// How far the annotators are with a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FileStatus {
    /// Data rows.
    pub rows: usize,
    /// Rows where annotator A filled every annotated field.
    pub annotated_a: usize,
    /// Rows where annotator B filled every annotated field.
    pub annotated_b: usize,
    /// Rows where both did.
    pub complete: usize,
}

/// Counts filled annotator cells (without checking the labels).
///
/// # Errors
/// When the file cannot be read or lacks the module's annotator columns.
pub fn file_status(module: &ModuleSpec, file: &Path) -> Result<FileStatus> {
    let reader = AnnotationReader::open(file)?;
    let located = locate(module, &reader, &[])?;
    let mut status = FileStatus {
        rows: 0,
        annotated_a: 0,
        annotated_b: 0,
        complete: 0,
    };
    for row in reader {
        let row = row?;
        status.rows += 1;
        let a = located.iter().all(|l| !row.get(l.a).trim().is_empty());
        let b = located.iter().all(|l| !row.get(l.b).trim().is_empty());
        status.annotated_a += usize::from(a);
        status.annotated_b += usize::from(b);
        status.complete += usize::from(a && b);
    }
    Ok(status)
}

/// Merges an annotation CSV into a validated CSV.
///
/// Nothing is written when any annotator cell holds a value outside its field's labels (the
/// error lists every such cell), when row ids repeat, or when no row has both annotations.
///
/// # Errors
/// As above, and when reading or writing fails.
pub fn merge(
    paths: &ProjectPaths,
    module: &ModuleSpec,
    file: &Path,
    options: &MergeOptions,
    progress: &mut dyn Progress,
) -> Result<MergeReport> {
    let reader = AnnotationReader::open(file)?;
    let located = locate(module, &reader, &["row_id"])?;
    let row_id_col = reader.index_of("row_id");
    let agreement_col = reader.index_of("agreement");

    let (headers, added) = output_columns(&reader, &located);

    let kind = if options.disagreements_only {
        "disagreements"
    } else {
        "validated"
    };
    let mut writer = create_output(paths, module, options, kind, &headers)?;

    let mut report = empty_report(module, file, options, &located, &added, &headers);
    let mut invalid: Vec<InvalidCell> = Vec::new();
    let mut ids = RowIds::default();
    // The same record on two rows would be merged twice and repeat its id in the gold file.
    let mut records = RowIds::default();
    let record_id_col = reader.index_of("record_id");
    // The file as messages name it (with its sheet, for a workbook).
    let shown = reader.path().to_owned();

    for row in reader {
        let row = row?;
        report.rows += 1;
        if report.rows.is_multiple_of(1024) {
            progress.rows_done(report.rows as u64);
        }
        let row_id = row.get_opt(row_id_col).trim().to_owned();
        ids.add(&row_id, row.line);
        records.add(row.get_opt(record_id_col).trim(), row.line);

        let Some(values) = read_pairs(&row, &row_id, &located, &headers, &mut invalid) else {
            continue;
        };
        let missing = missing_columns(&values, &located, &headers);
        if !missing.is_empty() {
            report.incomplete.push(IncompleteRow {
                row_id: display_id(&row_id, row.line),
                line: row.line,
                missing,
            });
            continue;
        }
        if !invalid.is_empty() {
            // The file will not be written; keep scanning only to list every bad cell.
            continue;
        }
        report.annotated += 1;

        let mut cells = row.cells.clone();
        cells.resize(headers.len(), String::new());
        let all_agree = resolve_row(
            &row,
            &values,
            &located,
            &added,
            options.strategy,
            &mut cells,
            &mut report,
        );
        if all_agree {
            report.agreements += 1;
        } else {
            report.disagreements += 1;
        }
        if let Some(col) = agreement_col
            && cells[col].trim().is_empty()
        {
            cells[col] = if all_agree { "1" } else { "0" }.to_owned();
        }
        if options.disagreements_only && all_agree {
            continue;
        }
        writer.write_row(&cells)?;
        report.written += 1;
    }
    progress.rows_done(report.rows as u64);

    check_scan(module, &shown, ids, records, invalid, &report)?;

    let output = writer.finish()?.persist()?;
    report.sidecar = write_merge_sidecar(paths, module, file, kind, &report, &output)?;
    report.output = output;
    Ok(report)
}

/// Creates the merged file (in the validated-data folder unless the options name another) and
/// a writer that has written its header.
fn create_output(
    paths: &ProjectPaths,
    module: &ModuleSpec,
    options: &MergeOptions,
    kind: &str,
    headers: &[String],
) -> Result<SafeCsvWriter<NewFile>> {
    let dir = options
        .output_dir
        .clone()
        .unwrap_or_else(|| paths.validated_data());
    let stem = format!("{}_{kind}_{}", module.id.upper(), timestamp_now());
    let out = NewFile::create(&dir, &stem, "csv")?;
    let shown = out.intended_path();
    SafeCsvWriter::new(&shown, out, headers)
}

/// After the whole file was read: refuses repeated row or record ids, invalid cells, and a
/// file with no fully annotated row.
fn check_scan(
    module: &ModuleSpec,
    file: &Path,
    ids: RowIds,
    records: RowIds,
    invalid: Vec<InvalidCell>,
    report: &MergeReport,
) -> Result<()> {
    ids.check(file)?;
    records.check_records(file)?;
    if !invalid.is_empty() {
        return Err(Error::InvalidCells {
            path: file.to_owned(),
            module: module.id.to_string(),
            cells: invalid,
        });
    }
    if report.annotated == 0 {
        return Err(Error::Nothing {
            path: file.to_owned(),
            message: nothing_annotated(report),
        });
    }
    Ok(())
}

/// The output file's header: the annotation file's columns, then each field's final,
/// resolution and agreement columns that it lacks; and where those three are, per field.
fn output_columns<R: std::io::Read>(
    reader: &AnnotationReader<R>,
    located: &[FieldColumns<'_>],
) -> (Vec<String>, Vec<[usize; 3]>) {
    let mut headers = reader.headers().to_vec();
    let mut added: Vec<[usize; 3]> = Vec::new();
    for (i, loc) in located.iter().enumerate() {
        let names = added_columns(loc.field, i == 0);
        added.push(names.map(|name| {
            reader.index_of(&name).unwrap_or_else(|| {
                headers.push(name);
                headers.len() - 1
            })
        }));
    }
    (headers, added)
}

/// A report with every count at zero.
fn empty_report(
    module: &ModuleSpec,
    file: &Path,
    options: &MergeOptions,
    located: &[FieldColumns<'_>],
    added: &[[usize; 3]],
    headers: &[String],
) -> MergeReport {
    MergeReport {
        module: module.id.to_string(),
        file: file.to_owned(),
        output: PathBuf::new(),
        sidecar: PathBuf::new(),
        strategy: options.strategy,
        disagreements_only: options.disagreements_only,
        rows: 0,
        annotated: 0,
        agreements: 0,
        disagreements: 0,
        written: 0,
        incomplete: Vec::new(),
        resolutions: BTreeMap::new(),
        fields: located
            .iter()
            .zip(added)
            .map(|(loc, cols)| FieldSummary {
                field: loc.field.score.clone(),
                final_column: headers[cols[0]].clone(),
                agreements: 0,
                disagreements: 0,
                resolutions: BTreeMap::new(),
            })
            .collect(),
        llm_columns_present: located.iter().all(|l| l.llm.is_some()),
    }
}

/// The names of the annotator columns a row leaves empty.
fn missing_columns(
    values: &[Pair],
    located: &[FieldColumns<'_>],
    headers: &[String],
) -> Vec<String> {
    values
        .iter()
        .zip(located)
        .flat_map(|((a, b), loc)| {
            [(a, loc.a), (b, loc.b)]
                .into_iter()
                .filter(|(v, _)| v.is_none())
                .map(|(_, col)| headers[col].clone())
        })
        .collect()
}

/// Resolves every field of one fully annotated row into `cells` and counts the outcome in
/// `report`; true when the annotators agree on every field.
fn resolve_row(
    row: &AnnotationRow,
    values: &[Pair],
    located: &[FieldColumns<'_>],
    added: &[[usize; 3]],
    strategy: Strategy,
    cells: &mut [String],
    report: &mut MergeReport,
) -> bool {
    let mut all_agree = true;
    for (i, (((a, b), loc), cols)) in values.iter().zip(located).zip(added).enumerate() {
        let (Some(a), Some(b)) = (a, b) else {
            continue;
        };
        let llm = loc.llm.and_then(|c| loc.reader.llm(row.get(c)));
        let (final_value, resolution) = resolve(strategy, a, b, llm.as_ref());
        let agree = resolution == Resolution::Agreement;
        all_agree &= agree;
        cells[cols[0]] = final_value.cell();
        cells[cols[1]] = resolution.as_str().to_owned();
        cells[cols[2]] = if agree { "1" } else { "0" }.to_owned();
        let summary = &mut report.fields[i];
        if agree {
            summary.agreements += 1;
        } else {
            summary.disagreements += 1;
        }
        *summary.resolutions.entry(resolution).or_default() += 1;
        if i == 0 {
            *report.resolutions.entry(resolution).or_default() += 1;
        }
    }
    all_agree
}

/// Writes the merged file's sidecar and returns its path.
fn write_merge_sidecar(
    paths: &ProjectPaths,
    module: &ModuleSpec,
    file: &Path,
    kind: &str,
    report: &MergeReport,
    output: &Path,
) -> Result<PathBuf> {
    let mut sidecar = Sidecar::new(kind, module.id.as_str());
    sidecar.annotation_file = Some(stored_path(paths, file));
    sidecar.results_file = Sidecar::read_for(file)?.and_then(|s| s.results_file);
    sidecar
        .details
        .insert("strategy".into(), report.strategy.as_str().into());
    sidecar
        .details
        .insert("annotated_rows".into(), report.annotated.into());
    sidecar
        .details
        .insert("agreements".into(), report.agreements.into());
    sidecar.write_for(output)
}

fn nothing_annotated(report: &MergeReport) -> String {
    if report.rows == 0 {
        return "the file has no data rows".to_owned();
    }
    let example = report
        .incomplete
        .first()
        .map(|r| format!(" (row_id {} lacks {})", r.row_id, r.missing.join(", ")))
        .unwrap_or_default();
    format!(
        "no row has both annotations yet: {} rows, all incomplete{example}; fill the annotator columns first",
        report.rows
    )
}

/// A row id for messages: the `row_id` cell, or the line when the cell is empty.
pub(crate) fn display_id(row_id: &str, line: u64) -> String {
    if row_id.is_empty() {
        format!("(empty, line {line})")
    } else {
        row_id.to_owned()
    }
}

type Pair = (Option<FieldValue>, Option<FieldValue>);

/// Reads both annotators' cells of every field; bad cells are added to `invalid` and `None` is
/// returned for the row.
fn read_pairs(
    row: &AnnotationRow,
    row_id: &str,
    located: &[FieldColumns<'_>],
    headers: &[String],
    invalid: &mut Vec<InvalidCell>,
) -> Option<Vec<Pair>> {
    let mut ok = true;
    let mut pairs = Vec::with_capacity(located.len());
    for loc in located {
        let mut read = |col: usize| match loc.reader.annotator(row.get(col)) {
            Ok(v) => v,
            Err(reason) => {
                ok = false;
                invalid.push(InvalidCell {
                    row_id: display_id(row_id, row.line),
                    line: row.line,
                    column: headers[col].clone(),
                    value: row.get(col).to_owned(),
                    reason,
                });
                None
            }
        };
        let a = read(loc.a);
        let b = read(loc.b);
        pairs.push((a, b));
    }
    ok.then_some(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(s: &str) -> FieldValue {
        FieldValue::Label(s.to_owned())
    }

    #[test]
    fn resolution_rules() {
        let (t, f) = (label("true"), label("false"));
        let cases = [
            (
                Strategy::Majority,
                &t,
                &t,
                Some(&f),
                "true",
                Resolution::Agreement,
            ),
            (
                Strategy::Conservative,
                &f,
                &f,
                None,
                "false",
                Resolution::Agreement,
            ),
            (
                Strategy::Majority,
                &t,
                &f,
                Some(&t),
                "true",
                Resolution::MajorityALlm,
            ),
            (
                Strategy::Majority,
                &t,
                &f,
                Some(&f),
                "false",
                Resolution::MajorityBLlm,
            ),
            (
                Strategy::Majority,
                &t,
                &f,
                None,
                "true",
                Resolution::DefaultA,
            ),
            (
                Strategy::Conservative,
                &t,
                &f,
                Some(&t),
                NEEDS_REVIEW,
                Resolution::Disagreement,
            ),
            (
                Strategy::AnnotatorA,
                &t,
                &f,
                Some(&f),
                "true",
                Resolution::PreferA,
            ),
            (
                Strategy::AnnotatorB,
                &t,
                &f,
                Some(&t),
                "false",
                Resolution::PreferB,
            ),
        ];
        for (strategy, a, b, llm, want, code) in cases {
            let (value, resolution) = resolve(strategy, a, b, llm);
            assert_eq!(
                (value.cell().as_str(), resolution),
                (want, code),
                "{strategy} {a:?} {b:?} {llm:?}"
            );
        }
        // Majority with three labels: neither annotator matches the model.
        let (value, code) = resolve(
            Strategy::Majority,
            &label("R"),
            &label("S"),
            Some(&label("N")),
        );
        assert_eq!((value.cell(), code), ("R".to_owned(), Resolution::DefaultA));
    }

    #[test]
    fn strategies_parse_from_their_names() {
        for s in Strategy::ALL {
            assert_eq!(s.as_str().parse::<Strategy>(), Ok(s));
        }
        assert!(
            "vote"
                .parse::<Strategy>()
                .unwrap_err()
                .contains("expected one of")
        );
        assert_eq!(
            Resolution::parse("majority_b_llm"),
            Some(Resolution::MajorityBLlm)
        );
    }
}
