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
    // Wrong rows show their labels as scored: the confusion matrix's labels, not raw values.
    let labels: BTreeSet<&str> = out["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    for record in reader.records() {
        let record = record.unwrap();
        ids.push(record[0].to_owned());
        if &record[7] != "errored" {
            assert!(
                labels.contains(&record[3]),
                "expected {} not in {labels:?}",
                &record[3]
            );
            assert!(
                labels.contains(&record[4]),
                "predicted {} not in {labels:?}",
                &record[4]
            );
        }
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

/// A run of `module` over its whole dataset: `answer(i, expected)` gives the answer's value of
/// the scored field (`None`: the row errored). `correct` comes from the module's scoring spec.
fn write_answers(
    project: &TestProject,
    module: &str,
    csv: &str,
    answer: &dyn Fn(usize, &Value) -> Option<Value>,
) -> Vec<ResultRow> {
    let catalog = Catalog::load(&project.path("modules.toml")).unwrap();
    let module = catalog.resolve(module).unwrap();
    let field = module.primary_score().clone();
    let records = core_config::read_records(&project.root().join(&module.dataset)).unwrap();
    let mut rows = Vec::new();
    for (i, record) in records.into_iter().enumerate() {
        let expected = record
            .expected
            .get(&field.expected)
            .cloned()
            .unwrap_or(Value::Null);
        let given = answer(i, &expected);
        let output = match &given {
            Some(value) => {
                json!({field.output.clone(): value, "confidence": 0.9, "reasoning": "because"})
            }
            None => json!({"error": "timed out", "error_type": "timeout"}),
        };
        let correct = given.as_ref().map(|_| {
            runner::score::score_row(module, &record.expected, output.as_object().unwrap())
                .unwrap()
                .correct
        });
        rows.push(ResultRow {
            record_id: record.id.clone(),
            input: Value::Object(record.input.clone()),
            output,
            expected: Value::Object(record.expected.clone()),
            asin: record
                .metadata
                .get("asin")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            brand: String::new(),
            keyword: record.input_text("keyword"),
            reasoning: "because".to_owned(),
            metrics: json!({}),
            metadata: Value::Object(record.metadata.clone()),
            correct,
            error: if given.is_none() {
                "timeout: timed out".to_owned()
            } else {
                String::new()
            },
            extra: Default::default(),
        });
    }
    core_config::results::write_results(&project.path(csv), module, &rows).unwrap();
    rows
}

fn flip_bool(v: &Value) -> Value {
    json!(!(v.as_bool().unwrap_or(false)))
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one scenario: six runs, the report, and its check"
)]
fn paths_chain_combines_m12_to_m16_and_compares_with_m12b() {
    let project = TestProject::new();
    let csv = |folder: &str, name: &str| format!("experiment_results/{folder}/{name}_v1_test.csv");
    let m12 = csv(
        "M12_HardConstraintViolationCheck",
        "M12_HardConstraintViolationCheck",
    );
    let m13 = csv("M13_ProductTypeCheck", "M13_ProductTypeCheck");
    let m14 = csv("M14_PrimaryUseCheckSameType", "M14_PrimaryUseCheckSameType");
    let m15 = csv("M15_SubstituteCheck", "M15_SubstituteCheck");
    let m16 = csv("M16_ComplementaryCheck", "M16_ComplementaryCheck");
    let m12b = csv("M12B_CombinedClassification", "M12B_CombinedClassification");
    // Planted mistakes: each step is wrong on a few rows, one m15 row errors.
    let r12 = write_answers(&project, "m12", &m12, &|i, e| {
        Some(json!((e == "N") != (i % 25 == 3)))
    });
    let r13 = write_answers(&project, "m13", &m13, &|i, e| {
        Some(if i % 10 == 4 { flip_bool(e) } else { e.clone() })
    });
    let r14 = write_answers(&project, "m14", &m14, &|i, e| {
        Some(match (i % 6 == 1, e.as_str()) {
            (true, Some("R")) => json!("N"),
            (true, _) => json!("R"),
            (false, _) => e.clone(),
        })
    });
    let r15 = write_answers(&project, "m15", &m15, &|i, e| {
        (i != 5).then(|| match (i % 9 == 2, e.as_str()) {
            (true, Some("S")) => Value::Null,
            (true, _) => json!("S"),
            (false, _) => e.clone(),
        })
    });
    let r16 = write_answers(&project, "m16", &m16, &|i, e| {
        Some(match (i % 7 == 3, e.as_str()) {
            (true, Some("C")) => json!("N"),
            (true, _) => json!("C"),
            (false, _) => e.clone(),
        })
    });
    let rb = write_answers(&project, "m12b", &m12b, &|i, e| {
        let labels = ["R", "S", "C", "N"];
        let at = labels.iter().position(|l| e == *l).unwrap();
        Some(json!(labels[if i % 5 == 0 { (at + 1) % 4 } else { at }]))
    });
    // Registered, so that `chain` and `m12b` name each module's newest run.
    let repaired = project.run("experiment-registry", &["repair"]);
    assert_eq!(repaired.code, 0, "{}", repaired.stderr);

    let run = project.run(BIN, &["paths", "chain", "m12b"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut filtered = run;
    filtered.stdout = hide_registry_times(&filtered.stdout);
    snapshot("analyze_results_paths_chain", &project, &filtered);

    let out = json(
        &project
            .run(BIN, &["paths", "chain", "m12b", "--json"])
            .stdout,
    );
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
    assert_eq!(out["path_a"], "chain");

    // The rule, written again here over the planted answers, keyed by (ASIN, lower-case keyword).
    let key = |r: &ResultRow| (r.asin.clone(), r.keyword.to_lowercase());
    let index = |rows: &[ResultRow], field: &str| -> std::collections::HashMap<_, _> {
        rows.iter()
            .map(|r| {
                let answer = r.correct.map(|_| r.output[field].clone());
                (key(r), (answer, r.expected[field].clone()))
            })
            .collect()
    };
    let (s13, s14, s15, s16) = (
        index(&r13, "same_type"),
        index(&r14, "relevancy"),
        index(&r15, "relevancy"),
        index(&r16, "relevancy"),
    );
    // None: undecided. `side` 0 reads answers, 1 expected labels.
    let decide = |r: &ResultRow, side: usize| -> Option<String> {
        let pick = |m: &std::collections::HashMap<_, (Option<Value>, Value)>| {
            m.get(&key(r)).and_then(|(a, e)| {
                if side == 0 {
                    a.clone()
                } else {
                    Some(e.clone())
                }
            })
        };
        let violation = if side == 0 {
            r.output["violates_constraint"].as_bool()?
        } else {
            r.expected["relevancy"] == "N"
        };
        if violation {
            return Some("N".into());
        }
        if pick(&s13)?.as_bool()? {
            return pick(&s14)?.as_str().map(str::to_owned);
        }
        if pick(&s15)? == "S" {
            return Some("S".into());
        }
        pick(&s16)?.as_str().map(str::to_owned)
    };
    let truth_b: std::collections::HashMap<_, _> = rb
        .iter()
        .map(|r| {
            (
                key(r),
                (
                    r.output["relevancy"].clone(),
                    r.expected["relevancy"].clone(),
                ),
            )
        })
        .collect();
    let (mut decided, mut undecided, mut joined, mut right_a, mut right_b) =
        (0, 0, 0u64, 0u64, 0u64);
    for r in &r12 {
        match (decide(r, 0), decide(r, 1)) {
            (Some(answer), Some(expected)) => {
                decided += 1;
                if let Some((b_answer, b_expected)) = truth_b.get(&key(r)) {
                    joined += 1;
                    assert_eq!(&expected, b_expected, "the datasets agree on {:?}", key(r));
                    right_a += u64::from(answer == expected);
                    right_b += u64::from(b_answer == b_expected);
                }
            }
            _ => undecided += 1,
        }
    }
    let chain = &out["chain"];
    assert_eq!(chain["keywords"].as_u64(), Some(r12.len() as u64));
    assert_eq!(chain["decided"].as_u64(), Some(decided));
    assert_eq!(chain["undecided"].as_u64(), Some(undecided));
    assert!(undecided > 0 && decided > 100, "{decided} {undecided}");
    assert_eq!(out["joined"].as_u64(), Some(joined));
    assert_eq!(out["only_b"].as_u64(), Some(rb.len() as u64 - joined));
    assert_eq!(out["expected_differs"], 0);
    assert!((out["accuracy_a"].as_f64().unwrap() - right_a as f64 / joined as f64).abs() < 1e-12);
    assert!((out["accuracy_b"].as_f64().unwrap() - right_b as f64 / joined as f64).abs() < 1e-12);
    let by_step: u64 = chain["undecided_by_step"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(by_step, undecided);
    // The undecided file lists each undecided keyword once.
    let text =
        std::fs::read_to_string(project.path(chain["undecided_file"].as_str().unwrap())).unwrap();
    assert_eq!(text.lines().count() as u64 - 1, undecided);
    assert!(
        text.starts_with(
            "\u{feff}\"asin\",\"keyword\",\"step\",\"reason\",\"route\",\"record_id\""
        ),
        "{text}"
    );

    // The baseline's Path A / Path B section includes the chain.
    let baseline = json(
        &project
            .run(BIN, &["baseline", "--format", "json", "--json"])
            .stdout,
    );
    let pairs: Vec<String> = baseline["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{}/{}",
                p["module_a"].as_str().unwrap(),
                p["module_b"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(pairs, ["chain/m12b"]);
    assert_eq!(baseline["paths"][0]["joined"].as_u64(), Some(joined));

    // Steps given by hand, and the refusals: a wrong Path B, a step of another module, a
    // chain step without runs. None writes a file.
    let m14_copy = m14.replace("_v1_", "_v2_");
    std::fs::copy(project.path(&m14), project.path(&m14_copy)).unwrap();
    let pinned = project.run(
        BIN,
        &["paths", "chain", &m12b, "--step", &m14_copy, "--json"],
    );
    assert_eq!(pinned.code, 0, "{}", pinned.stderr);
    let pinned = json(&pinned.stdout);
    assert_eq!(
        pinned["chain"]["runs"]["m14"],
        "M14_PrimaryUseCheckSameType_v2_test"
    );
    assert_eq!(pinned["joined"], out["joined"]);
    let before = analysis_files(&project);
    let mut transcript = String::new();
    for args in [
        &["paths", "chain", "m13"][..],
        &["paths", "chain", "m12b", "--step", &m12b],
        &["paths", "m12", "m12b"],
        &["paths", "m02", "m02b", "--step", &m14],
    ] {
        let refused = project.run(BIN, args);
        assert_eq!(refused.code, 2, "{args:?}: {}", refused.stdout);
        transcript.push_str(&format!("$ {}\n{}", args.join(" "), refused.stderr));
    }
    std::fs::remove_file(project.path(&m16)).unwrap();
    let refused = project.run(BIN, &["paths", "chain", "m12b"]);
    assert_eq!(refused.code, 2);
    transcript.push_str(&format!(
        "$ paths chain m12b (no m16 CSV)\n{}",
        refused.stderr
    ));
    assert_eq!(analysis_files(&project), before);
    let refused = Run {
        code: 2,
        stdout: String::new(),
        stderr: hide_registry_times(&transcript),
    };
    snapshot("analyze_results_paths_chain_refused", &project, &refused);
}

/// Registry ids (`exp_{YYYYmmdd}_{HHMMSS}_{module}`) with their time hidden: ids made by
/// `experiment-registry repair` carry the time of the test.
fn hide_registry_times(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("exp_") {
        out.push_str(&rest[..at]);
        let tail = &rest[at + 4..];
        let stamp = tail.len() >= 16
            && tail.as_bytes()[..16].iter().enumerate().all(|(i, b)| {
                if i == 8 || i == 15 {
                    *b == b'_'
                } else {
                    b.is_ascii_digit()
                }
            });
        if stamp {
            out.push_str("exp_[TS]_");
            rest = &tail[16..];
        } else {
            out.push_str("exp_");
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

/// A run made by `batch evaluate` (the earlier tool's batch folder in fixtures/batch): every
/// subcommand that takes one run reads it, and its figures equal the evaluation's.
#[test]
fn a_run_made_by_batch_evaluate_is_analysed() {
    let project = TestProject::new();
    let fixture = repo_root().join("fixtures/batch/legacy_20260112_2127");
    let target = project.path("batch_requests/20260112_2127");
    std::fs::create_dir_all(target.join("results")).unwrap();
    for file in [
        "manifest.json",
        "upload_manifest.json",
        "m12_batch.jsonl",
        "results/m12_results.jsonl",
        "results/m12_results.errors.jsonl",
    ] {
        std::fs::copy(fixture.join(file), target.join(file)).unwrap();
    }
    let evaluated = project.run("batch", &["evaluate", "20260112_2127", "--json"]);
    assert!(evaluated.code <= 1, "{}", evaluated.stderr);
    let report: Value =
        serde_json::from_slice(&std::fs::read(target.join("evaluation_report.json")).unwrap())
            .unwrap();
    let e = &report["evaluations"][0];
    let errors = json(&project.run(BIN, &["errors", "m12", "--json"]).stdout);
    assert_eq!(errors["module"], "m12");
    assert_eq!(errors["scored"], e["total"]);
    assert_eq!(errors["correct"], e["correct"]);
    assert_eq!(
        errors["error_count"].as_u64(),
        Some(e["total"].as_u64().unwrap() - e["correct"].as_u64().unwrap())
    );
    assert_eq!(
        errors["rows"].as_u64().unwrap(),
        errors["scored"].as_u64().unwrap() + errors["errored"].as_u64().unwrap()
    );
    for args in [
        &["patterns", "m12", "--json"][..],
        &["readable", "m12", "--json"],
        &["all", "--json"],
        &["baseline", "--json"],
    ] {
        let run = project.run(BIN, args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        json(&run.stdout);
    }
}

/// `all` and `baseline` work from the registry: a project whose CSVs are not registered gets a
/// message that says how to register them, exit 2, and no file.
#[test]
fn all_without_registered_runs_says_how_to_register_them() {
    let project = TestProject::new();
    project.write(
        "experiment_results/M12_HardConstraintViolationCheck/M12_HardConstraintViolationCheck_v1_160126_1.csv",
        std::fs::read(repo_root().join("fixtures/results/M12_HardConstraintViolationCheck_v1_160126_1.csv")).unwrap(),
    );
    for command in ["all", "baseline"] {
        let run = project.run(BIN, &[command]);
        assert_eq!(run.code, 2, "{command}: {}", run.stdout);
        assert!(
            run.stderr.contains("experiment-registry repair"),
            "{}",
            run.stderr
        );
    }
    assert_eq!(analysis_files(&project), Vec::<String>::new());
    let repaired = project.run("experiment-registry", &["repair"]);
    assert_eq!(repaired.code, 0, "{}", repaired.stderr);
    let run = project.run(BIN, &["all", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(json(&run.stdout)["modules"][0]["errors"]["rescored"], true);
}
