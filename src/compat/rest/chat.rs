//! `/chat/messages`: history over REST, and sending.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::extract::IdempotencyKeyHeader;
use super::{AppJson, number_param, page_body};
use crate::auth::Principal;
use crate::compat::envelope;
use crate::compat::openapi::{ErrorEnvelope, MessageEnvelope, MessagePage};
use crate::compat::wire::MessageBody;
use crate::domain::{MessageListing, Outgoing, UserId};
use crate::error::AppError;
use crate::services::Services;

/// History query parameters: `before` (a cursor from `meta.nextCursor`) and `limit`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// `meta.nextCursor` of the previous page: older messages.
    before: Option<String>,
    /// Items per page: 20 by default, at most 100 (more is clamped).
    #[param(value_type = Option<i64>)]
    limit: Option<String>,
}

/// `POST /chat/messages` body; a `from` field, if sent, is ignored.
#[derive(Deserialize, ToSchema)]
pub struct SendMessageBody {
    /// The recipient's user id.
    to: String,
    text: String,
}

fn listing(params: &HistoryParams) -> Result<MessageListing, AppError> {
    let limit = number_param("limit", params.limit.as_deref())?;
    MessageListing::parse(limit.map(|n: f64| n as i64), params.before.as_deref())
}

/// All the caller's messages.
///
/// Chronological within the page; `meta.nextCursor` pages further back.
#[utoipa::path(
    get,
    path = "/chat/messages",
    tag = "chat",
    params(HistoryParams),
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "A page of the caller's messages", body = MessagePage),
        (status = 400, description = "A bad limit or cursor", body = ErrorEnvelope),
        (status = 401, description = "No token, or a bad or expired one", body = ErrorEnvelope),
    )
)]
pub async fn list_messages(
    State(services): State<Services>,
    principal: Principal,
    Query(params): Query<HistoryParams>,
) -> Result<impl IntoResponse, AppError> {
    let page = services
        .chat
        .all_messages(&principal, listing(&params)?)
        .await?;
    Ok(Json(page_body(
        page.map(|message| MessageBody::from(&message)),
    )))
}

/// The thread with user `:id`.
///
/// Chronological within the page; `meta.nextCursor` pages further back.
#[utoipa::path(
    get,
    path = "/chat/messages/{id}",
    tag = "chat",
    params(
        ("id" = String, Path, description = "The other participant's user id"),
        HistoryParams,
    ),
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "A page of the thread", body = MessagePage),
        (status = 400, description = "A malformed id, a bad limit or cursor", body = ErrorEnvelope),
        (status = 401, description = "No token, or a bad or expired one", body = ErrorEnvelope),
    )
)]
pub async fn thread(
    State(services): State<Services>,
    principal: Principal,
    Path(peer): Path<String>,
    Query(params): Query<HistoryParams>,
) -> Result<impl IntoResponse, AppError> {
    let peer = UserId::parse(&peer).map_err(|e| e.on("id"))?;
    let page = services
        .chat
        .thread(&principal, &peer, listing(&params)?)
        .await?;
    Ok(Json(page_body(
        page.map(|message| MessageBody::from(&message)),
    )))
}

/// Sends a chat message.
///
/// The same service as `send_message` and `sendMessage`; the recipient
/// hears `receive_message`. Any `from` in the body is ignored.
#[utoipa::path(
    post,
    path = "/chat/messages",
    tag = "chat",
    request_body = SendMessageBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key from the same user within 24 hours returns the first result; with a different body, 409")),
    security(("bearerAuth" = [])),
    responses(
        (status = 201, description = "The message, stored", body = MessageEnvelope),
        (status = 400, description = "A malformed body, an empty or too long text, or a message to oneself", body = ErrorEnvelope),
        (status = 401, description = "No token, or a bad or expired one", body = ErrorEnvelope),
        (status = 404, description = "No such recipient", body = ErrorEnvelope),
        (status = 409, description = "The Idempotency-Key was used for another request", body = ErrorEnvelope),
        (status = 429, description = "Too many messages", body = ErrorEnvelope,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn send_message(
    State(services): State<Services>,
    principal: Principal,
    IdempotencyKeyHeader(key): IdempotencyKeyHeader,
    AppJson(body): AppJson<SendMessageBody>,
) -> Result<impl IntoResponse, AppError> {
    let outgoing = Outgoing::parse(&body.to, &body.text)?;
    let message = services
        .chat
        .send(&principal, outgoing, key.as_ref(), None)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(envelope::success(MessageBody::from(&message))),
    ))
}
