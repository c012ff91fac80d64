//! The Socket.IO door: protocol v5 over Engine.IO v4 (WebSocket, or HTTP
//! long polling upgrading to a WebSocket), default namespace, at
//! `/socket.io/`.
//!
//! Each socket is one task (`session.rs`) that owns its link
//! (`engine.rs`): it answers the CONNECT after verifying the token
//! (`handshake.rs`), renders the socket's connection from the connection
//! service (events of its audience, chat messages, `resume_position`, the
//! replay of a resuming socket, the end of the session; `render.rs` makes
//! each event's frame once, as text of `frame.rs`), and runs the client's
//! events through the handlers (`handlers.rs`, `chat.rs`, `orders.rs`, each
//! given the `Caller` of `caller.rs`). Every event name and
//! payload is an entry of the table in `events.rs`, which `/asyncapi.json`
//! describes.
//!
//! Why not socketioxide, which this door used before: it gives every socket
//! three tasks and a packet channel of its own besides the connection's
//! task, about 22 KB per idle socket; one task per socket holds about a
//! third of that (W3 of BENCHMARKS.md). The packet formats still come from
//! its crates (`engineioxide-core`, `socketioxide-core` and its common
//! parser); the door writes only the transport and the session.

mod caller;
mod chat;
mod engine;
pub mod events;
mod frame;
mod handlers;
mod handshake;
mod orders;
mod render;
mod session;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{FromRequestParts as _, Request, State, WebSocketUpgrade};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse as _, Response};
use axum::routing::get;
use futures::FutureExt as _;
use tokio::sync::{Notify, watch};

use crate::services::Services;
use engine::{Engine, ErrorCode, Link, engine_error};
use handshake::Offered;

/// Largest Socket.IO frame (or polling body) read: an oversized chat text
/// gets a validation ack rather than ending the connection.
const MAX_FRAME_BYTES: usize = 2 * 1024 * 1024;

/// Packets a polling client's queue holds before the socket is closed as
/// a client that stopped reading. Every client event gets an ack, so a
/// client that floods events needs room for as many acks.
const SEND_BUFFER_PACKETS: usize = 4096;

/// Bytes read from a WebSocket per read, allocated per socket for as long
/// as it lives. Socket.IO frames of a dashboard are small (an event is a
/// few hundred bytes); a larger frame is still read whole, in more reads.
const READ_BUFFER_BYTES: usize = 1024;

/// Longest the server waits at shutdown for its sockets to say goodbye.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// The door: its polling sessions and the signal that closes every socket.
/// One pointer, cheap to clone: every socket's task holds one for its whole
/// life (the services alone are 1.5 KB).
#[derive(Clone)]
pub struct SocketIo(Arc<Door>);

struct Door {
    services: Services,
    engine: Engine,
    shutdown: watch::Sender<bool>,
    open: Arc<OpenSockets>,
}

/// The number of socket tasks alive, for a shutdown that waits for them.
#[derive(Default)]
struct OpenSockets {
    count: AtomicUsize,
    all_closed: Notify,
}

/// One socket task's place in [`OpenSockets`].
struct Open(Arc<OpenSockets>);

impl Open {
    fn new(open: &Arc<OpenSockets>) -> Open {
        open.count.fetch_add(1, Ordering::AcqRel);
        Open(open.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.all_closed.notify_waiters();
        }
    }
}

impl SocketIo {
    /// The door over the services.
    pub fn new(services: &Services) -> SocketIo {
        SocketIo(Arc::new(Door {
            services: services.clone(),
            engine: Engine::default(),
            shutdown: watch::channel(false).0,
            open: Arc::default(),
        }))
    }

