//! Engine.IO v4, the transport under Socket.IO: a WebSocket, or HTTP long
//! polling that may upgrade to a WebSocket, with the server's heartbeat.
//!
//! A socket is served by one task that owns its [`Link`]: it reads, writes
//! and pings through it, so an idle socket costs that task, its WebSocket
//! and little else (W3 of BENCHMARKS.md: socketioxide spent three tasks and
//! a packet channel per socket before the connection's own task). A
//! polling session is also one task; its HTTP requests only hand packets
//! over ([`PollingSession`]). What the packets mean is `session.rs`'s.
//!
//! Wire formats are Engine.IO's: `0` open, `1` close, `2` ping, `3` pong,
//! `4` message, `5` upgrade, `6` noop; a polling body joins packets with
//! the record separator (`\x1e`).

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use engineioxide_core::{OpenPacket, Packet, Sid, Str, TransportType};
use tokio::sync::{Notify, mpsc};
use tokio::time::{Instant, Sleep};

/// How often the server pings (Engine.IO's default).
pub const PING_INTERVAL: Duration = Duration::from_secs(25);
/// How long a ping may go unanswered before the socket is closed.
pub const PING_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest one frame may wait to be written: a client that reads nothing
/// for this long is disconnected (the GraphQL door waits as long).
const STALLED_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a client has to finish an upgrade from polling (`2probe` … `5`).
const UPGRADE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest the server waits for a client to answer its close frame.
const CLOSE_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);
/// Packets a polling client's POSTs may have in flight to its socket's task.
const POLLING_INBOX: usize = 64;

/// Why a link ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// The client closed it (close frame, `1`, or the connection dropped).
    ByClient,
    /// A ping went unanswered.
    PingTimeout,
    /// The client stopped reading: a write waited too long or its polling
    /// queue filled up.
    SlowClient,
    /// The client sent something that is not Engine.IO.
    Malformed,
}

/// What a socket's task hears from its link.
pub enum Heard {
    /// A Socket.IO packet (the data of an Engine.IO message).
    Message(Str),
    /// Time to ping: call [`Link::ping`].
    PingDue,
    /// The client moved from polling to a WebSocket: call
    /// [`Link::flush_backlog`] to write what its last poll did not take.
    Upgraded,
    /// The link is gone.
    Closed(Closed),
}

/// A socket's transport, owned by the socket's task.
pub struct Link {
    transport: Transport,
    heartbeat: Pin<Box<Sleep>>,
    /// When the unanswered ping was sent, if one is.
    pinged_at: Option<Instant>,
    /// Packets queued for polls that an upgrade moved here, to be written
    /// to the WebSocket.
    backlog: Vec<Utf8Bytes>,
}

// Nearly every socket's transport is a WebSocket: boxing it would add an
// allocation to each.
#[allow(clippy::large_enum_variant)]
enum Transport {
    WebSocket(WebSocket),
    Polling(Polling),
}

/// A polling socket's side of its session; dropping it ends the session.
struct Polling {
    session: Arc<PollingSession>,
    inbox: mpsc::Receiver<Inbound>,
    engine: Engine,
}

impl Drop for Polling {
    fn drop(&mut self) {
        if self.session.close() {
            // Its last packets wait for the client's next poll, which
            // forgets the session; a client that never polls again is
            // forgotten after a ping timeout.
            let engine = self.engine.clone();
            let sid = self.session.sid;
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    tokio::time::sleep(PING_TIMEOUT).await;
                    engine.forget(&sid);
                });
            }
        } else {
            self.engine.forget(&self.session.sid);
        }
    }
}

/// What a polling session's requests hand its socket's task.
enum Inbound {
    /// An Engine.IO packet from a POST.
    Packet(Utf8Bytes),
    /// The WebSocket the client upgraded to, probe done (boxed: the
    /// channel's slots are the size of its largest item).
    Upgrade(Box<WebSocket>),
}

const CLOSE: Utf8Bytes = Utf8Bytes::from_static("1");
const PING: Utf8Bytes = Utf8Bytes::from_static("2");
const NOOP: Utf8Bytes = Utf8Bytes::from_static("6");

