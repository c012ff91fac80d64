//! `/chat/messages`: history over REST, and sending.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;

use super::{AppJson, number_param, page_body};
use crate::auth::Principal;
use crate::compat::envelope;
use crate::compat::wire::MessageBody;
use crate::domain::UserId;
use crate::error::AppError;
use crate::http::AppState;
use crate::services::{MessageListing, Outgoing};

/// History query parameters: `before` (a cursor from `meta.nextCursor`) and `limit`.
#[derive(Deserialize)]
pub struct HistoryParams {
    before: Option<String>,
    limit: Option<String>,
}

/// `POST /chat/messages` body; a `from` field, if sent, is ignored.
#[derive(Deserialize)]
pub struct SendMessageBody {
    to: String,
    text: String,
}

fn listing(params: &HistoryParams) -> Result<MessageListing, AppError> {
    let limit = number_param("limit", params.limit.as_deref())?;
    MessageListing::parse(limit.map(|n: f64| n as i64), params.before.as_deref())
}

/// All the caller's messages, chronological within the page; `meta.nextCursor`
/// pages further back.
pub async fn list_messages(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<HistoryParams>,
) -> Result<impl IntoResponse, AppError> {
    let page = state
        .services
        .chat
        .all_messages(&principal, listing(&params)?)
        .await?;
    Ok(Json(page_body(
        page.map(|message| MessageBody::from(&message)),
    )))
}

/// The thread with user `:id`, chronological within the page.
pub async fn thread(
    State(state): State<AppState>,
    principal: Principal,
    Path(peer): Path<String>,
    Query(params): Query<HistoryParams>,
) -> Result<impl IntoResponse, AppError> {
    let peer = UserId::parse(&peer).map_err(|e| e.on("id"))?;
    let page = state
        .services
        .chat
        .thread(&principal, &peer, listing(&params)?)
        .await?;
    Ok(Json(page_body(
        page.map(|message| MessageBody::from(&message)),
    )))
}

/// Sends a message (the same service as `send_message` and `sendMessage`).
pub async fn send_message(
    State(state): State<AppState>,
    principal: Principal,
    AppJson(body): AppJson<SendMessageBody>,
) -> Result<impl IntoResponse, AppError> {
    let outgoing = Outgoing::parse(&body.to, &body.text)?;
    let message = state.services.chat.send(&principal, outgoing, None).await?;
    Ok((
        StatusCode::CREATED,
        Json(envelope::success(MessageBody::from(&message))),
    ))
}
