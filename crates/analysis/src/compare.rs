//! Two runs side by side: model-vs-model agreement of two runs of one module (joined by
//! record id), and Path A against Path B on the same keywords (joined by ASIN and normalised
//! keyword, since record ids differ between paths). Kappa and its interval come from the
//! `agreement` crate; McNemar's exact test is the one `experiment-registry compare` uses.

use std::collections::HashMap;
use std::path::Path;

use agreement::{Categories, ConfusionMatrix, Weights};
use annotation::sheet::SafeCsvWriter;
use core_config::{AtomicFile, ModuleSpec};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::errors::MISSING;
use crate::output;
use crate::source::{RowReader, RunRef, Verdict};

/// The Path A / Path B module pairs (B is the Path B module).
pub const PATH_PAIRS: [(&str, &str); 3] = [("m02", "m02b"), ("m04", "m04b"), ("m05", "m05b")];

/// One scored row, reduced to what a comparison needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelledRow {
    /// Record id.
    pub record_id: String,
    /// ASIN.
    pub asin: String,
    /// Keyword as written.
    pub keyword: String,
    /// Expected label.
    pub expected: String,
    /// Answered label (`(missing)` when left out).
    pub answer: String,
    /// Whether the row was right.
    pub right: bool,
}

/// The labelled rows of a run, and how many rows errored (left out).
///
/// # Errors
/// When the CSV cannot be read.
pub fn labelled_rows(run: &RunRef, module: &ModuleSpec) -> Result<(Vec<LabelledRow>, u64)> {
    let read = read_labelled(run, module)?;
    Ok((read.rows, read.errored.len() as u64))
}

/// A run's rows reduced to labels, with the rows left out because they errored.
#[derive(Debug, Clone, Default)]
pub struct RunRows {
    /// The scored rows.
    pub rows: Vec<LabelledRow>,
    /// The (ASIN, keyword) of each row that errored or has no label to compare.
    pub errored: Vec<(String, String)>,
}

/// The row's ASIN and keyword (from its columns, else its metadata / input).
fn asin_and_keyword(row: &core_config::ResultRow) -> (String, String) {
    let text = |value: &serde_json::Value, key: &str| {
        value
            .get(key)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let keyword = if row.keyword.is_empty() {
        text(&row.input, "keyword")
    } else {
        row.keyword.clone()
    };
    let asin = if row.asin.is_empty() {
        text(&row.metadata, "asin")
    } else {
        row.asin.clone()
    };
    (asin, keyword)
}

/// Reads a run's labelled rows, keeping where the errored rows are.
///
/// # Errors
/// When the CSV cannot be read.
pub fn read_labelled(run: &RunRef, module: &ModuleSpec) -> Result<RunRows> {
    let mut reader = RowReader::open_for_analysis(&run.csv, module)?;
    let mut out = RunRows::default();
    while let Some(judged) = reader.next_row()? {
        let labels = judged.score.as_ref().and_then(|s| s.primary_labels());
        let right = match (&judged.verdict, labels) {
            (Verdict::Right, Some(_)) => true,
            (Verdict::Wrong, Some(_)) => false,
            _ => {
                out.errored.push(asin_and_keyword(&judged.row));
                continue;
            }
        };
        let Some((expected, answer)) = labels else {
            continue;
        };
        let (expected, answer) = (expected.to_owned(), answer.unwrap_or(MISSING).to_owned());
        let (asin, keyword) = asin_and_keyword(&judged.row);
        out.rows.push(LabelledRow {
            record_id: judged.row.record_id,
            asin,
            keyword,
            expected,
            answer,
            right,
        });
    }
    Ok(out)
}

/// The key Path A and Path B rows are joined on: upper-case ASIN and normalised keyword.
#[must_use]
pub fn path_key(asin: &str, keyword: &str) -> String {
    format!(
        "{}\u{1f}{}",
        asin.to_ascii_uppercase(),
        normalise_keyword(keyword)
    )
}

/// Lower case, words separated by one space.
#[must_use]
pub fn normalise_keyword(keyword: &str) -> String {
    crate::patterns::words(keyword).join(" ")
}

/// The agreement of two sets of answers on the same items.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// Items in both, scored in both.
    pub joined: u64,
    /// Items only in A (or errored in B).
    pub only_a: u64,
    /// Items only in B (or errored in A).
    pub only_b: u64,
    /// Categories of the matrix: the module's labels, then `(missing)` when an answer left it out.
    pub labels: Vec<String>,
    /// Rows: A's answer; columns: B's answer.
    pub confusion_matrix: Vec<Vec<u64>>,
    /// Share of items with the same answer.
    pub observed_agreement: Option<f64>,
    /// Cohen's kappa of the two answers (null when undefined, e.g. one shared label).
    pub kappa: Option<f64>,
    /// Its 95% Wald interval (Fleiss–Cohen–Everitt standard error).
    pub kappa_ci95: Option<[f64; 2]>,
    /// Why kappa is undefined, when it is.
    pub kappa_undefined: Option<String>,
    /// Quadratic-weighted kappa (ordered label sets only).
    pub weighted_kappa: Option<f64>,
    /// A's accuracy against expected on the joined items.
    pub accuracy_a: Option<f64>,
    /// B's accuracy against expected on the joined items.
    pub accuracy_b: Option<f64>,
    /// Joined items right in A and wrong in B.
    pub right_a_wrong_b: u64,
    /// Joined items wrong in A and right in B.
    pub wrong_a_right_b: u64,
    /// McNemar's exact two-sided p-value on correctness.
    pub mcnemar_p: f64,
    /// Joined items whose expected label differs between the runs (different dataset versions?).
    pub expected_differs: u64,
    /// The CSV of the items where the answers differ (set once written).
    pub disagreements_file: Option<String>,
}

