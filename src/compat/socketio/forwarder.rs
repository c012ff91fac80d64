//! Hub → Socket.IO: one task reads every event once and emits it into the
//! audience's room, the payload serialised once per event.

use serde_json::json;
use socketioxide::SocketIo;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use super::{ADMINS_ROOM, user_room};
use crate::compat::envelope::timestamp;
use crate::compat::wire::{OrderBody, ProductBody};
use crate::hub::{Audience, Envelope, Event, Hub};

/// What one hub event becomes on the Socket.IO wire.
struct Outbound {
    event: &'static str,
    payload: serde_json::Value,
    /// Disconnect the audience's sockets after telling them (their tokens no
    /// longer say who they are).
    then_disconnect: bool,
}

/// What one hub event becomes on the Socket.IO wire; `None` for events
/// this forwarder does not carry (chat messages are delivered per
/// connection, see `chat.rs`).
fn outbound(event: &Event) -> Option<Outbound> {
    let plain = |event: &'static str, payload: serde_json::Value| {
        Some(Outbound {
            event,
            payload,
            then_disconnect: false,
        })
    };
    match event {
        Event::MessageSent { .. } => None,
        Event::MessagesSeen { by, ids, at, .. } => plain(
            "messages_seen",
            json!({
                "by": by.to_string(),
                "ids": ids.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "seenAt": timestamp(*at),
            }),
        ),
        Event::UserTyping { from, typing, .. } => plain(
            "user_typing",
            json!({ "from": from.to_string(), "typing": typing }),
        ),
        Event::PresenceChanged {
            user_id,
            online,
            last_active,
        } => plain(
            if *online {
                "user_online"
            } else {
                "user_offline"
            },
            json!({
                "userId": user_id.to_string(),
                "user_id": user_id.to_string(),
                "online": online,
                "lastActive": timestamp(*last_active),
            }),
        ),
        Event::ProductAdded(product) => {
            let mut payload = json!(ProductBody::from(product));
            payload["productId"] = json!(product.id.to_string());
            plain("new_product", payload)
        }
        Event::ProductChanged(product) => {
            let mut payload = json!(ProductBody::from(product));
            payload["productId"] = json!(product.id.to_string());
            plain("product_updated", payload)
        }
        Event::ProductRemoved(product_id) => plain(
            "product_deleted",
            json!({ "productId": product_id.to_string() }),
        ),
        Event::OrderPlaced(order) => {
            let mut payload = json!(OrderBody::from(order));
            payload["orderId"] = json!(order.id.to_string());
            plain("new_order", payload)
        }
        Event::OrderStatusChanged(order) => plain(
            "order_status_update",
            json!({
                "orderId": order.id.to_string(),
                "userId": order.user_id.to_string(),
                "status": order.status.as_str(),
                "updatedAt": timestamp(order.updated_at),
            }),
        ),
        Event::RoleChanged { .. } => Some(Outbound {
            event: "session_ended",
            payload: json!({ "reason": "role_changed" }),
            then_disconnect: true,
        }),
        Event::SignedOut { .. } => Some(Outbound {
            event: "session_ended",
            payload: json!({ "reason": "logged_out" }),
            then_disconnect: true,
        }),
    }
}

/// Starts the forwarder; it ends when the hub is dropped.
pub fn spawn_forwarder(io: SocketIo, hub: &Hub) -> JoinHandle<()> {
    let mut tap = hub.tap();
    tokio::spawn(async move {
        loop {
            match tap.recv().await {
                Ok(envelope) => deliver(&io, &envelope).await,
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "socket.io forwarder fell behind; events dropped");
                }
                Err(RecvError::Closed) => break,
            }
        }
    })
}

async fn deliver(io: &SocketIo, envelope: &Envelope) {
    let Some(outbound) = outbound(&envelope.event) else {
        return;
    };
    let rooms = match &envelope.audience {
        Audience::Everyone => None,
        Audience::Admins => Some(vec![ADMINS_ROOM.to_owned()]),
        Audience::User(user_id) => Some(vec![user_room(user_id)]),
        // One emit into both rooms: a socket in both gets it once.
        Audience::Users(user_ids) => Some(user_ids.iter().map(user_room).collect()),
        Audience::UsersAndAdmins(user_ids) => Some(
            user_ids
                .iter()
                .map(user_room)
                .chain([ADMINS_ROOM.to_owned()])
                .collect(),
        ),
    };
    // An empty room list would mean "every socket" to socketioxide.
    if rooms.as_ref().is_some_and(Vec::is_empty) {
        return;
    }
    let emitted = match &rooms {
        Some(rooms) => {
            io.to(rooms.clone())
                .emit(outbound.event, &outbound.payload)
                .await
        }
        None => io.emit(outbound.event, &outbound.payload).await,
    };
    if let Err(error) = emitted {
        tracing::debug!(%error, event = outbound.event, "socket.io emit failed");
    }
    if outbound.then_disconnect {
        let disconnected = match rooms {
            Some(rooms) => io.to(rooms).disconnect().await,
            None => io.broadcast().disconnect().await,
        };
        if let Err(error) = disconnected {
            tracing::debug!(%error, "socket.io disconnect failed");
        }
    }
}
