//! `/v1/experiment`: create (idempotent by name within a project), list, read, summarize.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::events::Version;
use super::{bad_request, encode_segment, lock, page, parse_body, query_map, text};
use crate::SimState;

/// Experiments listed when no `limit` is given (the service's default).
const DEFAULT_LIST_LIMIT: usize = 1000;

#[derive(Debug)]
pub(crate) struct Experiment {
    pub(crate) id: String,
    pub(crate) project_id: String,
    /// The experiment object as the API returns it.
    pub(crate) object: Value,
    /// Every stored version of every row, oldest first.
    pub(crate) history: Vec<Version>,
    /// Row id → index in `history` of its newest version.
    pub(crate) current: BTreeMap<String, usize>,
}

impl Experiment {
    pub(crate) fn name(&self) -> &str {
        self.object["name"].as_str().unwrap_or_default()
    }

    /// Rows that exist now (not deleted).
    pub(crate) fn live_rows(&self) -> usize {
        self.current
            .values()
            .filter(|&&i| !self.history[i].deleted)
            .count()
    }
}

pub(crate) fn optional<'a>(
    body: &'a Map<String, Value>,
    field: &str,
    check: fn(&Value) -> bool,
    what: &str,
) -> Result<Option<&'a Value>, String> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) if check(v) => Ok(Some(v)),
        Some(_) => Err(format!("{field}: must be {what}")),
    }
}

/// `POST /v1/experiment`.
pub(crate) async fn create(State(state): State<SimState>, body: Bytes) -> Response {
    let body = match parse_body(&body) {
        Ok(Value::Object(b)) => b,
        Ok(_) => return bad_request("The request body must be a JSON object"),
        Err(message) => return bad_request(&message),
    };
    match create_inner(&state, &body) {
        Ok(object) => axum::Json(object).into_response(),
        Err(message) => bad_request(&message),
    }
}

/// Creates (or finds) the experiment; the error is the text of a 400 answer.
fn create_inner(state: &SimState, body: &Map<String, Value>) -> Result<Value, String> {
    let Some(Value::String(project_id)) = body.get("project_id") else {
        return Err("project_id: required string (uuid)".to_owned());
    };
    let is_str = |v: &Value| v.is_string();
    let name = optional(body, "name", is_str, "a string")?
        .and_then(Value::as_str)
        .map(str::to_owned);
    if name.as_deref() == Some("") {
        return Err("name: must not be empty".to_owned());
    }
    let ensure_new = optional(body, "ensure_new", Value::is_boolean, "a boolean")?
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut fields = Map::new();
    for (field, check, what) in [
        ("description", is_str as fn(&Value) -> bool, "a string"),
        ("repo_info", Value::is_object, "an object"),
        ("base_exp_id", is_str, "a string"),
        ("dataset_id", is_str, "a string"),
        ("dataset_version", is_str, "a string"),
        ("parameters_id", is_str, "a string"),
        ("parameters_version", is_str, "a string"),
        ("public", Value::is_boolean, "a boolean"),
        ("metadata", Value::is_object, "an object"),
        ("internal_metadata", Value::is_object, "an object"),
    ] {
        let value = optional(body, field, check, what)?;
        fields.insert(field.to_owned(), value.cloned().unwrap_or(Value::Null));
    }
    let tags = optional(
        body,
        "tags",
        |v| {
            v.as_array()
                .is_some_and(|items| items.iter().all(Value::is_string))
        },
        "a list of strings",
    )?;
    fields.insert("tags".to_owned(), tags.cloned().unwrap_or(Value::Null));

    let seed = state.config.seed;
    let mut store = lock(state);
    if !store.projects.iter().any(|p| &p.id == project_id) {
        return Err(format!("project_id: no project with id {project_id}"));
    }
    let taken = |store: &super::Store, name: &str| {
        store
            .experiments
            .iter()
            .find(|e| &e.project_id == project_id && e.name() == name)
            .map(|e| e.object.clone())
    };
    let name = match name {
        Some(name) => {
            if let Some(existing) = taken(&store, &name) {
                if !ensure_new {
                    return Ok(existing);
                }
                (1u32..)
                    .map(|n| format!("{name}-{n}"))
                    .find(|candidate| taken(&store, candidate).is_none())
                    .unwrap_or(name)
            } else {
                name
            }
        }
        None => (1u32..)
            .map(|n| format!("experiment-{n}"))
            .find(|candidate| taken(&store, candidate).is_none())
            .unwrap_or_default(),
    };
    let id = store.next_uuid(seed, "experiment");
    let commit = fields["repo_info"]
        .get("commit")
        .cloned()
        .unwrap_or(Value::Null);
    let mut object = Map::new();
    object.insert("id".to_owned(), json!(id));
    object.insert("project_id".to_owned(), json!(project_id));
    object.insert("name".to_owned(), json!(name));
    object.insert(
        "created".to_owned(),
        json!(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
    );
    object.insert("commit".to_owned(), commit);
    object.insert("deleted_at".to_owned(), Value::Null);
    object.insert("user_id".to_owned(), Value::Null);
    for (k, v) in fields {
        object.insert(k, v);
    }
    if object["public"].is_null() {
        object.insert("public".to_owned(), Value::Bool(false));
    }
    let object = Value::Object(object);
    store.experiments.push(Experiment {
        id,
        project_id: project_id.clone(),
        object: object.clone(),
        history: Vec::new(),
        current: BTreeMap::new(),
    });
    Ok(object)
}

/// `GET /v1/experiment?project_id=&project_name=&experiment_name=&limit=&starting_after=`.
pub(crate) async fn list(
    State(state): State<SimState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let (query, ids) = query_map(&pairs);
    let store = lock(&state);
    let project_ids: Option<Vec<&str>> = query.get("project_name").map(|name| {
        store
            .projects
            .iter()
            .filter(|p| &p.name == name)
            .filter(|p| query.get("org_name").is_none_or(|o| &p.org_name == o))
            .map(|p| p.id.as_str())
            .collect()
    });
    let matching: Vec<&Experiment> = store
        .experiments
        .iter()
        .rev()
        .filter(|e| query.get("project_id").is_none_or(|p| &e.project_id == p))
        .filter(|e| {
            project_ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&e.project_id.as_str()))
        })
        .filter(|e| query.get("experiment_name").is_none_or(|n| e.name() == n))
        .filter(|e| ids.is_empty() || ids.contains(&e.id))
        .collect();
    match page(matching, |e| &e.id, &query, Some(DEFAULT_LIST_LIMIT)) {
        Ok(items) => {
            let objects: Vec<&Value> = items.iter().map(|e| &e.object).collect();
            axum::Json(json!({ "objects": objects })).into_response()
        }
        Err(message) => bad_request(&message),
    }
}

