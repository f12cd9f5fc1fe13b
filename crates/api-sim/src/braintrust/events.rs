//! Experiment and dataset events: insert (replace, merge, delete) and cursor-paged fetch over
//! the version history. Both kinds of object keep their rows the same way; they differ in the
//! fields an event may carry and in the id field of a fetched row.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::experiments::Experiment;
use super::{Kind, Store, XACT_BASE, bad_request, lock, parse_body, text};
use crate::SimState;
use crate::util::{Rng, hash64};

/// Rows per fetch page when the request names no limit.
const DEFAULT_FETCH_LIMIT: usize = 1000;

/// How many rows of the previous page a later page repeats in an older version.
const REPEATED_ROWS: usize = 2;

/// Fields of an event the client owns; everything else the server sets or interprets.
const USER_FIELDS: [&str; 13] = [
    "input",
    "output",
    "expected",
    "error",
    "scores",
    "metadata",
    "tags",
    "metrics",
    "context",
    "span_attributes",
    "origin",
    "facets",
    "created",
];

/// Fields of a dataset event the client owns (`InsertDatasetEvent`): no output, scores or
/// metrics; anything else is dropped, as the service drops unknown fields.
const DATASET_FIELDS: [&str; 7] = [
    "input", "expected", "metadata", "tags", "origin", "facets", "created",
];

impl Kind {
    fn user_fields(self) -> &'static [&'static str] {
        match self {
            Self::Experiment => &USER_FIELDS,
            Self::Dataset => &DATASET_FIELDS,
        }
    }
}

/// One stored version of a row.
#[derive(Debug, Clone)]
pub(crate) struct Version {
    pub(crate) xact: u64,
    /// The row's id.
    pub(crate) id: Box<str>,
    /// The row as fetch returns it, as compact JSON text: a parsed tree takes several times the
    /// memory of its text, and rows are read far less often than they are kept.
    row: Box<str>,
    pub(crate) deleted: bool,
}

impl Version {
    fn new(xact: u64, id: &str, row: &Value, deleted: bool) -> Self {
        Self {
            xact,
            id: id.into(),
            row: row.to_string().into_boxed_str(),
            deleted,
        }
    }

    /// The row as fetch returns it.
    pub(crate) fn row(&self) -> Value {
        serde_json::from_str(&self.row).unwrap_or(Value::Null)
    }
}

/// An insert event after its checks.
struct Prepared {
    id: Option<String>,
    merge: bool,
    delete: bool,
    fields: Map<String, Value>,
    span_id: Option<String>,
    root_span_id: Option<String>,
    span_parents: Option<Value>,
}

fn check_event(kind: Kind, i: usize, event: &Value) -> Result<Prepared, String> {
    let Some(object) = event.as_object() else {
        return Err(format!("events[{i}]: must be an object"));
    };
    let string = |field: &str| -> Result<Option<String>, String> {
        match object.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("events[{i}].{field}: must be a string")),
        }
    };
    let flag = |field: &str| -> Result<bool, String> {
        match object.get(field) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(format!("events[{i}].{field}: must be a boolean")),
        }
    };
    let id = string("id")?;
    let merge = flag("_is_merge")?;
    let delete = flag("_object_delete")?;
    if let Some(scores) = object.get("scores").filter(|s| !s.is_null()) {
        let Some(scores) = scores.as_object() else {
            return Err(format!("events[{i}].scores: must be an object"));
        };
        for (name, value) in scores {
            match value {
                Value::Null => {}
                Value::Number(n) => {
                    let x = n.as_f64().unwrap_or(f64::NAN);
                    if !(0.0..=1.0).contains(&x) {
                        return Err(format!(
                            "events[{i}].scores.{name}: {n} is outside [0, 1]; normalise scores before logging them"
                        ));
                    }
                }
                _ => return Err(format!("events[{i}].scores.{name}: must be a number")),
            }
        }
    }
    if let Some(metrics) = object.get("metrics").filter(|m| !m.is_null()) {
        let Some(metrics) = metrics.as_object() else {
            return Err(format!("events[{i}].metrics: must be an object"));
        };
        for (name, value) in metrics {
            let ok = match name.as_str() {
                "prompt_tokens" | "completion_tokens" | "tokens" => {
                    value.is_null() || value.is_u64() || value.is_i64()
                }
                "caller_functionname" | "caller_filename" | "caller_lineno" => true,
                "start" | "end" => value.is_null() || value.is_number(),
                _ => value.is_number(),
            };
            if !ok {
                return Err(format!(
                    "events[{i}].metrics.{name}: must be a number (token counts whole numbers)"
                ));
            }
        }
    }
    for field in ["metadata", "context", "span_attributes"] {
        if let Some(v) = object.get(field)
            && !(v.is_null() || v.is_object())
        {
            return Err(format!("events[{i}].{field}: must be an object"));
        }
    }
    if let Some(tags) = object.get("tags")
        && !(tags.is_null()
            || tags
                .as_array()
                .is_some_and(|t| t.iter().all(Value::is_string)))
    {
        return Err(format!("events[{i}].tags: must be a list of strings"));
    }
    let fields = kind
        .user_fields()
        .iter()
        .filter_map(|f| object.get(*f).map(|v| ((*f).to_owned(), v.clone())))
        .collect();
    Ok(Prepared {
        id,
        merge,
        delete,
        fields,
        span_id: string("span_id")?,
        root_span_id: string("root_span_id")?,
        span_parents: object.get("span_parents").cloned(),
    })
}

