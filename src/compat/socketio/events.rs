//! Every Socket.IO event of the door, once: its wire name, which way it
//! travels, who may send or hears it, its payload and its ack.
//!
//! The handlers register (`socket.on`) and emit by these entries, and
//! `compat::asyncapi` renders [`ALL`] into `/asyncapi.json`, so an event
//! cannot be renamed or added without the document following. The payloads
//! the server builds are the types below (and the wire bodies of
//! `compat::wire`); their JSON schemas come from the same types.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::compat::schemas::{Schemas, order_status_schema};
use crate::compat::wire::{MessageBody, OrderBody, ProductBody};

/// Which way an event travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Emitted by clients, handled by the server.
    ClientToServer,
    /// Emitted by the server to clients.
    ServerToClient,
}

/// A JSON schema, with the named schemas it refers to collected in
/// [`Schemas`].
pub type SchemaOf = fn(&mut Schemas) -> Value;

/// One event of the table.
pub struct SocketEvent {
    /// The wire name (fixed by API.md).
    pub name: &'static str,
    /// Which way it travels.
    pub direction: Direction,
    /// Who may send it (client → server) or who hears it (server → client).
    pub parties: &'static str,
    /// What it means, for a person reading the document.
    pub summary: &'static str,
    /// The schema of its one argument.
    pub payload: SchemaOf,
    /// Client → server events with an ack: the schema of the ack's `data`
    /// on success (a failure acks the error envelope).
    pub ack: Option<SchemaOf>,
}

pub const SEND_MESSAGE: SocketEvent = SocketEvent {
    name: "send_message",
    direction: Direction::ClientToServer,
    parties: "any signed-in socket",
    summary: "Sends a chat message; any `from` is ignored (the sender is the token's user). \
              The recipient hears `receive_message`.",
    payload: |schemas| schemas.reference::<SendMessagePayload>(),
    ack: Some(|schemas| schemas.reference::<MessageBody>()),
};

pub const RECEIVE_MESSAGE: SocketEvent = SocketEvent {
    name: "receive_message",
    direction: Direction::ServerToClient,
    parties: "the recipient's sockets, and the sender's other sockets",
    summary: "A chat message. Messages sent while the recipient had no socket open are \
              delivered on the next connection, in order; each message once per socket.",
    payload: |schemas| schemas.reference::<ReceivedMessage>(),
    ack: None,
};

pub const TYPING: SocketEvent = SocketEvent {
    name: "typing",
    direction: Direction::ClientToServer,
    parties: "any signed-in socket",
    summary: "The same as `start_typing`.",
    payload: typing_target,
    ack: Some(|schemas| schemas.reference::<TypingAck>()),
};

pub const START_TYPING: SocketEvent = SocketEvent {
    name: "start_typing",
    direction: Direction::ClientToServer,
    parties: "any signed-in socket",
    summary: "The caller is typing to the recipient, who hears `user_typing` (typing: true).",
    payload: typing_target,
    ack: Some(|schemas| schemas.reference::<TypingAck>()),
};

pub const STOP_TYPING: SocketEvent = SocketEvent {
    name: "stop_typing",
    direction: Direction::ClientToServer,
    parties: "any signed-in socket",
    summary: "The caller stopped typing; the recipient hears `user_typing` (typing: false).",
    payload: typing_target,
    ack: Some(|schemas| schemas.reference::<TypingAck>()),
};

pub const USER_TYPING: SocketEvent = SocketEvent {
    name: "user_typing",
    direction: Direction::ServerToClient,
    parties: "the recipient's sockets",
    summary: "Someone started or stopped typing to this user.",
    payload: |schemas| schemas.reference::<UserTypingPayload>(),
    ack: None,
};

pub const MARK_SEEN: SocketEvent = SocketEvent {
    name: "mark_seen",
    direction: Direction::ClientToServer,
    parties: "any signed-in socket",
    summary: "Marks the thread's incoming messages seen; their senders hear `messages_seen`.",
    payload: |schemas| schemas.reference::<MarkSeenPayload>(),
    ack: Some(|schemas| schemas.reference::<SeenAck>()),
};

pub const MESSAGES_SEEN: SocketEvent = SocketEvent {
    name: "messages_seen",
    direction: Direction::ServerToClient,
    parties: "the original sender's sockets",
    summary: "The recipient has seen these messages.",
    payload: |schemas| schemas.reference::<MessagesSeenPayload>(),
    ack: None,
};

pub const USER_ONLINE: SocketEvent = SocketEvent {
    name: "user_online",
    direction: Direction::ServerToClient,
    parties: "admins and the user's conversation peers",
    summary: "A user's first connection opened.",
    payload: |schemas| schemas.reference::<PresencePayload>(),
    ack: None,
};

pub const USER_OFFLINE: SocketEvent = SocketEvent {
    name: "user_offline",
    direction: Direction::ServerToClient,
    parties: "admins and the user's conversation peers",
    summary: "A user's last connection closed (after a short grace period).",
    payload: |schemas| schemas.reference::<PresencePayload>(),
    ack: None,
};

