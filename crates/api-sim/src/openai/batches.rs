//! `/v1/batches`: input validation like OpenAI's, a lifecycle driven by the clock
//! (validating → in_progress → finalizing → completed, or failed / expired / cancelling →
//! cancelled), shuffled output files, error files holding both error shapes, and request
//! counts that move as the batch runs.
//!
//! A batch's state is worked out from the time whenever it is read, so no background task is
//! needed. Answers are computed when the batch is created.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::chat::{complete, sim_model};
use super::files::FileStore;
use crate::util::{Rng, api_error, error_body, hash64, unix_now};
use crate::{Shared, SimState};

const ENDPOINTS: [&str; 8] = [
    "/v1/responses",
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/completions",
    "/v1/moderations",
    "/v1/images/generations",
    "/v1/images/edits",
    "/v1/videos",
];

/// Validation errors beyond this many are not listed.
const MAX_LISTED_ERRORS: usize = 100;

enum LineResult {
    Answered {
        custom_id: String,
        body: Value,
        usage: (u64, u64),
    },
    Failed {
        custom_id: String,
        status: u16,
        body: Value,
    },
}

impl LineResult {
    fn custom_id(&self) -> &str {
        match self {
            Self::Answered { custom_id, .. } | Self::Failed { custom_id, .. } => custom_id,
        }
    }
}

struct Finished {
    status: &'static str,
    at: i64,
    output_file_id: Option<String>,
    error_file_id: Option<String>,
    completed: u64,
    failed: u64,
    usage: (u64, u64),
}

pub(crate) struct Job {
    id: String,
    endpoint: String,
    input_file_id: String,
    metadata: Option<Value>,
    model: Option<String>,
    created_at: i64,
    started: Instant,
    duration: Duration,
    expire_after: Option<Duration>,
    lines: Result<Vec<LineResult>, Vec<Value>>,
    cancel_requested: Option<Instant>,
    finished: Option<Finished>,
}

#[derive(Default)]
pub(crate) struct BatchStore {
    jobs: BTreeMap<String, Job>,
    order: Vec<String>,
}

/// How a job ended: status, lines run, when, and the (code, message) for lines not run.
type Ending = (
    &'static str,
    usize,
    Instant,
    Option<(&'static str, &'static str)>,
);

impl Job {
    fn at(&self, t: Instant) -> i64 {
        self.created_at + t.saturating_duration_since(self.started).as_secs() as i64
    }

    fn validated_at(&self) -> Instant {
        self.started + self.duration.mul_f64(0.1)
    }

    fn ran_until(&self) -> Instant {
        self.started + self.duration.mul_f64(0.8)
    }

    /// Lines finished by time `t`.
    fn done_by(&self, t: Instant, total: usize) -> usize {
        let start = self.validated_at();
        let end = self.ran_until();
        if t <= start {
            return 0;
        }
        let span = end.saturating_duration_since(start).as_secs_f64();
        if span <= 0.0 {
            return total;
        }
        let share = (t.saturating_duration_since(start).as_secs_f64() / span).min(1.0);
        (share * total as f64).floor() as usize
    }

    /// Moves the job to a terminal state if its time has come, writing its files.
    fn advance(&mut self, now: Instant, files: &mut FileStore, state: &Shared) {
        if self.finished.is_some() {
            return;
        }
        let lines = match &self.lines {
            Err(_) if now >= self.validated_at() => {
                self.finished = Some(Finished {
                    status: "failed",
                    at: self.at(self.validated_at()),
                    output_file_id: None,
                    error_file_id: None,
                    completed: 0,
                    failed: 0,
                    usage: (0, 0),
                });
                return;
            }
            Err(_) => return,
            Ok(lines) => lines,
        };
        let Some((status, cut, at, reason)) = self.ending(now, lines.len()) else {
            return;
        };
        let (output, errors, usage) = self.result_lines(lines, cut, reason);
        let completed = output.len() as u64;
        let failed = errors.len() as u64;
        let output_file_id = self.write_file(files, state, &output, "output");
        let error_file_id = self.write_file(files, state, &errors, "error");
        self.finished = Some(Finished {
            status,
            at: self.at(at),
            output_file_id,
            error_file_id,
            completed,
            failed,
            usage,
        });
    }

