//! The Socket.IO door (socketioxide, protocol v4, default namespace at
//! `/socket.io/`).
//!
//! The handshake authenticates (`handshake.rs`); each socket joins its
//! user's room (`user:<id>`) and admins also join `admins`. Outbound events
//! come from the hub through one forwarder (`forwarder.rs`) that emits each
//! event once into its audience's room.

mod forwarder;
mod handshake;
mod orders;

use socketioxide::SocketIo;
use socketioxide::extract::{Extension, SocketRef};
use socketioxide::handler::ConnectHandler as _;
use socketioxide::layer::SocketIoLayer;
use tokio::task::JoinHandle;

use crate::auth::Principal;
use crate::services::Services;

pub use forwarder::spawn_forwarder;

/// The room of every connection of one user.
pub fn user_room(user_id: &crate::domain::UserId) -> String {
    format!("user:{user_id}")
}

/// The room of every admin connection.
pub const ADMINS_ROOM: &str = "admins";

/// Builds the Socket.IO layer and handle, registers the default namespace and
/// starts the hub forwarder.
pub fn attach(services: &Services) -> (SocketIoLayer, SocketIo, JoinHandle<()>) {
    let (layer, io) = SocketIo::builder()
        .with_state(services.clone())
        .build_layer();
    io.ns("/", on_connect.with(handshake::authenticate));
    let forwarder = spawn_forwarder(io.clone(), &services.hub);
    (layer, io, forwarder)
}

async fn on_connect(socket: SocketRef, Extension(principal): Extension<Principal>) {
    socket.on("update_order_status", orders::update_order_status);
    socket.join(user_room(&principal.user_id));
    if principal.is_admin() {
        socket.join(ADMINS_ROOM);
    }
    tracing::debug!(user.id = %principal.user_id, socket.id = %socket.id, "socket connected");
}
