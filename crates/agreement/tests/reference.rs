//! Published reference values, reproduced through the public API.
//!
//! The cases live in `fixtures/agreement/reference.json`, which says where each number comes
//! from: `printed` figures are the rounded values measured with scikit-learn, statsmodels,
//! krippendorff and irrCAC (checked at their printed precision), `exact` figures the same
//! quantities derived with exact rational arithmetic (checked to 1e-12).

use agreement::{
    AgreementAccumulator, AnalysisOptions, Categories, ConfusionMatrix, Level, Weights,
    fleiss_kappa, krippendorff_alpha,
};
use serde_json::Value as Json;

const EXACT_TOLERANCE: f64 = 1e-12;

fn fixture() -> Json {
    let text = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/agreement/reference.json"
    ));
    serde_json::from_str(text).expect("reference.json is valid JSON")
}

/// `"p/q"` or a decimal string, to the nearest f64.
fn parse_exact(text: &str) -> f64 {
    match text.split_once('/') {
        Some((p, q)) => p.parse::<f64>().unwrap() / q.parse::<f64>().unwrap(),
        None => text.parse().unwrap(),
    }
}

/// A rounded figure and half a unit in its last printed place.
fn parse_printed(text: &str) -> (f64, f64) {
    let decimals = text.split_once('.').map_or(0, |(_, frac)| frac.len());
    let half_unit = 0.5 * 10f64.powi(-i32::try_from(decimals).unwrap());
    (text.parse().unwrap(), half_unit)
}

fn strings(value: &Json) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

fn two_rater_table(case: &Json) -> ConfusionMatrix {
    let categories = Categories::new(strings(&case["categories"])).unwrap();
    if let Some(counts) = case.get("counts") {
        let rows: Vec<Vec<u64>> = serde_json::from_value(counts.clone()).unwrap();
        ConfusionMatrix::from_counts(categories, &rows).unwrap()
    } else {
        ConfusionMatrix::from_labels(categories, &strings(&case["a"]), &strings(&case["b"]))
            .unwrap()
    }
}

fn two_rater_metric(table: &ConfusionMatrix, name: &str) -> f64 {
    let kappa = table.cohen_kappa().unwrap();
    match name {
        "observed_agreement" => table.observed_agreement().unwrap(),
        "expected_agreement" => table.expected_agreement().unwrap(),
        "cohen_kappa" => kappa.kappa,
        "kappa_se" => kappa.std_error,
        "kappa_ci95_low" => kappa.ci95()[0],
        "kappa_ci95_high" => kappa.ci95()[1],
        "kappa_se_h0" => kappa.std_error_h0,
        "kappa_z" => kappa.z.unwrap(),
        "kappa_max" => kappa.kappa_max,
        "weighted_kappa_linear" => table.weighted_kappa(Weights::Linear).unwrap(),
        "weighted_kappa_quadratic" => table.weighted_kappa(Weights::Quadratic).unwrap(),
        "pabak" => table.pabak().unwrap(),
        "gwet_ac1" => table.gwet_ac1().unwrap(),
        "scott_pi" => table.scott_pi().unwrap(),
        "prevalence_index" => table.prevalence_index().unwrap(),
        "bias_index" => table.bias_index().unwrap(),
        "krippendorff_alpha_nominal" => table.krippendorff_alpha(Level::Nominal).unwrap(),
        other => panic!("the fixture names an unknown metric `{other}`"),
    }
}

/// Checks every `exact` and `printed` figure of a case with `compute`; returns how many.
fn check_case(case: &Json, compute: impl Fn(&str) -> f64) -> usize {
    let name = case["name"].as_str().unwrap();
    let mut checked = 0;
    for (metric, exact) in case["exact"].as_object().unwrap() {
        let ours = compute(metric);
        let exact = parse_exact(exact.as_str().unwrap());
        assert!(
            (ours - exact).abs() <= EXACT_TOLERANCE,
            "{name}: {metric} = {ours:.17}, exact {exact:.17}"
        );
        checked += 1;
    }
    for (metric, printed) in case["printed"].as_object().unwrap() {
        let ours = compute(metric);
        let (figure, half_unit) = parse_printed(printed.as_str().unwrap());
        assert!(
            (ours - figure).abs() <= half_unit + 1e-12,
            "{name}: {metric} = {ours:.6} does not round to the printed {figure}"
        );
        checked += 1;
    }
    checked
}

#[test]
fn two_rater_reference_values() {
    let fixture = fixture();
    let cases = fixture["two_rater"].as_array().unwrap();
    assert_eq!(cases.len(), 6);
    let mut checked = 0;
    for case in cases {
        let table = two_rater_table(case);
        checked += check_case(case, |metric| two_rater_metric(&table, metric));
    }
    assert!(checked > 90, "only {checked} figures checked");
}

