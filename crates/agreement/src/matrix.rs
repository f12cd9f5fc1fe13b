//! Two-rater statistics from a confusion matrix.
//!
//! Counts are integers, so most coefficients are computed as exact fractions of 128-bit
//! integers and divided once at the end: no cancellation in `(po - pe) / (1 - pe)` and no
//! doubt about which side of a band boundary a kappa of exactly 0.4 falls.

use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::normal::z_for_confidence;
use crate::ser;
use crate::{Categories, Error, Interpretation, Undefined, Value};

/// The most items a table may count (2^40, about 1.1 × 10^12).
///
/// Coefficients are exact fractions of 128-bit integers built from products of up to three
/// counts; this bound keeps every product in range.
pub const MAX_ITEMS: u64 = 1 << 40;

/// How far apart two categories are for weighted kappa, by their positions `i`, `j` in the
/// declared order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Weights {
    /// Disagreement weight `|i - j|` (agreement weight `1 - |i - j| / (k - 1)`).
    Linear,
    /// Disagreement weight `(i - j)^2` (Fleiss–Cohen; agreement weight `1 - (i - j)^2 / (k - 1)^2`).
    Quadratic,
}

impl Weights {
    fn disagreement(self, i: usize, j: usize) -> u128 {
        let d = i.abs_diff(j) as u128;
        match self {
            Self::Linear => d,
            Self::Quadratic => d * d,
        }
    }
}

/// The level of measurement for Krippendorff's alpha, which picks the distance between values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    /// Categories are only equal or different.
    Nominal,
    /// Categories are ranked in declared order; distance grows with the number of ratings
    /// lying between two ranks.
    Ordinal,
    /// Categories are equally spaced numbers at their positions (0, 1, 2, ... in declared
    /// order); distance is the squared difference.
    Interval,
}

/// Counts of items by (rater A's label, rater B's label): rows are rater A, columns rater B,
/// both in the declared category order.
///
/// This is all two-rater agreement needs: it can be filled one pair at a time from a stream of
/// any length in `k × k` counters, and every coefficient below (and the bootstrap) works from
/// it alone.
///
/// ```
/// use agreement::{Categories, ConfusionMatrix};
///
/// let yes_no = Categories::new(["yes", "no"])?;
/// let table = ConfusionMatrix::from_counts(yes_no, &[[20, 5], [10, 15]])?;
/// let kappa = table.cohen_kappa()?;
/// assert!((kappa.kappa - 0.4).abs() < 1e-12);
/// assert!((kappa.std_error - 0.126_996_062_931_100_35).abs() < 1e-12);
/// assert_eq!(table.pabak()?, 0.4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfusionMatrix {
    categories: Categories,
    counts: Vec<u64>,
    total: u64,
}

/// Cohen's kappa with its large-sample inference, for a table where it is defined.
///
/// The standard errors follow Fleiss, Cohen & Everitt (1969), the formulas `statsmodels`
/// implements in `cohens_kappa`; the crude `sqrt(po (1 - po) / (N (1 - pe)^2))` of Cohen (1960)
/// is not used.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct CohenKappa {
    /// (po - pe) / (1 - pe).
    pub kappa: f64,
    /// Observed agreement po, the share of items on the diagonal.
    pub observed: f64,
    /// Expected (chance) agreement pe from the two raters' margins.
    pub expected: f64,
    /// Items in the table.
    pub items: u64,
    /// Asymptotic standard error of kappa (not assuming kappa = 0).
    pub std_error: f64,
    /// Standard error under H0: kappa = 0.
    pub std_error_h0: f64,
    /// kappa / `std_error_h0`, the test statistic of H0.
    #[serde(serialize_with = "ser::value")]
    pub z: Value,
    /// The largest kappa the two raters' margins allow.
    pub kappa_max: f64,
    /// The Landis & Koch band, decided on the exact fraction.
    pub interpretation: Interpretation,
}

