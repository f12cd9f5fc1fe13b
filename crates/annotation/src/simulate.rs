//! A stand-in for the two people who annotate: fills both annotators' columns of an annotation
//! CSV with each row's label from the module's dataset, then changes a seeded share of them to
//! another label, so the agreement and merge steps can be run end to end without people (demos,
//! tests). It is a development aid: its labels are the dataset's, not a human judgement.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use core_config::fieldpath::lookup_dotted;
use core_config::{AtomicFile, Catalog, ModuleSpec, read_records};

use crate::error::{Error, Result};
use crate::generate::annotator_columns;
use crate::merge::{display_id, locate};
use crate::sheet::{AnnotationReader, AnnotationTable, SafeCsvWriter, read_annotation_file};
use crate::values::FieldReader;
use crate::values::FieldValue;
use core_config::AnnotatedField;
use core_config::sample::Sampler;

/// Where the true labels come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GoldFrom {
    /// The module's dataset named in `modules.toml`.
    Auto,
    /// A dataset file (JSONL records).
    Dataset(PathBuf),
}

/// Options of [`simulate`].
#[derive(Debug, Clone, PartialEq)]
pub struct SimulateOptions {
    /// Where the true labels come from.
    pub gold_from: GoldFrom,
    /// Share of rows annotator A gets wrong (0..=1).
    pub flip_a: f64,
    /// Share of rows annotator B gets wrong (0..=1).
    pub flip_b: f64,
    /// Seed of the choice of rows and wrong labels.
    pub seed: u64,
    /// Replace annotator cells that are already filled (otherwise that is an error).
    pub overwrite: bool,
}

/// What [`simulate`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimulateReport {
    /// Module id.
    pub module: String,
    /// The annotation CSV filled in place.
    pub file: PathBuf,
    /// The dataset the labels came from.
    pub dataset: PathBuf,
    /// Data rows.
    pub rows: usize,
    /// Rows filled for both annotators.
    pub filled: usize,
    /// Rows where annotator A's label differs from the dataset.
    pub flipped_a: usize,
    /// Rows where annotator B's label differs from the dataset.
    pub flipped_b: usize,
    /// Row ids left empty because their record (or its label) is not in the dataset.
    pub missing: Vec<String>,
}

/// A different value of the same field: another label (uniformly chosen), a list with one item
/// dropped (or one added when empty), text with its last word dropped. Structures are returned
/// unchanged (`None`): there is no meaningful small change to make.
fn flip(
    value: &FieldValue,
    labels: Option<&[String]>,
    sampler: &mut Sampler,
) -> Option<FieldValue> {
    match value {
        FieldValue::Label(label) => {
            let others: Vec<&String> = labels?.iter().filter(|l| *l != label).collect();
            (!others.is_empty())
                .then(|| FieldValue::Label(others[sampler.index(others.len())].clone()))
        }
        FieldValue::List(items) if items.is_empty() => {
            Some(FieldValue::List(vec!["something else".to_owned()]))
        }
        FieldValue::List(items) => {
            let mut items = items.clone();
            items.remove(sampler.index(items.len()));
            Some(FieldValue::List(items))
        }
        FieldValue::Text(text) => {
            let words: Vec<&str> = text.split_whitespace().collect();
            Some(FieldValue::Text(if words.len() > 1 {
                words[..words.len() - 1].join(" ")
            } else {
                format!("{text} (unsure)")
            }))
        }
        FieldValue::Json(_) => None,
    }
}

/// How a simulated annotator writes a value (an empty list must not look "not annotated").
fn cell_of(value: &FieldValue) -> String {
    match value {
        FieldValue::List(items) if items.is_empty() => "none".to_owned(),
        other => other.cell(),
    }
}

/// Exactly `round(share × n)` of `n` positions, chosen with the sampler.
fn chosen(n: usize, share: f64, sampler: &mut Sampler) -> Vec<bool> {
    let count = ((share * n as f64).round() as usize).min(n);
    let mut order: Vec<usize> = (0..n).collect();
    sampler.shuffle(&mut order);
    let mut picked = vec![false; n];
    for &i in &order[..count] {
        picked[i] = true;
    }
    picked
}

