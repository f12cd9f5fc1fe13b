//! `sync-braintrust` and `orchestrator run --upload` against the simulator: runs made by the real
//! orchestrator (answer-key mode), uploaded, synced again, interrupted by injected 500s and
//! finished, checked through fetch; `status` offline; the missing-key message.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::process::Command;

use serde_json::Value;

use crate::support::{Run, Sim, TestProject, filters, run};

const BIN: &str = "sync-braintrust";
const FAKE_KEY: &str = "bt-test-not-a-real-key-7c1e";

/// A command pointed at the simulator for both APIs, with fake keys.
fn command(sim: &Sim, project: &TestProject, bin: &str) -> Command {
    let mut command = sim.command(project, bin);
    command
        .env(
            "BRAINTRUST_API_URL",
            format!("http://127.0.0.1:{}", sim.port),
        )
        .env("BRAINTRUST_API_KEY", FAKE_KEY);
    command
}

fn bt(sim: &Sim, project: &TestProject, args: &[&str]) -> Run {
    run(command(sim, project, BIN).args(args))
}

/// Registers a run of `module` made by the real orchestrator.
fn orchestrate(sim: &Sim, project: &TestProject, module: &str, samples: &str) {
    let out = run(sim
        .command(project, "orchestrator")
        .args(["run", module, "--samples", samples]));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
}

