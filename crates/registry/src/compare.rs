//! Did the change help? Two runs of one module are aligned by `record_id`; on the rows both
//! runs scored, this module reports each run's accuracy, the difference with a paired-bootstrap
//! confidence interval, McNemar's exact test, the rows that flipped and the accuracy per
//! expected label.
//!
//! Everything here is a pure function of the rows: no files, no clock, and the bootstrap draws
//! with the workspace's portable sampler ([`core_config::sample::Sampler`], seeded ChaCha20),
//! so the same inputs and seed give the same interval on every platform and release.
//!
//! ```
//! use registry::compare::{mcnemar_exact, paired_bootstrap};
//!
//! // 2 rows went right → wrong and 9 wrong → right.
//! let p = mcnemar_exact(2, 9);
//! assert!((p - 134.0 / 2048.0).abs() < 1e-12);
//!
//! let a = [true, false, false, true];
//! let b = [true, true, true, true];
//! let ci = paired_bootstrap(&a, &b, 2_000, 42, 0.95).unwrap();
//! assert!(ci.low >= 0.0 && ci.high <= 1.0 && ci.low <= 0.5 && 0.5 <= ci.high);
//! ```

use std::collections::{BTreeMap, HashMap};
use std::f64::consts::LN_2;

use core_config::fieldpath::lookup_dotted;
use core_config::results::cell_text;
use core_config::sample::Sampler;
use core_config::{Reading, ResultRow, ScoreField, Side};
use serde::Serialize;
use serde_json::Value;

/// How [`compare`] computes its interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompareOptions {
    /// Bootstrap resamples (default 10,000).
    pub resamples: usize,
    /// Seed of the bootstrap generator (default 42).
    pub seed: u64,
    /// Confidence level of the interval (default 0.95).
    pub confidence: f64,
}

impl Default for CompareOptions {
    fn default() -> Self {
        Self {
            resamples: 10_000,
            seed: 42,
            confidence: 0.95,
        }
    }
}

/// A confidence interval from the paired bootstrap.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
    /// Confidence level (0.95).
    pub confidence: f64,
    /// Number of resamples.
    pub resamples: usize,
    /// Generator seed.
    pub seed: u64,
}

/// McNemar's exact test on the discordant pairs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct McNemar {
    /// Rows run A got right and run B got wrong.
    pub right_to_wrong: usize,
    /// Rows run A got wrong and run B got right.
    pub wrong_to_right: usize,
    /// Two-sided exact p-value: the binomial test of `wrong_to_right` successes in
    /// `right_to_wrong + wrong_to_right` trials at probability 1/2.
    pub p_value: f64,
}

/// One run's rows, before pairing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RunCounts {
    /// Rows in the CSV.
    pub rows: usize,
    /// Rows scored correct.
    pub correct: usize,
    /// Rows with an error (not scored).
    pub errors: usize,
    /// Rows with neither a score nor an error (results CSVs of the earlier tool).
    pub unscored: usize,
    /// Rows whose record id already appeared earlier in the file (ignored when pairing).
    pub duplicate_ids: usize,
}

/// A row whose correctness differs between the runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flip {
    /// The dataset record.
    pub record_id: String,
    /// Its keyword (empty for product-level modules).
    pub keyword: String,
    /// The expected answer of the scored field.
    pub expected: String,
    /// Run A's answer.
    pub output_a: String,
    /// Run B's answer.
    pub output_b: String,
}

/// Accuracy on the rows of one expected label.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelChange {
    /// The expected label.
    pub label: String,
    /// Paired rows with this label.
    pub rows: usize,
    /// Of those, right in run A.
    pub correct_a: usize,
    /// Of those, right in run B.
    pub correct_b: usize,
    /// `correct_a / rows`.
    pub accuracy_a: f64,
    /// `correct_b / rows`.
    pub accuracy_b: f64,
}

