use serde_json::Value;

use crate::support::{Run, TestProject, copy_dir, filters, repo_root};

const BIN: &str = "experiment-registry";
const REGISTRY: &str = "experiment_results/.registry.json";
const RUN_A: &str = "exp_20260115_093000_m14";
const RUN_B: &str = "exp_20260116_141203_m14";

/// A project holding the registry fixture (see fixtures/registry/README.md).
fn project() -> TestProject {
    let project = TestProject::new();
    copy_dir(
        &repo_root().join("fixtures/registry/project/experiment_results"),
        &project.path("experiment_results"),
    );
    project
}

/// Snapshots a run with the project root hidden. The fixture's ids and timestamps are fixed, so
/// they stay visible (and the tables keep their alignment); `extra` names more of the shared
/// filters (by replacement) for output that holds times made during the test.
fn snapshot(name: &str, project: &TestProject, run: &Run, extra: &[&str]) {
    let filters: Vec<(String, String)> = filters(project)
        .into_iter()
        .filter(|(_, to)| to == "[ROOT]" || extra.contains(&to.as_str()))
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

#[test]
fn list_shows_runs_newest_first() {
    let project = project();
    let run = project.run(BIN, &["list"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot("experiment_registry_list", &project, &run, &[]);
}

#[test]
fn list_filters_by_module_in_any_spelling_and_by_status() {
    let project = project();
    for spelling in ["m14", "14", "M14", "PrimaryUseCheckSameType"] {
        let run = project.run(BIN, &["list", "--module", spelling, "--json"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let out = json(&run.stdout);
        assert_eq!(out["total"], 3, "{spelling}");
        assert!(
            out["experiments"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["module_id"] == "m14")
        );
    }
    let run = project.run(BIN, &["list", "-m", "m14", "-s", "failed", "--json"]);
    let out = json(&run.stdout);
    assert_eq!(out["total"], 1);
    assert_eq!(
        out["experiments"][0]["local_id"],
        "exp_20260116_141203_m14_2"
    );

    let run = project.run(BIN, &["list", "--limit", "2", "--json"]);
    let out = json(&run.stdout);
    assert_eq!(
        (out["total"].as_u64(), out["shown"].as_u64()),
        (Some(5), Some(2))
    );

    let run = project.run(BIN, &["list", "--module", "m14", "--limit", "1"]);
    snapshot(
        "experiment_registry_list_module_limited",
        &project,
        &run,
        &[],
    );
}

#[test]
fn list_refuses_an_unknown_module() {
    let project = project();
    let run = project.run(BIN, &["list", "--module", "m41"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.starts_with("error: unknown module `m41`")
            && run.stderr.contains("valid ids: m01, m01a"),
        "{}",
        run.stderr
    );
}

#[test]
fn stats_counts_statuses_and_modules() {
    let project = project();
    let run = project.run(BIN, &["stats"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot("experiment_registry_stats", &project, &run, &[]);

    let run = project.run(BIN, &["stats", "--json"]);
    let out = json(&run.stdout);
    assert_eq!(out["total"], 5);
    assert_eq!(
        out["by_status"]["synced"], 1,
        "unknown statuses are counted too"
    );
    assert_eq!(out["by_module"]["m14"], 3);
}

#[test]
fn pending_lists_local_runs_and_failed_uploads() {
    let project = project();
    let run = project.run(BIN, &["pending"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot("experiment_registry_pending", &project, &run, &[]);

    let out = json(&project.run(BIN, &["pending", "--json"]).stdout);
    let ids = |key: &str| -> Vec<String> {
        out[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["local_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids("pending"), ["exp_20260116_160000_m12", RUN_B]);
    assert_eq!(ids("failed"), ["exp_20260116_141203_m14_2"]);
}

#[test]
fn show_prints_everything_including_unknown_fields() {
    let project = project();
    let run = project.run(BIN, &["show", "exp_20260114_101500_m02"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot("experiment_registry_show_legacy", &project, &run, &[]);

    // A unique prefix is enough; a moved project still finds the CSV the old path names.
    let run = project.run(BIN, &["show", "exp_20260115"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot("experiment_registry_show_uploaded", &project, &run, &[]);

    let out = json(
        &project
            .run(BIN, &["show", "exp_20260114_101500_m02", "--json"])
            .stdout,
    );
    assert_eq!(out["tags"], serde_json::json!(["baseline", "path-a"]));
    assert_eq!(out["status"], "synced");
}

#[test]
fn show_of_an_unknown_id_suggests_the_closest() {
    let project = project();
    let run = project.run(BIN, &["show", "exp_20260116_160000_m13"]);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "error: no experiment `exp_20260116_160000_m13` in the registry (did you mean `exp_20260116_160000_m12`?)\n"
    );
}

#[test]
fn compare_reports_known_flips_and_the_exact_mcnemar_p_value() {
    let project = project();
    let run = project.run(BIN, &["compare", RUN_A, RUN_B]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot("experiment_registry_compare", &project, &run, &[]);

    let run = project.run(BIN, &["compare", RUN_A, RUN_B, "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = json(&run.stdout);
    let result = &out["result"];
    assert_eq!(out["module"], "m14");
    assert_eq!(result["paired"], 22);
    assert_eq!(result["correct_a"], 12);
    assert_eq!(result["correct_b"], 19);
    assert_eq!(result["excluded_errors"], 1);
    assert_eq!(
        (result["only_in_a"].as_u64(), result["only_in_b"].as_u64()),
        (Some(1), Some(1))
    );
    let flipped = |key: &str| -> Vec<String> {
        result[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["record_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        flipped("right_to_wrong"),
        [
            "M14_B000H3I2JG__eyeliner pencil with sharpener",
            "M14_B09LCKZBTW__bamboo bathtub tray"
        ]
    );
    assert_eq!(flipped("wrong_to_right").len(), 9);
    // Reference computed by hand from the binomial formula, independently of the code under
    // test: with 2 right→wrong and 9 wrong→right discordant rows, the two-sided exact test is
    // 2 · P(X ≤ 2) for X ~ Binomial(11, 1/2) = 2 · (C(11,0) + C(11,1) + C(11,2)) / 2^11
    // = 2 · (1 + 11 + 55) / 2048 = 134 / 2048 = 0.0654296875 (scipy.stats.binomtest(2, 11)
    // gives the same).
    let p = result["mcnemar"]["p_value"].as_f64().unwrap();
    assert!((p - 134.0 / 2048.0).abs() < 1e-12, "{p}");
    let interval = &result["interval"];
    let (low, high) = (
        interval["low"].as_f64().unwrap(),
        interval["high"].as_f64().unwrap(),
    );
    let diff = result["difference"].as_f64().unwrap();
    assert!((diff - 7.0 / 22.0).abs() < 1e-12);
    assert!(low < diff && diff < high, "{interval}");
    assert_eq!(interval["seed"], 42);

    // The same seed gives the same interval; the runs can also be named by their CSVs.
    let by_path = project.run(
        BIN,
        &[
            "compare",
            "experiment_results/M14_PrimaryUseCheckSameType/M14_PrimaryUseCheckSameType_v1_150126_1.csv",
            "experiment_results/M14_PrimaryUseCheckSameType/M14_PrimaryUseCheckSameType_v2_160126_1.csv",
            "--json",
        ],
    );
    assert_eq!(by_path.code, 0, "{}", by_path.stderr);
    assert_eq!(json(&by_path.stdout)["result"], *result);
}

#[test]
fn compare_refuses_runs_of_different_modules() {
    let project = project();
    let run = project.run(BIN, &["compare", RUN_A, "exp_20260116_160000_m12"]);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "error: A is a run of m14 and B a run of m12: compare needs two runs of the same module\n"
    );
}

#[test]
fn a_truncated_registry_fails_clearly_and_stays_as_it_was() {
    let project = project();
    // A write by the toolkit first, so a summary index exists: it must not hide the damage.
    assert_eq!(project.run(BIN, &["cleanup"]).code, 0);
    assert!(
        project
            .path("experiment_results/.registry.json.summary")
            .is_file()
    );
    let text = std::fs::read(project.path(REGISTRY)).unwrap();
    let truncated = text[..text.len() * 2 / 3].to_vec();
    std::fs::write(project.path(REGISTRY), &truncated).unwrap();

    let run = project.run(BIN, &["list"]);
    assert_eq!(run.code, 2);
    snapshot("experiment_registry_truncated", &project, &run, &[]);
    for args in [&["cleanup"][..], &["stats"], &["pending"], &["show", RUN_A]] {
        let run = project.run(BIN, args);
        assert_eq!(run.code, 2, "{args:?}");
        assert!(
            run.stderr.contains("experiment_results/.registry.json:"),
            "{args:?}: {}",
            run.stderr
        );
    }
    assert_eq!(std::fs::read(project.path(REGISTRY)).unwrap(), truncated);
}

#[test]
fn repair_keeps_a_backup_and_rebuilds_from_the_csvs() {
    let project = project();
    let text = std::fs::read(project.path(REGISTRY)).unwrap();
    // Cut inside the last entry (the m12 run): the first four survive, the m12 CSVs come back
    // from disk.
    let cut = text
        .windows(b"exp_20260116_160000_m12\": {".len())
        .position(|w| w == b"exp_20260116_160000_m12\": {")
        .unwrap()
        + 60;
    let damaged = text[..cut].to_vec();
    std::fs::write(project.path(REGISTRY), &damaged).unwrap();
    // Rebuilt ids come from the CSVs' modification times: make them the same second, so the
    // second id reliably gets the `_2` suffix.
    let when = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_768_579_200);
    for n in [1, 2] {
        let csv = project.path(&format!(
            "experiment_results/M12_HardConstraintViolationCheck/M12_HardConstraintViolationCheck_v1_160126_{n}.csv"
        ));
        std::fs::File::options()
            .write(true)
            .open(csv)
            .unwrap()
            .set_modified(when)
            .unwrap();
    }

    let run = project.run(BIN, &["repair", "--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(std::fs::read(project.path(REGISTRY)).unwrap(), damaged);

    let run = project.run(BIN, &["repair"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot(
        "experiment_registry_repair",
        &project,
        &run,
        &["[TIMESTAMP]"],
    );

    let backups: Vec<_> = std::fs::read_dir(project.path("experiment_results"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".registry.json.bak-"))
        .collect();
    assert_eq!(backups.len(), 1);
    assert_eq!(std::fs::read(&backups[0]).unwrap(), damaged);

    let out = json(&project.run(BIN, &["list", "--json", "--limit", "0"]).stdout);
    assert_eq!(out["total"], 6, "4 salvaged + 2 M12 CSVs rebuilt");
    let legacy = json(
        &project
            .run(BIN, &["show", "exp_20260114_101500_m02", "--json"])
            .stdout,
    );
    assert_eq!(
        legacy["reviewer"], "kd",
        "salvaged entries keep unknown fields"
    );

    let again = project.run(BIN, &["repair"]);
    assert!(again.stdout.contains("Nothing to do."), "{}", again.stdout);
}

#[test]
fn cleanup_drops_entries_whose_csv_is_gone_and_says_which() {
    let project = project();
    let run = project.run(BIN, &["cleanup", "--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with("Would remove 2 entries"),
        "{}",
        run.stdout
    );

    let run = project.run(BIN, &["cleanup"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot("experiment_registry_cleanup", &project, &run, &[]);

    let out = json(&project.run(BIN, &["list", "--json"]).stdout);
    assert_eq!(out["total"], 3);
    let again = project.run(BIN, &["cleanup"]);
    assert_eq!(
        again.stdout,
        "No cleanup needed: every CSV of the 3 runs is there.\n"
    );
    // The rewrite kept the fields nobody asked about.
    let text = std::fs::read_to_string(project.path(REGISTRY)).unwrap();
    assert!(text.contains("\"braintrust_url\": \"https://www.braintrust.dev/app/"));
}

#[test]
fn an_empty_project_says_how_runs_get_there() {
    let project = TestProject::new();
    let run = project.run(BIN, &["list"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "No runs registered yet in experiment_results/.registry.json (the orchestrator adds one per run).\n"
    );
    assert!(!project.path(REGISTRY).exists(), "reading creates nothing");
}
