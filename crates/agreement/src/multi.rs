//! Coefficients for any number of raters: Fleiss' kappa and Krippendorff's alpha.

use crate::matrix::Level;
use crate::{Categories, Error, MAX_ITEMS, Undefined, Value};

/// Fleiss' kappa for subjects that were each rated by the same number of raters.
///
/// `counts[s][j]` is how many raters put subject `s` in category `j` (columns in the order of
/// `categories`). Computed exactly from the integer counts.
///
/// ```
/// // Wikipedia's example: 10 subjects, 14 raters, 5 categories.
/// let counts = [
///     [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
///     [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
/// ];
/// let kappa = agreement::fleiss_kappa(&["1", "2", "3", "4", "5"], &counts)?;
/// assert!((kappa - 0.2099).abs() < 5e-5);
/// # Ok::<(), agreement::Error>(())
/// ```
///
/// # Errors
/// A category list error (see [`Categories::new`]); [`Error::TableShape`] for a row without
/// one count per category; [`Error::TooFewRatings`] with fewer than two ratings per subject;
/// [`Error::UnequalRaters`] when subjects have different numbers of ratings;
/// [`Error::TooManyItems`] beyond [`MAX_ITEMS`] ratings in all;
/// [`Error::Undefined`] with no subjects or when every rating is one category.
pub fn fleiss_kappa<C, R>(categories: &[C], counts: &[R]) -> Result<f64, Error>
where
    C: AsRef<str>,
    R: AsRef<[u64]>,
{
    const NAME: &str = "Fleiss' kappa";
    let categories = Categories::new(categories.iter().map(|c| c.as_ref().to_owned()))?;
    let k = categories.len();
    let mut raters = None;
    let mut total = 0_u64;
    let mut squares: i128 = 0;
    let mut column_sums = vec![0_i128; k];
    for (subject, row) in counts.iter().enumerate() {
        let row = row.as_ref();
        if row.len() != k {
            return Err(Error::TableShape {
                row: subject,
                found: row.len(),
                expected: k,
            });
        }
        let too_many = Error::TooManyItems { max: MAX_ITEMS };
        let m = row
            .iter()
            .try_fold(0_u64, |sum, &c| sum.checked_add(c))
            .ok_or_else(|| too_many.clone())?;
        // Bounding all ratings keeps the 128-bit sums of squares below exact.
        total = total
            .checked_add(m)
            .filter(|&t| t <= MAX_ITEMS)
            .ok_or(too_many)?;
        match raters {
            None => {
                if m < 2 {
                    return Err(Error::TooFewRatings { found: m });
                }
                raters = Some(m);
            }
            Some(expected) if expected != m => {
                return Err(Error::UnequalRaters {
                    subject,
                    found: m,
                    expected,
                });
            }
            Some(_) => {}
        }
        for (sum, &c) in column_sums.iter_mut().zip(row) {
            let c = i128::from(c);
            *sum += c;
            squares += c * c;
        }
    }
    let Some(m) = raters else {
        return Err(Undefined::NoItems.for_coefficient(NAME));
    };
    // With T = Σ n², S = Σ (column sum)², and N m ratings in all:
    // kappa = ((T - Nm) Nm - S (m - 1)) / ((m - 1) ((Nm)² - S)).
    let m = i128::from(m);
    let ratings = counts.len() as i128 * m;
    let pooled: i128 = column_sums.iter().map(|s| s * s).sum();
    let denominator = (m - 1) * (ratings * ratings - pooled);
    if denominator == 0 {
        let label = column_sums
            .iter()
            .position(|&s| s == ratings)
            .and_then(|j| categories.label(j))
            .unwrap_or_default()
            .to_owned();
        return Err(Undefined::SingleLabel { label }.for_coefficient(NAME));
    }
    let numerator = (squares - ratings) * ratings - pooled * (m - 1);
    #[expect(clippy::cast_precision_loss, reason = "a ratio of counts")]
    Ok(numerator as f64 / denominator as f64)
}