/// Fills the annotator columns of `file` in place (atomically, keeping the spreadsheet-safe
/// format).
///
/// # Errors
/// When a share is outside 0..=1, the file lacks annotator columns, annotator cells are already
/// filled (without `overwrite`), the dataset cannot be read or shares no record with the file,
/// or writing fails.
pub fn simulate(
    catalog: &Catalog,
    module: &ModuleSpec,
    file: &Path,
    options: &SimulateOptions,
) -> Result<SimulateReport> {
    check_shares(options)?;
    let located = {
        let reader = AnnotationReader::open(file)?;
        let located = locate(module, &reader, &["row_id", "record_id"])?;
        located
            .iter()
            .map(|l| (l.field, l.reader, l.a, l.b))
            .collect::<Vec<_>>()
    };
    let mut table = read_annotation_file(file)?;
    let (row_id_col, record_id_col) = (table.index_of("row_id"), table.index_of("record_id"));
    let reasoning = reasoning_columns(module, &table);

    if !options.overwrite {
        check_unfilled(module, file, &table, row_id_col)?;
    }

    let dataset = match &options.gold_from {
        GoldFrom::Auto => catalog.dataset_path(module),
        GoldFrom::Dataset(path) => path.clone(),
    };
    let expected = read_expected(&dataset)?;

    let mut report = SimulateReport {
        module: module.id.to_string(),
        file: file.to_owned(),
        dataset: dataset.clone(),
        rows: table.rows.len(),
        filled: 0,
        flipped_a: 0,
        flipped_b: 0,
        missing: Vec::new(),
    };
    let truths = read_truths(
        &located,
        &table,
        &expected,
        &dataset,
        record_id_col,
        &mut report,
    )?;
    let known: Vec<usize> = (0..truths.len()).filter(|&i| truths[i].is_some()).collect();
    if known.is_empty() {
        return Err(Error::Nothing {
            path: file.to_owned(),
            message: format!(
                "no record_id of the file has a label in {} (is it the dataset of module {}?)",
                dataset.display(),
                module.id
            ),
        });
    }

    let mut sampler = Sampler::new(options.seed);
    for (annotator, share) in [(0, options.flip_a), (1, options.flip_b)] {
        fill_annotator(
            annotator,
            chosen(known.len(), share, &mut sampler),
            &known,
            &truths,
            &mut table,
            &located,
            reasoning[annotator],
            &mut sampler,
            &mut report,
        );
    }
    report.filled = known.len();

    write_table(module, file, &table)?;
    Ok(report)
}

/// Where annotator A's and B's reasoning columns are in the table, when there.
fn reasoning_columns(module: &ModuleSpec, table: &AnnotationTable) -> Vec<Option<usize>> {
    [
        module
            .annotation
            .reasoning_column(core_config::Annotator::A),
        module
            .annotation
            .reasoning_column(core_config::Annotator::B),
    ]
    .iter()
    .map(|c| c.as_deref().and_then(|name| table.index_of(name)))
    .collect()
}

/// The expected values of each record id, with the record's line in the dataset.
type Expected = HashMap<String, (usize, Map<String, Value>)>;

/// Reads the dataset's expected values by record id.
fn read_expected(dataset: &Path) -> Result<Expected> {
    Ok(read_records(dataset)?
        .into_iter()
        .map(|r| (r.id, (r.line, r.expected)))
        .collect())
}

/// Each field's definition, reader and annotator A and B columns.
type Located<'a> = (&'a AnnotatedField, FieldReader<'a>, usize, usize);

fn check_shares(options: &SimulateOptions) -> Result<()> {
    for (name, share) in [("--flip-a", options.flip_a), ("--flip-b", options.flip_b)] {
        if !(0.0..=1.0).contains(&share) {
            return Err(Error::Invalid(format!(
                "{name} must be a share between 0 and 1, not {share}"
            )));
        }
    }
    Ok(())
}

