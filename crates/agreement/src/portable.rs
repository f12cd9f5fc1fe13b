//! Random draws that give the same numbers on every machine.
//!
//! A bootstrap interval printed in a report must be reproducible from its seed anywhere. The
//! generator (ChaCha) is portable by design, but the standard library's `ln` comes from the
//! platform's maths library and may differ in the last bit between systems, which could flip
//! an accept/reject decision in a binomial sampler. So everything here uses only IEEE
//! operations that are exactly specified (`+ - * /`, `sqrt`, `floor`) plus a logarithm built
//! from them.

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

/// The bootstrap's generator, seeded portably.
pub(crate) fn generator(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// A uniform draw in [0, 1) with 53 random bits.
pub(crate) fn uniform(rng: &mut impl Rng) -> f64 {
    const SCALE: f64 = 1.0 / (1u64 << 53) as f64;
    (rng.next_u64() >> 11) as f64 * SCALE
}

/// Natural logarithm from basic IEEE operations only (accurate to a few ulp).
///
/// `ln(0)` is negative infinity, which the binomial sampler's comparisons handle.
pub(crate) fn ln(x: f64) -> f64 {
    // ln 2 split so that exponent × LN2_HI is exact (fdlibm's constants).
    const LN2_HI: f64 = 0.693_147_180_369_123_8;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    const TWO_POW_54: f64 = 18_014_398_509_481_984.0;
    if x.is_nan() || x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 {
        return f64::NEG_INFINITY;
    }
    if x.is_infinite() {
        return x;
    }
    let (mut y, mut exponent) = (x, 0_i64);
    if y.to_bits() >> 52 == 0 {
        // Subnormal: scale into the normal range first.
        y *= TWO_POW_54;
        exponent -= 54;
    }
    let bits = y.to_bits();
    #[expect(clippy::cast_possible_wrap, reason = "an 11-bit field fits in i64")]
    let biased = ((bits >> 52) & 0x7ff) as i64;
    exponent += biased - 1023;
    let mut mantissa = f64::from_bits((bits & ((1_u64 << 52) - 1)) | (1023_u64 << 52));
    if mantissa > std::f64::consts::SQRT_2 {
        mantissa *= 0.5;
        exponent += 1;
    }
    // ln(m) = 2 atanh(s) with s = (m - 1)/(m + 1), |s| <= 0.1716: 11 odd terms reach 1e-17.
    let s = (mantissa - 1.0) / (mantissa + 1.0);
    let s2 = s * s;
    let mut term = s;
    let mut tail = 0.0;
    for k in 1..=12_u32 {
        term *= s2;
        tail += term / f64::from(2 * k + 1);
    }
    let sum = s + tail;
    #[expect(
        clippy::cast_precision_loss,
        reason = "binary exponents are below 2^11"
    )]
    let e = exponent as f64;
    e * LN2_HI + (2.0 * sum + e * LN2_LO)
}

/// `base^exp` by repeated squaring (basic operations only).
fn powu(base: f64, mut exp: u64) -> f64 {
    let mut result = 1.0;
    let mut square = base;
    while exp > 0 {
        if exp & 1 == 1 {
            result *= square;
        }
        square *= square;
        exp >>= 1;
    }
    result
}

/// A draw from Binomial(`n`, `p`).
///
/// Inversion for small means, otherwise the BTPE rejection sampler of Kachitvichyanukul and
/// Schmeiser (1988), both exact in distribution. Expected cost is constant in `n`.
pub(crate) fn binomial(rng: &mut impl Rng, n: u64, p: f64) -> u64 {
    if n == 0 || p <= 0.0 {
        return 0;
    }
    if p >= 1.0 {
        return n;
    }
    // Sample the rarer outcome and mirror, so the sampler only sees p <= 1/2.
    let flip = p > 0.5;
    let r = if flip { 1.0 - p } else { p };
    #[expect(clippy::cast_precision_loss, reason = "counts stay far below 2^53")]
    let mean = n as f64 * r;
    let draw = if mean < 30.0 {
        binomial_inversion(rng, n, r)
    } else {
        binomial_btpe(rng, n, r)
    };
    if flip { n - draw } else { draw }
}