impl Link {
    /// A WebSocket link; the open packet is written here.
    pub async fn websocket(mut socket: WebSocket, max_payload: u64) -> Option<Link> {
        let open = open_packet(Sid::new(), false, max_payload);
        send_with_timeout(&mut socket, Message::Text(open.into()))
            .await
            .ok()?;
        Some(Link::new(Transport::WebSocket(socket)))
    }

    fn new(transport: Transport) -> Link {
        Link {
            transport,
            heartbeat: Box::pin(tokio::time::sleep(PING_INTERVAL)),
            pinged_at: None,
            backlog: Vec::new(),
        }
    }

    /// The next thing heard. Cancel-safe: nothing is lost when the future
    /// is dropped before it resolves (the socket's task selects on it).
    pub async fn recv(&mut self) -> Heard {
        loop {
            let raw = match &mut self.transport {
                Transport::WebSocket(socket) => tokio::select! {
                    frame = socket.recv() => match frame {
                        Some(Ok(Message::Text(text))) => text,
                        // Socket.IO binary attachments are not part of this
                        // API; control frames are tungstenite's.
                        Some(Ok(Message::Binary(_) | Message::Ping(_) | Message::Pong(_))) => continue,
                        Some(Ok(Message::Close(_)) | Err(_)) | None => {
                            return Heard::Closed(Closed::ByClient);
                        }
                    },
                    () = self.heartbeat.as_mut() => return self.heartbeat_due(),
                },
                Transport::Polling(polling) => tokio::select! {
                    inbound = polling.inbox.recv() => match inbound {
                        Some(Inbound::Packet(text)) => text,
                        Some(Inbound::Upgrade(socket)) => {
                            self.upgrade(*socket);
                            return Heard::Upgraded;
                        }
                        None => return Heard::Closed(Closed::ByClient),
                    },
                    () = self.heartbeat.as_mut() => return self.heartbeat_due(),
                },
            };
            match raw.as_bytes().first() {
                Some(b'4') => return Heard::Message(Str::copy_from_slice(&raw[1..])),
                Some(b'3') => self.ponged(),
                Some(b'1') => return Heard::Closed(Closed::ByClient),
                // A client's ping (Engine.IO v3 only) and noops need nothing.
                Some(b'2' | b'6') => {}
                _ => return Heard::Closed(Closed::Malformed),
            }
        }
    }

    fn heartbeat_due(&mut self) -> Heard {
        if self.pinged_at.is_some() {
            Heard::Closed(Closed::PingTimeout)
        } else {
            Heard::PingDue
        }
    }

    fn ponged(&mut self) {
        if let Some(pinged_at) = self.pinged_at.take() {
            self.heartbeat.as_mut().reset(pinged_at + PING_INTERVAL);
        }
    }

    /// Pings the client; it has [`PING_TIMEOUT`] to answer.
    pub async fn ping(&mut self) -> Result<(), Closed> {
        let now = Instant::now();
        self.pinged_at = Some(now);
        self.heartbeat.as_mut().reset(now + PING_TIMEOUT);
        self.send(PING).await
    }

    /// Writes one Engine.IO packet (a `4…` message carries Socket.IO).
    pub async fn send(&mut self, packet: Utf8Bytes) -> Result<(), Closed> {
        match &mut self.transport {
            Transport::WebSocket(socket) => send_with_timeout(socket, Message::Text(packet)).await,
            Transport::Polling(polling) => polling.session.queue(packet),
        }
    }

    /// Writes what the client's last poll did not take, after an upgrade.
    pub async fn flush_backlog(&mut self) -> Result<(), Closed> {
        let Transport::WebSocket(socket) = &mut self.transport else {
            return Ok(());
        };
        for packet in std::mem::take(&mut self.backlog) {
            send_with_timeout(socket, Message::Text(packet)).await?;
        }
        Ok(())
    }

