//! Files and batches through the client against the simulator's batch lifecycle.

use std::collections::BTreeSet;
use std::time::Duration;

use api_sim::SimConfig;
use bytes::Bytes;
use llm_client::{
    Batch, BatchOutputLine, BatchStatus, CallOptions, Client, CreateBatch, batch_input_line,
};
use serde_json::json;

use crate::support::{client_builder, request, sim};

fn jsonl(n: usize) -> (Bytes, Vec<String>) {
    let mut text = String::new();
    let mut ids = Vec::new();
    for i in 0..n {
        let id = format!("exp1-row-{i:04}");
        text.push_str(&batch_input_line(&id, &request(i)).to_string());
        text.push('\n');
        ids.push(id);
    }
    (Bytes::from(text), ids)
}

async fn wait_until_done(client: &Client, id: &str) -> (Batch, Vec<String>) {
    let mut seen = Vec::new();
    for _ in 0..400 {
        let batch = client.batch(id).await.unwrap();
        if seen.last() != Some(&batch.status.as_str().to_owned()) {
            seen.push(batch.status.as_str().to_owned());
        }
        if batch.status.is_terminal() {
            return (batch, seen);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("batch {id} never finished: {seen:?}");
}

async fn lines(client: &Client, file: Option<&str>) -> Vec<BatchOutputLine> {
    let Some(file) = file else {
        return Vec::new();
    };
    let content = client.file_content(file).await.unwrap();
    String::from_utf8(content.to_vec())
        .unwrap()
        .lines()
        .map(|l| BatchOutputLine::parse(l).unwrap())
        .collect()
}

fn create(file: &str, metadata: serde_json::Value) -> CreateBatch {
    let mut create = CreateBatch::chat(file);
    create.metadata = metadata.as_object().cloned();
    create
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_runs_through_its_lifecycle_and_returns_shuffled_answers() {
    let server = sim(SimConfig::default());
    let client = client_builder(&server, 4).build().unwrap();
    let (content, ids) = jsonl(30);
    let file = client
        .upload_file("requests.jsonl", content.clone(), "batch")
        .await
        .unwrap();
    assert_eq!(file.bytes, content.len() as u64);
    assert_eq!(file.purpose, "batch");
    let batch = client
        .create_batch(&create(&file.id, json!({"sim_duration_ms": "1000"})))
        .await
        .unwrap();
    assert_eq!(batch.status, BatchStatus::Validating);
    let (done, seen) = wait_until_done(&client, &batch.id).await;
    assert_eq!(seen.first().map(String::as_str), Some("validating"));
    assert!(seen.contains(&"in_progress".to_owned()), "{seen:?}");
    assert_eq!(done.status, BatchStatus::Completed);
    assert_eq!(done.model.as_deref(), Some("sim-gpt-4o-mini"));
    let counts = done.request_counts.unwrap();
    assert_eq!((counts.total, counts.completed, counts.failed), (30, 30, 0));
    assert!(done.error_file_id.is_none());
    let output = lines(&client, done.output_file_id.as_deref()).await;
    let got: Vec<&str> = output.iter().map(|l| l.custom_id.as_str()).collect();
    assert_ne!(got, ids, "output order must not be input order");
    let got: BTreeSet<&str> = got.into_iter().collect();
    assert_eq!(got, ids.iter().map(String::as_str).collect::<BTreeSet<_>>());
    // Each answer is what the live endpoint gives for the same body.
    let line = output
        .iter()
        .find(|l| l.custom_id == "exp1-row-0003")
        .unwrap();
    let live = client
        .chat(&request(3), &CallOptions::default())
        .await
        .unwrap();
    let body = line.success_body().unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"].as_str(),
        live.content.as_deref()
    );
    let listed = client.list_batches(None, Some(10)).await.unwrap();
    assert_eq!(listed.data[0].id, batch.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_keeps_finished_answers_and_lists_the_rest_as_expired() {
    let server = sim(SimConfig {
        error_rate: 0.1,
        ..SimConfig::default()
    });
    let client = client_builder(&server, 4).build().unwrap();
    let (content, _) = jsonl(40);
    let file = client
        .upload_file("r.jsonl", content, "batch")
        .await
        .unwrap();
    let batch = client
        .create_batch(&create(
            &file.id,
            json!({"sim_duration_ms": "1000", "sim_expire_after_ms": "500"}),
        ))
        .await
        .unwrap();
    let (done, _) = wait_until_done(&client, &batch.id).await;
    assert_eq!(done.status, BatchStatus::Expired);
    assert!(done.expired_at.is_some());
    let counts = done.request_counts.unwrap();
    let output = lines(&client, done.output_file_id.as_deref()).await;
    let errors = lines(&client, done.error_file_id.as_deref()).await;
    assert_eq!(counts.total, 40);
    assert_eq!(counts.completed, output.len() as u64);
    assert_eq!(counts.failed, errors.len() as u64);
    assert_eq!(output.len() + errors.len(), 40);
    assert!(
        !output.is_empty() && output.len() < 40,
        "partial results: {}",
        output.len()
    );
    let expired = errors
        .iter()
        .filter(|l| {
            l.response.is_none()
                && l.error.as_ref().and_then(|e| e.code.as_deref()) == Some("batch_expired")
        })
        .count();
    let http_failed = errors
        .iter()
        .filter(|l| l.response.as_ref().is_some_and(|r| r.status_code == 500))
        .count();
    assert!(expired > 0);
    assert!(http_failed > 0, "the error file holds both shapes");
    assert_eq!(expired + http_failed, errors.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_input_files_fail_validation_with_line_numbers() {
    let server = sim(SimConfig::default());
    let client = client_builder(&server, 4).build().unwrap();
    let good = batch_input_line("a", &request(0)).to_string();
    let mut other_model = batch_input_line("b", &request(1));
    other_model["body"]["model"] = json!("gpt-4o");
    let mut wrong_url = batch_input_line("c", &request(2));
    wrong_url["url"] = json!("/v1/embeddings");
    let text = format!("{good}\n{other_model}\n{wrong_url}\n{good}\n");
    let file = client
        .upload_file("bad.jsonl", Bytes::from(text), "batch")
        .await
        .unwrap();
    let batch = client
        .create_batch(&create(&file.id, json!({"sim_duration_ms": "100"})))
        .await
        .unwrap();
    let (done, _) = wait_until_done(&client, &batch.id).await;
    assert_eq!(done.status, BatchStatus::Failed);
    let errors: Vec<(Option<String>, Option<u64>)> = done
        .errors
        .unwrap()
        .data
        .into_iter()
        .map(|e| (e.code, e.line))
        .collect();
    assert_eq!(
        errors,
        [
            (Some("mismatched_model".to_owned()), Some(2)),
            (Some("mismatched_url".to_owned()), Some(3)),
            (Some("duplicate_custom_id".to_owned()), Some(4)),
        ]
    );
    // Bad requests are refused outright and not retried.
    let err = client
        .create_batch(&CreateBatch {
            completion_window: "1h".to_owned(),
            ..CreateBatch::chat(&file.id)
        })
        .await
        .unwrap_err();
    assert_eq!(err.attempts(), Some(1));
    assert!(err.to_string().contains("completion_window"), "{err}");
    let missing = client.batch("batch_nope").await.unwrap_err();
    assert_eq!(missing.kind(), Some(llm_client::FailureKind::NotFound));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_passes_through_cancelling_and_keeps_partial_results() {
    let server = sim(SimConfig::default());
    let client = client_builder(&server, 4).build().unwrap();
    let (content, _) = jsonl(50);
    let file = client
        .upload_file("r.jsonl", content, "batch")
        .await
        .unwrap();
    let batch = client
        .create_batch(&create(&file.id, json!({"sim_duration_ms": "2000"})))
        .await
        .unwrap();
    // Wait until some lines have run.
    loop {
        let b = client.batch(&batch.id).await.unwrap();
        if b.request_counts.is_some_and(|c| c.completed > 5) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cancelling = client.cancel_batch(&batch.id).await.unwrap();
    assert_eq!(cancelling.status, BatchStatus::Cancelling);
    let (done, _) = wait_until_done(&client, &batch.id).await;
    assert_eq!(done.status, BatchStatus::Cancelled);
    let counts = done.request_counts.unwrap();
    assert!(counts.completed > 5 && counts.completed < 50, "{counts:?}");
    let errors = lines(&client, done.error_file_id.as_deref()).await;
    assert!(
        errors
            .iter()
            .all(|l| l.error.as_ref().and_then(|e| e.code.as_deref()) == Some("batch_cancelled"))
    );
    let again = client.cancel_batch(&batch.id).await.unwrap_err();
    assert!(
        again
            .to_string()
            .contains("Cannot cancel a batch with status 'cancelled'"),
        "{again}"
    );
    assert!(client.delete_file(&file.id).await.unwrap());
    assert!(client.file(&file.id).await.is_err());
}