pub const NEW_PRODUCT: SocketEvent = SocketEvent {
    name: "new_product",
    direction: Direction::ServerToClient,
    parties: "every socket",
    summary: "A product was added.",
    payload: |schemas| schemas.reference::<ProductEvent>(),
    ack: None,
};

pub const PRODUCT_UPDATED: SocketEvent = SocketEvent {
    name: "product_updated",
    direction: Direction::ServerToClient,
    parties: "every socket",
    summary: "A product was changed (stock taken by orders is not broadcast).",
    payload: |schemas| schemas.reference::<ProductEvent>(),
    ack: None,
};

pub const PRODUCT_DELETED: SocketEvent = SocketEvent {
    name: "product_deleted",
    direction: Direction::ServerToClient,
    parties: "every socket",
    summary: "A product was removed (its orders are kept).",
    payload: |schemas| schemas.reference::<ProductDeletedPayload>(),
    ack: None,
};

pub const NEW_ORDER: SocketEvent = SocketEvent {
    name: "new_order",
    direction: Direction::ServerToClient,
    parties: "admins",
    summary: "An order was placed.",
    payload: |schemas| schemas.reference::<OrderEvent>(),
    ack: None,
};

pub const UPDATE_ORDER_STATUS: SocketEvent = SocketEvent {
    name: "update_order_status",
    direction: Direction::ClientToServer,
    parties: "admins (others get a FORBIDDEN ack)",
    summary: "Moves an order forward; the owner and admins hear `order_status_update`.",
    payload: |schemas| schemas.reference::<UpdateOrderStatusPayload>(),
    ack: Some(|schemas| schemas.reference::<OrderBody>()),
};

pub const ORDER_STATUS_UPDATE: SocketEvent = SocketEvent {
    name: "order_status_update",
    direction: Direction::ServerToClient,
    parties: "the order's owner and admins, once per socket",
    summary: "An order moved.",
    payload: |schemas| schemas.reference::<OrderStatusPayload>(),
    ack: None,
};

pub const SESSION_ENDED: SocketEvent = SocketEvent {
    name: "session_ended",
    direction: Direction::ServerToClient,
    parties: "the sockets of the session (expiry) or of the user (sign-out, role change)",
    summary: "The socket's token no longer holds; the server disconnects the socket right \
              after. Reconnect with a fresh token.",
    payload: |schemas| schemas.reference::<SessionEndedPayload>(),
    ack: None,
};

pub const RESUME_POSITION: SocketEvent = SocketEvent {
    name: "resume_position",
    direction: Direction::ServerToClient,
    parties: "every socket, once, right after it connects (after the replay when it resumed)",
    summary: "The head of the event log as far as this socket is concerned: a client that \
              drops before any event arrives resumes from here (handshake `auth.offset`).",
    payload: |schemas| schemas.reference::<ResumePositionPayload>(),
    ack: None,
};

pub const RESYNC_REQUIRED: SocketEvent = SocketEvent {
    name: "resync_required",
    direction: Direction::ServerToClient,
    parties: "a socket whose handshake `auth.offset` cannot be continued from",
    summary: "The offset is unknown or older than the retention window: refetch state, then \
              continue from the positions of new events. Never a silent gap.",
    payload: |schemas| schemas.reference::<ResyncRequiredPayload>(),
    ack: None,
};

/// Every event, client → server first.
pub const ALL: [SocketEvent; 19] = [
    SEND_MESSAGE,
    TYPING,
    START_TYPING,
    STOP_TYPING,
    MARK_SEEN,
    UPDATE_ORDER_STATUS,
    RECEIVE_MESSAGE,
    USER_TYPING,
    MESSAGES_SEEN,
    USER_ONLINE,
    USER_OFFLINE,
    NEW_PRODUCT,
    PRODUCT_UPDATED,
    PRODUCT_DELETED,
    NEW_ORDER,
    ORDER_STATUS_UPDATE,
    SESSION_ENDED,
    RESUME_POSITION,
    RESYNC_REQUIRED,
];

/// `typing` / `start_typing` / `stop_typing`: the recipient's id, as a
/// string or as `{to}`.
fn typing_target(_: &mut Schemas) -> Value {
    json!({
        "description": "The recipient's user id, as a string or as `{to}`",
        "oneOf": [
            { "type": "string" },
            {
                "type": "object",
                "properties": { "to": { "type": "string" } },
                "required": ["to"],
            },
        ],
    })
}

/// `user_typing`.
#[derive(Serialize, ToSchema)]
pub struct UserTypingPayload {
    /// Who is typing.
    pub from: String,
    pub typing: bool,
}

/// `messages_seen`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessagesSeenPayload {
    /// Who saw them.
    pub by: String,
    /// The messages seen.
    pub ids: Vec<String>,
    #[schema(format = DateTime)]
    pub seen_at: String,
    /// The event's position: keep the last one processed and send it as the
    /// handshake's `auth.offset` to resume after a disconnect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<String>,
}

