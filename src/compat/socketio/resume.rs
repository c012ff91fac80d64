//! Sockets that resume: the handshake's `auth.offset` is the last position
//! the client processed. Such a socket is served by its own connection
//! (`services::Connections`): the events it missed, then live ones, each
//! once, in order. It joins no room, so the room forwarder never sends it a
//! second copy.

use futures::StreamExt as _;
use socketioxide::extract::SocketRef;

use super::events::{self, ResumePositionPayload, ResyncRequiredPayload, SessionEndedPayload};
use super::{emit_or_drop, forwarder};
use crate::services::{LiveConnection, Outbound};

/// Renders the connection's stream onto the socket until it ends.
pub async fn serve(socket: SocketRef, mut live: LiveConnection) {
    while let Some(item) = live.next().await {
        let handed = match &item {
            Outbound::Event(envelope) => match forwarder::render(envelope) {
                Some(outbound) => emit_or_drop(&socket, outbound.event, &outbound.payload),
                None => false,
            },
            Outbound::ResumeFrom(position) => emit_or_drop(
                &socket,
                events::RESUME_POSITION.name,
                &ResumePositionPayload {
                    position: position.to_string(),
                },
            ),
            Outbound::ResyncRequired(reason) => emit_or_drop(
                &socket,
                events::RESYNC_REQUIRED.name,
                &ResyncRequiredPayload {
                    reason: reason.as_str(),
                },
            ),
            Outbound::Ended(reason) => {
                let _ = socket.emit(
                    events::SESSION_ENDED.name,
                    &SessionEndedPayload {
                        reason: (*reason).into(),
                    },
                );
                let _ = socket.disconnect();
                return;
            }
        };
        if handed {
            live.handed_over(&item);
        } else if !socket.connected() {
            return;
        }
    }
}