/// Merges `patch` into `base`: objects key by key, everything else replaced.
fn deep_merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            for (k, v) in patch {
                match base.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        deep_merge(existing, v);
                    }
                    _ => {
                        base.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (base, patch) => *base = patch.clone(),
    }
}

/// `POST /v1/experiment/{id}/insert`.
pub(crate) async fn insert(
    State(state): State<SimState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    insert_events(&state, Kind::Experiment, &id, &body)
}

/// `POST /v1/dataset/{id}/insert`.
pub(crate) async fn insert_dataset(
    State(state): State<SimState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    insert_events(&state, Kind::Dataset, &id, &body)
}

/// Inserts into an experiment or a dataset; the insert faults apply to both.
fn insert_events(state: &SimState, kind: Kind, id: &str, body: &[u8]) -> Response {
    let body = match parse_body(body) {
        Ok(b) => b,
        Err(message) => return bad_request(&message),
    };
    let Some(events) = body.get("events").and_then(Value::as_array) else {
        return bad_request(&format!("events: required list of {} events", kind.noun()));
    };
    let prepared = match events
        .iter()
        .enumerate()
        .map(|(i, e)| check_event(kind, i, e))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(p) => p,
        Err(message) => return bad_request(&message),
    };
    let seed = state.config.seed;
    let mut store = lock(state);
    let Some(index) = store.objects(kind).iter().position(|e| e.id == id) else {
        return kind.not_found(id);
    };
    store.inserts.requests += 1;
    let request = store.inserts.requests;
    if store
        .faults
        .insert_fail_after
        .is_some_and(|after| store.inserts.answered >= after)
    {
        store.inserts.failed += 1;
        state
            .stats
            .faults
            .braintrust_insert_failed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return simulated_failure();
    }
    let rate = store.faults.insert_error_rate;
    if rate > 0.0 {
        let mut rng = Rng::new(hash64(&[
            &seed.to_le_bytes(),
            b"braintrust-insert",
            &request.to_le_bytes(),
        ]));
        if rng.unit() < rate {
            store.inserts.failed += 1;
            state
                .stats
                .faults
                .braintrust_insert_failed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if rng.unit() < 0.5 {
                apply(&mut store, kind, index, prepared, seed);
                store.inserts.failed_after_write += 1;
                state
                    .stats
                    .faults
                    .braintrust_insert_failed_after_write
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            return simulated_failure();
        }
    }
    let row_ids = apply(&mut store, kind, index, prepared, seed);
    store.inserts.answered += 1;
    axum::Json(json!({ "row_ids": row_ids })).into_response()
}

fn simulated_failure() -> Response {
    text(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Internal server error (simulated by api-sim)",
    )
}