    /// How the job ends by `now`, if it has ended: its status, how many lines ran,
    /// when it ended, and the error given to the lines that did not run.
    fn ending(&self, now: Instant, total: usize) -> Option<Ending> {
        let cancel_delay = self.duration.mul_f64(0.1);
        if let Some(asked) = self.cancel_requested {
            if now < asked + cancel_delay {
                return None;
            }
            Some((
                "cancelled",
                self.done_by(asked, total),
                asked + cancel_delay,
                Some((
                    "batch_cancelled",
                    "This request was cancelled before it ran.",
                )),
            ))
        } else if let Some(expire) = self.expire_after
            && expire < self.duration
            && now >= self.started + expire
        {
            let at = self.started + expire;
            Some((
                "expired",
                self.done_by(at, total),
                at,
                Some((
                    "batch_expired",
                    "This request could not be executed before the completion window expired.",
                )),
            ))
        } else if now >= self.started + self.duration {
            Some(("completed", total, self.started + self.duration, None))
        } else {
            None
        }
    }

    /// The output and error file lines (each shuffled) and the summed usage; lines from
    /// `cut` on did not run and get `reason` as their error.
    fn result_lines(
        &self,
        lines: &[LineResult],
        cut: usize,
        reason: Option<(&str, &str)>,
    ) -> (Vec<Value>, Vec<Value>, (u64, u64)) {
        let mut output = Vec::new();
        let mut errors = Vec::new();
        let mut usage = (0, 0);
        let mut rng = Rng::new(hash64(&[self.id.as_bytes()]));
        for (i, line) in lines.iter().enumerate() {
            let request_id = format!("req_sim{:016x}", rng.next_u64());
            let line_id = format!("batch_req_sim{:016x}", rng.next_u64());
            if i >= cut {
                let (code, message) = reason.unwrap_or(("batch_expired", ""));
                errors.push(
                    json!({"id": line_id, "custom_id": line.custom_id(), "response": null,
                    "error": {"code": code, "message": message}}),
                );
                continue;
            }
            match line {
                LineResult::Answered {
                    custom_id,
                    body,
                    usage: (p, c),
                } => {
                    usage.0 += p;
                    usage.1 += c;
                    output.push(json!({"id": line_id, "custom_id": custom_id,
                        "response": {"status_code": 200, "request_id": request_id, "body": body},
                        "error": null}));
                }
                LineResult::Failed {
                    custom_id,
                    status,
                    body,
                } => errors.push(json!({"id": line_id, "custom_id": custom_id,
                    "response": {"status_code": status, "request_id": request_id, "body": body},
                    "error": null})),
            }
        }
        // Output order is not input order at OpenAI either: consumers must join on custom_id.
        for i in (1..output.len()).rev() {
            output.swap(i, rng.below(i + 1));
        }
        for i in (1..errors.len()).rev() {
            errors.swap(i, rng.below(i + 1));
        }
        (output, errors, usage)
    }

    /// Stores `lines` as the job's `kind` ("output" or "error") file; `None` when empty.
    fn write_file(
        &self,
        files: &mut FileStore,
        state: &Shared,
        lines: &[Value],
        kind: &str,
    ) -> Option<String> {
        if lines.is_empty() {
            return None;
        }
        let mut text = String::new();
        for line in lines {
            text.push_str(&line.to_string());
            text.push('\n');
        }
        let id = state.next_id("file-");
        files.insert(
            id.clone(),
            format!("{}_{kind}.jsonl", self.id),
            &format!("batch_{kind}"),
            Bytes::from(text),
            None,
        );
        Some(id)
    }