    /// Closes the transport (after the caller wrote its last packets).
    pub async fn close(self) {
        match self.transport {
            Transport::WebSocket(mut socket) => {
                // The close handshake, then the TCP close: closing TCP while
                // the client's close frame is still unread sends a reset,
                // and a reset makes the client's kernel drop what it had not
                // read yet (the last events, DISCONNECT).
                let _ = tokio::time::timeout(CLOSE_HANDSHAKE_TIMEOUT, async {
                    socket.send(Message::Close(None)).await.ok()?;
                    while let Some(Ok(message)) = socket.recv().await {
                        if matches!(message, Message::Close(_)) {
                            break;
                        }
                    }
                    Some(())
                })
                .await;
            }
            // Its drop closes the session: the next poll reads what is
            // left and the close packet.
            Transport::Polling(_) => {}
        }
    }

    fn upgrade(&mut self, socket: WebSocket) {
        if let Transport::Polling(polling) = &self.transport {
            self.backlog = polling.session.hand_over().into();
        }
        self.transport = Transport::WebSocket(socket);
    }
}

async fn send_with_timeout(socket: &mut WebSocket, message: Message) -> Result<(), Closed> {
    match tokio::time::timeout(STALLED_WRITE_TIMEOUT, socket.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(Closed::ByClient),
        Err(_) => Err(Closed::SlowClient),
    }
}

fn open_packet(sid: Sid, can_upgrade: bool, max_payload: u64) -> String {
    let upgrades = if can_upgrade {
        [TransportType::Websocket].into_iter().collect()
    } else {
        Default::default()
    };
    String::from(Packet::Open(OpenPacket {
        sid,
        upgrades,
        ping_interval: PING_INTERVAL,
        ping_timeout: PING_TIMEOUT,
        max_payload,
    }))
}

/// The server's side of a polling session, shared by its requests and its
/// socket's task.
pub struct PollingSession {
    sid: Sid,
    outbox: Mutex<Outbox>,
    /// Wakes the waiting poll when packets are queued or the session ends.
    ready: Notify,
    inbox: mpsc::Sender<Inbound>,
}

#[derive(Default)]
struct Outbox {
    packets: VecDeque<Utf8Bytes>,
    /// Once ended: what a poll is answered with when nothing is queued.
    ended: Option<Utf8Bytes>,
    /// A poll is waiting (a second one at once is refused).
    polled: bool,
}

impl PollingSession {
    fn outbox(&self) -> MutexGuard<'_, Outbox> {
        // Only short, non-panicking sections hold it.
        self.outbox
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn queue(&self, packet: Utf8Bytes) -> Result<(), Closed> {
        let mut outbox = self.outbox();
        if outbox.ended.is_some() {
            return Err(Closed::ByClient);
        }
        if outbox.packets.len() >= super::SEND_BUFFER_PACKETS {
            return Err(Closed::SlowClient);
        }
        outbox.packets.push_back(packet);
        drop(outbox);
        self.ready.notify_one();
        Ok(())
    }

    /// Closes the session: the next polls take what is queued, then the
    /// close packet. False when it had ended already (handed over).
    fn close(&self) -> bool {
        let mut outbox = self.outbox();
        if outbox.ended.is_some() {
            return false;
        }
        outbox.ended = Some(CLOSE);
        drop(outbox);
        self.ready.notify_one();
        true
    }

    /// Ends the session for an upgrade: a poll still waiting gets a noop,
    /// as the client expects; the packets no poll took are returned, for
    /// the WebSocket.
    fn hand_over(&self) -> VecDeque<Utf8Bytes> {
        let mut outbox = self.outbox();
        outbox.ended = Some(NOOP);
        let left = std::mem::take(&mut outbox.packets);
        drop(outbox);
        self.ready.notify_one();
        left
    }

