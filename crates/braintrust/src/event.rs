//! Results rows as Braintrust experiment events, and events grouped into insert requests.

use core_config::ResultRow;
use serde_json::{Map, Value, json};

/// Metadata keys this crate sets on every event (a download strips nothing: they are all
/// useful to a reader of the experiment, and `row` restores the CSV's order).
pub const ROW_KEY: &str = "row";

/// The event id of a results row: stable across attempts, so a retried or repeated upload
/// replaces rows instead of adding them.
#[must_use]
pub fn event_id(local_id: &str, record_id: &str) -> String {
    format!("{local_id}:{record_id}")
}

/// The short kind of a row's error (`invalid_json` in `invalid_json: …`), when it has one.
#[must_use]
pub fn error_kind(error: &str) -> Option<&str> {
    let error = error.trim();
    if error.is_empty() {
        return None;
    }
    let head = error.split_once(':').map_or(error, |(h, _)| h).trim();
    let looks_like_kind = !head.is_empty()
        && head
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    Some(if looks_like_kind { head } else { "error" })
}

/// A score forced into `[0, 1]`; `None` for NaN (Braintrust rejects scores outside the range).
#[must_use]
pub fn unit_score(x: f64) -> Option<f64> {
    (!x.is_nan()).then(|| x.clamp(0.0, 1.0))
}

/// The Braintrust event for one results row of run `local_id` (`index` is its 0-based place
/// in the CSV).
///
/// - `id` is [`event_id`]; `input`, `output`, `expected` are the row's.
/// - `scores`: `correct` as 0 or 1 plus `extra_scores` (clamped to `[0, 1]`); a row that could
///   not be scored gets no scores at all, and its error goes to `error` and
///   `metadata.error_kind`.
/// - `metadata`: the row's metadata plus `local_id`, `record_id`, `row`, `asin`, `keyword`,
///   `brand`.
/// - `metrics`: the numeric per-call metrics (token counts as whole numbers, `tokens` the total).
#[must_use]
pub fn event_for_row(
    local_id: &str,
    index: usize,
    row: &ResultRow,
    extra_scores: &[(String, f64)],
) -> Value {
    let mut event = Map::new();
    event.insert("id".to_owned(), json!(event_id(local_id, &row.record_id)));
    event.insert("input".to_owned(), row.input.clone());
    event.insert("output".to_owned(), row.output.clone());
    event.insert("expected".to_owned(), row.expected.clone());

    let mut metadata = row.metadata.as_object().cloned().unwrap_or_default();
    metadata.insert("local_id".to_owned(), json!(local_id));
    metadata.insert("record_id".to_owned(), json!(row.record_id));
    metadata.insert(ROW_KEY.to_owned(), json!(index + 1));
    for (key, value) in [
        ("asin", &row.asin),
        ("keyword", &row.keyword),
        ("brand", &row.brand),
    ] {
        if !value.is_empty() {
            metadata.insert(key.to_owned(), json!(value));
        }
    }

    if let Some(correct) = row.correct {
        let mut scores = Map::new();
        scores.insert("correct".to_owned(), json!(u8::from(correct)));
        for (name, value) in extra_scores {
            if let Some(v) = unit_score(*value) {
                scores.insert(name.clone(), json!(v));
            }
        }
        event.insert("scores".to_owned(), Value::Object(scores));
    }
    if let Some(kind) = error_kind(&row.error) {
        metadata.insert("error_kind".to_owned(), json!(kind));
        event.insert("error".to_owned(), json!(row.error));
    }

    let (metrics, call_details) = metrics_of(&row.metrics);
    for (key, value) in call_details {
        metadata.entry(key).or_insert(value);
    }
    event.insert("metadata".to_owned(), Value::Object(metadata));
    if !metrics.is_empty() {
        event.insert("metrics".to_owned(), Value::Object(metrics));
    }
    event.insert(
        "span_attributes".to_owned(),
        json!({"name": row.record_id, "type": "eval"}),
    );
    Value::Object(event)
}

/// Splits the runner's per-call metrics into numeric metrics (what Braintrust accepts there)
/// and text details worth keeping in metadata.
fn metrics_of(raw: &Value) -> (Map<String, Value>, Vec<(String, Value)>) {
    let mut metrics = Map::new();
    let mut details = Vec::new();
    let Some(raw) = raw.as_object() else {
        return (metrics, details);
    };
    for (key, value) in raw {
        let name = match key.as_str() {
            "total_tokens" => "tokens",
            other => other,
        };
        let whole = matches!(name, "prompt_tokens" | "completion_tokens" | "tokens");
        match value {
            Value::Number(n) if whole => {
                if let Some(x) = n.as_f64().filter(|x| x.is_finite() && *x >= 0.0) {
                    #[expect(
                        clippy::cast_possible_truncation,
                        clippy::cast_sign_loss,
                        reason = "token counts are small non-negative numbers"
                    )]
                    let count = x.round() as u64;
                    metrics.insert(name.to_owned(), json!(count));
                }
            }
            Value::Number(n) if n.as_f64().is_some_and(f64::is_finite) => {
                metrics.insert(name.to_owned(), value.clone());
            }
            Value::Bool(b) => {
                metrics.insert(name.to_owned(), json!(u8::from(*b)));
            }
            Value::String(s) if matches!(name, "finish_reason" | "request_id") && !s.is_empty() => {
                details.push((name.to_owned(), value.clone()));
            }
            _ => {}
        }
    }
    if !metrics.contains_key("tokens")
        && let (Some(p), Some(c)) = (
            metrics.get("prompt_tokens").and_then(Value::as_u64),
            metrics.get("completion_tokens").and_then(Value::as_u64),
        )
    {
        metrics.insert("tokens".to_owned(), json!(p + c));
    }
    (metrics, details)
}