/// Header of a disagreements file.
pub const DISAGREEMENT_HEADERS: [&str; 9] = [
    "asin",
    "keyword",
    "expected",
    "answer_a",
    "answer_b",
    "right_a",
    "right_b",
    "record_id_a",
    "record_id_b",
];

/// Compares answers joined by `key`; writes the disagreements to `path` (a new file).
///
/// # Errors
/// When the file cannot be written.
#[expect(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
pub fn compare_rows(
    module_labels: &[String],
    ordered: bool,
    a: &[LabelledRow],
    b: &[LabelledRow],
    key: impl Fn(&LabelledRow) -> String,
    path: &Path,
    root: &Path,
) -> Result<Comparison> {
    let mut by_key: HashMap<String, &LabelledRow> = HashMap::with_capacity(b.len());
    for row in b {
        by_key.entry(key(row)).or_insert(row);
    }
    let mut pairs = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for row in a {
        let k = key(row);
        if !seen.insert(k.clone()) {
            continue;
        }
        if let Some(other) = by_key.get(&k) {
            pairs.push((row, *other));
        }
    }
    let joined = pairs.len() as u64;
    let keys_b: std::collections::HashSet<String> = by_key.keys().cloned().collect();
    let only_a = seen.len() as u64 - joined;
    let only_b = keys_b.len() as u64 - joined;
    let mut labels = module_labels.to_vec();
    for (x, y) in &pairs {
        for label in [&x.answer, &y.answer] {
            if !labels.contains(label) {
                labels.push(label.clone());
            }
        }
    }
    let categories = Categories::new(labels.iter().cloned()).map_err(|e| Error::Csv {
        path: path.to_owned(),
        line: 0,
        message: e.to_string(),
    })?;
    let mut table = ConfusionMatrix::new(categories);
    let mut right = (0u64, 0u64);
    let mut discordant = (0u64, 0u64);
    let mut expected_differs = 0;
    let file = AtomicFile::create(path).map_err(|e| Error::io(path, e))?;
    let mut sheet = SafeCsvWriter::new(path, file, &DISAGREEMENT_HEADERS)?;
    for (x, y) in &pairs {
        table.add(&x.answer, &y.answer).map_err(|e| Error::Csv {
            path: path.to_owned(),
            line: 0,
            message: e.to_string(),
        })?;
        right.0 += u64::from(x.right);
        right.1 += u64::from(y.right);
        match (x.right, y.right) {
            (true, false) => discordant.0 += 1,
            (false, true) => discordant.1 += 1,
            _ => {}
        }
        if x.expected != y.expected {
            expected_differs += 1;
        }
        if x.answer != y.answer {
            sheet.write_row(&[
                x.asin.clone(),
                x.keyword.clone(),
                x.expected.clone(),
                x.answer.clone(),
                y.answer.clone(),
                x.right.to_string(),
                y.right.to_string(),
                x.record_id.clone(),
                y.record_id.clone(),
            ])?;
        }
    }
    let written = sheet
        .finish()?
        .commit_new()
        .map_err(|e| Error::io(path, e))?;
    let kappa = table.cohen_kappa();
    let ratio = |n: u64| (joined > 0).then(|| n as f64 / joined as f64);
    Ok(Comparison {
        joined,
        only_a,
        only_b,
        confusion_matrix: table.rows().map(<[u64]>::to_vec).collect(),
        labels,
        observed_agreement: table.observed_agreement().ok(),
        kappa: kappa.as_ref().ok().map(|k| k.kappa),
        kappa_ci95: kappa.as_ref().ok().map(agreement::CohenKappa::ci95),
        kappa_undefined: kappa.as_ref().err().map(ToString::to_string),
        weighted_kappa: if ordered {
            table.weighted_kappa(Weights::Quadratic).ok()
        } else {
            None
        },
        accuracy_a: ratio(right.0),
        accuracy_b: ratio(right.1),
        right_a_wrong_b: discordant.0,
        wrong_a_right_b: discordant.1,
        mcnemar_p: registry::compare::mcnemar_exact(discordant.0, discordant.1),
        expected_differs,
        disagreements_file: Some(
            written
                .strip_prefix(root)
                .unwrap_or(&written)
                .to_string_lossy()
                .into_owned(),
        ),
    })
}

