//! `POST /v1/chat/completions`: request checks as strict as OpenAI's, fault injection, a real
//! requests-per-minute limit with rate-limit headers, and deterministic answers.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::answer::{Question, Recognised, answer};
use crate::util::{Rng, api_error, error_body, go_duration, hash64, set_header, unix_now};
use crate::{MODEL_PREFIX, Shared, SimState};

/// A token bucket holding a per-minute budget (requests or tokens), enforced over `burst`: at
/// most `burst` worth of the minute's budget may be spent at once.
#[derive(Debug)]
pub(crate) struct Limiter {
    pub(crate) per_minute: u64,
    per_second: f64,
    capacity: f64,
    level: f64,
    at: Instant,
}

impl Limiter {
    pub(crate) fn new(per_minute: u64, burst: Duration) -> Self {
        let per_second = per_minute as f64 / 60.0;
        let capacity = (per_second * burst.as_secs_f64()).max(1.0);
        Self {
            per_minute,
            per_second,
            capacity,
            level: capacity,
            at: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.level = (self.level + elapsed * self.per_second).min(self.capacity);
        self.at = now;
    }

    /// What a request of `amount` costs: a request larger than the whole bucket may still go
    /// once the bucket is full.
    fn cost(&self, amount: f64) -> f64 {
        amount.min(self.capacity)
    }

    /// How long until `amount` is available (`None`: now).
    fn shortfall(&mut self, amount: f64, now: Instant) -> Option<Duration> {
        self.refill(now);
        let cost = self.cost(amount);
        (self.level < cost).then(|| Duration::from_secs_f64((cost - self.level) / self.per_second))
    }

    fn take(&mut self, amount: f64) {
        self.level -= self.cost(amount);
    }

    /// Whole units left (the `x-ratelimit-remaining-*` header).
    fn remaining(&self) -> u64 {
        self.level.max(0.0).floor() as u64
    }

    /// Time until the bucket is full again (the `x-ratelimit-reset-*` header).
    fn reset(&self) -> Duration {
        Duration::from_secs_f64((self.capacity - self.level).max(0.0) / self.per_second)
    }

    /// Units spent within the current burst window, as the bucket counts them.
    fn used(&self) -> u64 {
        (self.capacity - self.level).max(0.0).round() as u64
    }

    /// The burst size in whole units.
    fn burst(&self) -> u64 {
        self.capacity.floor() as u64
    }
}

/// The request and token buckets, checked and charged together so a request refused by one is
/// not charged by the other.
#[derive(Debug, Default)]
pub(crate) struct Limiters {
    pub(crate) requests: Option<Limiter>,
    pub(crate) tokens: Option<Limiter>,
}

/// Which limit refused a request.
struct Refusal {
    what: &'static str,
    unit: &'static str,
    limit: u64,
    used: u64,
    burst: u64,
    requested: u64,
    wait: Duration,
}

impl Limiters {
    /// Admits a request costing `tokens` (or says which limit refused it), and adds the
    /// `x-ratelimit-*` headers either way.
    fn admit(&mut self, tokens: u64, now: Instant, headers: &mut HeaderMap) -> Result<(), Refusal> {
        let mut refusal = None;
        if let Some(l) = self.requests.as_mut()
            && let Some(wait) = l.shortfall(1.0, now)
        {
            refusal = Some(Refusal {
                what: "requests per min (RPM)",
                unit: "requests",
                limit: l.per_minute,
                used: l.used(),
                burst: l.burst(),
                requested: 1,
                wait,
            });
        }
        if let Some(l) = self.tokens.as_mut()
            && let Some(wait) = l.shortfall(tokens as f64, now)
            && refusal.as_ref().is_none_or(|r| r.wait < wait)
        {
            refusal = Some(Refusal {
                what: "tokens per min (TPM)",
                unit: "tokens",
                limit: l.per_minute,
                used: l.used(),
                burst: l.burst(),
                requested: tokens,
                wait,
            });
        }
        if refusal.is_none() {
            if let Some(l) = self.requests.as_mut() {
                l.take(1.0);
            }
            if let Some(l) = self.tokens.as_mut() {
                l.take(tokens as f64);
            }
        }
        for (limiter, kind) in [(&self.requests, "requests"), (&self.tokens, "tokens")] {
            let Some(l) = limiter else { continue };
            let (limit, remaining, reset) = match kind {
                "requests" => (
                    "x-ratelimit-limit-requests",
                    "x-ratelimit-remaining-requests",
                    "x-ratelimit-reset-requests",
                ),
                _ => (
                    "x-ratelimit-limit-tokens",
                    "x-ratelimit-remaining-tokens",
                    "x-ratelimit-reset-tokens",
                ),
            };
            set_header(headers, limit, &l.per_minute.to_string());
            set_header(headers, remaining, &l.remaining().to_string());
            set_header(headers, reset, &go_duration(l.reset()));
        }
        refusal.map_or(Ok(()), Err)
    }
}

/// What the token limit charges for a request, estimated the way OpenAI's limiter does before
/// the answer exists: about four characters of message text per token, plus the completion cap.
fn rate_limit_tokens(request: Option<&Value>) -> u64 {
    let Some(object) = request.and_then(Value::as_object) else {
        return 0;
    };
    let chars: usize = object
        .get("messages")
        .and_then(Value::as_array)
        .map(|m| message_texts(m).iter().map(|t| t.chars().count()).sum())
        .unwrap_or(0);
    let cap = ["max_completion_tokens", "max_tokens"]
        .into_iter()
        .find_map(|k| object.get(k).and_then(Value::as_u64))
        .unwrap_or(0);
    (chars as u64).div_ceil(4) + cap
}

/// The model name the simulator reports for a requested model.
pub(crate) fn sim_model(model: &str) -> String {
    if model.starts_with(MODEL_PREFIX) {
        model.to_owned()
    } else {
        format!("{MODEL_PREFIX}{model}")
    }
}

/// A rejected request: status and OpenAI-shaped error body.
pub(crate) type Rejection = (StatusCode, Value);

fn invalid(message: &str, param: Option<&str>, code: Option<&str>) -> Rejection {
    (
        StatusCode::BAD_REQUEST,
        error_body(message, "invalid_request_error", param, code),
    )
}

fn message_texts(messages: &[Value]) -> Vec<&str> {
    let mut texts = Vec::new();
    for m in messages {
        match m.get("content") {
            Some(Value::String(s)) => texts.push(s.as_str()),
            Some(Value::Array(parts)) => texts.extend(
                parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str)),
            ),
            _ => {}
        }
    }
    texts
}