/// Everything [`compare`] found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The field compared (the module's primary scored field).
    pub field: String,
    /// Run A's rows.
    pub a: RunCounts,
    /// Run B's rows.
    pub b: RunCounts,
    /// Record ids only run A has.
    pub only_in_a: usize,
    /// Record ids only run B has.
    pub only_in_b: usize,
    /// Record ids in both runs but left out of the test because either row has an error.
    pub excluded_errors: usize,
    /// Record ids in both runs but left out because either row has no score.
    pub excluded_unscored: usize,
    /// Paired rows whose expected answer differs between the runs (different dataset
    /// versions?); they are still compared.
    pub expected_differs: usize,
    /// Rows compared: in both runs and scored in both.
    pub paired: usize,
    /// Paired rows right in run A.
    pub correct_a: usize,
    /// Paired rows right in run B.
    pub correct_b: usize,
    /// `correct_a / paired` (`None` when nothing is paired).
    pub accuracy_a: Option<f64>,
    /// `correct_b / paired`.
    pub accuracy_b: Option<f64>,
    /// `accuracy_b - accuracy_a`.
    pub difference: Option<f64>,
    /// Confidence interval of the difference.
    pub interval: Option<Interval>,
    /// McNemar's exact test.
    pub mcnemar: McNemar,
    /// Rows right in A and wrong in B, in run A's order.
    pub right_to_wrong: Vec<Flip>,
    /// Rows wrong in A and right in B, in run A's order.
    pub wrong_to_right: Vec<Flip>,
    /// Accuracy per expected label (categorical fields only), in the field's label order.
    pub labels: Vec<LabelChange>,
}

fn scored(row: &ResultRow) -> Result<bool, bool> {
    // Err(true): errored; Err(false): no score.
    if !row.error.trim().is_empty() {
        return Err(true);
    }
    row.correct.ok_or(false)
}

fn count(rows: &[ResultRow]) -> (RunCounts, HashMap<&str, &ResultRow>) {
    let mut counts = RunCounts {
        rows: rows.len(),
        ..RunCounts::default()
    };
    let mut by_id: HashMap<&str, &ResultRow> = HashMap::with_capacity(rows.len());
    for row in rows {
        match scored(row) {
            Ok(true) => counts.correct += 1,
            Ok(false) => {}
            Err(true) => counts.errors += 1,
            Err(false) => counts.unscored += 1,
        }
        if by_id.contains_key(row.record_id.as_str()) {
            counts.duplicate_ids += 1;
        } else {
            by_id.insert(row.record_id.as_str(), row);
        }
    }
    (counts, by_id)
}

/// Aligns runs `a` and `b` of one module by `record_id` and compares them on `field` (the
/// module's primary scored field: its labels name the rows in flips and label changes). A row
/// is right or wrong by its `correct` column; rows with an `error` (or no score) on either
/// side are left out of the test and counted.
#[must_use]
pub fn compare(
    a: &[ResultRow],
    b: &[ResultRow],
    field: &ScoreField,
    options: &CompareOptions,
) -> Comparison {
    let (counts_a, ids_a) = count(a);
    let (counts_b, ids_b) = count(b);
    let mut seen = std::collections::HashSet::with_capacity(a.len());
    let only_in_b = ids_b.keys().filter(|id| !ids_a.contains_key(*id)).count();
    let mut out = empty_comparison(field, counts_a, counts_b, only_in_b);
    let mut right_a = Vec::new();
    let mut right_b = Vec::new();
    let mut per_label: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    for row_a in a {
        if !seen.insert(row_a.record_id.as_str()) {
            continue;
        }
        let Some(row_b) = ids_b.get(row_a.record_id.as_str()) else {
            out.only_in_a += 1;
            continue;
        };
        let (ok_a, ok_b) = match (scored(row_a), scored(row_b)) {
            (Ok(x), Ok(y)) => (x, y),
            (Err(true), _) | (_, Err(true)) => {
                out.excluded_errors += 1;
                continue;
            }
            _ => {
                out.excluded_unscored += 1;
                continue;
            }
        };
        let expected = expected_of(field, row_a);
        if expected != expected_of(field, row_b) {
            out.expected_differs += 1;
        }
        right_a.push(ok_a);
        right_b.push(ok_b);
        if field.labels.is_some() {
            let tally = per_label.entry(expected.clone()).or_default();
            tally.0 += 1;
            tally.1 += usize::from(ok_a);
            tally.2 += usize::from(ok_b);
        }
        if ok_a != ok_b {
            let flip = Flip {
                record_id: row_a.record_id.clone(),
                keyword: row_a.keyword.clone(),
                expected,
                output_a: output_of(field, row_a),
                output_b: output_of(field, row_b),
            };
            if ok_a {
                out.right_to_wrong.push(flip);
            } else {
                out.wrong_to_right.push(flip);
            }
        }
    }
    summarise(&mut out, &right_a, &right_b, per_label, field, options);
    out
}

