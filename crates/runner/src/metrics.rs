//! Run-level figures: accuracy, per-label precision / recall / F1, the confusion matrix, MCC for
//! binary modules, mean list overlap, errors by kind, tokens and cost. Built incrementally, one
//! row at a time, so memory does not grow with the number of rows.

use std::collections::BTreeMap;

use core_config::ModuleSpec;
use serde::Serialize;

use crate::score::{Detail, RowScore};

/// Precision, recall and F1 of one label (one-vs-rest).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelStats {
    /// The label.
    pub label: String,
    /// Rows whose expected label is this one.
    pub support: usize,
    /// Rows answered with this label.
    pub predicted: usize,
    /// Rows both expected and answered with this label.
    pub true_positives: usize,
    /// `true_positives / predicted` (`None` when never predicted).
    pub precision: Option<f64>,
    /// `true_positives / support` (`None` when never expected).
    pub recall: Option<f64>,
    /// Harmonic mean of precision and recall.
    pub f1: Option<f64>,
}

/// Expected labels (rows) against answered labels (columns).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Confusion {
    /// Labels in declared order (plus `(missing)` when an answer left the label out).
    pub labels: Vec<String>,
    /// `counts[expected][answered]`.
    pub counts: Vec<Vec<usize>>,
}

/// Means of list-field overlap over scored rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListMeans {
    /// Mean precision.
    pub precision: f64,
    /// Mean recall.
    pub recall: f64,
    /// Mean F1.
    pub f1: f64,
}

/// The figures of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunMetrics {
    /// Rows in the run.
    pub total: usize,
    /// Rows that were scored (the call worked and the answer parsed).
    pub scored: usize,
    /// Scored rows that were correct.
    pub correct: usize,
    /// `correct / scored` (`None` when nothing was scored).
    pub accuracy: Option<f64>,
    /// Rows that could not be scored, by kind (`http_error`, `invalid_json`, `refusal`, …).
    pub errors: BTreeMap<String, usize>,
    /// Per-label figures of the primary field (categorical modules).
    pub per_label: Vec<LabelStats>,
    /// Mean F1 over labels that were expected or predicted.
    pub macro_f1: Option<f64>,
    /// Matthews correlation coefficient (binary and boolean modules).
    pub mcc: Option<f64>,
    /// The primary field's confusion matrix (categorical modules).
    pub confusion: Option<Confusion>,
    /// Mean overlap of list fields (list modules).
    pub list: Option<ListMeans>,
}

const MISSING: &str = "(missing)";

/// Accumulates rows into [`RunMetrics`].
#[derive(Debug, Clone)]
pub struct Tally {
    labels: Vec<String>,
    positive: Option<String>,
    total: usize,
    scored: usize,
    correct: usize,
    errors: BTreeMap<String, usize>,
    pairs: BTreeMap<(String, String), usize>,
    list_sums: (f64, f64, f64, usize),
}

impl Tally {
    /// An empty tally for a module.
    #[must_use]
    pub fn new(module: &ModuleSpec) -> Self {
        let labels = module.primary_score().labels.as_ref();
        Self {
            labels: labels.map(|l| l.labels().to_vec()).unwrap_or_default(),
            positive: labels
                .filter(|l| l.labels().len() == 2)
                .and_then(|l| l.positive().map(str::to_owned)),
            total: 0,
            scored: 0,
            correct: 0,
            errors: BTreeMap::new(),
            pairs: BTreeMap::new(),
            list_sums: (0.0, 0.0, 0.0, 0),
        }
    }

    /// Adds a scored row.
    pub fn add_scored(&mut self, score: &RowScore) {
        self.total += 1;
        self.scored += 1;
        if score.correct {
            self.correct += 1;
        }
        if let Some((expected, output)) = score.primary_labels() {
            *self
                .pairs
                .entry((expected.to_owned(), output.unwrap_or(MISSING).to_owned()))
                .or_default() += 1;
        }
        for field in &score.fields {
            if let Detail::List {
                precision,
                recall,
                f1,
            } = field.detail
            {
                self.list_sums.0 += precision;
                self.list_sums.1 += recall;
                self.list_sums.2 += f1;
                self.list_sums.3 += 1;
            }
        }
    }

