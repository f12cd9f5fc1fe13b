//! The error analysis of one run: the confusion matrix over the module's declared labels,
//! per-label precision / recall / F1, accuracy with its Wilson interval, MCC, macro and micro F1,
//! TP/TN/FP/FN for binary modules, per-record list overlap for list modules, and one row per
//! wrong (or errored) row for the errors file.

use std::collections::{BTreeMap, BTreeSet};

use core_config::fieldpath::lookup_dotted;
use core_config::results::cell_text;
use core_config::{ModuleSpec, ScoreKind};
use indexmap::IndexMap;
use runner::score::{Detail, set_prf};
use serde::Serialize;
use serde_json::Value;

use crate::source::{Judged, RunRef, Verdict};
use crate::stats::{Z95, mcc, wilson};

/// The label an answer gets when it left the field out.
pub const MISSING: &str = "(missing)";

/// Header of the errors file.
pub const ERRORS_HEADERS: [&str; 11] = [
    "record_id",
    "asin",
    "keyword",
    "expected",
    "predicted",
    "confidence",
    "reasoning",
    "error_kind",
    "missing",
    "extra",
    "error",
];

/// How a row is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ErrorKind {
    /// Answered the positive class; expected something else.
    #[serde(rename = "FP")]
    FalsePositive,
    /// Expected the positive class; answered something else.
    #[serde(rename = "FN")]
    FalseNegative,
    /// Any other wrong answer.
    #[serde(rename = "mismatch")]
    Mismatch,
    /// The row was not scored (never counted as wrong).
    #[serde(rename = "errored")]
    Errored,
}

impl ErrorKind {
    /// As written in the errors file.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FalsePositive => "FP",
            Self::FalseNegative => "FN",
            Self::Mismatch => "mismatch",
            Self::Errored => "errored",
        }
    }
}

/// One row of the errors file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorRow {
    /// Dataset record id.
    pub record_id: String,
    /// Product ASIN.
    pub asin: String,
    /// Keyword.
    pub keyword: String,
    /// Expected answer of the scored fields.
    pub expected: String,
    /// The answer.
    pub predicted: String,
    /// The model's confidence, when it gave one.
    pub confidence: Option<f64>,
    /// The model's reasoning.
    pub reasoning: String,
    /// FP / FN / mismatch / errored.
    pub kind: ErrorKind,
    /// List modules: expected items the answer lacks.
    pub missing: Vec<String>,
    /// List modules: answered items not expected.
    pub extra: Vec<String>,
    /// Errored rows: why.
    pub error: String,
}

impl ErrorRow {
    /// The cells of the errors file, in [`ERRORS_HEADERS`] order (escaping is the writer's).
    #[must_use]
    pub fn cells(&self) -> [String; 11] {
        [
            self.record_id.clone(),
            self.asin.clone(),
            self.keyword.clone(),
            self.expected.clone(),
            self.predicted.clone(),
            self.confidence.map(|c| c.to_string()).unwrap_or_default(),
            self.reasoning.clone(),
            self.kind.as_str().to_owned(),
            self.missing.join("; "),
            self.extra.join("; "),
            self.error.clone(),
        ]
    }
}

/// One label's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelFigures {
    /// Rows expected with this label.
    pub support: u64,
    /// Rows answered with it.
    pub predicted: u64,
    /// `tp / predicted` (null when never predicted).
    pub precision: Option<f64>,
    /// `tp / support` (null when never expected).
    pub recall: Option<f64>,
    /// Harmonic mean (null when either is null).
    pub f1: Option<f64>,
}

/// Binary modules: counts against the positive class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BinaryCounts {
    /// The positive label.
    pub positive: String,
    /// True positives.
    pub tp: u64,
    /// True negatives.
    pub tn: u64,
    /// False positives.
    pub fp: u64,
    /// False negatives.
    pub r#fn: u64,
}

/// Mean list overlap of one list field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListFigures {
    /// The score field.
    pub field: String,
    /// Rows compared.
    pub rows: u64,
    /// Mean per-record precision.
    pub precision: f64,
    /// Mean per-record recall.
    pub recall: f64,
    /// Mean per-record F1 (the run's own list score).
    pub f1: f64,
    /// Mean per-record Jaccard.
    pub jaccard: f64,
    /// Expected items missed, over all records.
    pub missing_items: u64,
    /// Extra items answered, over all records.
    pub extra_items: u64,
}

