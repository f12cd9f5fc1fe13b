//! The report built on the registry fixture (fixtures/registry/README.md), with hostile
//! keywords and reasoning planted in wrong rows: the HTML escapes them, counts its charts'
//! bars and cells from the analysis, references nothing over the network, and the folder
//! appears whole.

use std::path::Path;

use core_config::Catalog;
use registry::RegistryFile;
use report::{Options, gather, write_site};

const XSS_SCRIPT: &str = "<script>alert(1)</script>";
const XSS_IMG: &str = "\"><img src=x onerror=alert(1)>";
const M14_B: &str = "exp_20260116_141203_m14";

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let repo = test_support::repo_root();
    std::fs::copy(repo.join("modules.toml"), dir.path().join("modules.toml")).unwrap();
    test_support::copy_dir(
        &repo.join("fixtures/registry/project/experiment_results"),
        &dir.path().join("experiment_results"),
    );
    plant(
        &dir.path().join(
            "experiment_results/M14_PrimaryUseCheckSameType/M14_PrimaryUseCheckSameType_v2_160126_1.csv",
        ),
    );
    dir
}

/// Puts the hostile keywords and reasoning into the wrong rows of run B.
fn plant(path: &Path) {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (keyword, input, reasoning, correct) = (
        col("Keyword"),
        col("input"),
        col("Reasoning"),
        col("correct"),
    );
    let mut rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let mut planted = 0;
    for row in &mut rows {
        if &row[correct] != "false" || planted == 2 {
            continue;
        }
        let hostile = [XSS_SCRIPT, XSS_IMG][planted];
        let mut cells: Vec<String> = row.iter().map(str::to_owned).collect();
        let mut json: serde_json::Value = serde_json::from_str(&cells[input]).unwrap();
        json["keyword"] = serde_json::json!(hostile);
        cells[input] = json.to_string();
        cells[keyword] = hostile.to_owned();
        cells[reasoning] = "<script>alert(2)</script> & more".to_owned();
        *row = csv::StringRecord::from(cells);
        planted += 1;
    }
    assert_eq!(planted, 2, "run B has two wrong rows to plant in");
    let mut writer = csv::Writer::from_path(path).unwrap();
    writer.write_record(&headers).unwrap();
    for row in rows {
        writer.write_record(&row).unwrap();
    }
    writer.flush().unwrap();
}

fn build(root: &Path, options: &Options) -> report::Written {
    let catalog = Catalog::load(&root.join("modules.toml")).unwrap();
    let file = RegistryFile::in_project(root.to_owned());
    let gathered = gather(root, &catalog, &file, options, &mut ()).unwrap();
    write_site(
        &root.join("reports"),
        &gathered,
        options,
        "20260101_000000",
        "2026-01-01 00:00",
        &mut (),
    )
    .unwrap()
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap()
}

#[test]
fn hostile_keywords_and_reasoning_render_as_text() {
    let root = project();
    let written = build(root.path(), &Options::default());
    let page = read(&written.dir, "m14.html");
    assert!(
        !page.contains(XSS_SCRIPT),
        "raw <script> keyword in the page"
    );
    assert!(!page.contains("<img"), "raw <img> in the page");
    assert!(
        !page.contains("<script>alert"),
        "raw reasoning script in the page"
    );
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
        "escaped keyword shown"
    );
    assert!(
        page.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"),
        "escaped keyword shown"
    );
    // The only scripts are the page's own: one inline script element.
    assert_eq!(page.matches("<script>").count(), 1);
}

fn attribute_values(html: &str, attribute: &str) -> Vec<String> {
    let needle = format!(" {attribute}=\"");
    html.match_indices(&needle)
        .map(|(i, _)| {
            let rest = &html[i + needle.len()..];
            rest[..rest.find('"').unwrap()].to_owned()
        })
        .collect()
}

#[test]
fn pages_reference_nothing_over_the_network() {
    let root = project();
    let options = Options {
        compare: Some(("exp_20260115_093000_m14".to_owned(), M14_B.to_owned())),
        ..Options::default()
    };
    let written = build(root.path(), &options);
    for file in ["index.html", "m12.html", "m14.html", "compare.html"] {
        let page = read(&written.dir, file);
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "{file}"
        );
        for attribute in ["href", "src", "xlink:href", "action"] {
            for value in attribute_values(&page, attribute) {
                assert!(
                    !value.contains("//") && !value.contains(':'),
                    "{file}: {attribute}={value} is not a file beside the page"
                );
            }
        }
        assert!(!page.contains("<link") && !page.contains("@import") && !page.contains("url("));
    }
}

