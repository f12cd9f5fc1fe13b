//! Checking a judge against people: a sheet on which two annotators give their own verdict per
//! row and criterion (the judge's verdict is not shown, so it cannot anchor them), and the
//! agreement of the judge with the annotators' consensus next to the annotators' agreement with
//! each other: Cohen's kappa with its 95% interval, and Gwet's AC1 (stable where nearly every
//! verdict is the same). A judge that agrees with the consensus less than the annotators agree
//! with each other is *not validated*.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use agreement::{Categories, ConfusionMatrix};
use annotation::sheet::{AnnotationRow, SafeCsvWriter, unescape_cell};
use chrono::{DateTime, Local};
use core_config::{AtomicFile, Catalog, ProjectPaths};
use registry::RegistryFile;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::rubric::Rubric;
use crate::run::JUDGE_OF;

/// The validation sheet's columns; annotators fill the last two with `pass` or `fail`. The
/// expected answer (`null` when the record has none) is shown, as it is to the judge.
pub const SHEET_COLUMNS: [&str; 8] = [
    "record_id",
    "criterion",
    "question",
    "input",
    "expected",
    "answer",
    "annotator_a",
    "annotator_b",
];

/// Index of the first annotator column in [`SHEET_COLUMNS`].
const COL_A: usize = 6;
/// Index of the second annotator column in [`SHEET_COLUMNS`].
const COL_B: usize = 7;

/// One row of a judge CSV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JudgedRow {
    /// Record id.
    pub record_id: String,
    /// Criterion id.
    pub criterion: String,
    /// Whether the judge passed it.
    pub pass: bool,
}

fn csv_error(path: &Path, e: &csv::Error) -> Error {
    Error::io(path, std::io::Error::other(e.to_string()))
}

/// Reads the verdicts of a judge CSV.
///
/// # Errors
/// An unreadable file, or a row whose verdict is neither `pass` nor `fail` (naming its line).
pub fn read_judge_csv(path: &Path) -> Result<Vec<JudgedRow>> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| csv_error(path, &e))?;
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| csv_error(path, &e))?;
        let cell = |n: usize| unescape_cell(record.get(n).unwrap_or_default()).to_owned();
        let pass = match record.get(2).unwrap_or_default() {
            "pass" => true,
            "fail" => false,
            other => {
                return Err(Error::Sheet {
                    path: path.to_owned(),
                    line: i + 2,
                    message: format!("verdict: `{other}` is neither pass nor fail"),
                });
            }
        };
        out.push(JudgedRow {
            record_id: cell(0),
            criterion: cell(1),
            pass,
        });
    }
    Ok(out)
}

/// Writes the validation sheet for `verdicts` (judge CSV rows) of a run whose rows give each
/// record's input, expected answer and answer (`inputs`: record id → (input JSON, expected JSON,
/// answer JSON)); every text cell spreadsheet-safe, written atomically.
///
/// # Errors
/// When the file cannot be written.
pub fn write_sheet(
    path: &Path,
    rubric: &Rubric,
    verdicts: &[JudgedRow],
    inputs: &HashMap<String, (String, String, String)>,
) -> Result<PathBuf> {
    let io = |e| Error::io(path, e);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let file = AtomicFile::create(path).map_err(io)?;
    let mut writer = SafeCsvWriter::new(path, file, &SHEET_COLUMNS)?;
    for v in verdicts {
        let question = rubric
            .criteria
            .iter()
            .find(|c| c.id == v.criterion)
            .map(|c| c.question.as_str())
            .unwrap_or_default();
        let (input, expected, answer) = inputs.get(&v.record_id).cloned().unwrap_or_default();
        writer.write_row(&[
            v.record_id.as_str(),
            v.criterion.as_str(),
            question,
            &input,
            &expected,
            &answer,
            "",
            "",
        ])?;
    }
    writer.finish()?.commit().map_err(io)
}

/// A validation sheet read back (cells un-escaped), its columns found by name, so a sheet
/// saved by a spreadsheet (`;` separators, no BOM, columns moved) reads the same.
struct SheetTable {
    table: annotation::sheet::AnnotationTable,
    /// Index of each of [`SHEET_COLUMNS`] in the file.
    columns: [usize; 8],
}