/// Krippendorff's alpha for any number of coders, with missing values.
///
/// `coders[c][u]` is coder `c`'s label for unit `u`, `None` where the coder gave none (every
/// coder's list covers the same units). Units with fewer than two labels are not pairable and
/// are skipped, as Krippendorff prescribes.
///
/// ```
/// use agreement::Level;
///
/// // Krippendorff's 4-coder, 12-unit example with gaps.
/// let rows = [
///     "1 2 3 3 2 1 4 1 2 . . .",
///     "1 2 3 3 2 2 4 1 2 5 . 3",
///     ". 3 3 3 2 3 4 2 2 5 1 .",
///     "1 2 3 3 2 4 4 1 2 5 1 .",
/// ];
/// let coders: Vec<Vec<Option<&str>>> = rows
///     .iter()
///     .map(|row| row.split(' ').map(|v| (v != ".").then_some(v)).collect())
///     .collect();
/// let values = ["1", "2", "3", "4", "5"];
/// let alpha = agreement::krippendorff_alpha(&values, Level::Nominal, &coders)?;
/// assert!((alpha - 0.7434).abs() < 5e-5);
/// let alpha = agreement::krippendorff_alpha(&values, Level::Interval, &coders)?;
/// assert!((alpha - 0.8491).abs() < 5e-5);
/// # Ok::<(), agreement::Error>(())
/// ```
///
/// # Errors
/// A category list error; [`Error::RaggedCoders`] when coders' lists differ in length;
/// [`Error::UnknownLabel`] for a label outside `categories` (naming the coder and unit);
/// [`Error::Undefined`] with no pairable unit or when every value is one category.
pub fn krippendorff_alpha<C, R, L>(
    categories: &[C],
    level: Level,
    coders: &[R],
) -> Result<f64, Error>
where
    C: AsRef<str>,
    R: AsRef<[Option<L>]>,
    L: AsRef<str>,
{
    const NAME: &str = "Krippendorff's alpha";
    let categories = Categories::new(categories.iter().map(|c| c.as_ref().to_owned()))?;
    let k = categories.len();
    let units = coders.first().map_or(0, |c| c.as_ref().len());
    for (coder, row) in coders.iter().enumerate() {
        if row.as_ref().len() != units {
            return Err(Error::RaggedCoders {
                coder,
                found: row.as_ref().len(),
                expected: units,
            });
        }
    }
    let mut coincidences = vec![0.0_f64; k * k];
    let mut per_unit = vec![0_u64; k];
    let mut touched = Vec::with_capacity(coders.len());
    for unit in 0..units {
        touched.clear();
        let mut values = 0_u64;
        for (coder, row) in coders.iter().enumerate() {
            if let Some(label) = &row.as_ref()[unit] {
                let rater = format!("coder {coder}");
                let c = categories.lookup(label.as_ref(), &rater, unit as u64)?;
                if per_unit[c] == 0 {
                    touched.push(c);
                }
                per_unit[c] += 1;
                values += 1;
            }
        }
        if values >= 2 {
            #[expect(clippy::cast_precision_loss, reason = "small counts")]
            let weight = 1.0 / (values - 1) as f64;
            for &c in &touched {
                for &d in &touched {
                    let pairs = if c == d {
                        per_unit[c] * (per_unit[c] - 1)
                    } else {
                        per_unit[c] * per_unit[d]
                    };
                    #[expect(clippy::cast_precision_loss, reason = "small counts")]
                    let pairs = pairs as f64;
                    coincidences[c * k + d] += pairs * weight;
                }
            }
        }
        for &c in &touched {
            per_unit[c] = 0;
        }
    }
    alpha_from_coincidences(&coincidences, k, level).map_err(|reason| {
        let reason = match reason {
            Undefined::SingleLabel { .. } => {
                let label = single_category(&coincidences, k)
                    .and_then(|c| categories.label(c))
                    .unwrap_or_default()
                    .to_owned();
                Undefined::SingleLabel { label }
            }
            other => other,
        };
        reason.for_coefficient(NAME)
    })
}

fn single_category(coincidences: &[f64], k: usize) -> Option<usize> {
    (0..k).find(|&c| coincidences[c * k..(c + 1) * k].iter().sum::<f64>() > 0.0)
}