/// A successful completion and what it was based on.
pub(crate) struct Completed {
    pub(crate) body: Value,
    pub(crate) recognised: Option<Recognised>,
    pub(crate) usage: (u64, u64),
}

/// A checked chat request: its object, model name and messages.
type CheckedRequest<'a> = (&'a Map<String, Value>, &'a str, &'a Vec<Value>);

/// Checks a chat request's object shape, model, messages (and their roles) and stream flag
/// like OpenAI does; returns the object, model name and messages.
fn check_request(request: &Value) -> Result<CheckedRequest<'_>, Rejection> {
    let Some(object) = request.as_object() else {
        return Err(invalid(
            "The request body must be a JSON object.",
            None,
            None,
        ));
    };
    let model = match object.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.as_str(),
        _ => {
            return Err(invalid(
                "you must provide a model parameter",
                Some("model"),
                Some("missing_required_parameter"),
            ));
        }
    };
    let messages = match object.get("messages") {
        Some(Value::Array(m)) if !m.is_empty() => m,
        Some(Value::Array(_)) => {
            return Err(invalid(
                "Invalid 'messages': empty array. Expected an array with minimum length 1.",
                Some("messages"),
                Some("empty_array"),
            ));
        }
        _ => {
            return Err(invalid(
                "Missing required parameter: 'messages'.",
                Some("messages"),
                Some("missing_required_parameter"),
            ));
        }
    };
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
        if !["system", "developer", "user", "assistant", "tool"].contains(&role) {
            return Err(invalid(
                &format!("Invalid value for 'messages[{i}].role': `{role}`."),
                Some(&format!("messages[{i}].role")),
                Some("invalid_value"),
            ));
        }
    }
    if object.get("stream") == Some(&Value::Bool(true)) {
        return Err(invalid(
            "The simulator does not stream; send stream: false.",
            Some("stream"),
            Some("unsupported_value"),
        ));
    }
    Ok((object, model, messages))
}

