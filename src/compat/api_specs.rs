//! The machine-readable API documents of the legacy doors, served beside them:
//! `GET /openapi.json` (the REST routes, `openapi.rs`) and
//! `GET /asyncapi.json` (the Socket.IO events, `asyncapi.rs`).
//!
//! Mounted by `rest::router()`, the one entry point `http.rs` takes from the
//! compat doors. Both documents are rendered once, when the router is built.

use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use serde::Serialize;

use super::asyncapi;

/// `GET /openapi.json` with the given document and `GET /asyncapi.json`.
pub fn router<S: Clone + Send + Sync + 'static>(openapi: utoipa::openapi::OpenApi) -> Router<S> {
    let openapi = rendered(&openapi);
    let asyncapi = rendered(&asyncapi::document());
    Router::new()
        .route("/openapi.json", get(move || json_document(openapi.clone())))
        .route(
            "/asyncapi.json",
            get(move || json_document(asyncapi.clone())),
        )
}

fn rendered(document: &impl Serialize) -> Bytes {
    serde_json::to_vec(document)
        .map(Bytes::from)
        .expect("BUG: the API documents are plain JSON (string keys, finite numbers)")
}

async fn json_document(body: Bytes) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], body)
}