    /// A poll (GET): the queued packets, waiting for one if there is none;
    /// true with it when the session has ended (nothing more will come).
    async fn poll(&self) -> (Response, bool) {
        {
            let mut outbox = self.outbox();
            if outbox.polled {
                return (engine_error(ErrorCode::BadRequest), false);
            }
            outbox.polled = true;
        }
        let _polled = PollInProgress(self);
        loop {
            {
                // The close packet travels alone: a client closes the
                // transport on it before it delivers the packets beside it.
                let mut outbox = self.outbox();
                if !outbox.packets.is_empty() {
                    let packets: Vec<Utf8Bytes> = outbox.packets.drain(..).collect();
                    return (polling_body(&packets), false);
                }
                if let Some(answer) = outbox.ended.clone() {
                    return (polling_body(&[answer]), true);
                }
            }
            self.ready.notified().await;
        }
    }

    /// A POST: its packets, handed to the socket's task in order.
    async fn post(&self, body: Bytes) -> Response {
        let Ok(text) = Utf8Bytes::try_from(body) else {
            return engine_error(ErrorCode::BadRequest);
        };
        for packet in text.split('\u{1e}') {
            let packet = Inbound::Packet(Utf8Bytes::from(packet));
            if self.inbox.send(packet).await.is_err() {
                return engine_error(ErrorCode::UnknownSession);
            }
        }
        ([(header::CONTENT_TYPE, "text/html")], "ok").into_response()
    }
}

/// Marks a session's poll finished however the request ends.
struct PollInProgress<'a>(&'a PollingSession);

impl Drop for PollInProgress<'_> {
    fn drop(&mut self) {
        self.0.outbox().polled = false;
    }
}

fn polling_body(packets: &[Utf8Bytes]) -> Response {
    let body = packets
        .iter()
        .map(Utf8Bytes::as_str)
        .collect::<Vec<_>>()
        .join("\u{1e}");
    ([(header::CONTENT_TYPE, "text/plain; charset=UTF-8")], body).into_response()
}

/// The polling sessions of this process, by session id.
#[derive(Clone, Default)]
pub struct Engine {
    sessions: Arc<Mutex<HashMap<Sid, Arc<PollingSession>>>>,
}

impl Engine {
    fn sessions(&self) -> MutexGuard<'_, HashMap<Sid, Arc<PollingSession>>> {
        self.sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn forget(&self, sid: &Sid) {
        self.sessions().remove(sid);
    }

    fn session(&self, raw_sid: &str) -> Option<Arc<PollingSession>> {
        let sid = raw_sid.parse::<Sid>().ok()?;
        self.sessions().get(&sid).cloned()
    }

    /// A polling handshake: a new session whose link the caller serves,
    /// and the response carrying the open packet.
    pub fn open_polling(&self, max_payload: u64) -> (Link, Response) {
        let sid = Sid::new();
        let (inbox_tx, inbox) = mpsc::channel(POLLING_INBOX);
        let session = Arc::new(PollingSession {
            sid,
            outbox: Mutex::default(),
            ready: Notify::new(),
            inbox: inbox_tx,
        });
        self.sessions().insert(sid, session.clone());
        let open = Utf8Bytes::from(open_packet(sid, true, max_payload));
        let link = Link::new(Transport::Polling(Polling {
            session,
            inbox,
            engine: self.clone(),
        }));
        (link, polling_body(&[open]))
    }

    /// A poll of session `sid`.
    pub async fn poll(&self, sid: &str) -> Response {
        match self.session(sid) {
            Some(session) => {
                let (response, ended) = session.poll().await;
                if ended {
                    self.forget(&session.sid);
                }
                response
            }
            None => engine_error(ErrorCode::UnknownSession),
        }
    }

    /// A POST to session `sid`.
    pub async fn post(&self, sid: &str, body: Bytes) -> Response {
        match self.session(sid) {
            Some(session) => session.post(body).await,
            None => engine_error(ErrorCode::UnknownSession),
        }
    }

    /// The session a WebSocket upgrade names, if it is still polling.
    pub fn upgrading(&self, sid: &str) -> Option<Arc<PollingSession>> {
        self.session(sid)
    }
}

