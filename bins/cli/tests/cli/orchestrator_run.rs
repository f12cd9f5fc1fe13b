//! `orchestrator run` against the simulator: dry runs, full runs scored against the answer key,
//! kill-and-resume, and the failure paths.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::assert_run_snapshot;
use crate::support::{Sim, TestProject, run};

fn results_csvs(project: &TestProject, folder: &str) -> Vec<std::path::PathBuf> {
    let dir = project.path(&format!("experiment_results/{folder}"));
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "csv"));
    files.sort();
    files
}

fn read_csv(path: &std::path::Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

#[test]
fn dry_run_prints_the_plan_and_sends_nothing() {
    let project = TestProject::new();
    let sim = Sim::start(&project, &[]);
    let out = run(sim.command(&project, "orchestrator").args([
        "run",
        "m12",
        "m12b",
        "--dry-run",
        "--samples",
        "50",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(sim.stats()["chat_answered"], 0);
    assert!(
        !project.path("experiment_results").exists(),
        "a dry run writes nothing"
    );
    let mut filters = crate::support::filters(&project);
    filters.push((
        format!("127.0.0.1:{}", sim.port),
        "127.0.0.1:[PORT]".to_owned(),
    ));
    let filters: Vec<(&str, &str)> = filters
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    insta::with_settings!({ filters => filters, prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("orchestrator_run_dry_run", out.transcript());
    });
}

#[test]
fn a_run_is_scored_against_the_answer_key_and_registered() {
    let project = TestProject::new();
    let sim = Sim::start(
        &project,
        &["--answer-key", "--wrong-rate", "0.1", "--seed", "7"],
    );
    let out = run(sim.command(&project, "orchestrator").args(["run", "m12"]));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_run_snapshot!("orchestrator_run_summary", &project, out);

    let csvs = results_csvs(&project, "M12_HardConstraintViolationCheck");
    assert_eq!(csvs.len(), 1);
    let rows = read_csv(&csvs[0]);
    assert_eq!(rows.len(), 208);
    let wrong = rows.iter().filter(|r| r["correct"] == "false").count() as u64;
    assert!(rows.iter().all(|r| r["error"].is_empty()));
    // Every row the simulator answered wrongly, and only those, is scored wrong.
    let stats = sim.stats();
    assert_eq!(
        stats["faults"]["wrong_answers"].as_u64().unwrap_or(0),
        wrong
    );
    // ...and the accuracy is the configured 90% within sampling noise (4 standard deviations).
    let accuracy = 1.0 - wrong as f64 / 208.0;
    let sd = (0.9f64 * 0.1 / 208.0).sqrt();
    assert!((accuracy - 0.9).abs() < 4.0 * sd, "accuracy {accuracy}");

    let registry: serde_json::Value = serde_json::from_slice(
        &std::fs::read(project.path("experiment_results/.registry.json")).unwrap(),
    )
    .unwrap();
    let entries = registry["experiments"].as_object().unwrap();
    assert_eq!(entries.len(), 1);
    let entry = entries.values().next().unwrap();
    assert_eq!(entry["module_id"], "m12");
    assert_eq!(entry["status"], "local_only");
    assert_eq!(entry["samples"], 208);
    assert!((entry["accuracy"].as_f64().unwrap() - accuracy).abs() < 1e-12);
    assert!(
        entry["csv_path"]
            .as_str()
            .unwrap()
            .starts_with("experiment_results/M12_HardConstraintViolationCheck/M12_v1_")
    );

    // The same run again is answered from the cache: no new request reaches the simulator.
    let before = sim.stats()["chat_answered"].as_u64().unwrap();
    let again = run(sim
        .command(&project, "orchestrator")
        .args(["run", "m12", "--json"]));
    assert_eq!(again.code, 0, "{}", again.stderr);
    let report: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(report["runs"][0]["cache_hits"], 208);
    assert_eq!(sim.stats()["chat_answered"].as_u64().unwrap(), before);
}

#[test]
fn every_enabled_module_runs_and_matches_a_perfect_answer_key() {
    let project = TestProject::new();
    let sim = Sim::start(&project, &["--answer-key"]);
    let out = run(sim
        .command(&project, "orchestrator")
        .args(["run", "--all", "--json"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 21, "every enabled module (m03 is disabled)");
    for r in runs {
        let m = &r["metrics"];
        assert_eq!(m["scored"], m["total"], "{}: {}", r["module"], m["errors"]);
        assert_eq!(
            m["accuracy"], 1.0,
            "{} scores a perfect answer key as {}",
            r["module"], m["accuracy"]
        );
    }
    assert_eq!(sim.stats()["chat_unrecognised"], 0);
}

#[test]
fn a_killed_run_resumes_without_asking_again_for_finished_rows() {
    let project = TestProject::new();
    let sim = Sim::start(&project, &["--answer-key", "--latency", "30ms"]);
    let folder = project.path("experiment_results/M12B_CombinedClassification");
    let mut child = sim
        .command(&project, "orchestrator")
        .args(["run", "m12b", "--no-cache", "--concurrency", "4"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill (SIGKILL) once a good part of the rows is journaled.
    let journal_lines = || -> usize {
        std::fs::read_dir(&folder)
            .ok()
            .and_then(|d| {
                d.filter_map(Result::ok)
                    .find(|e| e.file_name().to_string_lossy().ends_with(".journal.jsonl"))
            })
            .map(|e| {
                std::fs::read_to_string(e.path())
                    .unwrap_or_default()
                    .lines()
                    .count()
            })
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while journal_lines() < 60 {
        assert!(Instant::now() < deadline, "the run made no progress");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        results_csvs(&project, "M12B_CombinedClassification").is_empty(),
        "no results CSV yet"
    );

    let journal = std::fs::read_dir(&folder)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".journal.jsonl"))
        .unwrap();
    let finished: Vec<String> = std::fs::read_to_string(&journal)
        .unwrap()
        .split_inclusive('\n')
        .skip(1)
        .filter(|l| l.ends_with('\n'))
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["record_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(finished.len() >= 59);

    let out =
        run(sim
            .command(&project, "orchestrator")
            .args(["run", "m12b", "--no-cache", "--resume"]));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("resumed from the journal"),
        "{}",
        out.stdout
    );
    assert!(
        !journal.exists(),
        "the journal is removed once the results are written"
    );
    let leftovers: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary files left behind: {leftovers:?}"
    );

    let csvs = results_csvs(&project, "M12B_CombinedClassification");
    assert_eq!(csvs.len(), 1);
    let rows = read_csv(&csvs[0]);
    let mut ids: Vec<&str> = rows.iter().map(|r| r["record_id"].as_str()).collect();
    assert_eq!(ids.len(), 208);
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 208, "every row exactly once");

    let stats = sim.stats();
    let by_record = stats["chat_by_record"].as_object().unwrap();
    for id in &finished {
        assert_eq!(
            by_record[&format!("m12b:{id}")],
            1,
            "{id} was finished before the kill and asked again"
        );
    }
}

#[test]
fn a_malformed_dataset_line_stops_the_run_before_any_call() {
    let project = TestProject::new();
    let sim = Sim::start(&project, &["--answer-key"]);
    let dataset = project.path("datasets/single/m14_v1_check_primary_use_same_type.jsonl");
    let mut text = std::fs::read_to_string(&dataset).unwrap();
    text.insert_str(0, "{\"id\": \"x\", \"input\": {\"keyword\": }\n");
    std::fs::write(&dataset, text).unwrap();
    let out = run(sim
        .command(&project, "orchestrator")
        .args(["run", "m12", "m14"]));
    assert_eq!(out.code, 2);
    assert_eq!(
        sim.stats()["chat_answered"],
        0,
        "nothing is sent, not even for m12"
    );
    assert_run_snapshot!("orchestrator_run_bad_dataset", &project, out);
}

#[test]
fn running_out_of_quota_stops_at_once_and_resume_finishes() {
    let project = TestProject::new();
    let sim = Sim::start(&project, &["--answer-key", "--quota-after", "40"]);
    let out = run(sim
        .command(&project, "orchestrator")
        .args(["run", "m14", "--concurrency", "1"]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("insufficient_quota") || out.stderr.contains("quota"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("--resume"),
        "the message says how to continue: {}",
        out.stderr
    );
    assert_eq!(
        sim.stats()["requests"]["POST /v1/chat/completions"]["429"],
        1,
        "no retries of a quota failure"
    );
    drop(sim);

    // With credit again (a fresh simulator), --resume asks only for the rest.
    let sim = Sim::start(&project, &["--answer-key"]);
    let out = run(sim
        .command(&project, "orchestrator")
        .args(["run", "m14", "--resume", "--json"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["runs"][0]["resumed_rows"], 40);
    assert_eq!(report["runs"][0]["rows"], 99);
    assert_eq!(sim.stats()["chat_answered"], 99 - 40);
}

#[test]
fn upload_without_braintrust_is_a_clear_error() {
    let project = TestProject::new();
    let out = project.run("orchestrator", &["run", "m12", "--upload"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.starts_with(
            "error: --upload needs Braintrust settings\n  caused by: BRAINTRUST_API_KEY is not set"
        ),
        "{}",
        out.stderr
    );
}

/// The loop closes: a gold file written by `merge-annotations gold` runs as a dataset, as is.
#[test]
fn a_gold_file_runs_as_a_dataset_without_conversion() {
    let project = TestProject::new();
    let sim = Sim::start(&project, &["--answer-key", "--wrong-rate", "0.1"]);
    let step = |bin: &str, args: &[&str]| {
        let out = run(sim.command(&project, bin).args(args));
        assert_eq!(
            out.code, 0,
            "{bin} {args:?}\n{}\n{}",
            out.stdout, out.stderr
        );
        out.stdout
    };
    let field = |json: &str, key: &str| -> String {
        let value: serde_json::Value = serde_json::from_str(json).unwrap();
        value[key].as_str().unwrap().to_owned()
    };
    step("orchestrator", &["run", "m12", "--samples", "40"]);
    let sheet = field(
        &step(
            "generate-annotation-csv",
            &["generate", "m12", "--sample", "30", "--json"],
        ),
        "file",
    );
    step(
        "simulate-annotators",
        &[&sheet, "--flip-a", "0.1", "--flip-b", "0.1", "--seed", "3"],
    );
    let validated = field(
        &step("merge-annotations", &["merge", &sheet, "--json"]),
        "output",
    );
    let gold = field(
        &step("merge-annotations", &["gold", &validated, "--json"]),
        "output",
    );

    let out = run(sim.command(&project, "orchestrator").args([
        "run",
        "m12",
        "--dataset",
        &gold,
        "--json",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let metrics = &report["runs"][0]["metrics"];
    assert_eq!(metrics["total"], 30);
    assert_eq!(
        metrics["scored"], 30,
        "every gold record is scored: {}",
        metrics["errors"]
    );
}

#[test]
fn the_cache_can_be_inspected_and_cleared() {
    let project = TestProject::new();
    let sim = Sim::start(&project, &["--answer-key"]);
    let out = run(sim
        .command(&project, "orchestrator")
        .args(["run", "m14", "--samples", "12"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let stats = run(sim
        .command(&project, "orchestrator")
        .args(["cache", "stats", "--json"]));
    let stats: serde_json::Value = serde_json::from_str(&stats.stdout).unwrap();
    assert_eq!(stats["entries"], 12);
    let cleared = run(sim
        .command(&project, "orchestrator")
        .args(["cache", "clear"]));
    assert_eq!(cleared.code, 0);
    assert!(
        cleared.stdout.starts_with("Removed 12 answers ("),
        "{}",
        cleared.stdout
    );
    let stats = run(sim
        .command(&project, "orchestrator")
        .args(["cache", "stats"]));
    assert_eq!(
        stats.stdout,
        "response cache .cache/llm\n  0 answers, 0 bytes\n"
    );
}

/// Out-of-range options are refused by the parser: exit 2, the option named, nothing sent and
/// nothing written.
#[test]
fn out_of_range_run_options_are_refused_before_any_request() {
    let project = TestProject::new();
    let sim = Sim::start(&project, &["--answer-key"]);
    for (flag, value) in [
        ("--concurrency", "0"),
        ("--rpm", "0"),
        ("--tpm", "0"),
        ("--samples", "0"),
        ("--model", ""),
        ("--prompt-version", ""),
    ] {
        let out = run(sim.command(&project, "orchestrator").args([
            "run",
            "m12",
            "--samples",
            "3",
            flag,
            value,
        ]));
        assert_eq!(out.code, 2, "{flag} {value:?}: {}", out.stderr);
        assert!(
            out.stderr.contains(flag),
            "{flag} {value:?}: the message names the option: {}",
            out.stderr
        );
    }
    assert_eq!(sim.stats()["chat_answered"], 0);
    assert!(!project.path("experiment_results").exists());
}

/// A results folder or registry that cannot be written stops the run before the first call,
/// and leaves no CSV or journal behind. (Made unwritable in ways root cannot write through
/// either: a file where the folder should be, a folder where the registry should be.)
#[test]
fn an_unwritable_results_folder_or_registry_stops_the_run_before_any_request() {
    let sim_project = TestProject::new();
    let sim = Sim::start(&sim_project, &["--answer-key"]);

    let project = TestProject::new();
    project.write("experiment_results", "not a folder\n");
    let out = run(sim
        .command(&project, "orchestrator")
        .args(["run", "m12", "--samples", "3"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("experiment_results"), "{}", out.stderr);
    assert!(out.stderr.contains("nothing was sent"), "{}", out.stderr);
    assert_eq!(sim.stats()["chat_answered"], 0);

    let project = TestProject::new();
    // No registry yet (it loads as empty), but its lock cannot be taken.
    std::fs::create_dir_all(project.path("experiment_results/.registry.json.lock")).unwrap();
    let out = run(sim
        .command(&project, "orchestrator")
        .args(["run", "m12", "--samples", "3"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("nothing was sent"), "{}", out.stderr);
    assert_eq!(sim.stats()["chat_answered"], 0);
    let leftovers: Vec<_> = walk(&project.path("experiment_results"))
        .into_iter()
        .filter(|p| p.is_file())
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}