impl CohenKappa {
    /// The Wald interval `kappa ± z · std_error` at `confidence` (e.g. 0.95).
    ///
    /// Like statsmodels, the bounds are not clipped to [-1, 1].
    ///
    /// # Errors
    /// [`Error::InvalidConfidence`] unless `0 < confidence < 1`.
    pub fn confidence_interval(&self, confidence: f64) -> Result<[f64; 2], Error> {
        let z = z_for_confidence(confidence)?;
        Ok([
            self.kappa - z * self.std_error,
            self.kappa + z * self.std_error,
        ])
    }

    /// The 95% Wald interval.
    #[must_use]
    pub fn ci95(&self) -> [f64; 2] {
        const Z95: f64 = 1.959_963_984_540_054;
        [
            self.kappa - Z95 * self.std_error,
            self.kappa + Z95 * self.std_error,
        ]
    }
}

#[expect(
    clippy::cast_precision_loss,
    reason = "ratios of counts; f64 is the output type"
)]
fn ratio(numerator: i128, denominator: i128) -> f64 {
    numerator as f64 / denominator as f64
}

impl ConfusionMatrix {
    /// An empty table over `categories`.
    #[must_use]
    pub fn new(categories: Categories) -> Self {
        let k = categories.len();
        Self {
            categories,
            counts: vec![0; k * k],
            total: 0,
        }
    }

    /// Tallies two raters' labels item by item.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] when the slices differ in length, [`Error::UnknownLabel`] for a
    /// label outside `categories`.
    pub fn from_labels<A: AsRef<str>, B: AsRef<str>>(
        categories: Categories,
        a: &[A],
        b: &[B],
    ) -> Result<Self, Error> {
        if a.len() != b.len() {
            return Err(Error::LengthMismatch {
                a: a.len(),
                b: b.len(),
            });
        }
        let mut table = Self::new(categories);
        for (a, b) in a.iter().zip(b) {
            table.add(a.as_ref(), b.as_ref())?;
        }
        Ok(table)
    }

    /// A table from its counts, `rows[i][j]` = items rater A put in category `i` and rater B
    /// in category `j`.
    ///
    /// # Errors
    /// [`Error::NotSquare`] or [`Error::TableShape`] unless the table is `k × k`.
    pub fn from_counts<R: AsRef<[u64]>>(categories: Categories, rows: &[R]) -> Result<Self, Error> {
        let k = categories.len();
        if rows.len() != k {
            return Err(Error::NotSquare {
                rows: rows.len(),
                expected: k,
            });
        }
        let mut table = Self::new(categories);
        for (i, row) in rows.iter().enumerate() {
            let row = row.as_ref();
            if row.len() != k {
                return Err(Error::TableShape {
                    row: i,
                    found: row.len(),
                    expected: k,
                });
            }
            table.counts[i * k..(i + 1) * k].copy_from_slice(row);
        }
        let total = table
            .counts
            .iter()
            .try_fold(0_u64, |sum, &c| sum.checked_add(c))
            .filter(|&t| t <= MAX_ITEMS);
        table.total = total.ok_or(Error::TooManyItems { max: MAX_ITEMS })?;
        Ok(table)
    }

    /// Counts one item.
    ///
    /// # Errors
    /// [`Error::UnknownLabel`] for a label outside the categories, [`Error::TooManyItems`]
    /// beyond [`MAX_ITEMS`]; the table is unchanged.
    pub fn add(&mut self, a: &str, b: &str) -> Result<(), Error> {
        let i = self.categories.lookup(a, "rater A", self.total)?;
        let j = self.categories.lookup(b, "rater B", self.total)?;
        self.ensure_room()?;
        self.add_unchecked(i, j, 1);
        Ok(())
    }

    /// Fails when one more item would pass [`MAX_ITEMS`].
    pub(crate) fn ensure_room(&self) -> Result<(), Error> {
        if self.total < MAX_ITEMS {
            Ok(())
        } else {
            Err(Error::TooManyItems { max: MAX_ITEMS })
        }
    }

