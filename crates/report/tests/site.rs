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

/// Writes `verdicts` as a judge CSV of m01 (the format `analyze-results judge` writes) and
/// registers it as a judge run of `judged`, as the judge crate does; returns its registry id.
fn judge_run(
    root: &Path,
    stem: &str,
    judged: &str,
    verdicts: &[judge::Verdict],
    validation: Option<judge::validate::RecordedValidation>,
) -> String {
    let csv = root.join(format!(
        "experiment_results/M01_ExtractOwnBrandEntities/{stem}.csv"
    ));
    let mut writer = csv::Writer::from_path(&csv).unwrap();
    writer.write_record(judge::run::COLUMNS).unwrap();
    let word = |p: bool| if p { "pass" } else { "fail" };
    for v in verdicts {
        let samples: Vec<&str> = v.samples.iter().map(|p| word(*p)).collect();
        writer
            .write_record([
                v.record_id.as_str(),
                &v.criterion,
                word(v.pass),
                &v.score.to_string(),
                &v.reasoning,
                "judge-model",
                v.error_cause.as_deref().unwrap_or_default(),
                &samples.join(" "),
            ])
            .unwrap();
    }
    writer.flush().unwrap();
    let file = RegistryFile::in_project(root.to_owned());
    let entry = file
        .register(registry::NewRun {
            model: "judge-model".to_owned(),
            prompt_version: "judge-v1".to_owned(),
            prompt_hash: Some("abcd1234".to_owned()),
            samples: 8,
            metrics: serde_json::json!({"judge": {
                "rubric": "prompts/judges/m01_v1.yaml", "rubric_hash": "abcd1234",
                "samples": 3, "aggregate": "majority", "errors_only": false}}),
            ..registry::NewRun::new(core_config::ModuleId::parse("m01").unwrap(), &csv)
        })
        .unwrap();
    file.update(|r| {
        let e = r.get_mut(&entry.local_id).unwrap();
        e.extra
            .insert(judge::run::JUDGE_OF.to_owned(), judged.into());
        if let Some(v) = validation {
            e.extra.insert(
                judge::validate::VALIDATION.to_owned(),
                serde_json::to_value(v).unwrap(),
            );
        }
        Ok::<_, registry::Error>(())
    })
    .unwrap();
    entry.local_id
}

/// Majority verdicts of 3 samples per (record, criterion) over `records`: every fourth record
/// fails every criterion, others by a pattern (2, 6 and 4 of 8 pass with three criteria), and
/// some samples dissent; the reasoning is hostile.
fn m01_verdicts(criteria: &[&str], records: &[String]) -> Vec<judge::Verdict> {
    let mut out = Vec::new();
    for (i, record) in records.iter().enumerate() {
        for (k, c) in criteria.iter().enumerate() {
            let truth = i % 4 != 3 && (i * 3 + k) % (k + 2) != 0;
            let samples: Vec<bool> = (0..3)
                .map(|s| if (i + k + s) % 5 == 0 { !truth } else { truth })
                .collect();
            let pass = samples.iter().filter(|p| **p).count() >= 2;
            out.push(judge::Verdict {
                record_id: record.clone(),
                criterion: (*c).to_owned(),
                pass,
                score: if pass { 1.0 } else { 0.0 },
                reasoning: "<script>alert(3)</script>".to_owned(),
                samples,
                error_cause: None,
            });
        }
    }
    out
}

fn section<'a>(page: &'a str, start: &str, end: &str) -> &'a str {
    let from = &page[page.find(start).unwrap_or_else(|| panic!("{start}"))..];
    &from[..from.find(end).unwrap_or(from.len())]
}