/// Alpha from a `k × k` coincidence matrix: 1 − (n − 1) Σ o·δ² / Σ nc·nk·δ².
///
/// Returns `SingleLabel` with an empty label when expected disagreement is zero; callers fill
/// in the label they know.
pub(crate) fn alpha_from_coincidences(coincidences: &[f64], k: usize, level: Level) -> Value {
    let margins: Vec<f64> = (0..k)
        .map(|c| coincidences[c * k..(c + 1) * k].iter().sum())
        .collect();
    let n: f64 = margins.iter().sum();
    if n < 2.0 {
        return Err(Undefined::NoItems);
    }
    // Prefix sums of the margins give the ordinal distance in O(1) per pair.
    let mut prefix = vec![0.0; k + 1];
    for c in 0..k {
        prefix[c + 1] = prefix[c] + margins[c];
    }
    let distance = |c: usize, d: usize| -> f64 {
        if c == d {
            return 0.0;
        }
        match level {
            Level::Nominal => 1.0,
            Level::Ordinal => {
                let (lo, hi) = (c.min(d), c.max(d));
                let between = prefix[hi + 1] - prefix[lo] - (margins[c] + margins[d]) / 2.0;
                between * between
            }
            #[expect(clippy::cast_precision_loss, reason = "category positions are small")]
            Level::Interval => {
                let gap = c.abs_diff(d) as f64;
                gap * gap
            }
        }
    };
    let mut observed = 0.0;
    let mut expected = 0.0;
    for c in 0..k {
        for d in 0..k {
            if c == d {
                continue;
            }
            let delta = distance(c, d);
            observed += coincidences[c * k + d] * delta;
            expected += margins[c] * margins[d] * delta;
        }
    }
    if expected == 0.0 {
        return Err(Undefined::SingleLabel {
            label: String::new(),
        });
    }
    Ok(1.0 - (n - 1.0) * observed / expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleiss_rejects_malformed_tables() {
        let cats = ["a", "b"];
        assert_eq!(
            fleiss_kappa(&cats, &[[2_u64, 1], [1, 1]]),
            Err(Error::UnequalRaters {
                subject: 1,
                found: 2,
                expected: 3
            })
        );
        assert_eq!(
            fleiss_kappa(&cats, &[[1_u64, 0]]),
            Err(Error::TooFewRatings { found: 1 })
        );
        assert_eq!(
            fleiss_kappa(&cats, &[&[1_u64, 1][..], &[2][..]]),
            Err(Error::TableShape {
                row: 1,
                found: 1,
                expected: 2
            })
        );
        assert_eq!(
            fleiss_kappa(&cats, &[[u64::MAX, 1]]),
            Err(Error::TooManyItems { max: MAX_ITEMS })
        );
        assert_eq!(
            fleiss_kappa(&cats, &[[MAX_ITEMS / 2, 1], [MAX_ITEMS / 2, 1]]),
            Err(Error::TooManyItems { max: MAX_ITEMS })
        );
        let none: [[u64; 2]; 0] = [];
        assert!(matches!(
            fleiss_kappa(&cats, &none),
            Err(Error::Undefined {
                reason: Undefined::NoItems,
                ..
            })
        ));
        let err = fleiss_kappa(&cats, &[[0_u64, 3], [0, 3]]).unwrap_err();
        assert_eq!(
            err,
            Error::Undefined {
                coefficient: "Fleiss' kappa",
                reason: Undefined::SingleLabel { label: "b".into() }
            }
        );
    }

    /// With two raters Fleiss' kappa is Scott's pi.
    #[test]
    fn fleiss_with_two_raters_is_scotts_pi() {
        let rows: [[u64; 3]; 6] = [
            [2, 0, 0],
            [1, 1, 0],
            [0, 2, 0],
            [0, 1, 1],
            [0, 0, 2],
            [1, 0, 1],
        ];
        let fleiss = fleiss_kappa(&["x", "y", "z"], &rows).unwrap();
        // The same items as a confusion matrix (A's label first).
        let table = crate::ConfusionMatrix::from_counts(
            Categories::new(["x", "y", "z"]).unwrap(),
            &[[1_u64, 1, 1], [0, 1, 1], [0, 0, 1]],
        )
        .unwrap();
        assert!((fleiss - table.scott_pi().unwrap()).abs() < 1e-15);
    }

    #[test]
    fn krippendorff_edge_cases() {
        let cats = ["a", "b"];
        let ragged = vec![vec![Some("a"), None], vec![Some("a")]];
        assert_eq!(
            krippendorff_alpha(&cats, Level::Nominal, &ragged),
            Err(Error::RaggedCoders {
                coder: 1,
                found: 1,
                expected: 2
            })
        );
        let unknown = vec![vec![Some("a"), Some("z")], vec![Some("a"), Some("b")]];
        let err = krippendorff_alpha(&cats, Level::Nominal, &unknown).unwrap_err();
        assert_eq!(
            err.to_string(),
            "coder 0 at index 1: `z` is not a declared category (expected one of: a, b)"
        );
        // No unit has two values.
        let lonely = vec![vec![Some("a"), None], vec![None, Some("b")]];
        assert!(matches!(
            krippendorff_alpha(&cats, Level::Nominal, &lonely),
            Err(Error::Undefined {
                reason: Undefined::NoItems,
                ..
            })
        ));
        let same = vec![vec![Some("b"), Some("b")], vec![Some("b"), None]];
        assert_eq!(
            krippendorff_alpha(&cats, Level::Ordinal, &same),
            Err(Error::Undefined {
                coefficient: "Krippendorff's alpha",
                reason: Undefined::SingleLabel { label: "b".into() }
            })
        );
        let no_coders: Vec<Vec<Option<&str>>> = Vec::new();
        assert!(krippendorff_alpha(&cats, Level::Nominal, &no_coders).is_err());
    }

    /// Two complete coders: the general routine and the confusion-matrix shortcut agree.
    #[test]
    fn krippendorff_two_coders_matches_the_table_route() {
        let a = ["0", "0", "1", "1", "2", "2", "2", "1", "0", "2"];
        let b = ["0", "1", "1", "1", "2", "1", "2", "2", "0", "2"];
        let cats = ["0", "1", "2"];
        let coders = vec![
            a.iter().map(|&v| Some(v)).collect::<Vec<_>>(),
            b.iter().map(|&v| Some(v)).collect::<Vec<_>>(),
        ];
        let table =
            crate::ConfusionMatrix::from_labels(Categories::new(cats).unwrap(), &a, &b).unwrap();
        for level in [Level::Nominal, Level::Ordinal, Level::Interval] {
            let general = krippendorff_alpha(&cats, level, &coders).unwrap();
            let shortcut = table.krippendorff_alpha(level).unwrap();
            assert!((general - shortcut).abs() < 1e-14, "{level:?}");
        }
    }
}
