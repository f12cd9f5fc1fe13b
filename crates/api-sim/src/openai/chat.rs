//! `POST /v1/chat/completions`: request checks as strict as OpenAI's, fault injection, a real
//! requests-per-minute limit with rate-limit headers, and deterministic answers.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::answer::{Question, Recognised, answer};
use crate::util::{Rng, api_error, error_body, go_duration, hash64, set_header, unix_now};
use crate::{MODEL_PREFIX, Shared, SimState};

/// A token bucket holding the per-minute request budget.
#[derive(Debug)]
pub(crate) struct Limiter {
    rpm: u32,
    per_second: f64,
    capacity: f64,
    level: f64,
    at: Instant,
}

impl Limiter {
    pub(crate) fn new(rpm: u32, burst: Duration) -> Self {
        let per_second = f64::from(rpm) / 60.0;
        let capacity = (per_second * burst.as_secs_f64()).max(1.0);
        Self {
            rpm,
            per_second,
            capacity,
            level: capacity,
            at: Instant::now(),
        }
    }

    /// Takes one request: `Ok((remaining, time until full))` or `Err(wait)`.
    fn take(&mut self, now: Instant) -> Result<(u64, Duration), Duration> {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.level = (self.level + elapsed * self.per_second).min(self.capacity);
        self.at = now;
        if self.level >= 1.0 {
            self.level -= 1.0;
            let reset = Duration::from_secs_f64((self.capacity - self.level) / self.per_second);
            Ok((self.level.floor() as u64, reset))
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - self.level) / self.per_second,
            ))
        }
    }
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

