//! Rate limits, server errors, invalid JSON and quota exhaustion, end to end.

use std::sync::Mutex;
use std::time::Duration;

use api_sim::SimConfig;
use llm_client::{
    CallOptions, ChatRequest, Error, FailureKind, Message, Outcome, Reporter, ResponseFormat,
    WaitReason,
};

use crate::support::{client_builder, request, run_all, sim};

const CHAT: &str = "POST /v1/chat/completions";

#[derive(Default)]
struct Recorder {
    retries: Mutex<Vec<String>>,
    waits: Mutex<Vec<(Duration, WaitReason)>>,
    concurrency: Mutex<Vec<(usize, usize)>>,
}

impl Reporter for Recorder {
    fn retrying(&self, event: &llm_client::RetryEvent<'_>) {
        self.retries.lock().unwrap().push(event.reason.clone());
    }
    fn waiting(&self, wait: Duration, reason: WaitReason) {
        self.waits.lock().unwrap().push((wait, reason));
    }
    fn concurrency_changed(&self, from: usize, to: usize, _reason: &'static str) {
        self.concurrency.lock().unwrap().push((from, to));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_storm_ends_with_every_request_answered() {
    // Demand: 16 in flight at 20 ms each = 800 requests/s. Limit: a tenth of that.
    let server = sim(SimConfig {
        latency: Duration::from_millis(20),
        rpm: Some(80 * 60),
        ..SimConfig::default()
    });
    let recorder = std::sync::Arc::new(Recorder::default());
    let client = client_builder(&server, 16)
        .reporter(recorder.clone())
        .build()
        .unwrap();
    let n = 160;
    let results = run_all(
        &client,
        (0..n).map(request).collect(),
        CallOptions::default(),
    )
    .await;

    let failures: Vec<String> = results
        .iter()
        .filter_map(|r| r.as_ref().err().map(ToString::to_string))
        .collect();
    assert!(failures.is_empty(), "{failures:?}");
    assert!(
        results
            .iter()
            .all(|r| matches!(r.as_ref().unwrap().outcome, Outcome::Json(_)))
    );
    let stats = server.stats();
    assert_eq!(stats.count(CHAT, 200), n as u64);
    let limited = stats.count(CHAT, 429);
    // The client learns the limit from the headers and paces itself: a few 429s at the start,
    // not one per request.
    assert!(
        limited <= n as u64 / 4,
        "{limited} rate-limited answers for {n} requests"
    );
    assert!(!recorder.waits.lock().unwrap().is_empty() || limited == 0);
    let totals = client.totals();
    assert_eq!(totals.failures, 0);
    assert_eq!(totals.calls, n as u64);
    assert_eq!(totals.http_requests, n as u64 + limited);
}

/// A cold start with far more demand than the limit allows: 64 in flight at 20 ms against a
/// limit of about 50 requests a second with 1 s bursts. The probe wave and the buckets sized
/// from the first answer's headers keep 429s to at most 1% of the requests sent.
async fn cold_start_429_share(config: SimConfig, n: usize) -> (u64, u64) {
    let server = sim(SimConfig {
        latency: Duration::from_millis(20),
        ..config
    });
    let client = client_builder(&server, 64).build().unwrap();
    let results = run_all(
        &client,
        (0..n).map(request).collect(),
        CallOptions::default(),
    )
    .await;
    assert!(results.iter().all(Result::is_ok));
    let stats = server.stats();
    assert_eq!(stats.count(CHAT, 200), n as u64);
    (stats.count(CHAT, 429), stats.total(CHAT))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_start_under_a_request_limit_gets_almost_no_429s() {
    let config = SimConfig {
        rpm: Some(3000),
        ..SimConfig::default()
    };
    let (limited, sent) = cold_start_429_share(config, 200).await;
    assert!(
        limited * 100 <= sent,
        "{limited} of {sent} requests were answered 429"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_start_under_a_token_limit_gets_almost_no_429s() {
    // Each request is charged about 280 tokens (prompt characters ÷ 4 plus the 256 cap).
    let config = SimConfig {
        tpm: Some(840_000),
        ..SimConfig::default()
    };
    let (limited, sent) = cold_start_429_share(config, 200).await;
    assert!(
        limited * 100 <= sent,
        "{limited} of {sent} requests were answered 429"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_and_invalid_json_is_reported_per_row() {
    let server = sim(SimConfig {
        error_rate: 0.05,
        invalid_json_rate: 0.05,
        seed: 7,
        ..SimConfig::default()
    });
    let recorder = std::sync::Arc::new(Recorder::default());
    let client = client_builder(&server, 8)
        .reporter(recorder.clone())
        .build()
        .unwrap();
    let n = 300;
    let results = run_all(
        &client,
        (0..n).map(request).collect(),
        CallOptions::default(),
    )
    .await;
    assert_eq!(results.len(), n, "no row is lost");
    let mut invalid = 0;
    for result in &results {
        let response = result
            .as_ref()
            .expect("500s are retried until they succeed");
        match &response.outcome {
            Outcome::Json(_) => {}
            Outcome::InvalidJson { error } => {
                invalid += 1;
                let content = response.content.as_deref().expect("raw content is kept");
                assert!(serde_json::from_str::<serde_json::Value>(content).is_err());
                assert!(!error.is_empty());
            }
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    let stats = server.stats();
    let server_errors = stats.count(CHAT, 500);
    assert!(
        server_errors > 0,
        "the fault rate produced no 500s: {stats:?}"
    );
    assert_eq!(
        invalid,
        stats.fault("invalid_json"),
        "every broken answer is reported"
    );
    assert!(invalid > 0);
    assert_eq!(
        recorder
            .retries
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.starts_with("HTTP 500"))
            .count() as u64,
        server_errors
    );

    // Asking again on invalid JSON recovers those rows.
    server.reset_stats();
    let options = CallOptions {
        invalid_retries: 5,
        cache: llm_client::CacheMode::Off,
        ..CallOptions::default()
    };
    let results = run_all(&client, (0..n).map(request).collect(), options).await;
    let still_invalid = results
        .iter()
        .filter(|r| r.as_ref().unwrap().outcome.kind() == "invalid_json")
        .count();
    assert_eq!(still_invalid, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insufficient_quota_stops_the_run_at_once() {
    let server = sim(SimConfig {
        quota_after: Some(5),
        ..SimConfig::default()
    });
    let client = client_builder(&server, 4).build().unwrap();
    // Sequential first, so exactly five succeed.
    for i in 0..5 {
        client
            .chat(&request(i), &CallOptions::default())
            .await
            .unwrap();
    }
    let err = client
        .chat(&request(5), &CallOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(FailureKind::Quota));
    assert!(err.is_fatal());
    assert_eq!(err.attempts(), Some(1), "quota errors are never retried");
    let message = err.to_string();
    assert!(message.contains("HTTP 429 insufficient_quota"), "{message}");
    assert!(message.contains("add credit"), "{message}");
    assert!(!message.contains("DO-NOT-LEAK"), "{message}");

    // Everything after that fails without being sent.
    let results = run_all(
        &client,
        (10..60).map(request).collect(),
        CallOptions::default(),
    )
    .await;
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(Error::Halted { .. })))
    );
    assert_eq!(server.stats().total(CHAT), 6);
    assert!(client.halted().unwrap().contains("insufficient_quota"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quota_failure_mid_run_stops_the_other_calls_too() {
    let server = sim(SimConfig {
        quota_after: Some(10),
        latency: Duration::from_millis(5),
        ..SimConfig::default()
    });
    let concurrency = 4;
    let client = client_builder(&server, concurrency).build().unwrap();
    let results = run_all(
        &client,
        (0..200).map(request).collect(),
        CallOptions::default(),
    )
    .await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 10);
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_ok() || r.as_ref().unwrap_err().is_fatal())
    );
    // Only the calls already in flight when the first quota error came back were sent.
    let sent = server.stats().total(CHAT);
    assert!(sent <= 10 + 2 * concurrency as u64, "{sent} requests sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_down_lowers_the_concurrency() {
    let server = sim(SimConfig {
        slow_down_rate: 0.2,
        seed: 3,
        ..SimConfig::default()
    });
    let recorder = std::sync::Arc::new(Recorder::default());
    let client = client_builder(&server, 16)
        .reporter(recorder.clone())
        .build()
        .unwrap();
    let results = run_all(
        &client,
        (0..60).map(request).collect(),
        CallOptions::default(),
    )
    .await;
    assert!(results.iter().all(Result::is_ok));
    assert!(server.stats().fault("slow_down") > 0);
    assert!(client.concurrency() < 16, "limit {}", client.concurrency());
    let changes = recorder.concurrency.lock().unwrap();
    assert!(changes.iter().any(|(from, to)| to < from), "{changes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcomes_are_told_apart_end_to_end() {
    let server = sim(SimConfig::default());
    let client = client_builder(&server, 4).build().unwrap();
    let ask = |text: &str| {
        ChatRequest::new("gpt-4o-mini", vec![Message::user(text)])
            .response_format(ResponseFormat::JsonSchema(crate::support::schema().into()))
    };
    let options = CallOptions::default();
    let refused = client
        .chat(&ask("[[sim:refuse]] x"), &options)
        .await
        .unwrap();
    assert_eq!(refused.outcome.kind(), "refusal");
    assert!(refused.content.is_none());
    let filtered = client
        .chat(&ask("[[sim:content_filter]] x"), &options)
        .await
        .unwrap();
    assert_eq!(filtered.outcome, Outcome::ContentFilter);
    let truncated = client
        .chat(&ask("cut").max_tokens(3), &options)
        .await
        .unwrap();
    assert_eq!(truncated.outcome, Outcome::Truncated);
    assert_eq!(truncated.content.as_deref().map(str::len), Some(12));
    let no_usage = client
        .chat(&ask("[[sim:no_usage]] x"), &options)
        .await
        .unwrap();
    assert!(no_usage.usage.is_none());
    assert_eq!(no_usage.cost_usd, None, "no usage means unknown cost");
    let ok = client.chat(&ask("fine"), &options).await.unwrap();
    assert_eq!(ok.model, "sim-gpt-4o-mini");
    assert!(ok.cost_usd.unwrap() > 0.0);
    assert!(ok.usage.unwrap().prompt_tokens > 0);

    // A schema the simulator cannot satisfy: valid JSON, wrong shape.
    let picky = core_config::ResponseSchema::from_value(
        serde_json::json!({"name": "picky", "strict": true, "schema": {
            "type": "object", "additionalProperties": false, "required": ["code"],
            "properties": {"code": {"type": "string", "pattern": "^[0-9]{6}$"}}}}),
        "x",
    )
    .unwrap();
    let mismatch = client
        .chat(
            &ChatRequest::new("gpt-4o-mini", vec![Message::user("code?")])
                .response_format(ResponseFormat::JsonSchema(picky.into())),
            &options,
        )
        .await
        .unwrap();
    match &mismatch.outcome {
        Outcome::SchemaMismatch { problems, .. } => {
            assert!(problems[0].starts_with("/code: "), "{problems:?}");
        }
        other => panic!("{other:?}"),
    }

    // JSON mode without the word "json": the client adds it, so the server accepts.
    let json_mode = ChatRequest::new("gpt-4o-mini", vec![Message::user("classify: mug")])
        .response_format(ResponseFormat::JsonObject);
    let answered = client.chat(&json_mode, &options).await.unwrap();
    assert!(matches!(answered.outcome, Outcome::Json(_)));
    let totals = client.totals();
    assert_eq!(totals.unpriced_responses, 1, "the answer without usage");
    assert!(totals.spent_usd > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_errors_fail_fast_with_the_server_message() {
    let server = sim(SimConfig::default());
    let client = client_builder(&server, 2).build().unwrap();
    let empty = ChatRequest::new("gpt-4o-mini", vec![]);
    let err = client
        .chat(&empty, &CallOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(FailureKind::BadRequest));
    assert_eq!(err.attempts(), Some(1));
    let text = err.to_string();
    assert!(
        text.starts_with("POST /chat/completions: HTTP 400 empty_array: Invalid 'messages'"),
        "{text}"
    );
    assert!(!err.is_fatal(), "a bad request does not stop other rows");
    // The next call still goes out.
    assert!(
        client
            .chat(&request(1), &CallOptions::default())
            .await
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_fails_after_bounded_retries() {
    // Port 9 (discard) has no listener on a test machine: the connection is refused.
    let settings = crate::support::settings_for("http://127.0.0.1:9/v1");
    let client = llm_client::Client::builder(settings)
        .retry(llm_client::RetryPolicy {
            max_attempts: 3,
            ..crate::support::quick_retries()
        })
        .build()
        .unwrap();
    let err = client
        .chat(&request(0), &CallOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(FailureKind::Connection));
    assert_eq!(err.attempts(), Some(3));
    assert!(err.to_string().contains("3 attempts in"), "{err}");
}

/// A scripted server: answers 429 five times, then 500 three times, then a completion. Rate
/// limits have their own retry budget, so the three 500s still fit in the server-error budget
/// (six attempts) even though the request is on its ninth attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_retries_do_not_use_up_the_server_error_budget() {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::http::StatusCode;
    use axum::response::IntoResponse;

    static CALLS: AtomicUsize = AtomicUsize::new(0);
    async fn scripted() -> axum::response::Response {
        let n = CALLS.fetch_add(1, Ordering::SeqCst);
        let error = |status: StatusCode, code: &str| {
            let body = serde_json::json!({"error": {"message": code, "type": code, "param": null, "code": code}});
            (status, [("retry-after-ms", "1")], axum::Json(body)).into_response()
        };
        match n {
            0..5 => error(StatusCode::TOO_MANY_REQUESTS, "rate_limit_exceeded"),
            5..8 => error(StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
            _ => axum::Json(serde_json::json!({
                "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "m",
                "choices": [{"index": 0, "finish_reason": "stop", "logprobs": null,
                    "message": {"role": "assistant", "content": "ok", "refusal": null}}]
            }))
            .into_response(),
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route("/v1/chat/completions", axum::routing::post(scripted));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let client =
        llm_client::Client::builder(crate::support::settings_for(&format!("http://{addr}/v1")))
            .retry(crate::support::quick_retries())
            .build()
            .unwrap();
    let request = ChatRequest::new("m", vec![Message::user("hi")]);
    let response = client
        .chat(&request, &CallOptions::default())
        .await
        .unwrap();
    assert_eq!(response.attempts, 9);
    assert_eq!(response.content.as_deref(), Some("ok"));
    assert_eq!(CALLS.load(Ordering::SeqCst), 9);
}
