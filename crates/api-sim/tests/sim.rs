//! The simulator over HTTP: request checks, rate-limit headers, determinism, answer-key mode
//! over the project's real datasets, and the stats endpoint.

use std::path::PathBuf;
use std::time::Duration;

use api_sim::{SimConfig, SimServer};
use core_config::{Catalog, Reading, ResponseSchema, Side, Template};
use serde_json::{Value, json};

use test_support::repo_root;

fn sim(config: SimConfig) -> SimServer {
    api_sim::spawn(config).unwrap()
}

async fn post(server: &SimServer, body: &Value) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/chat/completions", server.base_url()))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.json().await.unwrap())
}

fn content(answer: &Value) -> Value {
    serde_json::from_str(answer["choices"][0]["message"]["content"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn json_mode_needs_the_word_json_and_strict_schemas_must_be_strict() {
    let server = sim(SimConfig::default());
    let (status, _, body) = post(&server, &json!({"model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hello"}], "response_format": {"type": "json_object"}})).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("must contain the word 'json'")
    );
    let (status, _, _) = post(&server, &json!({"model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Reply in JSON"}], "response_format": {"type": "json_object"}})).await;
    assert_eq!(status, 200);
    let (status, _, body) = post(
        &server,
        &json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "open", "strict": true,
            "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}}}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid schema for response_format 'open'"),
        "{body}"
    );
    let (status, _, body) = post(
        &server,
        &json!({"messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["param"].as_str()),
        (400, Some("model"))
    );
    let missing = reqwest::get(format!("{}/v1/nothing", server.url()))
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    let body: Value = missing.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/v1/nothing")
    );
}

#[tokio::test]
async fn rate_limits_come_with_openai_headers() {
    let server = sim(SimConfig {
        rpm: Some(60),
        ..SimConfig::default()
    });
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]});
    let (status, headers, answer) = post(&server, &body).await;
    assert_eq!(status, 200);
    assert_eq!(answer["model"], "sim-gpt-4o-mini");
    let h = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(h("x-ratelimit-limit-requests").as_deref(), Some("60"));
    assert_eq!(h("x-ratelimit-remaining-requests").as_deref(), Some("0"));
    assert_eq!(h("x-ratelimit-reset-requests").as_deref(), Some("1s"));
    let (status, headers, error) = post(&server, &body).await;
    assert_eq!(status, 429);
    assert_eq!(error["error"]["code"], "rate_limit_exceeded");
    let wait_ms: u64 = headers["retry-after-ms"].to_str().unwrap().parse().unwrap();
    assert!((1..=1000).contains(&wait_ms), "{wait_ms}");
    assert_eq!(headers["retry-after"].to_str().unwrap(), "1");
    let stats = server.stats();
    assert_eq!(stats.count("POST /v1/chat/completions", 429), 1);
    assert_eq!(stats.fault("rate_limited"), 1);
}

#[tokio::test]
async fn request_ids_differ_between_simulators() {
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]});
    let (a, b) = (sim(SimConfig::default()), sim(SimConfig::default()));
    let (_, first, _) = post(&a, &body).await;
    let (_, second, _) = post(&b, &body).await;
    assert_ne!(first["x-request-id"], second["x-request-id"]);
    let (_, again, _) = post(&a, &body).await;
    assert_ne!(first["x-request-id"], again["x-request-id"]);
}

#[tokio::test]
async fn rate_limit_messages_count_what_the_bucket_counted() {
    let server = sim(SimConfig {
        rpm: Some(5),
        ..SimConfig::default()
    });
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]});
    assert_eq!(post(&server, &body).await.0, 200);
    let (status, _, error) = post(&server, &body).await;
    assert_eq!(status, 429);
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("Limit 5, Used 1, Requested 1"),
        "{message}"
    );
}

