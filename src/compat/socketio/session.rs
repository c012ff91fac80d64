//! One Socket.IO socket, from its CONNECT to its end, served by one task.
//!
//! Before CONNECT the socket is only a link. The CONNECT packet's `auth`
//! (else the HTTP request's bearer header or `token` query parameter) is
//! verified (`handshake.rs`); a refusal is a CONNECT_ERROR and the client
//! may try again until [`CONNECT_TIMEOUT`]. Once connected, the task
//! renders the socket's connection (`services::Connections`: events,
//! chat messages, `resume_position`, the replay of a resuming socket, the
//! end of the session) and runs the client's events through the handlers
//! of `events.rs`, answering each ack in the order the events came. The
//! rules are the services'; this only translates.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use futures::StreamExt as _;
use futures::stream::FuturesOrdered;
use socketioxide_core::Str;
use socketioxide_core::packet::{Packet, PacketData};
use socketioxide_core::parser::{Parse as _, ParseConfig, ParserState};
use socketioxide_parser_common::CommonParser;

use super::caller::Caller;
use super::engine::{Closed, Heard, Link};
use super::events::{self, ResumePositionPayload, ResyncRequiredPayload, SessionEndedPayload};
use super::frame;
use super::handlers::{self, Reply};
use super::handshake::{self, Offered};
use super::{SocketIo, render};
use crate::hub::ConnectionId;
use crate::metrics::{self, Door};
use crate::services::{LiveConnection, Opening, Outbound, Wants};

/// Time a link has to connect to the namespace (socket.io's default).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(45);

/// Client events handled at once per socket; past this the socket is not
/// read until one finishes (the client's writes wait in TCP).
const EVENTS_IN_FLIGHT: usize = 64;

/// Serves one link until it ends.
///
/// The handshake's future (token verification, store reads) is boxed and
/// freed once the socket is connected: a task's future is allocated at its
/// largest for the task's whole life, and this one lives as long as the
/// socket (W3 of BENCHMARKS.md). The link stays in this frame; what runs
/// on it borrows it (a future that moved it would hold a second copy).
pub async fn serve(door: SocketIo, mut link: Link, offered: Offered) {
    let connected = Box::pin(connect(&door, &mut link, offered)).await;
    if let Some(socket) = connected {
        serve_connected(&door, &mut link, socket).await;
    }
    // Boxed for the same reason as the handshake: it runs once, at the end.
    Box::pin(link.close()).await;
}

/// Serves a connected socket until it ends.
async fn serve_connected(door: &SocketIo, link: &mut Link, mut socket: Connected) {
    let mut shutdown = door.shutdown();
    let mut replies: Option<FuturesOrdered<Reply>> = None;
    let end = loop {
        let in_flight = replies.as_ref().map_or(0, FuturesOrdered::len);
        if in_flight == 0 {
            replies = None; // an idle socket keeps nothing for events
        }
        let step = tokio::select! {
            biased;
            _ = shutdown.changed() => Step::Shutdown,
            Some(reply) = next_reply(&mut replies) => Step::Reply(reply),
            item = socket.live.next() => Step::Outbound(item),
            heard = link.recv(), if in_flight < EVENTS_IN_FLIGHT => Step::Heard(heard),
        };
        let written = match step {
            Step::Shutdown => break End::Shutdown,
            Step::Reply((id, body)) => link.send(frame::ack(id, &body)).await,
            Step::Outbound(None) => break End::Shutdown,
            Step::Outbound(Some(item)) => match socket.render(&item) {
                Rendered::Frame(frame) => {
                    let written = link.send(frame).await;
                    if written.is_ok() {
                        socket.live.handed_over(&item);
                        if let Outbound::Event(published) = &item {
                            metrics::event_delivered(Door::SocketIo, published.event.kind());
                        }
                    }
                    written
                }
                Rendered::Nothing => Ok(()),
                Rendered::End(frame) => {
                    let _ = link.send(frame).await;
                    break End::Ended;
                }
            },
            Step::Heard(Heard::Message(packet)) => match decode(packet) {
                Some(Packet {
                    inner: PacketData::Event(mut value, ack),
                    ns,
                }) if ns == "/" => {
                    if let Some(reply) = handlers::dispatch(&socket.caller, &mut value, ack) {
                        replies
                            .get_or_insert_with(FuturesOrdered::new)
                            .push_back(reply);
                    }
                    Ok(())
                }
                Some(Packet {
                    inner: PacketData::Disconnect,
                    ns,
                }) if ns == "/" => break End::ByClient,
                // Acks (the server asks for none), a second CONNECT,
                // other namespaces and what does not parse are ignored.
                _ => Ok(()),
            },
            Step::Heard(Heard::PingDue) => link.ping().await,
            Step::Heard(Heard::Upgraded) => link.flush_backlog().await,
            Step::Heard(Heard::Closed(closed)) => Err(closed),
        };
        if let Err(closed) = written {
            if closed == Closed::SlowClient {
                tracing::info!(socket.id = %socket.caller.origin.0, "socket closed: the client stopped reading");
                metrics::slow_client_dropped(Door::SocketIo);
            }
            break End::ByClient;
        }
    };
    if end != End::ByClient {
        let _ = link.send(frame::DISCONNECT).await;
    }
    tracing::debug!(socket.id = %socket.caller.origin.0, ?end, "socket closed");
}

