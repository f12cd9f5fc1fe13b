//! The statistics against SciPy / statsmodels reference values
//! (`fixtures/analysis/make_reference.py` → `fixtures/analysis/reference_values.json`), to 1e-9.

use analysis::stats::{CalibrationTally, Z95, benjamini_hochberg, fisher_exact, wilson};
use serde_json::Value;

fn reference() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/analysis/reference_values.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn close(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() <= 1e-9,
        "{what}: got {got:.17}, reference {want:.17}"
    );
}

#[test]
fn fisher_exact_matches_scipy() {
    let cases = reference()["fisher_exact_two_sided"]
        .as_array()
        .unwrap()
        .clone();
    assert!(cases.len() >= 50);
    for case in cases {
        let t = &case["table"];
        let n = |i: usize, j: usize| t[i][j].as_u64().unwrap();
        let got = fisher_exact(n(0, 0), n(0, 1), n(1, 0), n(1, 1));
        close(got, case["p_value"].as_f64().unwrap(), &t.to_string());
    }
}

#[test]
fn wilson_matches_statsmodels() {
    for case in reference()["wilson_95"].as_array().unwrap() {
        let [low, high] = wilson(
            case["successes"].as_u64().unwrap(),
            case["trials"].as_u64().unwrap(),
            Z95,
        )
        .unwrap();
        close(low, case["low"].as_f64().unwrap(), &case.to_string());
        close(high, case["high"].as_f64().unwrap(), &case.to_string());
    }
}

#[test]
fn benjamini_hochberg_matches_statsmodels() {
    for case in reference()["benjamini_hochberg"].as_array().unwrap() {
        let p: Vec<f64> = case["p_values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let q = benjamini_hochberg(&p);
        for (got, want) in q.iter().zip(case["q_values"].as_array().unwrap()) {
            close(*got, want.as_f64().unwrap(), "q-value");
        }
    }
}

#[test]
fn expected_calibration_error_matches_numpy() {
    for case in reference()["expected_calibration_error"]
        .as_array()
        .unwrap()
    {
        let mut tally = CalibrationTally::default();
        let conf = case["confidence"].as_array().unwrap();
        let correct = case["correct"].as_array().unwrap();
        for (c, r) in conf.iter().zip(correct) {
            tally.add(c.as_f64().unwrap(), r.as_bool().unwrap());
        }
        close(
            tally.finish().ece.unwrap(),
            case["ece"].as_f64().unwrap(),
            "ECE",
        );
    }
}