/// Fills in the totals, accuracies, bootstrap interval, McNemar test and per-label changes
/// once the paired rows of `compare` are known (`right_a`/`right_b`: each pair right or wrong).
fn summarise(
    out: &mut Comparison,
    right_a: &[bool],
    right_b: &[bool],
    per_label: BTreeMap<String, (usize, usize, usize)>,
    field: &ScoreField,
    options: &CompareOptions,
) {
    out.paired = right_a.len();
    out.correct_a = right_a.iter().filter(|r| **r).count();
    out.correct_b = right_b.iter().filter(|r| **r).count();
    if out.paired > 0 {
        let accuracy_a = ratio(out.correct_a, out.paired);
        let accuracy_b = ratio(out.correct_b, out.paired);
        out.accuracy_a = Some(accuracy_a);
        out.accuracy_b = Some(accuracy_b);
        out.difference = Some(accuracy_b - accuracy_a);
        out.interval = paired_bootstrap(
            right_a,
            right_b,
            options.resamples,
            options.seed,
            options.confidence,
        );
    }
    out.mcnemar = McNemar {
        right_to_wrong: out.right_to_wrong.len(),
        wrong_to_right: out.wrong_to_right.len(),
        p_value: mcnemar_exact(
            out.right_to_wrong.len() as u64,
            out.wrong_to_right.len() as u64,
        ),
    };
    out.labels = label_order(field, per_label)
        .into_iter()
        .map(|(label, (rows, ca, cb))| LabelChange {
            label,
            rows,
            correct_a: ca,
            correct_b: cb,
            accuracy_a: ratio(ca, rows),
            accuracy_b: ratio(cb, rows),
        })
        .collect();
}

/// A comparison with the row counts filled in and nothing paired yet.
fn empty_comparison(
    field: &ScoreField,
    a: RunCounts,
    b: RunCounts,
    only_in_b: usize,
) -> Comparison {
    Comparison {
        field: field.name.clone(),
        a,
        b,
        only_in_a: 0,
        only_in_b,
        excluded_errors: 0,
        excluded_unscored: 0,
        expected_differs: 0,
        paired: 0,
        correct_a: 0,
        correct_b: 0,
        accuracy_a: None,
        accuracy_b: None,
        difference: None,
        interval: None,
        mcnemar: McNemar {
            right_to_wrong: 0,
            wrong_to_right: 0,
            p_value: 1.0,
        },
        right_to_wrong: Vec::new(),
        wrong_to_right: Vec::new(),
        labels: Vec::new(),
    }
}

#[allow(clippy::cast_precision_loss, reason = "row counts are far below 2^52")]
fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Declared labels first in their order, then anything else found (unreadable values) by name.
fn label_order(
    field: &ScoreField,
    mut per_label: BTreeMap<String, (usize, usize, usize)>,
) -> Vec<(String, (usize, usize, usize))> {
    let mut out = Vec::with_capacity(per_label.len());
    if let Some(labels) = &field.labels {
        for label in labels.labels() {
            if let Some(tally) = per_label.remove(label) {
                out.push((label.clone(), tally));
            }
        }
    }
    out.extend(per_label);
    out
}