/// A request to the simulator on a plain socket (the tests have no HTTP client).
fn http(sim: &Sim, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", sim.port)).unwrap();
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {FAKE_KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or_default();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, body.to_owned())
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Live rows per experiment name, as the simulator stores them.
fn stored_rows(sim: &Sim) -> Vec<(String, u64)> {
    let (status, body) = http(sim, "GET", "/_sim/braintrust", None);
    assert_eq!(status, 200, "{body}");
    json(&body)["projects"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["experiments"].as_array().unwrap().clone())
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_owned(),
                e["rows"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn registry(project: &TestProject) -> Value {
    json(&std::fs::read_to_string(project.path("experiment_results/.registry.json")).unwrap())
}

fn entries(project: &TestProject) -> Vec<Value> {
    registry(project)["experiments"]
        .as_object()
        .unwrap()
        .values()
        .cloned()
        .collect()
}

/// Snapshot with the shared filters plus the simulator's port and short dates.
fn snapshot(name: &str, project: &TestProject, sim: Option<&Sim>, out: &Run) {
    let mut filters = filters(project);
    if let Some(sim) = sim {
        filters.push((
            format!("127.0.0.1:{}", sim.port),
            "127.0.0.1:[PORT]".to_owned(),
        ));
    }
    filters.push((
        r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}".to_owned(),
        "[DATE] [TIME]".to_owned(),
    ));
    filters.push((
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}".to_owned(),
        "[UUID]".to_owned(),
    ));
    let filters: Vec<(&str, &str)> = filters
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    insta::with_settings!({ filters => filters, prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!(name, out.transcript());
    });
}

/// Rows of an experiment read back through fetch (`download --format jsonl -o -`).
fn fetched(sim: &Sim, project: &TestProject, experiment: &str) -> Vec<Value> {
    let out = bt(
        sim,
        project,
        &["download", experiment, "--format", "jsonl", "-o", "-"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.stdout.lines().map(json).collect()
}

#[test]
fn a_sync_uploads_every_pending_run_and_a_second_sync_uploads_nothing() {
    let project = TestProject::new();
    let sim = Sim::start(&project, &["--answer-key"]);
    // In this order the runs sort the same way whether or not they start in the same second.
    orchestrate(&sim, &project, "m01", "6");
    orchestrate(&sim, &project, "m12", "20");

    let out = bt(&sim, &project, &["sync"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    snapshot("sync_braintrust_sync", &project, Some(&sim), &out);
    for entry in entries(&project) {
        assert_eq!(entry["status"], "uploaded", "{entry}");
        let url = entry["braintrust_url"].as_str().unwrap();
        assert!(url.starts_with(&format!(
            "http://127.0.0.1:{}/app/sim-org/p/Keyword-Classification-Pipeline/experiments/root_",
            sim.port
        )));
        // Checked through fetch: one row per results row, under the run's own ids.
        let rows = fetched(&sim, &project, entry["local_id"].as_str().unwrap());
        let ids: BTreeSet<&str> = rows
            .iter()
            .map(|r| r["record_id"].as_str().unwrap())
            .collect();
        assert_eq!(rows.len() as u64, entry["samples"].as_u64().unwrap());
        assert_eq!(ids.len(), rows.len());
    }
    let inserts =
        sim.stats()["requests"]["POST /v1/experiment/{experiment_id}/insert"]["200"].clone();
    assert_eq!(inserts, 2);

    let again = bt(&sim, &project, &["sync"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    snapshot("sync_braintrust_sync_again", &project, Some(&sim), &again);
    assert_eq!(
        sim.stats()["requests"]["POST /v1/experiment/{experiment_id}/insert"]["200"],
        inserts
    );
    assert_eq!(stored_rows(&sim).len(), 2);

    let status = bt(&sim, &project, &["status"]);
    assert_eq!(status.code, 0);
    snapshot(
        "sync_braintrust_status_all_uploaded",
        &project,
        Some(&sim),
        &status,
    );

    // The list module's rows carry precision, recall and F1 next to `correct`.
    let m01 = entries(&project)
        .into_iter()
        .find(|e| e["module_id"] == "m01")
        .unwrap();
    let (_, body) = http(
        &sim,
        "POST",
        &format!(
            "/v1/experiment/{}/fetch",
            m01["braintrust_id"].as_str().unwrap()
        ),
        Some("{}"),
    );
    let events = json(&body)["events"].as_array().unwrap().clone();
    assert!(!events.is_empty());
    for e in &events {
        for score in ["correct", "precision", "recall", "f1"] {
            let x = e["scores"][score].as_f64().unwrap_or(-1.0);
            assert!((0.0..=1.0).contains(&x), "{score} in {e}");
        }
    }
}

#[test]
fn an_interrupted_sync_finishes_with_one_row_per_result_row() {
    let project = TestProject::new();
    // The first insert is answered; every one after fails with 500 until the faults are lifted.
    let sim = Sim::start(&project, &["--answer-key", "--bt-insert-fail-after", "1"]);
    orchestrate(&sim, &project, "m12", "150");

    let out = bt(&sim, &project, &["sync", "--retries", "0"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    snapshot("sync_braintrust_sync_failed", &project, Some(&sim), &out);
    let entry = entries(&project).remove(0);
    assert_eq!(entry["status"], "failed");
    assert!(
        entry["notes"].as_str().unwrap().contains("HTTP 500"),
        "{entry}"
    );
    let stored = stored_rows(&sim);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].1, 100, "the first chunk landed");

    let status = bt(&sim, &project, &["status"]);
    snapshot("sync_braintrust_status", &project, Some(&sim), &status);

    let (code, body) = http(
        &sim,
        "POST",
        "/_sim/braintrust/faults",
        Some(r#"{"insert_error_rate": 0, "insert_fail_after": null}"#),
    );
    assert_eq!(code, 200, "{body}");
    let out = bt(&sim, &project, &["sync", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report = json(&out.stdout);
    assert_eq!(
        (report["uploaded"].as_u64(), report["failed"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(report["runs"][0]["status"], "uploaded");
    assert_eq!(report["runs"][0]["rows"], 150);

    // Exactly one row per results row, in the one experiment of the run.
    let stored = stored_rows(&sim);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].1, 150);
    let rows = fetched(&sim, &project, &stored[0].0);
    let ids: BTreeSet<&str> = rows
        .iter()
        .map(|r| r["record_id"].as_str().unwrap())
        .collect();
    assert_eq!((rows.len(), ids.len()), (150, 150));
    let entry = entries(&project).remove(0);
    assert_eq!(entry["status"], "uploaded");
    assert_eq!(entry["notes"], "");
}

#[test]
fn status_works_offline_and_without_a_key() {
    let project = TestProject::new();
    {
        let sim = Sim::start(&project, &["--answer-key"]);
        orchestrate(&sim, &project, "m12", "20");
    }
    let out = project.run(BIN, &["status"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    snapshot("sync_braintrust_status_offline", &project, None, &out);
    let out = project.run(BIN, &["status", "--json"]);
    assert_eq!(out.code, 0);
    let status = json(&out.stdout);
    assert_eq!(status["key_set"], false);
    assert_eq!(status["by_status"]["local_only"], 1);
    assert_eq!(status["not_uploaded"][0]["module_id"], "m12");
}

#[test]
fn every_network_command_says_which_key_to_set() {
    let project = TestProject::new();
    let out = project.run(BIN, &["sync"]);
    assert_eq!(out.code, 2);
    snapshot("sync_braintrust_missing_key", &project, None, &out);
    for args in [
        &["upload", "exp_20260116_123456_m12"][..],
        &["download", "root_m12_x"],
        &["match", "--dry-run"],
        &["list", "--module", "m12"],
        &["download", "--all"],
        &["datasets", "push", "m12"],
        &["datasets", "pull", "m12_golden_v1"],
        &["datasets", "list"],
        &["prompts", "push", "m12"],
        &["prompts", "list"],
    ] {
        let out = project.run(BIN, args);
        assert_eq!(out.code, 2, "{args:?}");
        assert_eq!(out.stderr, project.run(BIN, &["sync"]).stderr, "{args:?}");
    }
    // Nothing reaches a file, and the key never shows in what is printed.
    assert!(!project.path("experiment_results").exists());
    assert!(!project.path("datasets/braintrust").exists());
}

#[test]
fn orchestrator_upload_links_the_run_and_fails_softly() {
    let project = TestProject::new();
    let sim = Sim::start(&project, &["--answer-key", "--bt-api-key", FAKE_KEY]);
    let out = run(command(&sim, &project, "orchestrator").args([
        "run",
        "m12",
        "--samples",
        "20",
        "--upload",
    ]));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let line = out
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("braintrust"))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    assert!(
        line.contains(&format!(
            "http://127.0.0.1:{}/app/sim-org/p/Keyword-Classification-Pipeline/experiments/root_m12_HardConstraintViolationCheck_",
            sim.port
        )),
        "{line}"
    );
    let first = entries(&project).remove(0);
    assert_eq!(first["status"], "uploaded");

    // A refused key: the run is kept and registered, marked failed, exit code 1.
    let out = run(command(&sim, &project, "orchestrator")
        .env("BRAINTRUST_API_KEY", "bt-wrong-key-0000")
        .args(["run", "m01", "--samples", "4", "--upload"]));
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("error: the upload of exp_")
            && out.stderr.contains("HTTP 401 Unauthorized"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("bt-wrong-key-0000"));
    let failed = entries(&project)
        .into_iter()
        .find(|e| e["module_id"] == "m01")
        .unwrap();
    assert_eq!(failed["status"], "failed");
    assert!(failed["notes"].as_str().unwrap().contains("HTTP 401"));
    assert!(project.path(failed["csv_path"].as_str().unwrap()).is_file());

    // Without a key, --upload refuses before anything runs.
    let before = sim.stats()["chat_answered"].clone();
    let out = run(sim.command(&project, "orchestrator").args([
        "run",
        "m14",
        "--samples",
        "3",
        "--upload",
    ]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.starts_with(
            "error: --upload needs Braintrust settings\n  caused by: BRAINTRUST_API_KEY is not set"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(sim.stats()["chat_answered"], before);
}

#[test]
fn upload_refuses_an_uploaded_run_unless_forced() {
    let project = TestProject::new();
    let sim = Sim::start(&project, &["--answer-key"]);
    orchestrate(&sim, &project, "m12", "20");
    let id = entries(&project)[0]["local_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = bt(&sim, &project, &["upload", &id]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .starts_with(&format!("✓ {id}  root_m12_HardConstraintViolationCheck_"))
    );
    let out = bt(&sim, &project, &["upload", &id]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("is already uploaded") && out.stderr.contains("pass --force"));
    let out = bt(&sim, &project, &["upload", &id, "--force", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(json(&out.stdout)["status"], "uploaded");
    assert_eq!(stored_rows(&sim)[0].1, 20, "a forced upload replaces rows");
}

#[test]
fn download_writes_the_results_shape_and_match_links_existing_experiments() {
    let project = TestProject::new();
    let sim = Sim::start(&project, &["--answer-key", "--wrong-rate", "0.2"]);
    orchestrate(&sim, &project, "m12", "20");
    orchestrate(&sim, &project, "m14", "10");
    let m12 = entries(&project)
        .into_iter()
        .find(|e| e["module_id"] == "m12")
        .unwrap();
    let m12_id = m12["local_id"].as_str().unwrap().to_owned();
    let out = bt(&sim, &project, &["upload", &m12_id]);
    assert_eq!(out.code, 0, "{}", out.stderr);

    // Download: the results CSV comes back with the module's columns.
    let out = bt(&sim, &project, &["download", &m12_id]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let path = out
        .stdout
        .lines()
        .next()
        .and_then(|l| l.rsplit_once(" to "))
        .map(|(_, p)| project.path(p))
        .unwrap();
    assert!(
        path.starts_with(
            project.path("experiment_results/M12_HardConstraintViolationCheck/braintrust")
        ),
        "{}",
        path.display()
    );
    let original =
        std::fs::read_to_string(project.path(m12["csv_path"].as_str().unwrap())).unwrap();
    let downloaded = std::fs::read_to_string(&path).unwrap();
    let columns = |text: &str, names: &[&str]| -> Vec<Vec<String>> {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let headers = reader.headers().unwrap().clone();
        let at: Vec<usize> = names
            .iter()
            .map(|n| headers.iter().position(|h| h == *n).unwrap())
            .collect();
        reader
            .records()
            .map(|r| {
                let r = r.unwrap();
                at.iter().map(|&i| r[i].to_owned()).collect()
            })
            .collect()
    };
    let wanted = [
        "record_id",
        "Keyword",
        "ASIN",
        "Expected_Output",
        "output_HC",
        "correct",
        "error",
    ];
    assert_eq!(columns(&downloaded, &wanted), columns(&original, &wanted));
    assert_eq!(
        original.lines().next(),
        downloaded.lines().next(),
        "same header"
    );

    // Match: m14's run was uploaded by someone else under the conventional name.
    let m14 = entries(&project)
        .into_iter()
        .find(|e| e["module_id"] == "m14")
        .unwrap();
    let stamp = m14["local_id"].as_str().unwrap()[4..19].to_owned();
    let (_, body) = http(
        &sim,
        "POST",
        "/v1/project",
        Some(r#"{"name": "Keyword-Classification-Pipeline"}"#),
    );
    let pid = json(&body)["id"].as_str().unwrap().to_owned();
    let (code, body) = http(
        &sim,
        "POST",
        "/v1/experiment",
        Some(&format!(
            r#"{{"project_id": "{pid}", "name": "root_m14_PrimaryUseCheckSameType_{stamp}"}}"#
        )),
    );
    assert_eq!(code, 200, "{body}");
    let dry = bt(&sim, &project, &["match", "--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    snapshot("sync_braintrust_match_dry_run", &project, Some(&sim), &dry);
    let done = bt(&sim, &project, &["match", "--json"]);
    assert_eq!(done.code, 0, "{}", done.stderr);
    let report = json(&done.stdout);
    assert_eq!(report["linked"][0]["local_id"], m14["local_id"]);
    assert_eq!(report["linked"][0]["rule"], "name");
    let linked = entries(&project)
        .into_iter()
        .find(|e| e["module_id"] == "m14")
        .unwrap();
    assert_eq!(linked["status"], "uploaded");
    assert_eq!(linked["braintrust_url"], report["linked"][0]["url"]);
}

/// A run that cannot be uploaded (its CSV lost the `input` column) says why on stderr, where
/// diagnostics go; stdout keeps only the counts.
#[test]
fn the_reason_a_run_cannot_be_uploaded_goes_to_stderr() {
    let project = TestProject::new();
    let sim = Sim::start(&project, &["--answer-key"]);
    orchestrate(&sim, &project, "m12", "5");
    let entry = entries(&project).remove(0);
    let csv = project.path(entry["csv_path"].as_str().unwrap());
    let mut reader = csv::Reader::from_path(&csv).unwrap();
    let headers = reader.headers().unwrap().clone();
    let keep: Vec<usize> = (0..headers.len())
        .filter(|&i| &headers[i] != "input")
        .collect();
    assert!(keep.len() < headers.len(), "the CSV has an input column");
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record(keep.iter().map(|&i| &headers[i]))
        .unwrap();
    for record in reader.records() {
        let record = record.unwrap();
        writer
            .write_record(keep.iter().map(|&i| &record[i]))
            .unwrap();
    }
    std::fs::write(&csv, writer.into_inner().unwrap()).unwrap();

    let id = entry["local_id"].as_str().unwrap();
    for args in [vec!["sync"], vec!["upload", id]] {
        let out = bt(&sim, &project, &args);
        assert_eq!(out.code, 1, "{args:?}: {}\n{}", out.stdout, out.stderr);
        assert!(
            out.stderr.contains(&format!("✗ {id}")) && out.stderr.contains("input"),
            "{args:?}: the reason is on stderr: {}",
            out.stderr
        );
        assert!(
            !out.stdout.contains(&format!("✗ {id}")),
            "{args:?}: not on stdout: {}",
            out.stdout
        );
    }
}

#[test]
fn a_limit_of_zero_is_refused() {
    let project = TestProject::new();
    let out = project.run(BIN, &["sync", "--limit", "0"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--limit"), "{}", out.stderr);
}

/// The simulator's view of the project: datasets and prompts with their live rows / versions.
fn stored_project(sim: &Sim) -> Value {
    let (status, body) = http(sim, "GET", "/_sim/braintrust", None);
    assert_eq!(status, 200, "{body}");
    json(&body)["projects"][0].clone()
}

/// Live rows of each dataset, by name.
fn dataset_rows(sim: &Sim) -> Vec<(String, u64)> {
    stored_project(sim)["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["name"].as_str().unwrap().to_owned(),
                d["rows"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The records of a dataset file, by id.
fn records(path: &std::path::Path) -> std::collections::BTreeMap<String, Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v = json(l);
            (v["id"].as_str().unwrap().to_owned(), v)
        })
        .collect()
}

const GOLDEN: &str = "datasets/single/m12_v1_check_hard_constraint.jsonl";

#[test]
fn datasets_push_pull_and_push_again_leave_exactly_the_records_and_a_pulled_dataset_runs() {
    let project = TestProject::new();
    let sim = Sim::start(&project, &["--answer-key"]);

    let out = bt(&sim, &project, &["datasets", "push", "m12"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    snapshot("sync_braintrust_datasets_push", &project, Some(&sim), &out);
    assert_eq!(dataset_rows(&sim), [("m12_golden_v1".to_owned(), 208)]);

    let out = bt(&sim, &project, &["datasets", "pull", "m12_golden_v1"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    snapshot("sync_braintrust_datasets_pull", &project, Some(&sim), &out);
    let pulled = project.path("datasets/braintrust/m12_golden_v1.jsonl");
    // The same records as the file pushed, in our dataset shape.
    assert_eq!(records(&pulled), records(&project.path(GOLDEN)));

    // Pushing again replaces rows by id: still exactly 208.
    let again = bt(&sim, &project, &["datasets", "push", "m12", "--json"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let report = json(&again.stdout);
    assert_eq!(report["plan"]["remote_rows"], 208);
    assert_eq!(report["pushed"]["created"], false);
    assert_eq!(report["pushed"]["dataset"]["metadata"]["kind"], "golden");
    assert_eq!(report["pushed"]["dataset"]["metadata"]["module_id"], "m12");
    assert_eq!(dataset_rows(&sim), [("m12_golden_v1".to_owned(), 208)]);

    // A pulled dataset runs as it is.
    let run_out = run(sim.command(&project, "orchestrator").args([
        "run",
        "m12",
        "--dataset",
        "datasets/braintrust/m12_golden_v1.jsonl",
        "--samples",
        "12",
    ]));
    assert_eq!(run_out.code, 0, "{}\n{}", run_out.stdout, run_out.stderr);
    assert_eq!(entries(&project)[0]["samples"], 12);

    // A file that lost records: without --prune the stale rows are listed and kept, with it
    // they go (after being listed).
    let text = std::fs::read_to_string(project.path(GOLDEN)).unwrap();
    let fewer: Vec<&str> = text.lines().take(205).collect();
    project.write("m12_fewer.jsonl", fewer.join("\n") + "\n");
    let kept = bt(
        &sim,
        &project,
        &[
            "datasets",
            "push",
            "m12_fewer.jsonl",
            "--name",
            "m12_golden_v1",
        ],
    );
    assert_eq!(kept.code, 0, "{}", kept.stderr);
    assert!(
        kept.stdout
            .contains("3 rows on Braintrust not in the file are kept"),
        "{}",
        kept.stdout
    );
    assert_eq!(dataset_rows(&sim), [("m12_golden_v1".to_owned(), 208)]);
    let pruned = bt(
        &sim,
        &project,
        &[
            "datasets",
            "push",
            "m12_fewer.jsonl",
            "--name",
            "m12_golden_v1",
            "--prune",
        ],
    );
    assert_eq!(pruned.code, 0, "{}", pruned.stderr);
    snapshot(
        "sync_braintrust_datasets_prune",
        &project,
        Some(&sim),
        &pruned,
    );
    assert_eq!(dataset_rows(&sim), [("m12_golden_v1".to_owned(), 205)]);

    let list = bt(&sim, &project, &["datasets", "list"]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    snapshot("sync_braintrust_datasets_list", &project, Some(&sim), &list);
}

#[test]
fn prompt_push_twice_leaves_one_prompt_and_an_upload_links_to_dataset_and_prompt() {
    let project = TestProject::new();
    let sim = Sim::start(&project, &["--answer-key"]);
    let out = bt(&sim, &project, &["datasets", "push", "m12"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let first = bt(&sim, &project, &["prompts", "push", "m12"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let second = bt(
        &sim,
        &project,
        &["prompts", "push", "m12", "--version", "v1"],
    );
    assert_eq!(second.code, 0, "{}", second.stderr);
    snapshot(
        "sync_braintrust_prompts_push_again",
        &project,
        Some(&sim),
        &second,
    );
    let prompts = stored_project(&sim)["prompts"].clone();
    assert_eq!(prompts.as_array().unwrap().len(), 1, "{prompts}");
    assert_eq!(prompts[0]["slug"], "m12-check-hard-constraint-v1");
    assert_eq!(prompts[0]["versions"], 2);
    let list = bt(&sim, &project, &["prompts", "list"]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    snapshot("sync_braintrust_prompts_list", &project, Some(&sim), &list);
    let listed = json(&bt(&sim, &project, &["prompts", "list", "--json"]).stdout);
    let prompt = &listed["prompts"][0];
    assert_eq!(prompt["metadata"]["module_id"], "m12");
    assert_eq!(prompt["metadata"]["version"], "v1");
    assert_eq!(
        prompt["metadata"]["local_file"],
        "prompts/modules/single/m12_v1_check_hard_constraint.md"
    );
    assert_eq!(prompt["prompt_data"]["options"]["model"], "gpt-4o-mini");
    assert_eq!(
        prompt["prompt_data"]["options"]["params"]["response_format"]["json_schema"]["strict"],
        true
    );
    let content = prompt["prompt_data"]["prompt"]["messages"][0]["content"]
        .as_str()
        .unwrap();
    assert!(content.contains("{{input.keyword}}") && !content.contains("{{keyword}}"));

    // A run made after the pushes links, once uploaded, to both.
    orchestrate(&sim, &project, "m12", "10");
    let out = bt(&sim, &project, &["sync"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains(
            "linked to dataset m12_golden_v1, prompt m12-check-hard-constraint-v1 version"
        ),
        "{}",
        out.stdout
    );
    let entry = entries(&project).remove(0);
    let dataset_id = stored_project(&sim)["datasets"][0]["id"].clone();
    assert_eq!(entry["braintrust_dataset_id"], dataset_id);
    assert_eq!(entry["braintrust_prompt_version"], prompts[0]["version"]);
    let (_, body) = http(
        &sim,
        "GET",
        &format!(
            "/v1/experiment/{}",
            entry["braintrust_id"].as_str().unwrap()
        ),
        None,
    );
    let experiment = json(&body);
    assert_eq!(experiment["dataset_id"], dataset_id);
    assert_eq!(
        experiment["metadata"]["prompt"]["slug"],
        "m12-check-hard-constraint-v1"
    );
    assert_eq!(
        experiment["metadata"]["prompt"]["version"],
        prompts[0]["version"]
    );
    assert_eq!(experiment["metadata"]["tier"], "live");

    let status = bt(&sim, &project, &["status"]);
    snapshot(
        "sync_braintrust_status_links",
        &project,
        Some(&sim),
        &status,
    );
    let list = bt(
        &sim,
        &project,
        &["list", "--module", "m12", "--since", "2000-01-01"],
    );
    assert_eq!(list.code, 0, "{}", list.stderr);
    snapshot("sync_braintrust_list", &project, Some(&sim), &list);
    let none = bt(&sim, &project, &["list", "--model", "gpt-5"]);
    assert!(none.stdout.contains(": 0 experiments"), "{}", none.stdout);
}

#[test]
fn bulk_download_of_three_experiments_resumes_after_a_kill() {
    let project = TestProject::new();
    let sim = Sim::start(&project, &["--answer-key"]);
    orchestrate(&sim, &project, "m01", "6");
    orchestrate(&sim, &project, "m12", "40");
    orchestrate(&sim, &project, "m13", "30");
    let out = bt(&sim, &project, &["sync"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let samples: std::collections::BTreeMap<String, u64> = entries(&project)
        .iter()
        .map(|e| {
            (
                e["module_id"].as_str().unwrap().to_owned(),
                e["samples"].as_u64().unwrap(),
            )
        })
        .collect();
    let downloads = || -> Vec<std::path::PathBuf> {
        let mut found = Vec::new();
        for dir in std::fs::read_dir(project.path("experiment_results")).unwrap() {
            let folder = dir.unwrap().path().join("braintrust");
            if let Ok(files) = std::fs::read_dir(folder) {
                found.extend(files.map(|f| f.unwrap().path()));
            }
        }
        found.sort();
        found
    };
    // Every file there is whole: as many rows as its run (a CSV row can span lines, so the
    // file is read as CSV). A kill can leave a temporary file (`.{name}.….tmp`) beside them,
    // never a partial file under the real name; the next run removes it.
    let check_whole = |files: &[std::path::PathBuf], after_kill: bool| {
        for file in files {
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            if after_kill && name.starts_with('.') && name.ends_with(".tmp") {
                continue;
            }
            assert!(name.ends_with(".csv"), "unexpected {name}");
            let module = name.split('_').nth(1).unwrap().to_owned();
            let rows = csv::Reader::from_path(file).unwrap().records().count() as u64;
            assert_eq!(rows, samples[&module], "{name}");
        }
    };

    // Killed part-way (or, on a fast machine, after it finished): what is there is whole.
    let mut child = command(&sim, &project, BIN)
        .args(["download", "--all"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    while downloads().is_empty() && child.try_wait().unwrap().is_none() {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let _ = child.kill();
    child.wait().unwrap();
    let before: Vec<std::path::PathBuf> = downloads()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    check_whole(&downloads(), true);

    let out = bt(&sim, &project, &["download", "--all"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains(&format!(
            "3 experiments: {} downloaded, {} already there.",
            3 - before.len(),
            before.len()
        )),
        "{}",
        out.stdout
    );
    let all = downloads();
    assert_eq!(all.len(), 3);
    check_whole(&all, false);

    // With one file gone, running it again fetches that one only.
    let m12 = all
        .iter()
        .find(|p| p.to_string_lossy().contains("root_m12_"))
        .unwrap();
    std::fs::remove_file(m12).unwrap();
    let fetches = |sim: &Sim| {
        sim.stats()["requests"]["POST /v1/experiment/{experiment_id}/fetch"]["200"]
            .as_u64()
            .unwrap_or(0)
    };
    let fetched_before = fetches(&sim);
    let out = bt(&sim, &project, &["download", "--all"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    snapshot(
        "sync_braintrust_download_all_resume",
        &project,
        Some(&sim),
        &out,
    );
    assert_eq!(downloads().len(), 3);
    check_whole(&downloads(), false);
    assert!(
        fetches(&sim) - fetched_before <= 2,
        "only the missing experiment is fetched"
    );
    let only_m12 = bt(&sim, &project, &["download", "--all", "--module", "m12"]);
    assert!(
        only_m12
            .stdout
            .contains("1 experiment: 0 downloaded, 1 already there."),
        "{}",
        only_m12.stdout
    );
}

#[test]
fn dataset_errors_are_clear_and_a_retry_after_a_500_leaves_the_dataset_right() {
    let project = TestProject::new();
    // No key: exit 2, nothing sent.
    let out = project.run(BIN, &["datasets", "push", "m12"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("BRAINTRUST_API_KEY is not set"),
        "{}",
        out.stderr
    );

    let sim = Sim::start(&project, &["--bt-insert-fail-after", "1"]);
    // Bad input is refused before any request.
    project.write(
        "broken.jsonl",
        "{\"id\": \"a\", \"input\": {}}\n{\"id\": \"b\", \"input\": 3}\n",
    );
    let out = bt(&sim, &project, &["datasets", "push", "broken.jsonl"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("broken.jsonl:2: field `input` must be an object"),
        "{}",
        out.stderr
    );
    let out = bt(&sim, &project, &["datasets", "push", "m99"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("dataset `m99`"), "{}", out.stderr);
    assert!(
        sim.stats()["requests"]
            .as_object()
            .unwrap()
            .keys()
            .all(|k| !k.contains("/v1/")),
        "no request before the input is checked: {}",
        sim.stats()
    );

    // A 500 after the first chunk: a clear error, part of the rows stored, no metadata yet.
    let out = bt(
        &sim,
        &project,
        &["datasets", "push", "m12", "--retries", "0"],
    );
    assert_eq!(out.code, 2, "{}", out.stdout);
    snapshot(
        "sync_braintrust_datasets_push_500",
        &project,
        Some(&sim),
        &out,
    );
    assert_eq!(dataset_rows(&sim), [("m12_golden_v1".to_owned(), 100)]);
    assert!(!out.stderr.contains(FAKE_KEY) && !out.stdout.contains(FAKE_KEY));

    let (code, body) = http(
        &sim,
        "POST",
        "/_sim/braintrust/faults",
        Some(r#"{"insert_fail_after": null}"#),
    );
    assert_eq!(code, 200, "{body}");
    let out = bt(&sim, &project, &["datasets", "push", "m12"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(dataset_rows(&sim), [("m12_golden_v1".to_owned(), 208)]);
    let listed = json(&bt(&sim, &project, &["datasets", "list", "--json"]).stdout);
    assert_eq!(listed["datasets"][0]["metadata"]["kind"], "golden");
    assert_eq!(
        listed["datasets"][0]["metadata"]["sha256"]
            .as_str()
            .map(str::len),
        Some(64)
    );
    assert_eq!(listed["datasets"][0]["changed_locally"], false);

    // An unknown name, with the close one suggested.
    let out = bt(&sim, &project, &["datasets", "pull", "m12_golden"]);
    assert_eq!(out.code, 2);
    snapshot(
        "sync_braintrust_datasets_pull_unknown",
        &project,
        Some(&sim),
        &out,
    );
    assert!(
        !project.path("datasets/braintrust").exists(),
        "nothing written"
    );
}
