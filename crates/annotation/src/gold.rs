//! Gold datasets: the merged labels of a validated CSV written back as dataset records
//! (`{"id", "input", "expected", "metadata"}`), so a gold file can be used as a module's dataset
//! as it is.
//!
//! The annotation CSV carries only the columns people read, not the record's full input. The
//! input is recovered by `record_id` from the result CSV the annotation file was generated from
//! (named in the sidecars that `generate` and `merge` write), or from `--source`, or else from
//! the module's dataset. Every gold record then holds its complete input, so the gold file
//! depends on nothing else.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use core_config::fieldpath::lookup_dotted;
use core_config::results::read_results;
use core_config::{Catalog, ModuleSpec, ProjectPaths, read_records};

use crate::Progress;
use crate::error::{Error, InvalidCell, Result};
use crate::files::{NewFile, Sidecar, restored_path, stored_path, timestamp_now};
use crate::merge::{FieldColumns, NEEDS_REVIEW, RowIds, added_columns, display_id, locate};
use crate::sheet::{AnnotationReader, AnnotationRow, SafeCsvWriter};
use crate::values::FieldValue;

/// The format of a gold file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GoldFormat {
    /// One dataset record per line.
    Jsonl,
    /// A flat table for people: id, labels, agreement, resolution, context columns.
    Csv,
    /// The earlier tool's flat gold lines, for consumers that still read them: `asin`,
    /// `keyword`, `brand`, `label` (the primary field's final label), `agreement` (`"1"`/`"0"`),
    /// `resolution`, then the non-empty ones of `product_title`, `hard_constraints`,
    /// `validated_use` and `product_taxonomy`, as the sheet holds them.
    #[serde(rename = "legacy-jsonl")]
    LegacyJsonl,
}

impl GoldFormat {
    /// The file extension.
    #[must_use]
    pub fn extension(self) -> &'static str {
        match self {
            Self::Jsonl | Self::LegacyJsonl => "jsonl",
            Self::Csv => "csv",
        }
    }
}

/// Options of [`gold`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoldOptions {
    /// Output format.
    pub format: GoldFormat,
    /// A result CSV or dataset JSONL to take the records' input from, instead of the one the
    /// sidecars name.
    pub source: Option<PathBuf>,
    /// Folder to write to instead of `validated_data/`.
    pub output_dir: Option<PathBuf>,
}

impl Default for GoldOptions {
    fn default() -> Self {
        Self {
            format: GoldFormat::Jsonl,
            source: None,
            output_dir: None,
        }
    }
}

/// What [`gold`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GoldReport {
    /// Module id.
    pub module: String,
    /// The validated CSV read.
    pub file: PathBuf,
    /// The gold file written.
    pub output: PathBuf,
    /// Its provenance sidecar.
    pub sidecar: PathBuf,
    /// Output format.
    pub format: GoldFormat,
    /// Where the records' input came from.
    pub inputs_from: PathBuf,
    /// Data rows in the validated CSV.
    pub rows: usize,
    /// Gold records written.
    pub written: usize,
    /// Row ids skipped because a final label is `NEEDS_REVIEW`.
    pub needs_review: Vec<String>,
    /// Row ids skipped because a final label is empty.
    pub empty: Vec<String>,
}

/// A dataset record's parts, as found in the source.
struct SourceRecord {
    input: Value,
    metadata: Value,
}

struct Sources {
    path: PathBuf,
    records: HashMap<String, SourceRecord>,
    /// Raw expected values per scored field, most common first.
    observed: HashMap<String, Vec<Value>>,
}

fn load_sources(module: &ModuleSpec, path: &Path) -> Result<Sources> {
    let is_jsonl = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("jsonl") || e.eq_ignore_ascii_case("json"));
    let mut records = HashMap::new();
    let mut expected_values: Vec<Value> = Vec::new();
    if is_jsonl {
        for record in read_records(path)? {
            expected_values.push(Value::Object(record.expected.clone()));
            records.insert(
                record.id,
                SourceRecord {
                    input: Value::Object(record.input),
                    metadata: Value::Object(record.metadata),
                },
            );
        }
    } else {
        for row in read_results(path)? {
            expected_values.push(row.expected.clone());
            records.entry(row.record_id).or_insert(SourceRecord {
                input: row.input,
                metadata: row.metadata,
            });
        }
    }
    let mut observed = HashMap::new();
    for field in &module.score {
        let mut counts: Vec<(Value, usize)> = Vec::new();
        for expected in &expected_values {
            let raw = expected
                .as_object()
                .and_then(|o| lookup_dotted(o, &field.expected))
                .cloned()
                .unwrap_or(Value::Null);
            match counts.iter_mut().find(|(v, _)| *v == raw) {
                Some((_, n)) => *n += 1,
                None => counts.push((raw, 1)),
            }
        }
        // Stable sort: equally common values keep the order they were first seen in.
        counts.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        observed.insert(
            field.name.clone(),
            counts.into_iter().map(|(v, _)| v).collect(),
        );
    }
    Ok(Sources {
        path: path.to_owned(),
        records,
        observed,
    })
}

