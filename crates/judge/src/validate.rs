//! Checking a judge against people: a sheet on which two annotators give their own verdict per
//! row and criterion (the judge's verdict is not shown, so it cannot anchor them), and the
//! agreement of the judge with the annotators' consensus next to the annotators' agreement with
//! each other: Cohen's kappa with its 95% interval, and Gwet's AC1 (stable where nearly every
//! verdict is the same). A judge that agrees with the consensus less than the annotators agree
//! with each other is *not validated*.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use agreement::{Categories, ConfusionMatrix};
use annotation::sheet::{escape_cell, unescape_cell};
use core_config::AtomicFile;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::rubric::Rubric;

/// The validation sheet's columns; annotators fill the last two with `pass` or `fail`.
pub const SHEET_COLUMNS: [&str; 7] = [
    "record_id",
    "criterion",
    "question",
    "input",
    "answer",
    "annotator_a",
    "annotator_b",
];

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
/// record's input and answer (`inputs`: record id → (input JSON, answer JSON)); every text cell
/// spreadsheet-safe, written atomically.
///
/// # Errors
/// When the file cannot be written.
pub fn write_sheet(
    path: &Path,
    rubric: &Rubric,
    verdicts: &[JudgedRow],
    inputs: &HashMap<String, (String, String)>,
) -> Result<PathBuf> {
    let io = |e| Error::io(path, e);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let file = AtomicFile::create(path).map_err(io)?;
    let mut writer = csv::Writer::from_writer(file);
    writer
        .write_record(SHEET_COLUMNS)
        .map_err(|e| csv_error(path, &e))?;
    for v in verdicts {
        let question = rubric
            .criteria
            .iter()
            .find(|c| c.id == v.criterion)
            .map(|c| c.question.as_str())
            .unwrap_or_default();
        let (input, answer) = inputs.get(&v.record_id).cloned().unwrap_or_default();
        let row: Vec<String> = [
            v.record_id.as_str(),
            v.criterion.as_str(),
            question,
            &input,
            &answer,
            "",
            "",
        ]
        .iter()
        .map(|c| escape_cell(c).into_owned())
        .collect();
        writer.write_record(&row).map_err(|e| csv_error(path, &e))?;
    }
    let file = writer
        .into_inner()
        .map_err(|e| Error::io(path, std::io::Error::other(e.to_string())))?;
    file.commit().map_err(io)
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
    let categories = Categories::new(["pass", "fail"]).map_err(agreement_error)?;
    let table = ConfusionMatrix::from_labels(categories, a, b).map_err(agreement_error)?;
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

fn agreement_error(e: agreement::Error) -> Error {
    Error::io("agreement", std::io::Error::other(e.to_string()))
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
    let mut reader = csv::Reader::from_path(sheet).map_err(|e| csv_error(sheet, &e))?;
    // (criterion, a, b, judge)
    let mut rows: Vec<(String, &'static str, &'static str, Option<&'static str>)> = Vec::new();
    let mut incomplete = 0;
    let verdict = |text: &str, line: usize, column: &str| -> Result<Option<&'static str>> {
        match text.trim().to_ascii_lowercase().as_str() {
            "" => Ok(None),
            "pass" => Ok(Some("pass")),
            "fail" => Ok(Some("fail")),
            other => Err(Error::Sheet {
                path: sheet.to_owned(),
                line,
                message: format!("{column}: `{other}` is neither pass nor fail"),
            }),
        }
    };
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| csv_error(sheet, &e))?;
        let line = i + 2;
        let id = unescape_cell(record.get(0).unwrap_or_default());
        let criterion = unescape_cell(record.get(1).unwrap_or_default());
        let a = verdict(record.get(5).unwrap_or_default(), line, "annotator_a")?;
        let b = verdict(record.get(6).unwrap_or_default(), line, "annotator_b")?;
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