/// Checks `response_format` (of type `format_type`) against the messages' `texts`; returns
/// the JSON schema's name and schema when one is asked for.
fn check_format<'a>(
    format: Option<&'a Value>,
    format_type: &str,
    texts: &[&str],
) -> Result<(Option<&'a str>, Option<&'a Value>), Rejection> {
    let mut schema_name = None;
    let mut schema = None;
    match format_type {
        "text" => {}
        "json_object" => {
            if !texts
                .iter()
                .any(|t| t.to_ascii_lowercase().contains("json"))
            {
                return Err(invalid(
                    "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
                    Some("messages"),
                    None,
                ));
            }
        }
        "json_schema" => {
            let inner = format.and_then(|f| f.get("json_schema"));
            let Some(name) = inner.and_then(|j| j.get("name")).and_then(Value::as_str) else {
                return Err(invalid(
                    "Missing required parameter: 'response_format.json_schema.name'.",
                    Some("response_format.json_schema.name"),
                    Some("missing_required_parameter"),
                ));
            };
            let parsed = core_config::ResponseSchema::from_value(
                inner.cloned().unwrap_or(Value::Null),
                name,
            )
            .map_err(|m| {
                invalid(
                    &format!("Invalid 'response_format.json_schema': {m}"),
                    Some("response_format.json_schema"),
                    Some("invalid_value"),
                )
            })?;
            if parsed.strict {
                let problems = parsed.strict_problems();
                if let Some(first) = problems.first() {
                    return Err(invalid(
                        &format!(
                            "Invalid schema for response_format '{name}': In context={first}."
                        ),
                        Some("response_format"),
                        Some("invalid_json_schema"),
                    ));
                }
            }
            schema_name = Some(name);
            schema = inner.and_then(|j| j.get("schema"));
        }
        other => {
            return Err(invalid(
                &format!(
                    "Invalid value: '{other}'. Supported values are: 'text', 'json_object' and 'json_schema'."
                ),
                Some("response_format.type"),
                Some("invalid_value"),
            ));
        }
    }
    Ok((schema_name, schema))
}

/// Turns the made answer into the message content: cut in half when `corrupt`, cut to
/// `cap` tokens (finish "length"), and nulled by the refuse / content-filter directives in
/// `joined`. Returns content, refusal, completion tokens and finish reason.
fn shape_content(
    mut content: String,
    corrupt: bool,
    cap: Option<u64>,
    joined: &str,
) -> (Value, Value, u64, &'static str) {
    let mut finish = "stop";
    let mut refusal = Value::Null;
    if corrupt {
        let cut = content
            .char_indices()
            .nth(content.chars().count() / 2)
            .map_or(0, |(i, _)| i);
        content.truncate(cut);
    }
    let mut completion_tokens = (content.chars().count() as u64).div_ceil(4).max(1);
    if let Some(cap) = cap
        && completion_tokens > cap
    {
        let keep = content
            .char_indices()
            .nth((cap * 4) as usize)
            .map_or(content.len(), |(i, _)| i);
        content.truncate(keep);
        completion_tokens = cap;
        finish = "length";
    }
    let mut content = Value::String(content);
    // Directives let tests reach outcomes a healthy model rarely produces.
    if joined.contains("[[sim:refuse]]") {
        refusal = json!("I'm sorry, I can't help with that request.");
        content = Value::Null;
        finish = "stop";
    } else if joined.contains("[[sim:content_filter]]") {
        content = Value::Null;
        finish = "content_filter";
    }
    (content, refusal, completion_tokens, finish)
}