    /// Counts one item by category positions.
    ///
    /// # Errors
    /// [`Error::IndexOutOfRange`] for a position beyond the categories,
    /// [`Error::TooManyItems`] beyond [`MAX_ITEMS`]; the table is unchanged.
    pub fn add_indices(&mut self, a: usize, b: usize) -> Result<(), Error> {
        let i = self.categories.check_index(a, "rater A", self.total)?;
        let j = self.categories.check_index(b, "rater B", self.total)?;
        self.ensure_room()?;
        self.add_unchecked(i, j, 1);
        Ok(())
    }

    pub(crate) fn add_unchecked(&mut self, a: usize, b: usize, count: u64) {
        let k = self.categories.len();
        self.counts[a * k + b] += count;
        self.total += count;
    }

    /// Overwrites the given cells (row-major positions) and recomputes the total.
    pub(crate) fn set_cells(&mut self, cells: &[usize], counts: &[u64]) {
        for (&cell, &count) in cells.iter().zip(counts) {
            self.counts[cell] = count;
        }
        self.total = self.counts.iter().sum();
    }

    /// The declared categories (row and column order).
    #[must_use]
    pub fn categories(&self) -> &Categories {
        &self.categories
    }

    /// Items rater A put in category `a` and rater B in `b` (0 outside the table).
    #[must_use]
    pub fn count(&self, a: usize, b: usize) -> u64 {
        let k = self.categories.len();
        if a < k && b < k {
            self.counts[a * k + b]
        } else {
            0
        }
    }

    /// The rows of the table (rater A's categories), each with one count per rater B category.
    pub fn rows(&self) -> impl Iterator<Item = &[u64]> {
        self.counts.chunks(self.categories.len())
    }

    /// The counts in row-major order.
    #[must_use]
    pub fn cells(&self) -> &[u64] {
        &self.counts
    }

    /// Items counted.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Items both raters put in the same category.
    #[must_use]
    pub fn agreements(&self) -> u64 {
        let k = self.categories.len();
        (0..k).map(|i| self.counts[i * k + i]).sum()
    }

    /// Items the raters put in different categories.
    #[must_use]
    pub fn disagreements(&self) -> u64 {
        self.total - self.agreements()
    }

    /// How many items rater A put in each category.
    #[must_use]
    pub fn row_totals(&self) -> Vec<u64> {
        self.rows().map(|row| row.iter().sum()).collect()
    }

    /// How many items rater B put in each category.
    #[must_use]
    pub fn column_totals(&self) -> Vec<u64> {
        let k = self.categories.len();
        let mut totals = vec![0; k];
        for row in self.rows() {
            for (t, c) in totals.iter_mut().zip(row) {
                *t += c;
            }
        }
        totals
    }

    /// Observed agreement po: agreements / items.
    ///
    /// # Errors
    /// [`Undefined::NoItems`] for an empty table.
    pub fn observed_agreement(&self) -> Value {
        if self.total == 0 {
            return Err(Undefined::NoItems);
        }
        Ok(ratio(i128::from(self.agreements()), i128::from(self.total)))
    }

    /// Expected agreement pe = sum over categories of (A's share × B's share).
    ///
    /// # Errors
    /// [`Undefined::NoItems`] for an empty table.
    pub fn expected_agreement(&self) -> Value {
        if self.total == 0 {
            return Err(Undefined::NoItems);
        }
        let n = i128::from(self.total);
        Ok(ratio(self.margin_products(), n * n))
    }

    /// Sum over categories of row total × column total (N² pe), exact.
    fn margin_products(&self) -> i128 {
        self.row_totals()
            .iter()
            .zip(self.column_totals())
            .map(|(&r, c)| i128::from(r) * i128::from(c))
            .sum()
    }

    /// The label every rating used, when there is only one (what makes pe = 1).
    fn single_label(&self) -> Undefined {
        let rows = self.row_totals();
        let label = rows
            .iter()
            .position(|&r| r == self.total)
            .and_then(|i| self.categories.label(i))
            .unwrap_or_default();
        Undefined::SingleLabel {
            label: label.to_owned(),
        }
    }

