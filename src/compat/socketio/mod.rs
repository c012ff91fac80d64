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
mod resume;

use socketioxide::SocketIo;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use socketioxide::extract::{Extension, SocketRef, State};
use socketioxide::handler::ConnectHandler as _;
use socketioxide::layer::SocketIoLayer;
use tokio::task::AbortHandle;
use tokio::task::JoinHandle;

use crate::auth::Principal;
use crate::services::{LiveConnection, Opening, Services};
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

/// The room of every socket the forwarder serves (all but those that
/// resumed with an offset, which their own connection serves).
pub const EVERYONE_ROOM: &str = "everyone";

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
    if let Some(live) = socket
        .extensions
        .get::<PendingConnection>()
        .and_then(|pending| pending.0.lock().unwrap_or_else(|p| p.into_inner()).take())
    {
        let connection = tokio::spawn(resume::serve(socket.clone(), live));
        socket
            .extensions
            .insert(ConnectionTasks(Arc::new([connection.abort_handle()])));
        tracing::debug!(user.id = %principal.user_id, socket.id = %socket.id, "socket resumed");
        return;
    }
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
    // Joined its rooms at the handshake: every event after this head
    // reaches it (one before may too; clients keep the greatest position).
    emit_or_drop(
        &socket,
        events::RESUME_POSITION.name,
        &events::ResumePositionPayload {
            position: services.event_log.head().to_string(),
        },
    );
    tracing::debug!(user.id = %principal.user_id, socket.id = %socket.id, "socket connected");
}

/// Joins the socket's rooms (or opens its own connection when it resumes)
/// and registers its event handlers. Called from the handshake, before the
/// client hears `connect`, so no event and no early emit can fall between
/// the two.
fn prepare(
    socket: &SocketRef,
    principal: &Principal,
    expires_at: i64,
    resume_after: Option<String>,
    services: &Services,
) {
    socket
        .extensions
        .insert(Counted(Arc::new(crate::metrics::connection_opened(
            crate::metrics::Door::SocketIo,
        ))));
    if let Some(resume_after) = resume_after {
        let live = services.connections.open(Opening {
            principal: principal.clone(),
            expires_at,
            origin: chat::connection_id(socket),
            resume_after: Some(resume_after),
        });
        socket
            .extensions
            .insert(PendingConnection(Arc::new(Mutex::new(Some(live)))));
    } else {
        services.presence.connected(&principal.user_id);
        socket.extensions.insert(CountedPresence);
        let live = services.hub.subscribe_user(&principal.user_id);
        socket
            .extensions
            .insert(PendingDelivery(Arc::new(Mutex::new(Some(live)))));
        socket.join(EVERYONE_ROOM);
        socket.join(user_room(&principal.user_id));
        if principal.is_admin() {
            socket.join(ADMINS_ROOM);
        }
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

/// The connection opened at the handshake of a resuming socket.
#[derive(Clone)]
struct PendingConnection(Arc<Mutex<Option<LiveConnection>>>);

/// The socket counts for presence here (a resuming socket's connection
/// counts itself).
#[derive(Clone)]
struct CountedPresence;

/// The socket's place in the connection gauge, given back on disconnect.
#[derive(Clone)]
struct Counted(#[allow(dead_code)] Arc<crate::metrics::ConnectionCount>);

/// Tasks that live as long as one socket.
#[derive(Clone)]
struct ConnectionTasks(Arc<[AbortHandle]>);

async fn on_disconnect(socket: SocketRef, State(services): State<Services>) {
    if let Some(tasks) = socket.extensions.get::<ConnectionTasks>() {
        for task in tasks.0.iter() {
            task.abort();
        }
    }
    // A resuming socket that never reached `on_connect` still holds its
    // connection here; dropping it counts it closed.
    socket.extensions.remove::<PendingConnection>();
    if socket.extensions.remove::<CountedPresence>().is_some()
        && let Some(principal) = socket.extensions.get::<Principal>()
    {
        services.presence.disconnected(&principal.user_id);
    }
    socket.extensions.remove::<Counted>();
}

/// Emits one event to one socket; false when the socket could not take it
/// (closed, or its send buffer is full). A full buffer means the client
/// stopped reading: the queue is bounded (`SEND_BUFFER_PACKETS`), and the
/// socket ends here rather than at its next heartbeat.
pub(crate) fn emit_or_drop(
    socket: &SocketRef,
    event: &'static str,
    payload: &impl serde::Serialize,
) -> bool {
    match socket.emit(event, payload) {
        Ok(()) => true,
        Err(socketioxide::SendError::Socket(socketioxide::SocketError::InternalChannelFull)) => {
            tracing::info!(socket.id = %socket.id, "socket closed: the client stopped reading");
            crate::metrics::slow_client_dropped(crate::metrics::Door::SocketIo);
            let _ = socket.clone().disconnect();
            false
        }
        Err(error) => {
            tracing::debug!(%error, event, "event not handed to the socket");
            false
        }
    }
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
