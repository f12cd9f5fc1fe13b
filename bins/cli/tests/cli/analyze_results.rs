//! `analyze-results`: errors, patterns and all, on the registry fixture, on a generated m02 run
//! with known wrong rows, and on the earlier tool's results CSV.

use std::collections::BTreeSet;
use std::path::Path;

use core_config::{Catalog, ResultRow};
use serde_json::{Value, json};

use crate::support::{Run, TestProject, filters, repo_root};

const BIN: &str = "analyze-results";
const M14_B: &str = "exp_20260116_141203_m14";

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A project holding the registry fixture (fixtures/registry/README.md).
fn project() -> TestProject {
    let project = TestProject::new();
    copy_dir(
        &repo_root().join("fixtures/registry/project/experiment_results"),
        &project.path("experiment_results"),
    );
    project
}

fn snapshot(name: &str, project: &TestProject, run: &Run) {
    let filters: Vec<(String, String)> = filters(project)
        .into_iter()
        .filter(|(_, to)| to == "[ROOT]")
        .collect();
    let filters: Vec<(&str, &str)> = filters
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    insta::with_settings!({ filters => filters, prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!(name, run.transcript());
    });
}

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}\n{stdout}"))
}

const M02_CSV: &str =
    "experiment_results/M02_ClassifyOwnBrandKeywords/M02_ClassifyOwnBrandKeywords_v1_test.csv";

/// An m02 run over the first 60 dataset records: keywords with a digit are answered wrong
/// (a planted pattern), every 20th row errored, one keyword is a formula.
fn m02_run(project: &TestProject) -> Vec<ResultRow> {
    write_run(
        project,
        "m02",
        "datasets/single/m02_v1_classify_own_brand_keywords.jsonl",
        M02_CSV,
        60,
        &|i, keyword| (keyword.chars().any(|c| c.is_ascii_digit()), i % 20 == 19),
        &|i, keyword| {
            if i == 3 {
                "=HYPERLINK(\"http://x\")".to_owned()
            } else {
                keyword
            }
        },
    )
}

type Decide<'a> = &'a dyn Fn(usize, &str) -> (bool, bool);
type Rewrite<'a> = &'a dyn Fn(usize, String) -> String;

/// A run of a binary module: `decide(i, keyword)` says (wrong, errored) per row.
fn write_run(
    project: &TestProject,
    module: &str,
    dataset: &str,
    csv: &str,
    take: usize,
    decide: Decide<'_>,
    rewrite: Rewrite<'_>,
) -> Vec<ResultRow> {
    let catalog = Catalog::load(&project.path("modules.toml")).unwrap();
    let module = catalog.resolve(module).unwrap();
    let field = module.primary_score();
    let key = field.output.clone();
    let labels = field.labels.clone().unwrap();
    let positive = labels.positive().unwrap().to_owned();
    let records = core_config::read_records(&project.path(dataset)).unwrap();
    let mut rows = Vec::new();
    for (i, record) in records.into_iter().take(take).enumerate() {
        let keyword = rewrite(i, record.input_text("keyword"));
        let expected = record
            .expected
            .get(&field.expected)
            .cloned()
            .unwrap_or(Value::Null);
        let (wrong, errored) = decide(i, &keyword);
        let answer = if !wrong {
            expected.clone()
        } else if expected.is_null() {
            json!(positive)
        } else {
            Value::Null
        };
        let mut input = Value::Object(record.input.clone());
        input["keyword"] = json!(keyword);
        rows.push(ResultRow {
            record_id: record.id.clone(),
            input,
            output: if errored {
                json!({"error": "timed out", "error_type": "timeout"})
            } else {
                json!({key.clone(): answer, "confidence": if wrong { 0.55 } else { 0.95 }, "reasoning": "because"})
            },
            expected: Value::Object(record.expected.clone()),
            asin: record.metadata.get("asin").and_then(Value::as_str).unwrap_or_default().to_owned(),
            brand: record.metadata.get("brand_name").and_then(Value::as_str).unwrap_or_default().to_owned(),
            keyword,
            reasoning: "because".to_owned(),
            metrics: json!({}),
            metadata: Value::Object(record.metadata.clone()),
            correct: if errored { None } else { Some(!wrong) },
            error: if errored { "timeout: timed out".to_owned() } else { String::new() },
            extra: Default::default(),
        });
    }
    core_config::results::write_results(&project.path(csv), module, &rows).unwrap();
    rows
}