/// Runs the upgrade probe on the new WebSocket, then hands it to the
/// session's task: `2probe` → `3probe`, a noop for the waiting poll, `5`.
pub async fn probe(session: Arc<PollingSession>, mut socket: WebSocket) {
    let probed = tokio::time::timeout(UPGRADE_TIMEOUT, async {
        if next_text(&mut socket).await?.as_str() != "2probe" {
            return None;
        }
        socket
            .send(Message::Text(Utf8Bytes::from_static("3probe")))
            .await
            .ok()?;
        session.queue(NOOP).ok()?;
        (next_text(&mut socket).await?.as_str() == "5").then_some(())
    })
    .await;
    if let Ok(Some(())) = probed {
        let _ = session.inbox.send(Inbound::Upgrade(Box::new(socket))).await;
    }
}

async fn next_text(socket: &mut WebSocket) -> Option<Utf8Bytes> {
    loop {
        match socket.recv().await? {
            Ok(Message::Text(text)) => return Some(text),
            Ok(Message::Ping(_) | Message::Pong(_)) => {}
            _ => return None,
        }
    }
}

/// Engine.IO's error answers.
#[derive(Debug, Clone, Copy)]
pub enum ErrorCode {
    /// `transport` is neither `polling` nor `websocket`.
    UnknownTransport,
    /// The session id is not (or no longer) a polling session here.
    UnknownSession,
    /// A handshake with another method than GET.
    BadHandshakeMethod,
    /// Anything else malformed (a second poll at once, a body not UTF-8).
    BadRequest,
    /// `EIO` is not 4.
    UnsupportedProtocolVersion,
}

