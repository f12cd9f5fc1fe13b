//! The OpenAI side: `/v1/chat/completions`, `/v1/files…` and `/v1/batches…`.

pub(crate) mod batches;
pub(crate) mod chat;
pub(crate) mod files;

use axum::Router;
use axum::routing::{get, post};

use crate::SimState;

pub(crate) fn routes() -> Router<SimState> {
    Router::new()
        .route("/v1/chat/completions", post(chat::handler))
        .route("/v1/files", post(files::upload).get(files::list))
        .route(
            "/v1/files/{file_id}",
            get(files::retrieve).delete(files::delete),
        )
        .route("/v1/files/{file_id}/content", get(files::content))
        .route("/v1/batches", post(batches::create).get(batches::list))
        .route("/v1/batches/{batch_id}", get(batches::retrieve))
        .route("/v1/batches/{batch_id}/cancel", post(batches::cancel))
}
