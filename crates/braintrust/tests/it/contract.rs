//! Contract test: every request body the client sends, captured on the wire by a recording
//! proxy in front of the simulator, validates against the Braintrust OpenAPI schemas
//! (`fixtures/specs/braintrust/v1-subset.json`); so does every answer the simulator gives.

use std::path::Path;
use std::sync::{Arc, Mutex};

use api_sim::SimConfig;
use braintrust::datasets::{self, LocalDataset};
use braintrust::prompts::{self, LocalPrompt};
use braintrust::{Client, RepoInfo, Uploader};
use serde_json::{Map, Value, json};

use crate::support::{self, catalog, fixture_rows, json_ok, sim};

fn spec() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/specs/braintrust/v1-subset.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// OpenAPI 3.0's `nullable: true` in JSON Schema terms (the validator speaks 2020-12, where
/// `nullable` means nothing and a null would be refused).
fn nullable_to_json_schema(value: &mut Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(nullable_to_json_schema),
        Value::Object(object) => {
            for child in object.values_mut() {
                nullable_to_json_schema(child);
            }
            if object.remove("nullable") != Some(Value::Bool(true)) {
                return;
            }
            if let Some(reference) = object.remove("$ref") {
                object.insert(
                    "anyOf".to_owned(),
                    json!([{ "$ref": reference }, { "type": "null" }]),
                );
            } else if let Some(Value::String(kind)) = object.get("type").cloned() {
                object.insert("type".to_owned(), json!([kind, "null"]));
                if let Some(Value::Array(options)) = object.get_mut("enum")
                    && !options.contains(&Value::Null)
                {
                    options.push(Value::Null);
                }
            } else if let Some(Value::Array(options)) = object.get_mut("anyOf") {
                options.push(json!({"type": "null"}));
            }
        }
        _ => {}
    }
}

fn validator(spec: &Value, schema: &Value) -> jsonschema::Validator {
    let mut components = spec["components"].clone();
    nullable_to_json_schema(&mut components);
    let mut schema = schema.clone();
    nullable_to_json_schema(&mut schema);
    let mut root = Map::new();
    root.insert("allOf".to_owned(), json!([schema]));
    root.insert("components".to_owned(), components);
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&Value::Object(root))
        .unwrap()
}