    /// Cohen's kappa alone (no inference): what each bootstrap replicate needs.
    pub(crate) fn kappa_value(&self) -> Value {
        if self.total == 0 {
            return Err(Undefined::NoItems);
        }
        let n = i128::from(self.total);
        let products = self.margin_products();
        let denominator = n * n - products;
        if denominator == 0 {
            return Err(self.single_label());
        }
        Ok(ratio(
            n * i128::from(self.agreements()) - products,
            denominator,
        ))
    }

    /// Cohen's kappa with its standard errors, z statistic and kappa_max.
    ///
    /// # Errors
    /// [`Undefined::NoItems`] for an empty table; [`Undefined::SingleLabel`] when both raters
    /// gave every item one and the same label (pe = 1: kappa is 0/0, not 1). Observed
    /// agreement, PABAK and AC1 remain defined in that case.
    #[expect(clippy::cast_precision_loss, reason = "counts to shares")]
    pub fn cohen_kappa(&self) -> Result<CohenKappa, Undefined> {
        if self.total == 0 {
            return Err(Undefined::NoItems);
        }
        let n = i128::from(self.total);
        let diag = i128::from(self.agreements());
        let products = self.margin_products();
        let denominator = n * n - products;
        if denominator == 0 {
            return Err(self.single_label());
        }
        let numerator = n * diag - products;
        let kappa = ratio(numerator, denominator);
        let observed = ratio(diag, n);
        let expected = ratio(products, n * n);

        let k = self.categories.len();
        let nf = self.total as f64;
        let rows: Vec<f64> = self.row_totals().iter().map(|&r| r as f64 / nf).collect();
        let cols: Vec<f64> = self
            .column_totals()
            .iter()
            .map(|&c| c as f64 / nf)
            .collect();
        let one_minus = 1.0 - kappa;
        let mut a = 0.0;
        let mut b = 0.0;
        for i in 0..k {
            for j in 0..k {
                let p = self.counts[i * k + j] as f64 / nf;
                if p == 0.0 {
                    continue;
                }
                if i == j {
                    let t = 1.0 - (rows[i] + cols[i]) * one_minus;
                    a += p * t * t;
                } else {
                    let t = cols[i] + rows[j];
                    b += p * t * t;
                }
            }
        }
        b *= one_minus * one_minus;
        let c = kappa - expected * one_minus;
        let scale = nf * (1.0 - expected) * (1.0 - expected);
        // A + B - C >= 0 in exact arithmetic; rounding may leave a hair below 0 at kappa = 1.
        let variance = ((a + b - c * c) / scale).max(0.0);
        let null_sum: f64 = rows.iter().zip(&cols).map(|(r, c)| r * c * (r + c)).sum();
        let variance_h0 = ((expected + expected * expected - null_sum) / scale).max(0.0);
        let std_error = variance.sqrt();
        let std_error_h0 = variance_h0.sqrt();
        let z = if std_error_h0 > 0.0 {
            Ok(kappa / std_error_h0)
        } else {
            Err(Undefined::ZeroNullVariance)
        };

        let minimums: i128 = self
            .row_totals()
            .iter()
            .zip(self.column_totals())
            .map(|(&r, c)| i128::from(r.min(c)))
            .sum();
        let kappa_max = ratio(n * minimums - products, denominator);

        Ok(CohenKappa {
            kappa,
            observed,
            expected,
            items: self.total,
            std_error,
            std_error_h0,
            z,
            kappa_max,
            interpretation: Interpretation::of_fraction(numerator, denominator),
        })
    }

    /// The largest kappa the raters' margins allow: (Σ min(pᵢ., p.ᵢ) − pe) / (1 − pe).
    ///
    /// # Errors
    /// As [`cohen_kappa`](Self::cohen_kappa).
    pub fn kappa_max(&self) -> Value {
        self.cohen_kappa().map(|k| k.kappa_max)
    }

