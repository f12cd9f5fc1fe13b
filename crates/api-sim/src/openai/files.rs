//! `/v1/files`: multipart upload, listing, metadata, content and deletion, held in memory.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::SimState;
use crate::util::{api_error, unix_now};

const PURPOSES: [&str; 6] = [
    "assistants",
    "batch",
    "fine-tune",
    "vision",
    "user_data",
    "evals",
];

/// Files live 30 days unless the upload says otherwise.
const DEFAULT_EXPIRY_SECONDS: i64 = 30 * 24 * 3600;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct FileMeta {
    pub(crate) id: String,
    object: &'static str,
    pub(crate) bytes: usize,
    created_at: i64,
    expires_at: Option<i64>,
    pub(crate) filename: String,
    pub(crate) purpose: String,
    status: &'static str,
    status_details: Option<String>,
}

pub(crate) struct StoredFile {
    pub(crate) meta: FileMeta,
    pub(crate) content: Bytes,
}

#[derive(Default)]
pub(crate) struct FileStore {
    files: BTreeMap<String, StoredFile>,
    order: Vec<String>,
}

impl FileStore {
    pub(crate) fn insert(
        &mut self,
        id: String,
        filename: String,
        purpose: &str,
        content: Bytes,
        expires_after: Option<i64>,
    ) -> FileMeta {
        let created_at = unix_now();
        let meta = FileMeta {
            id: id.clone(),
            object: "file",
            bytes: content.len(),
            created_at,
            expires_at: Some(created_at + expires_after.unwrap_or(DEFAULT_EXPIRY_SECONDS)),
            filename,
            purpose: purpose.to_owned(),
            status: "processed",
            status_details: None,
        };
        self.order.push(id.clone());
        self.files.insert(
            id,
            StoredFile {
                meta: meta.clone(),
                content,
            },
        );
        meta
    }

    pub(crate) fn get(&self, id: &str) -> Option<&StoredFile> {
        self.files.get(id)
    }
}

fn no_such_file(id: &str) -> Response {
    api_error(
        StatusCode::NOT_FOUND,
        &format!("No such File object: {id}"),
        "invalid_request_error",
        Some("id"),
        None,
    )
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

pub(crate) async fn upload(State(state): State<SimState>, mut multipart: Multipart) -> Response {
    let mut file: Option<(String, Bytes)> = None;
    let mut purpose: Option<String> = None;
    let mut expires_after: Option<i64> = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return bad(&format!("Malformed multipart body: {e}"), None),
        };
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "file" => {
                let filename = field.file_name().unwrap_or("upload").to_owned();
                match field.bytes().await {
                    Ok(bytes) => file = Some((filename, bytes)),
                    Err(e) => return bad(&format!("Cannot read the file part: {e}"), Some("file")),
                }
            }
            "purpose" => purpose = field.text().await.ok(),
            "expires_after[seconds]" => {
                expires_after = field.text().await.ok().and_then(|t| t.trim().parse().ok());
            }
            _ => {}
        }
    }
    let Some(purpose) = purpose else {
        return bad("Missing required parameter: 'purpose'.", Some("purpose"));
    };
    if !PURPOSES.contains(&purpose.as_str()) {
        return bad(
            &format!(
                "'{purpose}' is not one of {} - 'purpose'",
                PURPOSES.join(", ")
            ),
            Some("purpose"),
        );
    }
    let Some((filename, content)) = file else {
        return bad("Missing required parameter: 'file'.", Some("file"));
    };
    if purpose == "batch" && !filename.ends_with(".jsonl") {
        return bad(
            "Invalid file format for Batch API. Must be .jsonl",
            Some("file"),
        );
    }
    if let Some(seconds) = expires_after
        && !(3600..=2_592_000).contains(&seconds)
    {
        return bad(
            "expires_after[seconds] must be between 3600 and 2592000",
            Some("expires_after"),
        );
    }
    let id = state.next_id("file-");
    let meta = state
        .files
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(id, filename, &purpose, content, expires_after);
    axum::Json(meta).into_response()
}

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    purpose: Option<String>,
    limit: Option<usize>,
    order: Option<String>,
    after: Option<String>,
}

pub(crate) async fn list(State(state): State<SimState>, Query(q): Query<ListQuery>) -> Response {
    let files = state
        .files
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut ids: Vec<&String> = files.order.iter().collect();
    if q.order.as_deref() != Some("asc") {
        ids.reverse();
    }
    let mut metas: Vec<&FileMeta> = ids
        .into_iter()
        .filter_map(|id| files.files.get(id))
        .map(|f| &f.meta)
        .filter(|m| q.purpose.as_ref().is_none_or(|p| &m.purpose == p))
        .collect();
    if let Some(after) = &q.after
        && let Some(at) = metas.iter().position(|m| &m.id == after)
    {
        metas.drain(..=at);
    }
    let limit = q.limit.unwrap_or(10_000).clamp(1, 10_000);
    let has_more = metas.len() > limit;
    metas.truncate(limit);
    axum::Json(json!({
        "object": "list",
        "first_id": metas.first().map(|m| &m.id),
        "last_id": metas.last().map(|m| &m.id),
        "has_more": has_more,
        "data": metas,
    }))
    .into_response()
}

pub(crate) async fn retrieve(State(state): State<SimState>, Path(id): Path<String>) -> Response {
    let files = state
        .files
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match files.get(&id) {
        Some(file) => axum::Json(&file.meta).into_response(),
        None => no_such_file(&id),
    }
}

pub(crate) async fn content(State(state): State<SimState>, Path(id): Path<String>) -> Response {
    let files = state
        .files
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match files.get(&id) {
        Some(file) => (
            [("content-type", "application/octet-stream")],
            file.content.clone(),
        )
            .into_response(),
        None => no_such_file(&id),
    }
}

pub(crate) async fn delete(State(state): State<SimState>, Path(id): Path<String>) -> Response {
    let mut files = state
        .files
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if files.files.remove(&id).is_none() {
        return no_such_file(&id);
    }
    files.order.retain(|f| f != &id);
    axum::Json(json!({"id": id, "object": "file", "deleted": true})).into_response()
}
