//! `/v1/prompt`: create (an existing slug in the project is returned unchanged), create or
//! replace by slug (`PUT`: a new version under the same id), list and read.
//!
//! The published `CreatePrompt` schema has no `metadata`, but the `Prompt` object does; a
//! `metadata` object sent on create or replace is kept (and anything else unknown is dropped).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::{ORG_ID, bad_request, lock, page, parse_body, query_map, text};
use crate::SimState;

/// Prompts listed when no `limit` is given.
const DEFAULT_LIST_LIMIT: usize = 1000;

#[derive(Debug)]
pub(crate) struct Prompt {
    /// The prompt as the API returns it (its current version).
    object: Value,
    /// How many versions it has had.
    versions: usize,
}

impl Prompt {
    pub(crate) fn project_id(&self) -> &str {
        self.object["project_id"].as_str().unwrap_or_default()
    }

    fn slug(&self) -> &str {
        self.object["slug"].as_str().unwrap_or_default()
    }

    fn id(&self) -> &str {
        self.object["id"].as_str().unwrap_or_default()
    }

    /// What `GET /_sim/braintrust` shows of it.
    pub(crate) fn overview(&self) -> Value {
        json!({
            "id": self.id(),
            "slug": self.slug(),
            "name": self.object["name"],
            "version": self.object["_xact_id"],
            "versions": self.versions,
        })
    }
}

/// A create body, checked: the fields the prompt object takes from it.
fn checked(body: &Map<String, Value>) -> Result<(String, Map<String, Value>), String> {
    let Some(Value::String(project_id)) = body.get("project_id") else {
        return Err("project_id: required string (uuid)".to_owned());
    };
    let mut fields = Map::new();
    for field in ["name", "slug"] {
        match body.get(field) {
            Some(Value::String(v)) if !v.is_empty() => {
                fields.insert(field.to_owned(), json!(v));
            }
            Some(Value::String(_)) => return Err(format!("{field}: must not be empty")),
            _ => return Err(format!("{field}: required string")),
        }
    }
    let is_str = |v: &Value| v.is_string();
    let is_string_list = |v: &Value| {
        v.as_array()
            .is_some_and(|items| items.iter().all(Value::is_string))
    };
    for (field, check, what) in [
        (
            "description",
            &is_str as &dyn Fn(&Value) -> bool,
            "a string",
        ),
        ("prompt_data", &Value::is_object, "an object"),
        ("tags", &is_string_list, "a list of strings"),
        ("function_type", &is_str, "a string"),
        ("metadata", &Value::is_object, "an object"),
    ] {
        let value = match body.get(field) {
            None | Some(Value::Null) => None,
            Some(v) if check(v) => Some(v),
            Some(_) => return Err(format!("{field}: must be {what}")),
        };
        fields.insert(field.to_owned(), value.cloned().unwrap_or(Value::Null));
    }
    check_prompt_data(&fields["prompt_data"])?;
    Ok((project_id.clone(), fields))
}