    /// Weighted kappa, with distances taken from the categories' declared positions.
    ///
    /// κw = 1 − Σ wᵢⱼ pᵢⱼ / Σ wᵢⱼ pᵢ. p.ⱼ with disagreement weights `w` (see [`Weights`]); the
    /// scale of the weights cancels, so this equals scikit-learn's `weights="linear"` /
    /// `"quadratic"` given the same label order.
    ///
    /// # Errors
    /// [`Undefined::NoItems`] for an empty table, [`Undefined::SingleLabel`] when every rating
    /// is one label.
    pub fn weighted_kappa(&self, weights: Weights) -> Value {
        if self.total == 0 {
            return Err(Undefined::NoItems);
        }
        let k = self.categories.len();
        let rows = self.row_totals();
        let cols = self.column_totals();
        let mut observed: u128 = 0;
        let mut expected: u128 = 0;
        for (i, &row) in rows.iter().enumerate() {
            for (j, &col) in cols.iter().enumerate() {
                let w = weights.disagreement(i, j);
                observed += w * u128::from(self.counts[i * k + j]);
                expected += w * u128::from(row) * u128::from(col);
            }
        }
        if expected == 0 {
            return Err(self.single_label());
        }
        let observed = i128::try_from(observed * u128::from(self.total)).unwrap_or(i128::MAX);
        let expected = i128::try_from(expected).unwrap_or(i128::MAX);
        Ok(ratio(expected - observed, expected))
    }

    /// Prevalence-adjusted bias-adjusted kappa (Byrt, Bishop & Carlin 1993), also Bennett's S
    /// and Brennan–Prediger: chance agreement 1/k over the `k` *declared* categories, so
    /// PABAK = (k·po − 1)/(k − 1).
    ///
    /// # Errors
    /// [`Undefined::NoItems`] for an empty table, [`Undefined::TooFewCategories`] with one
    /// declared category.
    pub fn pabak(&self) -> Value {
        let k = self.categories.len();
        if k < 2 {
            return Err(Undefined::TooFewCategories {
                declared: k,
                needed: 2,
            });
        }
        if self.total == 0 {
            return Err(Undefined::NoItems);
        }
        let k = k as i128;
        let n = i128::from(self.total);
        Ok(ratio(k * i128::from(self.agreements()) - n, n * (k - 1)))
    }

    /// The prevalence index (a − d)/N of a 2×2 table `[[a, b], [c, d]]`, in declared order:
    /// how much more often both raters chose the first category than the second.
    ///
    /// # Errors
    /// [`Undefined::NotTwoCategories`] unless exactly two categories are declared,
    /// [`Undefined::NoItems`] for an empty table.
    pub fn prevalence_index(&self) -> Value {
        self.two_by_two(|[a, _, _, d]| (a, d))
    }

    /// The bias index (b − c)/N of a 2×2 table `[[a, b], [c, d]]`: how much more often rater A
    /// chose the first category when rater B chose the second than the reverse.
    ///
    /// # Errors
    /// As [`prevalence_index`](Self::prevalence_index).
    pub fn bias_index(&self) -> Value {
        self.two_by_two(|[_, b, c, _]| (b, c))
    }

    fn two_by_two(&self, pick: impl Fn([u64; 4]) -> (u64, u64)) -> Value {
        let k = self.categories.len();
        if k != 2 {
            return Err(Undefined::NotTwoCategories { declared: k });
        }
        if self.total == 0 {
            return Err(Undefined::NoItems);
        }
        let cells = [
            self.counts[0],
            self.counts[1],
            self.counts[2],
            self.counts[3],
        ];
        let (x, y) = pick(cells);
        Ok(ratio(i128::from(x) - i128::from(y), i128::from(self.total)))
    }

    /// Gwet's AC1 over the `q` declared categories: chance agreement
    /// pe = Σ πₖ(1 − πₖ)/(q − 1), with πₖ the mean of the two raters' shares of category k.
    ///
    /// Unlike kappa it stays defined (pe ≤ 1/q) when every rating is one label.
    ///
    /// # Errors
    /// [`Undefined::NoItems`] for an empty table, [`Undefined::TooFewCategories`] with one
    /// declared category.
    pub fn gwet_ac1(&self) -> Value {
        let q = self.categories.len();
        if q < 2 {
            return Err(Undefined::TooFewCategories {
                declared: q,
                needed: 2,
            });
        }
        if self.total == 0 {
            return Err(Undefined::NoItems);
        }
        // With s = row + column total of a category, πₖ = s / 2N, so
        // AC1 = (4N(q-1)·agreements - S) / (4N²(q-1) - S) with S = Σ s(2N - s).
        let n = i128::from(self.total);
        let q = q as i128;
        let spread: i128 = self
            .row_totals()
            .iter()
            .zip(self.column_totals())
            .map(|(&r, c)| {
                let s = i128::from(r) + i128::from(c);
                s * (2 * n - s)
            })
            .sum();
        let numerator = 4 * n * (q - 1) * i128::from(self.agreements()) - spread;
        let denominator = 4 * n * n * (q - 1) - spread;
        Ok(ratio(numerator, denominator))
    }

