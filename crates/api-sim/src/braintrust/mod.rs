//! The Braintrust side: the documented `/v1` REST endpoints a client needs to upload and read
//! back experiments, held in memory.
//!
//! - `POST|GET /v1/project`: get-or-create by name, list by name.
//! - `POST|GET /v1/experiment`, `GET /v1/experiment/{id}`: create (idempotent by name within a
//!   project; `ensure_new` picks a fresh name), list, read.
//! - `POST /v1/experiment/{id}/insert`: replace rows with the same `id` (or deep-merge with
//!   `_is_merge`), delete with `_object_delete`; scores outside `[0, 1]` are a 400.
//! - `POST|GET /v1/experiment/{id}/fetch`: cursor paging over the version history, newest first,
//!   with later pages repeating rows in older versions so clients must de-duplicate by id.
//! - `GET /v1/experiment/{id}/summarize`: names, URLs and score averages.
//! - `POST|GET /v1/dataset`, `GET|PATCH|DELETE /v1/dataset/{id}`: create (idempotent by name
//!   within a project, like experiments), list, read, update name/description/tags/metadata,
//!   delete; `POST /v1/dataset/{id}/insert` and `POST|GET /v1/dataset/{id}/fetch` keep rows as
//!   experiments do (same versions, cursors and faults), with the dataset event's fields only.
//! - `POST|PUT|GET /v1/prompt`, `GET /v1/prompt/{id}`: create (an existing slug in the project
//!   is returned unchanged), create or replace by slug (a new version, same id), list, read.
//!
//! Every route but the `GET /v1` health check wants `Authorization: Bearer <key>`. Error bodies
//! are plain text, as the real service's are. `GET /_sim/braintrust` shows what is stored and
//! `POST /_sim/braintrust/faults` changes the insert faults of a running simulator.

mod datasets;
mod events;
mod experiments;
mod projects;
mod prompts;

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use self::experiments::Experiment;
use serde_json::{Value, json};

use crate::util::hash64;
use crate::{SimConfig, SimState};

/// Transaction ids are shown as this plus a counter, so they look like the service's.
pub(crate) const XACT_BASE: u64 = 1_000_192_656_880_000_000;

/// Organisation every simulated project belongs to.
const ORG_ID: &str = "00000000-0000-4000-8000-00000000000a";

/// What the Braintrust side holds.
#[derive(Debug, Default)]
pub(crate) struct Store {
    projects: Vec<projects::Project>,
    experiments: Vec<experiments::Experiment>,
    /// Datasets keep their rows exactly as experiments do, so they are held the same way.
    datasets: Vec<experiments::Experiment>,
    prompts: Vec<prompts::Prompt>,
    /// Last transaction id handed out; every insert is one transaction.
    xact: u64,
    /// Last object id handed out.
    ids: u64,
    faults: Faults,
    inserts: InsertCounters,
}

/// Insert faults, changeable while the simulator runs.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub(crate) struct Faults {
    /// Share of inserts answered 500. Half of them (chosen from the seed) store the rows before
    /// failing, as a server that loses its answer after the write would.
    pub(crate) insert_error_rate: f64,
    /// Answer this many inserts normally, then fail every one with 500 without storing it.
    pub(crate) insert_fail_after: Option<u64>,
}

/// Counters of the insert endpoint.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub(crate) struct InsertCounters {
    /// Insert requests that reached the handler (authorised).
    requests: u64,
    /// Answered 200.
    answered: u64,
    /// Failed by an injected fault.
    failed: u64,
    /// Failed by an injected fault after the rows were stored.
    failed_after_write: u64,
}

/// The two kinds of object that hold rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Experiment,
    Dataset,
}

impl Kind {
    /// The word used in messages.
    pub(crate) fn noun(self) -> &'static str {
        match self {
            Self::Experiment => "experiment",
            Self::Dataset => "dataset",
        }
    }

    /// The field of a fetched row naming the object it belongs to.
    pub(crate) fn id_field(self) -> &'static str {
        match self {
            Self::Experiment => "experiment_id",
            Self::Dataset => "dataset_id",
        }
    }

    /// The 404 answer for an unknown id.
    pub(crate) fn not_found(self, id: &str) -> Response {
        text(
            StatusCode::NOT_FOUND,
            &format!("No {} with id {id} (or you lack access to it)", self.noun()),
        )
    }
}

impl Store {
    /// Live (not deleted) objects of a kind, in creation order.
    pub(crate) fn objects(&self, kind: Kind) -> &[Experiment] {
        match kind {
            Kind::Experiment => &self.experiments,
            Kind::Dataset => &self.datasets,
        }
    }

    pub(crate) fn objects_mut(&mut self, kind: Kind) -> &mut Vec<Experiment> {
        match kind {
            Kind::Experiment => &mut self.experiments,
            Kind::Dataset => &mut self.datasets,
        }
    }

    pub(crate) fn new(config: &SimConfig) -> Self {
        Self {
            faults: Faults {
                insert_error_rate: config.braintrust_insert_error_rate,
                insert_fail_after: config.braintrust_insert_fail_after,
            },
            ..Self::default()
        }
    }

