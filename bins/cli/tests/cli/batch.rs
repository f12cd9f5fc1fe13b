//! `batch` against the simulator: the whole cycle for m12 and for every enabled module (scored
//! exactly as a live run through the same simulator), expiry with partial results and
//! resubmission, the earlier tool's folder layout, and the failure paths.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{Run, Sim, TestProject, run};

/// Snapshot filters: the project's, plus the minute-stamped folder name and the port.
fn snapshot(name: &str, project: &TestProject, sim: Option<&Sim>, out: &Run) {
    let mut filters = crate::support::filters(project);
    filters.push((r"\d{8}_\d{4}\b".to_owned(), "[STAMP]".to_owned()));
    if let Some(sim) = sim {
        filters.push((
            format!("127.0.0.1:{}", sim.port),
            "127.0.0.1:[PORT]".to_owned(),
        ));
    }
    let filters: Vec<(&str, &str)> = filters
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    insta::with_settings!({ filters => filters, prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!(name, out.transcript());
    });
}

fn batch(sim: &Sim, project: &TestProject, args: &[&str]) -> Run {
    run(sim.command(project, "batch").args(args))
}

/// The single folder under `batch_requests/` (or `batch_requests/synthetic/`).
fn only_dir(project: &TestProject, under: &str) -> PathBuf {
    let base = project.path(under);
    let dirs: Vec<PathBuf> = std::fs::read_dir(&base)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir() && p.file_name().is_some_and(|n| n != "synthetic"))
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

fn json(out: &Run) -> Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", out.stdout, out.stderr))
}

/// `local_id -> (module, accuracy)` of every registered run.
fn registry(project: &TestProject) -> BTreeMap<String, (String, Option<f64>)> {
    let registry: Value = serde_json::from_slice(
        &std::fs::read(project.path("experiment_results/.registry.json")).unwrap(),
    )
    .unwrap();
    registry["experiments"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(id, e)| {
            (
                id.clone(),
                (
                    e["module_id"].as_str().unwrap().to_owned(),
                    e["accuracy"].as_f64(),
                ),
            )
        })
        .collect()
}

/// Runs upload, status --watch, download and evaluate --json on a folder; returns the
/// evaluation report.
fn submit_and_evaluate(sim: &Sim, project: &TestProject, dir: &str) -> Value {
    let up = batch(sim, project, &["upload", dir]);
    assert_eq!(up.code, 0, "{}\n{}", up.stdout, up.stderr);
    let watched = batch(
        sim,
        project,
        &["status", dir, "--watch", "--interval", "100ms"],
    );
    assert_eq!(watched.code, 0, "{}\n{}", watched.stdout, watched.stderr);
    let down = batch(sim, project, &["download", dir]);
    assert_eq!(down.code, 0, "{}\n{}", down.stdout, down.stderr);
    let evaluated = batch(sim, project, &["evaluate", dir, "--json"]);
    assert_eq!(
        evaluated.code, 0,
        "{}\n{}",
        evaluated.stdout, evaluated.stderr
    );
    json(&evaluated)
}

#[test]
fn help_teaches_the_steps() {
    let project = TestProject::new();
    let out = project.run("batch", &["--help"]);
    assert_eq!(out.code, 0);
    snapshot("batch_help", &project, None, &out);
}

