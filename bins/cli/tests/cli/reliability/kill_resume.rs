//! Scenario 1: `orchestrator run` killed with SIGKILL at every stage of a run, then finished with
//! `--resume`. Every row ends in the results exactly once, no row that was journaled before a
//! kill is requested again, and the registry holds one entry for the run.

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{RegistryLock, files_ending, journal_rows, read_csv, registry, results_csvs, wait_for};
use crate::support::{Sim, TestProject, run};

const MODULE: &str = "m14";
const FOLDER: &str = "M14_PrimaryUseCheckSameType";
const SAMPLES: usize = 24;
const CONCURRENCY: usize = 3;

fn folder(project: &TestProject) -> PathBuf {
    project.path(&format!("experiment_results/{FOLDER}"))
}

fn journal(project: &TestProject) -> Option<PathBuf> {
    files_ending(&folder(project), ".journal.jsonl").pop()
}

fn start(mut command: Command, resume: bool) -> Child {
    let samples = SAMPLES.to_string();
    let concurrency = CONCURRENCY.to_string();
    command.args([
        "run",
        MODULE,
        "--samples",
        &samples,
        "--concurrency",
        &concurrency,
        "--no-cache",
    ]);
    if resume {
        command.arg("--resume");
    }
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits until the journal holds at least `rows` rows, then kills the run (SIGKILL) and returns
/// the rows the journal held once the process was gone.
fn kill_after(project: &TestProject, child: &mut Child, rows: usize, stage: &str) -> Vec<String> {
    wait_for(stage, || {
        assert!(
            child.try_wait().unwrap().is_none(),
            "{stage}: the run ended before it could be killed"
        );
        let path = journal(project)?;
        let text = std::fs::read_to_string(path).ok()?;
        // The header line counts as line 1; wait for it even when no row is wanted yet.
        (text.matches('\n').count() > rows).then_some(())
    });
    child.kill().unwrap();
    child.wait().unwrap();
    journal_rows(&journal(project).expect("the journal survives the kill"))
}

fn counts(sim: &Sim) -> BTreeMap<String, u64> {
    sim.stats()["chat_by_record"]
        .as_object()
        .unwrap()
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix(&format!("{MODULE}:"))
                .map(|id| (id.to_owned(), v.as_u64().unwrap()))
        })
        .collect()
}

fn unique(rows: &[String]) -> BTreeSet<&str> {
    rows.iter().map(String::as_str).collect()
}

