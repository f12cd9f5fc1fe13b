//! The whole cycle against the simulator, at library level: generate, upload, watch, download,
//! evaluate; failed and expired lines; resubmission; resuming an interrupted upload.

use std::collections::BTreeMap;
use std::time::Duration;

use api_sim::{SimConfig, SimServer};
use batch::{BatchDir, EvaluateOptions, Limits, Quiet, ResubmitOptions, WatchEnd, WatchOptions};
use core_config::{OpenAiSettings, Provider, Secret, TokenParam};
use llm_client::Client;
use runner::{ExecOptions, RunSettings};
use serde_json::{Map, Value, json};

use crate::support::Tiny;

fn sim(tiny: &Tiny, error_rate: f64) -> SimServer {
    api_sim::spawn(SimConfig {
        answer_key: Some(tiny.root().to_owned()),
        wrong_rate: 0.2,
        error_rate,
        seed: 11,
        batch_duration: Duration::from_millis(300),
        ..SimConfig::default()
    })
    .unwrap()
}

fn client(server: &SimServer) -> Client {
    Client::builder(OpenAiSettings {
        provider: Provider::OpenAi,
        base_url: server.base_url(),
        api_key: Some(Secret::new("sk-test-not-real")),
        organization: None,
        project: None,
        api_version: None,
        token_param: TokenParam::MaxCompletionTokens,
    })
    .retry(llm_client::RetryPolicy {
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        ..llm_client::RetryPolicy::default()
    })
    .build()
    .unwrap()
}

const WATCH: WatchOptions = WatchOptions {
    interval: Duration::from_millis(20),
    max_interval: Duration::from_millis(100),
    timeout: Some(Duration::from_secs(60)),
};

fn evaluate_options() -> EvaluateOptions {
    EvaluateOptions {
        keys: Vec::new(),
        token_param: TokenParam::MaxCompletionTokens,
        started: chrono::Local::now(),
    }
}

async fn watch(dir: &BatchDir, client: &Client) -> batch::StatusReport {
    let (report, end) = batch::status::watch(dir, client, WATCH, &Quiet, std::future::pending())
        .await
        .unwrap();
    assert_eq!(end, WatchEnd::Finished);
    report
}

/// The accuracy and per-record correctness of a live run of the same records through the same
/// simulator.
async fn live_run(tiny: &Tiny, client: &Client) -> (Option<f64>, BTreeMap<String, String>) {
    let catalog = tiny.catalog();
    let module = catalog.resolve("m02").unwrap();
    let settings = RunSettings {
        prompt_version: "v1".to_owned(),
        model: "gpt-4o-mini".to_owned(),
        samples: None,
        seed: 42,
        dataset: None,
        token_param: TokenParam::MaxCompletionTokens,
        started: chrono::Local::now() + chrono::Duration::seconds(5),
    };
    let plan = runner::plan(&catalog, module, settings, false, None).unwrap();
    let report = runner::run_quietly(
        &plan,
        client,
        ExecOptions {
            max_in_flight: 4,
            cache: llm_client::CacheMode::Off,
        },
    )
    .await
    .unwrap();
    (report.metrics.accuracy, correctness(&plan.csv))
}