#[test]
fn generate_writes_request_files_and_a_manifest() {
    let project = TestProject::new();
    let out = project.run("batch", &["generate", "m12", "m12b", "--max-lines", "150"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    snapshot("batch_generate", &project, None, &out);
    let dir = only_dir(&project, "batch_requests");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["format"], 1);
    assert_eq!(manifest["total_records"], 416);
    assert_eq!(manifest["results"][0]["custom_ids"], "record_id");
    assert_eq!(manifest["results"][0]["files"][0]["requests"], 150);
    assert_eq!(manifest["results"][0]["files"][1]["requests"], 58);
    for file in [
        "m12_part01_batch.jsonl",
        "m12_part02_batch.jsonl",
        "m12b_part02_batch.jsonl",
    ] {
        assert!(dir.join(file).is_file(), "{file}");
    }
    // Only finished folders are visible: nothing else was left in batch_requests/.
    assert_eq!(
        std::fs::read_dir(project.path("batch_requests"))
            .unwrap()
            .count(),
        1
    );
}

#[test]
fn synthetic_sets_get_their_own_folder_and_ids() {
    let project = TestProject::new();
    let out = project.run("batch", &["generate", "--synthetic", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report = json(&out);
    assert!(
        report["dir"]
            .as_str()
            .unwrap()
            .starts_with("batch_requests/synthetic/")
    );
    let keys: Vec<&str> = report["manifest"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["m02_sd01", "m12_sd01", "m12b_sd01"]);
    let dir = only_dir(&project, "batch_requests/synthetic");
    let first = std::fs::read_to_string(dir.join("m12_sd01_batch.jsonl")).unwrap();
    let line: Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    assert_eq!(
        line["custom_id"],
        "m12_sd01_M12_SD01_B08J8GZXKZ__silicone_pot_holder_set"
    );

    let missing = project.run("batch", &["generate", "--synthetic", "m13"]);
    assert_eq!(missing.code, 2);
    snapshot("batch_generate_no_synthetic", &project, None, &missing);
}

#[test]
fn the_m12_cycle_scores_exactly_as_a_live_run_does() {
    let project = TestProject::new();
    let sim = Sim::start(
        &project,
        &[
            "--answer-key",
            "--wrong-rate",
            "0.1",
            "--seed",
            "7",
            "--batch-duration",
            "1s",
        ],
    );
    let generated = batch(&sim, &project, &["generate", "m12"]);
    assert_eq!(generated.code, 0, "{}", generated.stderr);
    let dir = only_dir(&project, "batch_requests");
    let name = dir.file_name().unwrap().to_str().unwrap().to_owned();

    // A bare folder name is found under batch_requests/.
    let up = batch(&sim, &project, &["upload", &name]);
    assert_eq!(up.code, 0, "{}", up.stderr);
    snapshot("batch_upload", &project, Some(&sim), &up);
    let again = batch(&sim, &project, &["upload", &name]);
    assert_eq!(again.code, 0);
    assert!(
        again
            .stdout
            .contains("0 uploaded, 0 batches created, 0 found again, 1 already submitted")
    );

    let watched = batch(
        &sim,
        &project,
        &["status", &name, "--watch", "--interval", "100ms"],
    );
    assert_eq!(watched.code, 0, "{}", watched.stderr);
    snapshot("batch_status_watch", &project, Some(&sim), &watched);
    assert!(dir.join("status_report.json").is_file());

    let down = batch(&sim, &project, &["download", &name]);
    assert_eq!(down.code, 0, "{}", down.stderr);
    snapshot("batch_download", &project, Some(&sim), &down);

    let evaluated = batch(&sim, &project, &["evaluate", &name]);
    assert_eq!(evaluated.code, 0, "{}", evaluated.stderr);
    snapshot("batch_evaluate", &project, Some(&sim), &evaluated);
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.join("evaluation_report.json")).unwrap())
            .unwrap();
    let evaluation = &report["evaluations"][0];
    assert_eq!(evaluation["requests"], 208);
    assert_eq!(evaluation["total"], 208);
    assert_eq!(evaluation["errors_count"], 0);
    let batch_id = evaluation["local_id"].as_str().unwrap().to_owned();

    let live = run(sim
        .command(&project, "orchestrator")
        .args(["run", "m12", "--no-cache"]));
    assert_eq!(live.code, 0, "{}", live.stderr);
    let runs = registry(&project);
    assert_eq!(runs.len(), 2);
    let batch_accuracy = runs[&batch_id].1.unwrap();
    let (_, (_, live_accuracy)) = runs.iter().find(|(id, _)| **id != batch_id).unwrap();
    assert_eq!(Some(batch_accuracy), *live_accuracy);
    assert!(
        batch_accuracy < 1.0,
        "the simulator answers some records wrongly"
    );

    // The key reaches no file the workflow wrote.
    for folder in [dir, project.path("experiment_results")] {
        for file in files_under(&folder) {
            let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
            assert!(
                !text.contains("sk-test-not-a-real-key"),
                "{}",
                file.display()
            );
        }
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn every_enabled_module_runs_through_batches_as_it_does_live() {
    let project = TestProject::new();
    let sim = Sim::start(
        &project,
        &[
            "--answer-key",
            "--wrong-rate",
            "0.15",
            "--seed",
            "3",
            "--batch-duration",
            "1s",
        ],
    );
    let generated = batch(&sim, &project, &["generate", "--json"]);
    assert_eq!(generated.code, 0, "{}", generated.stderr);
    let dir = json(&generated)["dir"].as_str().unwrap().to_owned();
    let report = submit_and_evaluate(&sim, &project, &dir);
    let evaluations = report["evaluations"].as_array().unwrap();
    let enabled = 21;
    assert_eq!(evaluations.len(), enabled);
    assert_eq!(report["summary"]["total_errors"], 0);

    let live =
        run(sim
            .command(&project, "orchestrator")
            .args(["run", "--all", "--no-cache", "--json"]));
    assert_eq!(live.code, 0, "{}", live.stderr);
    let live = json(&live);
    let live: BTreeMap<String, Option<f64>> = live["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["module"].as_str().unwrap().to_owned(),
                r["metrics"]["accuracy"].as_f64(),
            )
        })
        .collect();
    for e in evaluations {
        let module = e["module"].as_str().unwrap();
        assert_eq!(
            e["metrics"]["accuracy"].as_f64(),
            live[module],
            "module {module}"
        );
    }
}

#[test]
fn expired_and_failed_requests_are_kept_and_resubmitted() {
    let project = TestProject::new();
    // 10% of batch lines fail with HTTP 500 (the error file then holds both shapes).
    let sim = Sim::start(
        &project,
        &[
            "--answer-key",
            "--wrong-rate",
            "0.1",
            "--seed",
            "5",
            "--error-rate",
            "0.1",
            "--batch-duration",
            "1s",
        ],
    );
    let generated = batch(
        &sim,
        &project,
        &[
            "generate",
            "m12",
            "--samples",
            "80",
            "--seed",
            "9",
            "--json",
        ],
    );
    assert_eq!(generated.code, 0, "{}", generated.stderr);
    let dir = json(&generated)["dir"].as_str().unwrap().to_owned();
    // This batch runs out of time half-way (the simulator reads the duration from metadata).
    let up = batch(
        &sim,
        &project,
        &["upload", &dir, "--metadata", "sim_expire_after_ms=500"],
    );
    assert_eq!(up.code, 0, "{}", up.stderr);
    let watched = batch(
        &sim,
        &project,
        &["status", &dir, "--watch", "--interval", "100ms"],
    );
    assert_eq!(watched.code, 1, "expired is not a clean finish");
    snapshot("batch_status_expired", &project, Some(&sim), &watched);
    let down = batch(&sim, &project, &["download", &dir]);
    assert_eq!(down.code, 0, "{}", down.stderr);

    let partial = batch(&sim, &project, &["evaluate", &dir, "--json"]);
    assert_eq!(partial.code, 1, "unanswered requests make exit code 1");
    let report = json(&partial);
    let evaluation = &report["evaluations"][0];
    let kinds: BTreeMap<String, usize> =
        evaluation["errors"]
            .as_array()
            .unwrap()
            .iter()
            .fold(BTreeMap::new(), |mut m, e| {
                *m.entry(e["kind"].as_str().unwrap().to_owned()).or_default() += 1;
                m
            });
    assert!(
        kinds.get("batch_expired").copied().unwrap_or(0) > 0,
        "{kinds:?}"
    );
    assert_eq!(
        evaluation["total"].as_u64().unwrap() + evaluation["errors_count"].as_u64().unwrap(),
        80
    );

    let dry = batch(&sim, &project, &["resubmit", &dir, "--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(!Path::new(&project.path(&dir)).join("retry01").exists());
    let mut rounds = 0;
    loop {
        let again = batch(&sim, &project, &["resubmit", &dir]);
        assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
        if again.stdout.contains("nothing to resubmit") {
            break;
        }
        rounds += 1;
        if rounds == 1 {
            snapshot("batch_resubmit", &project, Some(&sim), &again);
        }
        assert!(rounds < 6, "resubmission does not converge");
        let watched = batch(
            &sim,
            &project,
            &["status", &dir, "--watch", "--interval", "100ms"],
        );
        assert!(watched.code <= 1, "{}", watched.stderr);
        let down = batch(&sim, &project, &["download", &dir]);
        assert_eq!(down.code, 0, "{}", down.stderr);
    }
    let done = batch(&sim, &project, &["evaluate", &dir, "--json"]);
    assert_eq!(done.code, 0, "{}\n{}", done.stdout, done.stderr);
    let evaluation = &json(&done)["evaluations"][0];
    assert_eq!(evaluation["total"], 80);
    let batch_accuracy = evaluation["metrics"]["accuracy"].as_f64();

    let live = run(sim.command(&project, "orchestrator").args([
        "run",
        "m12",
        "--samples",
        "80",
        "--seed",
        "9",
        "--no-cache",
        "--json",
    ]));
    assert_eq!(live.code, 0, "{}", live.stderr);
    assert_eq!(
        json(&live)["runs"][0]["metrics"]["accuracy"].as_f64(),
        batch_accuracy
    );
}

#[test]
fn a_folder_of_the_earlier_tool_is_evaluated() {
    let project = TestProject::new();
    let fixture = crate::support::repo_root().join("fixtures/batch/legacy_20260112_2127");
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
    let out = project.run("batch", &["evaluate", "20260112_2127"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    snapshot("batch_evaluate_legacy", &project, None, &out);
    let report: Value =
        serde_json::from_slice(&std::fs::read(target.join("evaluation_report.json")).unwrap())
            .unwrap();
    let e = &report["evaluations"][0];
    assert_eq!(
        (e["requests"].as_u64(), e["total"].as_u64()),
        (Some(6), Some(4))
    );
    assert_eq!(e["correct"], 3);
    assert_eq!(e["mismatches"][0]["custom_id"], "m12_00003");
    let errors: Vec<(&str, &str)> = e["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["custom_id"].as_str().unwrap(),
                u["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        [("m12_00004", "server_error"), ("m12_00005", "missing")]
    );

    let dry = project.run("batch", &["upload", "20260112_2127", "--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        dry.stdout.contains("skip (batch batch_legacy12)"),
        "{}",
        dry.stdout
    );
}

#[test]
fn steps_out_of_order_and_bad_input_say_what_to_do() {
    let project = TestProject::new();
    let sim = Sim::start(&project, &["--batch-duration", "1s"]);
    let generated = batch(&sim, &project, &["generate", "m14", "--json"]);
    let dir = json(&generated)["dir"].as_str().unwrap().to_owned();

    let status = batch(&sim, &project, &["status", &dir]);
    assert_eq!(status.code, 2);
    snapshot("batch_status_before_upload", &project, Some(&sim), &status);

    let missing = batch(&sim, &project, &["download", "no_such_folder"]);
    assert_eq!(missing.code, 2);
    snapshot("batch_no_such_folder", &project, Some(&sim), &missing);

    let evaluate = batch(&sim, &project, &["evaluate", &dir]);
    assert_eq!(evaluate.code, 2);
    assert!(
        evaluate.stderr.contains("m14: no results in ")
            && evaluate.stderr.contains(&format!(
                "run `batch download {}",
                project.path(&dir).display()
            )),
        "{}",
        evaluate.stderr
    );

    let too_big = batch(&sim, &project, &["generate", "m12", "--max-bytes", "4KiB"]);
    assert_eq!(too_big.code, 2);
    snapshot(
        "batch_generate_request_too_big",
        &project,
        Some(&sim),
        &too_big,
    );

    project.write(
        "datasets/single/m14_v1_check_primary_use_same_type.jsonl",
        "{\"id\": \"a\", \"input\": {}}\n{\"id\": \"a\"\n",
    );
    let broken = batch(&sim, &project, &["generate", "m14"]);
    assert_eq!(broken.code, 2);
    snapshot(
        "batch_generate_broken_dataset",
        &project,
        Some(&sim),
        &broken,
    );

    let bad_metadata = batch(&sim, &project, &["upload", &dir, "--metadata", "file=x"]);
    assert_eq!(bad_metadata.code, 2);
    assert!(
        bad_metadata
            .stderr
            .contains("metadata key `file` is set by the toolkit")
    );
}

/// Options out of range are refused by the parser (exit 2, the option named) and nothing is
/// written.
#[test]
fn out_of_range_options_are_refused_before_anything_is_written() {
    let project = TestProject::new();
    for args in [
        &["generate", "m12", "--max-lines", "0"][..],
        &["generate", "m12", "--max-bytes", "0"],
        &["generate", "m12", "--max-tokens-per-file", "0"],
        &["generate", "m12", "--samples", "0"],
        &["generate", "m12", "--model", ""],
        &["status", "somewhere", "--interval", "0s"],
        &["status", "somewhere", "--max-interval", "0s"],
        &["upload", "somewhere", "--metadata", "=x"],
    ] {
        let out = project.run("batch", args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        let flag = args.iter().find(|a| a.starts_with("--")).unwrap();
        assert!(out.stderr.contains(flag), "{args:?}: {}", out.stderr);
    }
    assert!(!project.path("batch_requests").exists());
}
