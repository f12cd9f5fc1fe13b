//! Uploads against the simulator: sync, repeat, interruption, faults, renames, baselines,
//! retries, and download of what was uploaded.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use api_sim::SimConfig;
use braintrust::{Client, Error, Progress, RowScorer, RunOutcome, Uploader, event::event_id};
use core_config::{ModuleSpec, ResultRow};
use registry::Status;
use serde_json::json;

use crate::support::{
    self, KEY, catalog, client, fixture_rows, json_ok, many_rows, raw, recorder,
    rows_by_experiment, sim, stored,
};

/// Scores the length of the answer's entity list against 10 (any number; clamped by the crate).
struct ListLength;

impl RowScorer for ListLength {
    fn scores(&self, _module: &ModuleSpec, row: &ResultRow) -> Vec<(String, f64)> {
        let n = row.output["brand_entities"].as_array().map_or(0, Vec::len);
        vec![
            ("length".to_owned(), n as f64 / 10.0),
            ("too_big".to_owned(), 3.0),
        ]
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_uploads_every_pending_run_and_a_second_sync_uploads_nothing() {
    let server = sim(SimConfig::default());
    let project = support::Project::new();
    let m12 = project.register(
        "m12",
        "2026-01-16T12:34:56",
        &fixture_rows("m12_results.csv"),
    );
    let m01 = project.register(
        "m01",
        "2026-01-16T12:40:00",
        &fixture_rows("m01_results.csv"),
    );
    let catalog = catalog();
    let registry = project.registry();
    let progress = recorder();
    let client = client(&server, 0).with_progress(progress.clone() as Arc<dyn Progress>);
    let scorer = ListLength;
    let uploader = Uploader::new(&client, &registry, &catalog).scorer(&scorer);

    let report = uploader.sync(None, None).await.unwrap();
    assert_eq!(
        (report.pending, report.uploaded(), report.failed()),
        (2, 2, 0)
    );
    // Oldest first.
    assert_eq!(
        *progress.finished.lock().unwrap(),
        [m12.local_id.clone(), m01.local_id.clone()]
    );
    let RunOutcome::Uploaded(first) = &report.outcomes[0] else {
        panic!("{:?}", report.outcomes[0]);
    };
    assert_eq!(
        first.experiment_name,
        "root_m12_HardConstraintViolationCheck_20260116_123456"
    );
    assert_eq!(
        first.experiment_url,
        format!(
            "{}/app/sim-org/p/Keyword-Classification-Pipeline/experiments/root_m12_HardConstraintViolationCheck_20260116_123456",
            server.url()
        )
    );
    assert_eq!((first.rows, first.requests, first.renamed), (12, 1, false));

    let saved = registry.load().unwrap();
    for entry in [&m12, &m01] {
        let e = saved.get(&entry.local_id).unwrap();
        assert_eq!(e.status, Status::Uploaded);
        assert!(braintrust::looks_like_uuid(
            e.braintrust_id.as_deref().unwrap()
        ));
        assert!(e.uploaded_at.is_some());
    }

    // What Braintrust holds: one row per results row, under deterministic ids.
    let rows = client.fetch_rows(&first.experiment_id).await.unwrap();
    let ids: BTreeSet<String> = rows
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    let wanted: BTreeSet<String> = fixture_rows("m12_results.csv")
        .iter()
        .map(|r| event_id(&m12.local_id, &r.record_id))
        .collect();
    assert_eq!(ids, wanted);
    let errored: Vec<_> = rows.iter().filter(|r| r.get("error").is_some()).collect();
    assert_eq!(errored.len(), 3);
    assert!(errored.iter().all(|r| r.get("scores").is_none()));
    assert!(
        errored
            .iter()
            .all(|r| r["metadata"]["error_kind"] == "invalid_json")
    );
    assert!(rows.iter().filter(|r| r.get("error").is_none()).all(|r| {
        let s = &r["scores"];
        (s["correct"] == 0 || s["correct"] == 1) && s["too_big"] == 1.0
    }));

    // The list module's extra scores arrive, within [0, 1].
    let RunOutcome::Uploaded(second) = &report.outcomes[1] else {
        panic!()
    };
    let m01_rows = client.fetch_rows(&second.experiment_id).await.unwrap();
    let lengths: BTreeSet<String> = m01_rows
        .iter()
        .filter_map(|r| r["scores"]["length"].as_f64())
        .map(|x| format!("{x:.1}"))
        .collect();
    let wanted: BTreeSet<String> = fixture_rows("m01_results.csv")
        .iter()
        .filter(|r| r.correct.is_some())
        .map(|r| r.output["brand_entities"].as_array().unwrap().len() as f64 / 10.0)
        .map(|x| format!("{:.1}", x.min(1.0)))
        .collect();
    assert!(wanted.len() > 1, "{wanted:?}");
    assert_eq!(lengths, wanted);

    // Running it again uploads nothing and sends nothing.
    let inserts = stored(&server).await["inserts"]["requests"].clone();
    let again = uploader.sync(None, None).await.unwrap();
    assert_eq!((again.pending, again.outcomes.len()), (0, 0));
    assert_eq!(stored(&server).await["inserts"]["requests"], inserts);
    assert_eq!(rows_by_experiment(&server).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_upload_ends_with_exactly_one_row_per_result_row() {
    // Every insert after the first answers 500: the run stops after its first chunk.
    let server = sim(SimConfig {
        braintrust_insert_fail_after: Some(1),
        ..SimConfig::default()
    });
    let project = support::Project::new();
    let entry = project.register(
        "m12",
        "2026-01-16T09:00:00",
        &many_rows("m12_results.csv", 250),
    );
    let catalog = catalog();
    let registry = project.registry();
    let client = client(&server, 2);
    let uploader = Uploader::new(&client, &registry, &catalog);

    let report = uploader.sync(None, None).await.unwrap();
    let RunOutcome::Failed(failed) = &report.outcomes[0] else {
        panic!("{:?}", report.outcomes)
    };
    assert!(
        failed
            .reason
            .starts_with("stopped after 100 of 250 rows: POST /v1/experiment/")
            && failed.reason.ends_with("/insert: HTTP 500 Internal Server Error: Internal server error (simulated by api-sim) (3 attempts)"),
        "{}",
        failed.reason
    );
    assert!(!failed.fatal);
    let saved = registry.load().unwrap();
    let e = saved.get(&entry.local_id).unwrap();
    assert_eq!(e.status, Status::Failed);
    assert_eq!(e.notes, failed.reason);
    assert!(!e.notes.contains(KEY));
    let name = "root_m12_HardConstraintViolationCheck_20260116_090000".to_owned();
    assert_eq!(rows_by_experiment(&server).await, [(name.clone(), 100)]);

    // The service recovers; the next sync finishes the run in the same experiment.
    json_ok(
        &server,
        "POST",
        "/_sim/braintrust/faults",
        Some(&json!({"insert_error_rate": 0.0, "insert_fail_after": null})),
    )
    .await;
    let report = uploader.sync(None, None).await.unwrap();
    assert_eq!(report.uploaded(), 1, "{:?}", report.outcomes);
    assert_eq!(rows_by_experiment(&server).await, [(name, 250)]);
    let RunOutcome::Uploaded(done) = &report.outcomes[0] else {
        panic!()
    };
    let fetched = client.fetch_all(&done.experiment_id, 64).await.unwrap();
    let ids: BTreeSet<&str> = fetched.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!((fetched.len(), ids.len()), (250, 250));
    let saved = registry.load().unwrap();
    let e = saved.get(&entry.local_id).unwrap();
    assert_eq!((e.status.clone(), e.notes.as_str()), (Status::Uploaded, ""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inserts_that_fail_after_storing_rows_are_retried_without_duplicates() {
    let server = sim(SimConfig {
        braintrust_insert_error_rate: 0.5,
        seed: 6,
        ..SimConfig::default()
    });
    let project = support::Project::new();
    project.register(
        "m12",
        "2026-01-16T09:00:00",
        &many_rows("m12_results.csv", 1000),
    );
    let catalog = catalog();
    let registry = project.registry();
    let progress = recorder();
    let client = client(&server, 12).with_progress(progress.clone() as Arc<dyn Progress>);
    let report = Uploader::new(&client, &registry, &catalog)
        .sync(None, None)
        .await
        .unwrap();
    assert_eq!(report.uploaded(), 1, "{:?}", report.outcomes);
    let inserts = &stored(&server).await["inserts"];
    assert!(inserts["failed"].as_u64().unwrap() > 0, "{inserts}");
    assert!(
        inserts["failed_after_write"].as_u64().unwrap() > 0,
        "{inserts}"
    );
    assert_eq!(
        progress.retries.lock().unwrap().len() as u64,
        inserts["failed"].as_u64().unwrap()
    );
    assert_eq!(
        rows_by_experiment(&server).await,
        [(
            "root_m12_HardConstraintViolationCheck_20260116_090000".to_owned(),
            1000
        )]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_held_by_another_experiment_gets_a_fresh_one_and_keeps_it() {
    let server = sim(SimConfig::default());
    let project = support::Project::new();
    let entry = project.register(
        "m12",
        "2026-01-16T12:34:56",
        &fixture_rows("m12_results.csv"),
    );
    let catalog = catalog();
    let registry = project.registry();
    let client = client(&server, 0);
    // The earlier tool already made an experiment of that name for some other run.
    let bt_project = client.project().await.unwrap();
    let name = "root_m12_HardConstraintViolationCheck_20260116_123456";
    let foreign = json_ok(
        &server,
        "POST",
        "/v1/experiment",
        Some(&json!({"project_id": bt_project.id, "name": name, "metadata": {"module": "m12"}})),
    )
    .await;

    let uploader = Uploader::new(&client, &registry, &catalog);
    let RunOutcome::Uploaded(first) = uploader.upload(&entry.local_id, false).await.unwrap() else {
        panic!()
    };
    assert!(first.renamed);
    assert_eq!(first.experiment_name, format!("{name}-1"));
    assert_ne!(first.experiment_id, foreign["id"]);

    // Uploaded runs are refused without --force, and the key never shows.
    let err = uploader.upload(&entry.local_id, false).await.unwrap_err();
    assert!(matches!(err, Error::AlreadyUploaded { .. }), "{err}");
    // A forced re-upload finds its own experiment again instead of making a third.
    let RunOutcome::Uploaded(again) = uploader.upload(&entry.local_id, true).await.unwrap() else {
        panic!()
    };
    assert_eq!(again.experiment_id, first.experiment_id);
    let rows = rows_by_experiment(&server).await;
    assert_eq!(rows.len(), 2);
    assert!(rows.contains(&(format!("{name}-1"), 12)));
    assert!(rows.contains(&(name.to_owned(), 0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_compared_with_the_previous_upload_of_its_module() {
    let server = sim(SimConfig::default());
    let project = support::Project::new();
    let rows = fixture_rows("m12_results.csv");
    let old = project.register("m12", "2026-01-16T08:00:00", &rows);
    project.register(
        "m01",
        "2026-01-16T08:30:00",
        &fixture_rows("m01_results.csv"),
    );
    let new = project.register("m12", "2026-01-16T09:00:00", &rows);
    let catalog = catalog();
    let registry = project.registry();
    let client = client(&server, 0);
    let report = Uploader::new(&client, &registry, &catalog)
        .sync(None, None)
        .await
        .unwrap();
    assert_eq!(report.uploaded(), 3);
    let saved = registry.load().unwrap();
    let id = |local: &str| saved.get(local).unwrap().braintrust_id.clone().unwrap();
    let newest = client.experiment(&id(&new.local_id)).await.unwrap();
    assert_eq!(newest.base_exp_id, Some(id(&old.local_id)));
    let oldest = client.experiment(&id(&old.local_id)).await.unwrap();
    assert_eq!(oldest.base_exp_id, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_of_one_module_with_a_limit_leaves_the_rest() {
    let server = sim(SimConfig::default());
    let project = support::Project::new();
    let rows = fixture_rows("m12_results.csv");
    for at in [
        "2026-01-16T08:00:00",
        "2026-01-16T09:00:00",
        "2026-01-16T10:00:00",
    ] {
        project.register("m12", at, &rows);
    }
    project.register(
        "m01",
        "2026-01-16T07:00:00",
        &fixture_rows("m01_results.csv"),
    );
    let catalog = catalog();
    let registry = project.registry();
    let client = client(&server, 0);
    let m12 = core_config::ModuleId::parse("m12").unwrap();
    let report = Uploader::new(&client, &registry, &catalog)
        .sync(Some(&m12), Some(2))
        .await
        .unwrap();
    assert_eq!(
        (report.pending, report.uploaded(), report.not_tried),
        (3, 2, 1)
    );
    let names: Vec<String> = rows_by_experiment(&server)
        .await
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(
        names,
        [
            "root_m12_HardConstraintViolationCheck_20260116_080000",
            "root_m12_HardConstraintViolationCheck_20260116_090000"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_csv_fails_the_run_and_the_sync_goes_on() {
    let server = sim(SimConfig::default());
    let project = support::Project::new();
    let gone = project.register(
        "m12",
        "2026-01-16T08:00:00",
        &fixture_rows("m12_results.csv"),
    );
    project.register(
        "m12",
        "2026-01-16T09:00:00",
        &fixture_rows("m12_results.csv"),
    );
    std::fs::remove_file(project.registry().resolve_csv(&gone).unwrap()).unwrap();
    let catalog = catalog();
    let registry = project.registry();
    let client = client(&server, 0);
    let report = Uploader::new(&client, &registry, &catalog)
        .sync(None, None)
        .await
        .unwrap();
    assert_eq!((report.uploaded(), report.failed()), (1, 1));
    let RunOutcome::Failed(f) = &report.outcomes[0] else {
        panic!()
    };
    assert!(
        f.reason
            .starts_with(&format!("run `{}`: results CSV ", gone.local_id))
            && f.reason.ends_with(" is missing"),
        "{}",
        f.reason
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_key_stops_the_sync_and_is_never_retried() {
    let server = sim(SimConfig {
        braintrust_api_key: Some("the-right-key".into()),
        ..SimConfig::default()
    });
    let project = support::Project::new();
    project.register(
        "m12",
        "2026-01-16T08:00:00",
        &fixture_rows("m12_results.csv"),
    );
    let catalog = catalog();
    let registry = project.registry();
    let client = client(&server, 4);
    let err = Uploader::new(&client, &registry, &catalog)
        .sync(None, None)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert!(err.is_fatal());
    let text = err.to_string();
    assert_eq!(
        text,
        "POST /v1/project: HTTP 401 Unauthorized: Invalid API key (1 attempt)"
    );
    assert!(!text.contains(KEY));
    assert_eq!(server.stats().count("POST /v1/project", 401), 1);
    // Nothing was marked: the run did not fail, the key did.
    assert_eq!(
        registry.load().unwrap().entries().next().unwrap().status,
        Status::LocalOnly
    );
    let (status, _) = raw(&server, "GET", "/v1/project", None, None).await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_not_retried_and_nothing_is_stored() {
    let server = sim(SimConfig::default());
    let client = client(&server, 4);
    let project = client.project().await.unwrap();
    let experiment = client
        .create_experiment(&braintrust::NewExperiment {
            project_id: project.id,
            name: "scores".into(),
            description: None,
            metadata: serde_json::Map::new(),
            repo_info: None,
            base_exp_id: None,
            dataset_id: None,
            tags: Vec::new(),
            ensure_new: false,
        })
        .await
        .unwrap();
    let events = [
        json!({"id": "a", "scores": {"correct": 1}}),
        json!({"id": "b", "scores": {"correct": 1.5}}),
    ];
    let err = client.insert(&experiment.id, &events).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "POST /v1/experiment/{}/insert: HTTP 400 Bad Request: events[1].scores.correct: 1.5 is outside [0, 1]; normalise scores before logging them (1 attempt)",
            experiment.id
        )
    );
    assert_eq!(
        server
            .stats()
            .count("POST /v1/experiment/{experiment_id}/insert", 400),
        1
    );
    assert_eq!(
        rows_by_experiment(&server).await,
        [("scores".to_owned(), 0)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_sets_the_wait_and_network_errors_are_retried() {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    // A server that asks to wait once, then answers.
    let calls = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let seen = Arc::clone(&calls);
    let app = axum::Router::new().route(
        "/v1/project",
        axum::routing::post(move || {
            let seen = Arc::clone(&seen);
            async move {
                if seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    (
                        StatusCode::TOO_MANY_REQUESTS,
                        [("retry-after", "0.05")],
                        "slow down",
                    )
                        .into_response()
                } else {
                    axum::Json(json!({"id": "p", "name": "Keyword-Classification-Pipeline"}))
                        .into_response()
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let progress = recorder();
    let client = Client::new(support::config(&format!("http://{addr}"), 3))
        .unwrap()
        .with_progress(progress.clone() as Arc<dyn Progress>);
    let project = client.project().await.unwrap();
    assert_eq!(project.id, "p");
    assert_eq!(
        *progress.retries.lock().unwrap(),
        [("HTTP 429".to_owned(), Duration::from_millis(50))]
    );

    // Nobody listens on a port just released: connection errors are retried, then reported.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let progress = recorder();
    let client = Client::new(support::config(&format!("http://127.0.0.1:{port}"), 2))
        .unwrap()
        .with_progress(progress.clone() as Arc<dyn Progress>);
    let err = client.project().await.unwrap_err();
    assert!(matches!(err, Error::Network { attempts: 3, .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("POST /v1/project: cannot connect"),
        "{err}"
    );
    assert_eq!(progress.retries.lock().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_run_downloads_back_to_the_same_rows() {
    let server = sim(SimConfig::default());
    let project = support::Project::new();
    let rows = fixture_rows("m12_results.csv");
    let entry = project.register("m12", "2026-01-16T12:34:56", &rows);
    let catalog = catalog();
    let registry = project.registry();
    let client = client(&server, 0);
    let uploader = Uploader::new(&client, &registry, &catalog);
    uploader.sync(None, None).await.unwrap();

    let bt_project = client.project().await.unwrap();
    let saved = registry.load().unwrap();
    let experiment =
        braintrust::download::resolve_experiment(&client, &bt_project, &saved, &entry.local_id)
            .await
            .unwrap();
    let by_name = braintrust::download::resolve_experiment(
        &client,
        &bt_project,
        &saved,
        "root_m12_HardConstraintViolationCheck_20260116_123456",
    )
    .await
    .unwrap();
    assert_eq!(by_name.id, experiment.id);
    let events = client.fetch_all(&experiment.id, 5).await.unwrap();
    assert_eq!(
        braintrust::download::module_of(&experiment, &events).map(|m| m.to_string()),
        Some("m12".to_owned())
    );
    let back = braintrust::download::rows_from_events(events);
    assert_eq!(back.len(), rows.len());
    for (a, b) in rows.iter().zip(&back) {
        assert_eq!(a.record_id, b.record_id);
        assert_eq!(a.input, b.input);
        assert_eq!(a.output, b.output);
        assert_eq!(a.expected, b.expected);
        assert_eq!(a.correct, b.correct);
        assert_eq!(a.error, b.error);
        assert_eq!(
            (&a.asin, &a.keyword, &a.brand),
            (&b.asin, &b.keyword, &b.brand)
        );
        assert_eq!(a.reasoning, b.reasoning);
        assert_eq!(a.metrics["total_tokens"], b.metrics["total_tokens"]);
    }

    let err = braintrust::download::resolve_experiment(
        &client,
        &bt_project,
        &saved,
        "root_m12_HardConstraintViolationCheck_20260116_123457",
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no Braintrust experiment `root_m12_HardConstraintViolationCheck_20260116_123457` in project `Keyword-Classification-Pipeline` (did you mean `root_m12_HardConstraintViolationCheck_20260116_123456`?)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_upload_removes_the_rows_the_csv_no_longer_has() {
    let server = sim(SimConfig::default());
    let project = support::Project::new();
    let rows = support::many_rows("m12_results.csv", 30);
    let entry = project.register("m12", "2026-01-16T12:34:56", &rows);
    let catalog = catalog();
    let registry = project.registry();
    let client = client(&server, 0);
    let uploader = Uploader::new(&client, &registry, &catalog);
    let RunOutcome::Uploaded(first) = uploader.upload(&entry.local_id, false).await.unwrap() else {
        panic!()
    };
    assert_eq!(first.removed, 0);
    assert_eq!(
        client.fetch_rows(&first.experiment_id).await.unwrap().len(),
        30
    );

    // The CSV loses every third row: a forced upload makes the experiment hold exactly what
    // the CSV holds.
    let kept: Vec<ResultRow> = rows
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 != 0)
        .map(|(_, r)| r.clone())
        .collect();
    let csv = registry.resolve_csv(&entry).unwrap();
    let module = catalog.resolve("m12").unwrap();
    core_config::results::write_results(&csv, module, &kept).unwrap();

    let RunOutcome::Uploaded(again) = uploader.upload(&entry.local_id, true).await.unwrap() else {
        panic!()
    };
    assert_eq!(again.experiment_id, first.experiment_id);
    assert_eq!((again.rows, again.removed), (20, 10));
    let events = client.fetch_rows(&again.experiment_id).await.unwrap();
    let back = braintrust::download::rows_from_events(events);
    let ids = |rows: &[ResultRow]| {
        let mut ids: Vec<String> = rows.iter().map(|r| r.record_id.clone()).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&back), ids(&kept));

    // Nothing to remove the next time.
    let RunOutcome::Uploaded(third) = uploader.upload(&entry.local_id, true).await.unwrap() else {
        panic!()
    };
    assert_eq!(third.removed, 0);
    assert_eq!(
        client.fetch_rows(&third.experiment_id).await.unwrap().len(),
        20
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_runs_are_uploaded_marked_as_batch_runs() {
    let server = sim(SimConfig::default());
    let project = support::Project::new();
    let live = project.register(
        "m12",
        "2026-01-16T08:00:00",
        &fixture_rows("m12_results.csv"),
    );
    let batch = project.register(
        "m12",
        "2026-01-16T09:00:00",
        &fixture_rows("m12_results.csv"),
    );
    let registry = project.registry();
    registry
        .update(|r| {
            r.get_mut(&batch.local_id).unwrap().tier = registry::Tier::Batch;
            Ok::<_, registry::Error>(())
        })
        .unwrap();
    let catalog = catalog();
    let client = client(&server, 0);
    let report = Uploader::new(&client, &registry, &catalog)
        .sync(None, None)
        .await
        .unwrap();
    assert_eq!(report.uploaded(), 2, "{:?}", report.outcomes);
    let saved = registry.load().unwrap();
    for (entry, tier) in [(&live, "live"), (&batch, "batch")] {
        let saved = saved.get(&entry.local_id).unwrap();
        assert_eq!(saved.tier.as_str(), tier);
        let experiment = support::json_ok(
            &server,
            "GET",
            &format!("/v1/experiment/{}", saved.braintrust_id.as_deref().unwrap()),
            None,
        )
        .await;
        assert_eq!(experiment["metadata"]["tier"], tier);
        let tags: Vec<&str> = experiment["tags"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(serde_json::Value::as_str)
            .collect();
        assert_eq!(tags.contains(&"batch"), tier == "batch", "{tags:?}");
    }
}