impl SheetTable {
    fn read(sheet: &Path) -> Result<Self> {
        let table = annotation::sheet::read_annotation_file(sheet)?;
        let mut columns = [0; 8];
        for (i, name) in SHEET_COLUMNS.iter().enumerate() {
            columns[i] = table.index_of(name).ok_or_else(|| {
                judge_error(
                    sheet,
                    format!(
                        "header: no `{name}` column (a judge validation sheet has {})",
                        SHEET_COLUMNS.join(", ")
                    ),
                )
            })?;
        }
        Ok(Self { table, columns })
    }

    fn cell<'a>(&self, row: &'a AnnotationRow, column: usize) -> &'a str {
        row.get(self.columns[column])
    }
}

/// Agreement of two raters on pass/fail.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pair {
    /// Items both rated.
    pub items: u64,
    /// Share of items rated alike.
    pub observed: f64,
    /// Cohen's kappa (`None` when undefined: every item one verdict by both).
    pub kappa: Option<f64>,
    /// Its 95% Wald interval.
    pub kappa_ci95: Option<[f64; 2]>,
    /// Gwet's AC1.
    pub ac1: Option<f64>,
}

fn pair(a: &[&str], b: &[&str]) -> Result<Pair> {
    let categories = Categories::new(["pass", "fail"])?;
    let table = ConfusionMatrix::from_labels(categories, a, b)?;
    let kappa = table.cohen_kappa().ok();
    #[expect(clippy::cast_precision_loss, reason = "counts are small")]
    let observed = if table.total() == 0 {
        0.0
    } else {
        table.agreements() as f64 / table.total() as f64
    };
    Ok(Pair {
        items: table.total(),
        observed,
        kappa: kappa.as_ref().map(|k| k.kappa),
        kappa_ci95: kappa.as_ref().map(agreement::CohenKappa::ci95),
        ac1: table.gwet_ac1().ok(),
    })
}

/// The validation of a judge on one criterion (or on all, `criterion` = `all`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CriterionValidation {
    /// Criterion id, or `all`.
    pub criterion: String,
    /// Annotator A against annotator B (rows both filled).
    pub annotators: Pair,
    /// The judge against the annotators' consensus (rows where they agree).
    pub judge_vs_consensus: Pair,
    /// Whether the judge agrees with the consensus at least as well as the annotators agree
    /// with each other (kappa, or AC1 where kappa is undefined).
    pub validated: bool,
}

/// The validation report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Validation {
    /// Per criterion in rubric order, then `all`.
    pub criteria: Vec<CriterionValidation>,
    /// Whether the judge is validated overall (`all`).
    pub validated: bool,
    /// Rows of the sheet with a verdict missing from either annotator (left out).
    pub incomplete_rows: u64,
}