#[tokio::test]
async fn answers_are_a_function_of_the_request_and_fit_every_module_schema() {
    let server = sim(SimConfig::default());
    let catalog = Catalog::load(&repo_root().join("modules.toml")).unwrap();
    for module in catalog.modules() {
        let schema = ResponseSchema::load(&catalog.schema_path(module), &module.slug).unwrap();
        let validator = jsonschema::validator_for(&schema.schema).unwrap();
        let body = json!({"model": "gpt-4o-mini", "temperature": 0,
            "messages": [{"role": "user", "content": format!("Module {}", module.id)}],
            "response_format": schema.response_format()});
        let (status, _, first) = post(&server, &body).await;
        assert_eq!(status, 200, "{}: {first}", module.id);
        let value = content(&first);
        let problems: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(problems.is_empty(), "{}: {problems:?}\n{value}", module.id);
        let (_, _, second) = post(&server, &body).await;
        assert_eq!(first["choices"], second["choices"], "{}", module.id);
        assert_eq!(first["id"], second["id"]);
    }
    let stats: api_sim::StatsSnapshot = reqwest::get(format!("{}/_sim/stats", server.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        stats.count("POST /v1/chat/completions", 200),
        2 * catalog.modules().len() as u64
    );
    assert_eq!(stats.chat_unrecognised, stats.chat_answered);
}

/// Sends the first records of every module whose prompt exists, rendered exactly as a runner
/// would, and checks the answers against the expected labels.
async fn ask_rendered(server: &SimServer, per_module: usize) -> Vec<(String, String, bool)> {
    let catalog = Catalog::load(&repo_root().join("modules.toml")).unwrap();
    let version = catalog.defaults().prompt_version.clone();
    let mut checked = Vec::new();
    for module in catalog.modules() {
        let Ok(text) = std::fs::read_to_string(catalog.prompt_path(module, &version)) else {
            continue;
        };
        let template = Template::parse(text).unwrap();
        let schema = ResponseSchema::load(&catalog.schema_path(module), &module.slug).unwrap();
        let records = core_config::read_records(&catalog.dataset_path(module)).unwrap();
        for record in records.iter().take(per_module) {
            let prompt = template.render(&record.input).unwrap();
            let body = json!({"model": "gpt-4o-mini", "temperature": 0,
                "messages": [{"role": "user", "content": prompt}],
                "response_format": schema.response_format()});
            let (status, _, answer) = post(server, &body).await;
            assert_eq!(status, 200);
            let output = content(&answer);
            if output.get("violates_constraint") == Some(&Value::Bool(false)) {
                assert_eq!(
                    output.get("violated_constraint"),
                    Some(&Value::Null),
                    "{}: no violation, no details",
                    record.id
                );
            }
            let mut all_right = true;
            for field in &module.score {
                let expected = dotted(&Value::Object(record.expected.clone()), &field.expected);
                let got = dotted(&output, &field.output);
                let right = match &field.labels {
                    Some(labels) => {
                        let want = labels.read_json(Side::Expected, expected.as_ref());
                        let have = labels.read_json(Side::Output, got.as_ref());
                        matches!(want, Ok(Reading::Label(_))) && want == have
                    }
                    None => expected.is_none() || expected == got,
                };
                all_right &= right;
            }
            checked.push((module.id.to_string(), record.id.clone(), all_right));
        }
    }
    checked
}

fn dotted(value: &Value, path: &str) -> Option<Value> {
    let mut current = value;
    for part in path.split('.') {
        current = current.get(part)?;
    }
    Some(current.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answer_key_mode_answers_with_the_expected_labels() {
    let server = sim(SimConfig {
        answer_key: Some(repo_root()),
        ..SimConfig::default()
    });
    let checked = ask_rendered(&server, 3).await;
    assert!(
        checked.len() >= 30,
        "too few modules have prompts: {}",
        checked.len()
    );
    let wrong: Vec<_> = checked.iter().filter(|c| !c.2).collect();
    assert!(wrong.is_empty(), "{wrong:?}");
    let stats = server.stats();
    assert_eq!(stats.chat_unrecognised, 0);
    for (module, record, _) in &checked {
        assert_eq!(
            stats.chat_by_record.get(&format!("{module}:{record}")),
            Some(&1)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wrong_rate_is_seeded_per_record() {
    let config = SimConfig {
        answer_key: Some(repo_root()),
        wrong_rate: 0.5,
        seed: 11,
        ..SimConfig::default()
    };
    let first = ask_rendered(&sim(config.clone()), 6).await;
    let again = ask_rendered(&sim(config), 6).await;
    assert_eq!(first, again, "reruns agree on which records are wrong");
    let wrong = first.iter().filter(|c| !c.2).count();
    assert!(
        wrong > first.len() / 5 && wrong < first.len() * 4 / 5,
        "{wrong} of {}",
        first.len()
    );
}

#[tokio::test]
async fn records_are_recognised_from_their_keyword_when_the_prompt_differs() {
    let server = sim(SimConfig {
        answer_key: Some(repo_root()),
        ..SimConfig::default()
    });
    let catalog = Catalog::load(&repo_root().join("modules.toml")).unwrap();
    let module = catalog.resolve("m02").unwrap();
    let schema = ResponseSchema::load(&catalog.schema_path(module), &module.slug).unwrap();
    let record = &core_config::read_records(&catalog.dataset_path(module)).unwrap()[7];
    let keyword = record.input["keyword"].as_str().unwrap();
    let body = json!({"model": "gpt-4o-mini", "messages": [
        {"role": "system", "content": "A rewritten prompt the simulator has never seen."},
        {"role": "user", "content": format!("Keyword: {keyword}\nEntities: …")}],
        "response_format": schema.response_format()});
    let (status, _, _) = post(&server, &body).await;
    assert_eq!(status, 200);
    let stats = server.stats();
    assert_eq!(
        stats.chat_by_record.get(&format!("m02:{}", record.id)),
        Some(&1),
        "{stats:?}"
    );
}

#[tokio::test]
async fn quota_exhaustion_and_latency() {
    let server = sim(SimConfig {
        quota_after: Some(0),
        ..SimConfig::default()
    });
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
    let (status, _, error) = post(&server, &body).await;
    assert_eq!(status, 429);
    assert_eq!(error["error"]["type"], "insufficient_quota");
    assert_eq!(error["error"]["code"], "insufficient_quota");

    let slow = sim(SimConfig {
        latency: Duration::from_millis(150),
        ..SimConfig::default()
    });
    let started = std::time::Instant::now();
    let (status, headers, _) = post(&slow, &body).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(headers["openai-processing-ms"].to_str().unwrap(), "150");
}

#[test]
fn bad_settings_are_refused() {
    let err = api_sim::spawn(SimConfig {
        error_rate: 1.5,
        ..SimConfig::default()
    })
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "error_rate: must be a share within 0..1, not 1.5"
    );
    let err = api_sim::spawn(SimConfig {
        answer_key: Some(PathBuf::from("/nonexistent")),
        ..SimConfig::default()
    })
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("answer key: /nonexistent/modules.toml"),
        "{err}"
    );
}

#[tokio::test]
async fn braintrust_insert_faults_are_counted_in_the_stats() {
    let server = sim(SimConfig {
        braintrust_insert_fail_after: Some(1),
        ..SimConfig::default()
    });
    let http = reqwest::Client::new();
    let call = |path: &str, body: Value| {
        http.post(format!("{}{path}", server.url()))
            .bearer_auth("bt-key")
            .json(&body)
            .send()
    };
    let project: Value = call("/v1/project", json!({"name": "p"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let experiment: Value = call(
        "/v1/experiment",
        json!({"project_id": project["id"], "name": "e"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let insert = format!(
        "/v1/experiment/{}/insert",
        experiment["id"].as_str().unwrap()
    );
    let row = json!({"events": [{"id": "r1", "input": {"keyword": "bottle"}, "scores": {"s": 1}}]});
    assert_eq!(call(&insert, row.clone()).await.unwrap().status(), 200);
    assert_eq!(call(&insert, row).await.unwrap().status(), 500);
    let stats = server.stats();
    assert_eq!(stats.fault("braintrust_insert_failed"), 1);
    assert_eq!(stats.fault("braintrust_insert_failed_after_write"), 0);
    // The stored row reads back whole.
    let fetched: Value = http
        .get(format!(
            "{}/v1/experiment/{}/fetch",
            server.url(),
            experiment["id"].as_str().unwrap()
        ))
        .bearer_auth("bt-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(fetched["events"][0]["input"]["keyword"], "bottle");
    assert_eq!(fetched["events"][0]["id"], "r1");
}

/// With a latency, the answer is made halfway through it; what is answered must not change.
#[tokio::test]
async fn a_latency_changes_when_answers_come_not_what_they_are() {
    let faulty = |latency| SimConfig {
        latency,
        error_rate: 0.2,
        overload_rate: 0.1,
        invalid_json_rate: 0.3,
        ..SimConfig::default()
    };
    let schema = json!({"type": "json_schema", "json_schema": {"name": "verdict", "strict": true,
        "schema": {"type": "object", "additionalProperties": false, "required": ["label", "why"],
            "properties": {"label": {"type": "string", "enum": ["R", "S", "C", "N"]},
                "why": {"type": "string"}}}}});
    let mut answers = Vec::new();
    for latency in [Duration::ZERO, Duration::from_millis(20)] {
        let server = sim(faulty(latency));
        let mut seen = Vec::new();
        for i in 0..24 {
            let body = json!({"model": "m", "messages": [{"role": "user", "content": format!("keyword {i}")}],
                "response_format": schema});
            let (status, _, answer) = post(&server, &body).await;
            seen.push((
                status,
                answer["choices"][0]["message"]["content"].clone(),
                answer["error"]["message"].clone(),
            ));
        }
        let stats = server.stats();
        answers.push((seen, stats.chat_answered, stats.faults));
    }
    assert_eq!(answers[0], answers[1]);
    let (seen, answered, faults) = &answers[0];
    assert!(
        seen.iter().any(|(status, ..)| *status != 200),
        "some faults drawn"
    );
    assert!(faults["invalid_json"] > 0, "{faults:?}");
    assert_eq!(
        *answered,
        seen.iter().filter(|(status, ..)| *status == 200).count() as u64
    );
}

/// A body that is not JSON is answered 400, whether it is caught on arrival (a syntax error) or
/// when the answer is made (a raw control character inside a string, which the arrival check
/// lets through), with and without a latency.
#[tokio::test]
async fn a_body_that_is_not_json_is_answered_400() {
    for latency in [Duration::ZERO, Duration::from_millis(20)] {
        let server = sim(SimConfig {
            latency,
            ..SimConfig::default()
        });
        for body in [
            &b"{\"model\": \"m\", \"messages\": ["[..],
            &b"{\"model\": \"m\x01\", \"messages\": []}"[..],
        ] {
            let response = reqwest::Client::new()
                .post(format!("{}/chat/completions", server.base_url()))
                .header("content-type", "application/json")
                .body(body.to_vec())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 400, "{latency:?}");
            let error: Value = response.json().await.unwrap();
            let message = error["error"]["message"].as_str().unwrap();
            assert!(
                message.starts_with("We could not parse the JSON body of your request: "),
                "{message}"
            );
        }
        assert_eq!(server.stats().chat_answered, 0);
    }
}
