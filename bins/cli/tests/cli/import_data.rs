//! `import-data`: tables, chained and silver datasets, bad input, and the registry telling
//! golden, gold, synthetic, imported, chained and silver runs apart.

use crate::assert_run_snapshot;
use crate::support::{Sim, TestProject, run};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(test_support::fixture(format!("dataset/{name}"))).unwrap()
}

/// A project with the dataset fixtures under `in/`.
fn project() -> TestProject {
    let project = TestProject::new();
    for name in [
        "m12_plain.csv",
        "m12_semicolon_bom_crlf.csv",
        "m12.map.toml",
        "m02_keywords.csv",
        "m02_tabs.tsv",
    ] {
        project.write(&format!("in/{name}"), fixture(name));
    }
    project
}

/// An m02 workbook: a notes sheet first, the data on `Keywords`.
fn m02_workbook(project: &TestProject, rows: &[[&str; 4]]) -> std::path::PathBuf {
    let path = project.path("in/m02.xlsx");
    let mut book = rust_xlsxwriter::Workbook::new();
    book.add_worksheet()
        .set_name("Notes")
        .unwrap()
        .write_string(0, 0, "read me")
        .unwrap();
    let sheet = book.add_worksheet().set_name("Keywords").unwrap();
    let head = ["keyword", "brand_entities", "branding_scope_1", "asin"];
    for (r, row) in std::iter::once(&head).chain(rows).enumerate() {
        for (c, cell) in row.iter().enumerate() {
            sheet
                .write_string(u32::try_from(r).unwrap(), u16::try_from(c).unwrap(), *cell)
                .unwrap();
        }
    }
    book.save(&path).unwrap();
    path
}

fn registry(project: &TestProject) -> serde_json::Value {
    serde_json::from_slice(
        &std::fs::read(project.path("experiment_results/.registry.json")).unwrap(),
    )
    .unwrap()
}

/// The local id of the newest run of `module`.
fn newest_run(project: &TestProject, module: &str) -> String {
    let registry = registry(project);
    let mut ids: Vec<&String> = registry["experiments"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, e)| e["module_id"] == module)
        .map(|(id, _)| id)
        .collect();
    ids.sort();
    ids.last().unwrap().to_string()
}