/// `user_online` and `user_offline`. `user_id` mirrors `userId` for the
/// original clients.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PresencePayload {
    pub user_id: String,
    /// The same as `userId`.
    #[serde(rename = "user_id")]
    pub user_id_snake: String,
    pub online: bool,
    #[schema(format = DateTime)]
    pub last_active: String,
}

/// `new_product` and `product_updated`: the product plus `productId`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductEvent {
    #[serde(flatten)]
    pub product: ProductBody,
    /// The same as `id`.
    pub product_id: String,
    /// The event's position: keep the last one processed and send it as the
    /// handshake's `auth.offset` to resume after a disconnect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<String>,
}

/// `product_deleted`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductDeletedPayload {
    pub product_id: String,
    /// The event's position: keep the last one processed and send it as the
    /// handshake's `auth.offset` to resume after a disconnect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<String>,
}

/// `new_order`: the order plus `orderId`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderEvent {
    #[serde(flatten)]
    pub order: OrderBody,
    /// The same as `id`.
    pub order_id: String,
    /// The event's position: keep the last one processed and send it as the
    /// handshake's `auth.offset` to resume after a disconnect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<String>,
}

/// `order_status_update`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderStatusPayload {
    pub order_id: String,
    /// The order's owner.
    pub user_id: String,
    #[schema(schema_with = order_status_schema)]
    pub status: &'static str,
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// The event's position: keep the last one processed and send it as the
    /// handshake's `auth.offset` to resume after a disconnect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<String>,
}

/// `receive_message`: the message plus its position (absent on messages
/// delivered on connect without an `offset`, which are read from the
/// messages themselves).
#[derive(Serialize, ToSchema)]
pub struct ReceivedMessage {
    #[serde(flatten)]
    pub message: MessageBody,
    /// The event's position: keep the last one processed and send it as the
    /// handshake's `auth.offset` to resume after a disconnect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<String>,
}

/// `resume_position`.
#[derive(Serialize, ToSchema)]
pub struct ResumePositionPayload {
    /// Everything up to here was sent (or happened before the connection):
    /// resume from here if nothing newer arrives before a disconnect.
    pub position: String,
}

/// `resync_required`.
#[derive(Serialize, ToSchema)]
pub struct ResyncRequiredPayload {
    /// `unknown_position`, `position_expired` or `log_unavailable`.
    pub reason: &'static str,
}

/// `session_ended`.
#[derive(Serialize, ToSchema)]
pub struct SessionEndedPayload {
    pub reason: EndReason,
}

/// Why a socket's session ended.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The access token expired.
    TokenExpired,
    /// The user signed out (or a refresh token was reused).
    LoggedOut,
    /// An admin changed the user's role.
    RoleChanged,
    /// An admin deactivated the account.
    Deactivated,
}

impl From<crate::services::EndReason> for EndReason {
    fn from(reason: crate::services::EndReason) -> Self {
        match reason {
            crate::services::EndReason::TokenExpired => EndReason::TokenExpired,
            crate::services::EndReason::LoggedOut => EndReason::LoggedOut,
            crate::services::EndReason::RoleChanged => EndReason::RoleChanged,
            crate::services::EndReason::Deactivated => EndReason::Deactivated,
        }
    }
}

// ---------------------------------------------------------------------------
// Payloads and acks the handlers read and write
// ---------------------------------------------------------------------------

/// `send_message {to, text}` payload. A `from` field, if any, is ignored: the
/// sender is the socket's authenticated user.
#[derive(Deserialize, ToSchema)]
pub struct SendMessagePayload {
    /// The recipient's user id.
    pub(super) to: String,
    pub(super) text: String,
    /// The client's id for this message: a resend with the same `clientId`
    /// (after a lost ack) returns the stored message instead of a second one.
    #[serde(default, rename = "clientId")]
    pub(super) client_id: Option<String>,
}

/// `mark_seen {with}` payload.
#[derive(Deserialize, ToSchema)]
pub struct MarkSeenPayload {
    /// The other participant of the thread.
    pub(super) with: String,
}

/// The `data` of a `typing` / `start_typing` / `stop_typing` ack.
#[derive(Serialize, ToSchema)]
pub struct TypingAck {
    pub(super) typing: bool,
}

/// The `data` of a `mark_seen` ack: the messages just marked seen.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeenAck {
    pub(super) ids: Vec<String>,
    #[schema(format = DateTime)]
    pub(super) seen_at: String,
}

/// `update_order_status` payload. `id` is accepted for `orderId`, as the
/// original server did.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateOrderStatusPayload {
    /// The order to move (`id` is accepted instead, as the original server did).
    #[serde(alias = "id")]
    pub(super) order_id: String,
    /// The next status: only forward, skipping allowed.
    #[schema(schema_with = order_status_schema)]
    pub(super) status: String,
}