/// Compares the judge's verdicts with a filled validation sheet.
///
/// # Errors
/// An unreadable sheet, a cell that is neither empty, `pass` nor `fail` (naming its line and
/// column).
pub fn validate(rubric: &Rubric, judged: &[JudgedRow], sheet: &Path) -> Result<Validation> {
    let judge: HashMap<(&str, &str), bool> = judged
        .iter()
        .map(|j| ((j.record_id.as_str(), j.criterion.as_str()), j.pass))
        .collect();
    let table = SheetTable::read(sheet)?;
    // (criterion, a, b, judge)
    let mut rows: Vec<(String, &'static str, &'static str, Option<&'static str>)> = Vec::new();
    let mut incomplete = 0;
    let verdict = |text: &str, line: u64, column: &str| -> Result<Option<&'static str>> {
        match text.trim().to_ascii_lowercase().as_str() {
            "" => Ok(None),
            "pass" => Ok(Some("pass")),
            "fail" => Ok(Some("fail")),
            other => Err(Error::Sheet {
                path: sheet.to_owned(),
                line: usize::try_from(line).unwrap_or(usize::MAX),
                message: format!("{column}: `{other}` is neither pass nor fail"),
            }),
        }
    };
    for row in &table.table.rows {
        let id = table.cell(row, 0);
        let criterion = table.cell(row, 1);
        let a = verdict(table.cell(row, COL_A), row.line, "annotator_a")?;
        let b = verdict(table.cell(row, COL_B), row.line, "annotator_b")?;
        let (Some(a), Some(b)) = (a, b) else {
            incomplete += 1;
            continue;
        };
        let j = judge
            .get(&(id, criterion))
            .map(|p| if *p { "pass" } else { "fail" });
        rows.push((criterion.to_owned(), a, b, j));
    }
    let mut criteria = Vec::new();
    let ids: Vec<&str> = rubric
        .criteria
        .iter()
        .map(|c| c.id.as_str())
        .chain(["all"])
        .collect();
    for id in ids {
        let mine: Vec<&(String, &str, &str, Option<&str>)> =
            rows.iter().filter(|r| id == "all" || r.0 == id).collect();
        let a: Vec<&str> = mine.iter().map(|r| r.1).collect();
        let b: Vec<&str> = mine.iter().map(|r| r.2).collect();
        let (consensus, judge): (Vec<&str>, Vec<&str>) = mine
            .iter()
            .filter(|r| r.1 == r.2)
            .filter_map(|r| r.3.map(|j| (r.1, j)))
            .unzip();
        let annotators = pair(&a, &b)?;
        let judge_vs_consensus = pair(&consensus, &judge)?;
        let validated = match (judge_vs_consensus.kappa, annotators.kappa) {
            (Some(j), Some(h)) => j >= h,
            _ => match (judge_vs_consensus.ac1, annotators.ac1) {
                (Some(j), Some(h)) => j >= h,
                _ => false,
            },
        };
        criteria.push(CriterionValidation {
            criterion: id.to_owned(),
            annotators,
            judge_vs_consensus,
            validated,
        });
    }
    let validated = criteria.last().is_some_and(|c| c.validated);
    Ok(Validation {
        criteria,
        validated,
        incomplete_rows: incomplete,
    })
}

/// Registry field of a judge run holding its newest validation against people.
pub const VALIDATION: &str = "judge_validation";

/// What a judge run's registry entry records of its newest validation against people
/// (`judge_validation`): the overall verdict and the `all` figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedValidation {
    /// Whether the judge agreed with the annotators' consensus at least as well as they agree
    /// with each other.
    pub validated: bool,
    /// The sheet it was checked on, relative to the project root.
    #[serde(default)]
    pub sheet: String,
    /// Items the judge and the consensus both rated.
    #[serde(default)]
    pub items: Option<u64>,
    /// Cohen's kappa of the judge against the consensus.
    #[serde(default)]
    pub judge_kappa: Option<f64>,
    /// Cohen's kappa of annotator A against annotator B.
    #[serde(default)]
    pub annotators_kappa: Option<f64>,
    /// Gwet's AC1 of the judge against the consensus.
    #[serde(default)]
    pub judge_ac1: Option<f64>,
    /// Gwet's AC1 of annotator A against annotator B.
    #[serde(default)]
    pub annotators_ac1: Option<f64>,
}

impl RecordedValidation {
    /// The validation recorded in a registry entry, when there is one that reads.
    #[must_use]
    pub fn of(entry: &registry::Entry) -> Option<Self> {
        serde_json::from_value(entry.extra.get(VALIDATION)?.clone()).ok()
    }
}

/// The sidecar of a validation sheet (`{sheet stem}.judge.json`): which judge run it checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SheetMeta {
    /// Format version (1).
    pub judge_sheet: u32,
    /// The judge run's registry id.
    pub judge_run: String,
    /// The judge CSV, relative to the project root.
    pub judge_file: String,
    /// The rubric file, relative to the project root.
    pub rubric: String,
    /// The module.
    pub module: String,
    /// The judged run.
    pub judged_run: String,
    /// Seed of the record sample.
    pub seed: u64,
    /// Records on the sheet.
    pub records: usize,
}

