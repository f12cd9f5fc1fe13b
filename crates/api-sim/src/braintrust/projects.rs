//! `/v1/project`: create (idempotent by name) and list.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{ORG_ID, bad_request, lock, page, parse_body, query_map};
use crate::SimState;

/// Organisation name used when a request names none.
pub(crate) const DEFAULT_ORG: &str = "sim-org";

#[derive(Debug, Clone)]
pub(crate) struct Project {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) org_name: String,
    description: Option<String>,
    created: String,
}

impl Project {
    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "org_id": ORG_ID,
            "name": self.name,
            "description": self.description,
            "created": self.created,
            "deleted_at": null,
            "user_id": null,
            "settings": null,
        })
    }
}

/// `POST /v1/project`: the existing project of that name, unchanged, or a new one.
pub(crate) async fn create(State(state): State<SimState>, body: Bytes) -> Response {
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(message) => return bad_request(&message),
    };
    let name = match body.get("name") {
        Some(Value::String(n)) if !n.is_empty() => n.clone(),
        Some(Value::String(_)) => return bad_request("name: must not be empty"),
        _ => return bad_request("name: required string"),
    };
    let org_name = match body.get("org_name") {
        Some(Value::String(o)) => o.clone(),
        None | Some(Value::Null) => DEFAULT_ORG.to_owned(),
        Some(_) => return bad_request("org_name: must be a string"),
    };
    let description = match body.get("description") {
        Some(Value::String(d)) => Some(d.clone()),
        None | Some(Value::Null) => None,
        Some(_) => return bad_request("description: must be a string"),
    };
    let seed = state.config.seed;
    let mut store = lock(&state);
    if let Some(existing) = store
        .projects
        .iter()
        .find(|p| p.name == name && p.org_name == org_name)
    {
        return axum::Json(existing.to_json()).into_response();
    }
    let project = Project {
        id: store.next_uuid(seed, "project"),
        name,
        org_name,
        description,
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    };
    let answer = project.to_json();
    store.projects.push(project);
    axum::Json(answer).into_response()
}

/// `GET /v1/project?project_name=&org_name=&limit=&starting_after=&ids=`: newest first.
pub(crate) async fn list(
    State(state): State<SimState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let (query, ids) = query_map(&pairs);
    let store = lock(&state);
    let matching: Vec<&Project> = store
        .projects
        .iter()
        .rev()
        .filter(|p| query.get("project_name").is_none_or(|n| &p.name == n))
        .filter(|p| query.get("org_name").is_none_or(|o| &p.org_name == o))
        .filter(|p| ids.is_empty() || ids.contains(&p.id))
        .collect();
    match page(matching, |p| &p.id, &query, None) {
        Ok(items) => {
            let objects: Vec<Value> = items.iter().map(|p| p.to_json()).collect();
            axum::Json(json!({ "objects": objects })).into_response()
        }
        Err(message) => bad_request(&message),
    }
}