/// Where the inputs of a validated file's records are: `--source`, the result CSV named in the
/// validated file's sidecar (or in its annotation file's sidecar), else the module's dataset.
fn source_path(
    catalog: &Catalog,
    paths: &ProjectPaths,
    module: &ModuleSpec,
    file: &Path,
    given: Option<&Path>,
) -> Result<(PathBuf, Option<Sidecar>)> {
    let sidecar = Sidecar::read_for(file)?;
    if let Some(path) = given {
        return Ok((path.to_owned(), sidecar));
    }
    let mut candidates = Vec::new();
    if let Some(s) = &sidecar {
        candidates.extend(s.results_file.clone());
        if let Some(annotation) = &s.annotation_file
            && let Some(a) = Sidecar::read_for(&restored_path(paths, annotation))?
        {
            candidates.extend(a.results_file);
        }
    }
    let found = candidates
        .iter()
        .map(|c| restored_path(paths, c))
        .find(|p| p.is_file());
    Ok((
        found.unwrap_or_else(|| catalog.dataset_path(module)),
        sidecar,
    ))
}

/// Sets `value` at a dotted path inside an object, creating objects on the way.
fn insert_dotted(object: &mut Map<String, Value>, path: &str, value: Value) {
    let mut keys = path.split('.').peekable();
    let mut current = object;
    while let Some(key) = keys.next() {
        if keys.peek().is_none() {
            current.insert(key.to_owned(), value);
            return;
        }
        let slot = current
            .entry(key.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        let Value::Object(next) = slot else {
            return;
        };
        current = next;
    }
}

/// Writes the gold file of a validated CSV.
///
/// Rows whose final label (of any annotated field) is `NEEDS_REVIEW` or empty are skipped and
/// listed in the report. Nothing is written when a final label is not a value of its field,
/// when a record id is not found in the source, or when no row is left.
///
/// # Errors
/// As above, and when reading or writing fails.
pub fn gold(
    catalog: &Catalog,
    paths: &ProjectPaths,
    module: &ModuleSpec,
    file: &Path,
    options: &GoldOptions,
    progress: &mut dyn Progress,
) -> Result<GoldReport> {
    let reader = AnnotationReader::open(file)?;
    let located = locate(module, &reader, &["row_id", "record_id"])?;
    let finals: Vec<[String; 3]> = located
        .iter()
        .enumerate()
        .map(|(i, l)| added_columns(l.field, i == 0))
        .collect();
    check_validated(file, &reader, &finals)?;
    let col = |name: &str| reader.index_of(name);
    let columns: Vec<[Option<usize>; 3]> = finals
        .iter()
        .map(|names| [col(&names[0]), col(&names[1]), col(&names[2])])
        .collect();
    let (row_id_col, record_id_col) = (col("row_id"), col("record_id"));
    let context: Vec<(String, usize)> = module
        .annotation
        .context
        .iter()
        .filter_map(|c| col(&c.name).map(|i| (c.name.clone(), i)))
        .collect();
    let headers = reader.headers().to_vec();

    let (source, sidecar) = source_path(catalog, paths, module, file, options.source.as_deref())?;
    let sources = load_sources(module, &source)?;
    let source_file = stored_path(paths, file);

    let suffixes = field_suffixes(&finals);
    let legacy = LegacyColumns::new(&reader);
    let (mut sink, shown) = Sink::create(paths, module, options, &suffixes, &context, legacy)?;

    let mut report = GoldReport::start(module, file, options.format, &sources.path);
    let mut invalid = Vec::new();
    let mut not_found = Vec::new();
    let mut ids = RowIds::default();
    for row in reader {
        let row = row?;
        report.rows += 1;
        if report.rows.is_multiple_of(1024) {
            progress.rows_done(report.rows as u64);
        }
        let row_id = display_id(row.get_opt(row_id_col).trim(), row.line);
        ids.add(row.get_opt(row_id_col).trim(), row.line);
        let values = match row_finals(&row, &row_id, &located, &columns, &headers, &mut invalid) {
            Finals::Review => {
                report.needs_review.push(row_id);
                continue;
            }
            Finals::Empty => {
                report.empty.push(row_id);
                continue;
            }
            Finals::Labels(values) if values.len() == located.len() => values,
            Finals::Labels(_) => continue,
        };
        let record_id = row.get_opt(record_id_col).trim();
        // The earlier tool's lines carry no record, so they need none.
        let legacy = matches!(sink, Sink::Legacy(..));
        let record = sources.records.get(record_id);
        if record.is_none() && !legacy {
            not_found.push(if record_id.is_empty() {
                format!("(empty record_id, row_id {row_id})")
            } else {
                record_id.to_owned()
            });
            continue;
        }
        if !invalid.is_empty() || !not_found.is_empty() {
            continue;
        }
        let resolved = Resolved {
            row: &row,
            record_id,
            values: &values,
            columns: &columns,
            source_file: &source_file,
        };
        let line = match (&sink, record) {
            (Sink::Jsonl(_), Some(record)) => {
                let expected = expected_object(&located, &values, &sources);
                resolved.record(record, expected, &suffixes)
            }
            (Sink::Legacy(_, columns), _) => columns.line(&resolved),
            _ => String::new(),
        };
        sink.write(&shown, line, &resolved, &context)?;
        report.written += 1;
    }
    progress.rows_done(report.rows as u64);

    ids.check(file)?;
    check_outcome(&report, module, invalid, not_found, &sources.path)?;
    let output = match sink {
        Sink::Jsonl(out) | Sink::Legacy(out, _) => out.persist()?,
        Sink::Csv(writer) => (*writer).finish()?.persist()?,
    };
    let mut meta = Sidecar::new("gold", module.id.as_str());
    meta.validated_file = Some(source_file);
    meta.annotation_file = sidecar.and_then(|s| s.annotation_file);
    meta.results_file = Some(stored_path(paths, &sources.path));
    meta.details.insert("records".into(), report.written.into());
    report.sidecar = meta.write_for(&output)?;
    report.output = output;
    Ok(report)
}

/// A validated file has the final columns `merge` adds; anything else is refused up front.
fn check_validated(
    file: &Path,
    reader: &AnnotationReader<std::fs::File>,
    finals: &[[String; 3]],
) -> Result<()> {
    let mut missing_columns: Vec<String> = finals
        .iter()
        .map(|names| names[0].clone())
        .filter(|name| reader.index_of(name).is_none())
        .collect();
    if missing_columns.is_empty() {
        return Ok(());
    }
    missing_columns.dedup();
    Err(Error::Nothing {
        path: file.to_owned(),
        message: format!(
            "not a validated file: column{} {} missing (run `merge-annotations merge` on the annotation file first)",
            if missing_columns.len() == 1 { "" } else { "s" },
            missing_columns
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

/// The suffix of each field's gold columns: the primary field's columns are unsuffixed; others
/// carry their column name.
fn field_suffixes(finals: &[[String; 3]]) -> Vec<String> {
    finals
        .iter()
        .enumerate()
        .map(|(i, names)| {
            if i == 0 {
                String::new()
            } else {
                format!("_{}", names[0].trim_start_matches("final_"))
            }
        })
        .collect()
}

/// The header of a CSV gold file.
fn flat_headers(suffixes: &[String], context: &[(String, usize)]) -> Vec<String> {
    let mut headers = vec!["id".to_owned()];
    for suffix in suffixes {
        headers.push(format!("label{suffix}"));
        headers.push(format!("agreement{suffix}"));
        headers.push(format!("resolution{suffix}"));
    }
    headers.extend(context.iter().map(|(name, _)| name.clone()));
    headers.push("source_file".to_owned());
    headers
}

impl GoldReport {
    /// The report of a gold file about to be written.
    fn start(module: &ModuleSpec, file: &Path, format: GoldFormat, inputs_from: &Path) -> Self {
        Self {
            module: module.id.to_string(),
            file: file.to_owned(),
            output: PathBuf::new(),
            sidecar: PathBuf::new(),
            format,
            inputs_from: inputs_from.to_owned(),
            rows: 0,
            written: 0,
            needs_review: Vec::new(),
            empty: Vec::new(),
        }
    }
}

/// Where gold rows go, by format.
enum Sink {
    Jsonl(NewFile),
    Csv(Box<SafeCsvWriter<NewFile>>),
    Legacy(NewFile, LegacyColumns),
}

/// Where the earlier tool's flat gold lines take their strings from.
struct LegacyColumns {
    asin: Option<usize>,
    keyword: Option<usize>,
    brand: Option<usize>,
    /// (key written, column read), in the earlier tool's order.
    optional: Vec<(&'static str, usize)>,
}

impl LegacyColumns {
    fn new(reader: &AnnotationReader<std::fs::File>) -> Self {
        let col = |name: &str| reader.index_of(name);
        let optional = [
            ("product_title", &["product_title"][..]),
            ("hard_constraints", &["hard_constraints"][..]),
            ("validated_use", &["validated_use"][..]),
            ("product_taxonomy", &["product_taxonomy", "taxonomy"][..]),
        ]
        .into_iter()
        .filter_map(|(key, names)| names.iter().find_map(|n| col(n)).map(|i| (key, i)))
        .collect();
        Self {
            asin: col("asin"),
            keyword: col("keyword"),
            brand: col("brand_name").or_else(|| col("brand")),
            optional,
        }
    }

    /// One line (without its break): keys in the earlier tool's order, non-ASCII kept.
    fn line(&self, resolved: &Resolved<'_>) -> String {
        let row = resolved.row;
        let cols = &resolved.columns[0];
        let mut object = Map::new();
        for (key, col) in [
            ("asin", self.asin),
            ("keyword", self.keyword),
            ("brand", self.brand),
        ] {
            object.insert(key.into(), row.get_opt(col).trim().into());
        }
        object.insert("label".into(), resolved.values[0].cell().into());
        let agreement = if resolved.agreement(cols) { "1" } else { "0" };
        object.insert("agreement".into(), agreement.into());
        object.insert("resolution".into(), resolved.resolution(cols).into());
        for (key, col) in &self.optional {
            let cell = row.get(*col).trim();
            if !cell.is_empty() {
                object.insert((*key).into(), cell.into());
            }
        }
        Value::Object(object).to_string()
    }
}

impl Sink {
    /// Writes one gold row: `line` (a JSON line, without its break) for the JSONL formats, the
    /// row's cells for CSV.
    fn write(
        &mut self,
        shown: &Path,
        mut line: String,
        resolved: &Resolved<'_>,
        context: &[(String, usize)],
    ) -> Result<()> {
        match self {
            Self::Jsonl(out) | Self::Legacy(out, _) => {
                line.push('\n');
                out.write_all(line.as_bytes())
                    .map_err(|e| Error::io(shown, e))
            }
            Self::Csv(writer) => writer.write_row(&resolved.cells(context)),
        }
    }

    /// A new gold file (not yet in place) and the path it will have.
    fn create(
        paths: &ProjectPaths,
        module: &ModuleSpec,
        options: &GoldOptions,
        suffixes: &[String],
        context: &[(String, usize)],
        legacy: LegacyColumns,
    ) -> Result<(Self, PathBuf)> {
        let dir = options
            .output_dir
            .clone()
            .unwrap_or_else(|| paths.validated_data());
        let stem = format!("{}_gold_{}", module.id.upper(), timestamp_now());
        let out = NewFile::create(&dir, &stem, options.format.extension())?;
        let shown = out.intended_path();
        let sink = match options.format {
            GoldFormat::Jsonl => Self::Jsonl(out),
            GoldFormat::LegacyJsonl => Self::Legacy(out, legacy),
            GoldFormat::Csv => {
                let headers = flat_headers(suffixes, context);
                Self::Csv(Box::new(SafeCsvWriter::new(&shown, out, &headers)?))
            }
        };
        Ok((sink, shown))
    }
}

/// The `expected` object of a gold record: each field's final label, written where the
/// module's dataset keeps it, in the shape its dataset uses.
fn expected_object(
    located: &[FieldColumns<'_>],
    values: &[FieldValue],
    sources: &Sources,
) -> Map<String, Value> {
    let mut expected = Map::new();
    for (loc, value) in located.iter().zip(values) {
        let field = loc.reader.field();
        let observed = sources
            .observed
            .get(&field.name)
            .map_or(&[][..], Vec::as_slice);
        insert_dotted(
            &mut expected,
            &field.expected,
            loc.reader.expected_json(value, observed),
        );
    }
    expected
}

/// A validated row whose every field has a final label.
struct Resolved<'r> {
    row: &'r AnnotationRow,
    record_id: &'r str,
    values: &'r [FieldValue],
    columns: &'r [[Option<usize>; 3]],
    source_file: &'r str,
}

impl Resolved<'_> {
    /// Whether the annotators agreed on the field in `cols`.
    fn agreement(&self, cols: &[Option<usize>; 3]) -> bool {
        self.row.get_opt(cols[2]).trim() == "1"
    }

    /// How the field in `cols` was resolved.
    fn resolution(&self, cols: &[Option<usize>; 3]) -> String {
        self.row.get_opt(cols[1]).trim().to_owned()
    }

    /// One dataset record of a JSONL gold file, without its line break.
    fn record(
        &self,
        record: &SourceRecord,
        expected: Map<String, Value>,
        suffixes: &[String],
    ) -> String {
        let mut metadata = record.metadata.as_object().cloned().unwrap_or_default();
        for (suffix, cols) in suffixes.iter().zip(self.columns) {
            let agreement = Value::Bool(self.agreement(cols));
            metadata.insert(format!("annotator_agreement{suffix}"), agreement);
            let resolution = Value::String(self.resolution(cols));
            metadata.insert(format!("resolution{suffix}"), resolution);
        }
        let source_file = Value::String(self.source_file.to_owned());
        metadata.insert("source_file".into(), source_file);
        let mut object = Map::new();
        object.insert("id".into(), Value::String(self.record_id.to_owned()));
        object.insert("input".into(), record.input.clone());
        object.insert("expected".into(), Value::Object(expected));
        object.insert("metadata".into(), Value::Object(metadata));
        Value::Object(object).to_string()
    }

    /// One row of a CSV gold file (the columns of [`flat_headers`]).
    fn cells(&self, context: &[(String, usize)]) -> Vec<String> {
        let mut cells = vec![self.record_id.to_owned()];
        for (value, cols) in self.values.iter().zip(self.columns) {
            cells.push(value.cell());
            cells.push(if self.agreement(cols) { "1" } else { "0" }.to_owned());
            cells.push(self.resolution(cols));
        }
        cells.extend(context.iter().map(|(_, i)| self.row.get(*i).to_owned()));
        cells.push(self.source_file.to_owned());
        cells
    }
}

/// A row's final labels, or why it gives no gold record.
enum Finals {
    /// A final cell says NEEDS_REVIEW (this wins over an empty cell).
    Review,
    /// A final cell is empty.
    Empty,
    /// The labels read; fewer than the fields when a cell is not a label (recorded in `invalid`).
    Labels(Vec<FieldValue>),
}

/// Reads a row's final cells with each field's labels.
fn row_finals(
    row: &AnnotationRow,
    row_id: &str,
    located: &[FieldColumns<'_>],
    columns: &[[Option<usize>; 3]],
    headers: &[String],
    invalid: &mut Vec<InvalidCell>,
) -> Finals {
    let mut values = Vec::with_capacity(located.len());
    let (mut review, mut empty) = (false, false);
    for (loc, cols) in located.iter().zip(columns) {
        let cell = row.get_opt(cols[0]).trim();
        if cell == NEEDS_REVIEW {
            review = true;
            continue;
        }
        match loc.reader.annotator(cell) {
            Ok(Some(value)) => values.push(value),
            Ok(None) => empty = true,
            Err(reason) => invalid.push(InvalidCell {
                row_id: row_id.to_owned(),
                line: row.line,
                column: headers[cols[0].unwrap_or_default()].clone(),
                value: cell.to_owned(),
                reason,
            }),
        }
    }
    if review {
        Finals::Review
    } else if empty {
        Finals::Empty
    } else {
        Finals::Labels(values)
    }
}

/// Nothing is kept when a cell is not a label, a record cannot be found, or no row had a final
/// label.
fn check_outcome(
    report: &GoldReport,
    module: &ModuleSpec,
    invalid: Vec<InvalidCell>,
    not_found: Vec<String>,
    source_file: &Path,
) -> Result<()> {
    let file = &report.file;
    if !invalid.is_empty() {
        return Err(Error::InvalidCells {
            path: file.clone(),
            module: module.id.to_string(),
            cells: invalid,
        });
    }
    if !not_found.is_empty() {
        return Err(Error::MissingRecords {
            path: file.clone(),
            source_file: source_file.to_owned(),
            missing: not_found,
        });
    }
    if report.written == 0 {
        return Err(Error::Nothing {
            path: file.clone(),
            message: format!(
                "no row has a final label to keep ({} rows: {} NEEDS_REVIEW, {} empty); nothing was written",
                report.rows,
                report.needs_review.len(),
                report.empty.len()
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::generate::{GenerateOptions, generate};
    use crate::merge::{MergeOptions, Strategy, merge};
    use crate::simulate::{GoldFrom, SimulateOptions, simulate};

    /// A project in a temp dir with the repository's catalogue and one module's dataset, and a
    /// result CSV made from that dataset by a model that gets every fifth record wrong.
    fn project(module: &str) -> (tempfile::TempDir, Catalog, ProjectPaths) {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let dir = tempfile::tempdir().unwrap();
        let text = std::fs::read_to_string(repo.join("modules.toml")).unwrap();
        let catalog = Catalog::parse(&text, &dir.path().join("modules.toml")).unwrap();
        let spec = catalog.resolve(module).unwrap().clone();
        let dataset = catalog.dataset_path(&spec);
        std::fs::create_dir_all(dataset.parent().unwrap()).unwrap();
        std::fs::copy(repo.join(&spec.dataset), &dataset).unwrap();
        let field = spec.primary_score();
        let labels = field.labels.as_ref().unwrap();
        let rows: Vec<core_config::ResultRow> = read_records(&dataset)
            .unwrap()
            .into_iter()
            .take(40)
            .enumerate()
            .map(|(i, r)| {
                let truth = match labels.read_json(
                    core_config::Side::Expected,
                    lookup_dotted(&r.expected, &field.expected),
                ) {
                    Ok(core_config::Reading::Label(l)) => l,
                    other => panic!("{other:?}"),
                };
                let answer = if i % 5 == 0 {
                    labels
                        .labels()
                        .iter()
                        .find(|l| **l != truth)
                        .unwrap()
                        .clone()
                } else {
                    truth
                };
                let mut output = Map::new();
                output.insert(field.output.clone(), labels.output_value(&answer));
                output.insert("confidence".into(), json!(0.9));
                output.insert("reasoning".into(), json!("because"));
                core_config::ResultRow {
                    record_id: r.id.clone(),
                    input: Value::Object(r.input),
                    output: Value::Object(output),
                    expected: Value::Object(r.expected),
                    metadata: Value::Object(r.metadata),
                    ..core_config::ResultRow::default()
                }
            })
            .collect();
        let paths = ProjectPaths::new(dir.path());
        let results = paths
            .experiment_results()
            .join(spec.folder_name())
            .join(format!("{}_v1_20260116_120000.csv", spec.id.upper()));
        core_config::results::write_results(&results, &spec, &rows).unwrap();
        (dir, catalog, paths)
    }

    #[test]
    fn generate_simulate_merge_gold_round_trip() {
        for module in ["m12", "m12b"] {
            let (_dir, catalog, paths) = project(module);
            let spec = catalog.resolve(module).unwrap();
            let options = GenerateOptions {
                sample: Some(30),
                ..GenerateOptions::default()
            };
            let task = generate(&catalog, &paths, spec, &options).unwrap();
            let sim = SimulateOptions {
                gold_from: GoldFrom::Auto,
                flip_a: 0.1,
                flip_b: 0.2,
                seed: 7,
                overwrite: false,
            };
            let filled = simulate(&catalog, spec, &task.file, &sim).unwrap();
            assert_eq!(
                (filled.filled, filled.flipped_a, filled.flipped_b),
                (30, 3, 6)
            );
            // A second fill would overwrite people's work: refused unless asked for.
            let again = simulate(&catalog, spec, &task.file, &sim)
                .unwrap_err()
                .to_string();
            assert!(again.contains("pass --overwrite"), "{again}");

            let merged =
                merge(&paths, spec, &task.file, &MergeOptions::default(), &mut ()).unwrap();
            assert_eq!(merged.annotated, 30);
            assert!(
                merged.disagreements >= 3 && merged.disagreements <= 9,
                "{merged:?}"
            );
            assert_eq!(merged.agreements + merged.disagreements, 30);

            let conservative = MergeOptions {
                strategy: Strategy::Conservative,
                ..MergeOptions::default()
            };
            let review = merge(&paths, spec, &task.file, &conservative, &mut ()).unwrap();
            let out = gold(
                &catalog,
                &paths,
                spec,
                &review.output,
                &GoldOptions::default(),
                &mut (),
            )
            .unwrap();
            assert_eq!(out.needs_review.len(), review.disagreements);
            assert_eq!(out.written, review.agreements);

            let gold_file = gold(
                &catalog,
                &paths,
                spec,
                &merged.output,
                &GoldOptions::default(),
                &mut (),
            )
            .unwrap();
            assert_eq!(gold_file.written, 30);
            assert_eq!(
                gold_file.inputs_from.file_name().unwrap().to_string_lossy(),
                format!("{}_v1_20260116_120000.csv", spec.id.upper())
            );
            // The gold file is a dataset: it reads as records whose expected labels read with
            // the module's own label reading, and whose input is the original record's.
            let records = read_records(&gold_file.output).unwrap();
            let dataset: HashMap<String, core_config::Record> =
                read_records(&catalog.dataset_path(spec))
                    .unwrap()
                    .into_iter()
                    .map(|r| (r.id.clone(), r))
                    .collect();
            let field = spec.primary_score();
            let labels = field.labels.as_ref().unwrap();
            let mut same_as_dataset = 0;
            for record in &records {
                let original = &dataset[&record.id];
                assert_eq!(record.input, original.input);
                let read = labels.read_json(
                    core_config::Side::Expected,
                    lookup_dotted(&record.expected, &field.expected),
                );
                let want = labels.read_json(
                    core_config::Side::Expected,
                    lookup_dotted(&original.expected, &field.expected),
                );
                assert!(
                    matches!(read, Ok(core_config::Reading::Label(_))),
                    "{read:?}"
                );
                same_as_dataset += usize::from(read == want);
                assert_eq!(
                    record.metadata["source_file"],
                    json!(core_config::ProjectPaths::display(&paths, &merged.output))
                );
                assert!(record.metadata.contains_key("resolution"));
                assert_eq!(record.metadata["asin"], original.metadata["asin"]);
            }
            // Where both annotators kept the dataset label, the gold label is the dataset's.
            assert!(same_as_dataset >= 30 - 9, "{same_as_dataset}");
            // Written in the dataset's own spelling, not the annotation label.
            let raw: Vec<&Value> = records
                .iter()
                .map(|r| &r.expected[&field.expected])
                .collect();
            let allowed = if module == "m12" {
                vec![json!("N"), Value::Null]
            } else {
                ["R", "S", "C", "N"].map(|l| json!(l)).to_vec()
            };
            assert!(raw.iter().all(|v| allowed.contains(v)), "{raw:?}");
        }
    }

    #[test]
    fn legacy_gold_lines_have_the_earlier_tools_keys_in_order() {
        let (_dir, catalog, paths) = project("m12");
        let spec = catalog.resolve("m12").unwrap();
        let options = GenerateOptions {
            sample: Some(20),
            ..GenerateOptions::default()
        };
        let task = generate(&catalog, &paths, spec, &options).unwrap();
        let sim = SimulateOptions {
            gold_from: GoldFrom::Auto,
            flip_a: 0.1,
            flip_b: 0.2,
            seed: 7,
            overwrite: false,
        };
        simulate(&catalog, spec, &task.file, &sim).unwrap();
        let merged = merge(&paths, spec, &task.file, &MergeOptions::default(), &mut ()).unwrap();
        let legacy = GoldOptions {
            format: GoldFormat::LegacyJsonl,
            ..GoldOptions::default()
        };
        let out = gold(&catalog, &paths, spec, &merged.output, &legacy, &mut ()).unwrap();
        assert_eq!(out.written, 20);
        let validated = AnnotationReader::open(&merged.output).unwrap();
        let headers = validated.headers().to_vec();
        let rows: Vec<AnnotationRow> = validated.collect::<Result<_>>().unwrap();
        let text = std::fs::read_to_string(&out.output).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 20);
        let cell = |row: &AnnotationRow, name: &str| {
            row.get(headers.iter().position(|h| h == name).unwrap())
                .trim()
                .to_owned()
        };
        for (line, row) in lines.iter().zip(&rows) {
            let object: Map<String, Value> = serde_json::from_str(line).unwrap();
            let keys: Vec<&str> = object.keys().map(String::as_str).collect();
            assert_eq!(
                &keys[..6],
                [
                    "asin",
                    "keyword",
                    "brand",
                    "label",
                    "agreement",
                    "resolution"
                ]
            );
            let optional = [
                "product_title",
                "hard_constraints",
                "validated_use",
                "product_taxonomy",
            ];
            assert!(keys[6..].iter().all(|k| optional.contains(k)), "{keys:?}");
            assert_eq!(object["asin"], json!(cell(row, "asin")));
            assert_eq!(object["keyword"], json!(cell(row, "keyword")));
            assert_eq!(object["label"], json!(cell(row, "final_label")));
            let agreed = cell(row, "annotator_agreement");
            assert_eq!(object["agreement"], json!(agreed));
            assert!(["true", "false"].contains(&object["label"].as_str().unwrap()));
            assert!(["0", "1"].contains(&agreed.as_str()));
            assert_eq!(object["product_title"], json!(cell(row, "product_title")));
        }
    }

    /// Multi-field modules: a pretend model that answers the dataset exactly, simulated
    /// annotators, merge, gold. Every annotated field gets its own final column and ends up in
    /// `expected` in the dataset's shape.
    #[test]
    fn multi_field_modules_merge_every_field() {
        for (module, finals) in [
            (
                "m07",
                &["final_label", "final_use_cases", "final_audiences"][..],
            ),
            ("m10", &["final_label", "final_validated_use"][..]),
        ] {
            let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
            let dir = tempfile::tempdir().unwrap();
            let text = std::fs::read_to_string(repo.join("modules.toml")).unwrap();
            let catalog = Catalog::parse(&text, &dir.path().join("modules.toml")).unwrap();
            let spec = catalog.resolve(module).unwrap();
            let dataset = catalog.dataset_path(spec);
            std::fs::create_dir_all(dataset.parent().unwrap()).unwrap();
            std::fs::copy(repo.join(&spec.dataset), &dataset).unwrap();
            let rows: Vec<core_config::ResultRow> = read_records(&dataset)
                .unwrap()
                .into_iter()
                .map(|r| core_config::ResultRow {
                    record_id: r.id.clone(),
                    output: Value::Object(r.expected.clone()),
                    input: Value::Object(r.input),
                    expected: Value::Object(r.expected),
                    metadata: Value::Object(r.metadata),
                    ..core_config::ResultRow::default()
                })
                .collect();
            let paths = ProjectPaths::new(dir.path());
            let results = paths
                .experiment_results()
                .join(spec.folder_name())
                .join("r.csv");
            core_config::results::write_results(&results, spec, &rows).unwrap();
            let task = generate(&catalog, &paths, spec, &GenerateOptions::default()).unwrap();
            let sim = SimulateOptions {
                gold_from: GoldFrom::Auto,
                flip_a: 0.25,
                flip_b: 0.0,
                seed: 1,
                overwrite: false,
            };
            let filled = simulate(&catalog, spec, &task.file, &sim).unwrap();
            assert_eq!(filled.flipped_a, 3, "{module}");
            let merged =
                merge(&paths, spec, &task.file, &MergeOptions::default(), &mut ()).unwrap();
            assert_eq!(merged.fields.len(), finals.len());
            let columns: Vec<&str> = merged
                .fields
                .iter()
                .map(|f| f.final_column.as_str())
                .collect();
            assert_eq!(columns, finals);
            // Only the primary field was changed; the model sides with B, so B wins.
            assert_eq!(merged.fields[0].disagreements, 3, "{module}");
            assert!(merged.fields[1..].iter().all(|f| f.disagreements == 0));
            assert_eq!(
                merged.resolutions.get(&crate::Resolution::MajorityBLlm),
                Some(&3)
            );
            let out = gold(
                &catalog,
                &paths,
                spec,
                &merged.output,
                &GoldOptions::default(),
                &mut (),
            )
            .unwrap();
            assert_eq!(out.written, 12);
            let original: HashMap<String, core_config::Record> = read_records(&dataset)
                .unwrap()
                .into_iter()
                .map(|r| (r.id.clone(), r))
                .collect();
            for record in read_records(&out.output).unwrap() {
                let want = &original[&record.id].expected;
                for field in &spec.score {
                    let got = lookup_dotted(&record.expected, &field.expected).unwrap();
                    let want = lookup_dotted(want, &field.expected).unwrap();
                    match (got, want) {
                        (Value::Array(a), Value::Array(b)) => assert_eq!(a.len(), b.len()),
                        (a, b) => assert_eq!(a, b, "{module} {}", record.id),
                    }
                }
            }
        }
    }

    #[test]
    fn dotted_paths_build_nested_objects() {
        let mut object = Map::new();
        insert_dotted(&mut object, "relevancy", json!("N"));
        insert_dotted(&mut object, "step1.violated", json!(true));
        insert_dotted(&mut object, "step1.reason", json!("x"));
        assert_eq!(
            Value::Object(object),
            json!({"relevancy": "N", "step1": {"violated": true, "reason": "x"}})
        );
    }
}