fn field_value<'a>(object: &'a Value, path: &str) -> Option<&'a Value> {
    object.as_object().and_then(|o| lookup_dotted(o, path))
}

/// The expected answer as a label of the field when it reads as one, else as written.
fn expected_of(field: &ScoreField, row: &ResultRow) -> String {
    display(
        field,
        Side::Expected,
        field_value(&row.expected, &field.expected),
    )
}

fn output_of(field: &ScoreField, row: &ResultRow) -> String {
    display(field, Side::Output, field_value(&row.output, &field.output))
}

fn display(field: &ScoreField, side: Side, value: Option<&Value>) -> String {
    if let Some(labels) = &field.labels {
        match labels.read_json(side, value) {
            Ok(Reading::Label(label)) => return label,
            Ok(Reading::Missing) => return "(missing)".to_owned(),
            Err(_) => {}
        }
    }
    match value {
        None => "(missing)".to_owned(),
        Some(Value::Null) => "null".to_owned(),
        Some(other) => cell_text(other),
    }
}

/// Two-sided exact McNemar test: the probability, under "both runs are equally good", of a
/// split of the `right_to_wrong + wrong_to_right` discordant rows at least as uneven as the
/// one seen. That is the two-sided binomial test at p = 1/2, `min(1, 2·P(X ≤ min(b, c)))`
/// with X ~ Binomial(b + c, 1/2); 1 when there are no discordant rows.
///
/// Computed in log space, so it stays accurate for thousands of discordant rows.
#[must_use]
#[allow(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
pub fn mcnemar_exact(right_to_wrong: u64, wrong_to_right: u64) -> f64 {
    let n = right_to_wrong + wrong_to_right;
    if n == 0 {
        return 1.0;
    }
    let k = right_to_wrong.min(wrong_to_right);
    // ln P(X = 0) = -n ln 2; P(X = i + 1) = P(X = i) · (n - i) / (i + 1).
    let mut log_pmf = -(n as f64) * LN_2;
    let mut terms = Vec::with_capacity(usize::try_from(k).unwrap_or(0) + 1);
    terms.push(log_pmf);
    for i in 0..k {
        log_pmf += ((n - i) as f64).ln() - ((i + 1) as f64).ln();
        terms.push(log_pmf);
    }
    let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let log_tail = max + terms.iter().map(|t| (t - max).exp()).sum::<f64>().ln();
    (2.0 * log_tail.exp()).min(1.0)
}

/// Percentile interval of `mean(b) - mean(a)` from the paired bootstrap: `resamples` times,
/// draw `n` row indices with replacement and take the difference of accuracies on them; the
/// bounds are the `(1 - confidence) / 2` and `(1 + confidence) / 2` quantiles of those
/// differences (linear interpolation between order statistics). `None` when there are no rows,
/// no resamples, the slices differ in length, or `confidence` is not in (0, 1).
#[must_use]
#[allow(clippy::cast_precision_loss, reason = "row counts are far below 2^52")]
pub fn paired_bootstrap(
    a: &[bool],
    b: &[bool],
    resamples: usize,
    seed: u64,
    confidence: f64,
) -> Option<Interval> {
    let n = a.len();
    if n == 0 || resamples == 0 || b.len() != n || !(confidence > 0.0 && confidence < 1.0) {
        return None;
    }
    let diffs: Vec<i64> = a
        .iter()
        .zip(b)
        .map(|(x, y)| i64::from(*y) - i64::from(*x))
        .collect();
    let mut sampler = Sampler::new(seed);
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| {
            let total: i64 = (0..n).map(|_| diffs[sampler.index(n)]).sum();
            total as f64 / n as f64
        })
        .collect();
    means.sort_unstable_by(f64::total_cmp);
    let alpha = (1.0 - confidence) / 2.0;
    Some(Interval {
        low: quantile(&means, alpha),
        high: quantile(&means, 1.0 - alpha),
        confidence,
        resamples,
        seed,
    })
}