/// `record_id -> correct` from a results CSV.
fn correctness(csv: &std::path::Path) -> BTreeMap<String, String> {
    core_config::read_results(csv)
        .unwrap()
        .into_iter()
        .map(|row| {
            let correct = row
                .correct
                .map_or_else(|| "error".to_owned(), |c| c.to_string());
            (row.record_id, correct)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cycle_scores_every_answer_as_a_live_run_does() {
    let tiny = Tiny::new(40, 30);
    let server = sim(&tiny, 0.0);
    let client = client(&server);
    let catalog = tiny.catalog();
    let generated =
        batch::generate(&catalog, None, &tiny.options(Limits::default()), &Quiet).unwrap();
    let dir = BatchDir::open(&generated.dir).unwrap();

    let uploaded = batch::upload(&dir, &client, &Map::new(), &Quiet)
        .await
        .unwrap();
    assert_eq!(
        (uploaded.uploaded, uploaded.created, uploaded.failed),
        (1, 1, 0)
    );
    let entry = &uploaded.entries[0];
    assert_eq!(entry.metadata["module"], "m02");
    assert_eq!(entry.metadata["file"], "m02_batch.jsonl");
    let status = watch(&dir, &client).await;
    assert_eq!(status.summary.completed, 1);
    assert!(status.all_clean());

    let downloaded = batch::download(&dir, &client, &Quiet).await.unwrap();
    assert_eq!(downloaded.summary.total_results, 40);
    // The simulator shuffles the output: the order says nothing about which record is which.
    let results = std::fs::read_to_string(dir.join("results/m02_results.jsonl")).unwrap();
    let order: Vec<String> = results
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["custom_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_ne!(order, sorted);

    let report = batch::evaluate(&dir, &catalog, None, &evaluate_options()).unwrap();
    let evaluation = &report.evaluations[0];
    assert_eq!((evaluation.requests, evaluation.total), (40, 40));
    assert_eq!(evaluation.errors_count, 0);
    assert!(
        evaluation.mismatches_total > 0,
        "the simulator answers 20% wrongly"
    );
    assert_eq!(evaluation.mismatches_total, 40 - evaluation.correct);
    let registry: Value = serde_json::from_slice(
        &std::fs::read(tiny.root().join("experiment_results/.registry.json")).unwrap(),
    )
    .unwrap();
    let entry = &registry["experiments"][&evaluation.local_id];
    assert_eq!(entry["module_id"], "m02");
    assert_eq!(entry["samples"], 40);
    assert_eq!(
        entry["tier"], "batch",
        "batch runs are marked in the registry"
    );

    let (live_accuracy, live_rows) = live_run(&tiny, &client).await;
    assert_eq!(evaluation.metrics.accuracy, live_accuracy);
    let batch_rows = correctness(&tiny.root().join(&evaluation.results_csv));
    assert_eq!(batch_rows, live_rows, "every record is judged the same way");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_and_expired_requests_are_listed_and_resubmit_completes_them() {
    let tiny = Tiny::new(60, 30);
    let server = sim(&tiny, 0.15);
    let client = client(&server);
    let catalog = tiny.catalog();
    let generated =
        batch::generate(&catalog, None, &tiny.options(Limits::default()), &Quiet).unwrap();
    let dir = BatchDir::open(&generated.dir).unwrap();
    let expire_early: Map<String, Value> = json!({"sim_expire_after_ms": "180"})
        .as_object()
        .cloned()
        .unwrap();
    batch::upload(&dir, &client, &expire_early, &Quiet)
        .await
        .unwrap();
    let status = watch(&dir, &client).await;
    assert_eq!(status.summary.expired, 1);
    let downloaded = batch::download(&dir, &client, &Quiet).await.unwrap();
    let answered = downloaded.summary.total_results;
    assert!(answered > 0 && answered < 60, "partial results: {answered}");
    assert_eq!(answered + downloaded.summary.total_errors, 60);

    let first = batch::evaluate(&dir, &catalog, None, &evaluate_options()).unwrap();
    let evaluation = &first.evaluations[0];
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &evaluation.errors {
        *kinds.entry(e.kind.as_str()).or_default() += 1;
    }
    assert!(kinds["batch_expired"] > 0, "{kinds:?}");
    assert!(kinds["server_error"] > 0, "{kinds:?}");
    assert_eq!(evaluation.errors_count, evaluation.failed);
    assert_eq!(evaluation.total + evaluation.errors_count, 60);
    assert!(!first.all_scored());
    // Every request is a row of the CSV, answered or not.
    let rows = correctness(&tiny.root().join(&evaluation.results_csv));
    assert_eq!(rows.len(), 60);
    assert_eq!(
        rows.values().filter(|c| *c == "error").count(),
        evaluation.errors_count
    );

    // Resubmit until every request has an answer (500s hit resubmitted lines too).
    let mut rounds = 0;
    loop {
        let report = batch::resubmit(&dir, &client, &ResubmitOptions::default(), &Quiet)
            .await
            .unwrap();
        if report.resent() == 0 {
            break;
        }
        rounds += 1;
        assert!(rounds <= 6, "resubmission does not converge");
        let group = &report.groups[0];
        assert_eq!(group.answered + group.failed + group.missing, 60);
        assert_eq!(report.round, rounds);
        let sent = std::fs::read_to_string(dir.join(&format!("retry{rounds:02}/m02_batch.jsonl")))
            .unwrap();
        assert_eq!(sent.lines().count(), group.failed + group.missing);
        watch(&dir, &client).await;
        batch::download(&dir, &client, &Quiet).await.unwrap();
    }
    assert!(rounds >= 1);
    let last = batch::evaluate(&dir, &catalog, None, &evaluate_options()).unwrap();
    let evaluation = &last.evaluations[0];
    assert!(last.all_scored(), "{:?}", evaluation.errors);
    assert_eq!(evaluation.total, 60);

    let (live_accuracy, live_rows) = live_run(&tiny, &client).await;
    assert_eq!(evaluation.metrics.accuracy, live_accuracy);
    assert_eq!(
        correctness(&tiny.root().join(&evaluation.results_csv)),
        live_rows
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_upload_resumes_without_sending_anything_twice() {
    let tiny = Tiny::new(30, 10);
    let server = sim(&tiny, 0.0);
    let client = client(&server);
    let limits = Limits {
        max_lines: 10,
        ..Limits::default()
    };
    let generated = batch::generate(&tiny.catalog(), None, &tiny.options(limits), &Quiet).unwrap();
    let dir = BatchDir::open(&generated.dir).unwrap();
    let first = batch::upload(&dir, &client, &Map::new(), &Quiet)
        .await
        .unwrap();
    assert_eq!(first.created, 3);

    // Pretend the answer to the second create never arrived, and the third was never sent.
    // The second entry's file id is also lost, so only the batch's metadata (folder, file,
    // content hash) can identify it.
    let path = dir.join("upload_manifest.json");
    let mut manifest: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let entries = manifest["results"].as_array_mut().unwrap();
    entries[1]["batch_id"] = Value::Null;
    entries[1]["create_sent"] = json!(true);
    entries[1]["status"] = json!("failed");
    entries[1]["file_id"] = json!("file-lost");
    entries[2]["batch_id"] = Value::Null;
    entries[2]["file_id"] = Value::Null;
    std::fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    let before = server.stats();

    let again = batch::upload(&dir, &client, &Map::new(), &Quiet)
        .await
        .unwrap();
    assert_eq!(
        (again.skipped, again.found, again.uploaded, again.created),
        (1, 1, 1, 1)
    );
    let after = server.stats();
    assert_eq!(
        after.total("POST /v1/batches") - before.total("POST /v1/batches"),
        1,
        "the uncertain batch was found, not created twice"
    );
    assert_eq!(
        after.total("POST /v1/files") - before.total("POST /v1/files"),
        1
    );
    let ids: Vec<String> = again
        .entries
        .iter()
        .map(|e| e.batch_id.clone().unwrap())
        .collect();
    assert_eq!(
        ids[..2],
        first
            .entries
            .iter()
            .map(|e| e.batch_id.clone().unwrap())
            .collect::<Vec<_>>()[..2]
    );

    // Nothing left to do: a third run sends nothing.
    let third = batch::upload(&dir, &client, &Map::new(), &Quiet)
        .await
        .unwrap();
    assert_eq!(third.skipped, 3);
    assert_eq!(
        server.stats().total("POST /v1/files"),
        after.total("POST /v1/files")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_out_of_order_say_what_to_run_first() {
    let tiny = Tiny::new(5, 10);
    let server = sim(&tiny, 0.0);
    let client = client(&server);
    let catalog = tiny.catalog();
    let generated =
        batch::generate(&catalog, None, &tiny.options(Limits::default()), &Quiet).unwrap();
    let dir = BatchDir::open(&generated.dir).unwrap();
    let shown = generated.dir.display().to_string();
    let err = batch::status::check(&dir, &client)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "{shown}: no batch was created from this folder yet (expected upload_manifest.json with batch ids; run `batch upload {shown}` first)"
        )
    );
    let err = batch::evaluate(&dir, &catalog, None, &evaluate_options())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("m02: no results in ")
            && err.ends_with(&format!("run `batch download {shown}` first)")),
        "{err}"
    );
    batch::upload(&dir, &client, &Map::new(), &Quiet)
        .await
        .unwrap();
    let err = batch::resubmit(&dir, &client, &ResubmitOptions::default(), &Quiet)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("is still validating") || err.contains("is still in_progress"),
        "{err}"
    );
}

/// Generates, uploads, waits for and downloads one `m02` batch of `records` records.
async fn downloaded(tiny: &Tiny, client: &Client, records: u64) -> BatchDir {
    let catalog = tiny.catalog();
    let generated =
        batch::generate(&catalog, None, &tiny.options(Limits::default()), &Quiet).unwrap();
    let dir = BatchDir::open(&generated.dir).unwrap();
    batch::upload(&dir, client, &Map::new(), &Quiet)
        .await
        .unwrap();
    watch(&dir, client).await;
    let downloaded = batch::download(&dir, client, &Quiet).await.unwrap();
    assert_eq!(downloaded.summary.total_results, records);
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_different_answer_is_reported_and_the_first_is_kept() {
    let tiny = Tiny::new(6, 30);
    let server = sim(&tiny, 0.0);
    let client = client(&server);
    let dir = downloaded(&tiny, &client, 6).await;
    let results = dir.join("results/m02_results.jsonl");
    let text = std::fs::read_to_string(&results).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let content = |line: &Value| {
        line["response"]["body"]["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .to_owned()
    };

    // The first request answered again, identically: harmless.
    let mut appended = text;
    appended.push_str(&format!("{}\n", lines[0]));
    // The second answered again with the opposite branding.
    let mut changed = lines[1].clone();
    let first_answer: Value = serde_json::from_str(&content(&lines[1])).unwrap();
    let mut other = first_answer.clone();
    other["branding_scope_1"] = if first_answer["branding_scope_1"].is_null() {
        json!("OB")
    } else {
        Value::Null
    };
    changed["response"]["body"]["choices"][0]["message"]["content"] = json!(other.to_string());
    appended.push_str(&format!("{changed}\n"));
    std::fs::write(&results, appended).unwrap();

    let report = batch::evaluate(&dir, &tiny.catalog(), None, &evaluate_options()).unwrap();
    let evaluation = &report.evaluations[0];
    let conflicted = lines[1]["custom_id"].as_str().unwrap();
    assert_eq!(evaluation.conflicts.len(), 1, "{:?}", evaluation.conflicts);
    let conflict = &evaluation.conflicts[0];
    assert_eq!(conflict.custom_id, conflicted);
    assert!(
        conflict.kept.ends_with("m02_results.jsonl:2"),
        "{conflict:?}"
    );
    assert!(
        conflict.ignored.ends_with("m02_results.jsonl:8"),
        "{conflict:?}"
    );
    assert!(
        evaluation.warnings.iter().any(|w| w.contains(conflicted)),
        "{:?}",
        evaluation.warnings
    );
    assert!(
        !report.all_scored(),
        "a conflict makes the evaluation incomplete"
    );
    assert_eq!((evaluation.requests, evaluation.total), (6, 6));

    // The row holds the first answer, not the later one.
    let rows = core_config::read_results(&tiny.root().join(&evaluation.results_csv)).unwrap();
    let record = conflicted.rsplit('-').next().unwrap();
    let row = rows.iter().find(|r| r.record_id.ends_with(record)).unwrap();
    assert_eq!(
        row.output["branding_scope_1"],
        first_answer["branding_scope_1"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluated_batch_answers_serve_a_later_live_run_from_the_cache() {
    let tiny = Tiny::new(12, 30);
    let server = sim(&tiny, 0.0);
    let cache_dir = tiny.root().join(".cache/llm");
    let cached_client = {
        Client::builder(OpenAiSettings {
            provider: Provider::OpenAi,
            base_url: server.base_url(),
            api_key: Some(Secret::new("sk-test-not-real")),
            organization: None,
            project: None,
            api_version: None,
            token_param: TokenParam::MaxCompletionTokens,
        })
        .cache(llm_client::Cache::open(&cache_dir).unwrap())
        .build()
        .unwrap()
    };
    let dir = downloaded(&tiny, &cached_client, 12).await;
    let report = batch::evaluate_into_cache(
        &dir,
        &tiny.catalog(),
        None,
        &evaluate_options(),
        &cached_client,
    )
    .unwrap();
    let evaluation = &report.evaluations[0];
    assert_eq!(evaluation.total, 12);
    assert_eq!(evaluation.cached_answers, 12);

    server.reset_stats();
    let catalog = tiny.catalog();
    let settings = RunSettings {
        prompt_version: "v1".to_owned(),
        model: "gpt-4o-mini".to_owned(),
        samples: None,
        seed: 42,
        dataset: None,
        token_param: TokenParam::MaxCompletionTokens,
        started: chrono::Local::now() + chrono::Duration::seconds(5),
    };
    let plan = runner::plan(
        &catalog,
        catalog.resolve("m02").unwrap(),
        settings,
        false,
        None,
    )
    .unwrap();
    let live = runner::run_quietly(
        &plan,
        &cached_client,
        ExecOptions {
            max_in_flight: 4,
            cache: llm_client::CacheMode::Use,
        },
    )
    .await
    .unwrap();
    assert_eq!(live.http_requests, 0, "every row came from the cache");
    assert_eq!(live.cache_hits, 12);
    assert_eq!(server.stats().total("POST /v1/chat/completions"), 0);
    assert_eq!(live.metrics.accuracy, evaluation.metrics.accuracy);
}