/// Sequential search from 0; the mean is below 30, so few steps are needed.
#[expect(clippy::cast_precision_loss, reason = "counts stay far below 2^53")]
fn binomial_inversion(rng: &mut impl Rng, n: u64, p: f64) -> u64 {
    let q = 1.0 - p;
    let start = powu(q, n);
    let nf = n as f64;
    let mean = nf * p;
    // Restart beyond ten standard deviations: guards against an endless walk when rounding
    // leaves the cumulative mass a hair short of u.
    let bound_f = (mean + 10.0 * (mean * q + 1.0).sqrt()).floor();
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "bounded, non-negative"
    )]
    let bound = (bound_f as u64).min(n);
    loop {
        let mut x = 0_u64;
        let mut mass = start;
        let mut u = uniform(rng);
        loop {
            if u <= mass {
                return x;
            }
            x += 1;
            if x > bound {
                break;
            }
            u -= mass;
            let xf = x as f64;
            mass = ((nf - xf + 1.0) * p * mass) / (xf * q);
        }
    }
}

/// BTPE: triangle, parallelograms and exponential tails around the mode, with a squeeze and a
/// Stirling-series acceptance test. `p <= 1/2` and `n p >= 30` here.
#[expect(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::many_single_char_names,
    reason = "the algorithm's notation; values are bounded by n"
)]
fn binomial_btpe(rng: &mut impl Rng, n: u64, p: f64) -> u64 {
    let nf = n as f64;
    let q = 1.0 - p;
    let npq = nf * p * q;
    let f_mode = nf * p + p;
    let mode = f_mode.floor();
    let p1 = (2.195 * npq.sqrt() - 4.6 * q).floor() + 0.5;
    let x_mid = mode + 0.5;
    let x_left = x_mid - p1;
    let x_right = x_mid + p1;
    let c = 0.134 + 20.5 / (15.3 + mode);
    let a_left = (f_mode - x_left) / (f_mode - x_left * p);
    let lambda_left = a_left * (1.0 + 0.5 * a_left);
    let a_right = (x_right - f_mode) / (x_right * q);
    let lambda_right = a_right * (1.0 + 0.5 * a_right);
    let p2 = p1 * (1.0 + 2.0 * c);
    let p3 = p2 + c / lambda_left;
    let p4 = p3 + c / lambda_right;

    loop {
        let u = uniform(rng) * p4;
        let mut v = uniform(rng);
        let y: f64;
        if u <= p1 {
            // Triangle: accepted outright.
            return (x_mid - p1 * v + u).floor() as u64;
        } else if u <= p2 {
            // Parallelograms.
            let x = x_left + (u - p1) / c;
            v = v * c + 1.0 - (mode - x + 0.5).abs() / p1;
            if v > 1.0 {
                continue;
            }
            y = x.floor();
        } else if u <= p3 {
            // Left exponential tail.
            if v == 0.0 {
                continue;
            }
            y = (x_left + ln(v) / lambda_left).floor();
            if y < 0.0 {
                continue;
            }
            v *= (u - p2) * lambda_left;
        } else {
            // Right exponential tail.
            if v == 0.0 {
                continue;
            }
            y = (x_right - ln(v) / lambda_right).floor();
            if y > nf {
                continue;
            }
            v *= (u - p3) * lambda_right;
        }

        let k = (y - mode).abs();
        if k <= 20.0 || k >= npq / 2.0 - 1.0 {
            // Close to the mode: the pmf ratio f(y)/f(mode) by recursion.
            let s = p / q;
            let a = s * (nf + 1.0);
            let mut ratio = 1.0;
            if mode < y {
                let mut i = mode + 1.0;
                while i <= y {
                    ratio *= a / i - s;
                    i += 1.0;
                }
            } else if mode > y {
                let mut i = y + 1.0;
                while i <= mode {
                    ratio /= a / i - s;
                    i += 1.0;
                }
            }
            if v <= ratio {
                return y as u64;
            }
            continue;
        }

        // Far from the mode: squeeze on ln(v), then the Stirling-corrected bound.
        let rho = (k / npq) * ((k * (k / 3.0 + 0.625) + 1.0 / 6.0) / npq + 0.5);
        let t = -k * k / (2.0 * npq);
        let log_v = ln(v);
        if log_v < t - rho {
            return y as u64;
        }
        if log_v > t + rho {
            continue;
        }
        let x1 = y + 1.0;
        let f1 = mode + 1.0;
        let z = nf + 1.0 - mode;
        let w = nf - y + 1.0;
        let bound = x_mid * ln(f1 / x1)
            + (nf - mode + 0.5) * ln(z / w)
            + (y - mode) * ln(w * p / (x1 * q))
            + stirling_correction(f1)
            + stirling_correction(z)
            + stirling_correction(x1)
            + stirling_correction(w);
        if log_v <= bound {
            return y as u64;
        }
    }
}