/// Refuses a file whose annotator cells are already filled.
fn check_unfilled(
    module: &ModuleSpec,
    file: &Path,
    table: &AnnotationTable,
    row_id_col: Option<usize>,
) -> Result<()> {
    let annotator_cols: Vec<usize> = annotator_columns(module, core_config::Annotator::A)
        .iter()
        .chain(&annotator_columns(module, core_config::Annotator::B))
        .filter_map(|c| table.index_of(c))
        .collect();
    let filled: Vec<(String, String)> = table
        .rows
        .iter()
        .flat_map(|row| {
            annotator_cols
                .iter()
                .filter(|&&c| !row.get(c).trim().is_empty())
                .map(|&c| {
                    (
                        display_id(row.get_opt(row_id_col), row.line),
                        table.headers[c].clone(),
                    )
                })
        })
        .collect();
    if let Some((row_id, column)) = filled.first() {
        return Err(Error::Nothing {
            path: file.to_owned(),
            message: format!(
                "{} annotator cell{} already filled (first: row_id {row_id}, {column}); pass --overwrite to replace them",
                filled.len(),
                if filled.len() == 1 { " is" } else { "s are" }
            ),
        });
    }
    Ok(())
}

/// The true value of every field of every row, or None when it is unknown (the row is then
/// listed in `report.missing`).
fn read_truths(
    located: &[Located<'_>],
    table: &AnnotationTable,
    expected: &Expected,
    dataset: &Path,
    record_id_col: Option<usize>,
    report: &mut SimulateReport,
) -> Result<Vec<Option<Vec<FieldValue>>>> {
    let row_id_col = table.index_of("row_id");
    let mut truths: Vec<Option<Vec<FieldValue>>> = Vec::with_capacity(table.rows.len());
    for row in &table.rows {
        let id = row.get_opt(record_id_col).trim();
        let mut values: Option<Vec<FieldValue>> = None;
        if let Some((line, exp)) = expected.get(id) {
            // A label that is there but unreadable is a broken dataset, not a missing label:
            // say where, rather than quietly leaving the row empty.
            let read = located
                .iter()
                .map(|(_, reader, _, _)| {
                    let field = &reader.field().expected;
                    reader
                        .expected(lookup_dotted(exp, field))
                        .map_err(|reason| {
                            Error::Config(core_config::Error::Dataset {
                                path: dataset.to_owned(),
                                line: *line,
                                message: format!("record `{id}`: expected.{field}: {reason}"),
                            })
                        })
                })
                .collect::<Result<Vec<Option<FieldValue>>>>()?;
            values = read.into_iter().collect();
        }
        if values.is_none() {
            report
                .missing
                .push(display_id(row.get_opt(row_id_col).trim(), row.line));
        }
        truths.push(values);
    }
    Ok(truths)
}

/// Fills one annotator's columns (0 = A, 1 = B) of the rows with a known label, flipping the
/// primary field of the rows `wrong` marks.
#[allow(clippy::too_many_arguments)]
fn fill_annotator(
    annotator: usize,
    wrong: Vec<bool>,
    known: &[usize],
    truths: &[Option<Vec<FieldValue>>],
    table: &mut AnnotationTable,
    located: &[Located<'_>],
    reasoning: Option<usize>,
    sampler: &mut Sampler,
    report: &mut SimulateReport,
) {
    let letter = if annotator == 0 { 'A' } else { 'B' };
    for (k, &row_index) in known.iter().enumerate() {
        let Some(truth) = &truths[row_index] else {
            continue;
        };
        let row = &mut table.rows[row_index];
        let mut changed = Vec::new();
        for (i, (_, reader, a, b)) in located.iter().enumerate() {
            let labels = reader.labels().map(|l| l.labels());
            let mut value = truth[i].clone();
            // Only the primary field is flipped, so a flipped row is wrong in one place.
            if wrong[k]
                && i == 0
                && let Some(other) = flip(&value, labels, sampler)
            {
                changed.push(format!("{} -> {}", cell_of(&value), cell_of(&other)));
                value = other;
            }
            let col = if annotator == 0 { *a } else { *b };
            row.cells[col] = cell_of(&value);
        }
        if !changed.is_empty() {
            if annotator == 0 {
                report.flipped_a += 1;
            } else {
                report.flipped_b += 1;
            }
        }
        if let Some(col) = reasoning {
            row.cells[col] = if changed.is_empty() {
                format!("Simulated annotator {letter}: dataset label kept.")
            } else {
                format!(
                    "Simulated annotator {letter}: dataset label changed on purpose ({}).",
                    changed.join(", ")
                )
            };
        }
    }
}

/// Rewrites `file` atomically with the table's rows (a workbook is laid out again, with its
/// provenance from the sidecar when there is one).
fn write_table(module: &ModuleSpec, file: &Path, table: &AnnotationTable) -> Result<()> {
    let mut out = AtomicFile::create(file).map_err(|e| Error::io(file, e))?;
    if crate::workbook::is_workbook(file) {
        let sidecar = crate::files::Sidecar::read_for(file)?;
        let detail = |key: &str| sidecar.as_ref().and_then(|s| s.details.get(key)?.as_u64());
        let provenance = crate::workbook::Provenance {
            results_file: sidecar.as_ref().and_then(|s| s.results_file.clone()),
            seed: detail("seed"),
            sampled_rows: table.rows.len(),
            source_rows: detail("source_rows").and_then(|n| usize::try_from(n).ok()),
            created_at: sidecar
                .as_ref()
                .map(|s| s.created_at.clone())
                .unwrap_or_default(),
        };
        let rows: Vec<Vec<String>> = table.rows.iter().map(|r| r.cells.clone()).collect();
        let bytes =
            crate::workbook::write_workbook(file, module, &table.headers, &rows, &provenance)?;
        std::io::Write::write_all(&mut out, &bytes).map_err(|e| Error::io(file, e))?;
    } else {
        let mut writer = SafeCsvWriter::new(file, &mut out, &table.headers)?;
        for row in &table.rows {
            writer.write_row(&row.cells)?;
        }
        writer.finish()?;
    }
    out.commit().map_err(|e| Error::io(file, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flips_change_the_value() {
        let mut sampler = Sampler::new(3);
        let labels = [
            "R".to_owned(),
            "S".to_owned(),
            "C".to_owned(),
            "N".to_owned(),
        ];
        for _ in 0..20 {
            let flipped =
                flip(&FieldValue::Label("S".into()), Some(&labels), &mut sampler).unwrap();
            assert_ne!(flipped, FieldValue::Label("S".into()));
        }
        let list = FieldValue::List(vec!["a".into(), "b".into()]);
        assert_eq!(
            flip(&list, None, &mut sampler).map(|v| match v {
                FieldValue::List(items) => items.len(),
                _ => 0,
            }),
            Some(1)
        );
        assert_eq!(
            flip(&FieldValue::Json(Value::Null), None, &mut sampler),
            None
        );
    }

    #[test]
    fn a_label_outside_the_field_in_the_gold_file_names_its_line() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let catalog = Catalog::load(&repo.join("modules.toml")).unwrap();
        let module = catalog.resolve("m12").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let sheet = dir.path().join("M12_annotation_unfilled.csv");
        std::fs::copy(
            repo.join("fixtures/bad/M12_annotation_unfilled.csv"),
            &sheet,
        )
        .unwrap();
        let before = std::fs::read(&sheet).unwrap();
        let gold = repo.join("fixtures/bad/M12_gold_bad_label.jsonl");
        let options = SimulateOptions {
            gold_from: GoldFrom::Dataset(gold.clone()),
            flip_a: 0.0,
            flip_b: 0.0,
            seed: 7,
            overwrite: false,
        };
        let err = simulate(&catalog, module, &sheet, &options)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!(
                "{}:3: record `M12_B0D6YNWLTS__mens puffer jacket`: expected.relevancy: `maybe` is not a label of this field (expected one of: true, false)",
                gold.display()
            )
        );
        assert_eq!(
            std::fs::read(&sheet).unwrap(),
            before,
            "the file is untouched"
        );
    }

    #[test]
    fn the_share_is_exact() {
        let mut sampler = Sampler::new(7);
        let picked = chosen(100, 0.08, &mut sampler);
        assert_eq!(picked.iter().filter(|p| **p).count(), 8);
        assert_eq!(chosen(3, 1.0, &mut sampler), [true, true, true]);
        assert_eq!(chosen(3, 0.0, &mut sampler), [false, false, false]);
    }
}
