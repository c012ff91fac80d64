//! Chat events from Socket.IO clients. Messages reach sockets through their
//! connection (`session.rs`).

use std::sync::Arc;

use serde_json::{Value, json};

use super::caller::Caller;
use super::events::{MarkSeenPayload, SeenAck, SendMessagePayload, TypingAck};
use crate::compat::envelope;
use crate::compat::json_input::parse_value;
use crate::compat::wire::MessageBody;
use crate::domain::UserId;
use crate::domain::{IdempotencyKey, Outgoing};
use crate::error::AppError;

/// `send_message`: stored, then acknowledged with the stored message.
pub async fn send_message(caller: Arc<Caller>, payload: Option<Value>) -> Result<Value, AppError> {
    let payload: SendMessagePayload = parse_value(payload.unwrap_or(Value::Null))?;
    let outgoing = Outgoing::parse(&payload.to, &payload.text)?;
    let key = payload
        .client_id
        .as_deref()
        .map(IdempotencyKey::parse)
        .transpose()
        .map_err(|e| e.on("clientId"))?;
    let message = caller
        .services()
        .chat
        .send(
            &caller.principal,
            outgoing,
            key.as_ref(),
            Some(caller.origin.clone()),
        )
        .await?;
    Ok(json!(MessageBody::from(&message)))
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

/// `typing` and `start_typing` (`typing: true`), `stop_typing` (`false`).
pub async fn set_typing(
    caller: Arc<Caller>,
    payload: Option<Value>,
    typing: bool,
) -> Result<Value, AppError> {
    let to = typing_target(payload)?;
    caller
        .services()
        .chat
        .set_typing(&caller.principal, &to, typing)?;
    Ok(json!(TypingAck { typing }))
}

/// `mark_seen {with}`: the sender hears `messages_seen`.
pub async fn mark_seen(caller: Arc<Caller>, payload: Option<Value>) -> Result<Value, AppError> {
    let payload: MarkSeenPayload = parse_value(payload.unwrap_or(Value::Null))?;
    let peer = UserId::parse(&payload.with).map_err(|e| e.on("with"))?;
    let (ids, at) = caller
        .services()
        .chat
        .mark_seen(&caller.principal, &peer)
        .await?;
    Ok(json!(SeenAck {
        ids: ids.iter().map(ToString::to_string).collect(),
        seen_at: envelope::timestamp(at),
    }))
}