/// The Stirling series remainder 1/(12x) - 1/(360x^3) + ... in nested form.
fn stirling_correction(x: f64) -> f64 {
    let x2 = x * x;
    (13860.0 - (462.0 - (132.0 - (99.0 - 140.0 / x2) / x2) / x2) / x2) / x / 166_320.0
}

/// Resamples `total` items with replacement from cells holding `counts` items each.
///
/// Drawing items with replacement and tallying their cells is a multinomial draw with cell
/// probabilities `count / total`; it is taken as a chain of binomials, each conditioned on
/// what earlier cells took, so no per-item memory is needed. `out` receives the new counts.
pub(crate) fn multinomial(rng: &mut impl Rng, counts: &[u64], total: u64, out: &mut [u64]) {
    debug_assert_eq!(counts.len(), out.len());
    let mut trials_left = total;
    let mut weight_left = total;
    for (count, slot) in counts.iter().zip(out.iter_mut()) {
        if trials_left == 0 || *count == 0 {
            *slot = 0;
            weight_left -= *count;
            continue;
        }
        let drawn = if *count >= weight_left {
            trials_left
        } else {
            #[expect(clippy::cast_precision_loss, reason = "counts stay far below 2^53")]
            let share = *count as f64 / weight_left as f64;
            binomial(rng, trials_left, share)
        };
        *slot = drawn;
        trials_left -= drawn;
        weight_left -= *count;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_matches_the_platform_closely() {
        let mut x = 1e-300_f64;
        while x < 1e300 {
            for y in [
                x,
                x * 1.234_567,
                x * 1.999_999,
                x * std::f64::consts::SQRT_2,
            ] {
                let ours = ln(y);
                let platform = y.ln();
                assert!(
                    (ours - platform).abs() <= 4.0 * f64::EPSILON * platform.abs().max(1.0),
                    "ln({y}) = {ours} vs {platform}"
                );
            }
            x *= 7.3;
        }
        assert_eq!(ln(1.0), 0.0);
        assert_eq!(ln(0.0), f64::NEG_INFINITY);
        assert!((ln(5e-324) - (5e-324_f64).ln()).abs() < 1e-12);
        assert!(ln(-1.0).is_nan());
    }

    #[test]
    fn powu_is_repeated_multiplication() {
        assert_eq!(powu(0.5, 10), 1.0 / 1024.0);
        assert_eq!(powu(3.0, 0), 1.0);
        assert!((powu(0.999, 1000) - 0.999_f64.powi(1000)).abs() < 1e-13);
    }

    /// Mean and variance of many draws stay within 5 standard errors of the theory, in both
    /// sampler branches and for p above 1/2 (mirrored).
    #[test]
    fn binomial_moments_match_theory() {
        let mut rng = generator(7);
        for (n, p) in [
            (20_u64, 0.1),
            (1000, 0.3),
            (1000, 0.9),
            (1_000_000, 0.4),
            (50, 0.5),
            (200, 0.05),
        ] {
            let draws = 20_000;
            let mut sum = 0.0;
            let mut sum_sq = 0.0;
            for _ in 0..draws {
                let x = binomial(&mut rng, n, p) as f64;
                assert!(x <= n as f64);
                sum += x;
                sum_sq += x * x;
            }
            let mean = sum / f64::from(draws);
            let var = sum_sq / f64::from(draws) - mean * mean;
            let (true_mean, true_var) = (n as f64 * p, n as f64 * p * (1.0 - p));
            let se_mean = (true_var / f64::from(draws)).sqrt();
            assert!(
                (mean - true_mean).abs() < 5.0 * se_mean,
                "n={n} p={p}: mean {mean} vs {true_mean}"
            );
            // The sample variance's SE is about var * sqrt(2 / draws) for near-normal data.
            let se_var = true_var * (2.0 / f64::from(draws)).sqrt();
            assert!(
                (var - true_var).abs() < 6.0 * se_var,
                "n={n} p={p}: var {var} vs {true_var}"
            );
        }
    }

    /// The whole distribution, not just two moments: a chi-square goodness-of-fit test against
    /// the exact pmf, for BTPE (means 40, 370 and 100 with a skewed p) and for inversion with
    /// a mirrored p.
    #[test]
    fn binomial_fits_the_exact_pmf() {
        for (seed, n, p) in [
            (11, 100_u64, 0.4),
            (12, 1000, 0.37),
            (13, 5000, 0.02),
            (14, 50, 0.7),
        ] {
            let draws = 40_000_u32;
            let mut rng = generator(seed);
            let size = usize::try_from(n).unwrap() + 1;
            let mut observed = vec![0_u32; size];
            for _ in 0..draws {
                observed[usize::try_from(binomial(&mut rng, n, p)).unwrap()] += 1;
            }
            // Exact pmf by the recursion f(k+1) = f(k) (n-k)/(k+1) p/q from f(0) = q^n.
            let mut pmf = vec![0.0_f64; size];
            pmf[0] = (1.0 - p).powf(n as f64);
            for k in 0..size - 1 {
                pmf[k + 1] = pmf[k] * (n as f64 - k as f64) / (k as f64 + 1.0) * (p / (1.0 - p));
            }
            // Bins of at least 10 expected draws (tails pooled into their neighbours).
            let expected: Vec<f64> = pmf.iter().map(|m| m * f64::from(draws)).collect();
            let (mut chi2, mut bins, mut exp_acc, mut obs_acc) = (0.0, 0_u32, 0.0, 0.0);
            for k in 0..size {
                exp_acc += expected[k];
                obs_acc += f64::from(observed[k]);
                let rest: f64 = expected[k + 1..].iter().sum();
                if exp_acc >= 10.0 && rest >= 10.0 || k == size - 1 {
                    chi2 += (obs_acc - exp_acc).powi(2) / exp_acc;
                    bins += 1;
                    exp_acc = 0.0;
                    obs_acc = 0.0;
                }
            }
            // Wilson–Hilferty: the 99.99th percentile of chi-square with df degrees of freedom.
            let df = f64::from(bins - 1);
            let z = 3.719;
            let limit = df * (1.0 - 2.0 / (9.0 * df) + z * (2.0 / (9.0 * df)).sqrt()).powi(3);
            assert!(bins > 10, "n={n} p={p}: {bins} bins");
            assert!(
                chi2 < limit,
                "n={n} p={p}: chi-square {chi2} over {bins} bins (limit {limit})"
            );
        }
    }

    #[test]
    fn binomial_edges() {
        let mut rng = generator(1);
        assert_eq!(binomial(&mut rng, 0, 0.3), 0);
        assert_eq!(binomial(&mut rng, 10, 0.0), 0);
        assert_eq!(binomial(&mut rng, 10, 1.0), 10);
        for _ in 0..100 {
            assert!(binomial(&mut rng, 3, 0.999) <= 3);
        }
    }

    #[test]
    fn multinomial_keeps_the_total_and_empty_cells() {
        let mut rng = generator(3);
        let counts = [20, 0, 5, 10, 0, 15];
        let mut out = [0; 6];
        let mut sums = [0_u64; 6];
        for _ in 0..2000 {
            multinomial(&mut rng, &counts, 50, &mut out);
            assert_eq!(out.iter().sum::<u64>(), 50);
            assert_eq!(out[1], 0);
            assert_eq!(out[4], 0);
            for (s, o) in sums.iter_mut().zip(out) {
                *s += o;
            }
        }
        // Each cell's mean share tracks its weight (within 5 standard errors).
        for (count, sum) in counts.iter().zip(sums) {
            let p = *count as f64 / 50.0;
            let mean = sum as f64 / 2000.0;
            let se = (50.0 * p * (1.0 - p) / 2000.0).sqrt();
            assert!(
                (mean - 50.0 * p).abs() <= 5.0 * se + 1e-12,
                "cell {count}: {mean}"
            );
        }
        multinomial(&mut rng, &[0, 0], 0, &mut out[..2]);
        assert_eq!(out[..2], [0, 0]);
    }

    /// The draws are a pure function of the seed: this sequence is what every machine must
    /// produce. If it changes, old reports' bootstrap intervals can no longer be reproduced.
    #[test]
    fn draws_are_fixed_by_the_seed() {
        let mut rng = generator(2024);
        let draws: Vec<u64> = (0..6)
            .map(|i| binomial(&mut rng, 1000 * (i + 1), 0.37))
            .collect();
        let mut again = generator(2024);
        let repeat: Vec<u64> = (0..6)
            .map(|i| binomial(&mut again, 1000 * (i + 1), 0.37))
            .collect();
        assert_eq!(draws, repeat);
        assert_eq!(draws, GOLDEN_DRAWS);
    }

    const GOLDEN_DRAWS: [u64; 6] = [347, 692, 1083, 1469, 1829, 2162];
}