    fn to_json(&self, now: Instant) -> Value {
        let total = self.lines.as_ref().map_or(0, Vec::len) as u64;
        let mut status = "validating";
        let mut counts = (0u64, 0u64, 0u64);
        let mut stamps: BTreeMap<&str, Value> = BTreeMap::new();
        for key in [
            "in_progress_at",
            "finalizing_at",
            "completed_at",
            "failed_at",
            "expired_at",
            "cancelling_at",
            "cancelled_at",
        ] {
            stamps.insert(key, Value::Null);
        }
        let mut output_file_id = Value::Null;
        let mut error_file_id = Value::Null;
        let mut usage = (0, 0);
        let validated = self.validated_at();
        if self.lines.is_ok() && now >= validated {
            stamps.insert("in_progress_at", json!(self.at(validated)));
        }
        if let Some(asked) = self.cancel_requested {
            stamps.insert("cancelling_at", json!(self.at(asked)));
        }
        if let Some(done) = &self.finished {
            status = done.status;
            counts = (total, done.completed, done.failed);
            usage = done.usage;
            output_file_id = json!(done.output_file_id);
            error_file_id = json!(done.error_file_id);
            match done.status {
                "completed" => {
                    stamps.insert("finalizing_at", json!(self.at(self.ran_until())));
                    stamps.insert("completed_at", json!(done.at));
                }
                "failed" => {
                    stamps.insert("failed_at", json!(done.at));
                }
                "expired" => {
                    stamps.insert("expired_at", json!(done.at));
                }
                _ => {
                    stamps.insert("cancelled_at", json!(done.at));
                }
            }
        } else if let Ok(lines) = &self.lines
            && now >= validated
        {
            let until = self.cancel_requested.map_or(now, |c| c.min(now));
            let done = self.done_by(until, lines.len());
            let failed = lines[..done]
                .iter()
                .filter(|l| matches!(l, LineResult::Failed { .. }))
                .count() as u64;
            counts = (total, done as u64 - failed, failed);
            status = if self.cancel_requested.is_some() {
                "cancelling"
            } else if now >= self.ran_until() {
                stamps.insert("finalizing_at", json!(self.at(self.ran_until())));
                "finalizing"
            } else {
                "in_progress"
            };
        } else if self.cancel_requested.is_some() {
            status = "cancelling";
        }
        let errors = match &self.lines {
            Err(errors) => json!({"object": "list", "data": errors}),
            Ok(_) => Value::Null,
        };
        let mut batch = json!({
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "model": self.model.as_deref().map(sim_model),
            "errors": errors,
            "input_file_id": self.input_file_id,
            "completion_window": "24h",
            "status": status,
            "output_file_id": output_file_id,
            "error_file_id": error_file_id,
            "created_at": self.created_at,
            "expires_at": self.created_at + 24 * 3600,
            "request_counts": {"total": counts.0, "completed": counts.1, "failed": counts.2},
            "usage": {
                "input_tokens": usage.0,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": usage.1,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": usage.0 + usage.1,
            },
            "metadata": self.metadata,
        });
        if let Some(object) = batch.as_object_mut() {
            for (key, value) in stamps {
                object.insert(key.to_owned(), value);
            }
        }
        batch
    }
}

fn line_error(code: &str, message: String, line: usize, param: Option<&str>) -> Value {
    json!({"code": code, "message": message, "param": param, "line": line})
}

/// Checks every line of an input file; on success, answers them.
fn run_lines(
    state: &Shared,
    content: &[u8],
    endpoint: &str,
    seed: u64,
) -> (Result<Vec<LineResult>, Vec<Value>>, Option<String>) {
    let text = String::from_utf8_lossy(content);
    let raw_lines: Vec<&str> = text
        .strip_suffix('\n')
        .unwrap_or(&text)
        .split('\n')
        .collect();
    if let Some(error) = check_file(&state.config, content.len(), &text, raw_lines.len()) {
        return (Err(vec![error]), None);
    }
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    let mut model: Option<String> = None;
    let mut parsed = Vec::with_capacity(raw_lines.len());
    for (i, raw) in raw_lines.iter().enumerate() {
        let line = check_line(raw, i + 1, endpoint, &mut seen, &mut model, &mut errors);
        if let Some(line) = line {
            parsed.push(line);
        }
    }
    if !errors.is_empty() {
        errors.truncate(MAX_LISTED_ERRORS);
        return (Err(errors), model);
    }
    (Ok(answer_lines(state, parsed, seed)), model)
}

/// The whole-file error, if the input file is too large, empty or has too many lines.
fn check_file(
    config: &crate::SimConfig,
    size: usize,
    text: &str,
    line_count: usize,
) -> Option<Value> {
    if size > config.batch_max_bytes {
        return Some(json!({"code": "file_too_large", "message": format!(
            "The input file is {} bytes; a batch input file may hold at most {} bytes.",
            size, config.batch_max_bytes), "param": "input_file_id", "line": null}));
    }
    if text.trim().is_empty() {
        return Some(
            json!({"code": "empty_file", "message": "The input file has no requests.",
            "param": "input_file_id", "line": null}),
        );
    }
    if line_count > config.batch_max_lines {
        return Some(json!({"code": "too_many_requests", "message": format!(
            "The input file has {} requests; a batch may hold at most {}.",
            line_count, config.batch_max_lines), "param": "input_file_id", "line": null}));
    }
    None
}

