//! The "limit" baseline: a server that does only the per-connection work
//! any Socket.IO server must do (accept the WebSocket, answer the Engine.IO
//! open and the Socket.IO connect, write one frame per connection per
//! event) and nothing else: no accounts, no token check, no store, no
//! rooms. Against it, W2, W3 and W4 show what the machine and the WebSocket
//! stack allow, so our figures can be read as a distance from that.
//!
//! For W1 it relays chat the same bare way: the token a socket connects
//! with is taken as its user's id, a `send_message` is parsed, written to
//! the addressee's socket as `receive_message` and acknowledged. Nothing is
//! stored, checked or throttled: the CPU it needs per message is what the
//! sockets alone cost on this machine.
//!
//! Built on the same axum and tungstenite as the real server, so the
//! distance is our own work, not a different WebSocket implementation.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context as _;
use axum::extract::State;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::serve::ListenerExt as _;
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

/// Events buffered per connection before a slow one starts missing them.
const BACKLOG: usize = 1024;

#[derive(Debug, Clone, clap::Args)]
pub struct LimitArgs {
    /// Where to listen; a loopback address.
    #[arg(long, default_value = "127.0.0.1:4200")]
    pub listen: SocketAddr,
}

#[derive(Clone)]
struct Limit {
    events: broadcast::Sender<Utf8Bytes>,
    /// Each connected user's socket, for chat.
    users: Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Utf8Bytes>>>>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Serves until interrupted.
///
/// # Errors
/// A non-loopback address, or one already in use.
pub async fn serve(args: LimitArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.listen.ip().is_loopback(),
        "--listen must be a loopback address"
    );
    rlimit::increase_nofile_limit(u64::MAX).context("raising the open-file limit")?;
    let (events, _) = broadcast::channel(BACKLOG);
    let app = Router::new()
        .route("/socket.io/", get(upgrade))
        .route("/products", post(create_product))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(Limit {
            events,
            users: Arc::default(),
        });
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?
        .tap_io(|stream| {
            let _ = stream.set_nodelay(true);
        });
    println!("limit server listening on {}", args.listen);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("serving")
}

async fn upgrade(ws: WebSocketUpgrade, State(limit): State<Limit>) -> impl IntoResponse {
    // The read buffer the real server uses on both its WebSocket doors.
    ws.read_buffer_size(4096)
        .on_upgrade(move |socket| connection(socket, limit))
}

/// One connection: the two handshakes, then one frame per event and per
/// chat message addressed to its user.
async fn connection(mut socket: WebSocket, limit: Limit) {
    let mut events = limit.events.subscribe();
    let (to_me, mut chat) = mpsc::unbounded_channel();
    let mut user = None;
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let open = format!(
        r#"0{{"sid":"{id}","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}}"#
    );
    if socket.send(Message::text(open)).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(frame) => {
                    if socket.send(Message::Text(frame)).await.is_err() {
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            },
            Some(frame) = chat.recv() => {
                if socket.send(Message::Text(frame)).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) if text.starts_with("40") => {
                    user = token_of(&text);
                    if let Some(user) = &user {
                        lock(&limit.users).insert(user.clone(), to_me.clone());
                    }
                    let connected = format!(r#"40{{"sid":"{id}"}}"#);
                    if socket.send(Message::text(connected)).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Text(text))) if text.starts_with("42") => {
                    if let (Some(from), Some((ack, to, text))) = (&user, chat_message(&text)) {
                        let message_id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
                        let message = json!({ "id": message_id.to_string(), "from": from, "to": to, "text": text });
                        let frame = format!(r#"42["receive_message",{message}]"#);
                        if let Some(peer) = lock(&limit.users).get(&to) {
                            let _ = peer.send(Utf8Bytes::from(frame));
                        }
                        let acked = format!(r#"43{ack}[{{"status":"success","data":{{"id":"{message_id}"}}}}]"#);
                        if socket.send(Message::text(acked)).await.is_err() {
                            break;
                        }
                    }
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    if let Some(user) = user {
        lock(&limit.users).remove(&user);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The token of a Socket.IO connect packet (`40{"token":…}`).
fn token_of(packet: &str) -> Option<String> {
    let auth: Value = serde_json::from_str(packet.strip_prefix("40")?).ok()?;
    auth["token"].as_str().map(str::to_owned)
}

/// A `send_message` with an ack id: `42<ack>["send_message",{"to","text"}]`,
/// as (ack id, addressee, text).
fn chat_message(packet: &str) -> Option<(u64, String, Value)> {
    let rest = packet.strip_prefix("42")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let ack = rest[..digits].parse().ok()?;
    let (event, mut data): (String, Value) = serde_json::from_str(&rest[digits..]).ok()?;
    if event != "send_message" {
        return None;
    }
    let to = data["to"].as_str()?.to_owned();
    Some((ack, to, data["text"].take()))
}

/// Broadcasts `new_product` with the given name, serialised once.
async fn create_product(
    State(limit): State<Limit>,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let product = json!({
        "productId": id.to_string(),
        "name": body["name"],
        "price": body["price"],
    });
    let frame = format!(r#"42["new_product",{product}]"#);
    let _ = limit.events.send(Utf8Bytes::from(frame));
    (
        StatusCode::CREATED,
        Json(json!({ "status": "success", "data": product })),
    )
}