/// The one-call functions and the streaming report give the same figures as the table.
#[test]
fn functions_and_report_agree_with_the_table() {
    let fixture = fixture();
    for case in fixture["two_rater"].as_array().unwrap() {
        let Some(a) = case.get("a") else { continue };
        let (a, b, categories) = (
            strings(a),
            strings(&case["b"]),
            strings(&case["categories"]),
        );
        let exact = |metric: &str| parse_exact(case["exact"][metric].as_str().unwrap());
        let close = |ours: f64, metric: &str| {
            assert!(
                (ours - exact(metric)).abs() <= EXACT_TOLERANCE,
                "{metric}: {ours}"
            );
        };
        close(
            agreement::cohen_kappa(&categories, &a, &b).unwrap(),
            "cohen_kappa",
        );
        close(
            agreement::weighted_kappa(&categories, &a, &b, Weights::Linear).unwrap(),
            "weighted_kappa_linear",
        );
        close(
            agreement::weighted_kappa(&categories, &a, &b, Weights::Quadratic).unwrap(),
            "weighted_kappa_quadratic",
        );
        close(agreement::pabak(&categories, &a, &b).unwrap(), "pabak");
        close(
            agreement::gwet_ac1(&categories, &a, &b).unwrap(),
            "gwet_ac1",
        );

        let mut field = AgreementAccumulator::new(Categories::new(categories.clone()).unwrap());
        for (a, b) in a.iter().zip(&b) {
            field.push(Some(a), Some(b)).unwrap();
        }
        let report = field.report(&AnalysisOptions {
            ordered: true,
            ..AnalysisOptions::default()
        });
        close(report.cohen_kappa.clone().unwrap(), "cohen_kappa");
        close(
            report.observed_agreement.clone().unwrap(),
            "observed_agreement",
        );
        close(
            report.expected_agreement.clone().unwrap(),
            "expected_agreement",
        );
        close(report.kappa_se.clone().unwrap(), "kappa_se");
        let [low, high] = report.kappa_ci95.clone().unwrap();
        close(low, "kappa_ci95_low");
        close(high, "kappa_ci95_high");
        close(report.kappa_se_h0.clone().unwrap(), "kappa_se_h0");
        close(report.kappa_z.clone().unwrap(), "kappa_z");
        close(report.kappa_max.clone().unwrap(), "kappa_max");
        close(
            report.weighted_kappa_linear.clone().unwrap(),
            "weighted_kappa_linear",
        );
        close(
            report.weighted_kappa_quadratic.clone().unwrap(),
            "weighted_kappa_quadratic",
        );
        close(report.pabak.clone().unwrap(), "pabak");
        close(report.gwet_ac1.clone().unwrap(), "gwet_ac1");
        close(
            report.krippendorff_alpha.clone().unwrap(),
            "krippendorff_alpha_nominal",
        );
    }
}

#[test]
fn fleiss_reference_value() {
    let fixture = fixture();
    for case in fixture["fleiss"].as_array().unwrap() {
        let counts: Vec<Vec<u64>> = serde_json::from_value(case["counts"].clone()).unwrap();
        let categories = strings(&case["categories"]);
        let kappa = fleiss_kappa(&categories, &counts).unwrap();
        assert_eq!(check_case(case, |_| kappa), 2);
    }
}

#[test]
fn krippendorff_reference_values() {
    let fixture = fixture();
    for case in fixture["krippendorff"].as_array().unwrap() {
        let categories = strings(&case["categories"]);
        let coders: Vec<Vec<Option<String>>> =
            serde_json::from_value(case["coders"].clone()).unwrap();
        let checked = check_case(case, |level| {
            let level = match level {
                "nominal" => Level::Nominal,
                "ordinal" => Level::Ordinal,
                "interval" => Level::Interval,
                other => panic!("unknown level `{other}`"),
            };
            krippendorff_alpha(&categories, level, &coders).unwrap()
        });
        assert_eq!(checked, 6);
    }
}

/// The kappa paradox in numbers: the same observed agreement (0.85) gives kappa 0.32 or
/// 0.70 depending on prevalence, which PABAK and the prevalence index make visible.
#[test]
fn paradox_tables_show_why_pabak_and_prevalence_are_reported() {
    let fixture = fixture();
    let cases = fixture["two_rater"].as_array().unwrap();
    let table = |name: &str| two_rater_table(cases.iter().find(|c| c["name"] == name).unwrap());
    let (skewed, balanced) = (
        table("paradox_dominant_category"),
        table("paradox_balanced_category"),
    );
    assert_eq!(skewed.observed_agreement(), balanced.observed_agreement());
    assert_eq!(skewed.pabak(), balanced.pabak());
    assert!(
        skewed.cohen_kappa().unwrap().kappa < 0.35 && balanced.cohen_kappa().unwrap().kappa > 0.69
    );
    assert!(
        skewed.prevalence_index().unwrap() > 0.7
            && balanced.prevalence_index().unwrap().abs() < 0.1
    );
}