/// `analyze-results agreement --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgreementReport {
    /// Run A's name.
    pub run_a: String,
    /// Run B's name.
    pub run_b: String,
    /// Module id.
    pub module: String,
    /// Rows of A that errored (left out).
    pub errored_a: u64,
    /// Rows of B that errored (left out).
    pub errored_b: u64,
    /// The comparison, joined by record id.
    #[serde(flatten)]
    pub comparison: Comparison,
}

/// Model-vs-model agreement of two runs of one module, joined by record id.
///
/// # Errors
/// [`Error::DifferentModules`], or when a CSV cannot be read or the file written.
pub fn run_agreement(
    root: &Path,
    module: &ModuleSpec,
    a: &RunRef,
    b: &RunRef,
) -> Result<AgreementReport> {
    if a.module != b.module {
        return Err(Error::DifferentModules {
            a: a.name.clone(),
            module_a: a.module.clone(),
            b: b.name.clone(),
            module_b: b.module.clone(),
            what: "agreement",
        });
    }
    let (rows_a, errored_a) = labelled_rows(a, module)?;
    let (rows_b, errored_b) = labelled_rows(b, module)?;
    let labels = module.primary_score().labels.as_ref();
    let dir = output::module_dir(root, module);
    let stem = output::free_stem(
        &dir,
        &format!("{}_vs_{}", a.name, b.name),
        &["_agreement_disagreements.csv"],
    );
    let comparison = compare_rows(
        labels
            .map(|l| l.labels().to_vec())
            .as_deref()
            .unwrap_or(&[]),
        labels.is_some_and(core_config::LabelSet::ordered),
        &rows_a,
        &rows_b,
        |r| r.record_id.clone(),
        &dir.join(format!("{stem}_agreement_disagreements.csv")),
        root,
    )?;
    Ok(AgreementReport {
        run_a: a.name.clone(),
        run_b: b.name.clone(),
        module: module.id.to_string(),
        errored_a,
        errored_b,
        comparison,
    })
}

/// `analyze-results paths --json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathsReport {
    /// Path A's run.
    pub path_a: String,
    /// Path B's run.
    pub path_b: String,
    /// Path A's module.
    pub module_a: String,
    /// Path B's module.
    pub module_b: String,
    /// Rows of A that errored (left out).
    pub errored_a: u64,
    /// Rows of B that errored (left out).
    pub errored_b: u64,
    /// The comparison, joined by (ASIN, normalised keyword).
    #[serde(flatten)]
    pub comparison: Comparison,
    /// When Path A is the relevance chain (m12–m16 combined): its runs and the keywords it
    /// could not decide.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain: Option<crate::chain::ChainInfo>,
}

/// Path A against Path B on the same keywords (m02/m02b, m04/m04b, m05/m05b).
///
/// # Errors
/// [`Error::NotAPair`], or when a CSV cannot be read or the file written.
pub fn paths(
    root: &Path,
    module_a: &ModuleSpec,
    module_b: &ModuleSpec,
    a: &RunRef,
    b: &RunRef,
) -> Result<PathsReport> {
    let pair = (module_a.id.as_str(), module_b.id.as_str());
    if !PATH_PAIRS.contains(&pair) {
        return Err(Error::NotAPair {
            a: module_a.id.to_string(),
            b: module_b.id.to_string(),
        });
    }
    let (rows_a, errored_a) = labelled_rows(a, module_a)?;
    let (rows_b, errored_b) = labelled_rows(b, module_b)?;
    let labels = module_a.primary_score().labels.as_ref();
    let dir = output::module_dir(root, module_a);
    let stem = output::free_stem(
        &dir,
        &format!("{}_vs_{}", a.name, b.name),
        &["_paths_disagreements.csv"],
    );
    let comparison = compare_rows(
        labels
            .map(|l| l.labels().to_vec())
            .as_deref()
            .unwrap_or(&[]),
        false,
        &rows_a,
        &rows_b,
        |r| path_key(&r.asin, &r.keyword),
        &dir.join(format!("{stem}_paths_disagreements.csv")),
        root,
    )?;
    Ok(PathsReport {
        path_a: a.name.clone(),
        path_b: b.name.clone(),
        module_a: module_a.id.to_string(),
        module_b: module_b.id.to_string(),
        errored_a,
        errored_b,
        comparison,
        chain: None,
    })
}