    /// Scott's pi: chance agreement from the pooled margins (Fleiss' kappa for two raters).
    ///
    /// # Errors
    /// [`Undefined::NoItems`], [`Undefined::SingleLabel`] as for kappa.
    pub fn scott_pi(&self) -> Value {
        if self.total == 0 {
            return Err(Undefined::NoItems);
        }
        // pe = Σ (s / 2N)², so pi = (4N·agreements − Σ s²) / (4N² − Σ s²).
        let n = i128::from(self.total);
        let squares: i128 = self
            .row_totals()
            .iter()
            .zip(self.column_totals())
            .map(|(&r, c)| {
                let s = i128::from(r) + i128::from(c);
                s * s
            })
            .sum();
        let denominator = 4 * n * n - squares;
        if denominator == 0 {
            return Err(self.single_label());
        }
        Ok(ratio(
            4 * n * i128::from(self.agreements()) - squares,
            denominator,
        ))
    }

    /// Krippendorff's alpha for the two raters, every item pairable.
    ///
    /// # Errors
    /// [`Undefined::NoItems`] for an empty table, [`Undefined::SingleLabel`] when all values
    /// are one label.
    pub fn krippendorff_alpha(&self, level: Level) -> Value {
        if self.total == 0 {
            return Err(Undefined::NoItems);
        }
        let k = self.categories.len();
        #[expect(clippy::cast_precision_loss, reason = "counts")]
        let coincidences: Vec<f64> = (0..k * k)
            .map(|cell| {
                let (i, j) = (cell / k, cell % k);
                (self.counts[i * k + j] + self.counts[j * k + i]) as f64
            })
            .collect();
        crate::multi::alpha_from_coincidences(&coincidences, k, level).map_err(
            |reason| match reason {
                Undefined::SingleLabel { .. } => self.single_label(),
                other => other,
            },
        )
    }
}

impl Serialize for ConfusionMatrix {
    /// `{"labels": [...], "counts": [[...], ...]}`: rows rater A, columns rater B.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("ConfusionMatrix", 2)?;
        s.serialize_field("labels", self.categories.labels())?;
        let rows: Vec<&[u64]> = self.rows().collect();
        s.serialize_field("counts", &rows)?;
        s.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(labels: &[&str], rows: &[&[u64]]) -> ConfusionMatrix {
        ConfusionMatrix::from_counts(Categories::new(labels.iter().copied()).unwrap(), rows)
            .unwrap()
    }

    #[test]
    fn counts_margins_and_shape_errors() {
        let mut t = ConfusionMatrix::new(Categories::new(["R", "S", "N"]).unwrap());
        t.add("R", "R").unwrap();
        t.add("R", "N").unwrap();
        t.add_indices(2, 2).unwrap();
        assert!(matches!(
            t.add("R", "X"),
            Err(Error::UnknownLabel { index: 3, .. })
        ));
        assert!(matches!(
            t.add_indices(0, 3),
            Err(Error::IndexOutOfRange { .. })
        ));
        assert_eq!(t.total(), 3);
        assert_eq!(t.agreements(), 2);
        assert_eq!(t.disagreements(), 1);
        assert_eq!(t.row_totals(), [2, 0, 1]);
        assert_eq!(t.column_totals(), [1, 0, 2]);
        assert_eq!(t.count(0, 2), 1);
        assert_eq!(t.count(9, 9), 0);

        let yes_no = Categories::new(["y", "n"]).unwrap();
        assert_eq!(
            ConfusionMatrix::from_counts(yes_no.clone(), &[[1_u64, 2]]),
            Err(Error::NotSquare {
                rows: 1,
                expected: 2
            })
        );
        assert_eq!(
            ConfusionMatrix::from_counts(yes_no.clone(), &[&[1_u64, 2][..], &[1][..]]),
            Err(Error::TableShape {
                row: 1,
                found: 1,
                expected: 2
            })
        );
        assert_eq!(
            ConfusionMatrix::from_labels(yes_no, &["y"], &["y", "n"]),
            Err(Error::LengthMismatch { a: 1, b: 2 })
        );
    }

