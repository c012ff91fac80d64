//! The Socket.IO door (socketioxide, protocol v4, default namespace at
//! `/socket.io/`).
//!
//! The handshake authenticates (`handshake.rs`); each socket joins its
//! user's room (`user:<id>`) and admins also join `admins`. Outbound events
//! come from the hub through one forwarder (`forwarder.rs`) that emits each
//! event once into its audience's room. Every event name and payload is an
//! entry of the table in `events.rs`, which `/asyncapi.json` describes.

mod chat;
pub mod events;
mod forwarder;
mod handshake;
mod orders;

use socketioxide::SocketIo;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use socketioxide::extract::{Extension, SocketRef, State};
use socketioxide::handler::ConnectHandler as _;
use socketioxide::layer::SocketIoLayer;
use tokio::task::AbortHandle;
use tokio::task::JoinHandle;

use crate::auth::Principal;
use crate::services::Services;
use handshake::TokenExpiry;

pub use forwarder::spawn_forwarder;

/// The room of every connection of one user.
pub fn user_room(user_id: &crate::domain::UserId) -> String {
    format!("user:{user_id}")
}

/// Largest Socket.IO frame read.
const MAX_FRAME_BYTES: u64 = 2 * 1024 * 1024;

/// Packets queued per socket before emits fail. Every client event gets an
/// ack, so a client that floods events needs room for as many acks; the
/// default (128) dropped acks of a 200-event burst.
const SEND_BUFFER_PACKETS: usize = 4096;

/// The room of every admin connection.
pub const ADMINS_ROOM: &str = "admins";

/// Builds the Socket.IO layer and handle, registers the default namespace and
/// starts the hub forwarder.
pub fn attach(services: &Services) -> (SocketIoLayer, SocketIo, JoinHandle<()>) {
    // Frames up to 2 MiB are read and answered (an oversized chat text gets a
    // validation ack) rather than ending the connection.
    let (layer, io) = SocketIo::builder()
        .max_payload(MAX_FRAME_BYTES)
        .max_buffer_size(SEND_BUFFER_PACKETS)
        .with_state(services.clone())
        .build_layer();
    io.ns("/", on_connect.with(handshake::authenticate));
    let forwarder = spawn_forwarder(io.clone(), &services.hub);
    (layer, io, forwarder)
}

async fn on_connect(
    socket: SocketRef,
    Extension(principal): Extension<Principal>,
    Extension(expiry): Extension<TokenExpiry>,
    State(services): State<Services>,
) {
    let live = socket
        .extensions
        .get::<PendingDelivery>()
        .and_then(|pending| pending.0.lock().unwrap_or_else(|p| p.into_inner()).take())
        .unwrap_or_else(|| services.hub.subscribe_user(&principal.user_id));
    let delivery = tokio::spawn(chat::deliver_messages(
        socket.clone(),
        principal.clone(),
        services.clone(),
        live,
    ));
    let expiry = tokio::spawn(end_at_expiry(socket.clone(), expiry));
    socket.extensions.insert(ConnectionTasks(Arc::new([
        delivery.abort_handle(),
        expiry.abort_handle(),
    ])));
    tracing::debug!(user.id = %principal.user_id, socket.id = %socket.id, "socket connected");
}

/// Joins the socket's rooms and registers its event handlers. Called from
/// the handshake, before the client hears `connect`, so no event and no
/// early emit can fall between the two.
fn prepare(socket: &SocketRef, principal: &Principal, services: &Services) {
    services.presence.connected(&principal.user_id);
    socket
        .extensions
        .insert(Counted(Arc::new(crate::metrics::connection_opened(
            crate::metrics::Door::SocketIo,
        ))));
    let live = services.hub.subscribe_user(&principal.user_id);
    socket
        .extensions
        .insert(PendingDelivery(Arc::new(Mutex::new(Some(live)))));
    socket.join(user_room(&principal.user_id));
    if principal.is_admin() {
        socket.join(ADMINS_ROOM);
    }
    socket.on(
        events::UPDATE_ORDER_STATUS.name,
        orders::update_order_status,
    );
    socket.on(events::SEND_MESSAGE.name, chat::send_message);
    socket.on(events::TYPING.name, chat::start_typing);
    socket.on(events::START_TYPING.name, chat::start_typing);
    socket.on(events::STOP_TYPING.name, chat::stop_typing);
    socket.on(events::MARK_SEEN.name, chat::mark_seen);
    socket.on_disconnect(on_disconnect);
}

/// The hub subscription made at the handshake, handed to the delivery task.
#[derive(Clone)]
struct PendingDelivery(Arc<Mutex<Option<crate::hub::Subscription>>>);

/// The socket's place in the connection gauge, given back on disconnect.
#[derive(Clone)]
struct Counted(#[allow(dead_code)] Arc<crate::metrics::ConnectionCount>);

/// Tasks that live as long as one socket.
#[derive(Clone)]
struct ConnectionTasks(Arc<[AbortHandle; 2]>);

async fn on_disconnect(socket: SocketRef, State(services): State<Services>) {
    if let Some(tasks) = socket.extensions.get::<ConnectionTasks>() {
        for task in tasks.0.iter() {
            task.abort();
        }
    }
    if let Some(principal) = socket.extensions.get::<Principal>() {
        services.presence.disconnected(&principal.user_id);
    }
    socket.extensions.remove::<Counted>();
}

/// Tells the socket its token expired, then disconnects it; the client
/// reconnects with a fresh token.
async fn end_at_expiry(socket: SocketRef, expiry: TokenExpiry) {
    let remaining = expiry.0 - chrono::Utc::now().timestamp();
    tokio::time::sleep(Duration::from_secs(remaining.max(0) as u64)).await;
    let _ = socket.emit(
        events::SESSION_ENDED.name,
        &events::SessionEndedPayload {
            reason: events::EndReason::TokenExpired,
        },
    );
    let _ = socket.disconnect();
}