/// Stores one transaction's events and returns their row ids.
fn apply(
    store: &mut Store,
    kind: Kind,
    index: usize,
    events: Vec<Prepared>,
    seed: u64,
) -> Vec<String> {
    let xact_text = store.next_xact();
    let xact = store.xact;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut row_ids = Vec::with_capacity(events.len());
    for event in events {
        let id = match event.id {
            Some(id) => id,
            None => store.next_uuid(seed, "row"),
        };
        let experiment = &mut store.objects_mut(kind)[index];
        let previous = experiment
            .current
            .get(&id)
            .map(|&i| &experiment.history[i])
            .filter(|v| !v.deleted)
            .map(Version::row);
        let version = if event.delete {
            Version::new(xact, &id, &json!({"id": id, "_xact_id": xact_text}), true)
        } else {
            let mut user = Value::Object(Map::new());
            if event.merge
                && let Some(previous) = &previous
            {
                for &field in kind.user_fields() {
                    if let Some(v) = previous.get(field) {
                        user[field] = v.clone();
                    }
                }
            }
            deep_merge(&mut user, &Value::Object(event.fields));
            let span_id = event.span_id.unwrap_or_else(|| id.clone());
            let root_span_id = event.root_span_id.unwrap_or_else(|| span_id.clone());
            let parents = event.span_parents.unwrap_or(Value::Null);
            let is_root = parents.as_array().is_none_or(Vec::is_empty);
            let created = previous
                .as_ref()
                .and_then(|p| p.get("created").cloned())
                .unwrap_or_else(|| json!(now));
            let mut row = json!({
                "id": id,
                "_xact_id": xact_text,
                "created": created,
                "_pagination_key": format!("p{xact:020}{}", experiment.history.len()),
                "project_id": experiment.project_id,
                kind.id_field(): experiment.id,
                "span_id": span_id,
                "root_span_id": root_span_id,
                "span_parents": parents,
                "is_root": is_root,
            });
            if let Value::Object(user) = user {
                for (k, v) in user {
                    if k != "created" || !v.is_null() {
                        row[k.as_str()] = v;
                    }
                }
            }
            Version::new(xact, &id, &row, false)
        };
        experiment.history.push(version);
        let at = experiment.history.len() - 1;
        experiment.current.insert(id.clone(), at);
        row_ids.push(id);
    }
    row_ids
}

/// Where a fetch continues: the snapshot it reads, how far it got, and which page is next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cursor {
    snapshot: u64,
    offset: usize,
    page: usize,
}

impl Cursor {
    /// An opaque text; clients must pass it back verbatim.
    fn encode(self) -> String {
        let plain = format!("{}:{}:{}", self.snapshot, self.offset, self.page);
        plain.bytes().map(|b| format!("{:02x}", b ^ 0x5a)).collect()
    }

