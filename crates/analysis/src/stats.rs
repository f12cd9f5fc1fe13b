//! The statistics of the reports that the `agreement` crate does not have: Fisher's exact test
//! on a 2×2 table, the Wilson score interval, Benjamini–Hochberg q-values and the expected
//! calibration error. Each is tested against SciPy / statsmodels reference values
//! (`fixtures/analysis/reference_values.json`, made by `fixtures/analysis/make_reference.py`).

use serde::Serialize;

/// Hypergeometric terms below this share of the sum so far are not added.
const NEGLIGIBLE: f64 = 1e-20;

/// z for a two-sided 95% interval (`scipy.stats.norm.ppf(0.975)`).
pub const Z95: f64 = 1.959_963_984_540_054;

/// Two-sided Fisher's exact test of the 2×2 table `[[a, b], [c, d]]`, as
/// `scipy.stats.fisher_exact(table, alternative="two-sided")`: the probability, with every
/// margin fixed, of a table no more likely than the one observed.
///
/// Probabilities are computed relative to the most likely table by the ratio of neighbouring
/// hypergeometric terms, so no factorial is ever formed and a million-row table is as exact as a
/// small one. Tables tie with the observed one within a relative 1e-7 (R's tolerance), so exact
/// ties that rounding separates still count.
#[must_use]
#[expect(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
pub fn fisher_exact(a: u64, b: u64, c: u64, d: u64) -> f64 {
    // x = a follows a hypergeometric law: population n, `row` successes, `col` draws.
    let row = a + b;
    let col = a + c;
    let n = a + b + c + d;
    if n == 0 {
        return 1.0;
    }
    let low = (row + col).saturating_sub(n);
    let high = row.min(col);
    if low == high {
        return 1.0;
    }
    // The mode of the hypergeometric law.
    let mode = (((row + 1) as f64) * ((col + 1) as f64) / ((n + 2) as f64)).floor() as u64;
    let mode = mode.clamp(low, high);
    // p(x + 1) / p(x)
    let up = |x: u64| -> f64 {
        ((row - x) as f64 * (col - x) as f64) / ((x + 1) as f64 * (n + x + 1 - row - col) as f64)
    };
    let relative = |target: u64| -> f64 {
        let mut p = 1.0;
        if target >= mode {
            for x in mode..target {
                p *= up(x);
            }
        } else {
            for x in (target..mode).rev() {
                p /= up(x);
            }
        }
        p
    };
    let observed = relative(a);
    let limit = observed * (1.0 + 1e-7);
    let mut total = 1.0;
    let mut tail = if 1.0 <= limit { 1.0 } else { 0.0 };
    // Walk down and up from the mode; terms shrink geometrically away from it, so stop once they
    // are negligible against the total (the tail beyond adds far less than 1e-12 relative): a
    // large table costs a few multiples of its standard deviation, not its whole range.
    let mut p = 1.0;
    let mut x = mode;
    while x > low {
        p /= up(x - 1);
        x -= 1;
        if p < total * NEGLIGIBLE {
            break;
        }
        total += p;
        if p <= limit {
            tail += p;
        }
    }
    let mut p = 1.0;
    let mut x = mode;
    while x < high {
        p *= up(x);
        x += 1;
        if p < total * NEGLIGIBLE {
            break;
        }
        total += p;
        if p <= limit {
            tail += p;
        }
    }
    (tail / total).min(1.0)
}

/// The Wilson score interval of `successes` out of `trials` at normal quantile `z`, as
/// `statsmodels.stats.proportion.proportion_confint(method="wilson")`; `None` with no trials.
#[must_use]
#[expect(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
pub fn wilson(successes: u64, trials: u64, z: f64) -> Option<[f64; 2]> {
    if trials == 0 {
        return None;
    }
    let n = trials as f64;
    let p = successes as f64 / n;
    let z2 = z * z;
    let denominator = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denominator;
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denominator;
    Some([(center - half).max(0.0), (center + half).min(1.0)])
}

/// Benjamini–Hochberg adjusted p-values (q-values), in the order of `p_values`, as
/// `statsmodels.stats.multitest.multipletests(method="fdr_bh")[1]`.
#[must_use]
#[expect(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
pub fn benjamini_hochberg(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| p_values[i].total_cmp(&p_values[j]).then(i.cmp(&j)));
    let mut q = vec![0.0; m];
    let mut running = 1.0f64;
    for (rank, &i) in order.iter().enumerate().rev() {
        let adjusted = p_values[i] * m as f64 / (rank + 1) as f64;
        running = running.min(adjusted);
        q[i] = running.min(1.0);
    }
    q
}

/// One confidence bin of a calibration table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibrationBin {
    /// Lower edge (inclusive).
    pub low: f64,
    /// Upper edge (exclusive, except 1.0 for the last bin).
    pub high: f64,
    /// Scored rows whose confidence falls in the bin.
    pub rows: u64,
    /// Of those, right.
    pub correct: u64,
    /// Mean confidence of the rows.
    pub mean_confidence: Option<f64>,
    /// `correct / rows`.
    pub accuracy: Option<f64>,
}

