//! Renders a socket's connection (`services::Connections`) onto the socket:
//! what the connection hands over becomes Socket.IO events, its end becomes
//! `session_ended` and a disconnect. The rules (presence, replay, delivery
//! marks, end reasons) are the service's; this only translates.
//!
//! A socket that resumed (`auth.offset`) gets every event from its
//! connection and joins no room; any other socket gets its chat messages
//! from its connection and the broadcasts from the room forwarder.

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