/// The parts of `prompt_data` the service checks: a chat prompt's messages have roles, options
/// are an object whose `params` is an object.
fn check_prompt_data(data: &Value) -> Result<(), String> {
    if data.is_null() {
        return Ok(());
    }
    match &data["prompt"] {
        Value::Null => {}
        Value::Object(prompt) => match prompt.get("type").and_then(Value::as_str) {
            Some("chat") => {
                let Some(messages) = prompt.get("messages").and_then(Value::as_array) else {
                    return Err("prompt_data.prompt.messages: required list".to_owned());
                };
                for (i, m) in messages.iter().enumerate() {
                    let role = m.get("role").and_then(Value::as_str);
                    if !matches!(
                        role,
                        Some(
                            "system"
                                | "user"
                                | "assistant"
                                | "tool"
                                | "function"
                                | "developer"
                                | "model"
                        )
                    ) {
                        return Err(format!(
                            "prompt_data.prompt.messages[{i}].role: must be system, user, assistant, tool, function, developer or model"
                        ));
                    }
                }
            }
            Some("completion") => {
                if !prompt.get("content").is_some_and(Value::is_string) {
                    return Err("prompt_data.prompt.content: required string".to_owned());
                }
            }
            _ => return Err("prompt_data.prompt.type: must be chat or completion".to_owned()),
        },
        _ => return Err("prompt_data.prompt: must be an object".to_owned()),
    }
    match &data["options"] {
        Value::Null => {}
        Value::Object(options) => {
            if let Some(params) = options.get("params")
                && !params.is_object()
            {
                return Err("prompt_data.options.params: must be an object".to_owned());
            }
        }
        _ => return Err("prompt_data.options: must be an object".to_owned()),
    }
    Ok(())
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, String> {
    match parse_body(body)? {
        Value::Object(b) => Ok(b),
        _ => Err("The request body must be a JSON object".to_owned()),
    }
}

/// `POST /v1/prompt`.
pub(crate) async fn create(State(state): State<SimState>, body: Bytes) -> Response {
    store_prompt(&state, &body, false)
}

/// `PUT /v1/prompt`.
pub(crate) async fn replace(State(state): State<SimState>, body: Bytes) -> Response {
    store_prompt(&state, &body, true)
}

fn store_prompt(state: &SimState, body: &[u8], replace: bool) -> Response {
    let (project_id, fields) = match parse_object(body).and_then(|b| checked(&b)) {
        Ok(checked) => checked,
        Err(message) => return bad_request(&message),
    };
    let seed = state.config.seed;
    let mut store = lock(state);
    if !store.projects.iter().any(|p| p.id == project_id) {
        return bad_request(&format!("project_id: no project with id {project_id}"));
    }
    let slug = fields["slug"].as_str().unwrap_or_default().to_owned();
    let existing = store
        .prompts
        .iter()
        .position(|p| p.project_id() == project_id && p.slug() == slug);
    if let (Some(at), false) = (existing, replace) {
        return axum::Json(store.prompts[at].object.clone()).into_response();
    }
    let xact = store.next_xact();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let (id, created, versions) = match existing {
        Some(at) => {
            let old = &store.prompts[at];
            (
                old.id().to_owned(),
                old.object["created"].clone(),
                old.versions,
            )
        }
        None => (store.next_uuid(seed, "prompt"), json!(now), 0),
    };
    let mut object = json!({
        "id": id,
        "_xact_id": xact,
        "project_id": project_id,
        "log_id": "p",
        "org_id": ORG_ID,
        "created": created,
    });
    for (k, v) in fields {
        object[k.as_str()] = v;
    }
    let prompt = Prompt {
        object: object.clone(),
        versions: versions + 1,
    };
    match existing {
        Some(at) => store.prompts[at] = prompt,
        None => store.prompts.push(prompt),
    }
    axum::Json(object).into_response()
}

/// `GET /v1/prompt?project_id=&project_name=&slug=&prompt_name=&ids=&limit=&starting_after=`:
/// newest first.
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
            .map(|p| p.id.as_str())
            .collect()
    });
    let matching: Vec<&Prompt> = store
        .prompts
        .iter()
        .rev()
        .filter(|p| {
            query
                .get("project_id")
                .is_none_or(|id| p.project_id() == id)
        })
        .filter(|p| {
            project_ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&p.project_id()))
        })
        .filter(|p| query.get("slug").is_none_or(|s| p.slug() == s))
        .filter(|p| {
            query
                .get("prompt_name")
                .is_none_or(|n| p.object["name"].as_str() == Some(n))
        })
        .filter(|p| ids.is_empty() || ids.iter().any(|id| id == p.id()))
        .collect();
    match page(matching, Prompt::id, &query, Some(DEFAULT_LIST_LIMIT)) {
        Ok(items) => {
            let objects: Vec<&Value> = items.iter().map(|p| &p.object).collect();
            axum::Json(json!({ "objects": objects })).into_response()
        }
        Err(message) => bad_request(&message),
    }
}

/// `GET /v1/prompt/{id}`.
pub(crate) async fn retrieve(State(state): State<SimState>, Path(id): Path<String>) -> Response {
    let store = lock(&state);
    match store.prompts.iter().find(|p| p.id() == id) {
        Some(p) => axum::Json(p.object.clone()).into_response(),
        None => text(
            axum::http::StatusCode::NOT_FOUND,
            &format!("No prompt with id {id} (or you lack access to it)"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_data_is_checked() {
        assert!(check_prompt_data(&Value::Null).is_ok());
        assert!(
            check_prompt_data(&json!({"prompt": {"type": "chat", "messages": [{"role": "user", "content": "hi"}]}, "options": {"model": "gpt-4o-mini", "params": {"temperature": 0}}}))
                .is_ok()
        );
        assert!(
            check_prompt_data(&json!({"prompt": {"type": "chat", "messages": [{"role": "bot"}]}}))
                .is_err()
        );
        assert!(check_prompt_data(&json!({"prompt": {"type": "chat"}})).is_err());
        assert!(check_prompt_data(&json!({"options": {"params": 3}})).is_err());
    }
}
