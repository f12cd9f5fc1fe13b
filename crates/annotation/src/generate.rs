//! Annotation tasks: result rows of a run, sampled and laid out in the module's annotation
//! columns (`modules.toml`), written as a spreadsheet-safe CSV under `annotation_tasks/`.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use core_config::fieldpath::Root;
use core_config::results::read_results;
use core_config::{Annotator, Catalog, Column, ModuleSpec, ProjectPaths, ResultRow};

use crate::error::{Error, Result};
use crate::files::{NewFile, Sidecar, SourceFile, result_csvs, stored_path, timestamp_now};
use crate::sheet::SafeCsvWriter;
use crate::values::render_cell;
use crate::workbook::{Provenance, write_workbook};
use core_config::sample::{DEFAULT_SEED, sample_order};

/// How rows are picked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateOptions {
    /// Keep at most this many rows (all when `None`).
    pub sample: Option<usize>,
    /// Seed of the shuffle.
    pub seed: u64,
    /// Shuffle before sampling (otherwise the file order is kept).
    pub shuffle: bool,
    /// The result CSV to read instead of the module's newest one.
    pub source: Option<PathBuf>,
    /// Folder to write to instead of `annotation_tasks/`.
    pub output_dir: Option<PathBuf>,
    /// A CSV or a workbook.
    pub format: SheetFormat,
}

/// The kind of file [`generate`] writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SheetFormat {
    /// A spreadsheet-safe CSV ([`crate::sheet`]).
    #[default]
    Csv,
    /// An `.xlsx` workbook with dropdowns, protection and a guide sheet ([`crate::workbook`]).
    Xlsx,
}

impl SheetFormat {
    /// The file extension: `csv` or `xlsx`.
    #[must_use]
    pub fn extension(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Xlsx => "xlsx",
        }
    }
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            sample: None,
            seed: DEFAULT_SEED,
            shuffle: true,
            source: None,
            output_dir: None,
            format: SheetFormat::Csv,
        }
    }
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Generated {
    /// Module id.
    pub module: String,
    /// The annotation CSV or workbook.
    pub file: PathBuf,
    /// Its provenance sidecar.
    pub sidecar: PathBuf,
    /// The result CSV the rows came from.
    pub source: PathBuf,
    /// Rows in the result CSV.
    pub source_rows: usize,
    /// Rows left out because the model gave no answer (their `error` cell is set).
    pub skipped_errors: usize,
    /// Rows left out because their record id was already seen.
    pub skipped_duplicates: usize,
    /// Rows written.
    pub rows: usize,
    /// The shuffle seed, when the rows were shuffled.
    pub seed: Option<u64>,
    /// Every column, in order.
    pub columns: Vec<String>,
    /// The columns annotator A fills.
    pub annotator_a: Vec<String>,
    /// The columns annotator B fills.
    pub annotator_b: Vec<String>,
}

/// The newest result CSV of a module.
///
/// # Errors
/// [`Error::NoSource`] when the module has none.
pub fn newest_source(
    catalog: &Catalog,
    paths: &ProjectPaths,
    module: &ModuleSpec,
) -> Result<SourceFile> {
    result_csvs(catalog, paths)?
        .remove(module.id.as_str())
        .and_then(|files| files.into_iter().next())
        .ok_or_else(|| Error::NoSource {
            module: module.id.to_string(),
            folder: paths.experiment_results().join(module.folder_name()),
        })
}

/// The columns one annotator fills: each annotated field, and the reasoning column if any.
#[must_use]
pub fn annotator_columns(module: &ModuleSpec, annotator: Annotator) -> Vec<String> {
    let spec = &module.annotation;
    spec.fields
        .iter()
        .map(|f| f.column_for(annotator))
        .chain(spec.reasoning_column(annotator))
        .collect()
}