    #[test]
    fn empty_table_is_undefined_everywhere_without_panicking() {
        let t = ConfusionMatrix::new(Categories::new(["a", "b"]).unwrap());
        assert_eq!(t.observed_agreement(), Err(Undefined::NoItems));
        assert_eq!(t.expected_agreement(), Err(Undefined::NoItems));
        assert_eq!(t.cohen_kappa(), Err(Undefined::NoItems));
        assert_eq!(t.weighted_kappa(Weights::Linear), Err(Undefined::NoItems));
        assert_eq!(t.pabak(), Err(Undefined::NoItems));
        assert_eq!(t.gwet_ac1(), Err(Undefined::NoItems));
        assert_eq!(t.prevalence_index(), Err(Undefined::NoItems));
        assert_eq!(
            t.krippendorff_alpha(Level::Nominal),
            Err(Undefined::NoItems)
        );
        assert_eq!(t.scott_pi(), Err(Undefined::NoItems));
    }

    /// Both raters said `N` every time: kappa is 0/0, reported as undefined with the label,
    /// while po, PABAK and AC1 stay defined (and equal 1).
    #[test]
    fn one_shared_label_leaves_kappa_undefined_but_po_pabak_ac1_defined() {
        let t = table(
            &["R", "S", "C", "N"],
            &[&[0, 0, 0, 0], &[0, 0, 0, 0], &[0, 0, 0, 0], &[0, 0, 0, 12]],
        );
        let single = Undefined::SingleLabel { label: "N".into() };
        assert_eq!(t.cohen_kappa(), Err(single.clone()));
        assert_eq!(t.kappa_max(), Err(single.clone()));
        assert_eq!(t.weighted_kappa(Weights::Quadratic), Err(single.clone()));
        assert_eq!(t.krippendorff_alpha(Level::Ordinal), Err(single.clone()));
        assert_eq!(t.scott_pi(), Err(single.clone()));
        assert_eq!(t.observed_agreement(), Ok(1.0));
        assert_eq!(t.expected_agreement(), Ok(1.0));
        assert_eq!(t.pabak(), Ok(1.0));
        assert_eq!(t.gwet_ac1(), Ok(1.0));
        assert!(single.to_string().contains("`N`"), "{single}");
    }

    #[test]
    fn one_item_and_disjoint_labels() {
        // One agreeing item: a single shared label.
        let t = table(&["a", "b"], &[&[1, 0], &[0, 0]]);
        assert!(matches!(
            t.cohen_kappa(),
            Err(Undefined::SingleLabel { .. })
        ));
        assert_eq!(t.pabak(), Ok(1.0));
        // One disagreeing item, or raters that never overlap: kappa is 0 (as scikit-learn),
        // the null standard error is 0, so z is undefined rather than NaN.
        for t in [
            table(&["a", "b"], &[&[0, 1], &[0, 0]]),
            table(&["a", "b"], &[&[0, 7], &[0, 0]]),
        ] {
            let k = t.cohen_kappa().unwrap();
            assert_eq!(k.kappa, 0.0);
            assert_eq!(k.std_error, 0.0);
            assert_eq!(k.z, Err(Undefined::ZeroNullVariance));
            assert_eq!(t.pabak(), Ok(-1.0));
            assert!(k.kappa_max.is_finite());
        }
    }

