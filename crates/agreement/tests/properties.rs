//! Properties every two-rater coefficient must have, checked on seeded random label sets.
//!
//! A small ChaCha-based generator stands in for a property-testing framework: each case is
//! reproducible from its printed seed.

use agreement::{
    AgreementAccumulator, AnalysisOptions, Categories, ConfusionMatrix, Level, Undefined, Weights,
};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

const CASES: u64 = 300;

struct Case {
    seed: u64,
    labels: Vec<String>,
    a: Vec<String>,
    b: Vec<String>,
}

fn below(rng: &mut ChaCha8Rng, n: usize) -> usize {
    usize::try_from(rng.next_u64() % n as u64).unwrap()
}

/// 2–6 categories, 1–120 items, raters that agree with a random bias towards agreement.
fn case(seed: u64) -> Case {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let k = 2 + below(&mut rng, 5);
    let labels: Vec<String> = (0..k).map(|i| format!("L{i}")).collect();
    let n = 1 + below(&mut rng, 120);
    let agree_percent = below(&mut rng, 101);
    let mut a = Vec::with_capacity(n);
    let mut b = Vec::with_capacity(n);
    for _ in 0..n {
        // Skewed prevalence: lower categories are likelier.
        let x = below(&mut rng, k).min(below(&mut rng, k));
        let y = if below(&mut rng, 100) < agree_percent {
            x
        } else {
            below(&mut rng, k)
        };
        a.push(labels[x].clone());
        b.push(labels[y].clone());
    }
    Case { seed, labels, a, b }
}

fn table(labels: &[String], a: &[String], b: &[String]) -> ConfusionMatrix {
    ConfusionMatrix::from_labels(Categories::new(labels.to_vec()).unwrap(), a, b).unwrap()
}

/// Every chance-corrected coefficient of a table, as `Result`s (undefined ones included).
fn coefficients(t: &ConfusionMatrix) -> Vec<(&'static str, Result<f64, Undefined>)> {
    let kappa = t.cohen_kappa();
    vec![
        (
            "kappa",
            kappa.as_ref().map(|k| k.kappa).map_err(Clone::clone),
        ),
        (
            "se",
            kappa.as_ref().map(|k| k.std_error).map_err(Clone::clone),
        ),
        (
            "kappa_max",
            kappa.as_ref().map(|k| k.kappa_max).map_err(Clone::clone),
        ),
        ("po", t.observed_agreement()),
        ("pabak", t.pabak()),
        ("ac1", t.gwet_ac1()),
        ("pi", t.scott_pi()),
        ("alpha", t.krippendorff_alpha(Level::Nominal)),
    ]
}

fn assert_same(
    left: &[(&str, Result<f64, Undefined>)],
    right: &[(&str, Result<f64, Undefined>)],
    seed: u64,
    what: &str,
) {
    for ((name, l), (_, r)) in left.iter().zip(right) {
        match (l, r) {
            (Ok(l), Ok(r)) => assert!(
                (l - r).abs() <= 1e-12,
                "seed {seed} {what}: {name} {l} vs {r}"
            ),
            (Err(l), Err(r)) => assert_eq!(l.code(), r.code(), "seed {seed} {what}: {name}"),
            _ => panic!("seed {seed} {what}: {name} is {l:?} one way and {r:?} the other"),
        }
    }
}

#[test]
fn kappa_is_symmetric_in_the_two_raters() {
    for seed in 0..CASES {
        let c = case(seed);
        let ab = table(&c.labels, &c.a, &c.b);
        let ba = table(&c.labels, &c.b, &c.a);
        assert_same(
            &coefficients(&ab),
            &coefficients(&ba),
            c.seed,
            "swapped raters",
        );
        for weights in [Weights::Linear, Weights::Quadratic] {
            assert_eq!(
                ab.weighted_kappa(weights),
                ba.weighted_kappa(weights),
                "seed {seed}"
            );
        }
        // Bias swaps sign with the raters; prevalence does not change.
        if c.labels.len() == 2 {
            assert_eq!(ab.bias_index().map(|x| -x), ba.bias_index(), "seed {seed}");
            assert_eq!(ab.prevalence_index(), ba.prevalence_index(), "seed {seed}");
        }
    }
}

#[test]
fn kappa_is_one_for_identical_non_degenerate_labels() {
    let mut tested = 0;
    for seed in 0..CASES {
        let c = case(seed);
        let t = table(&c.labels, &c.a, &c.a);
        match t.cohen_kappa() {
            Ok(k) => {
                assert_eq!(k.kappa, 1.0, "seed {seed}");
                assert_eq!(k.kappa_max, 1.0, "seed {seed}");
                assert_eq!(t.weighted_kappa(Weights::Quadratic), Ok(1.0), "seed {seed}");
                assert!((t.krippendorff_alpha(Level::Ordinal).unwrap() - 1.0).abs() < 1e-15);
                assert_eq!(t.gwet_ac1(), Ok(1.0), "seed {seed}");
                tested += 1;
            }
            // Identical labels are degenerate exactly when they are all one label.
            Err(Undefined::SingleLabel { label }) => {
                assert!(c.a.iter().all(|x| *x == label), "seed {seed}");
            }
            Err(other) => panic!("seed {seed}: {other}"),
        }
    }
    assert!(
        tested > CASES as usize / 2,
        "only {tested} non-degenerate cases"
    );
}

