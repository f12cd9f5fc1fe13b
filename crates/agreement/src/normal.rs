//! The standard normal quantile, for two-sided confidence intervals.

use crate::Error;
use crate::portable::ln;

/// The z value with `confidence` of the standard normal mass between `-z` and `z`
/// (1.959963984540054 for 0.95, as `scipy.stats.norm.ppf(0.975)` gives).
///
/// # Errors
/// [`Error::InvalidConfidence`] unless `0 < confidence < 1`.
pub fn z_for_confidence(confidence: f64) -> Result<f64, Error> {
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(Error::InvalidConfidence { value: confidence });
    }
    Ok(quantile(0.5 + confidence / 2.0))
}

/// Wichura's algorithm AS 241 (PPND16), relative error about 1e-16 over (0, 1).
#[expect(
    clippy::unreadable_literal,
    clippy::excessive_precision,
    reason = "published coefficients, kept as printed"
)]
fn quantile(p: f64) -> f64 {
    const A: [f64; 8] = [
        3.3871328727963666080e0,
        1.3314166789178437745e2,
        1.9715909503065514427e3,
        1.3731693765509461125e4,
        4.5921953931549871457e4,
        6.7265770927008700853e4,
        3.3430575583588128105e4,
        2.5090809287301226727e3,
    ];
    const B: [f64; 8] = [
        1.0,
        4.2313330701600911252e1,
        6.8718700749205790830e2,
        5.3941960214247511077e3,
        2.1213794301586595867e4,
        3.9307895800092710610e4,
        2.8729085735721942674e4,
        5.2264952788528545610e3,
    ];
    const C: [f64; 8] = [
        1.42343711074968357734e0,
        4.63033784615654529590e0,
        5.76949722146069140550e0,
        3.64784832476320460504e0,
        1.27045825245236838258e0,
        2.41780725177450611770e-1,
        2.27238449892691845833e-2,
        7.74545014278341407640e-4,
    ];
    const D: [f64; 8] = [
        1.0,
        2.05319162663775882187e0,
        1.67638483018380384940e0,
        6.89767334985100004550e-1,
        1.48103976427480074590e-1,
        1.51986665636164571966e-2,
        5.47593808499534494600e-4,
        1.05075007164441684324e-9,
    ];
    const E: [f64; 8] = [
        6.65790464350110377720e0,
        5.46378491116411436990e0,
        1.78482653991729133580e0,
        2.96560571828504891230e-1,
        2.65321895265761230930e-2,
        1.24266094738807843860e-3,
        2.71155556874348757815e-5,
        2.01033439929228813265e-7,
    ];
    const F: [f64; 8] = [
        1.0,
        5.99832206555887937690e-1,
        1.36929880922735805310e-1,
        1.48753612908506148525e-2,
        7.86869131145613259100e-4,
        1.84631831751005468180e-5,
        1.42151175831644588870e-7,
        2.04426310338993978564e-15,
    ];
    fn poly(coefficients: &[f64; 8], x: f64) -> f64 {
        coefficients.iter().rev().fold(0.0, |acc, c| acc * x + c)
    }

    let q = p - 0.5;
    if q.abs() <= 0.425 {
        let r = 0.180625 - q * q;
        return q * poly(&A, r) / poly(&B, r);
    }
    let tail = if q < 0.0 { p } else { 1.0 - p };
    let r = (-ln(tail)).sqrt();
    let x = if r <= 5.0 {
        let r = r - 1.6;
        poly(&C, r) / poly(&D, r)
    } else {
        let r = r - 5.0;
        poly(&E, r) / poly(&F, r)
    };
    if q < 0.0 { -x } else { x }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference values from `scipy.stats.norm.ppf` (SciPy 1.x, run once by hand).
    #[test]
    fn quantiles_match_scipy() {
        let cases = [
            (0.975, 1.959963984540054),
            (0.995, 2.5758293035489004),
            (0.9, 1.2815515655446004),
            (0.5, 0.0),
            (0.6, 0.2533471031357997),
            (1e-10, -6.361340902404056),
            (0.02425, -1.972961051311885),
            (0.3, -0.5244005127080409),
            (0.999999, 4.753424308817087),
        ];
        for (p, z) in cases {
            let ours = quantile(p);
            assert!(
                (ours - z).abs() <= 1e-14 * z.abs().max(1.0),
                "p={p}: {ours} vs {z}"
            );
        }
    }

    #[test]
    fn confidence_is_checked() {
        assert!((z_for_confidence(0.95).unwrap() - 1.959963984540054).abs() < 1e-15);
        for bad in [0.0, 1.0, -0.5, 95.0, f64::NAN] {
            assert!(matches!(
                z_for_confidence(bad),
                Err(Error::InvalidConfidence { .. })
            ));
        }
    }
}