    fn decode(text: &str) -> Option<Self> {
        if !text.len().is_multiple_of(2) {
            return None;
        }
        let bytes: Option<Vec<u8>> = (0..text.len())
            .step_by(2)
            .map(|i| {
                text.get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .map(|b| b.map(|b| b ^ 0x5a))
            .collect();
        let plain = String::from_utf8(bytes?).ok()?;
        let mut parts = plain.split(':');
        let cursor = Self {
            snapshot: parts.next()?.parse().ok()?,
            offset: parts.next()?.parse().ok()?,
            page: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(cursor)
    }
}

/// The versions a snapshot shows, newest first: every stored version of rows alive at the
/// snapshot (the service pages over the whole history, so older versions come later).
fn visible(experiment: &Experiment, snapshot: u64) -> Vec<&Version> {
    let mut newest: BTreeMap<&str, &Version> = BTreeMap::new();
    for version in experiment.history.iter().filter(|v| v.xact <= snapshot) {
        newest.insert(&version.id, version);
    }
    experiment
        .history
        .iter()
        .rev()
        .filter(|v| v.xact <= snapshot && !v.deleted)
        .filter(|v| newest.get(&*v.id).is_some_and(|n| !n.deleted))
        .collect()
}

fn fetch(
    state: &SimState,
    kind: Kind,
    id: &str,
    limit: Option<usize>,
    cursor: Option<&str>,
    version: Option<&str>,
) -> Response {
    let store = lock(state);
    let Some(experiment) = store.objects(kind).iter().find(|e| e.id == id) else {
        return kind.not_found(id);
    };
    let start = match cursor {
        Some(text) => match Cursor::decode(text) {
            Some(c) => c,
            None => return bad_request("cursor: not a cursor this server issued"),
        },
        None => {
            let snapshot = match version {
                Some(v) => match v.parse::<u64>() {
                    Ok(x) if x > XACT_BASE => x - XACT_BASE,
                    Ok(_) => 0,
                    Err(_) => return bad_request("version: must be a transaction id"),
                },
                None => store.xact,
            };
            Cursor {
                snapshot,
                offset: 0,
                page: 0,
            }
        }
    };
    let limit = limit.filter(|&l| l > 0).unwrap_or(DEFAULT_FETCH_LIMIT);
    let versions = visible(experiment, start.snapshot);
    let end = (start.offset + limit).min(versions.len());
    let page = versions.get(start.offset..end).unwrap_or_default();
    let mut events: Vec<Value> = Vec::with_capacity(page.len() + REPEATED_ROWS);
    if start.page > 0 && !page.is_empty() {
        // Like the service, a later page may show rows again in an older version; clients keep
        // the newest `_xact_id` per id.
        let from = start.offset.saturating_sub(REPEATED_ROWS);
        for shown in versions.get(from..start.offset).unwrap_or_default() {
            events.push(older_copy(experiment, shown));
        }
    }
    events.extend(page.iter().map(|v| v.row()));
    let next = (!events.is_empty()).then(|| {
        Cursor {
            snapshot: start.snapshot,
            offset: end,
            page: start.page + 1,
        }
        .encode()
    });
    axum::Json(json!({ "events": events, "cursor": next })).into_response()
}

/// A row as an older version than `shown`: its oldest stored content, with a smaller `_xact_id`.
fn older_copy(experiment: &Experiment, shown: &Version) -> Value {
    let oldest = experiment
        .history
        .iter()
        .find(|v| !v.deleted && v.id == shown.id)
        .unwrap_or(shown);
    let mut row = oldest.row();
    let xact = oldest.xact.min(shown.xact.saturating_sub(1));
    row["_xact_id"] = json!((XACT_BASE + xact).to_string());
    row
}

/// `POST /v1/experiment/{id}/fetch`.
pub(crate) async fn fetch_post(
    State(state): State<SimState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    fetch_post_of(&state, Kind::Experiment, &id, &body)
}

/// `POST /v1/dataset/{id}/fetch`.
pub(crate) async fn fetch_dataset_post(
    State(state): State<SimState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    fetch_post_of(&state, Kind::Dataset, &id, &body)
}

/// `GET /v1/dataset/{id}/fetch?limit=&cursor=&version=`.
pub(crate) async fn fetch_dataset_get(
    State(state): State<SimState>,
    Path(id): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    fetch_get_of(&state, Kind::Dataset, &id, &query)
}

fn fetch_post_of(state: &SimState, kind: Kind, id: &str, body: &[u8]) -> Response {
    let body = match parse_body(body) {
        Ok(b) => b,
        Err(message) => return bad_request(&message),
    };
    let limit = match body.get("limit") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64().and_then(|l| usize::try_from(l).ok()) {
            Some(l) => Some(l),
            None => return bad_request("limit: must be a whole number >= 0"),
        },
    };
    let text_field = |name: &str| body.get(name).and_then(Value::as_str);
    fetch(
        state,
        kind,
        id,
        limit,
        text_field("cursor"),
        text_field("version"),
    )
}

/// `GET /v1/experiment/{id}/fetch?limit=&cursor=&version=`.
pub(crate) async fn fetch_get(
    State(state): State<SimState>,
    Path(id): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    fetch_get_of(&state, Kind::Experiment, &id, &query)
}

fn fetch_get_of(
    state: &SimState,
    kind: Kind,
    id: &str,
    query: &BTreeMap<String, String>,
) -> Response {
    let limit = match query.get("limit") {
        None => None,
        Some(l) => match l.parse::<usize>() {
            Ok(l) => Some(l),
            Err(_) => return bad_request("limit: must be a whole number >= 0"),
        },
    };
    fetch(
        state,
        kind,
        id,
        limit,
        query.get("cursor").map(String::as_str),
        query.get("version").map(String::as_str),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_foreign_text() {
        let c = Cursor {
            snapshot: 12,
            offset: 300,
            page: 3,
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("zz"), None);
        assert_eq!(Cursor::decode("abc"), None);
        assert_eq!(Cursor::decode(""), None);
    }

    #[test]
    fn scores_outside_the_unit_interval_are_refused() {
        let err = check_event(Kind::Experiment, 3, &json!({"scores": {"correct": 1.5}})).err();
        assert_eq!(
            err.as_deref(),
            Some(
                "events[3].scores.correct: 1.5 is outside [0, 1]; normalise scores before logging them"
            )
        );
        assert!(
            check_event(
                Kind::Experiment,
                0,
                &json!({"scores": {"correct": 1, "f1": null}})
            )
            .is_ok()
        );
        assert!(check_event(Kind::Experiment, 0, &json!({"scores": {"correct": "yes"}})).is_err());
        assert!(check_event(Kind::Experiment, 0, &json!({"metrics": {"tokens": 1.5}})).is_err());
        assert!(check_event(Kind::Experiment, 0, &json!({"metrics": {"cached": true}})).is_err());
        assert!(
            check_event(
                Kind::Experiment,
                0,
                &json!({"metrics": {"start": 1.5, "duration": 0.2}})
            )
            .is_ok()
        );
    }

    #[test]
    fn merging_goes_into_objects_and_replaces_the_rest() {
        let mut base = json!({"input": {"a": 5, "b": 10}, "tags": ["x"]});
        deep_merge(
            &mut base,
            &json!({"input": {"b": 11, "c": 20}, "tags": ["y"]}),
        );
        assert_eq!(
            base,
            json!({"input": {"a": 5, "b": 11, "c": 20}, "tags": ["y"]})
        );
    }
}