    /// Adds a row that could not be scored.
    pub fn add_error(&mut self, kind: &str) {
        self.total += 1;
        *self.errors.entry(kind.to_owned()).or_default() += 1;
    }

    /// Rows added so far.
    #[must_use]
    pub fn total(&self) -> usize {
        self.total
    }

    /// Scored rows that were correct so far.
    #[must_use]
    pub fn correct(&self) -> usize {
        self.correct
    }

    /// Rows that errored so far.
    #[must_use]
    pub fn error_count(&self) -> usize {
        self.errors.values().sum()
    }

    /// The figures so far.
    #[must_use]
    pub fn metrics(&self) -> RunMetrics {
        let ratio = |n: usize, d: usize| {
            #[expect(clippy::cast_precision_loss, reason = "row counts fit in f64")]
            let r = (d > 0).then(|| n as f64 / d as f64);
            r
        };
        let mut labels = self.labels.clone();
        if self.pairs.keys().any(|(_, o)| o == MISSING) {
            labels.push(MISSING.to_owned());
        }
        let (per_label, confusion) = if self.labels.is_empty() {
            (Vec::new(), None)
        } else {
            let count = |e: &str, o: &str| {
                self.pairs
                    .get(&(e.to_owned(), o.to_owned()))
                    .copied()
                    .unwrap_or(0)
            };
            let counts: Vec<Vec<usize>> = labels
                .iter()
                .map(|e| labels.iter().map(|o| count(e, o)).collect())
                .collect();
            let per_label = self
                .labels
                .iter()
                .enumerate()
                .map(|(i, label)| {
                    let support: usize = counts[i].iter().sum();
                    let predicted: usize = counts.iter().map(|row| row[i]).sum();
                    let tp = counts[i][i];
                    let precision = ratio(tp, predicted);
                    let recall = ratio(tp, support);
                    let f1 = match (precision, recall) {
                        (Some(p), Some(r)) if p + r > 0.0 => Some(2.0 * p * r / (p + r)),
                        (Some(_), Some(_)) => Some(0.0),
                        _ => None,
                    };
                    LabelStats {
                        label: label.clone(),
                        support,
                        predicted,
                        true_positives: tp,
                        precision,
                        recall,
                        f1,
                    }
                })
                .collect();
            (per_label, Some(Confusion { labels, counts }))
        };
        let f1s: Vec<f64> = per_label
            .iter()
            .filter(|l: &&LabelStats| l.support + l.predicted > 0)
            .map(|l| l.f1.unwrap_or(0.0))
            .collect();
        #[expect(clippy::cast_precision_loss, reason = "label counts are tiny")]
        let macro_f1 = (!f1s.is_empty()).then(|| f1s.iter().sum::<f64>() / f1s.len() as f64);
        let list = (self.list_sums.3 > 0).then(|| {
            #[expect(clippy::cast_precision_loss, reason = "row counts fit in f64")]
            let n = self.list_sums.3 as f64;
            ListMeans {
                precision: self.list_sums.0 / n,
                recall: self.list_sums.1 / n,
                f1: self.list_sums.2 / n,
            }
        });
        RunMetrics {
            total: self.total,
            scored: self.scored,
            correct: self.correct,
            accuracy: ratio(self.correct, self.scored),
            errors: self.errors.clone(),
            mcc: self.mcc(),
            per_label,
            macro_f1,
            confusion,
            list,
        }
    }