/// The JSON error Engine.IO answers with (400).
pub fn engine_error(code: ErrorCode) -> Response {
    let (number, message) = match code {
        ErrorCode::UnknownTransport => (0, "Transport unknown"),
        ErrorCode::UnknownSession => (1, "Session ID unknown"),
        ErrorCode::BadHandshakeMethod => (2, "Bad handshake method"),
        ErrorCode::BadRequest => (3, "Bad request"),
        ErrorCode::UnsupportedProtocolVersion => (5, "Unsupported protocol version"),
    };
    (
        StatusCode::BAD_REQUEST,
        axum::Json(serde_json::json!({ "code": number, "message": message })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(response: Response) -> (StatusCode, String) {
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    /// A polling session: its link, and its session id as the open packet names it.
    async fn polling(engine: &Engine) -> (Link, String) {
        let (link, response) = engine.open_polling(1_000);
        let (status, body) = body_of(response).await;
        assert_eq!(status, StatusCode::OK);
        let open: serde_json::Value =
            serde_json::from_str(body.strip_prefix('0').unwrap()).unwrap();
        assert_eq!(open["upgrades"], serde_json::json!(["websocket"]));
        assert_eq!(open["pingInterval"], 25_000);
        (link, open["sid"].as_str().unwrap().to_owned())
    }

    /// A poll of `sid` left waiting in a task of its own.
    fn waiting_poll(engine: &Engine, sid: &str) -> tokio::task::JoinHandle<(StatusCode, String)> {
        let engine = engine.clone();
        let sid = sid.to_owned();
        tokio::spawn(async move { body_of(engine.poll(&sid).await).await })
    }

    #[tokio::test]
    async fn a_poll_takes_every_queued_packet_joined_by_the_record_separator() {
        let engine = Engine::default();
        let (mut link, sid) = polling(&engine).await;

        link.send(Utf8Bytes::from_static("42[\"a\",1]"))
            .await
            .unwrap();
        link.ping().await.unwrap();

        assert_eq!(
            body_of(engine.poll(&sid).await).await,
            (StatusCode::OK, "42[\"a\",1]\u{1e}2".to_owned())
        );
    }

    #[tokio::test]
    async fn a_second_poll_at_once_is_refused_and_the_first_still_answered() {
        let engine = Engine::default();
        let (mut link, sid) = polling(&engine).await;
        let first = waiting_poll(&engine, &sid);
        tokio::time::sleep(Duration::from_millis(20)).await;

        let (status, _) = body_of(engine.poll(&sid).await).await;
        link.send(Utf8Bytes::from_static("42[\"late\"]"))
            .await
            .unwrap();

        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            first.await.unwrap(),
            (StatusCode::OK, "42[\"late\"]".to_owned())
        );
    }

    #[tokio::test]
    async fn a_post_hands_its_packets_to_the_link_in_order_and_pongs_are_taken() {
        let engine = Engine::default();
        let (mut link, sid) = polling(&engine).await;

        let posted = engine
            .post(&sid, Bytes::from_static(b"40\x1e3\x1e42[\"x\"]"))
            .await;

        assert_eq!(body_of(posted).await, (StatusCode::OK, "ok".to_owned()));
        for expected in ["0", "2[\"x\"]"] {
            match link.recv().await {
                Heard::Message(packet) => assert_eq!(packet.as_str(), expected),
                _ => panic!("expected the message {expected}"),
            }
        }
    }

    #[tokio::test]
    async fn a_dropped_link_answers_the_waiting_poll_with_close_and_forgets_the_session() {
        let engine = Engine::default();
        let (link, sid) = polling(&engine).await;
        let waiting = waiting_poll(&engine, &sid);
        tokio::time::sleep(Duration::from_millis(20)).await;

        link.close().await;

        assert_eq!(waiting.await.unwrap(), (StatusCode::OK, "1".to_owned()));
        let (status, body) = body_of(engine.poll(&sid).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("Session ID unknown"), "{body}");
    }

    #[tokio::test]
    async fn the_last_packets_of_a_closed_session_reach_the_next_poll_before_the_close() {
        let engine = Engine::default();
        let (mut link, sid) = polling(&engine).await;
        link.send(Utf8Bytes::from_static("42[\"session_ended\"]"))
            .await
            .unwrap();
        link.send(Utf8Bytes::from_static("41")).await.unwrap();

        link.close().await;

        assert_eq!(
            body_of(engine.poll(&sid).await).await,
            (StatusCode::OK, "42[\"session_ended\"]\u{1e}41".to_owned())
        );
        assert_eq!(
            body_of(engine.poll(&sid).await).await,
            (StatusCode::OK, "1".to_owned())
        );
    }

    #[tokio::test]
    async fn a_polling_client_that_stops_reading_is_closed_at_the_queue_bound() {
        let engine = Engine::default();
        let (mut link, _sid) = polling(&engine).await;

        for _ in 0..super::super::SEND_BUFFER_PACKETS {
            link.send(Utf8Bytes::from_static("42[\"x\"]"))
                .await
                .unwrap();
        }

        assert_eq!(
            link.send(Utf8Bytes::from_static("42[\"x\"]")).await,
            Err(Closed::SlowClient)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_server_pings_on_time_and_closes_a_link_whose_ping_goes_unanswered() {
        let engine = Engine::default();
        let (mut link, sid) = polling(&engine).await;
        let opened = Instant::now();

        assert!(matches!(link.recv().await, Heard::PingDue));
        assert_eq!(opened.elapsed(), PING_INTERVAL);
        link.ping().await.unwrap();
        // Answered: the next ping is due an interval after this one.
        engine.post(&sid, Bytes::from_static(b"3")).await;
        assert!(matches!(link.recv().await, Heard::PingDue));
        assert_eq!(opened.elapsed(), PING_INTERVAL * 2);
        link.ping().await.unwrap();

        assert!(matches!(
            link.recv().await,
            Heard::Closed(Closed::PingTimeout)
        ));
        assert_eq!(opened.elapsed(), PING_INTERVAL * 2 + PING_TIMEOUT);
    }

    #[test]
    fn engine_errors_carry_engine_io_codes() {
        for (code, number) in [
            (ErrorCode::UnknownTransport, 0),
            (ErrorCode::UnknownSession, 1),
            (ErrorCode::BadHandshakeMethod, 2),
            (ErrorCode::BadRequest, 3),
            (ErrorCode::UnsupportedProtocolVersion, 5),
        ] {
            let response = engine_error(code);
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
            let body = futures::executor::block_on(body_of(response)).1;
            let body: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(body["code"], number, "{code:?}");
        }
    }
}
