//! Hub → Socket.IO: one task reads every event once and emits it into the
//! audience's room, the payload serialised once per event. Event names and
//! payload types come from the table in `events.rs`.

use serde_json::json;
use socketioxide::SocketIo;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use super::events::{
    self, EndReason, MessagesSeenPayload, OrderEvent, OrderStatusPayload, PresencePayload,
    ProductDeletedPayload, ProductEvent, SessionEndedPayload, SocketEvent, UserTypingPayload,
};
use super::{ADMINS_ROOM, user_room};
use crate::compat::envelope::timestamp;
use crate::compat::wire::{OrderBody, ProductBody};
use crate::hub::{Audience, Envelope, Event, Hub};
use crate::metrics::{self, Door};

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
    let plain = |event: &SocketEvent, payload: serde_json::Value| {
        Some(Outbound {
            event: event.name,
            payload,
            then_disconnect: false,
        })
    };
    let ending = |reason: EndReason| {
        Some(Outbound {
            event: events::SESSION_ENDED.name,
            payload: json!(SessionEndedPayload { reason }),
            then_disconnect: true,
        })
    };
    match event {
        Event::MessageSent { .. } => None,
        Event::MessagesSeen { by, ids, at, .. } => plain(
            &events::MESSAGES_SEEN,
            json!(MessagesSeenPayload {
                by: by.to_string(),
                ids: ids.iter().map(ToString::to_string).collect(),
                seen_at: timestamp(*at),
            }),
        ),
        Event::UserTyping { from, typing, .. } => plain(
            &events::USER_TYPING,
            json!(UserTypingPayload {
                from: from.to_string(),
                typing: *typing,
            }),
        ),
        Event::PresenceChanged {
            user_id,
            online,
            last_active,
        } => plain(
            if *online {
                &events::USER_ONLINE
            } else {
                &events::USER_OFFLINE
            },
            json!(PresencePayload {
                user_id: user_id.to_string(),
                user_id_snake: user_id.to_string(),
                online: *online,
                last_active: timestamp(*last_active),
            }),
        ),
        Event::ProductAdded(product) => plain(
            &events::NEW_PRODUCT,
            json!(ProductEvent {
                product: ProductBody::from(product),
                product_id: product.id.to_string(),
            }),
        ),
        Event::ProductChanged(product) => plain(
            &events::PRODUCT_UPDATED,
            json!(ProductEvent {
                product: ProductBody::from(product),
                product_id: product.id.to_string(),
            }),
        ),
        Event::ProductRemoved(product_id) => plain(
            &events::PRODUCT_DELETED,
            json!(ProductDeletedPayload {
                product_id: product_id.to_string(),
            }),
        ),
        Event::OrderPlaced(order) => plain(
            &events::NEW_ORDER,
            json!(OrderEvent {
                order: OrderBody::from(order),
                order_id: order.id.to_string(),
            }),
        ),
        Event::OrderStatusChanged(order) => plain(
            &events::ORDER_STATUS_UPDATE,
            json!(OrderStatusPayload {
                order_id: order.id.to_string(),
                user_id: order.user_id.to_string(),
                status: order.status.as_str(),
                updated_at: timestamp(order.updated_at),
            }),
        ),
        Event::RoleChanged { .. } => ending(EndReason::RoleChanged),
        Event::SignedOut { .. } => ending(EndReason::LoggedOut),
        Event::Deactivated { .. } => ending(EndReason::Deactivated),
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
                    metrics::lagged(Door::SocketIo);
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
    match emitted {
        Ok(()) => metrics::event_delivered(Door::SocketIo, envelope.event.kind()),
        Err(error) => tracing::debug!(%error, event = outbound.event, "socket.io emit failed"),
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