#[test]
fn charts_have_one_mark_per_figure_of_the_analysis() {
    let root = project();
    let written = build(root.path(), &Options::default());
    let errors: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            root.path()
                .join("analysis/M14_PrimaryUseCheckSameType/exp_20260116_141203_m14_errors.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let labels = errors["labels"].as_array().unwrap().len();
    let page = read(&written.dir, "m14.html");
    assert_eq!(page.matches("<rect class=\"cell ").count(), labels * labels);
    assert_eq!(page.matches("<rect class=\"bar p\"").count(), labels);
    assert_eq!(page.matches("<rect class=\"bar r\"").count(), labels);
    assert_eq!(page.matches("<rect class=\"bar f\"").count(), labels);
    for (i, row) in errors["confusion_matrix"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        for (j, count) in row.as_array().unwrap().iter().enumerate() {
            let _ = (i, j);
            assert!(page.contains(&format!("data-value=\"{count}\"")));
        }
    }
    // Every chart is accessible: a title per svg.
    let svgs: Vec<&str> = page.split("<svg ").skip(1).collect();
    assert!(svgs.len() >= 4, "heatmap, label bars, history, calibration");
    for svg in svgs {
        let after_open = &svg[svg.find('>').unwrap() + 1..];
        assert!(svg.contains("role=\"img\"") && after_open.starts_with("<title>"));
    }
    // The errors table holds every wrong and every errored row (under the cap), as the errors
    // file does.
    let error_count =
        (errors["error_count"].as_u64().unwrap() + errors["errored"].as_u64().unwrap()) as usize;
    let table = &page[page.find("id=\"errors-table\"").unwrap()..];
    let body = &table[..table.find("</table>").unwrap()];
    assert_eq!(body.matches("<tr>").count() - 1, error_count);
    assert!(page.contains("href=\"m14_errors.csv\""));
    assert!(written.dir.join("m14_errors.csv").is_file());
    let index = read(&written.dir, "index.html");
    assert!(index.contains("href=\"m14.html\"") && index.contains("href=\"m12.html\""));
    assert!(index.contains("data-ready") || index.contains("setAttribute(\"data-ready\""));
}

#[test]
fn the_errors_table_is_capped_at_max_rows_and_links_the_full_file() {
    let root = project();
    let options = Options {
        max_rows: 1,
        ..Options::default()
    };
    let written = build(root.path(), &options);
    let page = read(&written.dir, "m14.html");
    let table = &page[page.find("id=\"errors-table\"").unwrap()..];
    let body = &table[..table.find("</table>").unwrap()];
    assert_eq!(body.matches("<tr>").count() - 1, 1);
    assert!(page.contains("raise <code>--max-rows</code>"));
    let full = std::fs::read_to_string(written.dir.join("m14_errors.csv")).unwrap();
    assert!(full.lines().count() > 2);
}

#[test]
fn a_second_report_gets_its_own_folder_and_no_temporary_folder_is_left() {
    let root = project();
    let first = build(root.path(), &Options::default());
    let second = build(root.path(), &Options::default());
    assert_ne!(first.dir, second.dir);
    assert!(second.dir.ends_with("20260101_000000_2"));
    let names: Vec<String> = std::fs::read_dir(root.path().join("reports"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
}

#[test]
fn comparison_page_shows_the_flips_and_mcnemar_of_experiment_registry_compare() {
    let root = project();
    let options = Options {
        compare: Some(("exp_20260115_093000_m14".to_owned(), M14_B.to_owned())),
        ..Options::default()
    };
    let written = build(root.path(), &options);
    let page = read(&written.dir, "compare.html");
    // fixtures/registry/README.md: 2 right → wrong, 9 wrong → right, p = 134 / 2048.
    assert!(page.contains("Right in A, wrong in B (2)"), "{page}");
    assert!(page.contains("Wrong in A, right in B (9)"));
    assert!(page.contains(&format!("{:.4}", 134.0 / 2048.0)));
    assert!(page.contains("bootstrap interval"));
}

#[test]
fn modules_under_the_threshold_are_flagged_on_the_index() {
    let root = project();
    let options = Options {
        threshold: 0.8,
        ..Options::default()
    };
    let written = build(root.path(), &options);
    let index = read(&written.dir, "index.html");
    // m12's newest run is 75% right (3 of 4), m14's 87%: only m12 is under 80%.
    assert_eq!(
        index
            .matches("<span class=\"flag\">under 80%</span>")
            .count(),
        1
    );
    let m12_row = &index[index.find("href=\"m12.html\">m12</a>").unwrap()..];
    let m12_row = &m12_row[..m12_row.find("</tr>").unwrap()];
    assert!(m12_row.contains("under 80%"), "{m12_row}");
    assert_eq!(index.matches("<tr class=\"under\">").count(), 1);
}

/// A registered m01 run (a list module) over the first 8 dataset records: every other record
/// misses its first expected item and adds a hostile extra one.
fn m01_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let repo = test_support::repo_root();
    std::fs::copy(repo.join("modules.toml"), dir.path().join("modules.toml")).unwrap();
    let catalog = Catalog::load(&dir.path().join("modules.toml")).unwrap();
    let module = catalog.resolve("m01").unwrap();
    let records = core_config::read_records(&repo.join(&module.dataset)).unwrap();
    let mut rows = Vec::new();
    for (i, record) in records.into_iter().take(8).enumerate() {
        let expected = record.expected.get("brand_entities").cloned().unwrap();
        let items: Vec<serde_json::Value> = expected.as_array().unwrap().clone();
        let wrong = i % 2 == 1 && items.len() > 1;
        let answer = if wrong {
            let mut answer = items[1..].to_vec();
            answer.push(serde_json::json!("<b>extra</b>"));
            answer
        } else {
            items.clone()
        };
        rows.push(core_config::ResultRow {
            record_id: record.id.clone(),
            input: serde_json::Value::Object(record.input.clone()),
            output: serde_json::json!({"brand_entities": answer, "reasoning": "listed"}),
            expected: serde_json::Value::Object(record.expected.clone()),
            asin: record
                .metadata
                .get("asin")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            brand: String::new(),
            keyword: String::new(),
            reasoning: "listed".to_owned(),
            metrics: serde_json::json!({}),
            metadata: serde_json::Value::Object(record.metadata.clone()),
            correct: Some(!wrong),
            error: String::new(),
            extra: std::collections::BTreeMap::new(),
        });
    }
    let csv = dir
        .path()
        .join("experiment_results/M01_ExtractOwnBrandEntities/M01_v1_test.csv");
    core_config::results::write_results(&csv, module, &rows).unwrap();
    let file = RegistryFile::in_project(dir.path().to_owned());
    file.register(registry::NewRun::new(module.id.clone(), &csv))
        .unwrap();
    dir
}

#[test]
fn list_modules_show_their_figures_and_the_missing_and_extra_items_of_each_record() {
    let root = m01_project();
    let written = build(root.path(), &Options::default());
    let page = read(&written.dir, "m01.html");
    assert!(page.contains("<h2 id=\"lists\">List fields</h2>"), "{page}");
    let items = &page[page.find("id=\"items-table\"").expect("items table")..];
    let items = &items[..items.find("</table>").unwrap()];
    let rows = items.matches("<tr>").count() - 1;
    assert!(rows >= 1, "{items}");
    // Every listed record has its extra item, escaped.
    assert_eq!(items.matches("&lt;b&gt;extra&lt;&#x2f;b&gt;").count(), rows);
    assert!(!page.contains("<b>extra</b>"));
}

/// An m14 annotation sheet: `labels` gives (LLM, annotator A, annotator B) per row.
fn annotation_sheet(root: &Path, name: &str, labels: &[(&str, &str, &str)]) {
    let mut text = String::from(
        "row_id,record_id,keyword,llm_relevancy,annotator_a_relevancy,annotator_a_reasoning,annotator_b_relevancy,annotator_b_reasoning\n",
    );
    for (i, (llm, a, b)) in labels.iter().enumerate() {
        text.push_str(&format!("{},M14_r{i},kw {i},{llm},{a},,{b},\n", i + 1));
    }
    let dir = root.join("annotation_tasks");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn annotation_section_shows_kappa_and_a_sheet_that_cannot_be_read_does_not_stop_the_report() {
    let root = project();
    let good = [
        ("R", "R", "R"),
        ("N", "N", "N"),
        ("R", "R", "N"),
        ("N", "N", "N"),
        ("R", "R", "R"),
        ("N", "R", "R"),
    ];
    annotation_sheet(root.path(), "M14_annotation_20260101_000000.csv", &good);
    annotation_sheet(
        root.path(),
        "M14_annotation_20260102_000000.csv",
        &[("R", "R", "maybe"), ("N", "N", "N")],
    );
    let written = build(root.path(), &Options::default());
    let page = read(&written.dir, "m14.html");
    let section = &page[page.find("id=\"annotation\"").expect("annotation section")..];
    // minijinja escapes `/` too: the path reads annotation_tasks&#x2f;M14_….
    assert!(section.contains("M14_annotation_20260101_000000.csv"));
    assert!(section.contains("Cohen's kappa (A vs B)"));
    // A × B over R / N: (R,R) 3, (R,N) 1, (N,R) 0, (N,N) 2.
    let heatmap = &section[section.find("annotation-heatmap").unwrap()..];
    let heatmap = &heatmap[..heatmap.find("</svg>").unwrap()];
    assert_eq!(heatmap.matches("<rect class=\"cell").count(), 4);
    for count in ["3", "1", "0", "2"] {
        assert!(
            heatmap.contains(&format!("data-value=\"{count}\"")),
            "{count}"
        );
    }
    assert!(section.contains("LLM vs annotator A"));
    // The second sheet has a cell that is not a label: named, not fatal.
    let bad = &section[section.find("M14_annotation_20260102_000000.csv").unwrap()..];
    assert!(
        bad.contains("not analysed") && bad.contains("maybe"),
        "{bad}"
    );
}