/// Groups events into insert requests of at most `max_events` events and about `max_bytes` of
/// JSON each, as they are made (so a large run never holds all its events at once). An event
/// larger than `max_bytes` travels alone. Order is kept.
#[derive(Debug)]
pub struct Chunker {
    max_events: usize,
    max_bytes: usize,
    current: Vec<Value>,
    bytes: usize,
}

/// `{"events":[` and `]}`.
const BODY_OVERHEAD: usize = 13;

impl Chunker {
    /// A chunker with these limits (at least one event per chunk).
    #[must_use]
    pub fn new(max_events: usize, max_bytes: usize) -> Self {
        Self {
            max_events: max_events.max(1),
            max_bytes,
            current: Vec::new(),
            bytes: BODY_OVERHEAD,
        }
    }

    /// Adds an event; returns the chunk it closed, if adding it would have overfilled one.
    pub fn push(&mut self, event: Value) -> Option<Vec<Value>> {
        // Serialised length plus the separating comma.
        let size = serde_json::to_vec(&event).map_or(0, |v| v.len()) + 1;
        let full = !self.current.is_empty()
            && (self.current.len() >= self.max_events || self.bytes + size > self.max_bytes);
        let closed = full.then(|| {
            self.bytes = BODY_OVERHEAD;
            std::mem::take(&mut self.current)
        });
        self.bytes += size;
        self.current.push(event);
        closed
    }

    /// The last, partly filled chunk.
    #[must_use]
    pub fn finish(self) -> Option<Vec<Value>> {
        (!self.current.is_empty()).then_some(self.current)
    }
}

/// All events in chunks (see [`Chunker`]).
#[must_use]
pub fn chunk_events(events: Vec<Value>, max_events: usize, max_bytes: usize) -> Vec<Vec<Value>> {
    let mut chunker = Chunker::new(max_events, max_bytes);
    let mut chunks: Vec<Vec<Value>> = events.into_iter().filter_map(|e| chunker.push(e)).collect();
    chunks.extend(chunker.finish());
    chunks
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn row(correct: Option<bool>, error: &str) -> ResultRow {
        ResultRow {
            record_id: "M12_B0X__oven mitt".into(),
            input: json!({"keyword": "oven mitt"}),
            output: json!({"relevancy": "N"}),
            expected: json!({"relevancy": "N"}),
            asin: "B0X".into(),
            brand: "KitchenAid".into(),
            keyword: "oven mitt".into(),
            reasoning: String::new(),
            metrics: json!({"prompt_tokens": 120, "completion_tokens": 30.0, "total_tokens": 150,
                "cached": false, "duration": 0.5, "model": "gpt-4o-mini", "finish_reason": "stop",
                "estimated_cost": null}),
            metadata: json!({"asin": "B0X", "module_id": "m12", "split": "eval"}),
            correct,
            error: error.into(),
            extra: BTreeMap::new(),
        }
    }

    #[test]
    fn a_scored_row_becomes_an_event_with_scores_metadata_and_metrics() {
        let extra = [("f1".to_owned(), 1.2), ("nan".to_owned(), f64::NAN)];
        let event = event_for_row("exp_20260116_123456_m12", 4, &row(Some(true), ""), &extra);
        assert_eq!(event["id"], "exp_20260116_123456_m12:M12_B0X__oven mitt");
        assert_eq!(event["scores"], json!({"correct": 1, "f1": 1.0}));
        assert_eq!(event["metadata"]["row"], 5);
        assert_eq!(event["metadata"]["brand"], "KitchenAid");
        assert_eq!(event["metadata"]["local_id"], "exp_20260116_123456_m12");
        assert_eq!(event["metadata"]["finish_reason"], "stop");
        assert_eq!(
            event["metrics"],
            json!({"prompt_tokens": 120, "completion_tokens": 30, "tokens": 150, "cached": 0, "duration": 0.5})
        );
        assert!(event.get("error").is_none());
    }

    #[test]
    fn an_errored_row_has_no_scores_and_carries_its_error() {
        let event = event_for_row(
            "exp_1",
            0,
            &row(None, "invalid_json: expected value at line 1"),
            &[],
        );
        assert!(event.get("scores").is_none());
        assert_eq!(event["error"], "invalid_json: expected value at line 1");
        assert_eq!(event["metadata"]["error_kind"], "invalid_json");
        assert_eq!(error_kind("Something broke: badly"), Some("error"));
        assert_eq!(error_kind("  "), None);
    }

    #[test]
    fn chunks_respect_count_and_size() {
        let events: Vec<Value> = (0..250).map(|i| json!({"id": i})).collect();
        let sizes: Vec<usize> = chunk_events(events, 100, usize::MAX)
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes, [100, 100, 50]);

        let big = "x".repeat(1000);
        let events: Vec<Value> = (0..10).map(|i| json!({"id": i, "pad": big})).collect();
        let chunks = chunk_events(events, 100, 3000);
        assert!(chunks.iter().all(|c| {
            let body = json!({"events": c}).to_string();
            body.len() <= 3000
        }));
        assert_eq!(chunks.iter().map(Vec::len).sum::<usize>(), 10);
        assert_eq!(chunks.len(), 5);

        let huge = vec![json!({"pad": "y".repeat(5000)}), json!({"id": 1})];
        assert_eq!(
            chunk_events(huge, 100, 3000)
                .iter()
                .map(Vec::len)
                .collect::<Vec<_>>(),
            [1, 1]
        );
    }
}