/// The error analysis of one run (the `analyze-results errors --json` contract).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorsReport {
    /// The run's name.
    pub run: String,
    /// Module id.
    pub module: String,
    /// Rows in the run.
    pub rows: u64,
    /// Rows scored (right or wrong).
    pub scored: u64,
    /// Rows that errored (not scored, not wrong).
    pub errored: u64,
    /// Errored rows by kind.
    pub errored_by_kind: BTreeMap<String, u64>,
    /// Scored rows right.
    pub correct: u64,
    /// `correct / scored`.
    pub accuracy: Option<f64>,
    /// Wilson 95% interval of the accuracy.
    pub accuracy_ci95: Option<[f64; 2]>,
    /// Matthews correlation (multiclass form for more than two labels).
    pub mcc: Option<f64>,
    /// Mean F1 over labels expected or predicted.
    pub macro_f1: Option<f64>,
    /// Σtp / Σpredicted over the declared labels (= Σtp / Σsupport when every answer has a label).
    pub micro_f1: Option<f64>,
    /// Labels of the confusion matrix: declared, then `(missing)` when an answer left it out.
    pub labels: Vec<String>,
    /// Rows: expected; columns: predicted; in `labels` order.
    pub confusion_matrix: Vec<Vec<u64>>,
    /// Per declared label.
    pub per_label: IndexMap<String, LabelFigures>,
    /// Binary modules: TP/TN/FP/FN.
    pub binary: Option<BinaryCounts>,
    /// List modules: mean overlap per list field.
    pub lists: Vec<ListFigures>,
    /// Re-scored from `expected` / `output` (an earlier-tool file without `correct`).
    pub rescored: bool,
    /// The errors file (set by the caller once written).
    pub errors_file: Option<String>,
    /// Rows in the errors file that are wrong (errored rows not counted).
    pub error_count: u64,
}

#[derive(Debug, Clone, Default)]
struct ListSums {
    rows: u64,
    precision: f64,
    recall: f64,
    f1: f64,
    jaccard: f64,
    missing: u64,
    extra: u64,
}

/// Streams judged rows into an [`ErrorsReport`] and returns the row for the errors file.
#[derive(Debug, Clone)]
pub struct ErrorsTally {
    module: ModuleSpec,
    labels: Vec<String>,
    positive: Option<String>,
    /// (expected, answered) label pairs and their rows: a short list scanned per row, so a
    /// row costs no allocation once its pair has been seen.
    pairs: Vec<((String, String), u64)>,
    rows: u64,
    correct: u64,
    wrong: u64,
    errored: BTreeMap<String, u64>,
    lists: Vec<(String, ListSums)>,
}

/// Lower-cased, trimmed, non-empty string items, as the scorer reads lists.
#[must_use]
pub fn list_items(value: Option<&Value>) -> BTreeSet<String> {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty())
            .collect(),
        _ => BTreeSet::new(),
    }
}

/// Jaccard overlap of two sets (1 when both are empty).
#[must_use]
#[expect(clippy::cast_precision_loss, reason = "set sizes are small")]
pub fn set_jaccard(a: &BTreeSet<String>, b: &BTreeSet<String>) -> f64 {
    let union = a.union(b).count();
    if union == 0 {
        1.0
    } else {
        a.intersection(b).count() as f64 / union as f64
    }
}