/// Looks a column's value up in a result row. Intermediate values that are JSON text (as some
/// of the earlier tool's files hold) are parsed on the way; the earlier tool's fixed `ASIN`,
/// `Brand` and `Keyword` columns stand in when the row's JSON lacks those keys.
#[must_use]
pub fn column_value(row: &ResultRow, column: &Column) -> Value {
    let path = &column.from;
    let found = row
        .root(path.root())
        .and_then(|object| lookup_lenient(object, path.keys()));
    if let Some(value) = found.filter(|v| !v.is_null()) {
        return value;
    }
    let fixed = match (path.root(), path.keys()) {
        (Root::Metadata | Root::Input, [key]) => match key.as_str() {
            "asin" => &row.asin,
            "brand_name" | "brand" => &row.brand,
            "keyword" => &row.keyword,
            _ => "",
        },
        _ => "",
    };
    if fixed.is_empty() {
        Value::Null
    } else {
        Value::String(fixed.to_owned())
    }
}

fn lookup_lenient(object: &Map<String, Value>, keys: &[String]) -> Option<Value> {
    let (first, rest) = keys.split_first()?;
    let mut current = object.get(first)?.clone();
    for key in rest {
        if let Value::String(text) = &current
            && let Ok(parsed @ Value::Object(_)) = serde_json::from_str::<Value>(text)
        {
            current = parsed;
        }
        current = current.as_object()?.get(key)?.clone();
    }
    Some(current)
}

/// The cells of one annotation row, in [`core_config::AnnotationSpec::headers`] order; the
/// annotator, agreement and notes columns are empty.
#[must_use]
pub fn annotation_row(module: &ModuleSpec, row_id: usize, row: &ResultRow) -> Vec<String> {
    let spec = &module.annotation;
    let mut cells = vec![row_id.to_string(), row.record_id.clone()];
    for column in spec.context.iter().chain(&spec.llm) {
        cells.push(render_cell(&column_value(row, column)));
    }
    let blanks = spec.headers().len() - cells.len();
    cells.extend(std::iter::repeat_n(String::new(), blanks));
    cells
}

/// Writes an annotation CSV for `module` and its sidecar; returns what was written.
///
/// # Errors
/// When there is no source, it cannot be read, it has no usable rows, or writing fails.
pub fn generate(
    catalog: &Catalog,
    paths: &ProjectPaths,
    module: &ModuleSpec,
    options: &GenerateOptions,
) -> Result<Generated> {
    if options.sample == Some(0) {
        return Err(Error::Invalid(
            "--sample must be at least 1 (leave it out to keep every row)".to_owned(),
        ));
    }
    let source = match &options.source {
        Some(path) => path.clone(),
        None => newest_source(catalog, paths, module)?.path,
    };
    let all = read_results(&source)?;
    let source_rows = all.len();
    let mut seen = HashSet::new();
    let (mut skipped_errors, mut skipped_duplicates) = (0, 0);
    let mut usable = Vec::with_capacity(all.len());
    for row in all {
        if !row.error.trim().is_empty() {
            skipped_errors += 1;
        } else if !seen.insert(row.record_id.clone()) {
            skipped_duplicates += 1;
        } else {
            usable.push(row);
        }
    }
    if usable.is_empty() {
        return Err(Error::Nothing {
            path: source,
            message: format!(
                "no rows to annotate ({source_rows} rows, {skipped_errors} without a model answer)"
            ),
        });
    }
    let seed = options.shuffle.then_some(options.seed);
    let order = sample_order(usable.len(), options.sample, seed);

    let dir = options
        .output_dir
        .clone()
        .unwrap_or_else(|| paths.annotation_tasks());
    let stem = format!("{}_annotation_{}", module.id.upper(), timestamp_now());
    let headers = module.annotation.headers();
    let mut sidecar = Sidecar::new("annotation_task", module.id.as_str());
    // Absolute, for gold to find the inputs again: a name relative to where the user stands
    // would later be read against the project root.
    let absolute = std::path::absolute(&source).unwrap_or_else(|_| source.clone());
    sidecar.results_file = Some(stored_path(paths, &absolute));
    let rows = order
        .iter()
        .enumerate()
        .map(|(i, &index)| annotation_row(module, i + 1, &usable[index]));
    let mut file = NewFile::create(&dir, &stem, options.format.extension())?;
    let shown = file.intended_path();
    let path = match options.format {
        SheetFormat::Csv => {
            let mut writer = SafeCsvWriter::new(&shown, file, &headers)?;
            for row in rows {
                writer.write_row(&row)?;
            }
            writer.finish()?.persist()?
        }
        SheetFormat::Xlsx => {
            let rows: Vec<Vec<String>> = rows.collect();
            let provenance = Provenance {
                results_file: sidecar.results_file.clone(),
                seed,
                sampled_rows: rows.len(),
                source_rows: Some(source_rows),
                created_at: sidecar.created_at.clone(),
            };
            let bytes = write_workbook(&shown, module, &headers, &rows, &provenance)?;
            file.write_all(&bytes).map_err(|e| Error::io(&shown, e))?;
            file.persist()?
        }
    };

    let details = &mut sidecar.details;
    details.insert("source_rows".into(), source_rows.into());
    details.insert("sampled_rows".into(), order.len().into());
    details.insert("shuffled".into(), options.shuffle.into());
    details.insert("seed".into(), seed.map_or(Value::Null, Value::from));
    details.insert("format".into(), options.format.extension().into());
    details.insert(
        "cell_escaping".into(),
        match options.format {
            SheetFormat::Csv => "a cell starting with = + - @ | tab, CR, LF, NUL or a full-width = + - @ was written with a leading ' (removed again on reading)",
            SheetFormat::Xlsx => "every cell is a typed string or number (row_id); no cell is a formula",
        }
        .into(),
    );
    let sidecar_path = sidecar.write_for(&path)?;

    Ok(Generated {
        module: module.id.to_string(),
        file: path,
        sidecar: sidecar_path,
        source,
        source_rows,
        skipped_errors,
        skipped_duplicates,
        rows: order.len(),
        seed,
        columns: headers,
        annotator_a: annotator_columns(module, Annotator::A),
        annotator_b: annotator_columns(module, Annotator::B),
    })
}

