//! `calculate-agreement`: analyze (text, verbose, JSON) on boolean, ordered and multi-field
//! modules, the one-label case, list, batch, and the errors a damaged file gets.

use std::path::PathBuf;

use serde_json::Value;

use crate::generate_annotation_csv::{add_results, column, only_file, snapshot, snapshot_text};
use crate::merge_annotations::set_columns;
use crate::support::{Run, TestProject, repo_root};

/// An annotation file for `module` filled by the real binaries: a results CSV from the module's
/// dataset, `generate-annotation-csv` sampling `rows` of it, `simulate-annotators` filling both
/// annotators (seeded, so the labels are the same on every run). Returns the file name.
fn simulated(project: &TestProject, module: &str, rows: usize) -> String {
    add_results(project, module, 80, 4);
    let n = rows.to_string();
    let run = project.run("generate-annotation-csv", &["generate", module, "-n", &n]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let prefix = format!("{}_annotation_", module.to_ascii_uppercase());
    let file = only_file(&project.path("annotation_tasks"), &prefix);
    let name = file.file_name().unwrap().to_str().unwrap().to_owned();
    let run = project.run(
        "simulate-annotators",
        &[&name, "--flip-a", "0.1", "--flip-b", "0.15", "--seed", "11"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    name
}

/// Copies `fixtures/agreement/cli/{name}` into the project's `annotation_tasks/`.
fn fixture(project: &TestProject, name: &str) -> PathBuf {
    let from = repo_root().join("fixtures/agreement/cli").join(name);
    let to = project.path("annotation_tasks").join(name);
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(from, &to).unwrap();
    to
}

fn analyze(project: &TestProject, args: &[&str]) -> Run {
    let mut all = vec!["analyze"];
    all.extend_from_slice(args);
    project.run("calculate-agreement", &all)
}

fn json_of(run: &Run) -> Value {
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap()
}

/// The contract of the issue, in order.
const CONTRACT: [&str; 27] = [
    "file",
    "module",
    "total_rows",
    "annotated_rows",
    "cohen_kappa",
    "interpretation",
    "observed_agreement",
    "expected_agreement",
    "agreements",
    "disagreements",
    "labels",
    "distribution_a",
    "distribution_b",
    "kappa_se",
    "kappa_ci95",
    "kappa_bootstrap_ci95",
    "kappa_max",
    "pabak",
    "prevalence_index",
    "bias_index",
    "gwet_ac1",
    "krippendorff_alpha",
    "weighted_kappa_linear",
    "weighted_kappa_quadratic",
    "confusion_matrix",
    "llm_agreement",
    "fields",
];

/// The object starts with the contract's names in order, and every fraction is in [0, 1].
fn check_contract(json: &Value) {
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(&keys[..CONTRACT.len()], CONTRACT, "{keys:?}");
    for key in ["observed_agreement", "expected_agreement"] {
        if let Some(x) = json[key].as_f64() {
            assert!((0.0..=1.0).contains(&x), "{key} = {x}");
        }
    }
    let fields = json["fields"].as_array().unwrap();
    assert!(!fields.is_empty());
    for field in fields {
        for key in &CONTRACT[2..CONTRACT.len() - 1] {
            assert!(field.get(key).is_some(), "field lacks {key}: {field}");
        }
    }
    assert!(!json.to_string().contains("NaN"));
}

#[test]
fn analyze_m12_boolean_text_verbose_and_json() {
    let project = TestProject::new();
    let name = simulated(&project, "m12", 40);
    let run = analyze(&project, &[&name]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot!("calculate_agreement_m12_text", &project, run);
    let run = analyze(&project, &[&name, "--verbose"]);
    snapshot!("calculate_agreement_m12_verbose", &project, run);
    let run = analyze(&project, &[&name, "--json"]);
    let json = json_of(&run);
    check_contract(&json);
    // Two labels: the prevalence and bias indices apply, weighted kappas do not.
    assert!(json["prevalence_index"].is_number());
    assert!(json["weighted_kappa_linear"].is_null());
    assert_eq!(
        json["undefined"]["weighted_kappa_linear"]["code"],
        "unordered"
    );
    assert_eq!(json["labels"], serde_json::json!(["true", "false"]));
    snapshot!("calculate_agreement_m12_json", &project, run);
}

#[test]
fn analyze_m12b_ordered_labels_get_weighted_kappas() {
    let project = TestProject::new();
    let name = simulated(&project, "m12b", 40);
    let run = analyze(&project, &[&name]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot!("calculate_agreement_m12b_text", &project, run);
    let run = analyze(&project, &[&name, "-v"]);
    snapshot!("calculate_agreement_m12b_verbose", &project, run);
    let run = analyze(&project, &[&name, "--json"]);
    let json = json_of(&run);
    check_contract(&json);
    assert!(json["weighted_kappa_linear"].is_number());
    assert!(json["weighted_kappa_quadratic"].is_number());
    assert!(json["prevalence_index"].is_null());
    assert_eq!(
        json["confusion_matrix"]["labels"],
        serde_json::json!(["R", "S", "C", "N"])
    );
    snapshot!("calculate_agreement_m12b_json", &project, run);
}

/// Checked against scikit-learn 1.9.1, run once on the same labels:
///
/// ```python
/// from sklearn.metrics import cohen_kappa_score as k
/// A = "R R R R R R R R S S S S S C C C C C N N N N N N N N R S C N".split()
/// B = "R R R R R R S C S S S C R C C C N S N N N N N N C N R S C N".split()
/// L = "R R R S R R S R S S C C S C C N N C N N N R N N C N R S C N".split()
/// lab = ["R", "S", "C", "N"]
/// k(A[:28], B[:28], labels=lab)                      # 0.6632302405498282
/// k(A[:28], B[:28], labels=lab, weights="linear")    # 0.7854406130268199
/// k(A[:28], B[:28], labels=lab, weights="quadratic") # 0.875
/// k(A[:29], L[:29], labels=lab)                      # 0.6299840510366826 (LLM vs A)
/// ib = list(range(28)) + [29]
/// k([B[i] for i in ib], [L[i] for i in ib], labels=lab)  # 0.6746794871794872 (LLM vs B)
/// cons = [(a, l) for a, b, l in zip(A[:28], B[:28], L[:28]) if a == b]
/// k([c[0] for c in cons], [c[1] for c in cons], labels=lab)  # 0.7358490566037736, 21 rows
/// ```
///
/// The file (fixtures/agreement/cli/M12B_annotation_reference.csv) spells the labels in
/// assorted ways (`relevant`, `n`, `Substitute`, `Not Relevant`, ...); row 29 lacks B's label
/// and row 30 A's, so 28 rows are compared between the annotators.
#[test]
fn reference_file_matches_scikit_learn() {
    let project = TestProject::new();
    fixture(&project, "M12B_annotation_reference.csv");
    let json = json_of(&analyze(
        &project,
        &["M12B_annotation_reference.csv", "--json"],
    ));
    let close = |key: &Value, expected: f64| {
        let got = key.as_f64().unwrap();
        assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
    };
    assert_eq!(json["total_rows"], 30);
    assert_eq!(json["annotated_rows"], 28);
    close(&json["cohen_kappa"], 0.663_230_240_549_828_2);
    close(&json["weighted_kappa_linear"], 0.785_440_613_026_819_9);
    close(&json["weighted_kappa_quadratic"], 0.875);
    close(&json["observed_agreement"], 21.0 / 28.0);
    let llm = &json["llm_agreement"];
    close(&llm["vs_a"]["cohen_kappa"], 0.629_984_051_036_682_6);
    close(&llm["vs_b"]["cohen_kappa"], 0.674_679_487_179_487_2);
    close(&llm["vs_consensus"]["cohen_kappa"], 0.735_849_056_603_773_6);
    assert_eq!(llm["vs_consensus"]["rows"], 21);
    assert_eq!(json["interpretation"], "Substantial");
}

#[test]
fn one_label_file_says_why_kappa_is_undefined() {
    let project = TestProject::new();
    fixture(&project, "M12_annotation_one_label.csv");
    let run = analyze(&project, &["M12_annotation_one_label.csv"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot!("calculate_agreement_one_label", &project, run);

    let json = json_of(&analyze(
        &project,
        &["M12_annotation_one_label.csv", "--json"],
    ));
    check_contract(&json);
    assert!(json["cohen_kappa"].is_null());
    assert!(json["interpretation"].is_null());
    assert_eq!(json["undefined"]["cohen_kappa"]["code"], "single_label");
    assert_eq!(json["undefined"]["interpretation"]["code"], "single_label");
    assert_eq!(json["observed_agreement"], 1.0);
    assert_eq!(json["pabak"], 1.0);
    assert_eq!(json["gwet_ac1"], 1.0);
    assert_eq!(json["annotated_rows"], 11);
}

#[test]
fn multi_field_modules_report_each_field() {
    let project = TestProject::new();
    fixture(&project, "M07_annotation_lists.csv");
    fixture(&project, "M10_annotation_fields.csv");
    let run = analyze(&project, &["M07_annotation_lists.csv"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot!("calculate_agreement_m07_lists", &project, run);
    let run = analyze(&project, &["M10_annotation_fields.csv", "--verbose"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot!("calculate_agreement_m10_fields", &project, run);

    let json = json_of(&analyze(&project, &["M07_annotation_lists.csv", "--json"]));
    check_contract(&json);
    let fields = json["fields"].as_array().unwrap();
    let names: Vec<&str> = fields
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["variants", "use_cases", "audiences"]);
    // Variants, by hand: rows 1, 3, 4 (`none` vs `[]`), 6 and 8 (a JSON array vs a comma
    // list) are equal sets; row 2 overlaps 1/2, row 5 2/3; row 7 lacks B's answer.
    let jaccard = json["mean_jaccard"].as_f64().unwrap();
    assert!((jaccard - 37.0 / 42.0).abs() < 1e-12, "{jaccard}");
    assert_eq!(json["exact_set_agreement"], 5.0 / 7.0);
    assert_eq!(json["annotated_rows"], 7);
    assert_eq!(json["primary_field"], "variants");
    assert!(json["cohen_kappa"].is_null());
    assert_eq!(json["undefined"]["cohen_kappa"]["code"], "not_categorical");

    let json = json_of(&analyze(&project, &["M10_annotation_fields.csv", "--json"]));
    check_contract(&json);
    assert_eq!(json["primary_field"], "action");
    assert!(json["cohen_kappa"].is_number());
    let text = &json["fields"][1];
    assert_eq!(text["kind"], "text");
    // Rows 1, 2 and 6 agree after normalisation (case, the final full stop).
    assert_eq!(text["exact_agreement"], 3.0 / 8.0);
}

#[test]
fn list_shows_files_with_their_annotation_progress() {
    let project = TestProject::new();
    let run = project.run("calculate-agreement", &["list"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot!("calculate_agreement_list_empty", &project, run);

    simulated(&project, "m12", 12);
    fixture(&project, "M12B_annotation_reference.csv");
    fixture(&project, "M07_annotation_lists.csv");
    project.write("annotation_tasks/relevance_sheet.csv", "row_id\n1\n");
    let run = project.run("calculate-agreement", &["list"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot!("calculate_agreement_list", &project, run);

    let json = json_of(&project.run("calculate-agreement", &["list", "--json"]));
    let files = json["files"].as_array().unwrap();
    assert_eq!(files.len(), 4);
    let reference = files
        .iter()
        .find(|f| f["file"] == "annotation_tasks/M12B_annotation_reference.csv")
        .unwrap();
    assert_eq!(reference["rows"], 30);
    assert_eq!(reference["annotated_a"], 29);
    assert_eq!(reference["annotated_both"], 28);
    let unknown = files
        .iter()
        .find(|f| f["file"] == "annotation_tasks/relevance_sheet.csv")
        .unwrap();
    assert!(unknown["module"].is_null());
    assert!(unknown["error"].is_string());
}

#[test]
fn batch_analyses_every_file_and_fails_on_unreadable_ones() {
    let project = TestProject::new();
    simulated(&project, "m12", 40);
    fixture(&project, "M12B_annotation_reference.csv");
    fixture(&project, "M12_annotation_one_label.csv");
    fixture(&project, "M07_annotation_lists.csv");
    let run = project.run("calculate-agreement", &["batch"]);
    assert_eq!(run.code, 0, "{}", run.stderr);

    // A file with a bad label: listed with its error, and the exit code is 1.
    let bad = fixture(&project, "M12B_annotation_reference.csv");
    let broken = bad.with_file_name("M12B_annotation_broken.csv");
    std::fs::rename(&bad, &broken).unwrap();
    fixture(&project, "M12B_annotation_reference.csv");
    let mut a = column(&broken, "annotator_a_relevancy");
    a[4] = "maybe".to_owned();
    set_columns(&broken, &[("annotator_a_relevancy", a)]);
    let run = project.run("calculate-agreement", &["batch"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    snapshot!("calculate_agreement_batch", &project, run);

    let run = project.run("calculate-agreement", &["batch", "--json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["analysed"], 4);
    assert_eq!(json["failed"], 1);
    let files = json["files"].as_array().unwrap();
    let failed: Vec<&Value> = files.iter().filter(|f| f["status"] == "error").collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0]["file"],
        "annotation_tasks/M12B_annotation_broken.csv"
    );
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap()
            .contains("row_id 5 (line 6), annotator_a_relevancy: `maybe`"),
        "{}",
        failed[0]["error"]
    );
    let ok = files.iter().find(|f| f["status"] == "ok").unwrap();
    check_contract(&ok["report"]);
}

#[test]
fn every_invalid_label_is_listed_up_to_a_cap() {
    let project = TestProject::new();
    let name = simulated(&project, "m12", 40);
    let file = project.path("annotation_tasks").join(&name);
    let mut a = column(&file, "annotator_a_violates");
    let mut b = column(&file, "annotator_b_violates");
    for cell in a.iter_mut().take(12) {
        *cell = "maybe".to_owned();
    }
    for cell in b.iter_mut().skip(10).take(11) {
        *cell = "R".to_owned();
    }
    set_columns(
        &file,
        &[("annotator_a_violates", a), ("annotator_b_violates", b)],
    );
    let before = std::fs::read(&file).unwrap();
    let run = analyze(&project, &[&name]);
    assert_eq!(run.code, 2);
    assert!(run.stdout.is_empty());
    snapshot!("calculate_agreement_invalid_labels", &project, run);
    assert_eq!(
        std::fs::read(&file).unwrap(),
        before,
        "the file is untouched"
    );
}

#[test]
fn missing_columns_are_named() {
    let project = TestProject::new();
    project.write(
        "annotation_tasks/M12_annotation_cut.csv",
        "row_id,record_id,llm_violates,annotator_a_violates,annotator_a_reasoning,agreement\n1,M12_x,true,yes,,\n",
    );
    let run = analyze(&project, &["M12_annotation_cut.csv"]);
    assert_eq!(run.code, 2);
    snapshot!("calculate_agreement_missing_column", &project, run);
}

/// Files the tool cannot analyse get one clear message each, naming the file (and line).
#[test]
fn unusable_files_get_clear_messages() {
    let project = TestProject::new();
    let header = "row_id,record_id,llm_violates,annotator_a_violates,annotator_a_reasoning,annotator_b_violates,annotator_b_reasoning\n";
    project.write("annotation_tasks/M12_annotation_empty.csv", "");
    project.write("annotation_tasks/M12_annotation_header_only.csv", header);
    let mut latin1 = header.as_bytes().to_vec();
    latin1.extend_from_slice(b"1,M12_x,true,oui,caf\xe9,yes,\n");
    project.write("annotation_tasks/M12_annotation_latin1.csv", latin1);
    project.write(
        "annotation_tasks/M12_annotation_blank.csv",
        format!("{header}1,M12_x,true,,,yes,\n2,M12_y,false,,,,\n"),
    );
    project.write("annotation_tasks/relevance_sheet.csv", header);

    let mut transcript = String::new();
    for args in [
        &["M12_annotation_empty.csv"][..],
        &["M12_annotation_header_only.csv"],
        &["M12_annotation_latin1.csv"],
        &["M12_annotation_blank.csv"],
        &["relevance_sheet.csv"],
        &["relevance_sheet.csv", "--module", "m99"],
        &["no_such_file.csv"],
    ] {
        let run = analyze(&project, args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stdout);
        assert!(run.stdout.is_empty(), "{args:?}");
        transcript.push_str(&format!(
            "$ calculate-agreement analyze {}\n{}",
            args.join(" "),
            run.stderr
        ));
    }
    let root = project.root().display().to_string();
    snapshot_text!(
        "calculate_agreement_unusable_files",
        transcript.replace(&root, "[ROOT]")
    );
}

#[test]
fn module_flag_seed_and_bootstrap_options() {
    let project = TestProject::new();
    let copied = fixture(&project, "M12B_annotation_reference.csv");
    std::fs::rename(&copied, copied.with_file_name("relevance_sheet.csv")).unwrap();
    let with_module = ["relevance_sheet.csv", "--module", "m12b", "--json"];
    let json = json_of(&analyze(&project, &with_module));
    assert_eq!(json["module"], "m12b");
    assert_eq!(json["bootstrap"]["seed"], 42);
    assert_eq!(json["bootstrap"]["replicates"], 1000);

    // The same seed gives the same interval; another seed (almost surely) another one.
    let again = json_of(&analyze(&project, &with_module));
    assert_eq!(json["kappa_bootstrap_ci95"], again["kappa_bootstrap_ci95"]);
    let mut seeded = with_module.to_vec();
    seeded.extend(["--seed", "7"]);
    let other = json_of(&analyze(&project, &seeded));
    assert_eq!(other["bootstrap"]["seed"], 7);
    assert_ne!(json["kappa_bootstrap_ci95"], other["kappa_bootstrap_ci95"]);
    assert_eq!(json["kappa_ci95"], other["kappa_ci95"]);

    let mut off = with_module.to_vec();
    off.extend(["--bootstrap", "0"]);
    let off = json_of(&analyze(&project, &off));
    assert!(off["kappa_bootstrap_ci95"].is_null());
    assert_eq!(
        off["undefined"]["kappa_bootstrap_ci95"]["code"],
        "no_replicates"
    );
    let text = analyze(
        &project,
        &[
            "relevance_sheet.csv",
            "--module",
            "m12b",
            "--bootstrap",
            "0",
        ],
    );
    let line = text
        .stdout
        .lines()
        .find(|l| l.starts_with("Bootstrap 95% CI:"))
        .unwrap();
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[3..], ["off", "(--bootstrap", "0)"], "{line}");
}

#[test]
fn help_teaches_the_commands() {
    let project = TestProject::new();
    let run = project.run("calculate-agreement", &["--help"]);
    assert_eq!(run.code, 0);
    snapshot!("calculate_agreement_help", &project, run);
    let run = project.run("calculate-agreement", &["analyze", "--help"]);
    assert_eq!(run.code, 0);
    snapshot!("calculate_agreement_analyze_help", &project, run);
}

#[test]
fn duplicate_row_ids_are_refused_as_merge_does() {
    let project = TestProject::new();
    let from = repo_root().join("fixtures/bad/M12_annotation_duplicate_row_ids.csv");
    let to = project.path("annotation_tasks/M12_annotation_duplicate_row_ids.csv");
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(from, &to).unwrap();
    let run = analyze(
        &project,
        &["M12_annotation_duplicate_row_ids.csv", "--json"],
    );
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(run.stdout.is_empty());
    assert!(
        run.stderr
            .contains("duplicate row ids, so rows cannot be told apart; nothing was written:\n  row_id 2 on lines 3, 4"),
        "{}",
        run.stderr
    );
}

#[test]
fn rows_separated_by_another_separator_are_not_left_out() {
    let project = TestProject::new();
    let file = fixture(&project, "M12B_annotation_reference.csv");
    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<String> = text.split("\r\n").map(str::to_owned).collect();
    for line in &mut lines[4..10] {
        *line = line.replace("\",\"", "\";\"");
    }
    lines[3].push_str(",\"one more\"");
    std::fs::write(&file, lines.join("\r\n")).unwrap();
    let run = analyze(&project, &["M12B_annotation_reference.csv"]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(run.stdout.is_empty());
    assert!(
        run.stderr
            .contains("7 rows do not fit the header (21 columns separated by `,`)")
            && run
                .stderr
                .contains("\n  line 4: 22 cells, 1 more than the header's 21 columns")
            && run.stderr.contains("\n  line 10: separated by `;`"),
        "{}",
        run.stderr
    );
}
