//! The simulator's Braintrust endpoints, spoken to directly: auth, idempotent creation,
//! insert semantics, paging with repeated rows, summaries.

use std::collections::{BTreeMap, BTreeSet};

use api_sim::SimConfig;
use serde_json::{Value, json};

use crate::support::{KEY, client, json_ok, raw, sim, stored};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_health_check_is_open_and_everything_else_wants_a_key() {
    let server = sim(SimConfig::default());
    assert_eq!(
        raw(&server, "GET", "/v1", None, None).await,
        (200, "Hello, World!".to_owned())
    );
    let body = json!({"name": "p"});
    let (status, text) = raw(&server, "POST", "/v1/project", None, Some(&body)).await;
    assert_eq!(
        (status, text.as_str()),
        (401, "Missing `Authorization: Bearer <api key>` header")
    );
    let (status, _) = raw(&server, "POST", "/v1/project", Some(KEY), Some(&body)).await;
    assert_eq!(status, 200);
    let stats = server.stats();
    assert_eq!(stats.count("POST /v1/project", 401), 1);
    assert_eq!(stats.count("POST /v1/project", 200), 1);

    // Faults change while running, one field at a time.
    let set = |body: Value| {
        let server = &server;
        async move { raw(server, "POST", "/_sim/braintrust/faults", None, Some(&body)).await }
    };
    let (status, text) = set(json!({"insert_error_rate": 0.25})).await;
    assert_eq!(status, 200, "{text}");
    let (status, text) = set(json!({"insert_fail_after": 2})).await;
    assert_eq!(
        (status, serde_json::from_str::<Value>(&text).unwrap()),
        (
            200,
            json!({"insert_error_rate": 0.25, "insert_fail_after": 2})
        )
    );
    assert_eq!(set(json!({"insert_error_rate": 2})).await.0, 400);
    assert_eq!(
        set(json!({"fail_everything": true})).await,
        (
            400,
            "faults: unknown field `fail_everything` (insert_error_rate, insert_fail_after)"
                .to_owned()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_and_experiments_are_idempotent_by_name() {
    let server = sim(SimConfig::default());
    let a = json_ok(
        &server,
        "POST",
        "/v1/project",
        Some(&json!({"name": "P one"})),
    )
    .await;
    let b = json_ok(
        &server,
        "POST",
        "/v1/project",
        Some(&json!({"name": "P one", "description": "ignored"})),
    )
    .await;
    assert_eq!(a, b);
    let listed = json_ok(&server, "GET", "/v1/project?project_name=P%20one", None).await;
    assert_eq!(listed["objects"], json!([a]));
    let (status, text) = raw(
        &server,
        "POST",
        "/v1/project",
        Some(KEY),
        Some(&json!({"name": ""})),
    )
    .await;
    assert_eq!((status, text.as_str()), (400, "name: must not be empty"));

    let pid = a["id"].as_str().unwrap();
    let create = |extra: Value| {
        let mut body = json!({"project_id": pid, "name": "exp", "metadata": {"n": 1}});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let first = json_ok(&server, "POST", "/v1/experiment", Some(&create(json!({})))).await;
    assert_eq!(
        (first["name"].as_str(), first["public"].as_bool()),
        (Some("exp"), Some(false))
    );
    let same = json_ok(
        &server,
        "POST",
        "/v1/experiment",
        Some(&create(json!({"metadata": {"n": 2}}))),
    )
    .await;
    assert_eq!(same, first, "an existing experiment comes back unchanged");
    let fresh = json_ok(
        &server,
        "POST",
        "/v1/experiment",
        Some(&create(json!({"ensure_new": true}))),
    )
    .await;
    assert_eq!(fresh["name"], "exp-1");
    assert_ne!(fresh["id"], first["id"]);

    let by_name = json_ok(
        &server,
        "GET",
        &format!("/v1/experiment?project_id={pid}&experiment_name=exp-1"),
        None,
    )
    .await;
    assert_eq!(by_name["objects"], json!([fresh]));
    // Newest first, paged with starting_after.
    let page = json_ok(
        &server,
        "GET",
        &format!("/v1/experiment?project_id={pid}&limit=1"),
        None,
    )
    .await;
    assert_eq!(page["objects"][0]["id"], fresh["id"]);
    let next = json_ok(
        &server,
        "GET",
        &format!(
            "/v1/experiment?project_id={pid}&limit=1&starting_after={}",
            fresh["id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_eq!(next["objects"][0]["id"], first["id"]);
    let one = json_ok(
        &server,
        "GET",
        &format!("/v1/experiment/{}", first["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(one, first);
    let (status, _) = raw(&server, "GET", "/v1/experiment/nope", Some(KEY), None).await;
    assert_eq!(status, 404);
    let (status, text) = raw(
        &server,
        "POST",
        "/v1/experiment",
        Some(KEY),
        Some(&json!({"project_id": "00000000-0000-4000-8000-000000000000", "name": "x"})),
    )
    .await;
    assert_eq!(
        (status, text.as_str()),
        (
            400,
            "project_id: no project with id 00000000-0000-4000-8000-000000000000"
        )
    );
}

async fn experiment(server: &api_sim::SimServer, project: &str, name: &str) -> String {
    let p = json_ok(
        server,
        "POST",
        "/v1/project",
        Some(&json!({"name": project})),
    )
    .await;
    let e = json_ok(
        server,
        "POST",
        "/v1/experiment",
        Some(&json!({"project_id": p["id"], "name": name})),
    )
    .await;
    e["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inserts_replace_merge_and_delete_rows_by_id() {
    let server = sim(SimConfig::default());
    let id = experiment(&server, "Proj", "e").await;
    let insert = |events: Value| {
        let server = &server;
        let path = format!("/v1/experiment/{id}/insert");
        async move { json_ok(server, "POST", &path, Some(&json!({ "events": events }))).await }
    };
    let answer = insert(json!([
        {"id": "a", "input": {"k": 1, "j": 2}, "scores": {"correct": 1}},
        {"id": "b", "input": {"k": 2}, "scores": {"correct": 0}},
        {"input": {"k": 3}},
    ]))
    .await;
    let row_ids = answer["row_ids"].as_array().unwrap();
    assert_eq!(
        (row_ids.len(), &row_ids[0], &row_ids[1]),
        (3, &json!("a"), &json!("b"))
    );
    insert(json!([
        {"id": "a", "input": {"k": 10}},
        {"id": "b", "_is_merge": true, "input": {"j": 5}, "metadata": {"note": "merged"}},
        {"id": row_ids[2], "_object_delete": true},
    ]))
    .await;
    let fetched = json_ok(&server, "GET", &format!("/v1/experiment/{id}/fetch"), None).await;
    let mut current: BTreeMap<String, Value> = BTreeMap::new();
    for e in fetched["events"].as_array().unwrap() {
        current
            .entry(e["id"].as_str().unwrap().to_owned())
            .or_insert_with(|| e.clone());
    }
    assert_eq!(current.len(), 2, "the deleted row is gone");
    assert_eq!(current["a"]["input"], json!({"k": 10}));
    assert!(
        current["a"].get("scores").is_none(),
        "a replaced row loses what it did not resend"
    );
    assert_eq!(current["b"]["input"], json!({"k": 2, "j": 5}));
    assert_eq!(current["b"]["scores"], json!({"correct": 0}));
    assert_eq!(current["b"]["metadata"], json!({"note": "merged"}));
    for field in [
        "_xact_id",
        "created",
        "project_id",
        "experiment_id",
        "span_id",
        "root_span_id",
    ] {
        assert!(current["a"].get(field).is_some(), "{field}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn later_pages_repeat_rows_in_older_versions_and_the_client_keeps_the_newest() {
    let server = sim(SimConfig::default());
    let id = experiment(&server, "Proj", "paging").await;
    let path = format!("/v1/experiment/{id}/insert");
    let rows: Vec<Value> = (0..7)
        .map(|i| json!({"id": format!("r{i}"), "scores": {"correct": 0}, "output": {"v": 1}}))
        .collect();
    json_ok(&server, "POST", &path, Some(&json!({ "events": rows }))).await;
    // Rows r2 and r5 are uploaded again with a new answer.
    json_ok(
        &server,
        "POST",
        &path,
        Some(&json!({"events": [
            {"id": "r2", "scores": {"correct": 1}, "output": {"v": 2}},
            {"id": "r5", "scores": {"correct": 1}, "output": {"v": 2}},
        ]})),
    )
    .await;

    // Raw pages: newest first, later pages repeat earlier rows with older transaction ids.
    let mut raw_events: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut body = json!({"limit": 3});
        if let Some(c) = &cursor {
            body["cursor"] = json!(c);
        }
        let page = json_ok(
            &server,
            "POST",
            &format!("/v1/experiment/{id}/fetch"),
            Some(&body),
        )
        .await;
        let events = page["events"].as_array().unwrap().clone();
        if events.is_empty() {
            assert!(page["cursor"].is_null());
            break;
        }
        pages += 1;
        raw_events.extend(events);
        cursor = page["cursor"].as_str().map(str::to_owned);
    }
    let unique: BTreeSet<&str> = raw_events
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(unique.len(), 7);
    assert!(
        raw_events.len() > 9 + 2,
        "{} events in {pages} pages",
        raw_events.len()
    );
    let r2: Vec<(u128, i64)> = raw_events
        .iter()
        .filter(|e| e["id"] == "r2")
        .map(|e| {
            (
                e["_xact_id"].as_str().unwrap().parse().unwrap(),
                e["output"]["v"].as_i64().unwrap(),
            )
        })
        .collect();
    let newest = r2.iter().max().unwrap();
    assert_eq!(newest.1, 2, "{r2:?}");
    assert!(
        r2.iter().any(|v| v.1 == 1),
        "an older version shows up: {r2:?}"
    );

    let client = client(&server, 0);
    let rows = client.fetch_all(&id, 3).await.unwrap();
    assert_eq!(rows.len(), 7);
    for row in &rows {
        let changed = row["id"] == "r2" || row["id"] == "r5";
        assert_eq!(row["output"]["v"], if changed { 2 } else { 1 }, "{row}");
    }
    // A cursor the server never issued is refused.
    let (status, _) = raw(
        &server,
        "POST",
        &format!("/v1/experiment/{id}/fetch"),
        Some(KEY),
        Some(&json!({"cursor": "not-a-cursor"})),
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summaries_link_to_the_experiment_and_average_the_scores() {
    let server = sim(SimConfig {
        braintrust_app_url: Some("https://app.example/".into()),
        ..SimConfig::default()
    });
    let id = experiment(&server, "Keyword Pipeline", "root m12/x").await;
    json_ok(
        &server,
        "POST",
        &format!("/v1/experiment/{id}/insert"),
        Some(&json!({"events": [
            {"id": "a", "scores": {"correct": 1}, "metrics": {"tokens": 10}},
            {"id": "b", "scores": {"correct": 0, "f1": 0.5}, "metrics": {"tokens": 20}},
        ]})),
    )
    .await;
    let plain = json_ok(
        &server,
        "GET",
        &format!("/v1/experiment/{id}/summarize"),
        None,
    )
    .await;
    assert_eq!(
        plain["experiment_url"],
        "https://app.example/app/sim-org/p/Keyword%20Pipeline/experiments/root%20m12%2Fx"
    );
    assert_eq!(
        plain["project_url"],
        "https://app.example/app/sim-org/p/Keyword%20Pipeline"
    );
    assert!(plain.get("scores").is_none());
    let full = json_ok(
        &server,
        "GET",
        &format!("/v1/experiment/{id}/summarize?summarize_scores=true"),
        None,
    )
    .await;
    assert_eq!(full["scores"]["correct"]["score"], 0.5);
    assert_eq!(full["scores"]["f1"]["score"], 0.5);
    assert_eq!(full["metrics"]["tokens"]["metric"], 15.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datasets_are_idempotent_by_name_and_keep_rows_like_experiments() {
    let server = sim(SimConfig::default());
    let pid = json_ok(&server, "POST", "/v1/project", Some(&json!({"name": "P"}))).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = json_ok(
        &server,
        "POST",
        "/v1/dataset",
        Some(&json!({"project_id": pid, "name": "m12_golden_v1", "metadata": {"kind": "golden"}})),
    )
    .await;
    assert_eq!(first["url_slug"], "m12-golden-v1");
    // Same name: the existing dataset, unchanged (metadata too).
    let again = json_ok(
        &server,
        "POST",
        "/v1/dataset",
        Some(&json!({"project_id": pid, "name": "m12_golden_v1", "metadata": {"kind": "other"}})),
    )
    .await;
    assert_eq!(again, first);
    let id = first["id"].as_str().unwrap();
    let patched = json_ok(
        &server,
        "PATCH",
        &format!("/v1/dataset/{id}"),
        Some(&json!({"metadata": {"kind": "gold"}})),
    )
    .await;
    assert_eq!(patched["metadata"]["kind"], "gold");
    assert_eq!(patched["name"], "m12_golden_v1");

    // Rows: replaced by id, deleted with _object_delete; dataset events carry no output.
    let insert = format!("/v1/dataset/{id}/insert");
    json_ok(
        &server,
        "POST",
        &insert,
        Some(&json!({"events": [
            {"id": "a", "input": {"k": 1}, "expected": {"r": "N"}, "output": "dropped"},
            {"id": "b", "input": {"k": 2}},
        ]})),
    )
    .await;
    json_ok(
        &server,
        "POST",
        &insert,
        Some(&json!({"events": [{"id": "a", "input": {"k": 3}}, {"id": "b", "_object_delete": true}]})),
    )
    .await;
    // Fetch pages over the version history (the older version of `a` comes too); the client
    // keeps each row's newest version.
    let page = json_ok(
        &server,
        "POST",
        &format!("/v1/dataset/{id}/fetch"),
        Some(&json!({})),
    )
    .await;
    assert_eq!(page["events"].as_array().unwrap().len(), 2, "{page}");
    let events = client(&server, 0)
        .fetch_all_of(braintrust::RowStore::Dataset, id, 1)
        .await
        .unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["input"], json!({"k": 3}));
    assert_eq!(events[0]["dataset_id"], id);
    assert!(events[0].get("output").is_none() && events[0].get("experiment_id").is_none());

    let listed = json_ok(
        &server,
        "GET",
        &format!("/v1/dataset?project_id={pid}&dataset_name=m12_golden_v1"),
        None,
    )
    .await;
    assert_eq!(listed["objects"].as_array().unwrap().len(), 1);
    // Deleted: gone from lists and reads; the name can be used again.
    json_ok(&server, "DELETE", &format!("/v1/dataset/{id}"), None).await;
    let (status, _) = raw(
        &server,
        "GET",
        &format!("/v1/dataset/{id}"),
        Some(KEY),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let listed = json_ok(
        &server,
        "GET",
        &format!("/v1/dataset?project_id={pid}"),
        None,
    )
    .await;
    assert_eq!(listed["objects"], json!([]));
    let (status, text) = raw(
        &server,
        "POST",
        "/v1/dataset",
        Some(KEY),
        Some(&json!({"project_id": pid})),
    )
    .await;
    assert_eq!((status, text.as_str()), (400, "name: required string"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompts_are_created_once_and_replaced_by_slug_as_new_versions() {
    let server = sim(SimConfig::default());
    let pid = json_ok(&server, "POST", "/v1/project", Some(&json!({"name": "P"}))).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = |text: &str| {
        json!({"project_id": pid, "name": "m12 v1", "slug": "m12-v1",
            "prompt_data": {"prompt": {"type": "chat", "messages": [{"role": "user", "content": text}]}},
            "metadata": {"version": "v1"}})
    };
    let created = json_ok(&server, "POST", "/v1/prompt", Some(&body("one"))).await;
    assert_eq!(created["log_id"], "p");
    // POST with a slug that exists: the existing prompt, unchanged.
    let same = json_ok(&server, "POST", "/v1/prompt", Some(&body("two"))).await;
    assert_eq!(same, created);
    // PUT replaces it: same id, a newer version.
    let replaced = json_ok(&server, "PUT", "/v1/prompt", Some(&body("three"))).await;
    assert_eq!(replaced["id"], created["id"]);
    assert!(replaced["_xact_id"].as_str() > created["_xact_id"].as_str());
    assert_eq!(
        replaced["prompt_data"]["prompt"]["messages"][0]["content"],
        "three"
    );
    assert_eq!(replaced["metadata"]["version"], "v1");
    let listed = json_ok(
        &server,
        "GET",
        &format!("/v1/prompt?project_id={pid}&slug=m12-v1"),
        None,
    )
    .await;
    assert_eq!(listed["objects"].as_array().unwrap().len(), 1);
    let read = json_ok(
        &server,
        "GET",
        &format!("/v1/prompt/{}", created["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(read, replaced);
    let mut bad = body("x");
    bad["prompt_data"]["prompt"]["messages"][0]["role"] = json!("robot");
    let (status, _) = raw(&server, "PUT", "/v1/prompt", Some(KEY), Some(&bad)).await;
    assert_eq!(status, 400);
    let stored = stored(&server).await;
    assert_eq!(stored["projects"][0]["prompts"][0]["versions"], 2);
}
