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
    out.stdout = out.stdout.replace("_m09_2 of", "_m09 of");
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
