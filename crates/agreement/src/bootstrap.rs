//! Seeded, portable percentile bootstrap over items.

use crate::portable::{generator, multinomial};
use crate::ser;
use crate::{ConfusionMatrix, Error, Undefined, Value};

/// The seed used when the caller gives none.
pub const DEFAULT_SEED: u64 = 42;

/// The replicate count used when the caller gives none.
pub const DEFAULT_REPLICATES: u32 = 1000;

/// How to bootstrap: replicate count, seed and interval level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BootstrapOptions {
    /// Resamples to draw (1000 by default; 0 turns the bootstrap off).
    pub replicates: u32,
    /// The generator seed: the same seed gives the same interval on every machine.
    pub seed: u64,
    /// The interval's coverage, strictly between 0 and 1 (0.95 by default).
    pub confidence: f64,
}

impl Default for BootstrapOptions {
    fn default() -> Self {
        Self {
            replicates: DEFAULT_REPLICATES,
            seed: DEFAULT_SEED,
            confidence: 0.95,
        }
    }
}

/// A percentile bootstrap interval, with what is needed to reproduce and judge it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct BootstrapInterval {
    /// Always `"percentile"`.
    pub method: &'static str,
    /// The seed the replicates were drawn with.
    pub seed: u64,
    /// Replicates drawn.
    pub replicates: u32,
    /// The interval's coverage.
    pub confidence: f64,
    /// Replicates whose statistic was undefined (for kappa: resamples in which every item got
    /// one and the same label); they are dropped, not counted as 0 or 1.
    pub undefined_replicates: u32,
    /// `[low, high]` percentiles of the defined replicates.
    #[serde(serialize_with = "ser::interval")]
    pub interval: Result<[f64; 2], Undefined>,
    /// Standard deviation of the defined replicates.
    #[serde(serialize_with = "ser::value")]
    pub std_error: Value,
}

impl ConfusionMatrix {
    /// A percentile bootstrap interval for Cohen's kappa.
    ///
    /// ```
    /// use agreement::{BootstrapOptions, Categories, ConfusionMatrix};
    ///
    /// let table = ConfusionMatrix::from_counts(Categories::new(["yes", "no"])?, &[[20, 5], [10, 15]])?;
    /// let boot = table.bootstrap_kappa(&BootstrapOptions { seed: 7, ..BootstrapOptions::default() })?;
    /// let [low, high] = boot.interval?;
    /// assert!(low < 0.4 && 0.4 < high);
    /// // The same seed gives the same interval.
    /// let again = table.bootstrap_kappa(&BootstrapOptions { seed: 7, ..BootstrapOptions::default() })?;
    /// assert_eq!(again.interval?, [low, high]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidConfidence`] for a level outside (0, 1).
    pub fn bootstrap_kappa(&self, options: &BootstrapOptions) -> Result<BootstrapInterval, Error> {
        self.bootstrap(options, Self::kappa_value)
    }

