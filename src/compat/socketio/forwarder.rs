//! Hub → Socket.IO: one task reads every event once and emits it into the
//! audience's room, the payload serialised once per event.

use serde_json::json;
use socketioxide::SocketIo;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use super::{ADMINS_ROOM, user_room};
use crate::hub::{Audience, Envelope, Event, Hub};

/// What one hub event becomes on the Socket.IO wire.
struct Outbound {
    event: &'static str,
    payload: serde_json::Value,
    /// Disconnect the audience's sockets after telling them (their tokens no
    /// longer say who they are).
    then_disconnect: bool,
}

fn outbound(event: &Event) -> Outbound {
    match event {
        Event::RoleChanged { .. } => Outbound {
            event: "session_ended",
            payload: json!({ "reason": "role_changed" }),
            then_disconnect: true,
        },
        Event::SignedOut { .. } => Outbound {
            event: "session_ended",
            payload: json!({ "reason": "logged_out" }),
            then_disconnect: true,
        },
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
    let outbound = outbound(&envelope.event);
    let room = match &envelope.audience {
        Audience::Everyone => None,
        Audience::Admins => Some(ADMINS_ROOM.to_owned()),
        Audience::User(user_id) => Some(user_room(user_id)),
    };
    let emitted = match &room {
        Some(room) => {
            io.to(room.clone())
                .emit(outbound.event, &outbound.payload)
                .await
        }
        None => io.emit(outbound.event, &outbound.payload).await,
    };
    if let Err(error) = emitted {
        tracing::debug!(%error, event = outbound.event, "socket.io emit failed");
    }
    if outbound.then_disconnect {
        let disconnected = match room {
            Some(room) => io.to(room).disconnect().await,
            None => io.broadcast().disconnect().await,
        };
        if let Err(error) = disconnected {
            tracing::debug!(%error, "socket.io disconnect failed");
        }
    }
}