#[test]
fn the_module_page_shows_each_judge_run_with_its_pass_rates_and_validation_status() {
    let root = m01_project();
    let repo = test_support::repo_root();
    test_support::copy_dir(
        &repo.join("prompts/judges"),
        &root.path().join("prompts/judges"),
    );
    // With a rubric and no judge run, the page says so.
    let written = build(root.path(), &Options::default());
    let page = read(&written.dir, "m01.html");
    assert!(page.contains("No judge run of m01 yet"), "{page}");

    let registry = RegistryFile::in_project(root.path().to_owned())
        .load()
        .unwrap();
    let run = registry.entries().next().unwrap().local_id.clone();
    let rubric = judge::rubric::load(&repo.join("prompts/judges/m01_v1.yaml"))
        .unwrap()
        .rubric;
    let ids: Vec<&str> = rubric.criteria.iter().map(|c| c.id.as_str()).collect();
    let records: Vec<String> = core_config::read_results(
        &root
            .path()
            .join("experiment_results/M01_ExtractOwnBrandEntities/M01_v1_test.csv"),
    )
    .unwrap()
    .into_iter()
    .map(|r| r.record_id)
    .collect();
    let verdicts = m01_verdicts(&ids, &records);
    let first = judge_run(
        root.path(),
        "M01_judge_20260102_000000",
        &run,
        &verdicts,
        None,
    );

    let written = build(root.path(), &Options::default());
    let page = read(&written.dir, "m01.html");
    let judges = section(&page, "<h2 id=\"judges\">", "<h2 id=\"history\">");
    assert!(judges.contains(&format!(
        "Judge run <code>{first}</code> of <code>{run}</code>"
    )));
    assert!(judges.contains("(the run on this page)"));
    assert!(
        judges.contains("8 rows judged · 3 samples per row (majority)"),
        "{judges}"
    );
    assert!(judges.contains("<b>not validated</b> against people"));
    assert!(judges.contains(&format!(
        "generate-annotation-csv generate m01 --judge {first}"
    )));
    // The figures are the judge crate's summary of the same verdicts.
    let summary = judge::summary::summarise(&rubric.criteria, &verdicts);
    let table = section(judges, "class=\"judge-criteria\"", "</table>");
    for c in &summary.criteria {
        let [lo, hi] = c.pass_rate_ci95.unwrap();
        let row = format!(
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{:.1}%</td><td>{:.1}% – {:.1}%</td><td class=\"num\">{:.1}%</td><td class=\"num\">{}</td></tr>",
            c.id,
            c.rows,
            c.passed,
            c.pass_rate.unwrap() * 100.0,
            lo * 100.0,
            hi * 100.0,
            c.sample_agreement.unwrap() * 100.0,
            c.unstable_rows,
        );
        assert!(table.contains(&row), "{row}\n{table}");
        assert!(judges.contains(&format!("data-value=\"{:.6}\"", c.pass_rate.unwrap())));
        assert!(judges.contains(&format!("data-low=\"{lo:.6}\" data-high=\"{hi:.6}\"")));
    }
    assert_eq!(
        judges.matches("<rect class=\"bar pass\"").count(),
        summary.criteria.len()
    );
    assert!(!summary.failing_together.is_empty());
    for f in &summary.failing_together {
        assert!(judges.contains(&format!(
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{:.2}</td></tr>",
            f.a, f.b, f.both, f.either, f.jaccard
        )));
    }
    // A judge run is not a run of the module's accuracy history.
    let history = section(&page, "<h2 id=\"history\">", "</table>");
    assert!(!history.contains(&first), "{history}");
    assert!(history.contains(&run));

    // The judge fails validation; a later run of the same judge (module, rubric hash, model)
    // carries the status.
    let failed = judge::validate::RecordedValidation {
        validated: false,
        sheet: "annotation_tasks/judges/M01_judge_annotation_x.csv".to_owned(),
        items: Some(20),
        judge_kappa: Some(0.125),
        annotators_kappa: Some(0.5),
        judge_ac1: Some(0.25),
        annotators_ac1: None,
    };
    RegistryFile::in_project(root.path().to_owned())
        .update(|r| {
            r.get_mut(&first).unwrap().extra.insert(
                judge::validate::VALIDATION.to_owned(),
                serde_json::to_value(&failed).unwrap(),
            );
            Ok::<_, registry::Error>(())
        })
        .unwrap();
    let second = judge_run(
        root.path(),
        "M01_judge_20260103_000000",
        &run,
        &verdicts,
        None,
    );
    let written = build(root.path(), &Options::default());
    let page = read(&written.dir, "m01.html");
    let judges = section(&page, "<h2 id=\"judges\">", "<h2 id=\"history\">");
    assert_eq!(judges.matches("<div class=\"judge\"").count(), 2);
    let figures = "judge vs the annotators&#x27; consensus: kappa 0.125, AC1 0.250 over 20 items; annotator A vs B: kappa 0.500, AC1 undefined";
    for id in [&first, &second] {
        let one = section(judges, &format!("id=\"judge-{id}\""), "</p>\n");
        let status = section(judges, &format!("id=\"judge-{id}\""), "</div>");
        let status = section(status, "class=\"judge-validation\"", "</p>");
        assert!(
            status.contains("<span class=\"flag\">failed validation</span>"),
            "{one}\n{status}"
        );
        assert!(status.contains(figures), "{status}");
    }
    let second_status = section(judges, &format!("id=\"judge-{second}\""), "</div>");
    assert!(second_status.contains(&format!("checked on judge run <code>{first}</code>")));
    // Newest first.
    assert!(judges.find(&second).unwrap() < judges.find(&format!("id=\"judge-{first}\"")).unwrap());

    // A validated judge says so with its figures.
    let validated = judge::validate::RecordedValidation {
        validated: true,
        ..failed
    };
    let third = judge_run(
        root.path(),
        "M01_judge_20260104_000000",
        &run,
        &verdicts,
        Some(validated),
    );
    let written = build(root.path(), &Options::default());
    let page = read(&written.dir, "m01.html");
    let third_status = section(&page, &format!("id=\"judge-{third}\""), "</div>");
    assert!(
        third_status.contains("<span class=\"ok\"><b>validated</b></span>"),
        "{third_status}"
    );
    assert!(!third_status.contains("checked on judge run"));
    // The judges' reasoning is not on the page; nothing of it leaks unescaped anyway.
    assert!(!page.contains("<script>alert"));
}