/// Prompt tokens served from cache: a repeated long prompt is cached in 128-token steps.
fn cached_tokens(state: &Shared, joined: &str, prompt_tokens: u64) -> u64 {
    let key = hash64(&[joined.as_bytes()]);
    let mut seen = state
        .seen_prompts
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let repeat = !seen.insert(key);
    if seen.len() > 100_000 {
        seen.clear();
    }
    // Providers cache long prompts in 128-token steps from 1024 on.
    if repeat && prompt_tokens >= 1024 {
        prompt_tokens / 128 * 128
    } else {
        0
    }
}

/// Checks a chat request like OpenAI does and answers it. `body` is the request as it came (its
/// hash seeds the answer); `corrupt` cuts the JSON content in half (the invalid-JSON fault).
pub(crate) fn complete(
    state: &Shared,
    (request, body): (&Value, &[u8]),
    corrupt: bool,
) -> Result<Completed, Rejection> {
    let (object, model, messages) = check_request(request)?;
    let texts = message_texts(messages);
    let format = object.get("response_format");
    let format_type = format
        .and_then(|f| f.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("text");
    let (schema_name, schema) = check_format(format, format_type, &texts)?;
    let cap = ["max_completion_tokens", "max_tokens"]
        .into_iter()
        .find_map(|k| object.get(k).and_then(Value::as_u64));
    let seed = hash64(&[body]);
    let joined: String = texts.join("\n");
    let question = Question {
        messages: texts.clone(),
        schema_name,
        schema,
        json: format_type != "text",
        seed,
    };
    let proposal = state
        .answer_key
        .as_ref()
        .and_then(|k| k.propose(&texts))
        .or_else(|| crate::judge::answer(&question, state.config.judge_noise, state.config.seed));
    let made = match proposal {
        Some(content) => crate::answer::Answer {
            content,
            recognised: None,
        },
        None => answer(&question, state.answer_key.as_ref(), &state.validators),
    };
    let prompt_tokens: u64 = texts
        .iter()
        .map(|t| (t.chars().count() as u64).div_ceil(4) + 4)
        .sum::<u64>()
        + 3;
    let (content, refusal, completion_tokens, finish) =
        shape_content(made.content, corrupt && question.json, cap, &joined);
    let cached_tokens = cached_tokens(state, &joined, prompt_tokens);
    let mut body = json!({
        "id": format!("chatcmpl-sim{:016x}", seed),
        "object": "chat.completion",
        "created": unix_now(),
        "model": sim_model(model),
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": refusal, "annotations": []},
            "logprobs": null,
            "finish_reason": finish,
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
        },
        "service_tier": "default",
        "system_fingerprint": "fp_api_sim",
    });
    if joined.contains("[[sim:no_usage]]")
        && let Some(o) = body.as_object_mut()
    {
        o.remove("usage");
    }
    Ok(Completed {
        body,
        recognised: made.recognised,
        usage: (prompt_tokens, completion_tokens),
    })
}