#[test]
fn a_run_killed_at_every_stage_resumes_to_each_row_exactly_once() {
    let project = TestProject::new();
    // Held from the start: no attempt can register (and so end) until the last stage lets it.
    let lock = RegistryLock::hold(&project);

    // Kill 1, before the first row: the model "server" accepts connections and never answers,
    // so the run writes its journal header and then waits.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut command = project.command("orchestrator");
    command
        .env(
            "OPENAI_BASE_URL",
            format!(
                "http://127.0.0.1:{}/v1",
                silent.local_addr().unwrap().port()
            ),
        )
        .env("OPENAI_API_KEY", "sk-test-not-a-real-key");
    let mut child = start(command, false);
    let first = kill_after(&project, &mut child, 0, "the journal header");
    assert!(first.is_empty(), "no row can finish without answers");
    drop(silent);
    let journal_path = journal(&project).unwrap();
    let header: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&journal_path)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let planned: BTreeSet<String> = header["record_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(planned.len(), SAMPLES);

    let sim = Sim::start(&project, &["--answer-key", "--latency", "120ms"]);

    // Kill 2, a few rows into the first resumed attempt (the second kill of this run).
    let mut child = start(sim.command(&project, "orchestrator"), true);
    let few = kill_after(&project, &mut child, CONCURRENCY, "a few rows");
    let counts_few = counts(&sim);

    // Kill 3, near the end.
    let mut child = start(sim.command(&project, "orchestrator"), true);
    let near_end = kill_after(&project, &mut child, SAMPLES - 2 * CONCURRENCY, "most rows");
    assert!(near_end.len() < SAMPLES, "killed before the last row");
    let counts_near_end = counts(&sim);

    // Kill 4, in the final phase: every row is journaled and the results CSV is written, and
    // the run waits for the registry lock to record itself.
    let mut child = start(sim.command(&project, "orchestrator"), true);
    let written = wait_for("the results CSV of the last attempt", || {
        assert!(child.try_wait().unwrap().is_none(), "the run cannot end");
        results_csvs(&project, FOLDER).pop()
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let all = journal_rows(&journal_path);
    assert_eq!(unique(&all).len(), SAMPLES, "every row was journaled");
    let counts_final_phase = counts(&sim);
    assert!(
        !project.path("experiment_results/.registry.json").exists(),
        "no attempt has registered yet"
    );
    drop(lock);

    // The last attempt finishes the run.
    let out = run(sim.command(&project, "orchestrator").args([
        "run",
        MODULE,
        "--no-cache",
        "--resume",
        "--json",
    ]));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["runs"][0]["rows"], SAMPLES);
    assert_eq!(report["runs"][0]["resumed_rows"], SAMPLES);
    assert_eq!(report["runs"][0]["http_requests"], 0, "nothing left to ask");
    assert!(
        !journal_path.exists(),
        "the journal is gone once registered"
    );

    // Every row exactly once, the ones planned at the start, in one CSV at the planned path.
    let csvs = results_csvs(&project, FOLDER);
    assert_eq!(csvs, std::slice::from_ref(&written));
    assert_eq!(
        header["csv"].as_str().unwrap(),
        relative(&project, &written),
        "the CSV the first attempt planned"
    );
    let rows = read_csv(&written);
    let ids: Vec<&str> = rows.iter().map(|r| r["record_id"].as_str()).collect();
    assert_eq!(ids.len(), SAMPLES);
    assert_eq!(
        ids.iter().map(|s| (*s).to_owned()).collect::<BTreeSet<_>>(),
        planned
    );
    assert!(
        rows.iter()
            .all(|r| r["correct"] == "true" && r["error"].is_empty()),
        "the answer key scores every row correct"
    );
    let stray = files_ending(&folder(&project), ".tmp");
    assert!(stray.is_empty(), "temporary files left behind: {stray:?}");

    // No row journaled before a kill was asked for again afterwards.
    let final_counts = counts(&sim);
    for (stage, journaled, then) in [
        ("kill 2", &few, &counts_few),
        ("kill 3", &near_end, &counts_near_end),
        ("kill 4", &all, &counts_final_phase),
    ] {
        for id in journaled {
            assert_eq!(
                final_counts.get(id),
                then.get(id),
                "{id} was journaled before {stage} and requested again"
            );
        }
    }
    for id in &few {
        assert_eq!(final_counts[id], 1, "{id} was requested more than once");
    }
    // A kill loses at most the answers in flight (CONCURRENCY per kill on this simulator).
    let answered: u64 = final_counts.values().sum();
    assert!(
        answered <= (SAMPLES + 2 * CONCURRENCY) as u64,
        "{answered} answers for {SAMPLES} rows"
    );

    // One registry entry, for this run and its CSV.
    let registry = registry(&project);
    let entries = registry["experiments"].as_object().unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let (id, entry) = entries.iter().next().unwrap();
    assert_eq!(id, header["local_id"].as_str().unwrap());
    assert_eq!(entry["csv_path"], header["csv"]);
    assert_eq!(entry["samples"], SAMPLES);
    assert_eq!(entry["accuracy"], 1.0);

    println!(
        "kill/resume: {SAMPLES} rows, journaled at each kill: {} (before the first row), {} (a few rows in), {} (near the end), {} (results written, registering); {answered} answers from the simulator for {SAMPLES} rows; 1 CSV, 1 registry entry",
        first.len(),
        unique(&few).len(),
        unique(&near_end).len(),
        unique(&all).len(),
    );
}

fn relative(project: &TestProject, path: &Path) -> String {
    path.strip_prefix(project.root())
        .unwrap()
        .display()
        .to_string()
}