#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "positions are small and non-negative"
)]
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let below = position.floor() as usize;
    let above = position.ceil() as usize;
    let weight = position - below as f64;
    sorted[below] + (sorted[above] - sorted[below]) * weight
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;

    /// Reference values computed independently of this code, from the binomial formula with
    /// exact integers (Python: `from math import comb;
    /// min(1, 2 * sum(comb(n, i) for i in range(k + 1)) / 2**n)`), which is what
    /// `scipy.stats.binomtest(k, n, 0.5).pvalue` returns for p = 1/2.
    #[test]
    fn mcnemar_matches_the_binomial_formula() {
        let cases: [(u64, u64, f64); 7] = [
            (0, 0, 1.0),
            (3, 3, 1.0),
            (0, 1, 1.0),
            (0, 5, 0.0625),                     // 2 * 1/32
            (1, 6, 0.125),                      // 2 * (1 + 7)/128
            (2, 9, 0.065_429_687_5),            // 2 * (1 + 11 + 55)/2048 = 134/2048
            (10, 25, 0.016_673_847_800_120_71), // 2 * sum_{i<=10} C(35,i) / 2^35
        ];
        for (b, c, want) in cases {
            let got = mcnemar_exact(b, c);
            assert!((got - want).abs() < 1e-12, "({b}, {c}): {got} vs {want}");
            assert_eq!(got.to_bits(), mcnemar_exact(c, b).to_bits(), "symmetric");
        }
        // Large counts stay finite and sensible: 2 * P(X <= 450), X ~ Bin(1000, 1/2).
        let big = mcnemar_exact(450, 550);
        assert!((big - 0.001_730_536_084_976_317_6).abs() < 1e-12, "{big}");
    }

    #[test]
    fn bootstrap_is_seeded_and_brackets_the_difference() {
        let a: Vec<bool> = (0..40).map(|i| i % 2 == 0).collect();
        let b: Vec<bool> = (0..40).map(|i| i % 4 != 3).collect();
        let one = paired_bootstrap(&a, &b, 2_000, 7, 0.95).unwrap();
        let two = paired_bootstrap(&a, &b, 2_000, 7, 0.95).unwrap();
        assert_eq!(one, two, "same seed, same interval");
        let other = paired_bootstrap(&a, &b, 2_000, 8, 0.95).unwrap();
        assert_ne!(one, other, "the seed matters");
        let diff = 0.75 - 0.5;
        assert!(one.low < diff && diff < one.high, "{one:?}");
        assert!(one.low > -1.0 && one.high < 1.0);
        // Identical runs: no difference in any resample.
        let same = paired_bootstrap(&a, &a, 500, 1, 0.95).unwrap();
        assert_eq!((same.low, same.high), (0.0, 0.0));
        assert_eq!(paired_bootstrap(&[], &[], 10, 1, 0.95), None);
        assert_eq!(paired_bootstrap(&a, &b, 10, 1, 1.5), None);
    }

    /// Pins the generator's output so a dependency update that changed the stream (and with
    /// it every interval users have already reported) is noticed. The values are what this
    /// code produced when it was written: -4/37 and 12/37.
    #[test]
    fn bootstrap_stream_is_pinned() {
        let a: Vec<bool> = (0..37).map(|i| (i * 7) % 5 < 3).collect();
        let b: Vec<bool> = (0..37).map(|i| (i * 3) % 4 != 0).collect();
        let ci = paired_bootstrap(&a, &b, 1_000, 42, 0.95).unwrap();
        assert_eq!(ci.low.to_bits(), (-4.0_f64 / 37.0).to_bits(), "{ci:?}");
        assert_eq!(ci.high.to_bits(), (12.0_f64 / 37.0).to_bits(), "{ci:?}");
    }

    fn field() -> ScoreField {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../modules.toml"))
                .unwrap();
        let catalog = core_config::Catalog::parse(&text, Path::new("/p/modules.toml")).unwrap();
        catalog.resolve("m14").unwrap().primary_score().clone()
    }

    fn row(
        id: &str,
        expected: &str,
        output: &str,
        correct: Option<bool>,
        error: &str,
    ) -> ResultRow {
        ResultRow {
            record_id: id.into(),
            keyword: format!("kw {id}"),
            expected: json!({ "relevancy": expected }),
            output: json!({ "relevancy": output }),
            correct,
            error: error.into(),
            ..ResultRow::default()
        }
    }

    #[test]
    fn aligns_by_record_id_and_reports_flips_and_labels() {
        let a = vec![
            row("1", "R", "R", Some(true), ""),
            row("2", "R", "N", Some(false), ""),
            row("3", "N", "N", Some(true), ""),
            row("4", "N", "R", Some(false), ""),
            row("5", "R", "R", Some(true), ""),
            row("only-a", "R", "R", Some(true), ""),
            row("6", "R", "", None, "HTTP 500"),
        ];
        // B in another order, with a regression on 3, fixes on 2 and 4, an error on 5.
        let b = vec![
            row("4", "N", "N", Some(true), ""),
            row("3", "N", "R", Some(false), ""),
            row("2", "R", "R", Some(true), ""),
            row("1", "R", "R", Some(true), ""),
            row("5", "R", "", None, "timeout"),
            row("6", "R", "R", Some(true), ""),
            row("only-b", "R", "R", Some(true), ""),
        ];
        let c = compare(&a, &b, &field(), &CompareOptions::default());
        assert_eq!(c.paired, 4);
        assert_eq!((c.only_in_a, c.only_in_b), (1, 1));
        assert_eq!(c.excluded_errors, 2);
        assert_eq!((c.correct_a, c.correct_b), (2, 3));
        assert_eq!(c.accuracy_a, Some(0.5));
        assert_eq!(c.difference, Some(0.25));
        assert_eq!(c.a.errors, 1);
        assert_eq!(c.b.errors, 1);
        let ids = |f: &[Flip]| f.iter().map(|x| x.record_id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&c.right_to_wrong), ["3"]);
        assert_eq!(ids(&c.wrong_to_right), ["2", "4"]);
        assert_eq!(c.right_to_wrong[0].keyword, "kw 3");
        assert_eq!(
            (
                c.right_to_wrong[0].output_a.as_str(),
                c.right_to_wrong[0].output_b.as_str()
            ),
            ("N", "R")
        );
        assert_eq!(c.mcnemar.right_to_wrong, 1);
        assert_eq!(c.mcnemar.wrong_to_right, 2);
        assert_eq!(c.mcnemar.p_value, 1.0);
        let labels: Vec<(&str, usize, usize, usize)> = c
            .labels
            .iter()
            .map(|l| (l.label.as_str(), l.rows, l.correct_a, l.correct_b))
            .collect();
        assert_eq!(labels, [("R", 2, 1, 2), ("N", 2, 1, 1)]);
    }

    #[test]
    fn duplicates_and_unscored_rows_are_counted_not_paired() {
        let a = vec![
            row("1", "R", "R", Some(true), ""),
            row("1", "R", "N", Some(false), ""),
            row("2", "R", "R", None, ""),
        ];
        let b = vec![
            row("1", "R", "N", Some(false), ""),
            row("2", "R", "R", Some(true), ""),
        ];
        let c = compare(&a, &b, &field(), &CompareOptions::default());
        assert_eq!(c.a.duplicate_ids, 1);
        assert_eq!(c.excluded_unscored, 1);
        assert_eq!(c.paired, 1);
        assert_eq!(
            c.right_to_wrong.len(),
            1,
            "the first copy of a duplicated id is used"
        );
    }

    #[test]
    fn nothing_paired_gives_no_accuracy() {
        let a = vec![row("1", "R", "R", Some(true), "")];
        let b = vec![row("2", "R", "R", Some(true), "")];
        let c = compare(&a, &b, &field(), &CompareOptions::default());
        assert_eq!(c.paired, 0);
        assert_eq!(c.accuracy_a, None);
        assert_eq!(c.interval, None);
        assert_eq!(c.mcnemar.p_value, 1.0);
    }
}