/// What the caller decides about a validation sheet.
#[derive(Debug, Clone)]
pub struct SheetOptions {
    /// The judge run: registry id, or its judge CSV.
    pub judge_run: String,
    /// Keep this many records (all criteria of each), after a seeded shuffle; all when `None`.
    pub sample: Option<usize>,
    /// Seed of the shuffle.
    pub seed: u64,
    /// Shuffle the records before sampling (else the judge CSV's order).
    pub shuffle: bool,
    /// Folder for the sheet; `annotation_tasks/judges/` when `None`.
    pub output_dir: Option<PathBuf>,
    /// When the sheet is made (names the file).
    pub started: DateTime<Local>,
    /// Directory relative paths are relative to.
    pub base: PathBuf,
}

/// A written validation sheet.
#[derive(Debug, Clone, Serialize)]
pub struct GeneratedSheet {
    /// The sheet.
    pub file: PathBuf,
    /// Its sidecar.
    pub meta_file: PathBuf,
    /// The module.
    pub module: String,
    /// The judge run's registry id.
    pub judge_run: String,
    /// The judged run.
    pub judged_run: String,
    /// Records on the sheet.
    pub records: usize,
    /// Rows (records × criteria).
    pub rows: usize,
    /// Criterion ids, in rubric order.
    pub criteria: Vec<String>,
}

fn judge_error(path: &Path, message: String) -> Error {
    Error::Sheet {
        path: path.to_owned(),
        line: 1,
        message,
    }
}

/// The sidecar path of a validation sheet.
#[must_use]
pub fn meta_path(sheet: &Path) -> PathBuf {
    let stem = sheet
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    sheet.with_file_name(format!("{stem}.judge.json"))
}

