//! `merge-annotations` (list, merge with every strategy, gold) and `simulate-annotators`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use annotation::sheet::SafeCsvWriter;
use core_config::fieldpath::lookup_dotted;
use core_config::{Catalog, Reading, Side, read_records};
use serde_json::Value;

use crate::generate_annotation_csv::{add_results, column, only_file, snapshot, snapshot_text};
use crate::support::TestProject;

/// Replaces whole columns of an annotation file (as a person editing it would, but keeping the
/// toolkit's format).
pub fn set_columns(path: &Path, columns: &[(&str, Vec<String>)]) {
    let mut table = annotation::read_annotation_file(path).unwrap();
    for (name, values) in columns {
        let i = table.index_of(name).unwrap();
        assert_eq!(values.len(), table.rows.len(), "{name}");
        for (row, value) in table.rows.iter_mut().zip(values) {
            row.cells[i].clone_from(value);
        }
    }
    let mut writer = SafeCsvWriter::new(path, Vec::new(), &table.headers).unwrap();
    for row in &table.rows {
        writer.write_row(&row.cells).unwrap();
    }
    std::fs::write(path, writer.finish().unwrap()).unwrap();
}

/// Some columns of a CSV as a small aligned table, for snapshots.
pub fn columns_table(path: &Path, names: &[&str]) -> String {
    let cols: Vec<Vec<String>> = names.iter().map(|n| column(path, n)).collect();
    let mut rows = vec![names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()];
    for i in 0..cols[0].len() {
        rows.push(cols.iter().map(|c| c[i].clone()).collect());
    }
    let widths: Vec<usize> = (0..names.len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap())
        .collect();
    rows.iter()
        .map(|r| {
            let line: Vec<String> = r
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            format!("{}\n", line.join(" | ").trim_end())
        })
        .collect()
}

const M12_VIEW: [&str; 7] = [
    "row_id",
    "annotator_a_violates",
    "annotator_b_violates",
    "llm_violates",
    "final_label",
    "resolution",
    "annotator_agreement",
];