    /// MCC of the positive label against everything else (binary modules only).
    fn mcc(&self) -> Option<f64> {
        let positive = self.positive.as_deref()?;
        let (mut tp, mut tn, mut fp, mut fn_) = (0f64, 0f64, 0f64, 0f64);
        for ((expected, output), &n) in &self.pairs {
            #[expect(clippy::cast_precision_loss, reason = "row counts fit in f64")]
            let n = n as f64;
            match (expected == positive, output == positive) {
                (true, true) => tp += n,
                (false, false) => tn += n,
                (false, true) => fp += n,
                (true, false) => fn_ += n,
            }
        }
        let denominator = ((tp + fp) * (tp + fn_) * (tn + fp) * (tn + fn_)).sqrt();
        if tp + tn + fp + fn_ == 0.0 {
            return None;
        }
        // Conventionally 0 when a margin is empty (nothing to correlate).
        Some(if denominator == 0.0 {
            0.0
        } else {
            (tp * tn - fp * fn_) / denominator
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use core_config::Catalog;

    use super::*;
    use crate::score::FieldScore;

    fn module(id: &str) -> ModuleSpec {
        Catalog::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../modules.toml"))
            .unwrap()
            .resolve(id)
            .unwrap()
            .clone()
    }

    fn labelled(expected: &str, output: Option<&str>) -> RowScore {
        RowScore {
            correct: output == Some(expected),
            fields: vec![FieldScore {
                name: "x".into(),
                correct: output == Some(expected),
                detail: Detail::Label {
                    expected: expected.into(),
                    output: output.map(str::to_owned),
                },
            }],
        }
    }

    #[test]
    fn binary_metrics_match_a_hand_computed_table() {
        // m02's real confusion matrix from the earlier tool's dashboard: tp 97, tn 735, fp 4,
        // fn 80 (accuracy 90.8%, precision 96.0%, recall 54.8%, F1 69.8%, MCC .684).
        let mut tally = Tally::new(&module("m02"));
        for (e, o, n) in [
            ("OB", "OB", 97),
            ("Null", "Null", 735),
            ("Null", "OB", 4),
            ("OB", "Null", 80),
        ] {
            for _ in 0..n {
                tally.add_scored(&labelled(e, Some(o)));
            }
        }
        tally.add_error("invalid_json");
        let m = tally.metrics();
        assert_eq!((m.total, m.scored, m.correct), (917, 916, 832));
        assert!((m.accuracy.unwrap() - 832.0 / 916.0).abs() < 1e-12);
        let ob = &m.per_label[0];
        assert_eq!(ob.label, "OB");
        assert!((ob.precision.unwrap() - 97.0 / 101.0).abs() < 1e-12);
        assert!((ob.recall.unwrap() - 97.0 / 177.0).abs() < 1e-12);
        assert_eq!(format!("{:.3}", ob.f1.unwrap()), "0.698");
        assert_eq!(format!("{:.3}", m.mcc.unwrap()), "0.684");
        assert_eq!(m.errors["invalid_json"], 1);
        assert_eq!(
            m.confusion.unwrap().counts,
            vec![vec![97, 80], vec![4, 735]]
        );
    }

    #[test]
    fn missing_answers_get_their_own_column() {
        let mut tally = Tally::new(&module("m12b"));
        tally.add_scored(&labelled("R", Some("R")));
        tally.add_scored(&labelled("S", None));
        let m = tally.metrics();
        let confusion = m.confusion.unwrap();
        assert_eq!(confusion.labels, ["R", "S", "C", "N", "(missing)"]);
        assert_eq!(confusion.counts[1][4], 1);
        assert_eq!(m.mcc, None, "MCC is for binary modules");
        assert_eq!(m.per_label[1].recall, Some(0.0));
        assert_eq!(m.per_label[2].recall, None, "C was never expected");
    }

    #[test]
    fn list_means_average_over_rows() {
        let mut tally = Tally::new(&module("m01"));
        for f1 in [1.0, 0.5] {
            tally.add_scored(&RowScore {
                correct: f1 >= 0.8,
                fields: vec![FieldScore {
                    name: "brand_entities".into(),
                    correct: f1 >= 0.8,
                    detail: Detail::List {
                        precision: f1,
                        recall: f1,
                        f1,
                    },
                }],
            });
        }
        let m = tally.metrics();
        assert_eq!(m.list.unwrap().f1, 0.75);
        assert!(m.confusion.is_none());
        assert_eq!(m.accuracy, Some(0.5));
    }

    #[test]
    fn empty_run_has_no_accuracy() {
        let m = Tally::new(&module("m12")).metrics();
        assert_eq!(m.accuracy, None);
        assert_eq!(m.mcc, None);
    }
}
