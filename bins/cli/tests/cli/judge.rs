//! Judges: rubric checks in `orchestrator validate`, `analyze-results judge` against the
//! simulator's judge mode (CSV, registry entry, resume without repeated calls).

use crate::assert_run_snapshot;
use crate::support::{Sim, TestProject, run};

#[test]
fn validate_reports_a_broken_rubric_with_file_line_and_field() {
    let project = TestProject::new();
    let path = "prompts/judges/m09_v1.yaml";
    let text = std::fs::read_to_string(project.path(path)).unwrap();
    project.write(path, text.replace("    pass_at: 3\n", ""));
    let out = project.run("orchestrator", &["validate", "m09"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stdout.contains(
            "prompts/judges/m09_v1.yaml:17: rubric: criteria[1].pass_at: a 0-5 criterion needs the score it passes at (1-5)"
        ),
        "{}",
        out.stdout
    );
}

/// Runs the modules in the simulator's answer-key mode and returns their registry ids.
fn run_modules(project: &TestProject, sim: &Sim, modules: &[&str]) -> Vec<String> {
    let out = run(sim
        .command(project, "orchestrator")
        .arg("run")
        .args(modules)
        .arg("--json"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    report["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["local_id"].as_str().unwrap().to_owned())
        .collect()
}

fn registry(project: &TestProject) -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(project.path("experiment_results/.registry.json")).unwrap(),
    )
    .unwrap()
}

#[test]
fn judge_runs_work_for_the_extraction_modules() {
    let project = TestProject::new();
    let sim = Sim::start(&project, &["--answer-key"]);
    let modules = ["m01", "m06", "m07", "m09", "m11"];
    let runs = run_modules(&project, &sim, &modules);
    for (module, judged) in modules.iter().zip(&runs) {
        // A module id judges the module's newest run.
        let out = run(sim
            .command(&project, "analyze-results")
            .args(["judge", module, "--json"]));
        assert_eq!(out.code, 0, "{module}: {}", out.stderr);
        let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(report["rows"], 12, "{module}");
        let file = report["judge_file"].as_str().unwrap();
        assert!(
            file.starts_with("experiment_results/M")
                && file.contains(&format!("/{}_judge_", module.to_uppercase())),
            "{file}"
        );
        let csv = std::fs::read_to_string(project.path(file)).unwrap();
        let criteria = report["criteria"].as_array().unwrap();
        assert_eq!(csv.lines().count(), 1 + 12 * criteria.len(), "{module}");
        for c in criteria {
            // The simulator answered every record with its expected items; a judge without
            // noise passes them all.
            assert_eq!(c["pass_rate"], 1.0, "{module} {}", c["id"]);
            assert!(c["pass_rate_ci95"][0].as_f64().unwrap() > 0.7);
        }
        let id = report["judge_run"].as_str().unwrap();
        let entry = &registry(&project)["experiments"][id];
        assert_eq!(entry["judge_of"], judged.as_str(), "{module}");
        assert_eq!(entry["csv_path"], file);
    }
    // The judge runs do not count as the modules' newest runs.
    let out = run(sim
        .command(&project, "analyze-results")
        .args(["errors", "m09", "--json"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn the_judge_report_as_text() {
    let project = TestProject::new();
    let sim = Sim::start(&project, &["--answer-key", "--judge-noise", "0.3"]);
    run_modules(&project, &sim, &["m09"]);
    let out =
        run(sim
            .command(&project, "analyze-results")
            .args(["judge", "m09", "--samples", "3"]));
    // The judge run gets `_2` when it starts in the judged run's second.
    let mut out = out;
    out.stdout = out
        .stdout
        .replace("_m09_2 of", "_m09 of")
        .replace("_m09_2)", "_m09)");
    assert_run_snapshot!("analyze_results_judge_text", &project, out);
}

#[test]
fn a_resumed_judge_run_repeats_no_call() {
    let project = TestProject::new();
    let sim = Sim::start(&project, &["--answer-key"]);
    let runs = run_modules(&project, &sim, &["m07"]);
    drop(sim);
    // 7 judge calls, then the account is out of credit.
    let sim = Sim::start(&project, &["--answer-key", "--quota-after", "7"]);
    let out = run(sim.command(&project, "analyze-results").args([
        "judge",
        &runs[0],
        "--samples",
        "2",
        "--concurrency",
        "1",
        "--no-cache",
    ]));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--resume"), "{}", out.stderr);
    drop(sim);
    let sim = Sim::start(&project, &["--answer-key"]);
    let out = run(sim.command(&project, "analyze-results").args([
        "judge",
        &runs[0],
        "--samples",
        "2",
        "--resume",
        "--no-cache",
        "--json",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["calls"], 24);
    assert_eq!(report["resumed_calls"], 7);
    assert_eq!(sim.stats()["chat_answered"], 24 - 7, "no call asked twice");
    // The journal is gone, the CSV complete, one registry entry.
    let file = report["judge_file"].as_str().unwrap();
    assert!(
        !project
            .path(&file.replace(".csv", ".journal.jsonl"))
            .exists()
    );
    let entries = registry(&project)["experiments"]
        .as_object()
        .unwrap()
        .values()
        .filter(|e| e["judge_of"] == runs[0].as_str())
        .count();
    assert_eq!(entries, 1);
}

#[test]
fn a_judge_without_a_rubric_is_refused_before_any_call() {
    let project = TestProject::new();
    let sim = Sim::start(&project, &["--answer-key"]);
    let runs = run_modules(&project, &sim, &["m12"]);
    let answered = sim.stats()["chat_answered"].as_u64().unwrap();
    let out = run(sim
        .command(&project, "analyze-results")
        .args(["judge", &runs[0]]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("prompts/judges/m12_v1.yaml: no rubric for module m12"),
        "{}",
        out.stderr
    );
    assert_eq!(sim.stats()["chat_answered"].as_u64().unwrap(), answered);
}

/// Cohen's kappa, its standard error (Fleiss, Cohen & Everitt 1969) and Gwet's AC1 of two
/// pass/fail raters, from the textbook formulas.
fn reference(pairs: &[(bool, bool)]) -> (f64, f64, f64) {
    let n = pairs.len() as f64;
    // p[i][j]: rater 1 said i, rater 2 said j (0 = pass, 1 = fail).
    let mut p = [[0.0; 2]; 2];
    for (x, y) in pairs {
        p[usize::from(!*x)][usize::from(!*y)] += 1.0 / n;
    }
    let row = [p[0][0] + p[0][1], p[1][0] + p[1][1]];
    let col = [p[0][0] + p[1][0], p[0][1] + p[1][1]];
    let po = p[0][0] + p[1][1];
    let pe = row[0] * col[0] + row[1] * col[1];
    let kappa = (po - pe) / (1.0 - pe);
    let mut var = 0.0;
    for i in 0..2 {
        var += p[i][i] * ((1.0 - pe) - (col[i] + row[i]) * (1.0 - po)).powi(2);
        let j = 1 - i;
        var += (1.0 - po).powi(2) * p[i][j] * (col[i] + row[j]).powi(2);
    }
    var -= (po * pe - 2.0 * pe + po).powi(2);
    let se = (var / (n * (1.0 - pe).powi(4))).sqrt();
    let pi = f64::midpoint(row[0], col[0]);
    let pe1 = 2.0 * pi * (1.0 - pi);
    (kappa, se, (po - pe1) / (1.0 - pe1))
}

fn close(value: &serde_json::Value, expected: f64, what: &str) {
    let got = value.as_f64().unwrap_or_else(|| panic!("{what}: {value}"));
    assert!((got - expected).abs() < 1e-9, "{what}: {got} vs {expected}");
}

#[test]
fn a_judge_validated_against_simulated_annotators_gives_the_independent_figures() {
    let project = TestProject::new();
    // Half of the run's answers wrong, so that the true verdicts vary; the judge errs on a
    // quarter of its verdicts.
    let sim = Sim::start(
        &project,
        &[
            "--answer-key",
            "--wrong-rate",
            "0.5",
            "--judge-noise",
            "0.25",
        ],
    );
    let runs = run_modules(&project, &sim, &["m07"]);
    let out = run(sim
        .command(&project, "analyze-results")
        .args(["judge", &runs[0], "--json"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let judged: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let judge_run = judged["judge_run"].as_str().unwrap();

    let out = project.run(
        "generate-annotation-csv",
        &["generate", "m07", "--judge", judge_run, "--json"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let sheet: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let file = sheet["file"].as_str().unwrap();
    assert!(
        file.contains("/annotation_tasks/judges/M07_judge_annotation_"),
        "{file}"
    );
    assert_eq!(sheet["records"], 12);
    // Spreadsheet-safe like every annotation file; the judge's verdicts are not on it.
    let text = std::fs::read_to_string(file).unwrap();
    assert!(
        text.starts_with("\u{feff}\"record_id\",\"criterion\""),
        "{text}"
    );
    let header = text.lines().next().unwrap();
    assert!(
        header.ends_with("\"answer\",\"annotator_a\",\"annotator_b\""),
        "{header}"
    );
    assert_eq!(text.lines().count(), 1 + 12 * 3);
    assert!(
        !text.contains("api-sim judge"),
        "no judge reasoning on the sheet"
    );
    // The annotators: a share of wrong verdicts each.
    let out = project.run(
        "simulate-annotators",
        &[file, "--flip-a", "0.15", "--flip-b", "0.2", "--json"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    // The existing annotation commands leave the judge sheet alone.
    let out = project.run("calculate-agreement", &["batch"]);
    assert_eq!(out.code, 0, "{}", out.stderr);

    let out = project.run("calculate-agreement", &["analyze", file, "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();

    // The independent computation, from the filled sheet and the judge CSV.
    let judge_file = project.path(judged["judge_file"].as_str().unwrap());
    let mut judge = std::collections::HashMap::new();
    let mut reader = csv::Reader::from_path(&judge_file).unwrap();
    for r in reader.records() {
        let r = r.unwrap();
        judge.insert((r[0].to_owned(), r[1].to_owned()), &r[2] == "pass");
    }
    let mut rows = Vec::new();
    let mut reader = csv::Reader::from_path(file).unwrap();
    for r in reader.records() {
        let r = r.unwrap();
        let j = judge[&(r[0].to_owned(), r[1].to_owned())];
        rows.push((r[1].to_owned(), &r[6] == "pass", &r[7] == "pass", j));
    }
    let criteria = report["criteria"].as_array().unwrap();
    assert_eq!(criteria.last().unwrap()["criterion"], "all");
    for c in criteria {
        let id = c["criterion"].as_str().unwrap();
        let mine: Vec<_> = rows.iter().filter(|r| id == "all" || r.0 == id).collect();
        let ab: Vec<(bool, bool)> = mine.iter().map(|r| (r.1, r.2)).collect();
        let jc: Vec<(bool, bool)> = mine
            .iter()
            .filter(|r| r.1 == r.2)
            .map(|r| (r.1, r.3))
            .collect();
        for (name, pairs) in [("annotators", &ab), ("judge_vs_consensus", &jc)] {
            let figures = &c[name];
            assert_eq!(figures["items"], pairs.len(), "{id} {name}");
            let (kappa, se, ac1) = reference(pairs);
            close(&figures["kappa"], kappa, &format!("{id} {name} kappa"));
            close(&figures["ac1"], ac1, &format!("{id} {name} ac1"));
            close(
                &figures["kappa_ci95"][0],
                kappa - 1.959_963_984_540_054 * se,
                &format!("{id} {name} ci low"),
            );
            close(
                &figures["kappa_ci95"][1],
                kappa + 1.959_963_984_540_054 * se,
                &format!("{id} {name} ci high"),
            );
        }
        let validated = c["judge_vs_consensus"]["kappa"].as_f64().unwrap()
            >= c["annotators"]["kappa"].as_f64().unwrap();
        assert_eq!(c["validated"], validated, "{id}");
    }
    assert_eq!(report["validated"], criteria.last().unwrap()["validated"]);
    // The outcome is kept with the judge run.
    let entry = &registry(&project)["experiments"][judge_run];
    assert_eq!(entry["judge_validation"]["validated"], report["validated"]);
    // The same report as text.
    let mut out = project.run("calculate-agreement", &["analyze", file]);
    // The judge run gets `_2` when it starts in the judged run's second.
    out.stdout = out.stdout.replace("_m07_2 (m07)", "_m07 (m07)");
    assert_run_snapshot!("calculate_agreement_judge_validation", &project, out);
    // A later run of the same judge (rubric, model) carries the outcome; before it had none.
    assert_eq!(judged["validation"], serde_json::Value::Null);
    let out = run(sim
        .command(&project, "analyze-results")
        .args(["judge", &runs[0], "--json"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let later: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(later["validation"]["validated"], report["validated"]);
    assert_eq!(later["validation"]["judge_run"], judge_run);
}

#[test]
fn judge_validation_refuses_bad_input_clearly() {
    let project = TestProject::new();
    let sim = Sim::start(&project, &["--answer-key"]);
    let runs = run_modules(&project, &sim, &["m09"]);
    // A run that is not a judge run.
    let out = project.run(
        "generate-annotation-csv",
        &["generate", "m09", "--judge", &runs[0]],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("is not a registered judge run"),
        "{}",
        out.stderr
    );
    let out = run(sim
        .command(&project, "analyze-results")
        .args(["judge", &runs[0], "--json"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let judged: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let judge_run = judged["judge_run"].as_str().unwrap();
    let out = project.run(
        "generate-annotation-csv",
        &["generate", "m09", "--judge", judge_run, "-n", "3", "--json"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let sheet: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(sheet["records"], 3);
    let file = sheet["file"].as_str().unwrap();
    // The judge run is m09's, not m07's.
    let out = project.run(
        "generate-annotation-csv",
        &["generate", "m07", "--judge", judge_run],
    );
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("judged m09, not m07"), "{}", out.stderr);

    // A cell that is not a verdict: file, line and column named, exit 2.
    let out = project.run("simulate-annotators", &[file]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = std::fs::read_to_string(file).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let third = lines[3].rsplitn(3, ',').nth(2).unwrap().to_owned();
    let changed = format!("{third},\"maybe\",\"pass\"");
    lines[3] = &changed;
    std::fs::write(file, lines.join("\r\n")).unwrap();
    let out = project.run("calculate-agreement", &["analyze", file]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains(":4: annotator_a: `maybe` is neither pass nor fail"),
        "{}",
        out.stderr
    );
    // Filled verdicts are not replaced without --overwrite.
    let out = project.run("simulate-annotators", &[file]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("already filled"), "{}", out.stderr);
    let out = project.run(
        "simulate-annotators",
        &[file, "--overwrite", "--flip-a", "2"],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("--flip-a: 2 is not a share between 0 and 1"),
        "{}",
        out.stderr
    );
    let out = project.run("simulate-annotators", &[file, "--overwrite"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
}