fn problems(validator: &jsonschema::Validator, value: &Value) -> Vec<String> {
    validator
        .iter_errors(value)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// One request and its answer, as seen by the proxy.
struct Exchange {
    method: String,
    path: String,
    request: Vec<u8>,
    status: u16,
    response: Vec<u8>,
}

struct Proxy {
    upstream: String,
    http: reqwest::Client,
    log: Mutex<Vec<Exchange>>,
}

async fn forward(
    axum::extract::State(proxy): axum::extract::State<Arc<Proxy>>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let sent = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let target = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
    let mut upstream = proxy
        .http
        .request(parts.method.clone(), format!("{}{target}", proxy.upstream))
        .body(sent.to_vec());
    for name in ["authorization", "content-type"] {
        if let Some(value) = parts.headers.get(name) {
            upstream = upstream.header(name, value);
        }
    }
    let answer = upstream.send().await.unwrap();
    let status = answer.status();
    let content_type = answer.headers().get("content-type").cloned();
    let received = answer.bytes().await.unwrap();
    proxy.log.lock().unwrap().push(Exchange {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        request: sent.to_vec(),
        status: status.as_u16(),
        response: received.to_vec(),
    });
    let mut out = axum::response::Response::new(axum::body::Body::from(received));
    *out.status_mut() = status;
    if let Some(content_type) = content_type {
        out.headers_mut().insert("content-type", content_type);
    }
    out
}

/// The spec path a request path belongs to.
fn template(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["", "v1", "experiment", _id] => "/v1/experiment/{experiment_id}".to_owned(),
        ["", "v1", "experiment", _id, action] => {
            format!("/v1/experiment/{{experiment_id}}/{action}")
        }
        ["", "v1", "dataset", _id] => "/v1/dataset/{dataset_id}".to_owned(),
        ["", "v1", "dataset", _id, action] => format!("/v1/dataset/{{dataset_id}}/{action}"),
        ["", "v1", "prompt", _id] => "/v1/prompt/{prompt_id}".to_owned(),
        _ => path.to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_body_the_client_sends_matches_the_spec() {
    let server = sim(SimConfig::default());
    let proxy = Arc::new(Proxy {
        upstream: server.url(),
        http: reqwest::Client::new(),
        log: Mutex::new(Vec::new()),
    });
    let app = axum::Router::new()
        .fallback(forward)
        .with_state(Arc::clone(&proxy));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    // Everything the toolkit does with Braintrust, through the proxy.
    let project = support::Project::new();
    let m12 = fixture_rows("m12_results.csv");
    project.register("m12", "2026-01-16T08:00:00", &m12);
    let taken = project.register("m12", "2026-01-16T09:00:00", &m12);
    let m01 = project.register(
        "m01",
        "2026-01-16T10:00:00",
        &fixture_rows("m01_results.csv"),
    );
    let direct = support::client(&server, 0);
    let pid = direct.project().await.unwrap().id;
    json_ok(
        &server,
        "POST",
        "/v1/experiment",
        Some(&json!({"project_id": pid, "name": "root_m12_HardConstraintViolationCheck_20260116_090000"})),
    )
    .await;
    let client = Client::new(support::config(&format!("http://{addr}"), 0)).unwrap();
    let registry = project.registry();
    let catalog = catalog();

    // Datasets and prompts first, so the uploads below link to them.
    let paths = core_config::ProjectPaths::new(project.root());
    let golden = LocalDataset::open(&catalog, &paths, "m12", None).unwrap();
    let plan = datasets::plan_push(&client, &golden).await.unwrap();
    datasets::push(&client, &registry, &golden, &plan, false)
        .await
        .unwrap();
    // A smaller file under the same name: the rows it lacks are deleted with prune; then the
    // whole file again.
    let fewer_records = project.root().join("m12_fewer.jsonl");
    let text =
        std::fs::read_to_string(catalog.dataset_path(catalog.resolve("m12").unwrap())).unwrap();
    std::fs::write(
        &fewer_records,
        text.lines().take(150).collect::<Vec<_>>().join("\n"),
    )
    .unwrap();
    let fewer = LocalDataset::open(
        &catalog,
        &paths,
        fewer_records.to_str().unwrap(),
        Some("m12_golden_v1"),
    )
    .unwrap();
    let trimmed = datasets::plan_push(&client, &fewer).await.unwrap();
    assert_eq!(trimmed.stale.len(), 58);
    datasets::push(&client, &registry, &fewer, &trimmed, true)
        .await
        .unwrap();
    let golden_again = datasets::plan_push(&client, &golden).await.unwrap();
    assert!(golden_again.stale.is_empty());
    datasets::push(&client, &registry, &golden, &golden_again, false)
        .await
        .unwrap();
    let (_, found) = datasets::find(&client, "m12_golden_v1").await.unwrap();
    assert_eq!(datasets::pull(&client, &found).await.unwrap().len(), 208);
    datasets::list(&client, &registry).await.unwrap();
    let prompt =
        LocalPrompt::load(&catalog, &paths, catalog.resolve("m12").unwrap(), None).unwrap();
    prompts::push(&client, &registry, &prompt).await.unwrap();
    prompts::push(&client, &registry, &prompt).await.unwrap();
    prompts::list(&client).await.unwrap();
    let repo = RepoInfo {
        commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
        branch: Some("main".into()),
        dirty: Some(true),
        author_name: Some("A. Nnotator".into()),
        commit_time: Some("2026-01-16T08:00:00+00:00".into()),
        ..RepoInfo::default()
    };
    let report = Uploader::new(&client, &registry, &catalog)
        .repo_info(Some(repo.clone()))
        .sync(None, None)
        .await
        .unwrap();
    assert_eq!(report.uploaded(), 3, "{:?}", report.outcomes);
    let saved = registry.load().unwrap();
    let m01_id = saved
        .get(&m01.local_id)
        .unwrap()
        .braintrust_id
        .clone()
        .unwrap();
    client.fetch_all(&m01_id, 2).await.unwrap();
    client.find_project().await.unwrap();
    let bt_project = client.project().await.unwrap();
    braintrust::download::resolve_experiment(&client, &bt_project, &saved, &taken.local_id)
        .await
        .unwrap();
    braintrust::download::resolve_experiment(
        &client,
        &bt_project,
        &saved,
        "root_m01_ExtractOwnBrandEntities_20260116_100000",
    )
    .await
    .unwrap();
    braintrust::matching::match_runs(&client, &registry, &catalog, true)
        .await
        .unwrap();
    // A forced re-upload of a CSV that lost rows deletes them remotely.
    let m01_csv = registry.resolve_csv(&m01).unwrap();
    let fewer = &fixture_rows("m01_results.csv")[1..];
    core_config::results::write_results(&m01_csv, catalog.resolve("m01").unwrap(), fewer).unwrap();
    let forced = Uploader::new(&client, &registry, &catalog)
        .repo_info(Some(repo))
        .upload(&m01.local_id, true)
        .await
        .unwrap();
    assert!(
        matches!(&forced, braintrust::RunOutcome::Uploaded(u) if u.removed == 1),
        "{forced:?}"
    );

    let spec = spec();
    let log = proxy.log.lock().unwrap();
    let mut checked_requests = std::collections::BTreeMap::<String, usize>::new();
    let mut checked_answers = 0;
    for exchange in log.iter() {
        let operation = &spec["paths"][template(&exchange.path)][exchange.method.to_lowercase()];
        assert!(
            operation.is_object(),
            "{} {} is not in the spec subset",
            exchange.method,
            exchange.path
        );
        if !exchange.request.is_empty() {
            let body: Value = serde_json::from_slice(&exchange.request).unwrap();
            let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
            assert!(
                schema.is_object(),
                "{} {} takes no body",
                exchange.method,
                exchange.path
            );
            assert_eq!(
                problems(&validator(&spec, schema), &body),
                Vec::<String>::new(),
                "{} {}: {body}",
                exchange.method,
                exchange.path
            );
            *checked_requests
                .entry(format!("{} {}", exchange.method, template(&exchange.path)))
                .or_default() += 1;
        }
        assert_eq!(
            exchange.status, 200,
            "{} {}",
            exchange.method, exchange.path
        );
        let answer: Value = serde_json::from_slice(&exchange.response).unwrap();
        let schema = &operation["responses"]["200"]["content"]["application/json"]["schema"];
        assert_eq!(
            problems(&validator(&spec, schema), &answer),
            Vec::<String>::new(),
            "answer to {} {}: {answer}",
            exchange.method,
            exchange.path
        );
        checked_answers += 1;
    }
    let kinds: Vec<&str> = checked_requests.keys().map(String::as_str).collect();
    assert_eq!(
        kinds,
        [
            "PATCH /v1/dataset/{dataset_id}",
            "POST /v1/dataset",
            "POST /v1/dataset/{dataset_id}/fetch",
            "POST /v1/dataset/{dataset_id}/insert",
            "POST /v1/experiment",
            "POST /v1/experiment/{experiment_id}/fetch",
            "POST /v1/experiment/{experiment_id}/insert",
            "POST /v1/project",
            "PUT /v1/prompt",
        ]
    );
    assert!(checked_answers > 20, "{checked_answers}");
    let bodies = |path: &str| {
        log.iter()
            .filter(|e| template(&e.path) == path && !e.request.is_empty())
            .map(|e| serde_json::from_slice::<Value>(&e.request).unwrap())
            .collect::<Vec<_>>()
    };
    // The variants worth checking were all sent: a renamed experiment, git state, a baseline,
    // scored and errored rows, and a fetch that followed a cursor.
    let experiments = bodies("/v1/experiment");
    assert!(experiments.iter().any(|b| b["ensure_new"] == true));
    assert!(
        experiments
            .iter()
            .all(|b| b["repo_info"]["branch"] == "main")
    );
    assert!(experiments.iter().any(|b| b["base_exp_id"].is_string()));
    let events: Vec<Value> = bodies("/v1/experiment/{experiment_id}/insert")
        .into_iter()
        .flat_map(|b| b["events"].as_array().unwrap().clone())
        .collect();
    assert!(events.iter().any(|e| e.get("error").is_some()));
    assert!(
        events
            .iter()
            .any(|e| e["_object_delete"] == true && e["id"].is_string()),
        "a delete event was sent (and validated above)"
    );
    assert!(events.iter().any(|e| e["scores"]["correct"] == 0));
    assert!(
        bodies("/v1/experiment/{experiment_id}/fetch")
            .iter()
            .any(|b| b["cursor"].is_string())
    );
    // The m12 runs link to the golden dataset, and the pushes carried their metadata.
    let golden_id = found.id.clone();
    assert!(
        experiments
            .iter()
            .any(|b| b["dataset_id"] == golden_id.as_str()
                && b["metadata"]["dataset"]["name"] == "m12_golden_v1")
    );
    let dataset_events: Vec<Value> = bodies("/v1/dataset/{dataset_id}/insert")
        .into_iter()
        .flat_map(|b| b["events"].as_array().unwrap().clone())
        .collect();
    assert!(dataset_events.iter().any(|e| e["_object_delete"] == true));
    assert!(dataset_events.iter().all(|e| e["id"].is_string()));
    let patches = bodies("/v1/dataset/{dataset_id}");
    assert!(patches.iter().all(|b| {
        b["metadata"]["kind"].is_string()
            && b["metadata"]["module_id"].is_string()
            && b["metadata"]["sha256"]
                .as_str()
                .is_some_and(|h| h.len() == 64)
    }));
    let prompt_bodies = bodies("/v1/prompt");
    assert_eq!(prompt_bodies.len(), 2);
    let pushed = &prompt_bodies[0];
    assert_eq!(pushed["slug"], "m12-check-hard-constraint-v1");
    assert_eq!(pushed["prompt_data"]["template_format"], "mustache");
    assert_eq!(
        pushed["prompt_data"]["options"]["params"]["response_format"]["type"],
        "json_schema"
    );
    assert!(
        pushed["prompt_data"]["prompt"]["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("{{input.keyword}}")
    );
    assert_eq!(pushed["metadata"]["module_id"], "m12");
    assert_eq!(pushed["metadata"]["version"], "v1");
    // The dataset and prompt bodies are checked too: an event in a dataset may not carry a
    // non-object metadata, and a prompt needs a slug.
    let dataset_insert = &spec["paths"]["/v1/dataset/{dataset_id}/insert"]["post"]["requestBody"]["content"]
        ["application/json"]["schema"];
    let v = validator(&spec, dataset_insert);
    assert!(!problems(&v, &json!({"events": [{"metadata": "x"}]})).is_empty());
    let create_prompt =
        &spec["paths"]["/v1/prompt"]["put"]["requestBody"]["content"]["application/json"]["schema"];
    let v = validator(&spec, create_prompt);
    assert!(
        !problems(
            &v,
            &json!({"project_id": "00000000-0000-4000-8000-000000000001", "name": "x"})
        )
        .is_empty()
    );

    // The validator is not a rubber stamp.
    let insert = &spec["paths"]["/v1/experiment/{experiment_id}/insert"]["post"]["requestBody"]["content"]
        ["application/json"]["schema"];
    let v = validator(&spec, insert);
    assert!(!problems(&v, &json!({"events": [{"scores": {"correct": 2}}]})).is_empty());
    assert!(!problems(&v, &json!({"events": [{"metrics": {"tokens": "many"}}]})).is_empty());
    assert!(!problems(&v, &json!({"rows": []})).is_empty());
    assert!(
        problems(
            &v,
            &json!({"events": [{"scores": {"correct": null}, "id": null}]})
        )
        .is_empty()
    );
    let create = &spec["paths"]["/v1/experiment"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"];
    let v = validator(&spec, create);
    assert!(!problems(&v, &json!({"project_id": "not-a-uuid", "name": "x"})).is_empty());
    assert!(!problems(&v, &json!({"name": "x"})).is_empty());
}