pub(crate) async fn handler(State(state): State<SimState>, body: Bytes) -> Response {
    // The configured latency runs from the request's arrival: the simulator's own work (checking
    // the request, finding the answer) happens inside it rather than adding to it.
    let arrived = tokio::time::Instant::now();
    let config = &state.config;
    let arrival = state.arrivals.fetch_add(1, Ordering::Relaxed);
    let mut rng = Rng::new(hash64(&[
        &config.seed.to_le_bytes(),
        &arrival.to_le_bytes(),
    ]));
    let mut headers = HeaderMap::new();
    set_header(
        &mut headers,
        "x-request-id",
        &format!("req_sim{:016x}{:016x}", state.instance, rng.next_u64()),
    );

    // On arrival the body is only checked to be JSON, unless a token limit must count its
    // prompt now; it is parsed into a tree when the answer is made.
    let parsed: Result<Option<Value>, serde_json::Error> = if config.tpm.is_some() {
        serde_json::from_slice(&body).map(Some)
    } else {
        serde_json::from_slice::<serde::de::IgnoredAny>(&body).map(|_| None)
    };
    let tokens = rate_limit_tokens(parsed.as_ref().ok().and_then(Option::as_ref));
    if let Some(response) = rate_limited(&state, tokens, &mut headers) {
        return with_headers(response, headers);
    }
    if let Some(response) = over_quota(&state) {
        return with_headers(response, headers);
    }
    let parsed: Option<Value> = match parsed {
        Ok(v) => v,
        Err(e) => {
            let (status, body) = unparsable(&e);
            return with_headers((status, axum::Json(body)).into_response(), headers);
        }
    };

    // A request that draws a fault is not answered, so it leaves no trace (the prompt cache
    // included); the others are answered and sent when their latency is up.
    let fault = drawn_fault(config, rng.unit());
    let corrupt = fault.is_none() && rng.unit() < config.invalid_json_rate;

    // The answer is made in the quiet middle of the latency rather than on arrival. A client's
    // requests come in bursts (one wave of answers frees its slots at once); work done on
    // arrival would hold back the reading of the requests behind it and the sending of answers
    // due at that moment, and stretch their latency by it. At the deadline only sending is left.
    let latency = config.latency;
    if latency >= QUIET_WORK_FROM {
        tokio::time::sleep_until(arrived + latency / 2).await;
    }
    let prepared = match fault {
        Some(fault) => Err(fault),
        // The body was checked to be JSON on arrival; a tree parse stricter than that check
        // is answered as it would have been then.
        None => Ok(
            match parsed.map_or_else(|| serde_json::from_slice(&body), Ok) {
                Ok(request) => prepare_answer(
                    &state,
                    complete(&state, (&request, &body), corrupt),
                    corrupt,
                ),
                Err(e) => prepare_answer(&state, Err(unparsable(&e)), false),
            },
        ),
    };
    if !latency.is_zero() {
        crate::util::sleep_until(arrived + latency).await;
    }

    let response = match prepared {
        Ok(prepared) => prepared.send(&state),
        Err(fault) => {
            let (status, message, kind) = fault.counted(&state.stats.faults);
            return with_headers(api_error(status, message, kind, None, None), headers);
        }
    };
    set_header(
        &mut headers,
        "openai-processing-ms",
        &latency.as_millis().to_string(),
    );
    with_headers(response, headers)
}

/// The 400 of a body that is not JSON.
fn unparsable(error: &serde_json::Error) -> Rejection {
    (
        StatusCode::BAD_REQUEST,
        error_body(
            &format!("We could not parse the JSON body of your request: {error}"),
            "invalid_request_error",
            None,
            None,
        ),
    )
}

/// Latencies from which the answer is made halfway through the latency; shorter ones make it
/// at once (a test's zero latency among them).
const QUIET_WORK_FROM: Duration = Duration::from_millis(10);

fn with_headers(mut response: Response, headers: HeaderMap) -> Response {
    response.headers_mut().extend(headers);
    response
}