    /// A fresh UUID-shaped id, deterministic within a simulator run.
    fn next_uuid(&mut self, seed: u64, kind: &str) -> String {
        self.ids += 1;
        let h = hash64(&[
            &seed.to_le_bytes(),
            kind.as_bytes(),
            &self.ids.to_le_bytes(),
        ]);
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            (h >> 32) as u32,
            (h >> 16) as u16,
            (h >> 4) & 0xfff,
            self.ids & 0xfff,
            self.ids
        )
    }

    fn next_xact(&mut self) -> String {
        self.xact += 1;
        (XACT_BASE + self.xact).to_string()
    }
}

pub(crate) fn routes(state: &SimState) -> Router<SimState> {
    let protected = Router::new()
        .route("/v1/project", post(projects::create).get(projects::list))
        .route(
            "/v1/experiment",
            post(experiments::create).get(experiments::list),
        )
        .route("/v1/experiment/{experiment_id}", get(experiments::retrieve))
        .route(
            "/v1/experiment/{experiment_id}/insert",
            post(events::insert),
        )
        .route(
            "/v1/experiment/{experiment_id}/fetch",
            post(events::fetch_post).get(events::fetch_get),
        )
        .route(
            "/v1/experiment/{experiment_id}/summarize",
            get(experiments::summarize),
        )
        .route("/v1/dataset", post(datasets::create).get(datasets::list))
        .route(
            "/v1/dataset/{dataset_id}",
            get(datasets::retrieve)
                .patch(datasets::patch)
                .delete(datasets::delete),
        )
        .route(
            "/v1/dataset/{dataset_id}/insert",
            post(events::insert_dataset),
        )
        .route(
            "/v1/dataset/{dataset_id}/fetch",
            post(events::fetch_dataset_post).get(events::fetch_dataset_get),
        )
        .route(
            "/v1/prompt",
            post(prompts::create)
                .put(prompts::replace)
                .get(prompts::list),
        )
        .route("/v1/prompt/{prompt_id}", get(prompts::retrieve))
        .route_layer(axum::middleware::from_fn_with_state(
            std::sync::Arc::clone(state),
            require_key,
        ));
    Router::new()
        .merge(protected)
        .route("/v1", get(hello))
        .route("/_sim/braintrust", get(overview))
        .route("/_sim/braintrust/faults", post(set_faults).get(get_faults))
}

async fn hello() -> Response {
    text(StatusCode::OK, "Hello, World!")
}

/// Bearer auth: any non-empty key, or exactly the configured one.
async fn require_key(State(state): State<SimState>, request: Request, next: Next) -> Response {
    let given = bearer(request.headers());
    let accepted = match (&given, &state.config.braintrust_api_key) {
        (None, _) => false,
        (Some(key), Some(wanted)) => key == wanted,
        (Some(_), None) => true,
    };
    if !accepted {
        let why = if given.is_none() {
            "Missing `Authorization: Bearer <api key>` header"
        } else {
            "Invalid API key"
        };
        return text(StatusCode::UNAUTHORIZED, why);
    }
    next.run(request).await
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, key) = value.split_once(' ')?;
    let key = key.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !key.is_empty()).then(|| key.to_owned())
}

/// A plain-text answer, the way the service writes its errors.
pub(crate) fn text(status: StatusCode, message: &str) -> Response {
    (
        status,
        [("content-type", "text/plain; charset=utf-8")],
        message.to_owned(),
    )
        .into_response()
}

pub(crate) fn bad_request(message: &str) -> Response {
    text(StatusCode::BAD_REQUEST, message)
}