/// The sidecar of `sheet` when it is a judge validation sheet (`None` for any other file).
#[must_use]
pub fn sheet_meta(sheet: &Path) -> Option<SheetMeta> {
    let text = std::fs::read_to_string(meta_path(sheet)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Writes a validation sheet for a judge run: for a seeded sample of its records, one row per
/// criterion with the question, the record's input, expected answer and the judged answer, and
/// two empty verdict columns (the judge's verdict is not shown). Written to
/// `annotation_tasks/judges/{MODULE}_judge_annotation_{timestamp}.csv` (never replacing a file)
/// with a `.judge.json` sidecar naming the judge run.
///
/// # Errors
/// An unknown run, a run that is not a judge run, an unreadable judge CSV, rubric or results
/// CSV, or a file that cannot be written.
pub fn generate_sheet(catalog: &Catalog, options: &SheetOptions) -> Result<GeneratedSheet> {
    let root = catalog.root().to_path_buf();
    let paths = ProjectPaths::new(&root);
    let file = RegistryFile::in_project(&root);
    let run = analysis::resolve_run(catalog, &file, &options.base, &options.judge_run)?;
    let not_judge = || Error::NotAJudgeRun {
        run: run.name.clone(),
    };
    let id = run.id.clone().ok_or_else(not_judge)?;
    let registry = file.load()?;
    let entry = registry.find(&id)?;
    let judged_name = entry
        .extra
        .get(JUDGE_OF)
        .and_then(Value::as_str)
        .ok_or_else(not_judge)?
        .to_owned();
    let rubric_file = entry
        .metrics
        .pointer("/judge/rubric")
        .and_then(Value::as_str)
        .ok_or_else(not_judge)?;
    let rubric = crate::rubric::load(&root.join(rubric_file))?;
    let judged = analysis::resolve_run(catalog, &file, &root, &judged_name)?;
    let module = catalog.resolve(&run.module)?;
    let verdicts = read_judge_csv(&run.csv)?;
    let rows = core_config::read_results(&judged.csv)?;
    let line = |v: &Value| serde_json::to_string(v).unwrap_or_default();
    let inputs: HashMap<String, (String, String, String)> = rows
        .iter()
        .map(|r| {
            let expected = if r.expected.as_object().is_some_and(|o| !o.is_empty()) {
                line(&r.expected)
            } else {
                "null".to_owned()
            };
            (
                r.record_id.clone(),
                (line(&r.input), expected, line(&r.output)),
            )
        })
        .collect();
    let mut records: Vec<&str> = Vec::new();
    for v in &verdicts {
        if !records.contains(&v.record_id.as_str()) {
            records.push(&v.record_id);
        }
    }
    let mut chosen: Vec<&str> = if options.shuffle {
        let mut keyed: Vec<(u64, &str)> = records
            .iter()
            .map(|r| (mix(options.seed, r.as_bytes()), *r))
            .collect();
        keyed.sort_unstable();
        keyed.into_iter().map(|(_, r)| r).collect()
    } else {
        records
    };
    if let Some(n) = options.sample {
        chosen.truncate(n);
    }
    let order: HashMap<&str, usize> = rubric
        .rubric
        .criteria
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.as_str(), i))
        .collect();
    let mut sheet_rows: Vec<JudgedRow> = Vec::new();
    for r in &chosen {
        let mut mine: Vec<JudgedRow> = verdicts
            .iter()
            .filter(|v| v.record_id == *r)
            .cloned()
            .collect();
        mine.sort_by_key(|v| {
            order
                .get(v.criterion.as_str())
                .copied()
                .unwrap_or(usize::MAX)
        });
        sheet_rows.extend(mine);
    }
    let folder = options.output_dir.as_ref().map_or_else(
        || paths.annotation_tasks().join("judges"),
        |d| options.base.join(d),
    );
    let base = format!(
        "{}_judge_annotation_{}",
        module.id.upper(),
        runner::plan::stamp(&options.started)
    );
    let sheet = (1..)
        .map(|n| {
            if n == 1 {
                folder.join(format!("{base}.csv"))
            } else {
                folder.join(format!("{base}_{n}.csv"))
            }
        })
        .find(|p| !p.exists() && !meta_path(p).exists())
        .unwrap_or_else(|| folder.join(format!("{base}.csv")));
    let meta = SheetMeta {
        judge_sheet: 1,
        judge_run: id.clone(),
        judge_file: paths.display(&run.csv).into_owned(),
        rubric: paths.display(&rubric.path).into_owned(),
        module: module.id.to_string(),
        judged_run: judged.name.clone(),
        seed: options.seed,
        records: chosen.len(),
    };
    write_sheet(&sheet, &rubric.rubric, &sheet_rows, &inputs)?;
    let meta_file = meta_path(&sheet);
    let text = serde_json::to_string_pretty(&meta).unwrap_or_default();
    core_config::write_atomic(&meta_file, text.as_bytes()).map_err(|e| Error::io(&meta_file, e))?;
    Ok(GeneratedSheet {
        file: sheet,
        meta_file,
        module: module.id.to_string(),
        judge_run: id,
        judged_run: judged.name,
        records: chosen.len(),
        rows: sheet_rows.len(),
        criteria: rubric
            .rubric
            .criteria
            .iter()
            .map(|c| c.id.clone())
            .collect(),
    })
}