/// Accuracy per confidence decile and the expected calibration error.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calibration {
    /// Scored rows with a confidence in [0, 1].
    pub rows: u64,
    /// Ten bins `[0, 0.1)`, …, `[0.9, 1.0]`.
    pub bins: Vec<CalibrationBin>,
    /// Σ (rows_b / rows) · |accuracy_b − mean_confidence_b| (`None` without rows).
    pub ece: Option<f64>,
}

/// Streams (confidence, correct) pairs into a [`Calibration`].
#[derive(Debug, Clone, Default)]
pub struct CalibrationTally {
    rows: [u64; 10],
    correct: [u64; 10],
    confidence: [f64; 10],
}

impl CalibrationTally {
    /// The decile of a confidence (`None` outside [0, 1] or NaN).
    #[must_use]
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "in [0, 10]"
    )]
    pub fn bin_of(confidence: f64) -> Option<usize> {
        (0.0..=1.0)
            .contains(&confidence)
            .then(|| ((confidence * 10.0).floor() as usize).min(9))
    }

    /// Adds a row; confidences outside [0, 1] are ignored.
    pub fn add(&mut self, confidence: f64, correct: bool) {
        if let Some(bin) = Self::bin_of(confidence) {
            self.rows[bin] += 1;
            self.correct[bin] += u64::from(correct);
            self.confidence[bin] += confidence;
        }
    }

    /// Adds the rows of another tally (of a later part of the same run).
    pub fn merge(&mut self, other: &Self) {
        for i in 0..10 {
            self.rows[i] += other.rows[i];
            self.correct[i] += other.correct[i];
            self.confidence[i] += other.confidence[i];
        }
    }

    /// The table and ECE.
    #[must_use]
    #[expect(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
    pub fn finish(&self) -> Calibration {
        let total: u64 = self.rows.iter().sum();
        let mut ece = 0.0;
        let bins = (0..10)
            .map(|i| {
                let rows = self.rows[i];
                let mean_confidence = (rows > 0).then(|| self.confidence[i] / rows as f64);
                let accuracy = (rows > 0).then(|| self.correct[i] as f64 / rows as f64);
                if let (Some(c), Some(a)) = (mean_confidence, accuracy) {
                    ece += rows as f64 / total as f64 * (a - c).abs();
                }
                CalibrationBin {
                    low: i as f64 / 10.0,
                    high: (i + 1) as f64 / 10.0,
                    rows,
                    correct: self.correct[i],
                    mean_confidence,
                    accuracy,
                }
            })
            .collect();
        Calibration {
            rows: total,
            bins,
            ece: (total > 0).then_some(ece),
        }
    }
}

/// Matthews correlation coefficient of a binary table (`None` when a margin is empty).
#[must_use]
#[expect(clippy::cast_precision_loss, reason = "counts are far below 2^52")]
pub fn mcc(tp: u64, tn: u64, fp: u64, fn_: u64) -> Option<f64> {
    let (tp, tn, fp, fn_) = (tp as f64, tn as f64, fp as f64, fn_ as f64);
    let denominator = ((tp + fp) * (tp + fn_) * (tn + fp) * (tn + fn_)).sqrt();
    (denominator > 0.0).then(|| (tp * tn - fp * fn_) / denominator)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fisher_small_tables_by_hand() {
        // [[1, 9], [11, 3]]: scipy gives 0.002759456185220083.
        assert!((fisher_exact(1, 9, 11, 3) - 0.002_759_456_185_220_083).abs() < 1e-12);
        // Symmetric table: p = 1.
        assert!((fisher_exact(5, 5, 5, 5) - 1.0).abs() < 1e-12);
        assert!((fisher_exact(0, 0, 0, 0) - 1.0).abs() < 1e-12);
        // A degenerate margin leaves one possible table.
        assert!((fisher_exact(3, 0, 4, 0) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn bh_keeps_order_and_monotonicity() {
        let q = benjamini_hochberg(&[0.01, 0.04, 0.03, 0.2]);
        // sorted: .01 .03 .04 .2 → .04 .06 .0533 .2 → running min from the top
        assert!((q[0] - 0.04).abs() < 1e-12);
        assert!((q[2] - 0.053_333_333_333_333_33).abs() < 1e-12);
        assert!((q[1] - 0.053_333_333_333_333_33).abs() < 1e-12);
        assert!((q[3] - 0.2).abs() < 1e-12);
        assert!(benjamini_hochberg(&[]).is_empty());
    }

    #[test]
    fn calibration_bins_include_one_in_the_last_bin() {
        assert_eq!(CalibrationTally::bin_of(1.0), Some(9));
        assert_eq!(CalibrationTally::bin_of(0.0), Some(0));
        assert_eq!(CalibrationTally::bin_of(1.5), None);
        assert_eq!(CalibrationTally::bin_of(f64::NAN), None);
        let mut t = CalibrationTally::default();
        t.add(0.95, true);
        t.add(0.95, false);
        let c = t.finish();
        assert_eq!(c.rows, 2);
        assert!((c.ece.unwrap() - 0.45).abs() < 1e-12);
    }
}