/// Checks a chat request like OpenAI does and answers it. `corrupt` cuts the JSON content in
/// half (the invalid-JSON fault).
pub(crate) fn complete(
    state: &Shared,
    request: &Value,
    corrupt: bool,
) -> Result<Completed, Rejection> {
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
    let texts = message_texts(messages);
    let format = object.get("response_format");
    let format_type = format
        .and_then(|f| f.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("text");
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
    let cap = ["max_completion_tokens", "max_tokens"]
        .into_iter()
        .find_map(|k| object.get(k).and_then(Value::as_u64));
    let seed = hash64(&[serde_json::to_vec(request).unwrap_or_default().as_slice()]);
    let joined: String = texts.join("\n");
    let question = Question {
        messages: texts.clone(),
        schema_name,
        schema,
        json: format_type != "text",
        seed,
    };
    let made = answer(&question, state.answer_key.as_ref(), &state.validators);
    let mut content = made.content;
    let mut finish = "stop";
    let mut refusal = Value::Null;
    if corrupt && question.json {
        let cut = content
            .char_indices()
            .nth(content.chars().count() / 2)
            .map_or(0, |(i, _)| i);
        content.truncate(cut);
    }
    let prompt_tokens: u64 = texts
        .iter()
        .map(|t| (t.chars().count() as u64).div_ceil(4) + 4)
        .sum::<u64>()
        + 3;
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
    let cached_tokens = {
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
    };
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
        &format!("req_sim{:016x}", rng.next_u64()),
    );
    let faults = &state.stats.faults;

    let limited = {
        let mut limiter = state
            .limiter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        limiter.as_mut().map(|l| (l.rpm, l.take(Instant::now())))
    };
    if let Some((rpm, taken)) = limited {
        set_header(&mut headers, "x-ratelimit-limit-requests", &rpm.to_string());
        match taken {
            Ok((remaining, reset)) => {
                set_header(
                    &mut headers,
                    "x-ratelimit-remaining-requests",
                    &remaining.to_string(),
                );
                set_header(
                    &mut headers,
                    "x-ratelimit-reset-requests",
                    &go_duration(reset),
                );
            }
            Err(wait) => {
                faults.rate_limited.fetch_add(1, Ordering::Relaxed);
                set_header(&mut headers, "x-ratelimit-remaining-requests", "0");
                set_header(
                    &mut headers,
                    "x-ratelimit-reset-requests",
                    &go_duration(wait),
                );
                set_header(
                    &mut headers,
                    "retry-after-ms",
                    &format!("{}", wait.as_millis().max(1)),
                );
                set_header(
                    &mut headers,
                    "retry-after",
                    &wait.as_secs_f64().ceil().max(1.0).to_string(),
                );
                let message = format!(
                    "Rate limit reached for requests per min (RPM): Limit {rpm}, Used {rpm}, Requested 1. Please try again in {}. (simulated by api-sim)",
                    go_duration(wait)
                );
                let mut response = api_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    &message,
                    "requests",
                    None,
                    Some("rate_limit_exceeded"),
                );
                response.headers_mut().extend(headers);
                return response;
            }
        }
    }

    // Quota is consumed when a request is admitted, so exactly `quota_after` get through
    // however many arrive at once.
    if let Some(limit) = config.quota_after
        && state.admitted.fetch_add(1, Ordering::Relaxed) >= limit
    {
        faults.quota.fetch_add(1, Ordering::Relaxed);
        let mut response = api_error(
            StatusCode::TOO_MANY_REQUESTS,
            "You exceeded your current quota, please check your plan and billing details. (simulated by api-sim)",
            "insufficient_quota",
            None,
            Some("insufficient_quota"),
        );
        response.headers_mut().extend(headers);
        return response;
    }

    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            let mut response = api_error(
                StatusCode::BAD_REQUEST,
                &format!("We could not parse the JSON body of your request: {e}"),
                "invalid_request_error",
                None,
                None,
            );
            response.headers_mut().extend(headers);
            return response;
        }
    };

    if !config.latency.is_zero() {
        tokio::time::sleep(config.latency).await;
    }

    let draw = rng.unit();
    let fault = if draw < config.error_rate {
        faults.server_error.fetch_add(1, Ordering::Relaxed);
        Some((
            StatusCode::INTERNAL_SERVER_ERROR,
            "The server had an error while processing your request. Sorry about that! (simulated by api-sim)",
            "server_error",
        ))
    } else if draw < config.error_rate + config.overload_rate {
        faults.overloaded.fetch_add(1, Ordering::Relaxed);
        Some((
            StatusCode::SERVICE_UNAVAILABLE,
            "The engine is currently overloaded, please try again later. (simulated by api-sim)",
            "server_error",
        ))
    } else if draw < config.error_rate + config.overload_rate + config.slow_down_rate {
        faults.slow_down.fetch_add(1, Ordering::Relaxed);
        Some((
            StatusCode::SERVICE_UNAVAILABLE,
            "Slow Down: your request rate rose too quickly; lower it and hold it steady. (simulated by api-sim)",
            "server_error",
        ))
    } else {
        None
    };
    if let Some((status, message, kind)) = fault {
        let mut response = api_error(status, message, kind, None, None);
        response.headers_mut().extend(headers);
        return response;
    }

    let corrupt = rng.unit() < config.invalid_json_rate;
    let mut response = match complete(&state, &request, corrupt) {
        Ok(done) => {
            if corrupt && done.body["choices"][0]["message"]["content"].is_string() {
                faults.invalid_json.fetch_add(1, Ordering::Relaxed);
            }
            if done.recognised.as_ref().is_some_and(|r| r.wrong) {
                faults.wrong_answers.fetch_add(1, Ordering::Relaxed);
            }
            state.stats.answered(
                done.recognised
                    .as_ref()
                    .map(|r| format!("{}:{}", r.module, r.record)),
            );
            axum::Json(done.body).into_response()
        }
        Err((status, body)) => (status, axum::Json(body)).into_response(),
    };
    set_header(
        &mut headers,
        "openai-processing-ms",
        &config.latency.as_millis().to_string(),
    );
    response.headers_mut().extend(headers);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_allows_a_burst_then_spaces_requests() {
        let mut limiter = Limiter::new(600, Duration::from_secs(1));
        let now = Instant::now();
        let mut granted = 0;
        while limiter.take(now).is_ok() {
            granted += 1;
        }
        assert_eq!(granted, 10);
        let wait = limiter.take(now).unwrap_err();
        assert!(wait <= Duration::from_millis(100), "{wait:?}");
        assert!(limiter.take(now + Duration::from_millis(150)).is_ok());
    }

    #[test]
    fn model_names_say_simulator() {
        assert_eq!(sim_model("gpt-4o-mini"), "sim-gpt-4o-mini");
        assert_eq!(sim_model("sim-gpt-4o"), "sim-gpt-4o");
    }
}