fn run_on(sim: &Sim, project: &TestProject, module: &str, dataset: &str) -> crate::support::Run {
    let out = run(sim.command(project, "orchestrator").args([
        "run",
        module,
        "--dataset",
        dataset,
        "--samples",
        "6",
    ]));
    assert!(
        out.code == 0 || out.code == 1,
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    assert!(
        out.stdout.contains(" on "),
        "the accuracy names its dataset: {}",
        out.stdout
    );
    out
}

#[test]
fn tables_import_for_m12_and_m02_validate_and_run() {
    let project = project();
    let out = project.run(
        "import-data",
        &[
            "table",
            "in/m12_plain.csv",
            "--module",
            "m12",
            "--map",
            "in/m12.map.toml",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_run_snapshot!("import_data_table_m12", &project, out);
    // The spreadsheet's semicolon CSV (BOM, CRLF) gives the same records.
    let out = project.run(
        "import-data",
        &[
            "table",
            "in/m12_semicolon_bom_crlf.csv",
            "-m",
            "12",
            "--map",
            "in/m12.map.toml",
            "--json",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["records"], 4);
    let strip = |path: &str| -> Vec<serde_json::Value> {
        std::fs::read_to_string(project.path(path))
            .unwrap()
            .lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["metadata"].as_object_mut().unwrap().remove("source");
                v
            })
            .collect()
    };
    assert_eq!(
        strip("datasets/imported/m12_m12_plain.jsonl"),
        strip("datasets/imported/m12_m12_semicolon_bom_crlf.jsonl")
    );
    for (file, extra) in [
        ("in/m02_keywords.csv", None),
        ("in/m02_tabs.tsv", None),
        ("in/m02.xlsx", Some("Keywords")),
    ] {
        if extra.is_some() {
            m02_workbook(
                &project,
                &[
                    [
                        "usb c charger anker",
                        "[\"Anker\", \"Ankr\"]",
                        "OB",
                        "B0ANKER001",
                    ],
                    ["usb c charger", "Anker; Ankr", "Null", "B0ANKER001"],
                ],
            );
        }
        let mut args = vec!["table", file, "--module", "m02"];
        if let Some(sheet) = extra {
            args.extend(["--sheet", sheet]);
        }
        let out = project.run("import-data", &args);
        assert_eq!(out.code, 0, "{file}: {}", out.stderr);
    }
    // An existing file is not replaced without --force.
    let again = project.run(
        "import-data",
        &["table", "in/m02_keywords.csv", "--module", "m02"],
    );
    assert_eq!(again.code, 2);
    assert!(
        again
            .stderr
            .contains("already exists; nothing was written (--force replaces it)"),
        "{}",
        again.stderr
    );
    let forced = project.run(
        "import-data",
        &["table", "in/m02_keywords.csv", "--module", "m02", "--force"],
    );
    assert_eq!(forced.code, 0, "{}", forced.stderr);

    let sim = Sim::start(&project, &[]);
    run_on(
        &sim,
        &project,
        "m12",
        "datasets/imported/m12_m12_plain.jsonl",
    );
    run_on(&sim, &project, "m02", "datasets/imported/m02_m02.jsonl");
    let registry = registry(&project);
    let kinds: Vec<&str> = registry["experiments"]
        .as_object()
        .unwrap()
        .values()
        .map(|e| e["dataset"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["imported", "imported"]);
}

fn refused(project: &TestProject, args: &[&str]) -> String {
    let out = project.run("import-data", args);
    assert_eq!(out.code, 2, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert!(
        !project.path("datasets/imported").exists(),
        "nothing is written: {}",
        out.stderr
    );
    out.stderr
        .replace(&project.root().display().to_string(), "[ROOT]")
}

#[test]
fn bad_input_names_the_place_exits_2_and_writes_nothing() {
    let project = project();
    let head = "keyword,brand_entities,branding_scope_1,asin\n";
    project.write(
        "in/label.csv",
        format!("{head}usb c,[\"Anker\"],OB,B01\nusb a,[\"Anker\"],maybe,B01\n"),
    );
    project.write(
        "in/column.csv",
        "keyword,branding_scope_1,asin\nusb c,OB,B01\n",
    );
    project.write(
        "in/dup.csv",
        format!("{head}usb c,[\"Anker\"],OB,B01\nusb c,Anker,Null,B01\n"),
    );
    project.write(
        "in/latin1.csv",
        b"keyword,brand_entities,branding_scope_1,asin\ncaf\xe9 mug,[\"Caf\xe9\"],OB,B01\n",
    );
    let empty = project.path("in/empty.xlsx");
    let mut book = rust_xlsxwriter::Workbook::new();
    book.add_worksheet().set_name("Keywords").unwrap();
    book.save(&empty).unwrap();
    let mut all = String::new();
    for file in [
        "label.csv",
        "column.csv",
        "dup.csv",
        "latin1.csv",
        "empty.xlsx",
    ] {
        let path = format!("in/{file}");
        all += &format!("$ import-data table {path} --module m02\n");
        all += &refused(&project, &["table", &path, "--module", "m02"]);
    }
    insta::with_settings!({ prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("import_data_bad_input", all);
    });
}

#[test]
fn a_chained_m01_to_m02_dataset_and_a_silver_set_run_and_the_registry_tells_datasets_apart() {
    let project = project();
    // A gold file (a slice of the golden set) for m12.
    let golden =
        std::fs::read_to_string(project.path("datasets/single/m12_v1_check_hard_constraint.jsonl"))
            .unwrap();
    let slice: String = golden.lines().take(10).map(|l| format!("{l}\n")).collect();
    project.write("validated_data/M12_gold_20260116_120000.jsonl", slice);
    let sim = Sim::start(&project, &["--answer-key", "--seed", "7"]);

    let m01 = run(sim.command(&project, "orchestrator").args(["run", "m01"]));
    assert!(m01.code == 0 || m01.code == 1, "{}", m01.stderr);
    let m01_id = newest_run(&project, "m01");
    let out = project.run(
        "import-data",
        &["chain", "--from", &m01_id, "--module", "m02"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_run_snapshot!("import_data_chain_m01_m02", &project, out);
    let chained = format!("datasets/chained/m02_from_{m01_id}.jsonl");
    let first: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(project.path(&chained))
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(first["metadata"]["chained_from"], m01_id.as_str());
    assert!(first["input"]["brand_entities"].is_array());
    run_on(&sim, &project, "m02", &chained);

    for dataset in [
        "datasets/single/m12_v1_check_hard_constraint.jsonl",
        "validated_data/M12_gold_20260116_120000.jsonl",
        "datasets/synthetic/m12_sd01_check_hard_constraint.jsonl",
    ] {
        run_on(&sim, &project, "m12", dataset);
    }
    let m12 = newest_run(&project, "m12");
    let out = project.run("import-data", &["silver", &m12]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let silver = format!("datasets/silver/m12_silver_{m12}.jsonl");
    let out = run_on(&sim, &project, "m12", &silver);
    assert!(
        out.stdout.contains("on silver datasets/silver/"),
        "{}",
        out.stdout
    );

    let list = project.run("experiment-registry", &["list"]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    for kind in ["golden", "gold", "synthetic", "chained", "silver"] {
        assert!(list.stdout.contains(kind), "{kind}: {}", list.stdout);
    }
    let stats = project.run("experiment-registry", &["stats"]);
    let mut filters = crate::support::filters(&project);
    filters.push((
        r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}".to_owned(),
        "[TIME]".to_owned(),
    ));
    filters.push((
        r"exp_\[TIMESTAMP\]_m(\d+)(_\d+)?".to_owned(),
        "exp_[TIMESTAMP]_m$1[_N]".to_owned(),
    ));
    // Ids of runs started in the same second get `_2`, which shifts the columns.
    filters.push((r" {2,}".to_owned(), "  ".to_owned()));
    let filters: Vec<(&str, &str)> = filters
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    insta::with_settings!({ filters => filters, prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!("import_data_registry_stats", stats.transcript());
    });
    let gold = project.run(
        "experiment-registry",
        &["list", "--dataset", "gold", "--json"],
    );
    let gold: serde_json::Value = serde_json::from_str(&gold.stdout).unwrap();
    assert_eq!(gold["total"], 1);
    let entry = &gold["experiments"][0];
    assert_eq!(
        entry["dataset"]["path"],
        "validated_data/M12_gold_20260116_120000.jsonl"
    );
    assert_eq!(entry["dataset"]["records"], 10);
    assert_eq!(entry["dataset"]["sha256"].as_str().unwrap().len(), 64);
    assert!(
        entry["csv_path"].as_str().unwrap().contains("M12_v1_gold_"),
        "{entry}"
    );
    // Runs on different datasets are not compared unless --force.
    let golden_id = {
        let l = project.run(
            "experiment-registry",
            &["list", "--dataset", "golden", "--json"],
        );
        let l: serde_json::Value = serde_json::from_str(&l.stdout).unwrap();
        l["experiments"][0]["local_id"].as_str().unwrap().to_owned()
    };
    let gold_id = entry["local_id"].as_str().unwrap();
    let refused = project.run("experiment-registry", &["compare", &golden_id, gold_id]);
    assert_eq!(refused.code, 2, "{}", refused.stdout);
    assert!(
        refused
            .stderr
            .contains("their accuracies are not comparable"),
        "{}",
        refused.stderr
    );
    let forced = project.run(
        "experiment-registry",
        &["compare", &golden_id, gold_id, "--force"],
    );
    assert_eq!(forced.code, 0, "{}", forced.stderr);
}

#[test]
fn a_keepa_export_becomes_synthetic_groups_that_run() {
    let project = TestProject::new();
    project.write("in/keepa_export.csv", fixture("keepa_export.csv"));
    let out = project.run(
        "import-data",
        &["keepa", "in/keepa_export.csv", "--per-type", "2"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_run_snapshot!("import_data_keepa", &project, out);
    let summary: serde_json::Value = serde_json::from_slice(
        &std::fs::read(project.path("datasets/synthetic/sd_datasets_summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["groups"][2]["product_type"], "HEADPHONES");
    assert_eq!(
        summary["groups"][2]["asins"],
        serde_json::json!(["B0BQPGJ9LQ", "B0BQPGJ9L2"])
    );
    // Nothing is replaced without --force, and nothing new is written either.
    let again = project.run("import-data", &["keepa", "in/keepa_export.csv"]);
    assert_eq!(again.code, 2, "{}", again.stdout);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
    let sim = Sim::start(&project, &[]);
    for (module, file) in [
        (
            "m01",
            "datasets/synthetic/m01_sd03_extract_own_brand_entities.jsonl",
        ),
        (
            "m06",
            "datasets/synthetic/m06_sd01_generate_product_type_taxonomy.jsonl",
        ),
        (
            "m07",
            "datasets/synthetic/m07_sd05_extract_product_attributes.jsonl",
        ),
    ] {
        run_on(&sim, &project, module, file);
    }
    let list = project.run(
        "experiment-registry",
        &["list", "--dataset", "synthetic", "--json"],
    );
    let list: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(list["total"], 3);
}
