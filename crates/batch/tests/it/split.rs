//! Request files: split at the line limit, the byte limit and a token budget; every line a
//! valid `BatchRequestInput` carrying the live run's body; ids traceable and unique.

use std::collections::HashSet;

use batch::{IdScheme, Limits, Quiet};
use runner::RunSettings;
use serde_json::Value;

use crate::support::{Tiny, lines, validator};

#[test]
fn many_small_requests_split_into_files_within_the_line_limit() {
    let tiny = Tiny::small(120_000);
    let options = tiny.options_for("m05", Limits::default());
    let generated = batch::generate(&tiny.catalog(), None, &options, &Quiet).unwrap();
    let group = &generated.manifest.results[0];
    let files: Vec<(&str, u64)> = group
        .files
        .iter()
        .map(|f| (f.file.as_str(), f.requests))
        .collect();
    assert_eq!(
        files,
        [
            ("m05_part01_batch.jsonl", 50_000),
            ("m05_part02_batch.jsonl", 50_000),
            ("m05_part03_batch.jsonl", 20_000)
        ]
    );
    assert_eq!(group.records, 120_000);
    assert_eq!(group.custom_ids, IdScheme::RecordId);
    assert_eq!(generated.manifest.total_files, 3);

    let line_schema = validator("BatchRequestInput");
    let body_schema = validator("CreateChatCompletionRequest");
    let mut ids = HashSet::new();
    for (n, file) in group.files.iter().enumerate() {
        let path = generated.dir.join(&file.file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.len() as u64, file.bytes);
        assert!(file.bytes <= batch::layout::OPENAI_MAX_BYTES);
        let mut count = 0;
        for (i, raw) in text.lines().enumerate() {
            let line: Value = serde_json::from_str(raw).unwrap();
            assert!(line_schema.is_valid(&line), "{}:{}", file.file, i + 1);
            // The body schema is large; every 500th body and each file's last one is enough
            // to show the bodies are well-formed (they all come from the same builder).
            if i % 500 == 0 || i + 1 == file.requests as usize {
                assert!(
                    body_schema.is_valid(&line["body"]),
                    "{}:{} body",
                    file.file,
                    i + 1
                );
            }
            assert_eq!(line["url"], "/v1/chat/completions");
            assert!(ids.insert(line["custom_id"].as_str().unwrap().to_owned()));
            count += 1;
        }
        assert_eq!(count, file.requests, "file {n}");
    }
    assert_eq!(ids.len(), 120_000);
    assert!(ids.contains("m05_kw-000000") && ids.contains("m05_kw-119999"));
}

#[test]
fn large_requests_split_by_bytes() {
    let tiny = Tiny::new(60, 10_000);
    let limits = Limits {
        max_bytes: 100 * 1024,
        ..Limits::default()
    };
    let generated = batch::generate(&tiny.catalog(), None, &tiny.options(limits), &Quiet).unwrap();
    let group = &generated.manifest.results[0];
    assert!(group.files.len() >= 6, "{:?}", group.files);
    let line_schema = validator("BatchRequestInput");
    let body_schema = validator("CreateChatCompletionRequest");
    let mut total = 0;
    for file in &group.files {
        let path = generated.dir.join(&file.file);
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(size <= 100 * 1024, "{} is {size} bytes", file.file);
        assert_eq!(size, file.bytes);
        for line in lines(&path) {
            assert!(line_schema.is_valid(&line));
            assert!(body_schema.is_valid(&line["body"]));
            total += 1;
        }
    }
    assert_eq!(total, 60);
    // Files are filled before a new one starts: only the last may be much smaller.
    let first = group.files[0].bytes;
    assert!(first > 100 * 1024 - 11_000, "{first}");
}

#[test]
fn a_token_budget_splits_as_well() {
    let tiny = Tiny::new(100, 400);
    let limits = Limits {
        max_tokens: Some(2_000),
        ..Limits::default()
    };
    let generated = batch::generate(&tiny.catalog(), None, &tiny.options(limits), &Quiet).unwrap();
    let group = &generated.manifest.results[0];
    assert!(group.files.len() >= 5, "{:?}", group.files);
    for file in &group.files {
        assert!(file.estimated_prompt_tokens <= 2_000, "{file:?}");
        assert!(file.requests > 0);
    }
    let sum: u64 = group.files.iter().map(|f| f.estimated_prompt_tokens).sum();
    assert_eq!(sum, group.estimated_prompt_tokens);
    assert_eq!(group.files.iter().map(|f| f.requests).sum::<u64>(), 100);
}