#[test]
fn judge_criteria_and_causes_render_as_text_and_an_unreadable_judge_csv_is_named() {
    let root = m01_project();
    let registry = RegistryFile::in_project(root.path().to_owned())
        .load()
        .unwrap();
    let run = registry.entries().next().unwrap().local_id.clone();
    let hostile = "<img src=x onerror=alert(1)>";
    let mut verdicts = m01_verdicts(&[hostile, "plain"], &["R1".to_owned(), "R2".to_owned()]);
    for v in &mut verdicts {
        v.error_cause = Some("<b>cause</b>".to_owned());
    }
    judge_run(
        root.path(),
        "M01_judge_20260102_000000",
        &run,
        &verdicts,
        None,
    );
    let broken = judge_run(
        root.path(),
        "M01_judge_20260103_000000",
        &run,
        &verdicts,
        None,
    );
    std::fs::write(
        root.path()
            .join("experiment_results/M01_ExtractOwnBrandEntities/M01_judge_20260103_000000.csv"),
        "record_id,criterion,verdict\nR1,plain,maybe\n",
    )
    .unwrap();
    let written = build(root.path(), &Options::default());
    let page = read(&written.dir, "m01.html");
    assert!(
        !page.contains("<img") && !page.contains("<b>cause"),
        "raw markup"
    );
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"));
    // The error causes of the run (one per record).
    assert!(
        page.contains("<tr><td>&lt;b&gt;cause&lt;&#x2f;b&gt;</td><td class=\"num\">2</td></tr>")
    );
    let broken = section(&page, &format!("id=\"judge-{broken}\""), "</div>");
    assert!(
        broken.contains("not read") && broken.contains("judge_model"),
        "{broken}"
    );
}