/// A 429 when a rate limiter refuses `tokens` now; sets the limiters' and retry headers.
fn rate_limited(state: &Shared, tokens: u64, headers: &mut HeaderMap) -> Option<Response> {
    let refused = {
        let mut limiters = state
            .limiters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        limiters.admit(tokens, Instant::now(), headers)
    };
    let Err(refusal) = refused else {
        return None;
    };
    state
        .stats
        .faults
        .rate_limited
        .fetch_add(1, Ordering::Relaxed);
    let wait = refusal.wait;
    set_header(
        headers,
        "retry-after-ms",
        &format!("{}", wait.as_millis().max(1)),
    );
    set_header(
        headers,
        "retry-after",
        &wait.as_secs_f64().ceil().max(1.0).to_string(),
    );
    let message = format!(
        "Rate limit reached for {}: Limit {}, Used {}, Requested {} (enforced over bursts of at most {} {}). Please try again in {}. (simulated by api-sim)",
        refusal.what,
        refusal.limit,
        refusal.used,
        refusal.requested,
        refusal.burst,
        refusal.unit,
        go_duration(wait)
    );
    Some(api_error(
        StatusCode::TOO_MANY_REQUESTS,
        &message,
        refusal.unit,
        None,
        Some("rate_limit_exceeded"),
    ))
}

/// A 429 `insufficient_quota` once `quota_after` requests have been admitted.
fn over_quota(state: &Shared) -> Option<Response> {
    // Quota is consumed when a request is admitted, so exactly `quota_after` get through
    // however many arrive at once.
    if let Some(limit) = state.config.quota_after
        && state.admitted.fetch_add(1, Ordering::Relaxed) >= limit
    {
        state.stats.faults.quota.fetch_add(1, Ordering::Relaxed);
        return Some(api_error(
            StatusCode::TOO_MANY_REQUESTS,
            "You exceeded your current quota, please check your plan and billing details. (simulated by api-sim)",
            "insufficient_quota",
            None,
            Some("insufficient_quota"),
        ));
    }
    None
}

/// A simulated server fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// 500.
    Server,
    /// 503 "overloaded".
    Overloaded,
    /// 503 "Slow Down".
    SlowDown,
}

impl Fault {
    /// Counts the fault and gives its status, message and type.
    fn counted(self, faults: &crate::stats::Faults) -> (StatusCode, &'static str, &'static str) {
        match self {
            Self::Server => {
                faults.server_error.fetch_add(1, Ordering::Relaxed);
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The server had an error while processing your request. Sorry about that! (simulated by api-sim)",
                    "server_error",
                )
            }
            Self::Overloaded => {
                faults.overloaded.fetch_add(1, Ordering::Relaxed);
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The engine is currently overloaded, please try again later. (simulated by api-sim)",
                    "server_error",
                )
            }
            Self::SlowDown => {
                faults.slow_down.fetch_add(1, Ordering::Relaxed);
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Slow Down: your request rate rose too quickly; lower it and hold it steady. (simulated by api-sim)",
                    "server_error",
                )
            }
        }
    }
}

/// The simulated server fault that `draw` falls on, if any.
fn drawn_fault(config: &crate::SimConfig, draw: f64) -> Option<Fault> {
    if draw < config.error_rate {
        Some(Fault::Server)
    } else if draw < config.error_rate + config.overload_rate {
        Some(Fault::Overloaded)
    } else if draw < config.error_rate + config.overload_rate + config.slow_down_rate {
        Some(Fault::SlowDown)
    } else {
        None
    }
}

/// An answer made ahead of its deadline: status, serialised body, and the record to count as
/// answered when it is sent.
struct Prepared {
    status: StatusCode,
    body: Vec<u8>,
    /// `Some` for an answer (status 200): the recognised record, if any.
    answered: Option<Option<String>>,
}

impl Prepared {
    /// The response, counting the answer as it leaves.
    fn send(self, state: &Shared) -> Response {
        if let Some(record) = self.answered {
            state.stats.answered(record);
        }
        (
            self.status,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            self.body,
        )
            .into_response()
    }
}

