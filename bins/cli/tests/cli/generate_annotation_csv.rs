//! `generate-annotation-csv`: list, generate, batch, sampling and sources.

use std::path::{Path, PathBuf};

use core_config::fieldpath::lookup_dotted;
use core_config::{Catalog, Reading, ResultRow, Side, read_records};
use serde_json::{Map, Value, json};

use crate::support::{Run, TestProject};

/// Snapshots a run with the shared filters, plus one for the `_2` suffix a second file written
/// in the same second gets (so snapshots do not depend on the clock).
macro_rules! snapshot {
    ($name:expr, $project:expr, $run:expr) => {{
        let mut filters = $crate::support::filters($project);
        filters.push((
            r"\[TIMESTAMP\]_\d+\.".to_owned(),
            "[TIMESTAMP].".to_owned(),
        ));
        let filters: Vec<(&str, &str)> = filters
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        insta::with_settings!({ filters => filters, prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!($name, $run.transcript());
        });
    }};
}
pub(crate) use snapshot;

/// Snapshots a text under a plain name (like the run snapshots).
macro_rules! snapshot_text {
    ($name:expr, $text:expr) => {{
        insta::with_settings!({ prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!($name, $text);
        });
    }};
}
pub(crate) use snapshot_text;

/// Writes `experiment_results/{folder}/{ID}_v1_20260116_120000.csv` from the first `n` records
/// of the module's dataset, answered by a pretend model that gives another label on every
/// `wrong_every`-th record. Returns the file.
pub fn add_results(project: &TestProject, module: &str, n: usize, wrong_every: usize) -> PathBuf {
    let catalog = Catalog::load(&project.path("modules.toml")).unwrap();
    let spec = catalog.resolve(module).unwrap();
    let field = spec.primary_score();
    let labels = field.labels.as_ref().unwrap();
    let rows: Vec<ResultRow> = read_records(&catalog.dataset_path(spec))
        .unwrap()
        .into_iter()
        .take(n)
        .enumerate()
        .map(|(i, record)| {
            let truth = match labels.read_json(
                Side::Expected,
                lookup_dotted(&record.expected, &field.expected),
            ) {
                Ok(Reading::Label(label)) => label,
                other => panic!("{}: {other:?}", record.id),
            };
            let answer = if (i + 1) % wrong_every == 0 {
                labels
                    .labels()
                    .iter()
                    .find(|l| **l != truth)
                    .unwrap()
                    .clone()
            } else {
                truth
            };
            let mut output = Map::new();
            output.insert(field.output.clone(), labels.output_value(&answer));
            output.insert("confidence".into(), json!(0.8 + (i % 3) as f64 * 0.05));
            output.insert(
                "reasoning".into(),
                json!(format!("Pretend model answer for row {}.", i + 1)),
            );
            ResultRow {
                record_id: record.id.clone(),
                asin: record.meta_text("asin"),
                brand: record.meta_text("brand_name"),
                keyword: record.input_text("keyword"),
                reasoning: format!("Pretend model answer for row {}.", i + 1),
                input: Value::Object(record.input),
                output: Value::Object(output),
                expected: Value::Object(record.expected),
                metadata: Value::Object(record.metadata),
                correct: Some((i + 1) % wrong_every != 0),
                ..ResultRow::default()
            }
        })
        .collect();
    let path = project
        .path("experiment_results")
        .join(spec.folder_name())
        .join(format!("{}_v1_20260116_120000.csv", spec.id.upper()));
    core_config::results::write_results(&path, spec, &rows).unwrap();
    path
}

/// The only file in a folder whose name contains `part`.
pub fn only_file(dir: &Path, part: &str) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.contains(part) && !name.ends_with(".meta.json")
        })
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files.into_iter().next().unwrap()
}

/// A column of an annotation (or validated) file, read back through the library.
pub fn column(path: &Path, name: &str) -> Vec<String> {
    let table = annotation::read_annotation_file(path).unwrap();
    let i = table
        .index_of(name)
        .unwrap_or_else(|| panic!("no column {name}"));
    table.rows.iter().map(|r| r.cells[i].clone()).collect()
}