/// Checks input line `n`, pushing its problems onto `errors`; returns its custom_id and
/// request unless it is not a JSON object or lacks a custom_id. `seen` holds the
/// custom_ids so far and `model` the first model named.
fn check_line(
    raw: &str,
    n: usize,
    endpoint: &str,
    seen: &mut HashSet<String>,
    model: &mut Option<String>,
    errors: &mut Vec<Value>,
) -> Option<(String, Value)> {
    let value: Value = match serde_json::from_str(raw.trim_end_matches('\r')) {
        Ok(Value::Object(o)) => Value::Object(o),
        Ok(_) => {
            errors.push(line_error(
                "invalid_json_line",
                "Each line must be a JSON object.".to_owned(),
                n,
                None,
            ));
            return None;
        }
        Err(e) => {
            errors.push(line_error(
                "invalid_json_line",
                format!("This line is not valid JSON: {e}"),
                n,
                None,
            ));
            return None;
        }
    };
    let custom_id = match value.get("custom_id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => {
            errors.push(line_error(
                "missing_required_parameter",
                "Missing required parameter: 'custom_id'.".to_owned(),
                n,
                Some("custom_id"),
            ));
            return None;
        }
    };
    if !seen.insert(custom_id.clone()) {
        errors.push(line_error("duplicate_custom_id", format!("The custom_id `{custom_id}` appears more than once; custom_id values must be unique within a batch."), n, Some("custom_id")));
    }
    if value.get("method").and_then(Value::as_str) != Some("POST") {
        errors.push(line_error(
            "invalid_method",
            "Only the POST method is supported.".to_owned(),
            n,
            Some("method"),
        ));
    }
    let url = value.get("url").and_then(Value::as_str).unwrap_or_default();
    if url != endpoint {
        errors.push(line_error(
            "mismatched_url",
            format!("The url `{url}` does not match the batch endpoint `{endpoint}`."),
            n,
            Some("url"),
        ));
    }
    let line_model = value.pointer("/body/model").and_then(Value::as_str);
    match (line_model, &*model) {
        (None, _) => errors.push(line_error("missing_required_parameter", "Missing required parameter: 'body.model'.".to_owned(), n, Some("body.model"))),
        (Some(m), None) => *model = Some(m.to_owned()),
        (Some(m), Some(first)) if m != first => errors.push(line_error("mismatched_model", format!("The model `{m}` differs from `{first}` used earlier in the file; a batch must use one model."), n, Some("body.model"))),
        _ => {}
    }
    if value.pointer("/body/stream") == Some(&Value::Bool(true)) {
        errors.push(line_error(
            "invalid_value",
            "Streaming is not supported in batches.".to_owned(),
            n,
            Some("body.stream"),
        ));
    }
    Some((custom_id, value))
}

/// Answers checked lines, failing a share of them with a simulated server error.
fn answer_lines(state: &Shared, parsed: Vec<(String, Value)>, seed: u64) -> Vec<LineResult> {
    let config = &state.config;
    let mut rng = Rng::new(seed);
    let mut results = Vec::with_capacity(parsed.len());
    for (custom_id, value) in parsed {
        let body = value.get("body").cloned().unwrap_or(Value::Null);
        let draw = rng.unit();
        let corrupt = rng.unit() < config.invalid_json_rate;
        if draw < config.error_rate {
            results.push(LineResult::Failed {
                custom_id,
                status: 500,
                body: error_body(
                    "The server had an error while processing your request. (simulated by api-sim)",
                    "server_error",
                    None,
                    None,
                ),
            });
            continue;
        }
        // The answer is seeded by the request's compact JSON, as a chat request's by its body.
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        match complete(state, (&body, &bytes), corrupt) {
            Ok(done) => results.push(LineResult::Answered {
                custom_id,
                body: done.body,
                usage: done.usage,
            }),
            Err((status, body)) => results.push(LineResult::Failed {
                custom_id,
                status: status.as_u16(),
                body,
            }),
        }
    }
    results
}

fn bad(message: &str, param: Option<&str>) -> Response {
    api_error(
        StatusCode::BAD_REQUEST,
        message,
        "invalid_request_error",
        param,
        None,
    )
}

fn millis(metadata: Option<&Value>, key: &str) -> Option<Duration> {
    let text = metadata?.get(key)?.as_str()?;
    text.trim().parse::<u64>().ok().map(Duration::from_millis)
}

