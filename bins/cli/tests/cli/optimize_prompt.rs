//! `optimize-prompt` against `api-sim --answer-key --prompt-sensitive`.

use crate::assert_run_snapshot;
use crate::support::{Sim, TestProject, run};

#[test]
fn the_dry_run_prints_the_splits_and_the_call_bound_and_sends_nothing() {
    let project = TestProject::new();
    let sim = Sim::start(&project, &["--answer-key", "--prompt-sensitive"]);
    let out = run(sim.command(&project, "optimize-prompt").args([
        "m02",
        "--method",
        "mipro",
        "--preset",
        "light",
        "--dry-run",
    ]));
    assert_run_snapshot!("optimize_prompt_dry_run", &project, out);
    assert_eq!(sim.stats()["chat_answered"], 0);
    assert!(
        !project.path("artifacts").exists(),
        "a dry run writes nothing"
    );
}

#[test]
fn gepa_improves_m02_and_json_carries_the_contract_keys() {
    let project = TestProject::new();
    let sim = Sim::start(&project, &["--answer-key", "--prompt-sensitive"]);
    let out = run(sim.command(&project, "optimize-prompt").args([
        "m02",
        "--method",
        "gepa",
        "--preset",
        "light",
        "--json",
        "--max-calls",
        "400",
    ]));
    assert_eq!(out.code, 0, "{}", out.transcript());
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    for key in [
        "module",
        "method",
        "prompt_version",
        "prompt_file",
        "test_file",
        "baseline_test_accuracy",
        "optimized_test_accuracy",
        "mcnemar_p",
        "calls",
        "cost",
    ] {
        assert!(!json[key].is_null(), "{key}: {json:#}");
    }
    assert_eq!(json["prompt_version"], "v2");
    assert!(json["mcnemar_p"].as_f64().unwrap() < 0.05);
    assert!(json["calls"].as_u64().unwrap() <= 400);
    assert_eq!(json["calls"], sim.stats()["chat_answered"]);

    // The new version runs with the orchestrator on the written test split.
    let test_file = json["test_file"].as_str().unwrap();
    let rerun = run(sim.command(&project, "orchestrator").args([
        "run",
        "m02",
        "--prompt-version",
        "v2",
        "--dataset",
        test_file,
        "--json",
    ]));
    assert_eq!(rerun.code, 0, "{}", rerun.transcript());
    let again: serde_json::Value = serde_json::from_str(&rerun.stdout).unwrap();
    assert_eq!(
        again["runs"][0]["metrics"]["accuracy"],
        json["optimized_test_accuracy"]
    );

    // A rerun with the same seed costs nothing: every answer comes from the cache.
    let before = sim.stats()["chat_answered"].clone();
    let second = run(sim.command(&project, "optimize-prompt").args([
        "m02",
        "--method",
        "gepa",
        "--preset",
        "light",
        "--json",
        "--max-calls",
        "400",
    ]));
    assert_eq!(second.code, 0, "{}", second.transcript());
    let second: serde_json::Value = serde_json::from_str(&second.stdout).unwrap();
    assert_eq!(second["calls"], 0);
    assert_eq!(sim.stats()["chat_answered"], before);
}

#[test]
fn split_files_must_come_together() {
    let project = TestProject::new();
    let out = project.run(
        "optimize-prompt",
        &["m02", "--train", "a.jsonl", "--dry-run"],
    );
    assert_eq!(out.code, 2, "{}", out.transcript());
}