pub(crate) fn not_found(id: &str) -> Response {
    text(
        StatusCode::NOT_FOUND,
        &format!("No experiment with id {id} (or you lack access to it)"),
    )
}

/// `GET /v1/experiment/{id}`.
pub(crate) async fn retrieve(State(state): State<SimState>, Path(id): Path<String>) -> Response {
    let store = lock(&state);
    match store.experiments.iter().find(|e| e.id == id) {
        Some(e) => axum::Json(e.object.clone()).into_response(),
        None => not_found(&id),
    }
}

/// The app's base URL: configured, or this simulator's own address so links never point at
/// the real service.
fn app_url(state: &SimState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.config.braintrust_app_url {
        return url.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

/// `GET /v1/experiment/{id}/summarize?summarize_scores=true`.
pub(crate) async fn summarize(
    State(state): State<SimState>,
    Path(id): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let app = app_url(&state, &headers);
    let store = lock(&state);
    let Some(experiment) = store.experiments.iter().find(|e| e.id == id) else {
        return not_found(&id);
    };
    let Some(project) = store
        .projects
        .iter()
        .find(|p| p.id == experiment.project_id)
    else {
        return not_found(&id);
    };
    let project_url = format!(
        "{app}/app/{}/p/{}",
        encode_segment(&project.org_name),
        encode_segment(&project.name)
    );
    let experiment_url = format!(
        "{project_url}/experiments/{}",
        encode_segment(experiment.name())
    );
    let comparison = experiment.object["base_exp_id"]
        .as_str()
        .and_then(|base| store.experiments.iter().find(|e| e.id == base))
        .map(|e| e.name().to_owned());
    let mut answer = json!({
        "project_name": project.name,
        "experiment_name": experiment.name(),
        "project_url": project_url,
        "experiment_url": experiment_url,
        "comparison_experiment_name": comparison,
    });
    let wanted = query
        .get("summarize_scores")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if wanted {
        answer["scores"] = averages(
            experiment,
            "scores",
            |name, mean| json!({"name": name, "score": mean, "improvements": 0, "regressions": 0}),
        );
        answer["metrics"] = averages(
            experiment,
            "metrics",
            |name, mean| json!({"name": name, "metric": mean, "unit": "", "improvements": 0, "regressions": 0}),
        );
    }
    axum::Json(answer).into_response()
}

/// Means of the numbers under `field` across live rows, one summary object per name.
fn averages(experiment: &Experiment, field: &str, make: impl Fn(&str, f64) -> Value) -> Value {
    let mut sums: BTreeMap<String, (f64, u64)> = BTreeMap::new();
    for &i in experiment.current.values() {
        let version = &experiment.history[i];
        if version.deleted {
            continue;
        }
        if let Some(values) = version.row().get(field).and_then(Value::as_object) {
            for (name, value) in values {
                if let Some(x) = value.as_f64() {
                    let entry = sums.entry(name.clone()).or_default();
                    entry.0 += x;
                    entry.1 += 1;
                }
            }
        }
    }
    let map: Map<String, Value> = sums
        .into_iter()
        .map(|(name, (sum, n))| {
            #[expect(clippy::cast_precision_loss, reason = "row counts are small")]
            let mean = sum / n as f64;
            let summary = make(&name, mean);
            (name, summary)
        })
        .collect();
    Value::Object(map)
}
