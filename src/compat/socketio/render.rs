//! Hub events → Socket.IO frames: what each event is called on the wire and
//! what it carries (with its position when it has one). A frame is
//! serialised once per event, by the first socket that writes it; the
//! others write the same bytes. Event names and payload types come from
//! the table in `events.rs`.

use axum::extract::ws::Utf8Bytes;
use serde_json::json;

use super::events::{
    self, MessagesSeenPayload, OrderEvent, OrderStatusPayload, PresencePayload,
    ProductDeletedPayload, ProductEvent, ReceivedMessage, SocketEvent, UserTypingPayload,
};
use super::frame;
use crate::compat::envelope::timestamp;
use crate::compat::wire::{MessageBody, OrderBody, ProductBody};
use crate::hub::{Event, Published};

/// The frame of one hub event, `None` for events that end sessions (each
/// connection ends itself).
pub fn frame(published: &Published) -> Option<Utf8Bytes> {
    published.rendered.get_or_render(|| {
        render(published).map(|outbound| frame::event(outbound.event, &outbound.payload))
    })
}

/// What one hub event becomes on the Socket.IO wire.
struct Outbound {
    /// The event name.
    event: &'static str,
    /// Its payload, with the event's position when it has one.
    payload: serde_json::Value,
}

/// What one hub event becomes on the Socket.IO wire, with its position in
/// the payload of resumable events.
fn render(published: &Published) -> Option<Outbound> {
    let position = published.position.map(|position| position.to_string());
    let event = &published.event;
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