/// An m12 annotation file of 12 rows filled so that every resolution happens: rows 1–5 and 12
/// agree (4 and 5 against the model), 6 and 9 disagree with A on the model's side, 7 with B on
/// it, 8 has no model answer, 10 and 11 are incomplete. Labels are typed in assorted spellings.
fn m12_task(project: &TestProject) -> PathBuf {
    add_results(project, "m12", 40, 5);
    let run = project.run("generate-annotation-csv", &["generate", "m12", "-n", "12"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let file = only_file(&project.path("annotation_tasks"), "M12_annotation_");
    let llm = column(&file, "llm_violates");
    let not = |v: &str| if v == "true" { "false" } else { "true" };
    let spell = |v: &str, k: usize| {
        let (yes, no) = (["yes", "TRUE", "y", "1"], ["no", "n", "False", "0"]);
        if v == "true" { yes[k % 4] } else { no[k % 4] }.to_owned()
    };
    let (mut a, mut b, mut model) = (Vec::new(), Vec::new(), llm.clone());
    for (i, l) in llm.iter().enumerate() {
        let row = i + 1;
        let (va, vb) = match row {
            1..=3 | 12 => (l.as_str(), l.as_str()),
            4 | 5 => (not(l), not(l)),
            6 | 9 => (l.as_str(), not(l)),
            7 => (not(l), l.as_str()),
            8 => {
                model[i] = String::new();
                ("true", "false")
            }
            10 => ("", l.as_str()),
            _ => ("", ""),
        };
        a.push(if va.is_empty() {
            String::new()
        } else {
            spell(va, i)
        });
        b.push(if vb.is_empty() {
            String::new()
        } else {
            spell(vb, i + 1)
        });
    }
    set_columns(
        &file,
        &[
            ("annotator_a_violates", a),
            ("annotator_b_violates", b),
            ("llm_violates", model),
            (
                "annotator_a_reasoning",
                (0..12).map(|i| format!("A's note {i}")).collect(),
            ),
        ],
    );
    file
}

#[test]
fn merge_m12_with_each_strategy() {
    let project = TestProject::new();
    let task = m12_task(&project);
    let name = task.file_name().unwrap().to_str().unwrap().to_owned();
    for strategy in ["majority", "conservative", "annotator_a", "annotator_b"] {
        let out = format!("out_{strategy}");
        let run = project.run(
            "merge-annotations",
            &["merge", &name, "--strategy", strategy, "-o", &out],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        snapshot!(format!("merge_m12_{strategy}"), &project, run);
        let validated = only_file(&project.path(&out), "M12_validated_");
        snapshot_text!(
            format!("merge_m12_{strategy}_file"),
            columns_table(&validated, &M12_VIEW)
        );
    }
    // Nothing went to validated_data/ (every run had -o), and the annotation file is unchanged
    // by merging.
    assert!(!project.path("validated_data").exists());
    let headers = annotation::read_annotation_file(&task).unwrap().headers;
    assert!(!headers.contains(&"final_label".to_owned()), "{headers:?}");
}

#[test]
fn disagreements_only_writes_the_rows_to_review() {
    let project = TestProject::new();
    let task = m12_task(&project);
    let run = project.run(
        "merge-annotations",
        &["merge", task.to_str().unwrap(), "--disagreements-only"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot!("merge_m12_disagreements_only", &project, run);
    let file = only_file(&project.path("validated_data"), "M12_disagreements_");
    assert_eq!(column(&file, "row_id"), ["6", "7", "8", "9"]);
    assert_eq!(column(&file, "annotator_agreement"), ["0", "0", "0", "0"]);
}

#[test]
fn invalid_labels_are_all_listed_and_nothing_is_written() {
    let project = TestProject::new();
    let task = m12_task(&project);
    let mut a = column(&task, "annotator_a_violates");
    let mut b = column(&task, "annotator_b_violates");
    a[1] = "maybe".into();
    b[4] = "R".into();
    b[8] = "N/A".into();
    set_columns(
        &task,
        &[("annotator_a_violates", a), ("annotator_b_violates", b)],
    );
    let run = project.run("merge-annotations", &["merge", task.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    snapshot!("merge_m12_invalid_labels", &project, run);
    assert!(!project.path("validated_data").exists());

    // A file whose header lost an annotator column.
    let text = std::fs::read_to_string(&task).unwrap();
    std::fs::write(
        &task,
        text.replacen("annotator_b_violates", "annotator_b", 1),
    )
    .unwrap();
    let run = project.run("merge-annotations", &["merge", task.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains(":1: missing column `annotator_b_violates` (module m12 needs them"),
        "{}",
        run.stderr
    );
}

#[test]
fn unfilled_files_and_unknown_names_are_explained() {
    let project = TestProject::new();
    add_results(&project, "m12", 5, 5);
    assert_eq!(
        project
            .run("generate-annotation-csv", &["generate", "m12"])
            .code,
        0
    );
    let task = only_file(&project.path("annotation_tasks"), "M12_annotation_");
    let run = project.run("merge-annotations", &["merge", task.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    snapshot!("merge_m12_nothing_annotated", &project, run);
    let run = project.run("merge-annotations", &["merge", "nope.csv"]);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "error: nope.csv: no such file (also looked in annotation_tasks)\n"
    );
    std::fs::copy(&task, project.path("annotation_tasks/renamed.csv")).unwrap();
    let run = project.run("merge-annotations", &["merge", "renamed.csv"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("pass --module"), "{}", run.stderr);
}

/// Gold records read as the module's dataset: the same ids and inputs as the dataset, and
/// expected values that the module's label reading accepts.
fn check_gold(project: &TestProject, module: &str, gold: &Path) -> Vec<core_config::Record> {
    let catalog = Catalog::load(&project.path("modules.toml")).unwrap();
    let spec = catalog.resolve(module).unwrap();
    let dataset: HashMap<String, core_config::Record> = read_records(&catalog.dataset_path(spec))
        .unwrap()
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
    let records = read_records(gold).unwrap();
    let field = spec.primary_score();
    for record in &records {
        assert_eq!(record.input, dataset[&record.id].input, "{}", record.id);
        let read = field.labels.as_ref().unwrap().read_json(
            Side::Expected,
            lookup_dotted(&record.expected, &field.expected),
        );
        assert!(matches!(read, Ok(Reading::Label(_))), "{read:?}");
    }
    records
}

#[test]
fn gold_from_m12_majority_is_a_dataset() {
    let project = TestProject::new();
    let task = m12_task(&project);
    let run = project.run("merge-annotations", &["merge", task.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let validated = only_file(&project.path("validated_data"), "M12_validated_");
    let name = validated.file_name().unwrap().to_str().unwrap().to_owned();
    let run = project.run("merge-annotations", &["gold", &name]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot!("gold_m12_jsonl", &project, run);
    let gold = only_file(&project.path("validated_data"), "M12_gold_");
    let records = check_gold(&project, "m12", &gold);
    assert_eq!(records.len(), 10);
    let finals = column(&validated, "final_label");
    for (record, label) in records.iter().zip(&finals) {
        // The label "true" (a violation) is written the dataset's way: relevancy "N".
        let want = if label == "true" {
            Value::from("N")
        } else {
            Value::Null
        };
        assert_eq!(record.expected["relevancy"], want, "{}", record.id);
        assert_eq!(
            record.metadata["source_file"],
            format!("validated_data/{name}")
        );
        assert!(record.metadata["resolution"].is_string());
        assert!(record.metadata["annotator_agreement"].is_boolean());
    }
    // The first line, in full, for the record.
    let first = std::fs::read_to_string(&gold).unwrap();
    let first: Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    let keys: Vec<&str> = first
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["id", "input", "expected", "metadata"]);

    let run = project.run("merge-annotations", &["gold", &name, "--format", "csv"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot!("gold_m12_csv", &project, run);
    let flat = gold.with_extension("csv");
    let flat = if flat.is_file() {
        flat
    } else {
        // Written in a later second than the JSONL file.
        std::fs::read_dir(project.path("validated_data"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().contains("_gold_") && p.extension().unwrap() == "csv")
            .unwrap()
    };
    assert_eq!(column(&flat, "label"), finals);

    let run = project.run("merge-annotations", &["list"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot!("merge_list_m12", &project, run);
    let run = project.run("merge-annotations", &["list", "--json"]);
    let listing: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(listing["annotation_files"][0]["complete"], 10);
    assert_eq!(listing["gold_files"].as_array().unwrap().len(), 2);
}

#[test]
fn gold_skips_rows_left_for_review() {
    let project = TestProject::new();
    let task = m12_task(&project);
    let run = project.run(
        "merge-annotations",
        &["merge", task.to_str().unwrap(), "-s", "conservative"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let validated = only_file(&project.path("validated_data"), "M12_validated_");
    let run = project.run(
        "merge-annotations",
        &["gold", validated.to_str().unwrap(), "-f", "csv"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot!("gold_m12_conservative", &project, run);
    let gold = only_file(&project.path("validated_data"), "M12_gold_");
    assert_eq!(column(&gold, "id").len(), 6);
    let table = annotation::read_annotation_file(&gold).unwrap();
    assert_eq!(
        table.headers[..4],
        ["id", "label", "agreement", "resolution"]
    );
    assert_eq!(table.headers.last().unwrap(), "source_file");
}

#[test]
fn m12b_file_saved_by_european_excel_merges_and_becomes_gold() {
    let project = TestProject::new();
    let fixture =
        crate::support::repo_root().join("fixtures/annotation/M12B_annotation_excel_semicolon.csv");
    project.write(
        "annotation_tasks/M12B_annotation_excel_semicolon.csv",
        std::fs::read(&fixture).unwrap(),
    );
    let run = project.run(
        "merge-annotations",
        &["merge", "M12B_annotation_excel_semicolon.csv"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot!("merge_m12b_excel", &project, run);
    let validated = only_file(&project.path("validated_data"), "M12B_validated_");
    snapshot_text!(
        "merge_m12b_excel_file",
        columns_table(
            &validated,
            &[
                "row_id",
                "annotator_a_relevancy",
                "annotator_b_relevancy",
                "llm_relevancy",
                "final_label",
                "resolution",
                "notes"
            ]
        )
    );
    // No sidecar came with the file, so the inputs come from the module's dataset.
    let run = project.run("merge-annotations", &["gold", validated.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot!("gold_m12b_from_dataset", &project, run);
    let gold = only_file(&project.path("validated_data"), "M12B_gold_");
    let records = check_gold(&project, "m12b", &gold);
    let labels: Vec<&Value> = records.iter().map(|r| &r.expected["relevancy"]).collect();
    assert_eq!(labels, ["R", "C", "S", "N", "R", "N"]);

    // Placed as the module's dataset, the gold file passes the same check as shipped data.
    std::fs::copy(
        &gold,
        project.path("datasets/single/m12b_v1_combined_classification.jsonl"),
    )
    .unwrap();
    let run = project.run("orchestrator", &["validate", "m12b"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("6 records, 0 problems"),
        "{}",
        run.stdout
    );
}

#[test]
fn simulated_annotators_then_merge_and_gold_for_m12b() {
    let project = TestProject::new();
    add_results(&project, "m12b", 60, 4);
    let run = project.run("generate-annotation-csv", &["generate", "m12b", "-n", "40"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let task = only_file(&project.path("annotation_tasks"), "M12B_annotation_");
    let name = task.file_name().unwrap().to_str().unwrap().to_owned();
    let args = [
        name.as_str(),
        "--gold-from",
        "auto",
        "--flip-a",
        "0.1",
        "--flip-b",
        "0.15",
        "--seed",
        "7",
    ];
    let run = project.run("simulate-annotators", &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot!("simulate_m12b", &project, run);
    let notes = column(&task, "annotator_b_reasoning");
    assert!(
        notes.iter().all(|n| n.starts_with("Simulated annotator B")),
        "{notes:?}"
    );

    // Filling again would overwrite annotations: refused unless asked.
    let run = project.run("simulate-annotators", &args);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("pass --overwrite"), "{}", run.stderr);
    let before = std::fs::read(&task).unwrap();
    let mut again = args.to_vec();
    again.push("--overwrite");
    assert_eq!(project.run("simulate-annotators", &again).code, 0);
    assert_eq!(
        std::fs::read(&task).unwrap(),
        before,
        "same seed, same labels"
    );

    let run = project.run("merge-annotations", &["merge", &name, "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["annotated"], 40);
    // 4 rows flipped for A and 6 for B; where both flipped a row they may still agree.
    let disagreements = report["disagreements"].as_u64().unwrap();
    assert!((4..=10).contains(&disagreements), "{report}");
    assert_eq!(report["strategy"], "majority");

    let run = project.run("merge-annotations", &["merge", &name, "-s", "conservative"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot!("merge_m12b_conservative", &project, run);

    let run = project.run("merge-annotations", &["list"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot!("merge_list", &project, run);
}

#[test]
fn broken_files_get_a_clear_error_and_no_output() {
    let project = TestProject::new();
    let task = m12_task(&project);
    let name = |n: &str| format!("annotation_tasks/M12_annotation_{n}.csv");
    // Two rows claiming the same row_id.
    let mut ids = column(&task, "row_id");
    ids[3] = "2".into();
    ids[7] = "2".into();
    set_columns(&task, &[("row_id", ids)]);
    let run = project.run("merge-annotations", &["merge", task.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains(
            "duplicate row ids, so rows cannot be told apart; nothing was written:\n  row_id 2 on lines 7, 17, 37\n"
        ),
        "{}",
        run.stderr
    );
    // An empty file, and a file saved in a legacy code page.
    project.write(&name("empty"), "");
    let run = project.run("merge-annotations", &["merge", &name("empty")]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.ends_with(
            "M12_annotation_empty.csv: the file is empty (expected a header line starting with `row_id`)\n"
        ),
        "{}",
        run.stderr
    );
    let mut latin1 = std::fs::read(&task).unwrap();
    // "A's note 3" with the apostrophe as Windows-1252 writes a curly one: byte 0x92.
    let at = latin1.windows(10).position(|w| w == b"A's note 3").unwrap();
    latin1[at + 1] = 0x92;
    project.write(&name("latin1"), latin1);
    let run = project.run("merge-annotations", &["merge", &name("latin1")]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains(":17: column `annotator_a_reasoning` is not valid UTF-8"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("save the file as \"CSV UTF-8\""),
        "{}",
        run.stderr
    );
    assert!(!project.path("validated_data").exists());
}

/// `fixtures/agreement/cli/M12B_annotation_reference.csv` (one line per row, row `n` on line
/// `n + 1`) with its lines changed by `edit`, as `annotation_tasks/M12B_annotation_{name}.csv`.
fn edited_reference(project: &TestProject, name: &str, edit: impl Fn(&mut Vec<String>)) -> String {
    let from =
        crate::support::repo_root().join("fixtures/agreement/cli/M12B_annotation_reference.csv");
    let text = std::fs::read_to_string(from).unwrap();
    let mut lines: Vec<String> = text.split("\r\n").map(str::to_owned).collect();
    edit(&mut lines);
    let file = format!("annotation_tasks/M12B_annotation_{name}.csv");
    project.write(&file, lines.join("\r\n"));
    file
}

#[test]
fn rows_that_do_not_fit_the_header_are_refused_by_line() {
    let project = TestProject::new();
    let extra = edited_reference(&project, "extra", |lines| {
        lines[3].push_str(",\"extra\",\"cells\"");
    });
    let run = project.run("merge-annotations", &["merge", &extra]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "1 row does not fit the header (21 columns separated by `,`), so it cannot be read safely:\n  line 4: 23 cells, 2 more than the header's 21 columns\n"
        ),
        "{}",
        run.stderr
    );
    let semicolons = edited_reference(&project, "semicolons", |lines| {
        for line in &mut lines[5..8] {
            *line = line.replace("\",\"", "\";\"");
        }
    });
    let run = project.run("merge-annotations", &["merge", &semicolons]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    for line in 6..=8 {
        assert!(
            run.stderr.contains(&format!(
                "\n  line {line}: separated by `;`, not by the header's `,`"
            )),
            "{}",
            run.stderr
        );
    }
    assert!(!project.path("validated_data").exists());
}

#[test]
fn the_same_record_on_two_rows_is_refused() {
    let project = TestProject::new();
    let file = edited_reference(&project, "twice", |lines| {
        lines[6] = lines[6].replace("\"REF_06\"", "\"REF_02\"");
    });
    let run = project.run("merge-annotations", &["merge", &file]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "the same record on several rows, so it would be merged twice and repeat its id in a gold file; nothing was written:\n  record_id REF_02 on lines 3, 7\n"
        ),
        "{}",
        run.stderr
    );
    assert!(!project.path("validated_data").exists());
}

#[test]
fn an_unclosed_quote_is_reported_where_it_opened() {
    let project = TestProject::new();
    let file = edited_reference(&project, "unclosed", |lines| {
        lines[5] = lines[5].replacen("\"relevant\",", "\"relevant,", 1);
    });
    let run = project.run("merge-annotations", &["merge", &file]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "M12B_annotation_unclosed.csv:6: the quote that opens the cell of column `annotator_b_relevancy` on this line is never closed, so the cell runs on to line 7"
        ),
        "{}",
        run.stderr
    );
    assert!(!project.path("validated_data").exists());
}

/// A sheet generated with `--source` from the earlier tool's results (no record_id column; the
/// full input in its `input` column) becomes gold from that input, not from the dataset.
#[test]
fn gold_from_an_earlier_tool_source_uses_its_inputs() {
    let project = TestProject::new();
    let fixture = crate::support::repo_root()
        .join("fixtures/results/M12_HardConstraintViolationCheck_v1_160126_1.csv");
    // Given as a name relative to where the user stands, which is not the project root.
    let downloads = project.path("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    std::fs::copy(&fixture, downloads.join("old_results.csv")).unwrap();
    let root = project.root().display().to_string();
    let mut generate = project.command("generate-annotation-csv");
    generate.current_dir(&downloads).args([
        "--root",
        &root,
        "generate",
        "m12",
        "--source",
        "old_results.csv",
    ]);
    let run = crate::support::run(&mut generate);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let task = only_file(&project.path("annotation_tasks"), "M12_annotation_");
    let labels = vec!["yes".to_owned(), "no".to_owned(), "no".to_owned()];
    set_columns(
        &task,
        &[
            ("annotator_a_violates", labels.clone()),
            ("annotator_b_violates", labels),
        ],
    );
    let run = project.run("merge-annotations", &["merge", task.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let validated = only_file(&project.path("validated_data"), "M12_validated_");
    let run = project.run("merge-annotations", &["gold", validated.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let gold = only_file(&project.path("validated_data"), "M12_gold_");
    let records = read_records(&gold).unwrap();
    assert_eq!(records.len(), 3);
    let keywords: Vec<&str> = records
        .iter()
        .map(|r| r.input["keyword"].as_str().unwrap())
        .collect();
    assert!(keywords.contains(&"oven mitt 800 degrees"), "{keywords:?}");
    assert!(keywords.contains(&"-5 degree water bottle"), "{keywords:?}");
}