#[test]
fn a_request_larger_than_a_file_is_refused_and_nothing_is_left_behind() {
    let tiny = Tiny::new(3, 5_000);
    let limits = Limits {
        max_bytes: 2_048,
        ..Limits::default()
    };
    let err = batch::generate(&tiny.catalog(), None, &tiny.options(limits), &Quiet)
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with(
            "datasets/m02.jsonl:1: record `kw-000000`: its request is 5711 bytes, more than the per-file limit of 2048 bytes"
        ),
        "{err}"
    );
    let left: Vec<_> = std::fs::read_dir(tiny.root().join("batch_requests"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn bodies_are_exactly_what_a_live_run_sends() {
    let tiny = Tiny::new(25, 30);
    let catalog = tiny.catalog();
    let generated =
        batch::generate(&catalog, None, &tiny.options(Limits::default()), &Quiet).unwrap();
    let module = catalog.resolve("m02").unwrap();
    let settings = RunSettings {
        prompt_version: "v1".to_owned(),
        model: "gpt-4o-mini".to_owned(),
        samples: None,
        seed: 42,
        dataset: None,
        token_param: core_config::TokenParam::MaxCompletionTokens,
        started: chrono::Local::now(),
    };
    let plan = runner::plan(&catalog, module, settings, false, None).unwrap();
    let records = core_config::read_records(&catalog.dataset_path(module)).unwrap();
    let sent = lines(&generated.dir.join("m02_batch.jsonl"));
    assert_eq!(sent.len(), records.len());
    for (line, record) in sent.iter().zip(&records) {
        assert_eq!(line["custom_id"], format!("m02_{}", record.id));
        assert_eq!(line["body"], plan.request(&record.input).unwrap().to_body());
    }
}

#[test]
fn samples_pick_the_records_a_live_run_with_the_same_seed_picks() {
    let tiny = Tiny::new(200, 10);
    let catalog = tiny.catalog();
    let mut options = tiny.options(Limits::default());
    options.samples = Some(15);
    options.seed = 7;
    let generated = batch::generate(&catalog, None, &options, &Quiet).unwrap();
    let module = catalog.resolve("m02").unwrap();
    let settings = RunSettings {
        prompt_version: "v1".to_owned(),
        model: "gpt-4o-mini".to_owned(),
        samples: Some(15),
        seed: 7,
        dataset: None,
        token_param: core_config::TokenParam::MaxCompletionTokens,
        started: chrono::Local::now(),
    };
    let plan = runner::plan(&catalog, module, settings, false, None).unwrap();
    let mut live: Vec<String> = plan
        .records
        .iter()
        .map(|(id, _)| format!("m02_{id}"))
        .collect();
    let mut sent: Vec<String> = lines(&generated.dir.join("m02_batch.jsonl"))
        .iter()
        .map(|l| l["custom_id"].as_str().unwrap().to_owned())
        .collect();
    live.sort();
    sent.sort();
    assert_eq!(sent, live);
    let group = &generated.manifest.results[0];
    assert_eq!(
        (group.samples, group.seed, group.records),
        (Some(15), Some(7), 15)
    );
}

#[test]
fn ids_are_made_safe_and_fall_back_to_positions_when_that_makes_them_collide() {
    let spaced = Tiny::with_ids(5, 5, |i| format!("kw {i}/x"));
    let generated = batch::generate(
        &spaced.catalog(),
        None,
        &spaced.options(Limits::default()),
        &Quiet,
    )
    .unwrap();
    assert_eq!(generated.manifest.results[0].custom_ids, IdScheme::RecordId);
    let ids: Vec<Value> = lines(&generated.dir.join("m02_batch.jsonl"))
        .into_iter()
        .map(|l| l["custom_id"].clone())
        .collect();
    assert_eq!(ids[2], "m02_kw_2_x");

    let colliding = Tiny::with_ids(6, 5, |i| match i {
        3 => "a b".to_owned(),
        4 => "a_b".to_owned(),
        _ => format!("r{i}"),
    });
    let generated = batch::generate(
        &colliding.catalog(),
        None,
        &colliding.options(Limits::default()),
        &Quiet,
    )
    .unwrap();
    assert_eq!(generated.manifest.results[0].custom_ids, IdScheme::Index);
    let ids: Vec<Value> = lines(&generated.dir.join("m02_batch.jsonl"))
        .into_iter()
        .map(|l| l["custom_id"].clone())
        .collect();
    assert_eq!(ids[0], "m02_00000");
    assert_eq!(ids[5], "m02_00005");
}

#[test]
fn an_id_too_long_to_serve_makes_the_group_use_positions() {
    let tiny = Tiny::with_ids(4_000, 5, |i| {
        if i == 3_500 {
            "x".repeat(batch::MAX_ID_CHARS + 1)
        } else {
            format!("r{i}")
        }
    });
    let generated = batch::generate(
        &tiny.catalog(),
        None,
        &tiny.options(Limits::default()),
        &Quiet,
    )
    .unwrap();
    let group = &generated.manifest.results[0];
    assert_eq!(group.custom_ids, IdScheme::Index);
    assert_eq!(group.files.len(), 1, "the first attempt's files are gone");
    let ids: Vec<Value> = lines(&generated.dir.join("m02_batch.jsonl"))
        .into_iter()
        .map(|l| l["custom_id"].clone())
        .collect();
    assert_eq!(ids.len(), 4_000);
    assert_eq!(ids[3_999], "m02_03999");
    let left: Vec<String> = std::fs::read_dir(&generated.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
}

#[test]
fn a_repeated_record_id_is_refused_with_both_lines() {
    let tiny = Tiny::with_ids(6, 5, |i| {
        if i == 4 {
            "r1".to_owned()
        } else {
            format!("r{i}")
        }
    });
    let err = batch::generate(
        &tiny.catalog(),
        None,
        &tiny.options(Limits::default()),
        &Quiet,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.ends_with(
            "datasets/m02.jsonl:5: record `r1`: duplicate id (first used on line 2); ids must be unique so answers can be joined back"
        ),
        "{err}"
    );
}
