//! The spreadsheet round trip: cells a spreadsheet would run are written neutralised and read
//! back unchanged, and a file re-saved the way spreadsheets save it reads the same.

use std::path::Path;

use core_config::{Catalog, ResultRow, read_records};
use serde_json::{Value, json};

use crate::generate_annotation_csv::{column, only_file};
use crate::merge_annotations::set_columns;
use crate::support::TestProject;

/// Cells a spreadsheet would evaluate or mangle, with the column they are put in.
const NASTY: [(&str, &str); 8] = [
    ("keyword", "=HYPERLINK(\"http://x\",\"y\")"),
    ("keyword", "-5 volts"),
    ("keyword", "+1"),
    ("keyword", "@x"),
    ("description", "\tstarts with a tab"),
    ("description", "\nstarts with a line feed"),
    ("description", "=1+2\";=1+2"),
    ("description", "'=already quoted"),
];

/// A result CSV for m12 whose rows carry the nasty cells.
fn nasty_results(project: &TestProject) {
    let catalog = Catalog::load(&project.path("modules.toml")).unwrap();
    let spec = catalog.resolve("m12").unwrap();
    let records = read_records(&catalog.dataset_path(spec)).unwrap();
    let rows: Vec<ResultRow> = records
        .into_iter()
        .zip(NASTY)
        .map(|(record, (key, text))| {
            let mut input = record.input.clone();
            input.insert(key.to_owned(), Value::String(text.to_owned()));
            ResultRow {
                record_id: record.id.clone(),
                input: Value::Object(input),
                output: json!({"violates_constraint": false, "confidence": 0.9,
                               "reasoning": "-not a formula, just a dash"}),
                expected: Value::Object(record.expected),
                metadata: Value::Object(record.metadata),
                ..ResultRow::default()
            }
        })
        .collect();
    let path = project
        .path("experiment_results")
        .join(spec.folder_name())
        .join("M12_v1_20260116_120000.csv");
    core_config::results::write_results(&path, spec, &rows).unwrap();
}

/// Every cell exactly as stored in the file (no un-escaping), for checking the raw format.
fn raw_cells(path: &Path) -> Vec<Vec<String>> {
    let bytes = std::fs::read(path).unwrap();
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes)
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

/// What Excel in a European locale writes back: `;` separators, CRLF, no BOM, quotes only where
/// needed, each cell's text as shown (the protective `'` included), plus a trailing empty
/// column.
fn resave_like_excel(cells: &[Vec<String>], path: &Path) {
    let mut writer = csv::WriterBuilder::new()
        .delimiter(b';')
        .terminator(csv::Terminator::CRLF)
        .quote_style(csv::QuoteStyle::Necessary)
        .flexible(true)
        .from_writer(Vec::new());
    for row in cells {
        let mut row = row.clone();
        row.push(String::new());
        writer.write_record(&row).unwrap();
    }
    std::fs::write(path, writer.into_inner().unwrap()).unwrap();
}

#[test]
fn dangerous_cells_are_neutralised_and_read_back_unchanged() {
    let project = TestProject::new();
    nasty_results(&project);
    let run = project.run(
        "generate-annotation-csv",
        &["generate", "m12", "--no-shuffle"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let file = only_file(&project.path("annotation_tasks"), "M12_annotation_");

    // On disk: every field quoted, and no cell starts with a character a spreadsheet runs.
    let text = String::from_utf8(std::fs::read(&file).unwrap()).unwrap();
    assert!(
        text.contains("\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\""),
        "{text}"
    );
    assert!(text.contains("\"'-5 volts\""));
    assert!(text.contains("\"'=1+2\"\";=1+2\""));
    assert!(text.contains("\"''=already quoted\""));
    for row in raw_cells(&file) {
        for cell in row {
            let first = cell.chars().next();
            assert!(
                !matches!(first, Some('=' | '+' | '-' | '@' | '\t' | '\r' | '\n')),
                "{cell:?}"
            );
        }
    }

    // Read back: exactly the values that went in.
    let keywords = column(&file, "keyword");
    let descriptions = column(&file, "description");
    for (i, (key, value)) in NASTY.iter().enumerate() {
        let got = if *key == "keyword" {
            &keywords[i]
        } else {
            &descriptions[i]
        };
        assert_eq!(got, value, "row {}", i + 1);
    }
    assert!(
        column(&file, "llm_reasoning")
            .iter()
            .all(|r| r == "-not a formula, just a dash")
    );

    // Re-saved by a spreadsheet (`;`, CRLF, no BOM, trailing empty column): reads the same.
    let resaved = project.path("annotation_tasks/M12_annotation_resaved.csv");
    resave_like_excel(&raw_cells(&file), &resaved);
    let bytes = std::fs::read(&resaved).unwrap();
    assert!(!bytes.starts_with(b"\xEF\xBB\xBF"));
    assert!(String::from_utf8_lossy(&bytes).starts_with("row_id;record_id;asin;"));
    let original = annotation::read_annotation_file(&file).unwrap();
    let again = annotation::read_annotation_file(&resaved).unwrap();
    assert_eq!(again.headers, original.headers);
    let cells = |t: &annotation::AnnotationTable| -> Vec<Vec<String>> {
        t.rows.iter().map(|r| r.cells.clone()).collect()
    };
    assert_eq!(cells(&again), cells(&original));

    // And both merge to the same validated rows.
    for path in [&file, &resaved] {
        let labels: Vec<String> = (0..NASTY.len())
            .map(|i| if i % 3 == 0 { "yes" } else { "no" }.to_owned())
            .collect();
        set_columns(
            path,
            &[
                ("annotator_a_violates", labels.clone()),
                ("annotator_b_violates", labels),
            ],
        );
    }
    let mut merged = Vec::new();
    for (path, out) in [(&file, "out_original"), (&resaved, "out_resaved")] {
        let run = project.run(
            "merge-annotations",
            &[
                "merge",
                path.to_str().unwrap(),
                "--module",
                "m12",
                "-o",
                out,
            ],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        let validated = only_file(&project.path(out), "M12_validated_");
        // The validated file is written the same safe way and reads back unchanged too.
        assert_eq!(column(&validated, "keyword")[0], NASTY[0].1);
        merged.push(cells(
            &annotation::read_annotation_file(&validated).unwrap(),
        ));
    }
    assert_eq!(merged[0], merged[1]);
}