/// Serialises the answer (or the rejection), counting invalid-JSON and wrong-answer faults.
fn prepare_answer(
    state: &Shared,
    completed: Result<Completed, Rejection>,
    corrupt: bool,
) -> Prepared {
    let faults = &state.stats.faults;
    match completed {
        Ok(done) => {
            if corrupt && done.body["choices"][0]["message"]["content"].is_string() {
                faults.invalid_json.fetch_add(1, Ordering::Relaxed);
            }
            if done.recognised.as_ref().is_some_and(|r| r.wrong) {
                faults.wrong_answers.fetch_add(1, Ordering::Relaxed);
            }
            Prepared {
                status: StatusCode::OK,
                body: serde_json::to_vec(&done.body).unwrap_or_default(),
                answered: Some(
                    done.recognised
                        .as_ref()
                        .map(|r| format!("{}:{}", r.module, r.record)),
                ),
            }
        }
        Err((status, body)) => Prepared {
            status,
            body: serde_json::to_vec(&body).unwrap_or_default(),
            answered: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_allows_a_burst_then_spaces_requests() {
        let mut limiters = Limiters {
            requests: Some(Limiter::new(600, Duration::from_secs(1))),
            tokens: None,
        };
        let now = Instant::now();
        let mut headers = HeaderMap::new();
        let mut granted = 0;
        while limiters.admit(0, now, &mut headers).is_ok() {
            granted += 1;
        }
        assert_eq!(granted, 10);
        let refusal = limiters.admit(0, now, &mut headers).err().unwrap();
        assert!(
            refusal.wait <= Duration::from_millis(100),
            "{:?}",
            refusal.wait
        );
        assert_eq!(headers["x-ratelimit-remaining-requests"], "0");
        let later = now + Duration::from_millis(150);
        assert!(limiters.admit(0, later, &mut headers).is_ok());
    }

    #[test]
    fn a_refusal_counts_what_the_bucket_counted() {
        // 5 a minute over 1 s bursts: a bucket of one request.
        let mut limiters = Limiters {
            requests: Some(Limiter::new(5, Duration::from_secs(1))),
            tokens: None,
        };
        let now = Instant::now();
        let mut headers = HeaderMap::new();
        assert!(limiters.admit(0, now, &mut headers).is_ok());
        let refusal = limiters.admit(0, now, &mut headers).err().unwrap();
        assert_eq!((refusal.limit, refusal.used, refusal.burst), (5, 1, 1));
    }

    #[test]
    fn the_token_bucket_charges_prompt_and_cap_and_refuses_alone() {
        let request = json!({"model": "m", "max_tokens": 100,
            "messages": [{"role": "user", "content": "x".repeat(400)}]});
        assert_eq!(rate_limit_tokens(Some(&request)), 200);
        // 60,000 a minute: 1,000 tokens per 1 s burst, five such requests.
        let mut limiters = Limiters {
            requests: Some(Limiter::new(6000, Duration::from_secs(1))),
            tokens: Some(Limiter::new(60_000, Duration::from_secs(1))),
        };
        let now = Instant::now();
        let mut headers = HeaderMap::new();
        for _ in 0..5 {
            assert!(limiters.admit(200, now, &mut headers).is_ok());
        }
        assert_eq!(headers["x-ratelimit-limit-tokens"], "60000");
        assert_eq!(headers["x-ratelimit-remaining-tokens"], "0");
        let refusal = limiters.admit(200, now, &mut headers).err().unwrap();
        assert_eq!(refusal.unit, "tokens");
        assert_eq!((refusal.used, refusal.requested), (1000, 200));
        // The refused request was not charged to the request bucket: 95 of 100 are left.
        assert_eq!(headers["x-ratelimit-remaining-requests"], "95");
    }

    #[test]
    fn model_names_say_simulator() {
        assert_eq!(sim_model("gpt-4o-mini"), "sim-gpt-4o-mini");
        assert_eq!(sim_model("sim-gpt-4o"), "sim-gpt-4o");
    }
}