    /// A percentile bootstrap interval for any statistic of the table.
    ///
    /// Each replicate resamples the table's items with replacement. Doing that item by item
    /// and tallying is the same as one multinomial draw of N over the cells with probabilities
    /// `count / N`, which is how it is done here: the cost per replicate depends on the
    /// number of non-empty cells, not on N, and no per-item data is kept. Draws use ChaCha20
    /// seeded from `options.seed` and arithmetic that is exact in IEEE 754, so an interval is
    /// reproducible from its seed on any machine.
    ///
    /// Replicates where `statistic` is undefined are counted in
    /// [`BootstrapInterval::undefined_replicates`] and left out of the percentiles. The
    /// percentiles interpolate linearly between order statistics (numpy's default).
    ///
    /// # Errors
    /// [`Error::InvalidConfidence`] for a level outside (0, 1).
    pub fn bootstrap<F>(
        &self,
        options: &BootstrapOptions,
        mut statistic: F,
    ) -> Result<BootstrapInterval, Error>
    where
        F: FnMut(&Self) -> Value,
    {
        let confidence = options.confidence;
        if !(confidence > 0.0 && confidence < 1.0) {
            return Err(Error::InvalidConfidence { value: confidence });
        }
        let mut result = BootstrapInterval {
            method: "percentile",
            seed: options.seed,
            replicates: options.replicates,
            confidence,
            undefined_replicates: 0,
            interval: Err(Undefined::NoReplicates),
            std_error: Err(Undefined::NoReplicates),
        };
        if self.total() == 0 {
            result.interval = Err(Undefined::NoItems);
            result.std_error = Err(Undefined::NoItems);
            return Ok(result);
        }
        if options.replicates == 0 {
            return Ok(result);
        }

        let occupied: Vec<usize> = (0..self.cells().len())
            .filter(|&c| self.cells()[c] > 0)
            .collect();
        let weights: Vec<u64> = occupied.iter().map(|&c| self.cells()[c]).collect();
        let mut drawn = vec![0_u64; occupied.len()];
        let mut replicate = Self::new(self.categories().clone());
        let mut rng = generator(options.seed);
        let mut values = Vec::with_capacity(options.replicates as usize);
        for _ in 0..options.replicates {
            multinomial(&mut rng, &weights, self.total(), &mut drawn);
            // Only occupied cells can receive items, so the rest of `replicate` stays zero.
            replicate.set_cells(&occupied, &drawn);
            match statistic(&replicate) {
                Ok(v) => values.push(v),
                Err(_) => result.undefined_replicates += 1,
            }
        }
        if values.is_empty() {
            let reason = Undefined::AllReplicatesUndefined {
                replicates: options.replicates,
            };
            result.interval = Err(reason.clone());
            result.std_error = Err(reason);
            return Ok(result);
        }
        values.sort_by(f64::total_cmp);
        let tail = (1.0 - confidence) / 2.0;
        result.interval = Ok([percentile(&values, tail), percentile(&values, 1.0 - tail)]);
        result.std_error = std_dev(&values);
        Ok(result)
    }
}

/// Type-7 quantile of sorted data: linear between the order statistics around (n − 1) p.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    #[expect(clippy::cast_precision_loss, reason = "replicate counts are small")]
    let h = (sorted.len() - 1) as f64 * p;
    let lower = h.floor();
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "0 <= h < len"
    )]
    let i = lower as usize;
    match sorted.get(i + 1) {
        Some(next) => sorted[i] + (h - lower) * (next - sorted[i]),
        None => sorted[i],
    }
}