fn analysis_files(project: &TestProject) -> Vec<String> {
    let mut out = Vec::new();
    let dir = project.path("analysis");
    if !dir.exists() {
        return out;
    }
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            for file in std::fs::read_dir(entry.path()).unwrap() {
                out.push(file.unwrap().file_name().to_string_lossy().into_owned());
            }
        } else {
            out.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    out.sort();
    out
}

#[test]
fn errors_of_a_registered_run() {
    let project = project();
    let run = project.run(BIN, &["errors", M14_B]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot("analyze_results_errors", &project, &run);

    // Every file is new: the second run's files get `_2` and the first ones stay as they were.
    let first = std::fs::read(
        project.path("analysis/M14_PrimaryUseCheckSameType/exp_20260116_141203_m14_errors.csv"),
    )
    .unwrap();
    let run = project.run(BIN, &["errors", M14_B, "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = json(&run.stdout);
    for key in [
        "run",
        "module",
        "rows",
        "scored",
        "errored",
        "accuracy",
        "accuracy_ci95",
        "mcc",
        "labels",
        "confusion_matrix",
        "per_label",
        "errors_file",
        "error_count",
    ] {
        assert!(out.get(key).is_some(), "missing {key}: {out}");
    }
    assert_eq!(out["labels"], json!(["R", "N"]));
    assert_eq!(out["confusion_matrix"], json!([[14, 2], [1, 6]]));
    assert_eq!(
        (
            out["rows"].as_u64(),
            out["scored"].as_u64(),
            out["errored"].as_u64()
        ),
        (Some(24), Some(23), Some(1))
    );
    assert_eq!(out["error_count"], 3);
    assert_eq!(out["per_label"]["R"]["support"], 16);
    assert_eq!(
        out["binary"],
        json!({"positive": "R", "tp": 14, "tn": 6, "fp": 1, "fn": 2})
    );
    // MCC by hand: (14·6 − 1·2) / sqrt(15 · 16 · 7 · 8)
    let mcc = (14.0 * 6.0 - 2.0) / (15.0f64 * 16.0 * 7.0 * 8.0).sqrt();
    assert!((out["mcc"].as_f64().unwrap() - mcc).abs() < 1e-12);
    assert_eq!(
        out["errors_file"],
        "analysis/M14_PrimaryUseCheckSameType/exp_20260116_141203_m14_2_errors.csv"
    );
    assert_eq!(
        std::fs::read(
            project.path("analysis/M14_PrimaryUseCheckSameType/exp_20260116_141203_m14_errors.csv")
        )
        .unwrap(),
        first
    );
}

#[test]
fn the_errors_file_holds_exactly_the_wrong_rows_escaped() {
    let project = project();
    let rows = m02_run(&project);
    let run = project.run(BIN, &["errors", M02_CSV, "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = json(&run.stdout);
    let wrong: BTreeSet<&str> = rows
        .iter()
        .filter(|r| r.correct == Some(false))
        .map(|r| r.record_id.as_str())
        .collect();
    let errored: BTreeSet<&str> = rows
        .iter()
        .filter(|r| !r.error.is_empty())
        .map(|r| r.record_id.as_str())
        .collect();
    assert!(wrong.len() >= 5 && errored.len() == 3, "{wrong:?}");
    assert_eq!(out["error_count"].as_u64(), Some(wrong.len() as u64));
    assert_eq!(out["errored"].as_u64(), Some(3));
    let text = std::fs::read_to_string(project.path(out["errors_file"].as_str().unwrap())).unwrap();
    let mut reader = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let mut in_file_wrong = BTreeSet::new();
    let mut in_file_errored = BTreeSet::new();
    let mut ids = Vec::new();
    for record in reader.records() {
        let record = record.unwrap();
        ids.push(record[0].to_owned());
        match &record[7] {
            "errored" => in_file_errored.insert(record[0].to_owned()),
            "FP" | "FN" | "mismatch" => in_file_wrong.insert(record[0].to_owned()),
            other => panic!("unknown kind {other}"),
        };
        assert!(
            !record[2].starts_with('='),
            "formula not escaped: {}",
            &record[2]
        );
    }
    let as_owned = |s: &BTreeSet<&str>| s.iter().map(|x| (*x).to_owned()).collect::<BTreeSet<_>>();
    assert_eq!(in_file_wrong, as_owned(&wrong));
    assert_eq!(in_file_errored, as_owned(&errored));
    assert_eq!(ids.len(), wrong.len() + errored.len(), "no row twice");
}

#[test]
fn patterns_find_the_planted_slice() {
    let project = project();
    m02_run(&project);
    let run = project.run(BIN, &["patterns", M02_CSV, "--top", "6"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot("analyze_results_patterns", &project, &run);
    let run = project.run(BIN, &["patterns", M02_CSV, "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = json(&run.stdout);
    let slices = out["slices"].as_array().unwrap();
    let digits = slices
        .iter()
        .find(|s| s["feature"] == "has_digits_or_units" && s["value"] == "yes")
        .unwrap();
    assert!(digits["q_value"].as_f64().unwrap() < 0.01, "{digits}");
    // Sorted by q-value.
    let q: Vec<f64> = slices
        .iter()
        .map(|s| s["q_value"].as_f64().unwrap())
        .collect();
    assert!(q.windows(2).all(|w| w[0] <= w[1]));
    for s in slices {
        for key in [
            "feature",
            "value",
            "rows",
            "errors",
            "error_rate",
            "lift",
            "p_value",
            "q_value",
        ] {
            assert!(s.get(key).is_some(), "{key} missing in {s}");
        }
        if s["feature"] == "word" || s["feature"] == "word_pair" {
            assert!(s["rows"].as_u64().unwrap() >= 5);
        }
    }
    // Confidence 0.55 is always wrong and 0.95 always right: ECE = (n1·0.55 + n2·0.05) / n.
    let calibration = &out["calibration"];
    let n = calibration["rows"].as_f64().unwrap();
    let wrong = out["errors"].as_f64().unwrap();
    let ece = (wrong * 0.55 + (n - wrong) * 0.05) / n;
    assert!((calibration["ece"].as_f64().unwrap() - ece).abs() < 1e-9);
}

#[test]
fn an_earlier_tool_file_is_rescored() {
    let project = project();
    let path = "experiment_results/M12_HardConstraintViolationCheck/M12_HardConstraintViolationCheck_v1_old.csv";
    std::fs::copy(
        repo_root().join("fixtures/results/M12_HardConstraintViolationCheck_v1_160126_1.csv"),
        project.path(path),
    )
    .unwrap();
    let run = project.run(BIN, &["errors", path]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot("analyze_results_errors_earlier_tool", &project, &run);
    let out = json(&project.run(BIN, &["errors", path, "--json"]).stdout);
    assert_eq!(out["rescored"], true);
    // The third row's output is not JSON: errored, not wrong.
    assert_eq!(out["errored_by_kind"], json!({"invalid_json": 1}));
}

#[test]
fn bad_input_exits_2_and_writes_nothing() {
    let project = project();
    project.write(
        "experiment_results/M12_HardConstraintViolationCheck/M12_bad_missing_output.csv",
        std::fs::read(repo_root().join("fixtures/bad/M12_results_missing_output_column.csv"))
            .unwrap(),
    );
    project.write(
        "experiment_results/M12_HardConstraintViolationCheck/M12_bad_truncated.csv",
        std::fs::read(repo_root().join("fixtures/bad/M12_results_truncated.csv")).unwrap(),
    );
    let mut transcript = String::new();
    for args in [
        &["errors", "exp_20260116_141203_m41"][..],
        &["errors", "m02"],
        &["patterns", "m13"],
        &[
            "errors",
            "experiment_results/M12_HardConstraintViolationCheck/M12_bad_missing_output.csv",
        ],
        &[
            "errors",
            "experiment_results/M12_HardConstraintViolationCheck/M12_bad_truncated.csv",
        ],
        &["patterns", "no/such.csv"],
    ] {
        let run = project.run(BIN, args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stdout);
        assert!(run.stdout.is_empty());
        transcript.push_str(&format!("$ {}\n{}", args.join(" "), run.stderr));
    }
    assert_eq!(analysis_files(&project), Vec::<String>::new());
    let run = Run {
        code: 2,
        stdout: String::new(),
        stderr: transcript,
    };
    snapshot("analyze_results_bad_input", &project, &run);
}

#[test]
fn all_analyses_every_module_with_runs() {
    let project = project();
    let run = project.run(BIN, &["all", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = json(&run.stdout);
    let modules: Vec<&str> = out["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["errors"]["module"].as_str().unwrap())
        .collect();
    assert_eq!(modules, ["m12", "m14"]);
    assert_eq!(analysis_files(&project).len(), 6);
}

#[test]
fn paths_join_on_asin_and_keyword_and_test_correctness() {
    let project = project();
    let b_csv = "experiment_results/M02B_ClassifyOwnBrandKeywords_PathB/M02B_test.csv";
    let a = write_run(
        &project,
        "m02",
        "datasets/single/m02_v1_classify_own_brand_keywords.jsonl",
        M02_CSV,
        120,
        &|i, _| (i % 5 == 0, false),
        &|_, k| k,
    );
    // Path B writes its keywords in upper case: the join normalises them.
    let b = write_run(
        &project,
        "m02b",
        "datasets/single/m02b_v1_classify_own_brand_keywords.jsonl",
        b_csv,
        120,
        &|i, _| (i % 7 == 0, i == 1),
        &|_, k| k.to_uppercase(),
    );
    let run = project.run(BIN, &["paths", M02_CSV, b_csv]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot("analyze_results_paths", &project, &run);
    let run = project.run(BIN, &["paths", M02_CSV, b_csv, "--json"]);
    let out = json(&run.stdout);
    for key in [
        "path_a",
        "path_b",
        "joined",
        "only_a",
        "only_b",
        "kappa",
        "kappa_ci95",
        "accuracy_a",
        "accuracy_b",
        "mcnemar_p",
        "disagreements_file",
    ] {
        assert!(out.get(key).is_some(), "missing {key}");
    }
    assert_eq!(out["joined"], 119, "one B row errored");
    assert_eq!(
        (out["only_a"].as_u64(), out["only_b"].as_u64()),
        (Some(1), Some(0))
    );
    // Correctness by (asin, lower-case keyword), independently of the code under test.
    let key = |r: &ResultRow| (r.asin.clone(), r.keyword.to_lowercase());
    let right_b: std::collections::HashMap<_, _> = b
        .iter()
        .filter(|r| r.correct.is_some())
        .map(|r| (key(r), r.correct.unwrap()))
        .collect();
    let (mut ab, mut ba, mut right_a) = (0u64, 0u64, 0u64);
    for r in &a {
        if let Some(&rb) = right_b.get(&key(r)) {
            let ra = r.correct.unwrap();
            right_a += u64::from(ra);
            ab += u64::from(ra && !rb);
            ba += u64::from(!ra && rb);
        }
    }
    assert_eq!(out["right_a_wrong_b"].as_u64(), Some(ab));
    assert_eq!(out["wrong_a_right_b"].as_u64(), Some(ba));
    assert!((out["accuracy_a"].as_f64().unwrap() - right_a as f64 / 119.0).abs() < 1e-12);
    // McNemar exact: 2 · P(X ≤ min) for X ~ Binomial(ab + ba, 1/2).
    let n = ab + ba;
    let k = ab.min(ba);
    let mut c = 1.0f64;
    let mut tail = 0.0;
    for i in 0..=k {
        if i > 0 {
            c = c * (n - i + 1) as f64 / i as f64;
        }
        tail += c;
    }
    let p = (2.0 * tail / 2f64.powi(n as i32)).min(1.0);
    assert!((out["mcnemar_p"].as_f64().unwrap() - p).abs() < 1e-12);
    // Kappa from the printed matrix: (po − pe) / (1 − pe).
    let m: Vec<Vec<f64>> = out["confusion_matrix"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        })
        .collect();
    let total: f64 = m.iter().flatten().sum();
    let po = (0..m.len()).map(|i| m[i][i]).sum::<f64>() / total;
    let pe = (0..m.len())
        .map(|i| m[i].iter().sum::<f64>() * m.iter().map(|r| r[i]).sum::<f64>())
        .sum::<f64>()
        / (total * total);
    assert!((out["kappa"].as_f64().unwrap() - (po - pe) / (1.0 - pe)).abs() < 1e-12);
    let text =
        std::fs::read_to_string(project.path(out["disagreements_file"].as_str().unwrap())).unwrap();
    let disagreements = text.lines().count() - 1;
    assert_eq!(disagreements as f64, total - po * total);
}

#[test]
fn agreement_of_two_runs_of_one_module() {
    let project = project();
    let run = project.run(BIN, &["agreement", "exp_20260115_093000_m14", M14_B]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot("analyze_results_agreement", &project, &run);
    let out = json(
        &project
            .run(
                BIN,
                &["agreement", "exp_20260115_093000_m14", M14_B, "--json"],
            )
            .stdout,
    );
    // The same pairing and McNemar test as `experiment-registry compare` (fixtures/registry/README.md).
    assert_eq!(out["joined"], 22);
    assert!((out["mcnemar_p"].as_f64().unwrap() - 134.0 / 2048.0).abs() < 1e-12);
    let refused = project.run(BIN, &["agreement", M14_B, "m12"]);
    assert_eq!(refused.code, 2);
    assert!(
        refused.stderr.contains("needs two runs of the same module"),
        "{}",
        refused.stderr
    );
}

#[test]
fn baseline_reports_every_module_and_writes_md_and_json() {
    let project = project();
    let run = project.run(BIN, &["baseline"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot("analyze_results_baseline", &project, &run);
    let md = std::fs::read_to_string(project.path("analysis/baseline.md")).unwrap();
    assert!(
        run.stdout.starts_with(&md),
        "the printed report is the file"
    );
    let report = json(&std::fs::read_to_string(project.path("analysis/baseline.json")).unwrap());
    assert_eq!(report["total"]["rows"], 28);
    assert_eq!(report["under_threshold"], json!([]));
    let strict = json(
        &project
            .run(
                BIN,
                &[
                    "baseline",
                    "--threshold",
                    "0.8",
                    "--format",
                    "json",
                    "--json",
                ],
            )
            .stdout,
    );
    assert_eq!(strict["under_threshold"], json!(["m12"]));
    assert!(project.path("analysis/baseline_2.json").is_file());
    assert!(!project.path("analysis/baseline_2.md").exists());
    // A module named without runs: exit 2 before anything is written.
    let before = analysis_files(&project);
    let refused = project.run(BIN, &["baseline", "--modules", "m12,m02"]);
    assert_eq!(refused.code, 2);
    assert_eq!(analysis_files(&project), before);
}

#[test]
fn readable_writes_one_row_per_field_with_product_links() {
    let project = project();
    let run = project.run(BIN, &["readable", M14_B]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot("analyze_results_readable", &project, &run);
    let text = std::fs::read_to_string(
        project.path("analysis/M14_PrimaryUseCheckSameType/exp_20260116_141203_m14_readable.csv"),
    )
    .unwrap();
    let mut reader = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    // `---` is written escaped (`'---`), as a spreadsheet-safe writer must.
    let separators = rows
        .iter()
        .filter(|r| annotation::sheet::unescape_cell(&r[0]) == "---");
    assert_eq!(separators.count(), 24, "one block per record");
    assert!(
        rows[1][0].starts_with("https://www.amazon.com/dp/B"),
        "{:?}",
        rows[1]
    );
    assert!(rows.iter().any(|r| &r[1] == "keyword"));
    assert!(rows.iter().any(|r| r[4].starts_with("errored: ")));
}