/// The module an annotation (or validated, or gold) file belongs to: from its name, or the
/// one given.
///
/// # Errors
/// When neither tells.
pub fn module_of<'a>(
    catalog: &'a Catalog,
    file: &Path,
    given: Option<&str>,
) -> Result<&'a ModuleSpec> {
    if let Some(given) = given {
        return Ok(catalog.resolve(given)?);
    }
    file.file_name()
        .and_then(|n| catalog.module_for_file_name(&n.to_string_lossy()))
        .ok_or_else(|| Error::UnknownModule {
            path: file.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::sheet::read_annotation_file;

    fn catalog() -> Catalog {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../modules.toml"))
                .unwrap();
        Catalog::parse(&text, Path::new("/p/modules.toml")).unwrap()
    }

    fn m12_row(id: &str, keyword: &str) -> ResultRow {
        ResultRow {
            record_id: id.into(),
            input: json!({"keyword": keyword, "title": "Mitt", "hard_constraints": ["Heat Resistance", "Size M"],
                          "taxonomy": [{"level": 1, "product_type": "Oven Mitt", "rank": 1}]}),
            output: json!({"violates_constraint": true, "violated_constraint": {"attribute": "Heat Resistance"},
                           "confidence": 0.9, "reasoning": "asks for 800\u{b0}F"}),
            expected: json!({"relevancy": "N"}),
            metadata: json!({"asin": "B08J8GZXKZ", "brand_name": "KitchenAid"}),
            ..ResultRow::default()
        }
    }

    #[test]
    fn rows_follow_the_module_layout() {
        let catalog = catalog();
        let m12 = catalog.resolve("m12").unwrap();
        let headers = m12.annotation.headers();
        let cells = annotation_row(m12, 3, &m12_row("r1", "=oven mitt"));
        assert_eq!(cells.len(), headers.len());
        let cell = |name: &str| cells[headers.iter().position(|h| h == name).unwrap()].as_str();
        assert_eq!(cell("row_id"), "3");
        assert_eq!(cell("record_id"), "r1");
        assert_eq!(cell("asin"), "B08J8GZXKZ");
        assert_eq!(cell("keyword"), "=oven mitt");
        assert_eq!(cell("hard_constraints"), "Heat Resistance, Size M");
        assert_eq!(
            cell("taxonomy"),
            r#"[{"level":1,"product_type":"Oven Mitt","rank":1}]"#
        );
        assert_eq!(cell("llm_violates"), "true");
        assert_eq!(
            cell("llm_violated_constraint"),
            r#"{"attribute":"Heat Resistance"}"#
        );
        assert_eq!(cell("llm_reasoning"), "asks for 800\u{b0}F");
        assert_eq!(cell("annotator_a_violates"), "");
        assert_eq!(cell("description"), "");
    }

    #[test]
    fn the_earlier_tools_fixed_columns_fill_gaps() {
        let catalog = catalog();
        let m12 = catalog.resolve("m12").unwrap();
        let row = ResultRow {
            asin: "B0OLD".into(),
            brand: "Old Brand".into(),
            input: json!({"keyword": "k", "nested": "{\"a\": {\"b\": 1}}"}),
            ..ResultRow::default()
        };
        let asin = m12
            .annotation
            .context
            .iter()
            .find(|c| c.name == "asin")
            .unwrap();
        assert_eq!(column_value(&row, asin), json!("B0OLD"));
        let nested = Column {
            name: "x".into(),
            from: core_config::fieldpath::FieldPath::parse("input.nested.a.b").unwrap(),
        };
        assert_eq!(column_value(&row, &nested), json!(1));
    }

    #[test]
    fn generate_writes_a_sampled_safe_file_and_a_sidecar() {
        let catalog = catalog();
        let m12 = catalog.resolve("m12").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let paths = ProjectPaths::new(dir.path());
        let source = dir
            .path()
            .join("experiment_results/M12_HardConstraintViolationCheck/M12_v1_20260116_120000.csv");
        let mut rows: Vec<ResultRow> = (0..10)
            .map(|i| m12_row(&format!("r{i}"), &format!("k{i}")))
            .collect();
        rows[4].error = "timeout".into();
        rows.push(m12_row("r0", "again"));
        core_config::results::write_results(&source, m12, &rows).unwrap();

        let options = GenerateOptions {
            sample: Some(5),
            ..GenerateOptions::default()
        };
        let first = generate(&catalog, &paths, m12, &options).unwrap();
        assert_eq!(first.source, source);
        assert_eq!(
            (
                first.source_rows,
                first.skipped_errors,
                first.skipped_duplicates,
                first.rows
            ),
            (11, 1, 1, 5)
        );
        assert_eq!(
            first.annotator_a,
            ["annotator_a_violates", "annotator_a_reasoning"]
        );
        let second = generate(&catalog, &paths, m12, &options).unwrap();
        assert_ne!(first.file, second.file, "never overwrites");
        let a = read_annotation_file(&first.file).unwrap();
        let b = read_annotation_file(&second.file).unwrap();
        assert_eq!(a, b, "same seed, same sample");
        let ids: Vec<&str> = a.rows.iter().map(|r| r.cells[1].as_str()).collect();
        assert!(!ids.contains(&"r4"));
        let row_ids: Vec<&str> = a.rows.iter().map(|r| r.cells[0].as_str()).collect();
        assert_eq!(row_ids, ["1", "2", "3", "4", "5"]);
        let sidecar = Sidecar::read_for(&first.file).unwrap().unwrap();
        assert_eq!(
            sidecar.results_file.as_deref(),
            Some("experiment_results/M12_HardConstraintViolationCheck/M12_v1_20260116_120000.csv")
        );
        assert_eq!(sidecar.details["seed"], json!(42));

        let in_order = GenerateOptions {
            shuffle: false,
            sample: Some(3),
            ..GenerateOptions::default()
        };
        let c = read_annotation_file(&generate(&catalog, &paths, m12, &in_order).unwrap().file)
            .unwrap();
        let ids: Vec<&str> = c.rows.iter().map(|r| r.cells[1].as_str()).collect();
        assert_eq!(ids, ["r0", "r1", "r2"]);
    }

    #[test]
    fn missing_sources_and_zero_samples_are_explained() {
        let catalog = catalog();
        let m12 = catalog.resolve("m12").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let paths = ProjectPaths::new(dir.path());
        let err = generate(&catalog, &paths, m12, &GenerateOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("no result CSV for module m12 in "), "{err}");
        assert!(
            err.ends_with("(run `orchestrator run m12` first, or pass --source FILE)"),
            "{err}"
        );
        let zero = GenerateOptions {
            sample: Some(0),
            ..GenerateOptions::default()
        };
        assert!(
            generate(&catalog, &paths, m12, &zero)
                .unwrap_err()
                .to_string()
                .contains("at least 1")
        );
    }
}