#[test]
fn kappa_is_invariant_to_relabelling() {
    for seed in 0..CASES {
        let c = case(seed);
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
        // A random permutation of the category names, applied to both raters and to the
        // declared list (so positions, and therefore weights, follow the labels).
        let mut renamed: Vec<String> = c.labels.iter().map(|l| format!("renamed-{l}")).collect();
        for i in (1..renamed.len()).rev() {
            renamed.swap(i, below(&mut rng, i + 1));
        }
        let rename = |x: &String| renamed[c.labels.iter().position(|l| l == x).unwrap()].clone();
        let a2: Vec<String> = c.a.iter().map(rename).collect();
        let b2: Vec<String> = c.b.iter().map(rename).collect();
        let original = table(&c.labels, &c.a, &c.b);
        let relabelled = table(&renamed, &a2, &b2);
        assert_same(
            &coefficients(&original),
            &coefficients(&relabelled),
            seed,
            "relabelled",
        );

        // Unweighted coefficients do not depend on the declared order either.
        let mut reordered = c.labels.clone();
        for i in (1..reordered.len()).rev() {
            reordered.swap(i, below(&mut rng, i + 1));
        }
        let reordered = table(&reordered, &c.a, &c.b);
        assert_same(
            &coefficients(&original),
            &coefficients(&reordered),
            seed,
            "reordered categories",
        );
    }
}

#[test]
fn kappa_is_invariant_to_row_order() {
    for seed in 0..CASES {
        let c = case(seed);
        let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_mul(31));
        let mut order: Vec<usize> = (0..c.a.len()).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, below(&mut rng, i + 1));
        }
        let a2: Vec<String> = order.iter().map(|&i| c.a[i].clone()).collect();
        let b2: Vec<String> = order.iter().map(|&i| c.b[i].clone()).collect();
        // A short bootstrap keeps the debug-build test fast; equality does not need more.
        let options = AnalysisOptions {
            ordered: true,
            bootstrap_replicates: 50,
            ..AnalysisOptions::default()
        };
        let report = |a: &[String], b: &[String]| {
            let mut acc = AgreementAccumulator::new(Categories::new(c.labels.clone()).unwrap());
            for (x, y) in a.iter().zip(b) {
                acc.push(Some(x), Some(y)).unwrap();
            }
            acc.report(&options)
        };
        // Same counts, so the whole report, bootstrap included, is identical.
        assert_eq!(report(&c.a, &c.b), report(&a2, &b2), "seed {seed}");
    }
}

/// Whatever the input, no statistic is NaN or infinite, kappa stays in [-1, 1] below its
/// maximum, and the Wald interval contains kappa.
#[test]
fn values_are_finite_and_in_range() {
    for seed in 0..CASES {
        let c = case(seed);
        let t = table(&c.labels, &c.a, &c.b);
        for (name, value) in coefficients(&t) {
            if let Ok(v) = value {
                assert!(v.is_finite(), "seed {seed}: {name} = {v}");
            }
        }
        if let Ok(k) = t.cohen_kappa() {
            assert!(
                (-1.0..=1.0).contains(&k.kappa),
                "seed {seed}: kappa {}",
                k.kappa
            );
            assert!(k.kappa <= k.kappa_max + 1e-12, "seed {seed}");
            let [lo, hi] = k.ci95();
            assert!(lo <= k.kappa && k.kappa <= hi, "seed {seed}");
        }
        let mut acc = AgreementAccumulator::new(Categories::new(c.labels.clone()).unwrap());
        for (x, y) in c.a.iter().zip(&c.b) {
            acc.push_with_llm(Some(x), Some(y), Some(x)).unwrap();
        }
        let options = AnalysisOptions {
            bootstrap_replicates: 50,
            ..AnalysisOptions::default()
        };
        let json = serde_json::to_value(acc.report(&options)).unwrap();
        let mut stack = vec![&json];
        while let Some(value) = stack.pop() {
            match value {
                serde_json::Value::Number(n) => {
                    assert!(n.as_f64().unwrap().is_finite(), "seed {seed}");
                }
                serde_json::Value::Array(items) => stack.extend(items),
                serde_json::Value::Object(map) => stack.extend(map.values()),
                _ => {}
            }
        }
    }
}
