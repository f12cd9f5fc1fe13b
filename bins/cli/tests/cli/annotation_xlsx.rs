//! Annotation workbooks (`generate-annotation-csv … --format xlsx`) end to end: the same rows
//! as the CSV for one seed; filled by another program (read with `calamine`, saved with
//! `rust_xlsxwriter`, cells typed the way a spreadsheet types them) they give exactly the
//! agreement, merge and gold of the same labels in CSV form; an invalid label typed past the
//! dropdown is still refused.

use std::path::{Path, PathBuf};

use calamine::{Data, Reader, Xlsx, open_workbook};
use serde_json::Value;

use crate::generate_annotation_csv::{add_results, column, only_file, snapshot};
use crate::merge_annotations::set_columns;
use crate::support::{Run, TestProject};

/// How a filled copy of a workbook is saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Saved {
    /// The same single sheet, named as generated.
    AsGenerated,
    /// As LibreOffice users leave it: the sheet renamed, another sheet in front of it, and a
    /// column of their own added in the middle.
    Reworked,
}

/// A cell typed the way a spreadsheet types what is entered: `true`/`TRUE` become booleans,
/// anything numeric a number.
fn typed(text: &str) -> Data {
    if text.is_empty() {
        Data::Empty
    } else if text.eq_ignore_ascii_case("true") || text.eq_ignore_ascii_case("false") {
        Data::Bool(text.eq_ignore_ascii_case("true"))
    } else if let Ok(n) = text.parse::<f64>() {
        Data::Float(n)
    } else {
        Data::String(text.to_owned())
    }
}

/// Reads `from`'s annotation sheet with calamine, fills `columns` (typed as a spreadsheet types
/// them), and saves a copy to `to` with another writer (which adds no data validation).
fn fill_workbook(from: &Path, to: &Path, columns: &[(&str, Vec<String>)], saved: Saved) {
    let mut book: Xlsx<_> = open_workbook(from).unwrap();
    assert_eq!(book.sheet_names(), ["Annotations", "Guide"]);
    let range = book.worksheet_range("Annotations").unwrap();
    let mut rows: Vec<Vec<Data>> = range.rows().map(<[Data]>::to_vec).collect();
    let header: Vec<String> = rows[0].iter().map(ToString::to_string).collect();
    for (name, values) in columns {
        let i = header.iter().position(|h| h == name).unwrap();
        assert_eq!(values.len(), rows.len() - 1, "{name}");
        for (row, value) in rows[1..].iter_mut().zip(values) {
            if row.len() <= i {
                row.resize(i + 1, Data::Empty);
            }
            row[i] = typed(value);
        }
    }
    let mut out = rust_xlsxwriter::Workbook::new();
    if saved == Saved::Reworked {
        let first = out.add_worksheet();
        first.set_name("Read me").unwrap();
        first
            .write_string(0, 0, "notes of the annotation team")
            .unwrap();
        for (i, row) in rows.iter_mut().enumerate() {
            let cell = if i == 0 { "checked_by" } else { "ann" };
            row.insert(3, Data::String(cell.to_owned()));
        }
    }
    let sheet = out.add_worksheet();
    let name = match saved {
        Saved::AsGenerated => "Annotations",
        Saved::Reworked => "Sheet1",
    };
    sheet.set_name(name).unwrap();
    for (r, row) in rows.iter().enumerate() {
        let r = u32::try_from(r).unwrap();
        for (c, cell) in row.iter().enumerate() {
            let c = u16::try_from(c).unwrap();
            match cell {
                Data::Empty => {}
                Data::String(s) => {
                    sheet.write_string(r, c, s).unwrap();
                }
                Data::Float(f) => {
                    sheet.write_number(r, c, *f).unwrap();
                }
                Data::Int(i) => {
                    sheet.write_number(r, c, *i as f64).unwrap();
                }
                Data::Bool(b) => {
                    sheet.write_boolean(r, c, *b).unwrap();
                }
                other => panic!("unexpected cell {other:?}"),
            }
        }
    }
    out.save(to).unwrap();
}