/// Parses a JSON request body; the error is the text of a 400 answer.
pub(crate) fn parse_body(body: &[u8]) -> Result<Value, String> {
    if body.is_empty() {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    serde_json::from_slice(body).map_err(|e| format!("The request body is not valid JSON: {e}"))
}

pub(crate) fn lock(state: &SimState) -> std::sync::MutexGuard<'_, Store> {
    state
        .braintrust
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Percent-encodes one URL path segment.
pub(crate) fn encode_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `GET /_sim/braintrust`: every project and experiment with its live rows and stored versions.
async fn overview(State(state): State<SimState>) -> Response {
    let store = lock(&state);
    let projects: Vec<Value> = store
        .projects
        .iter()
        .map(|p| {
            let experiments: Vec<Value> = store
                .experiments
                .iter()
                .filter(|e| e.project_id == p.id)
                .map(|e| {
                    json!({
                        "id": e.id,
                        "name": e.name(),
                        "rows": e.live_rows(),
                        "versions": e.history.len(),
                    })
                })
                .collect();
            let datasets: Vec<Value> = store
                .datasets
                .iter()
                .filter(|d| d.project_id == p.id)
                .map(|d| {
                    json!({
                        "id": d.id,
                        "name": d.name(),
                        "rows": d.live_rows(),
                        "versions": d.history.len(),
                    })
                })
                .collect();
            let prompts: Vec<Value> = store
                .prompts
                .iter()
                .filter(|q| q.project_id() == p.id)
                .map(prompts::Prompt::overview)
                .collect();
            json!({
                "id": p.id,
                "name": p.name,
                "org_name": p.org_name,
                "experiments": experiments,
                "datasets": datasets,
                "prompts": prompts,
            })
        })
        .collect();
    axum::Json(json!({
        "projects": projects,
        "inserts": store.inserts,
        "faults": store.faults,
    }))
    .into_response()
}

async fn get_faults(State(state): State<SimState>) -> Response {
    axum::Json(json!(lock(&state).faults)).into_response()
}

/// `POST /_sim/braintrust/faults {"insert_error_rate": 0.2, "insert_fail_after": null}`: the
/// fields given change, the others stay.
async fn set_faults(State(state): State<SimState>, body: axum::body::Bytes) -> Response {
    let Ok(Value::Object(changes)) = serde_json::from_slice::<Value>(&body) else {
        return bad_request("faults: the body must be a JSON object");
    };
    let mut faults = lock(&state).faults.clone();
    for (key, value) in &changes {
        match (key.as_str(), value) {
            ("insert_error_rate", Value::Number(n))
                if n.as_f64().is_some_and(|x| (0.0..=1.0).contains(&x)) =>
            {
                faults.insert_error_rate = n.as_f64().unwrap_or_default();
            }
            ("insert_error_rate", _) => {
                return bad_request("insert_error_rate: must be a share within 0..1");
            }
            ("insert_fail_after", Value::Null) => faults.insert_fail_after = None,
            ("insert_fail_after", Value::Number(n)) if n.as_u64().is_some() => {
                faults.insert_fail_after = n.as_u64();
            }
            ("insert_fail_after", _) => {
                return bad_request("insert_fail_after: must be a whole number or null");
            }
            (other, _) => {
                return bad_request(&format!(
                    "faults: unknown field `{other}` (insert_error_rate, insert_fail_after)"
                ));
            }
        }
    }
    let mut store = lock(&state);
    store.faults = faults;
    axum::Json(json!(store.faults)).into_response()
}

/// Query pairs as a map (the last value wins), keeping repeated `ids` apart.
pub(crate) fn query_map(pairs: &[(String, String)]) -> (BTreeMap<String, String>, Vec<String>) {
    let mut map = BTreeMap::new();
    let mut ids = Vec::new();
    for (k, v) in pairs {
        if k == "ids" || k == "ids[]" {
            ids.push(v.clone());
        } else {
            map.insert(k.clone(), v.clone());
        }
    }
    (map, ids)
}

/// Paging of list endpoints: `limit`, `starting_after`, `ending_before` over a newest-first list.
/// The error is the text of a 400 answer.
pub(crate) fn page<'a, T>(
    items: Vec<&'a T>,
    id_of: impl Fn(&T) -> &str,
    query: &BTreeMap<String, String>,
    default_limit: Option<usize>,
) -> Result<Vec<&'a T>, String> {
    let limit = match query.get("limit") {
        Some(text) => Some(
            text.parse::<usize>()
                .map_err(|_| format!("limit: `{text}` is not a count"))?,
        ),
        None => default_limit,
    };
    let after = query.get("starting_after");
    let before = query.get("ending_before");
    if after.is_some() && before.is_some() {
        return Err("Only one of starting_after and ending_before may be given".to_owned());
    }
    let mut items = items;
    if let Some(after) = after {
        let at = items.iter().position(|i| id_of(i) == after.as_str());
        items = at.map_or_else(Vec::new, |at| items.split_off(at + 1));
    }
    if let Some(before) = before {
        let at = items
            .iter()
            .position(|i| id_of(i) == before.as_str())
            .unwrap_or(0);
        items.truncate(at);
        if let Some(limit) = limit {
            let skip = items.len().saturating_sub(limit);
            items.drain(..skip);
        }
        return Ok(items);
    }
    if let Some(limit) = limit {
        items.truncate(limit);
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuid_shaped_and_distinct() {
        let mut store = Store::default();
        let a = store.next_uuid(42, "project");
        let b = store.next_uuid(42, "project");
        assert_ne!(a, b);
        for id in [&a, &b] {
            let parts: Vec<&str> = id.split('-').collect();
            assert_eq!(
                parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
                [8, 4, 4, 4, 12]
            );
            assert!(
                parts[2].starts_with('4') && parts[3].starts_with('8'),
                "{id}"
            );
        }
        assert!(store.next_xact() < store.next_xact());
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(
            encode_segment("Keyword Pipeline/v1"),
            "Keyword%20Pipeline%2Fv1"
        );
        assert_eq!(encode_segment("root_m12-x.y~z"), "root_m12-x.y~z");
    }

    #[test]
    fn bearer_keys_are_read_case_insensitively() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "bearer abc".parse().unwrap());
        assert_eq!(bearer(&headers).as_deref(), Some("abc"));
        headers.insert("authorization", "Bearer ".parse().unwrap());
        assert_eq!(bearer(&headers), None);
        headers.insert("authorization", "Basic abc".parse().unwrap());
        assert_eq!(bearer(&headers), None);
    }
}
