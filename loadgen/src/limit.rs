//! The "limit" baseline: a server that does only the per-connection work
//! any Socket.IO server must do (accept the WebSocket, answer the Engine.IO
//! open and the Socket.IO connect, write one frame per connection per
//! event) and nothing else: no accounts, no token check, no store, no
//! rooms. Against it, W2, W3 and W4 show what the machine and the WebSocket
//! stack allow, so our figures can be read as a distance from that.
//!
//! Built on the same axum and tungstenite as the real server, so the
//! distance is our own work, not a different WebSocket implementation.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;
use axum::extract::State;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::serve::ListenerExt as _;
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::sync::broadcast;

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
        .with_state(Limit { events });
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
    let events = limit.events.subscribe();
    // The read buffer the real server uses on both its WebSocket doors.
    ws.read_buffer_size(4096)
        .on_upgrade(move |socket| connection(socket, events))
}

/// One connection: the two handshakes, then one frame per event.
async fn connection(mut socket: WebSocket, mut events: broadcast::Receiver<Utf8Bytes>) {
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
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) if text.starts_with("40") => {
                    let connected = format!(r#"40{{"sid":"{id}"}}"#);
                    if socket.send(Message::text(connected)).await.is_err() {
                        return;
                    }
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
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
