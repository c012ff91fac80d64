//! Chat events from Socket.IO clients. Messages reach sockets through their
//! connection (`connection.rs`).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use socketioxide::extract::{AckSender, Extension, SocketRef, State, TryData};
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::compat::envelope;
use crate::compat::rest::parse_value;
use crate::compat::wire::MessageBody;
use crate::domain::IdempotencyKey;
use crate::domain::UserId;
use crate::error::AppError;
use crate::hub::ConnectionId;
use crate::services::{Outgoing, Services};

/// The connection id of a socket, as chat events name their origin.
pub fn connection_id(socket: &SocketRef) -> ConnectionId {
    ConnectionId(format!("sio:{}", socket.id))
}

/// `send_message {to, text}` payload. A `from` field, if any, is ignored: the
/// sender is the socket's authenticated user.
#[derive(Deserialize, ToSchema)]
pub struct SendMessagePayload {
    /// The recipient's user id.
    to: String,
    text: String,
    /// The client's id for this message: a resend with the same `clientId`
    /// (after a lost ack) returns the stored message instead of a second one.
    #[serde(default, rename = "clientId")]
    client_id: Option<String>,
}

/// `mark_seen {with}` payload.
#[derive(Deserialize, ToSchema)]
pub struct MarkSeenPayload {
    /// The other participant of the thread.
    with: String,
}

/// The `data` of a `typing` / `start_typing` / `stop_typing` ack.
#[derive(Serialize, ToSchema)]
pub struct TypingAck {
    typing: bool,
}

/// The `data` of a `mark_seen` ack: the messages just marked seen.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeenAck {
    ids: Vec<String>,
    #[schema(format = DateTime)]
    seen_at: String,
}

/// Answers through the ack when the client asked for one (a no-op otherwise).
fn reply(ack: AckSender, result: Result<Value, AppError>) {
    let body = match result {
        Ok(data) => envelope::success(data),
        Err(error) => envelope::error_body(&error),
    };
    if let Err(error) = ack.send(&body) {
        tracing::debug!(%error, "ack not delivered");
    }
}

/// `send_message`: stored, then acknowledged with the stored message.
pub async fn send_message(
    socket: SocketRef,
    Extension(principal): Extension<Principal>,
    State(services): State<Services>,
    TryData(payload): TryData<Value>,
    ack: AckSender,
) {
    let result = async {
        let payload: SendMessagePayload = parse_value(payload.unwrap_or(Value::Null))?;
        let outgoing = Outgoing::parse(&payload.to, &payload.text)?;
        let key = payload
            .client_id
            .as_deref()
            .map(IdempotencyKey::parse)
            .transpose()
            .map_err(|e| e.on("clientId"))?;
        let message = services
            .chat
            .send(
                &principal,
                outgoing,
                key.as_ref(),
                Some(connection_id(&socket)),
            )
            .await?;
        Ok(json!(MessageBody::from(&message)))
    }
    .await;
    reply(ack, result);
}

/// `typing` / `start_typing` / `stop_typing`: the recipient as a string or `{to}`.
fn typing_target(payload: Option<Value>) -> Result<UserId, AppError> {
    let raw = match payload {
        Some(Value::String(id)) => id,
        Some(Value::Object(object)) => match object.get("to") {
            Some(Value::String(id)) => id.clone(),
            _ => return Err(AppError::invalid("to", "is required")),
        },
        _ => return Err(AppError::invalid("to", "is required")),
    };
    UserId::parse(&raw).map_err(|e| e.on("to"))
}

async fn set_typing(
    principal: Principal,
    services: Services,
    payload: Option<Value>,
    ack: AckSender,
    typing: bool,
) {
    let result = typing_target(payload)
        .and_then(|to| services.chat.set_typing(&principal, &to, typing))
        .map(|()| json!(TypingAck { typing }));
    reply(ack, result);
}

/// `typing` and `start_typing`.
pub async fn start_typing(
    Extension(principal): Extension<Principal>,
    State(services): State<Services>,
    TryData(payload): TryData<Value>,
    ack: AckSender,
) {
    set_typing(principal, services, payload.ok(), ack, true).await;
}

/// `stop_typing`.
pub async fn stop_typing(
    Extension(principal): Extension<Principal>,
    State(services): State<Services>,
    TryData(payload): TryData<Value>,
    ack: AckSender,
) {
    set_typing(principal, services, payload.ok(), ack, false).await;
}

/// `mark_seen {with}`: the sender hears `messages_seen`.
pub async fn mark_seen(
    Extension(principal): Extension<Principal>,
    State(services): State<Services>,
    TryData(payload): TryData<Value>,
    ack: AckSender,
) {
    let result = async {
        let payload: MarkSeenPayload = parse_value(payload.unwrap_or(Value::Null))?;
        let peer = UserId::parse(&payload.with).map_err(|e| e.on("with"))?;
        let (ids, at) = services.chat.mark_seen(&principal, &peer).await?;
        Ok(json!(SeenAck {
            ids: ids.iter().map(ToString::to_string).collect(),
            seen_at: envelope::timestamp(at),
        }))
    }
    .await;
    reply(ack, result);
}