/// Why the loop ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// The client left, or its link failed.
    ByClient,
    /// The connection ended the session (told the client why).
    Ended,
    /// The server is stopping.
    Shutdown,
}

enum Step {
    Shutdown,
    Reply((i64, serde_json::Value)),
    Outbound(Option<Outbound>),
    Heard(Heard),
}

/// The next ack to write, in the order the events came; pending while no
/// event is being handled.
async fn next_reply(
    replies: &mut Option<FuturesOrdered<Reply>>,
) -> Option<(i64, serde_json::Value)> {
    loop {
        match replies {
            Some(pending) if !pending.is_empty() => {
                // An event without an ack id answers nothing.
                if let Some((Some(id), body)) = pending.next().await {
                    return Some((id, body));
                }
            }
            _ => std::future::pending::<()>().await,
        }
    }
}

/// A connected socket: who it is and its connection.
struct Connected {
    caller: Arc<Caller>,
    live: LiveConnection,
    /// Its place in the connection gauge, given back when it drops.
    _counted: metrics::ConnectionCount,
}

/// What one outbound item becomes on the wire.
enum Rendered {
    Frame(Utf8Bytes),
    Nothing,
    /// The last frame: the session ended.
    End(Utf8Bytes),
}

impl Connected {
    fn render(&self, item: &Outbound) -> Rendered {
        match item {
            Outbound::Event(published) => match render::frame(published) {
                Some(frame) => Rendered::Frame(frame),
                None => Rendered::Nothing,
            },
            Outbound::ResumeFrom(position) => Rendered::Frame(frame::event(
                events::RESUME_POSITION.name,
                &ResumePositionPayload {
                    position: position.to_string(),
                },
            )),
            Outbound::ResyncRequired(reason) => Rendered::Frame(frame::event(
                events::RESYNC_REQUIRED.name,
                &ResyncRequiredPayload {
                    reason: reason.as_str(),
                },
            )),
            Outbound::Ended(reason) => Rendered::End(frame::event(
                events::SESSION_ENDED.name,
                &SessionEndedPayload {
                    reason: (*reason).into(),
                },
            )),
        }
    }
}

/// Waits for the CONNECT of the default namespace and verifies it; the
/// connection is open before the client hears it is connected, so nothing
/// published from then on is missed.
async fn connect(door: &SocketIo, link: &mut Link, offered: Offered) -> Option<Connected> {
    let deadline = tokio::time::sleep(CONNECT_TIMEOUT);
    tokio::pin!(deadline);
    loop {
        let heard = tokio::select! {
            heard = link.recv() => heard,
            () = &mut deadline => return None,
        };
        let packet = match heard {
            Heard::Message(packet) => packet,
            Heard::PingDue => {
                link.ping().await.ok()?;
                continue;
            }
            Heard::Upgraded => {
                link.flush_backlog().await.ok()?;
                continue;
            }
            Heard::Closed(_) => return None,
        };
        let Some(Packet {
            inner: PacketData::Connect(auth),
            ns,
        }) = decode(packet)
        else {
            continue; // nothing but CONNECT before connecting
        };
        if ns != "/" {
            link.send(frame::connect_error(&ns, "Invalid namespace"))
                .await
                .ok()?;
            continue;
        }
        let auth = auth.and_then(|auth| {
            CommonParser
                .decode_default::<serde_json::Value>(Some(&auth))
                .ok()
        });
        match handshake::authenticate(door.services(), auth, &offered).await {
            Ok(verified) => {
                let socket_id = engineioxide_core::Sid::new();
                let origin = ConnectionId(format!("sio:{socket_id}"));
                let counted = metrics::connection_opened(Door::SocketIo);
                let live = door.services().connections.open(Opening {
                    principal: verified.principal.clone(),
                    expires_at: verified.expires_at,
                    origin: origin.clone(),
                    wants: Wants::Events {
                        resume_after: verified.resume_after,
                    },
                });
                link.send(frame::connected(socket_id.as_str())).await.ok()?;
                tracing::debug!(user.id = %verified.principal.user_id, socket.id = %socket_id, "socket connected");
                return Some(Connected {
                    caller: Arc::new(Caller {
                        principal: verified.principal,
                        door: door.clone(),
                        origin,
                    }),
                    live,
                    _counted: counted,
                });
            }
            Err(error) => {
                metrics::handshake(Door::SocketIo, false);
                link.send(frame::connect_error("/", &error.to_string()))
                    .await
                    .ok()?;
            }
        }
    }
}

/// A Socket.IO packet, or `None` for one that does not parse or carries
/// binary attachments (not part of this API). Without attachments a packet
/// stands alone, so the parser keeps no state between packets.
fn decode(packet: Str) -> Option<Packet> {
    if matches!(packet.as_bytes().first(), Some(b'5' | b'6')) {
        return None;
    }
    CommonParser
        .decode_str(&ParseConfig::default(), &ParserState::default(), packet)
        .inspect_err(|error| tracing::debug!(%error, "unreadable Socket.IO packet ignored"))
        .ok()
}