#[expect(clippy::cast_precision_loss, reason = "replicate counts are small")]
fn std_dev(values: &[f64]) -> Value {
    if values.len() < 2 {
        return Ok(0.0);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let squares: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
    Ok((squares / (n - 1.0)).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Categories;
    use crate::portable::uniform;

    fn yes_no(rows: &[[u64; 2]; 2]) -> ConfusionMatrix {
        ConfusionMatrix::from_counts(Categories::new(["yes", "no"]).unwrap(), rows).unwrap()
    }

    #[test]
    fn percentiles_interpolate_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0, 10.0];
        // numpy.percentile(v, [0, 2.5, 50, 97.5, 100]) = [1.0, 1.1, 3.0, 9.4, 10.0]
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert!((percentile(&v, 0.025) - 1.1).abs() < 1e-12);
        assert_eq!(percentile(&v, 0.5), 3.0);
        assert!((percentile(&v, 0.975) - 9.4).abs() < 1e-12);
        assert_eq!(percentile(&v, 1.0), 10.0);
        assert_eq!(percentile(&[2.5], 0.975), 2.5);
    }

    #[test]
    fn same_seed_same_interval_other_seed_other_interval() {
        let t = yes_no(&[[20, 5], [10, 15]]);
        let opts = BootstrapOptions::default();
        let a = t.bootstrap_kappa(&opts).unwrap();
        let b = t.bootstrap_kappa(&opts).unwrap();
        assert_eq!(a, b);
        let c = t
            .bootstrap_kappa(&BootstrapOptions { seed: 43, ..opts })
            .unwrap();
        assert_ne!(a.interval, c.interval);
        assert_eq!(a.undefined_replicates, 0);
        let [lo, hi] = a.interval.unwrap();
        assert!(lo < 0.4 && hi > 0.4 && lo > -1.0 && hi <= 1.0);
    }

    /// Golden interval: what every machine must print for this table and seed. A change here
    /// means reports made before it can no longer be reproduced from their seed.
    #[test]
    fn interval_is_fixed_by_the_seed() {
        let t = yes_no(&[[20, 5], [10, 15]]);
        let boot = t.bootstrap_kappa(&BootstrapOptions::default()).unwrap();
        assert_eq!(boot.interval.unwrap(), GOLDEN_INTERVAL);
    }

    const GOLDEN_INTERVAL: [f64; 2] = [0.151_693_867_970_120_13, 0.64];

    /// The 20-item demo with only two split items: many resamples contain no split item and
    /// so only one label (kappa 0/0). They are counted and dropped.
    #[test]
    fn undefined_replicates_are_counted_and_dropped() {
        let t = yes_no(&[[18, 1], [1, 0]]);
        let boot = t.bootstrap_kappa(&BootstrapOptions::default()).unwrap();
        // P(no split item in 20 draws) = 0.9^20 ≈ 0.12, so about 120 of 1000.
        assert!(
            (60..200).contains(&boot.undefined_replicates),
            "{}",
            boot.undefined_replicates
        );
        let [lo, hi] = boot.interval.unwrap();
        assert!(lo.is_finite() && hi.is_finite() && lo <= hi);
    }

    #[test]
    fn degenerate_inputs_give_reasons_not_numbers() {
        let empty = yes_no(&[[0, 0], [0, 0]]);
        let boot = empty.bootstrap_kappa(&BootstrapOptions::default()).unwrap();
        assert_eq!(boot.interval, Err(Undefined::NoItems));

        let single = yes_no(&[[9, 0], [0, 0]]);
        let boot = single
            .bootstrap_kappa(&BootstrapOptions::default())
            .unwrap();
        assert_eq!(
            boot.interval,
            Err(Undefined::AllReplicatesUndefined { replicates: 1000 })
        );
        assert_eq!(boot.undefined_replicates, 1000);

        let off = yes_no(&[[5, 1], [1, 5]]);
        let boot = off
            .bootstrap_kappa(&BootstrapOptions {
                replicates: 0,
                ..BootstrapOptions::default()
            })
            .unwrap();
        assert_eq!(boot.interval, Err(Undefined::NoReplicates));

        assert!(matches!(
            off.bootstrap_kappa(&BootstrapOptions {
                confidence: 0.0,
                ..BootstrapOptions::default()
            }),
            Err(Error::InvalidConfidence { .. })
        ));
    }

    /// The multinomial shortcut and literal item resampling estimate the same distribution:
    /// with 4000 replicates each, their 2.5% and 97.5% percentiles agree within Monte Carlo
    /// error.
    #[test]
    fn multinomial_resampling_matches_item_resampling() {
        let t = yes_no(&[[20, 5], [10, 15]]);
        let opts = BootstrapOptions {
            replicates: 4000,
            seed: 5,
            confidence: 0.95,
        };
        let [lo, hi] = t.bootstrap_kappa(&opts).unwrap().interval.unwrap();

        let items: Vec<(usize, usize)> = (0..4)
            .flat_map(|cell| std::iter::repeat_n((cell / 2, cell % 2), t.cells()[cell] as usize))
            .collect();
        let mut rng = generator(99);
        let mut naive = Vec::new();
        for _ in 0..4000 {
            let mut r = ConfusionMatrix::new(t.categories().clone());
            for _ in 0..items.len() {
                #[expect(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "index"
                )]
                let pick = (uniform(&mut rng) * items.len() as f64) as usize;
                let (a, b) = items[pick];
                r.add_unchecked(a, b, 1);
            }
            if let Ok(k) = r.kappa_value() {
                naive.push(k);
            }
        }
        naive.sort_by(f64::total_cmp);
        let (nlo, nhi) = (percentile(&naive, 0.025), percentile(&naive, 0.975));
        assert!((lo - nlo).abs() < 0.04, "low {lo} vs {nlo}");
        assert!((hi - nhi).abs() < 0.04, "high {hi} vs {nhi}");
    }
}