/// Generates one module's task in `format` with `seed` into `dir`; returns the file.
fn generate(project: &TestProject, module: &str, format: &str, dir: &str) -> PathBuf {
    let run = project.run(
        "generate-annotation-csv",
        &[
            "generate", module, "--sample", "12", "--seed", "9", "--format", format, "-o", dir,
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    only_file(&project.path(dir), "_annotation_")
}

/// The labels both annotators give, as typed: annotator A in words, B in other spellings.
fn labels(module: &str, rows: usize) -> [(String, Vec<String>); 2] {
    let (field, a, b): (&str, Vec<String>, Vec<String>) = match module {
        "m12" => (
            "violates",
            (0..rows)
                .map(|i| if i % 3 == 0 { "true" } else { "false" }.to_owned())
                .collect(),
            (0..rows)
                .map(|i| if i % 4 == 0 { "1" } else { "0" }.to_owned())
                .collect(),
        ),
        _ => (
            "relevancy",
            (0..rows)
                .map(|i| ["R", "S", "C", "N"][i % 4].to_owned())
                .collect(),
            (0..rows)
                .map(|i| ["relevant", "S", "n", "N"][(i + i / 5) % 4].to_owned())
                .collect(),
        ),
    };
    [
        (format!("annotator_a_{field}"), a),
        (format!("annotator_b_{field}"), b),
    ]
}

fn fill_both(csv: &Path, xlsx: &Path, filled: &Path, module: &str, saved: Saved) {
    let rows = column(csv, "row_id").len();
    let labels = labels(module, rows);
    let columns: Vec<(&str, Vec<String>)> = labels
        .iter()
        .map(|(name, values)| (name.as_str(), values.clone()))
        .collect();
    set_columns(csv, &columns);
    fill_workbook(xlsx, filled, &columns, saved);
    // The copy keeps the provenance sidecar, as a renamed file would carry it along.
    std::fs::copy(
        xlsx.with_extension("meta.json"),
        filled.with_extension("meta.json"),
    )
    .unwrap();
}

fn json_without_file(run: &Run) -> Value {
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut value: Value = serde_json::from_str(&run.stdout).unwrap();
    value.as_object_mut().unwrap().remove("file");
    value
}

fn merged(project: &TestProject, file: &Path, module: &str, out: &str, extra: &[&str]) -> Vec<u8> {
    let mut args = vec!["merge", file.to_str().unwrap(), "-o", out];
    args.extend_from_slice(extra);
    let run = project.run("merge-annotations", &args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let kind = if extra.contains(&"--disagreements-only") {
        "_disagreements_"
    } else {
        "_validated_"
    };
    let prefix = format!("{}{kind}", module.to_uppercase());
    std::fs::read(only_file(&project.path(out), &prefix)).unwrap()
}

/// Gold records of a validated file, without the one field that names the file itself.
fn gold_records(project: &TestProject, validated_dir: &str, module: &str) -> Vec<Value> {
    let dir = project.path(validated_dir);
    let validated = only_file(&dir, &format!("{}_validated_", module.to_uppercase()));
    let run = project.run(
        "merge-annotations",
        &["gold", validated.to_str().unwrap(), "-o", validated_dir],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let gold = only_file(&dir, &format!("{}_gold_", module.to_uppercase()));
    std::fs::read_to_string(gold)
        .unwrap()
        .lines()
        .map(|line| {
            let mut record: Value = serde_json::from_str(line).unwrap();
            record["metadata"]
                .as_object_mut()
                .unwrap()
                .remove("source_file");
            record
        })
        .collect()
}

#[test]
fn generate_xlsx_writes_a_workbook_and_its_sidecar() {
    let project = TestProject::new();
    add_results(&project, "m12", 40, 5);
    let run = project.run(
        "generate-annotation-csv",
        &["generate", "m12", "--sample", "10", "--format", "xlsx"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot!("generate_annotation_m12_xlsx", &project, run);
    let file = only_file(&project.path("annotation_tasks"), "M12_annotation_");
    assert_eq!(file.extension().unwrap(), "xlsx");
    let sidecar: Value =
        serde_json::from_str(&std::fs::read_to_string(file.with_extension("meta.json")).unwrap())
            .unwrap();
    assert_eq!(sidecar["details"]["format"], "xlsx");
    assert_eq!(sidecar["details"]["seed"], 42);
    // No temporary file is left beside it.
    let names: Vec<String> = std::fs::read_dir(project.path("annotation_tasks"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");

    let run = project.run("calculate-agreement", &["list"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains(".xlsx"), "{}", run.stdout);

    let run = project.run(
        "generate-annotation-csv",
        &["batch", "m12", "--format", "xlsx", "-o", "batch_out"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let batch = only_file(&project.path("batch_out"), "M12_annotation_");
    assert_eq!(batch.extension().unwrap(), "xlsx");
}

#[test]
fn the_same_seed_picks_the_same_rows_in_either_format() {
    let project = TestProject::new();
    for module in ["m12", "m12b"] {
        add_results(&project, module, 40, 4);
        let csv = generate(&project, module, "csv", &format!("{module}_csv"));
        let xlsx = generate(&project, module, "xlsx", &format!("{module}_xlsx"));
        let a = annotation::read_annotation_file(&csv).unwrap();
        let b = annotation::read_annotation_file(&xlsx).unwrap();
        assert_eq!(a.headers, b.headers);
        let cells = |t: &annotation::AnnotationTable| -> Vec<Vec<String>> {
            t.rows.iter().map(|r| r.cells.clone()).collect()
        };
        assert_eq!(cells(&a), cells(&b), "{module}");
        assert_eq!(a.rows.len(), 12);
    }
}

#[test]
fn a_filled_workbook_gives_the_agreement_merge_and_gold_of_the_same_labels_in_csv() {
    let project = TestProject::new();
    for module in ["m12", "m12b"] {
        add_results(&project, module, 40, 4);
        let csv = generate(&project, module, "csv", &format!("{module}_csv"));
        let xlsx = generate(&project, module, "xlsx", &format!("{module}_xlsx"));
        let filled =
            xlsx.with_file_name(format!("{}_annotation_filled.xlsx", module.to_uppercase()));
        fill_both(&csv, &xlsx, &filled, module, Saved::AsGenerated);

        let of_csv = project.run(
            "calculate-agreement",
            &["analyze", csv.to_str().unwrap(), "--json"],
        );
        let of_xlsx = project.run(
            "calculate-agreement",
            &["analyze", filled.to_str().unwrap(), "--json"],
        );
        assert_eq!(
            json_without_file(&of_xlsx),
            json_without_file(&of_csv),
            "{module}"
        );

        let a = merged(&project, &csv, module, &format!("{module}_v_csv"), &[]);
        let b = merged(&project, &filled, module, &format!("{module}_v_xlsx"), &[]);
        assert!(!a.is_empty());
        assert_eq!(
            String::from_utf8(b).unwrap(),
            String::from_utf8(a).unwrap(),
            "{module}"
        );

        let only = ["--disagreements-only"];
        let a = merged(&project, &csv, module, &format!("{module}_d_csv"), &only);
        let b = merged(
            &project,
            &filled,
            module,
            &format!("{module}_d_xlsx"),
            &only,
        );
        assert_eq!(b, a, "{module} disagreements");

        let a = gold_records(&project, &format!("{module}_v_csv"), module);
        let b = gold_records(&project, &format!("{module}_v_xlsx"), module);
        assert_eq!(a.len(), 12);
        assert_eq!(b, a, "{module} gold");
    }
}

#[test]
fn a_reworked_workbook_with_a_renamed_sheet_and_an_added_column_still_reads() {
    let project = TestProject::new();
    add_results(&project, "m12", 40, 4);
    let csv = generate(&project, "m12", "csv", "csv");
    let xlsx = generate(&project, "m12", "xlsx", "xlsx");
    let filled = project.path("xlsx/M12_annotation_reworked.xlsx");
    fill_both(&csv, &xlsx, &filled, "m12", Saved::Reworked);
    let table = annotation::read_annotation_file(&filled).unwrap();
    assert_eq!(table.headers[3], "checked_by");

    let of_csv = project.run(
        "calculate-agreement",
        &["analyze", csv.to_str().unwrap(), "--json"],
    );
    let of_xlsx = project.run(
        "calculate-agreement",
        &["analyze", filled.to_str().unwrap(), "--json"],
    );
    assert_eq!(json_without_file(&of_xlsx), json_without_file(&of_csv));
    merged(&project, &csv, "m12", "v_csv", &[]);
    merged(&project, &filled, "m12", "v_xlsx", &[]);
    let finals = |dir: &str| {
        let file = only_file(&project.path(dir), "M12_validated_");
        (column(&file, "final_label"), column(&file, "resolution"))
    };
    assert_eq!(finals("v_xlsx"), finals("v_csv"));
    // TRUE and 1 typed as a boolean and a number were read as the label `true`.
    assert!(finals("v_xlsx").0.iter().any(|l| l == "true"));
}

#[test]
fn an_invalid_label_typed_past_the_dropdown_is_refused_naming_sheet_row_column_and_value() {
    let project = TestProject::new();
    add_results(&project, "m12", 40, 4);
    let xlsx = generate(&project, "m12", "xlsx", "annotation_tasks");
    let filled = project.path("annotation_tasks/M12_annotation_typed.xlsx");
    let mut b: Vec<String> = (0..12).map(|_| "no".to_owned()).collect();
    b[2] = "maybe".to_owned();
    let a: Vec<String> = (0..12).map(|_| "yes".to_owned()).collect();
    fill_workbook(
        &xlsx,
        &filled,
        &[("annotator_a_violates", a), ("annotator_b_violates", b)],
        Saved::AsGenerated,
    );
    let run = project.run("merge-annotations", &["merge", "M12_annotation_typed.xlsx"]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    snapshot!("merge_annotations_xlsx_invalid_label", &project, run);
    assert!(!project.path("validated_data").exists(), "nothing written");
    let run = project.run(
        "calculate-agreement",
        &["analyze", "M12_annotation_typed.xlsx"],
    );
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        run.stderr
            .contains("M12_annotation_typed.xlsx [sheet Annotations]")
            && run
                .stderr
                .contains("(line 4), annotator_b_violates: `maybe`"),
        "{}",
        run.stderr
    );
}

#[test]
fn simulated_annotators_fill_a_workbook_as_they_fill_the_csv() {
    let project = TestProject::new();
    add_results(&project, "m12b", 40, 4);
    let csv = generate(&project, "m12b", "csv", "csv");
    let xlsx = generate(&project, "m12b", "xlsx", "xlsx");
    for file in [&csv, &xlsx] {
        let run = project.run(
            "simulate-annotators",
            &[file.to_str().unwrap(), "--flip-a", "0.2", "--flip-b", "0.3"],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    // Still a workbook with its guide, and the same labels as the CSV.
    let book: Xlsx<_> = open_workbook(&xlsx).unwrap();
    assert_eq!(book.sheet_names(), ["Annotations", "Guide"]);
    let a = merged(&project, &csv, "m12b", "v_csv", &[]);
    let b = merged(&project, &xlsx, "m12b", "v_xlsx", &[]);
    assert_eq!(b, a);
}

/// The LibreOffice fixtures (`fixtures/annotation/libreoffice/`, made once by its `make.sh`),
/// copied into the project's `annotation_tasks/` with their sidecars.
fn libreoffice_fixtures(project: &TestProject) {
    let from = crate::support::repo_root().join("fixtures/annotation/libreoffice");
    for name in [
        "M12_annotation_filled.xlsx",
        "M12_annotation_filled.meta.json",
        "M12_annotation_libreoffice.xlsx",
        "M12_annotation_libreoffice.csv",
        "M12_annotation_libreoffice.meta.json",
    ] {
        project.write(
            &format!("annotation_tasks/{name}"),
            std::fs::read(from.join(name)).unwrap(),
        );
    }
}

/// A validated (or annotation) file as rows of named cells, without the columns in `skip`.
fn table_without(path: &Path, skip: &[&str]) -> Vec<Vec<(String, String)>> {
    let table = annotation::read_annotation_file(path).unwrap();
    table
        .rows
        .iter()
        .map(|row| {
            table
                .headers
                .iter()
                .zip(&row.cells)
                .filter(|(h, _)| !skip.contains(&h.as_str()))
                .map(|(h, c)| (h.clone(), c.clone()))
                .collect()
        })
        .collect()
}

/// The cells where two tables of named cells differ: `row i, column: left != right`.
fn cell_differences(
    left: &[Vec<(String, String)>],
    right: &[Vec<(String, String)>],
) -> Vec<String> {
    let mut found = Vec::new();
    if left.len() != right.len() {
        found.push(format!("{} rows != {} rows", left.len(), right.len()));
    }
    for (i, (l, r)) in left.iter().zip(right).enumerate() {
        if l.len() != r.len() {
            found.push(format!("row {i}: {} cells != {} cells", l.len(), r.len()));
        }
        for ((lh, lc), (rh, rc)) in l.iter().zip(r) {
            if lh != rh || lc != rc {
                found.push(format!("row {i}, {lh}/{rh}: {lc:?} != {rc:?}"));
            }
        }
    }
    found
}

#[test]
fn a_workbook_saved_by_libreoffice_with_a_renamed_sheet_and_an_added_column_reads_as_the_original()
{
    let project = TestProject::new();
    libreoffice_fixtures(&project);
    let original = project.path("annotation_tasks/M12_annotation_filled.xlsx");
    let saved = project.path("annotation_tasks/M12_annotation_libreoffice.xlsx");

    // What LibreOffice did to the file: a sheet in front, the annotation sheet renamed, a
    // column inserted before `keyword`, and annotator B's labels typed as a boolean / a number.
    let mut book: Xlsx<_> = open_workbook(&saved).unwrap();
    assert_eq!(book.sheet_names(), ["Read me", "Labels", "Guide"]);
    let range = book.worksheet_range("Labels").unwrap();
    let header: Vec<String> = range
        .rows()
        .next()
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(header[3], "checked_by");
    assert_eq!(header[4], "keyword");
    let b = header
        .iter()
        .position(|h| h == "annotator_b_violates")
        .unwrap();
    let typed: Vec<&Data> = range.rows().skip(1).map(|row| &row[b]).collect();
    assert!(typed.contains(&&Data::Bool(true)), "{typed:?}");
    assert!(
        typed
            .iter()
            .any(|c| matches!(c, Data::Float(f) if *f == 0.0)),
        "{typed:?}"
    );
    assert!(
        typed.iter().all(|c| !matches!(c, Data::String(_))),
        "{typed:?}"
    );

    let table = annotation::read_annotation_file(&saved).unwrap();
    assert_eq!(table.rows.len(), 20);
    let retyped = "annotator_b_violates";
    let differences = cell_differences(
        &table_without(&saved, &["checked_by", retyped]),
        &table_without(&original, &[retyped]),
    );
    assert!(differences.is_empty(), "{differences:#?}");
    // A boolean cell reads as `true`, a number as `0`: the label reading maps both to labels.
    let read: Vec<(String, String)> = column(&original, retyped)
        .into_iter()
        .zip(column(&saved, retyped))
        .collect();
    for (was, now) in &read {
        assert_eq!(now, if was == "true" { "true" } else { "0" }, "{read:?}");
    }

    let run = project.run(
        "calculate-agreement",
        &["analyze", "M12_annotation_libreoffice.xlsx"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot!("calculate_agreement_libreoffice_xlsx", &project, run);
    let of_original = project.run(
        "calculate-agreement",
        &["analyze", "M12_annotation_filled.xlsx", "--json"],
    );
    let of_saved = project.run(
        "calculate-agreement",
        &["analyze", "M12_annotation_libreoffice.xlsx", "--json"],
    );
    let expected = json_without_file(&of_original);
    // Not a trivial comparison: the simulated annotators disagree on some rows.
    assert!(
        expected["cohen_kappa"].as_f64().unwrap() < 1.0,
        "{expected}"
    );
    assert_eq!(json_without_file(&of_saved), expected);

    for (extra, kind) in [(&[][..], "v"), (&["--disagreements-only"][..], "d")] {
        let a = merged(
            &project,
            &original,
            "m12",
            &format!("{kind}_original"),
            extra,
        );
        merged(&project, &saved, "m12", &format!("{kind}_saved"), extra);
        assert!(!a.is_empty());
        let prefix = if kind == "v" {
            "M12_validated_"
        } else {
            "M12_disagreements_"
        };
        let file = |dir: &str| only_file(&project.path(dir), prefix);
        // The validated file is the annotation file plus the merge's columns: the added column
        // is carried along, and annotator B's cells as read (`0`); `final_label`, `resolution`
        // and every other cell are the original's.
        let differences = cell_differences(
            &table_without(&file(&format!("{kind}_saved")), &["checked_by", retyped]),
            &table_without(&file(&format!("{kind}_original")), &[retyped]),
        );
        assert!(differences.is_empty(), "{kind}: {differences:#?}");
        let rows = table_without(&file(&format!("{kind}_original")), &[]);
        let rows_expected = if kind == "v" { 20 } else { 5 };
        assert_eq!(rows.len(), rows_expected, "{kind}");
        assert!(rows[0].iter().any(|(h, _)| h == "final_label"), "{kind}");
    }
}

#[test]
fn a_workbook_converted_to_csv_by_libreoffice_reads_the_same() {
    let project = TestProject::new();
    libreoffice_fixtures(&project);
    let workbook = project.path("annotation_tasks/M12_annotation_filled.xlsx");
    let csv = project.path("annotation_tasks/M12_annotation_libreoffice.csv");

    let of_workbook = project.run(
        "calculate-agreement",
        &["analyze", workbook.to_str().unwrap(), "--json"],
    );
    let of_csv = project.run(
        "calculate-agreement",
        &["analyze", csv.to_str().unwrap(), "--json"],
    );
    assert_eq!(json_without_file(&of_csv), json_without_file(&of_workbook));

    let a = merged(&project, &workbook, "m12", "v_xlsx", &[]);
    let b = merged(&project, &csv, "m12", "v_csv", &[]);
    assert!(!a.is_empty());
    assert_eq!(String::from_utf8(b).unwrap(), String::from_utf8(a).unwrap());

    let only = ["--disagreements-only"];
    let a = merged(&project, &workbook, "m12", "d_xlsx", &only);
    let b = merged(&project, &csv, "m12", "d_csv", &only);
    assert!(!a.is_empty());
    assert_eq!(b, a, "disagreements");

    let a = gold_records(&project, "v_xlsx", "m12");
    let b = gold_records(&project, "v_csv", "m12");
    assert_eq!(a.len(), 20);
    assert_eq!(b, a, "gold");
}