/// A 64-bit mix of a seed and bytes (`SplitMix64` over FNV-1a): the sheet's shuffle and the
/// simulated annotators' choices, the same on every machine.
fn mix(seed: u64, bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The validation of a judge against a filled sheet, with where it came from.
#[derive(Debug, Clone, Serialize)]
pub struct ValidationReport {
    /// The sheet (as shown).
    pub sheet: String,
    /// The module.
    pub module: String,
    /// The judge run's registry id.
    pub judge_run: String,
    /// The judge CSV (as shown).
    pub judge_file: String,
    /// The figures.
    #[serde(flatten)]
    pub validation: Validation,
}

/// Validates the judge run a sheet was made for against the sheet's two annotators, and
/// records the outcome in the judge run's registry entry (`judge_validation`), so later reports
/// can say whether the judge is validated.
///
/// # Errors
/// A file that is not a validation sheet (no sidecar), a header that is not the sheet's, an
/// unreadable judge CSV or rubric, a verdict cell that is neither `pass` nor `fail`, or a
/// registry that cannot be updated.
pub fn validate_sheet(root: &Path, sheet: &Path) -> Result<ValidationReport> {
    let paths = ProjectPaths::new(root);
    let meta = sheet_meta(sheet).ok_or_else(|| {
        judge_error(
            sheet,
            format!(
                "not a judge validation sheet: no readable {}",
                meta_path(sheet).display()
            ),
        )
    })?;
    let rubric = crate::rubric::load(&root.join(&meta.rubric))?;
    let judged = read_judge_csv(&root.join(&meta.judge_file))?;
    let validation = validate(&rubric.rubric, &judged, sheet)?;
    let shown = paths.display(sheet).into_owned();
    let file = RegistryFile::in_project(root);
    if file.path().is_file() {
        let all = validation.criteria.last();
        let record = RecordedValidation {
            validated: validation.validated,
            sheet: shown.clone(),
            items: all.map(|c| c.judge_vs_consensus.items),
            judge_kappa: all.and_then(|c| c.judge_vs_consensus.kappa),
            annotators_kappa: all.and_then(|c| c.annotators.kappa),
            judge_ac1: all.and_then(|c| c.judge_vs_consensus.ac1),
            annotators_ac1: all.and_then(|c| c.annotators.ac1),
        };
        let record = serde_json::to_value(&record).unwrap_or_default();
        file.update(|registry| {
            if let Some(entry) = registry.get_mut(&meta.judge_run) {
                entry.extra.insert(VALIDATION.to_owned(), record);
            }
            Ok::<_, registry::Error>(())
        })?;
    }
    Ok(ValidationReport {
        sheet: shown,
        module: meta.module,
        judge_run: meta.judge_run,
        judge_file: meta.judge_file,
        validation,
    })
}

/// Whether a judge run was validated against people: `Some(true/false)` from its registry
/// entry's newest validation, `None` when it never was.
///
/// # Errors
/// When the registry cannot be read.
pub fn validation_status(root: &Path, judge_run: &str) -> Result<Option<bool>> {
    let file = RegistryFile::in_project(root);
    if !file.path().is_file() {
        return Ok(None);
    }
    let registry = file.load()?;
    Ok(registry
        .get(judge_run)
        .and_then(RecordedValidation::of)
        .map(|v| v.validated))
}

/// What [`simulate_sheet`] did.
#[derive(Debug, Clone, Serialize)]
pub struct SimulatedSheet {
    /// The sheet.
    pub file: PathBuf,
    /// Rows filled.
    pub rows: usize,
    /// Rows whose true verdict is `pass`.
    pub true_passes: usize,
    /// Rows annotator A got wrong on purpose.
    pub flipped_a: usize,
    /// Rows annotator B got wrong on purpose.
    pub flipped_b: usize,
}

/// DEVELOPMENT AID, NOT PEOPLE: fills both annotator columns of a validation sheet. A row's
/// true verdict is `pass` when the answer matches the expected answer (each expected field
/// equal, lists as sets, text case-insensitively; `pass` when there is no expected answer) —
/// the rule the simulator's judge follows before its noise; annotator A then gets exactly
/// `round(flip_a × rows)` rows wrong, B `round(flip_b × rows)`, chosen with `seed`. Rewritten
/// atomically.
///
/// # Errors
/// A file that is not a validation sheet, filled cells without `overwrite`, a share outside
/// 0–1, or a file that cannot be read or written.
pub fn simulate_sheet(
    sheet: &Path,
    flip_a: f64,
    flip_b: f64,
    seed: u64,
    overwrite: bool,
) -> Result<SimulatedSheet> {
    for (name, share) in [("--flip-a", flip_a), ("--flip-b", flip_b)] {
        if !(0.0..=1.0).contains(&share) {
            return Err(Error::Share {
                name: name.to_owned(),
                value: share,
            });
        }
    }
    let table = SheetTable::read(sheet)?;
    for row in &table.table.rows {
        if !overwrite && (!table.cell(row, COL_A).is_empty() || !table.cell(row, COL_B).is_empty())
        {
            return Err(Error::Sheet {
                path: sheet.to_owned(),
                line: usize::try_from(row.line).unwrap_or(usize::MAX),
                message: "annotator_a/annotator_b: already filled (pass --overwrite to replace)"
                    .to_owned(),
            });
        }
    }
    let truth: Vec<bool> = table
        .table
        .rows
        .iter()
        .map(|row| {
            let parse =
                |n: usize| serde_json::from_str::<Value>(table.cell(row, n)).unwrap_or(Value::Null);
            match parse(4) {
                Value::Object(e) if !e.is_empty() => parse(5)
                    .as_object()
                    .is_some_and(|a| core_config::json::answer_matches(&e, a)),
                _ => true,
            }
        })
        .collect();
    let mut rows: Vec<Vec<String>> = table
        .table
        .rows
        .iter()
        .map(|row| {
            (0..SHEET_COLUMNS.len())
                .map(|n| table.cell(row, n).to_owned())
                .collect()
        })
        .collect();
    let chosen = |share: f64, who: &[u8]| -> std::collections::HashSet<usize> {
        #[expect(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a share of a row count"
        )]
        let k = (share * rows.len() as f64).round() as usize;
        let mut keyed: Vec<(u64, usize)> = (0..rows.len())
            .map(|i| (mix(seed, &[who, &i.to_le_bytes()].concat()), i))
            .collect();
        keyed.sort_unstable();
        keyed.into_iter().take(k).map(|(_, i)| i).collect()
    };
    let wrong_a = chosen(flip_a, b"a");
    let wrong_b = chosen(flip_b, b"b");
    let verdict = |p: bool| if p { "pass" } else { "fail" }.to_owned();
    for (i, cells) in rows.iter_mut().enumerate() {
        cells.resize(SHEET_COLUMNS.len(), String::new());
        cells[COL_A] = verdict(truth[i] != wrong_a.contains(&i));
        cells[COL_B] = verdict(truth[i] != wrong_b.contains(&i));
    }
    let io = |e| Error::io(sheet, e);
    let file = AtomicFile::create(sheet).map_err(io)?;
    let mut writer = SafeCsvWriter::new(sheet, file, &SHEET_COLUMNS)?;
    for cells in &rows {
        writer.write_row(cells)?;
    }
    writer.finish()?.commit().map_err(io)?;
    Ok(SimulatedSheet {
        file: sheet.to_owned(),
        rows: rows.len(),
        true_passes: truth.iter().filter(|t| **t).count(),
        flipped_a: wrong_a.len(),
        flipped_b: wrong_b.len(),
    })
}