    /// `/socket.io/` (GET and POST), for any router state.
    pub fn routes<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        Router::new()
            .route("/socket.io", get(handle).post(handle))
            .route("/socket.io/", get(handle).post(handle))
            .with_state(self.clone())
    }

    /// Ends every socket (each hears DISCONNECT) and waits, briefly, until
    /// their tasks are done.
    pub async fn close(&self) {
        let open = &self.0.open;
        let closed = open.all_closed.notified();
        tokio::pin!(closed);
        closed.as_mut().enable();
        self.0.shutdown.send_replace(true);
        if open.count.load(Ordering::Acquire) > 0 {
            let _ = tokio::time::timeout(CLOSE_GRACE, closed).await;
        }
    }

    /// The services the door's handlers call.
    fn services(&self) -> &Services {
        &self.0.services
    }

    fn shutdown(&self) -> watch::Receiver<bool> {
        self.0.shutdown.subscribe()
    }

    fn closing(&self) -> bool {
        *self.0.shutdown.borrow()
    }

    /// Serves a link until it ends.
    fn run(self, link: Link, offered: Offered) -> impl Future<Output = ()> + Send {
        let open = Open::new(&self.0.open);
        session::serve(self, link, offered).map(move |()| drop(open))
    }
}

/// The query of an Engine.IO request.
#[derive(Default)]
struct EngineQuery<'a> {
    protocol: Option<&'a str>,
    transport: Option<&'a str>,
    sid: Option<&'a str>,
    /// The access token of old clients.
    token: Option<&'a str>,
}

impl<'a> EngineQuery<'a> {
    fn parse(query: Option<&'a str>) -> Self {
        let mut parsed = EngineQuery::default();
        for (key, value) in query
            .unwrap_or_default()
            .split('&')
            .filter_map(|pair| pair.split_once('='))
        {
            match key {
                "EIO" => parsed.protocol = Some(value),
                "transport" => parsed.transport = Some(value),
                "sid" => parsed.sid = Some(value),
                "token" => parsed.token = Some(value),
                _ => {}
            }
        }
        parsed
    }
}

/// Every request to `/socket.io/`: a handshake (WebSocket or polling), a
/// poll, a POST of packets, or an upgrade of a polling session.
async fn handle(State(door): State<SocketIo>, request: Request) -> Response {
    if door.closing() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let (mut parts, body) = request.into_parts();
    // The query is read beside the parts the upgrade takes.
    let uri = parts.uri.clone();
    let query = EngineQuery::parse(uri.query());
    if query.protocol != Some("4") {
        return engine_error(ErrorCode::UnsupportedProtocolVersion);
    }
    let sid = query.sid;
    match query.transport {
        Some("websocket") => {
            if parts.method != Method::GET {
                return engine_error(ErrorCode::BadHandshakeMethod);
            }
            let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &door).await {
                Ok(upgrade) => upgrade
                    .read_buffer_size(READ_BUFFER_BYTES)
                    .max_message_size(MAX_FRAME_BYTES)
                    .max_frame_size(MAX_FRAME_BYTES),
                Err(rejection) => return rejection.into_response(),
            };
            match sid {
                None => {
                    let offered = Offered::new(&parts.headers, query.token);
                    upgrade.on_upgrade(move |socket| async move {
                        // This task (axum's, for the upgrade) serves the socket.
                        if let Some(link) = Link::websocket(socket, MAX_FRAME_BYTES as u64).await {
                            door.run(link, offered).await;
                        }
                    })
                }
                Some(sid) => match door.0.engine.upgrading(sid) {
                    Some(session) => {
                        upgrade.on_upgrade(move |socket| engine::probe(session, socket))
                    }
                    None => engine_error(ErrorCode::UnknownSession),
                },
            }
        }
        Some("polling") => match (parts.method, sid) {
            (Method::GET, None) => {
                let (link, response) = door.0.engine.open_polling(MAX_FRAME_BYTES as u64);
                let offered = Offered::new(&parts.headers, query.token);
                tokio::spawn(door.run(link, offered));
                response
            }
            (Method::GET, Some(sid)) => door.0.engine.poll(sid).await,
            (Method::POST, Some(sid)) => match axum::body::to_bytes(body, MAX_FRAME_BYTES).await {
                Ok(body) => door.0.engine.post(sid, body).await,
                Err(_) => StatusCode::PAYLOAD_TOO_LARGE.into_response(),
            },
            (_, None) => engine_error(ErrorCode::BadHandshakeMethod),
            _ => engine_error(ErrorCode::BadRequest),
        },
        _ => engine_error(ErrorCode::UnknownTransport),
    }
}
