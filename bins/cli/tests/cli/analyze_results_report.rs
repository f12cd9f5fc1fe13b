//! `analyze-results report` on the registry fixture (fixtures/registry/README.md): the folder
//! it writes, its summary and JSON, and bad input that stops before anything is written; and on
//! a judged, validated run of the simulator: the module page's judge section.

use serde_json::Value;

use crate::support::{Run, Sim, TestProject, filters, repo_root, run};

const BIN: &str = "analyze-results";
const M14_A: &str = "exp_20260115_093000_m14";
const M14_B: &str = "exp_20260116_141203_m14";
const M12: &str = "exp_20260116_160000_m12";

fn project() -> TestProject {
    let project = TestProject::new();
    test_support::copy_dir(
        &repo_root().join("fixtures/registry/project/experiment_results"),
        &project.path("experiment_results"),
    );
    project
}

fn snapshot(name: &str, project: &TestProject, run: &Run) {
    let mut filters = filters(project);
    filters.push((r" +\d+\.\d KB".to_owned(), " [SIZE] KB".to_owned()));
    let filters: Vec<(&str, &str)> = filters
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    insta::with_settings!({ filters => filters, prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!(name, run.transcript());
    });
}

fn report_dirs(project: &TestProject) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(project.path("reports")) else {
        return Vec::new();
    };
    entries.map(|e| e.unwrap().path()).collect()
}

#[test]
fn report_writes_the_site_and_prints_its_url() {
    let project = project();
    let run = project.run(BIN, &["report", "--compare", M14_A, M14_B]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot("analyze_results_report", &project, &run);
    let dirs = report_dirs(&project);
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    for file in [
        "index.html",
        "m12.html",
        "m14.html",
        "compare.html",
        "m12_errors.csv",
        "m14_errors.csv",
    ] {
        assert!(dirs[0].join(file).is_file(), "{file}");
    }
    let url = run.stdout.lines().last().unwrap();
    assert!(
        url.starts_with("Open: file:///") && url.ends_with("/index.html"),
        "{url}"
    );
}

#[test]
fn report_json_lists_the_files_and_the_url() {
    let project = project();
    let run = project.run(
        BIN,
        &["report", "--modules", "m14", "--max-rows", "2", "--json"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    let files: Vec<&str> = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["m14_errors.csv", "index.html", "m14.html"]);
    assert!(json["url"].as_str().unwrap().starts_with("file:///"));
    assert!(json["dir"].as_str().unwrap().starts_with("reports/"));
    let page = std::fs::read_to_string(report_dirs(&project)[0].join("m14.html")).unwrap();
    assert!(
        page.contains("2 of 4 rows shown"),
        "--max-rows caps the table"
    );
}

#[test]
fn bad_input_stops_before_anything_is_written() {
    let project = project();
    for (args, says) in [
        (vec!["report", "--modules", "m99"], "m99"),
        (vec!["report", "--modules", "m04"], "m04"),
        (
            vec!["report", "--compare", M12, M14_B],
            "--compare needs two runs of one module",
        ),
        (vec!["report", "--compare", "exp_nope", M14_B], "exp_nope"),
        (vec!["report", "--max-rows", "0"], "--max-rows 0"),
    ] {
        let run = project.run(BIN, &args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
        assert!(report_dirs(&project).is_empty(), "{args:?} wrote a report");
    }
    let run = project.run(BIN, &["report", "--compare", M12, M14_B]);
    snapshot("analyze_results_report_compare_modules", &project, &run);
}

#[test]
fn report_out_writes_under_the_given_folder() {
    let project = project();
    let run = project.run(
        BIN,
        &[
            "report",
            "--modules",
            "m12",
            "--out",
            "shared/reports",
            "--json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    let dir = json["dir"].as_str().unwrap();
    assert!(dir.starts_with("shared/reports/"), "{dir}");
    assert!(project.path(dir).join("index.html").is_file());
    assert!(project.path(dir).join("m12.html").is_file());
    assert!(report_dirs(&project).is_empty(), "nothing under reports/");
}

fn json(out: &Run) -> Value {
    assert_eq!(out.code, 0, "{}", out.stderr);
    serde_json::from_str(&out.stdout).unwrap()
}

#[test]
fn the_module_page_shows_the_judge_pass_rates_and_the_validation_of_analyze_results_judge() {
    let project = TestProject::new();
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
    let ran = json(&run(sim
        .command(&project, "orchestrator")
        .args(["run", "m07", "--json"])));
    let judged_run = ran["runs"][0]["local_id"].as_str().unwrap();
    let judged = json(&run(sim
        .command(&project, "analyze-results")
        .args(["judge", judged_run, "--json"])));
    let judge_run = judged["judge_run"].as_str().unwrap();
    let sheet = json(&project.run(
        "generate-annotation-csv",
        &["generate", "m07", "--judge", judge_run, "--json"],
    ));
    let sheet = sheet["file"].as_str().unwrap();
    json(&project.run(
        "simulate-annotators",
        &[sheet, "--flip-a", "0.15", "--flip-b", "0.2", "--json"],
    ));
    let validation = json(&project.run("calculate-agreement", &["analyze", sheet, "--json"]));

    let written = json(&project.run("analyze-results", &["report", "--modules", "m07", "--json"]));
    let page = std::fs::read_to_string(
        project
            .path(written["dir"].as_str().unwrap())
            .join("m07.html"),
    )
    .unwrap();
    let judges = &page[page.find("<h2 id=\"judges\">").expect("judge section")..];
    let judges = &judges[..judges.find("<h2 id=\"history\">").unwrap()];
    assert!(judges.contains(&format!(
        "Judge run <code>{judge_run}</code> of <code>{judged_run}</code> <span class=\"muted\">(the run on this page)</span>"
    )));
    assert!(judges.contains(&format!("{} rows judged", judged["rows"])));
    // Each criterion's figures as `analyze-results judge --json` printed them.
    for c in judged["criteria"].as_array().unwrap() {
        let share = |v: &Value| format!("{:.1}%", v.as_f64().unwrap() * 100.0);
        let row = format!(
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{} – {}</td></tr>",
            c["id"].as_str().unwrap(),
            c["rows"],
            c["passed"],
            share(&c["pass_rate"]),
            share(&c["pass_rate_ci95"][0]),
            share(&c["pass_rate_ci95"][1]),
        );
        assert!(judges.contains(&row), "{row}\n{judges}");
    }
    // The validation status and figures of `calculate-agreement analyze`.
    let all = validation["criteria"].as_array().unwrap().last().unwrap();
    let status = if validation["validated"] == true {
        "<span class=\"ok\"><b>validated</b></span>"
    } else {
        "<span class=\"flag\">failed validation</span>"
    };
    assert!(judges.contains(status), "{judges}");
    let kappa = |v: &Value| {
        v.as_f64()
            .map_or_else(|| "undefined".to_owned(), |k| format!("{k:.3}"))
    };
    let figures = format!(
        "consensus: kappa {}, AC1 {} over {} items; annotator A vs B: kappa {}, AC1 {}",
        kappa(&all["judge_vs_consensus"]["kappa"]),
        kappa(&all["judge_vs_consensus"]["ac1"]),
        all["judge_vs_consensus"]["items"],
        kappa(&all["annotators"]["kappa"]),
        kappa(&all["annotators"]["ac1"]),
    );
    assert!(judges.contains(&figures), "{figures}\n{judges}");
}