pub(crate) async fn create(State(state): State<SimState>, body: Bytes) -> Response {
    let request: Value = match serde_json::from_slice(&body) {
        Ok(Value::Object(o)) => Value::Object(o),
        _ => return bad("The request body must be a JSON object.", None),
    };
    let Some(input_file_id) = request.get("input_file_id").and_then(Value::as_str) else {
        return bad(
            "Missing required parameter: 'input_file_id'.",
            Some("input_file_id"),
        );
    };
    let endpoint = request
        .get("endpoint")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !ENDPOINTS.contains(&endpoint) {
        return bad(
            &format!(
                "Invalid value for 'endpoint': `{endpoint}`. Supported values are: {}.",
                ENDPOINTS.join(", ")
            ),
            Some("endpoint"),
        );
    }
    let window = request
        .get("completion_window")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if window != "24h" {
        return bad(
            &format!(
                "Invalid value for 'completion_window': `{window}`. Supported values are: '24h'."
            ),
            Some("completion_window"),
        );
    }
    let metadata = request.get("metadata").filter(|m| !m.is_null()).cloned();
    if let Some(m) = &metadata
        && m.as_object()
            .is_none_or(|o: &Map<String, Value>| o.len() > 16)
    {
        return bad(
            "'metadata' must be an object of at most 16 string pairs.",
            Some("metadata"),
        );
    }
    let content = {
        let files = state
            .files
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match files.get(input_file_id) {
            None => {
                return api_error(
                    StatusCode::NOT_FOUND,
                    &format!("No such File object: {input_file_id}"),
                    "invalid_request_error",
                    Some("input_file_id"),
                    None,
                );
            }
            Some(file) if file.meta.purpose != "batch" => {
                return bad(
                    &format!(
                        "The file {input_file_id} has purpose `{}`; batch input needs purpose `batch`.",
                        file.meta.purpose
                    ),
                    Some("input_file_id"),
                );
            }
            Some(file) => file.content.clone(),
        }
    };
    let id = state.next_id("batch_");
    let seed = hash64(&[&state.config.seed.to_le_bytes(), id.as_bytes()]);
    let worker = state.clone();
    let endpoint_owned = endpoint.to_owned();
    // Answering a large file takes a while: keep it off the async workers.
    let Ok((lines, model)) =
        tokio::task::spawn_blocking(move || run_lines(&worker, &content, &endpoint_owned, seed))
            .await
    else {
        return api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The batch could not be prepared.",
            "server_error",
            None,
            None,
        );
    };
    let config = &state.config;
    let job = Job {
        id: id.clone(),
        endpoint: endpoint.to_owned(),
        input_file_id: input_file_id.to_owned(),
        duration: millis(metadata.as_ref(), "sim_duration_ms").unwrap_or(config.batch_duration),
        expire_after: millis(metadata.as_ref(), "sim_expire_after_ms")
            .or(config.batch_expire_after),
        metadata,
        model,
        created_at: unix_now(),
        started: Instant::now(),
        lines,
        cancel_requested: None,
        finished: None,
    };
    let view = job.to_json(Instant::now());
    let mut batches = state
        .batches
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    batches.order.push(id.clone());
    batches.jobs.insert(id, job);
    axum::Json(view).into_response()
}

fn with_job(state: &Shared, id: &str, act: impl FnOnce(&mut Job, Instant) -> Response) -> Response {
    let now = Instant::now();
    let mut batches = state
        .batches
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(job) = batches.jobs.get_mut(id) else {
        return api_error(
            StatusCode::NOT_FOUND,
            &format!("No batch found with id '{id}'."),
            "invalid_request_error",
            None,
            None,
        );
    };
    {
        let mut files = state
            .files
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        job.advance(now, &mut files, state);
    }
    act(job, now)
}

pub(crate) async fn retrieve(State(state): State<SimState>, Path(id): Path<String>) -> Response {
    with_job(&state, &id, |job, now| {
        axum::Json(job.to_json(now)).into_response()
    })
}

pub(crate) async fn cancel(State(state): State<SimState>, Path(id): Path<String>) -> Response {
    with_job(&state, &id, |job, now| {
        if let Some(done) = &job.finished {
            return bad(
                &format!("Cannot cancel a batch with status '{}'.", done.status),
                None,
            );
        }
        if job.cancel_requested.is_none() {
            job.cancel_requested = Some(now);
        }
        axum::Json(job.to_json(now)).into_response()
    })
}

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    after: Option<String>,
    limit: Option<usize>,
}

pub(crate) async fn list(State(state): State<SimState>, Query(q): Query<ListQuery>) -> Response {
    let now = Instant::now();
    let mut batches = state
        .batches
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut ids: Vec<String> = batches.order.iter().rev().cloned().collect();
    if let Some(after) = &q.after
        && let Some(at) = ids.iter().position(|id| id == after)
    {
        ids.drain(..=at);
    }
    let limit = q.limit.unwrap_or(20).clamp(1, 100);
    let has_more = ids.len() > limit;
    ids.truncate(limit);
    let mut data = Vec::new();
    for id in &ids {
        if let Some(job) = batches.jobs.get_mut(id) {
            let mut files = state
                .files
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            job.advance(now, &mut files, &state);
            drop(files);
            data.push(job.to_json(now));
        }
    }
    axum::Json(json!({
        "object": "list",
        "data": data,
        "first_id": ids.first(),
        "last_id": ids.last(),
        "has_more": has_more,
    }))
    .into_response()
}
