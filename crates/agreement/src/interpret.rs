//! Landis & Koch (1977) verbal bands for kappa-like coefficients.

use std::fmt;

/// A verbal reading of a kappa value, after Landis & Koch (1977).
///
/// | kappa          | band                       |
/// |----------------|----------------------------|
/// | below 0        | `Poor (worse than chance)` |
/// | 0.00 to 0.20   | `Slight`                   |
/// | above 0.20 to 0.40 | `Fair`                 |
/// | above 0.40 to 0.60 | `Moderate`             |
/// | above 0.60 to 0.80 | `Substantial`          |
/// | above 0.80     | `Almost Perfect`           |
///
/// Each band includes its upper bound, so exactly 0.20 is `Slight` and exactly 0.80 is
/// `Substantial`, as the published table reads. The bands are conventions, not statistics;
/// weighted kappas and AC1 are not on the same scale as Cohen's kappa.
///
/// ```
/// use agreement::Interpretation;
///
/// assert_eq!(Interpretation::of(0.8234), Interpretation::AlmostPerfect);
/// assert_eq!(Interpretation::of(0.2).to_string(), "Slight");
/// assert_eq!(Interpretation::of(-0.05).as_str(), "Poor (worse than chance)");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Interpretation {
    /// Below 0.
    Poor,
    /// 0.00 to 0.20.
    Slight,
    /// Above 0.20 to 0.40.
    Fair,
    /// Above 0.40 to 0.60.
    Moderate,
    /// Above 0.60 to 0.80.
    Substantial,
    /// Above 0.80.
    AlmostPerfect,
}

impl Interpretation {
    /// Every band, lowest first, for printing a guide.
    pub const ALL: [Self; 6] = [
        Self::Poor,
        Self::Slight,
        Self::Fair,
        Self::Moderate,
        Self::Substantial,
        Self::AlmostPerfect,
    ];

    /// The band of a kappa value.
    ///
    /// Compares the floating-point value as given; Cohen's kappa from a confusion matrix is
    /// banded from its exact fraction instead (see [`crate::CohenKappa::interpretation`]), so
    /// a kappa of exactly 1/5 never lands in `Fair` through rounding.
    #[must_use]
    pub fn of(kappa: f64) -> Self {
        if kappa < 0.0 {
            Self::Poor
        } else if kappa <= 0.2 {
            Self::Slight
        } else if kappa <= 0.4 {
            Self::Fair
        } else if kappa <= 0.6 {
            Self::Moderate
        } else if kappa <= 0.8 {
            Self::Substantial
        } else {
            Self::AlmostPerfect
        }
    }

    /// The band of the fraction `numerator / denominator` (denominator > 0), decided exactly.
    pub(crate) fn of_fraction(numerator: i128, denominator: i128) -> Self {
        debug_assert!(denominator > 0);
        // kappa <= t/5  <=>  5 * numerator <= t * denominator
        let five = numerator.saturating_mul(5);
        if numerator < 0 {
            Self::Poor
        } else if five <= denominator {
            Self::Slight
        } else if five <= denominator.saturating_mul(2) {
            Self::Fair
        } else if five <= denominator.saturating_mul(3) {
            Self::Moderate
        } else if five <= denominator.saturating_mul(4) {
            Self::Substantial
        } else {
            Self::AlmostPerfect
        }
    }

    /// The band's label as printed in reports.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Poor => "Poor (worse than chance)",
            Self::Slight => "Slight",
            Self::Fair => "Fair",
            Self::Moderate => "Moderate",
            Self::Substantial => "Substantial",
            Self::AlmostPerfect => "Almost Perfect",
        }
    }

    /// The range of the band as printed in the guide (`< 0.00`, `0.00 - 0.20`, ...).
    #[must_use]
    pub fn range(self) -> &'static str {
        match self {
            Self::Poor => "< 0.00",
            Self::Slight => "0.00 - 0.20",
            Self::Fair => "0.21 - 0.40",
            Self::Moderate => "0.41 - 0.60",
            Self::Substantial => "0.61 - 0.80",
            Self::AlmostPerfect => "0.81 - 1.00",
        }
    }
}

impl fmt::Display for Interpretation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Interpretation {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_include_their_upper_bound() {
        let cases = [
            (-1.0, Interpretation::Poor),
            (-1e-12, Interpretation::Poor),
            (0.0, Interpretation::Slight),
            (0.2, Interpretation::Slight),
            (0.2000001, Interpretation::Fair),
            (0.4, Interpretation::Fair),
            (0.41, Interpretation::Moderate),
            (0.6, Interpretation::Moderate),
            (0.61, Interpretation::Substantial),
            (0.8, Interpretation::Substantial),
            (0.81, Interpretation::AlmostPerfect),
            (1.0, Interpretation::AlmostPerfect),
        ];
        for (kappa, band) in cases {
            assert_eq!(Interpretation::of(kappa), band, "kappa {kappa}");
        }
    }

    #[test]
    fn fractions_are_banded_exactly() {
        // 1/5, 2/5, 3/5 and 4/5 sit on the boundaries and belong to the lower band.
        for (t, band) in [
            (1, Interpretation::Slight),
            (2, Interpretation::Fair),
            (3, Interpretation::Moderate),
            (4, Interpretation::Substantial),
        ] {
            assert_eq!(Interpretation::of_fraction(t * 7, 35), band);
            assert_eq!(
                Interpretation::of_fraction(t * 7 + 1, 35),
                Interpretation::ALL[t as usize + 1]
            );
        }
        assert_eq!(Interpretation::of_fraction(-1, 19), Interpretation::Poor);
        assert_eq!(Interpretation::of_fraction(0, 19), Interpretation::Slight);
        assert_eq!(
            Interpretation::of_fraction(19, 19),
            Interpretation::AlmostPerfect
        );
    }

    #[test]
    fn labels_match_the_guide() {
        let labels: Vec<&str> = Interpretation::ALL.iter().map(|b| b.as_str()).collect();
        assert_eq!(
            labels,
            [
                "Poor (worse than chance)",
                "Slight",
                "Fair",
                "Moderate",
                "Substantial",
                "Almost Perfect"
            ]
        );
        assert_eq!(Interpretation::Fair.range(), "0.21 - 0.40");
    }
}