/// The newest validation against people of the same judge (module, rubric hash and model).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PriorValidation {
    /// Whether it was validated.
    pub validated: bool,
    /// The judge run that was checked.
    pub judge_run: String,
    /// The sheet it was checked on.
    pub sheet: String,
}

/// Whether this judge — the same module, rubric hash and model — was checked against people,
/// from the newest judge run in the registry that has a `judge_validation`; `None` when it
/// never was.
///
/// # Errors
/// When the registry cannot be read.
pub fn prior_validation(
    root: &Path,
    module: &str,
    rubric_hash: &str,
    model: &str,
) -> Result<Option<PriorValidation>> {
    let file = RegistryFile::in_project(root);
    if !file.path().is_file() {
        return Ok(None);
    }
    let registry = file.load()?;
    Ok(
        newest_validation(&registry, module, rubric_hash, model).map(|(e, v)| PriorValidation {
            validated: v.validated,
            judge_run: e.local_id.clone(),
            sheet: v.sheet,
        }),
    )
}

/// The newest validation against people of a judge — module, rubric hash and model — in a
/// loaded registry: the judge run it was recorded on and what was recorded. The rule of
/// [`prior_validation`], for callers that hold the registry already.
#[must_use]
pub fn newest_validation<'r>(
    registry: &'r registry::Registry,
    module: &str,
    rubric_hash: &str,
    model: &str,
) -> Option<(&'r registry::Entry, RecordedValidation)> {
    registry
        .entries()
        .filter(|e| {
            e.module_id == module
                && e.prompt_hash.as_deref() == Some(rubric_hash)
                && e.model == model
                && e.extra.contains_key(JUDGE_OF)
        })
        .filter_map(|e| Some((e, RecordedValidation::of(e)?)))
        .max_by(|(a, _), (b, _)| {
            (a.created_at.as_str(), a.local_id.as_str())
                .cmp(&(b.created_at.as_str(), b.local_id.as_str()))
        })
}
