//! Hub → Socket.IO: one task reads every event once and emits it into the
//! audience's room, the payload serialised once per event. Event names and
//! payload types come from the table in `events.rs`.

use serde_json::json;
use socketioxide::SocketIo;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use super::events::{
    self, MessagesSeenPayload, OrderEvent, OrderStatusPayload, PresencePayload,
    ProductDeletedPayload, ProductEvent, ReceivedMessage, SocketEvent, UserTypingPayload,
};
use super::{ADMINS_ROOM, EVERYONE_ROOM, user_room};
use crate::compat::envelope::timestamp;
use crate::compat::wire::{MessageBody, OrderBody, ProductBody};
use crate::hub::{Audience, Envelope, Event};
use crate::metrics::{self, Door};
use crate::services::Connections;

/// What one hub event becomes on the Socket.IO wire.
pub(super) struct Outbound {
    /// The event name.
    pub event: &'static str,
    /// Its payload, with the event's position when it has one.
    pub payload: serde_json::Value,
}

/// What one hub event becomes on the Socket.IO wire, with its position in
/// the payload of resumable events.
pub(super) fn render(envelope: &Envelope) -> Option<Outbound> {
    let position = envelope.position.map(|position| position.to_string());
    let event = &envelope.event;
    let plain = |event: &SocketEvent, payload: serde_json::Value| {
        Some(Outbound {
            event: event.name,
            payload,
        })
    };
    match event {
        Event::MessageSent { message, .. } => plain(
            &events::RECEIVE_MESSAGE,
            json!(ReceivedMessage {
                message: MessageBody::from(message),
                position,
            }),
        ),
        Event::MessagesSeen { by, ids, at, .. } => plain(
            &events::MESSAGES_SEEN,
            json!(MessagesSeenPayload {
                by: by.to_string(),
                ids: ids.iter().map(ToString::to_string).collect(),
                seen_at: timestamp(*at),
                position,
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
                position,
            }),
        ),
        Event::ProductChanged(product) => plain(
            &events::PRODUCT_UPDATED,
            json!(ProductEvent {
                product: ProductBody::from(product),
                product_id: product.id.to_string(),
                position,
            }),
        ),
        Event::ProductRemoved(product_id) => plain(
            &events::PRODUCT_DELETED,
            json!(ProductDeletedPayload {
                product_id: product_id.to_string(),
                position,
            }),
        ),
        Event::OrderPlaced(order) => plain(
            &events::NEW_ORDER,
            json!(OrderEvent {
                order: OrderBody::from(order),
                order_id: order.id.to_string(),
                position,
            }),
        ),
        Event::OrderStatusChanged(order) => plain(
            &events::ORDER_STATUS_UPDATE,
            json!(OrderStatusPayload {
                order_id: order.id.to_string(),
                user_id: order.user_id.to_string(),
                status: order.status.as_str(),
                updated_at: timestamp(order.updated_at),
                position,
            }),
        ),
        // Each connection ends itself (the connection service).
        Event::RoleChanged { .. } | Event::SignedOut { .. } | Event::Deactivated { .. } => None,
    }
}

/// Starts the forwarder; it ends when the hub is dropped.
pub fn spawn_forwarder(io: SocketIo, connections: &Connections) -> JoinHandle<()> {
    let mut tap = connections.every_event();
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
    // Chat messages are delivered per connection (`connection.rs`), which
    // marks them delivered.
    if matches!(envelope.event, Event::MessageSent { .. }) {
        return;
    }
    let Some(outbound) = render(envelope) else {
        return;
    };
    // Sockets that resumed with an offset are in none of these rooms: their
    // connection delivers to them (`connection.rs`), each event once.
    let rooms: Vec<String> = match &envelope.audience {
        Audience::Everyone => vec![EVERYONE_ROOM.to_owned()],
        Audience::Admins => vec![ADMINS_ROOM.to_owned()],
        Audience::User(user_id) => vec![user_room(user_id)],
        // One emit into both rooms: a socket in both gets it once.
        Audience::Users(user_ids) => user_ids.iter().map(user_room).collect(),
        Audience::UsersAndAdmins(user_ids) => user_ids
            .iter()
            .map(user_room)
            .chain([ADMINS_ROOM.to_owned()])
            .collect(),
    };
    // An empty room list would mean "every socket" to socketioxide.
    if rooms.is_empty() {
        return;
    }
    let emitted = io.to(rooms).emit(outbound.event, &outbound.payload).await;
    match emitted {
        Ok(()) => metrics::event_delivered(Door::SocketIo, envelope.event.kind()),
        Err(error) => tracing::debug!(%error, event = outbound.event, "socket.io emit failed"),
    }
}