fn generate(project: &TestProject, args: &[&str]) -> (Run, PathBuf) {
    let run = project.run("generate-annotation-csv", args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let file = only_file(&project.path("annotation_tasks"), "_annotation_");
    (run, file)
}

#[test]
fn list_without_results_says_what_to_do() {
    let project = TestProject::new();
    let run = project.run("generate-annotation-csv", &["list"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot!("generate_annotation_list_empty", &project, run);
}

#[test]
fn generate_m12_writes_the_module_columns() {
    let project = TestProject::new();
    add_results(&project, "m12", 40, 5);
    let (run, file) = generate(
        &project,
        &["generate", "m12", "--sample", "10", "--seed", "42"],
    );
    snapshot!("generate_annotation_m12", &project, run);
    let table = annotation::read_annotation_file(&file).unwrap();
    assert_eq!(
        table.headers,
        [
            "row_id",
            "record_id",
            "asin",
            "keyword",
            "brand_name",
            "product_title",
            "bullet_points",
            "description",
            "validated_use",
            "taxonomy",
            "attribute_table",
            "hard_constraints",
            "llm_violates",
            "llm_violated_constraint",
            "llm_confidence",
            "llm_reasoning",
            "annotator_a_violates",
            "annotator_a_reasoning",
            "annotator_b_violates",
            "annotator_b_reasoning",
            "agreement",
            "notes"
        ]
    );
    assert_eq!(table.rows.len(), 10);
    let row_ids: Vec<String> = (1..=10).map(|i| i.to_string()).collect();
    assert_eq!(column(&file, "row_id"), row_ids);
    // Every record id is a dataset id; lists are joined, structures are JSON.
    let first = &table.rows[0];
    assert!(first.cells[1].starts_with("M12_"), "{:?}", first.cells[1]);
    let taxonomy = &first.cells[table.index_of("taxonomy").unwrap()];
    assert!(taxonomy.starts_with("[{\"level\":1,"), "{taxonomy}");
    assert!(
        column(&file, "llm_violates")
            .iter()
            .all(|v| v == "true" || v == "false")
    );
    assert!(
        column(&file, "annotator_a_violates")
            .iter()
            .all(String::is_empty)
    );
    // The sidecar names the source.
    let sidecar: Value =
        serde_json::from_str(&std::fs::read_to_string(file.with_extension("meta.json")).unwrap())
            .unwrap();
    assert_eq!(
        sidecar["results_file"],
        "experiment_results/M12_HardConstraintViolationCheck/M12_v1_20260116_120000.csv"
    );
    assert_eq!(sidecar["details"]["seed"], 42);
    // The raw file is spreadsheet-safe: BOM, every field quoted, CRLF.
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF\"row_id\",\"record_id\",\"asin\""));
    assert!(
        String::from_utf8(bytes)
            .unwrap()
            .contains("\"\r\n\"1\",\"M12_")
    );
}

#[test]
fn generate_m12b_and_list_show_sources_and_files() {
    let project = TestProject::new();
    add_results(&project, "m12b", 30, 4);
    let (run, file) = generate(&project, &["generate", "12b", "-n", "5", "--no-shuffle"]);
    snapshot!("generate_annotation_m12b", &project, run);
    // --no-shuffle keeps the result CSV's order.
    let dataset =
        read_records(&project.path("datasets/single/m12b_v1_combined_classification.jsonl"))
            .unwrap();
    let first_five: Vec<String> = dataset.iter().take(5).map(|r| r.id.clone()).collect();
    assert_eq!(column(&file, "record_id"), first_five);
    assert_eq!(
        column(&file, "llm_relevancy")[3],
        "S",
        "the 4th answer is the pretend model's mistake"
    );

    let run = project.run("generate-annotation-csv", &["list"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot!("generate_annotation_list", &project, run);
    let run = project.run("generate-annotation-csv", &["list", "--json"]);
    let listing: Value = serde_json::from_str(&run.stdout).unwrap();
    let m12b = listing["modules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["module"] == "m12b")
        .unwrap();
    assert_eq!(m12b["rows"], 30);
    assert_eq!(listing["annotation_files"][0]["rows"], 5);
    assert_eq!(listing["annotation_files"][0]["complete"], 0);
}

#[test]
fn same_seed_gives_the_same_sample_on_every_run() {
    let project = TestProject::new();
    add_results(&project, "m12", 60, 5);
    let ids = |args: &[&str]| {
        let out = project.path("out");
        let _ = std::fs::remove_dir_all(&out);
        let mut all = vec!["generate", "m12", "--output", "out"];
        all.extend_from_slice(args);
        let run = project.run("generate-annotation-csv", &all);
        assert_eq!(run.code, 0, "{}", run.stderr);
        column(&only_file(&out, "_annotation_"), "record_id")
    };
    let first = ids(&["--sample", "15", "--seed", "7"]);
    assert_eq!(first.len(), 15);
    assert_eq!(first, ids(&["--sample", "15", "--seed", "7"]));
    assert_ne!(first, ids(&["--sample", "15", "--seed", "8"]));
    // No seed means seed 42, which is as reproducible as any other.
    assert_eq!(ids(&["-n", "15"]), ids(&["-n", "15", "--seed", "42"]));
    // A bigger sample with the same seed starts with the smaller one.
    assert_eq!(ids(&["--sample", "20", "--seed", "7"])[..15], first[..]);
    // The sample is pinned: a dependency update must not change which rows people get.
    let pinned = ids(&["--sample", "3", "--seed", "42"]);
    let catalog =
        read_records(&project.path("datasets/single/m12_v1_check_hard_constraint.jsonl")).unwrap();
    let position = |id: &String| catalog.iter().position(|r| &r.id == id).unwrap();
    let positions: Vec<usize> = pinned.iter().map(position).collect();
    assert_eq!(positions, PINNED_M12_SEED_42);
}

/// Dataset positions of `--sample 3 --seed 42` out of the first 60 m12 records.
const PINNED_M12_SEED_42: [usize; 3] = [17, 4, 45];

#[test]
fn never_overwrites_an_existing_file() {
    let project = TestProject::new();
    add_results(&project, "m12", 10, 5);
    let mut names = Vec::new();
    for _ in 0..3 {
        let run = project.run("generate-annotation-csv", &["generate", "m12", "--json"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let report: Value = serde_json::from_str(&run.stdout).unwrap();
        names.push(report["file"].as_str().unwrap().to_owned());
    }
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 3, "{names:?}");
}

#[test]
fn batch_all_generates_for_every_module_with_results() {
    let project = TestProject::new();
    add_results(&project, "m12", 20, 5);
    add_results(&project, "m12b", 20, 4);
    let run = project.run(
        "generate-annotation-csv",
        &["batch", "--all", "--sample", "5"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot!("generate_annotation_batch_all", &project, run);
    assert_eq!(
        column(
            &only_file(&project.path("annotation_tasks"), "M12B_"),
            "row_id"
        )
        .len(),
        5
    );

    // Named modules: one without results fails, the others are still written.
    let run = project.run(
        "generate-annotation-csv",
        &["batch", "m12", "m13", "-n", "2", "-q"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    snapshot!("generate_annotation_batch_partial", &project, run);

    let run = project.run("generate-annotation-csv", &["batch"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--all"), "{}", run.stderr);
}

#[test]
fn missing_results_and_bad_arguments_are_explained() {
    let project = TestProject::new();
    let run = project.run("generate-annotation-csv", &["generate", "m12"]);
    assert_eq!(run.code, 2);
    snapshot!("generate_annotation_no_results", &project, run);
    let run = project.run("generate-annotation-csv", &["generate", "m99"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.starts_with("error: unknown module `m99`"),
        "{}",
        run.stderr
    );
    add_results(&project, "m12", 5, 5);
    let run = project.run(
        "generate-annotation-csv",
        &["generate", "m12", "--sample", "0"],
    );
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "error: --sample must be at least 1 (leave it out to keep every row)\n"
    );
    assert!(!project.path("annotation_tasks").exists());
}

#[test]
fn result_csvs_of_the_earlier_tool_are_a_source() {
    let project = TestProject::new();
    let fixture = crate::support::repo_root()
        .join("fixtures/results/M12_HardConstraintViolationCheck_v1_160126_1.csv");
    let folder = project.path("experiment_results/M12_HardConstraintViolationCheck");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(&fixture, folder.join(fixture.file_name().unwrap())).unwrap();
    let (run, file) = generate(&project, &["generate", "m12", "--no-shuffle"]);
    snapshot!("generate_annotation_earlier_tool_source", &project, run);
    assert_eq!(column(&file, "record_id"), ["row1", "row2", "row3"]);
    assert_eq!(
        column(&file, "asin"),
        ["B08J8GZXKZ", "B08J8GZXKZ", "B0BZYCJK89"]
    );
    assert_eq!(column(&file, "keyword")[2], "-5 degree water bottle");
    assert_eq!(column(&file, "llm_violates"), ["true", "false", ""]);
    assert_eq!(
        column(&file, "hard_constraints")[0],
        "Heat Resistant up to 500\u{b0}F"
    );
    // The same file also works through --source from anywhere.
    let run = project.run(
        "generate-annotation-csv",
        &[
            "generate",
            "m12",
            "--source",
            fixture.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["rows"], 3);
}