/// The model's confidence, when the answer has one.
#[must_use]
pub fn confidence_of(output: &Value) -> Option<f64> {
    match output.get("confidence")? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn field_text(module: &ModuleSpec, root: &Value, expected_side: bool) -> String {
    let object = root.as_object();
    let parts: Vec<String> = module
        .score
        .iter()
        .map(|f| {
            let path = if expected_side {
                &f.expected
            } else {
                &f.output
            };
            object
                .and_then(|o| lookup_dotted(o, path))
                .map_or_else(String::new, |v| match v {
                    Value::Null => "null".to_owned(),
                    other => cell_text(other),
                })
        })
        .collect();
    if parts.len() == 1 {
        parts.into_iter().next().unwrap_or_default()
    } else {
        module
            .score
            .iter()
            .zip(parts)
            .map(|(f, p)| format!("{}: {p}", f.name))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl ErrorsTally {
    /// An empty tally for a module.
    #[must_use]
    pub fn new(module: &ModuleSpec) -> Self {
        let labels = module.primary_score().labels.as_ref();
        Self {
            module: module.clone(),
            labels: labels.map(|l| l.labels().to_vec()).unwrap_or_default(),
            positive: labels
                .filter(|l| l.labels().len() == 2)
                .and_then(|l| l.positive().map(str::to_owned)),
            pairs: Vec::new(),
            rows: 0,
            correct: 0,
            wrong: 0,
            errored: BTreeMap::new(),
            lists: module
                .score
                .iter()
                .filter(|f| f.labels.is_none() && f.kind == ScoreKind::List)
                .map(|f| (f.name.clone(), ListSums::default()))
                .collect(),
        }
    }

    /// Adds a row; returns its errors-file row when it is wrong or errored.
    pub fn add(&mut self, judged: &Judged) -> Option<ErrorRow> {
        self.rows += 1;
        let row = &judged.row;
        let base = |kind: ErrorKind| ErrorRow {
            record_id: row.record_id.clone(),
            asin: row.asin.clone(),
            keyword: row.keyword.clone(),
            expected: field_text(&self.module, &row.expected, true),
            predicted: field_text(&self.module, &row.output, false),
            confidence: confidence_of(&row.output),
            reasoning: row.reasoning.clone(),
            kind,
            missing: Vec::new(),
            extra: Vec::new(),
            error: String::new(),
        };
        let right = match &judged.verdict {
            Verdict::Errored { kind, message } => {
                *self.errored.entry(kind.clone()).or_default() += 1;
                let mut out = base(ErrorKind::Errored);
                out.error.clone_from(message);
                return Some(out);
            }
            Verdict::Right => true,
            Verdict::Wrong => false,
        };
        if right {
            self.correct += 1;
        } else {
            self.wrong += 1;
        }
        let mut kind = ErrorKind::Mismatch;
        let mut missing = Vec::new();
        let mut extra = Vec::new();
        // A one-field label module shows the labels as scored (the confusion matrix's), not
        // the raw values (`null`, `N`, ...) they were read from.
        let mut labels_as_scored = None;
        if let Some(score) = &judged.score {
            if let Some((expected, output)) = score.primary_labels() {
                let output = output.unwrap_or(MISSING);
                if self.module.score.len() == 1 {
                    labels_as_scored = Some((expected.to_owned(), output.to_owned()));
                }
                match self
                    .pairs
                    .iter_mut()
                    .find(|((e, o), _)| e == expected && o == output)
                {
                    Some((_, n)) => *n += 1,
                    None => self
                        .pairs
                        .push(((expected.to_owned(), output.to_owned()), 1)),
                }
                if let Some(positive) = &self.positive {
                    if expected == positive && output != positive {
                        kind = ErrorKind::FalseNegative;
                    } else if expected != positive && output == positive {
                        kind = ErrorKind::FalsePositive;
                    }
                }
            }
            for field in &score.fields {
                let Detail::List {
                    precision,
                    recall,
                    f1,
                } = field.detail
                else {
                    continue;
                };
                let Some(spec) = self.module.score_field(&field.name) else {
                    continue;
                };
                let want = list_items(
                    row.expected
                        .as_object()
                        .and_then(|o| lookup_dotted(o, &spec.expected)),
                );
                let got = list_items(
                    row.output
                        .as_object()
                        .and_then(|o| lookup_dotted(o, &spec.output)),
                );
                debug_assert_eq!(set_prf(&want, &got).2, f1);
                let prefix = if self.lists.len() > 1 {
                    format!("{}: ", field.name)
                } else {
                    String::new()
                };
                let miss: Vec<String> = want.difference(&got).cloned().collect();
                let more: Vec<String> = got.difference(&want).cloned().collect();
                if let Some((_, sums)) = self.lists.iter_mut().find(|(n, _)| *n == field.name) {
                    sums.rows += 1;
                    sums.precision += precision;
                    sums.recall += recall;
                    sums.f1 += f1;
                    sums.jaccard += set_jaccard(&want, &got);
                    sums.missing += miss.len() as u64;
                    sums.extra += more.len() as u64;
                }
                missing.extend(miss.into_iter().map(|m| format!("{prefix}{m}")));
                extra.extend(more.into_iter().map(|m| format!("{prefix}{m}")));
            }
        }
        if right {
            return None;
        }
        let mut out = base(kind);
        if let Some((expected, predicted)) = labels_as_scored {
            out.expected = expected;
            out.predicted = predicted;
        }
        out.missing = missing;
        out.extra = extra;
        Some(out)
    }

    /// Adds the rows of another tally of the same module (a later part of the same run): the
    /// report is then the one a single pass over both would give.
    pub fn merge(&mut self, other: &Self) {
        for (pair, n) in &other.pairs {
            match self.pairs.iter_mut().find(|(p, _)| p == pair) {
                Some((_, m)) => *m += n,
                None => self.pairs.push((pair.clone(), *n)),
            }
        }
        self.rows += other.rows;
        self.correct += other.correct;
        self.wrong += other.wrong;
        for (kind, n) in &other.errored {
            *self.errored.entry(kind.clone()).or_default() += n;
        }
        for (name, sums) in &other.lists {
            if let Some((_, mine)) = self.lists.iter_mut().find(|(n, _)| n == name) {
                mine.rows += sums.rows;
                mine.precision += sums.precision;
                mine.recall += sums.recall;
                mine.f1 += sums.f1;
                mine.jaccard += sums.jaccard;
                mine.missing += sums.missing;
                mine.extra += sums.extra;
            }
        }
    }

    /// The report so far.
    #[must_use]
    pub fn finish(&self, run: &RunRef, rescored: bool) -> ErrorsReport {
        let scored = self.correct + self.wrong;
        let pairs: BTreeMap<(String, String), u64> = self.pairs.iter().cloned().collect();
        let labels = self.all_labels(&pairs);
        let confusion = confusion_of(&pairs, &labels);
        let (per_label, micro_f1, macro_f1) = per_label_figures(&self.labels, &labels, &confusion);
        let binary = self.binary_counts(&pairs);
        let mcc = match &binary {
            Some(b) => mcc(b.tp, b.tn, b.fp, b.r#fn),
            None if !self.labels.is_empty() => multiclass_mcc(&confusion),
            None => None,
        };
        ErrorsReport {
            run: run.name.clone(),
            module: self.module.id.to_string(),
            rows: self.rows,
            scored,
            errored: self.errored.values().sum(),
            errored_by_kind: self.errored.clone(),
            correct: self.correct,
            accuracy: ratio(self.correct, scored),
            accuracy_ci95: wilson(self.correct, scored, Z95),
            mcc,
            macro_f1,
            micro_f1,
            labels: if self.labels.is_empty() {
                Vec::new()
            } else {
                labels
            },
            confusion_matrix: if self.labels.is_empty() {
                Vec::new()
            } else {
                confusion
            },
            per_label,
            binary,
            lists: self.list_figures(),
            rescored,
            errors_file: None,
            error_count: self.wrong,
        }
    }

    /// The module's labels, then any other label seen as expected or output value.
    fn all_labels(&self, pairs: &BTreeMap<(String, String), u64>) -> Vec<String> {
        let mut labels = self.labels.clone();
        for (expected, output) in pairs.keys() {
            for label in [expected, output] {
                if !labels.contains(label) {
                    labels.push(label.clone());
                }
            }
        }
        labels
    }

    /// The two-class counts, when the module names a positive label.
    fn binary_counts(&self, pairs: &BTreeMap<(String, String), u64>) -> Option<BinaryCounts> {
        self.positive.as_ref().map(|positive| {
            let mut counts = BinaryCounts {
                positive: positive.clone(),
                tp: 0,
                tn: 0,
                fp: 0,
                r#fn: 0,
            };
            for ((e, o), &n) in pairs {
                match (e == positive, o == positive) {
                    (true, true) => counts.tp += n,
                    (false, false) => counts.tn += n,
                    (false, true) => counts.fp += n,
                    (true, false) => counts.r#fn += n,
                }
            }
            counts
        })
    }

    /// Mean figures of every list field that was scored on at least one row.
    #[expect(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
    fn list_figures(&self) -> Vec<ListFigures> {
        self.lists
            .iter()
            .filter(|(_, s)| s.rows > 0)
            .map(|(name, s)| {
                let n = s.rows as f64;
                ListFigures {
                    field: name.clone(),
                    rows: s.rows,
                    precision: s.precision / n,
                    recall: s.recall / n,
                    f1: s.f1 / n,
                    jaccard: s.jaccard / n,
                    missing_items: s.missing,
                    extra_items: s.extra,
                }
            })
            .collect()
    }
}

/// Row counts by expected label (rows) and output label (columns).
fn confusion_of(pairs: &BTreeMap<(String, String), u64>, labels: &[String]) -> Vec<Vec<u64>> {
    labels
        .iter()
        .map(|e| {
            labels
                .iter()
                .map(|o| pairs.get(&(e.clone(), o.clone())).copied().unwrap_or(0))
                .collect()
        })
        .collect()
}

/// `n / d`, or None when `d` is 0.
#[expect(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
fn ratio(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

/// Harmonic mean of precision and recall (0 when both are 0), None when either is unknown.
fn f1_of(precision: Option<f64>, recall: Option<f64>) -> Option<f64> {
    match (precision, recall) {
        (Some(p), Some(r)) if p + r > 0.0 => Some(2.0 * p * r / (p + r)),
        (Some(_), Some(_)) => Some(0.0),
        _ => None,
    }
}

/// Figures of each of the module's `known` labels (`labels` indexes `confusion`), with the
/// micro and macro F1 over them.
#[expect(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
fn per_label_figures(
    known: &[String],
    labels: &[String],
    confusion: &[Vec<u64>],
) -> (IndexMap<String, LabelFigures>, Option<f64>, Option<f64>) {
    let mut per_label = IndexMap::new();
    let (mut tp_sum, mut predicted_sum, mut support_sum) = (0, 0, 0);
    let mut f1s = Vec::new();
    for (i, label) in labels.iter().enumerate() {
        if !known.contains(label) {
            continue;
        }
        let support: u64 = confusion[i].iter().sum();
        let predicted: u64 = confusion.iter().map(|r| r[i]).sum();
        let tp = confusion[i][i];
        tp_sum += tp;
        predicted_sum += predicted;
        support_sum += support;
        let precision = ratio(tp, predicted);
        let recall = ratio(tp, support);
        let f1 = f1_of(precision, recall);
        if support + predicted > 0 {
            f1s.push(f1.unwrap_or(0.0));
        }
        per_label.insert(
            label.clone(),
            LabelFigures {
                support,
                predicted,
                precision,
                recall,
                f1,
            },
        );
    }
    let micro_f1 = f1_of(ratio(tp_sum, predicted_sum), ratio(tp_sum, support_sum));
    let macro_f1 = (!f1s.is_empty()).then(|| f1s.iter().sum::<f64>() / f1s.len() as f64);
    (per_label, micro_f1, macro_f1)
}

/// Matthews correlation for K classes (Gorodkin's R_K, scikit-learn's `matthews_corrcoef`).
#[must_use]
#[expect(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
pub fn multiclass_mcc(confusion: &[Vec<u64>]) -> Option<f64> {
    let k = confusion.len();
    let s: f64 = confusion.iter().flatten().sum::<u64>() as f64;
    let c: f64 = (0..k).map(|i| confusion[i][i]).sum::<u64>() as f64;
    let t: Vec<f64> = confusion
        .iter()
        .map(|r| r.iter().sum::<u64>() as f64)
        .collect();
    let p: Vec<f64> = (0..k)
        .map(|j| confusion.iter().map(|r| r[j]).sum::<u64>() as f64)
        .collect();
    let pt: f64 = p.iter().zip(&t).map(|(a, b)| a * b).sum();
    let pp: f64 = p.iter().map(|a| a * a).sum();
    let tt: f64 = t.iter().map(|a| a * a).sum();
    let denominator = ((s * s - pp) * (s * s - tt)).sqrt();
    (denominator > 0.0).then(|| (c * s - pt) / denominator)
}
