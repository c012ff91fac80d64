//! The Socket.IO door (socketioxide, protocol v4, default namespace at
//! `/socket.io/`).
//!
//! The handshake authenticates (`handshake.rs`) and opens the socket's
//! connection in the connection service; `connection.rs` renders it (chat
//! messages, `resume_position`, the replay of a resuming socket, the end of
//! the session). Broadcasts reach sockets that did not resume through their
//! rooms (`everyone`, `user:<id>`, `admins`): one forwarder (`forwarder.rs`)
//! emits each event once into its audience's rooms. Every event name and
//! payload is an entry of the table in `events.rs`, which `/asyncapi.json`
//! describes.

mod chat;
mod connection;
pub mod events;
mod forwarder;
mod handshake;
mod orders;

use socketioxide::SocketIo;
use std::sync::{Arc, Mutex};

use socketioxide::extract::{Extension, SocketRef};
use socketioxide::handler::ConnectHandler as _;
use socketioxide::layer::SocketIoLayer;
use tokio::task::AbortHandle;
use tokio::task::JoinHandle;

use crate::auth::Principal;
use crate::services::{LiveConnection, Opening, Services, Wants};

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

/// Bytes read from a socket per read, allocated per socket for as long as
/// it lives. Socket.IO frames of a dashboard are small (an event is a few
/// hundred bytes); a larger frame is still read whole, in more reads.
/// socketioxide's default (4 KiB) made the buffer the largest single piece
/// of an idle socket's memory (W3 of BENCHMARKS.md).
const READ_BUFFER_BYTES: usize = 1024;

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
        .ws_read_buffer_size(READ_BUFFER_BYTES)
        .with_state(services.clone())
        .build_layer();
    io.ns("/", on_connect.with(handshake::authenticate));
    let forwarder = spawn_forwarder(io.clone(), &services.connections);
    (layer, io, forwarder)
}

async fn on_connect(socket: SocketRef, Extension(principal): Extension<Principal>) {
    // Removed, not only emptied: an idle socket keeps nothing it no longer needs.
    let Some(live) = socket
        .extensions
        .remove::<PendingConnection>()
        .and_then(|pending| pending.0.lock().unwrap_or_else(|p| p.into_inner()).take())
    else {
        return;
    };
    let task = tokio::spawn(connection::serve(socket.clone(), live));
    socket
        .extensions
        .insert(ConnectionTask(task.abort_handle()));
    tracing::debug!(user.id = %principal.user_id, socket.id = %socket.id, "socket connected");
}

/// Opens the socket's connection (joining the broadcast rooms first unless
/// it resumes) and registers its event handlers. Called from the handshake,
/// before the client hears `connect`, so no event and no early emit can fall
/// between the two.
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
    let wants = match resume_after {
        // Served whole by its connection, so it joins no room: the
        // forwarder never sends it a second copy.
        Some(resume_after) => Wants::Events {
            resume_after: Some(resume_after),
        },
        None => {
            socket.join(EVERYONE_ROOM);
            socket.join(user_room(&principal.user_id));
            if principal.is_admin() {
                socket.join(ADMINS_ROOM);
            }
            Wants::Messages
        }
    };
    let live = services.connections.open(Opening {
        principal: principal.clone(),
        expires_at,
        origin: chat::connection_id(socket),
        wants,
    });
    socket
        .extensions
        .insert(PendingConnection(Arc::new(Mutex::new(Some(live)))));
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

/// The connection opened at the handshake, handed to the task that serves it.
#[derive(Clone)]
struct PendingConnection(Arc<Mutex<Option<LiveConnection>>>);

/// The socket's place in the connection gauge, given back on disconnect.
#[derive(Clone)]
struct Counted(#[allow(dead_code)] Arc<crate::metrics::ConnectionCount>);

/// The task that serves the socket's connection.
#[derive(Clone)]
struct ConnectionTask(AbortHandle);

/// Ends the socket's connection (dropping it counts it closed for presence).
async fn on_disconnect(socket: SocketRef) {
    if let Some(task) = socket.extensions.get::<ConnectionTask>() {
        task.0.abort();
    }
    // A socket that never reached `on_connect` still holds its connection.
    socket.extensions.remove::<PendingConnection>();
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