    #[test]
    fn perfect_agreement_has_zero_standard_error() {
        let t = table(&["a", "b", "c"], &[&[3, 0, 0], &[0, 4, 0], &[0, 0, 5]]);
        let k = t.cohen_kappa().unwrap();
        assert_eq!(k.kappa, 1.0);
        assert_eq!(k.std_error, 0.0);
        assert_eq!(k.ci95(), [1.0, 1.0]);
        assert_eq!(k.kappa_max, 1.0);
        assert_eq!(k.interpretation, Interpretation::AlmostPerfect);
        assert_eq!(t.weighted_kappa(Weights::Linear), Ok(1.0));
        assert_eq!(t.gwet_ac1(), Ok(1.0));
    }

    #[test]
    fn one_declared_category_cannot_have_chance_corrected_agreement() {
        let t = table(&["only"], &[&[5]]);
        assert_eq!(
            t.pabak(),
            Err(Undefined::TooFewCategories {
                declared: 1,
                needed: 2
            })
        );
        assert!(matches!(
            t.gwet_ac1(),
            Err(Undefined::TooFewCategories { .. })
        ));
        assert!(matches!(
            t.cohen_kappa(),
            Err(Undefined::SingleLabel { .. })
        ));
        assert_eq!(
            t.prevalence_index(),
            Err(Undefined::NotTwoCategories { declared: 1 })
        );
    }

    #[test]
    fn kappa_on_a_band_boundary_is_banded_exactly() {
        // kappa = 2/5 exactly: the "Fair" band includes 0.40.
        let t = table(&["yes", "no"], &[&[20, 5], &[10, 15]]);
        assert_eq!(
            t.cohen_kappa().unwrap().interpretation,
            Interpretation::Fair
        );
    }

    #[test]
    fn confidence_levels_other_than_95() {
        let t = table(&["yes", "no"], &[&[20, 5], &[10, 15]]);
        let k = t.cohen_kappa().unwrap();
        let [lo90, hi90] = k.confidence_interval(0.90).unwrap();
        let [lo95, hi95] = k.ci95();
        assert!(lo95 < lo90 && hi90 < hi95);
        let [lo, hi] = k.confidence_interval(0.95).unwrap();
        assert!((lo - lo95).abs() < 1e-15 && (hi - hi95).abs() < 1e-15);
        assert!(k.confidence_interval(1.5).is_err());
    }

    /// Totals up to MAX_ITEMS stay exact and in range (debug builds check for overflow);
    /// beyond it the table refuses the counts.
    #[test]
    fn item_limit_is_enforced_and_sufficient() {
        let quarter = MAX_ITEMS / 4;
        let big = ConfusionMatrix::from_counts(
            Categories::new(["a", "b", "c"]).unwrap(),
            &[[quarter, 0, 0], [0, quarter, 1], [0, quarter - 1, quarter]],
        )
        .unwrap();
        assert_eq!(big.total(), MAX_ITEMS);
        let k = big.cohen_kappa().unwrap();
        assert!(k.kappa > 0.6 && k.kappa < 1.0 && k.std_error.is_finite());
        assert!(big.gwet_ac1().unwrap() > 0.6);
        assert!(big.weighted_kappa(Weights::Quadratic).unwrap() > 0.6);
        assert!(big.pabak().unwrap() > 0.6);

        let mut full = big;
        assert_eq!(
            full.add("a", "a"),
            Err(Error::TooManyItems { max: MAX_ITEMS })
        );
        assert_eq!(full.total(), MAX_ITEMS);
        let two = Categories::new(["a", "b"]).unwrap();
        assert_eq!(
            ConfusionMatrix::from_counts(two.clone(), &[[MAX_ITEMS, 1], [0, 0]]),
            Err(Error::TooManyItems { max: MAX_ITEMS })
        );
        assert_eq!(
            ConfusionMatrix::from_counts(two, &[[u64::MAX, 1], [0, 0]]),
            Err(Error::TooManyItems { max: MAX_ITEMS })
        );
    }

    #[test]
    fn serialises_labels_and_rows() {
        let t = table(&["R", "N"], &[&[3, 1], &[0, 2]]);
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"labels":["R","N"],"counts":[[3,1],[0,2]]}"#
        );
    }
}
