//! `/v1/dataset`: create (idempotent by name within a project), list, read, patch, delete. The
//! rows live in the same version history as experiment rows (see `events`).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::experiments::{Experiment, optional};
use super::{Kind, bad_request, lock, page, parse_body, query_map};
use crate::SimState;

/// Datasets listed when no `limit` is given.
const DEFAULT_LIST_LIMIT: usize = 1000;

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn is_string_list(v: &Value) -> bool {
    v.as_array()
        .is_some_and(|items| items.iter().all(Value::is_string))
}

/// The user-settable fields of a create or patch body, checked; absent fields are left out.
fn settable(body: &Map<String, Value>) -> Result<Map<String, Value>, String> {
    let mut fields = Map::new();
    for (field, check, what) in [
        (
            "description",
            Value::is_string as fn(&Value) -> bool,
            "a string",
        ),
        ("tags", is_string_list, "a list of strings"),
        ("metadata", Value::is_object, "an object"),
    ] {
        if body.contains_key(field) {
            let value = optional(body, field, check, what)?;
            fields.insert(field.to_owned(), value.cloned().unwrap_or(Value::Null));
        }
    }
    Ok(fields)
}

/// `POST /v1/dataset`: the existing dataset of that name in the project, unchanged, or a new one.
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

fn create_inner(state: &SimState, body: &Map<String, Value>) -> Result<Value, String> {
    let Some(Value::String(project_id)) = body.get("project_id") else {
        return Err("project_id: required string (uuid)".to_owned());
    };
    let name = match body.get("name") {
        Some(Value::String(n)) if !n.is_empty() => n.clone(),
        Some(Value::String(_)) => return Err("name: must not be empty".to_owned()),
        _ => return Err("name: required string".to_owned()),
    };
    let fields = settable(body)?;
    let seed = state.config.seed;
    let mut store = lock(state);
    if !store.projects.iter().any(|p| &p.id == project_id) {
        return Err(format!("project_id: no project with id {project_id}"));
    }
    if let Some(existing) = store
        .datasets
        .iter()
        .find(|d| &d.project_id == project_id && d.name() == name && !deleted(d))
    {
        return Ok(existing.object.clone());
    }
    let id = store.next_uuid(seed, "dataset");
    let mut object = json!({
        "id": id,
        "project_id": project_id,
        "name": name,
        "description": null,
        "created": now(),
        "deleted_at": null,
        "user_id": null,
        "tags": null,
        "metadata": null,
        "url_slug": slug(&name),
    });
    for (k, v) in fields {
        object[k.as_str()] = v;
    }
    store.datasets.push(Experiment {
        id,
        project_id: project_id.clone(),
        object: object.clone(),
        history: Vec::new(),
        current: BTreeMap::new(),
    });
    Ok(object)
}

/// The URL slug of a name: lower-case letters, digits and dashes.
fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_owned()
}

fn deleted(dataset: &Experiment) -> bool {
    !dataset.object["deleted_at"].is_null()
}

/// `GET /v1/dataset?project_id=&project_name=&dataset_name=&ids=&limit=&starting_after=`:
/// newest first, deleted datasets left out.
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
        .datasets
        .iter()
        .rev()
        .filter(|d| !deleted(d))
        .filter(|d| query.get("project_id").is_none_or(|p| &d.project_id == p))
        .filter(|d| {
            project_ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&d.project_id.as_str()))
        })
        .filter(|d| query.get("dataset_name").is_none_or(|n| d.name() == n))
        .filter(|d| ids.is_empty() || ids.contains(&d.id))
        .collect();
    match page(matching, |d| &d.id, &query, Some(DEFAULT_LIST_LIMIT)) {
        Ok(items) => {
            let objects: Vec<&Value> = items.iter().map(|d| &d.object).collect();
            axum::Json(json!({ "objects": objects })).into_response()
        }
        Err(message) => bad_request(&message),
    }
}

/// `GET /v1/dataset/{id}`.
pub(crate) async fn retrieve(State(state): State<SimState>, Path(id): Path<String>) -> Response {
    let store = lock(&state);
    match store.datasets.iter().find(|d| d.id == id && !deleted(d)) {
        Some(d) => axum::Json(d.object.clone()).into_response(),
        None => Kind::Dataset.not_found(&id),
    }
}

/// `PATCH /v1/dataset/{id}`: the fields given replace the stored ones (`name` too).
pub(crate) async fn patch(
    State(state): State<SimState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let body = match parse_body(&body) {
        Ok(Value::Object(b)) => b,
        Ok(_) => return bad_request("The request body must be a JSON object"),
        Err(message) => return bad_request(&message),
    };
    let mut fields = match settable(&body) {
        Ok(f) => f,
        Err(message) => return bad_request(&message),
    };
    match body.get("name") {
        None | Some(Value::Null) => {}
        Some(Value::String(n)) if !n.is_empty() => {
            fields.insert("name".to_owned(), json!(n));
        }
        Some(_) => return bad_request("name: must be a non-empty string"),
    }
    let mut store = lock(&state);
    let Some(at) = store
        .datasets
        .iter()
        .position(|d| d.id == id && !deleted(d))
    else {
        return Kind::Dataset.not_found(&id);
    };
    if let Some(Value::String(name)) = fields.get("name") {
        let project = store.datasets[at].project_id.clone();
        if store
            .datasets
            .iter()
            .any(|d| d.id != id && d.project_id == project && d.name() == name && !deleted(d))
        {
            return bad_request(&format!("name: a dataset named `{name}` already exists"));
        }
    }
    let dataset = &mut store.datasets[at];
    for (k, v) in fields {
        dataset.object[k.as_str()] = v;
    }
    axum::Json(dataset.object.clone()).into_response()
}

/// `DELETE /v1/dataset/{id}`: marks it deleted and answers it as it now is.
pub(crate) async fn delete(State(state): State<SimState>, Path(id): Path<String>) -> Response {
    let mut store = lock(&state);
    let Some(dataset) = store
        .datasets
        .iter_mut()
        .find(|d| d.id == id && !deleted(d))
    else {
        return Kind::Dataset.not_found(&id);
    };
    dataset.object["deleted_at"] = json!(now());
    axum::Json(dataset.object.clone()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_url_safe() {
        assert_eq!(slug("m12_golden_v1"), "m12-golden-v1");
        assert_eq!(slug("  Gold set (v2) "), "gold-set-v2");
    }
}
