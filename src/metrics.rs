//! Operations metrics in the Prometheus text format: what is recorded, under
//! which names, and the `/metrics` listener on `METRICS_ADDR`.
//!
//! Recording goes through the `metrics` facade into one process-wide
//! Prometheus recorder, installed on first use; each function here is the
//! one place a metric is named, so a dashboard author finds every series in
//! this file. Recording is an atomic add on a registered series: cheap
//! enough for every request and every delivery.
//!
//! | series | labels | what |
//! |---|---|---|
//! | `rtd_connections` (gauge) | `door` | live Socket.IO and GraphQL WebSocket connections |
//! | `rtd_handshakes_total` | `door`, `outcome` | live connections accepted or refused |
//! | `rtd_events_published_total` | `kind` | hub events, by kind |
//! | `rtd_events_delivered_total` | `door`, `kind` | events written to a connection (GraphQL: per subscriber) |
//! | `rtd_lagged_subscribers_total` | `door` | subscribers that fell behind and skipped events |
//! | `rtd_slow_clients_dropped_total` | `door` | connections ended because the client stopped reading |
//! | `rtd_message_persist_seconds` (histogram) | | storing one chat message |
//! | `rtd_http_requests_total` | `method`, `route`, `status` | HTTP requests answered |
//! | `rtd_http_request_duration_seconds` (histogram) | `method`, `route` | time to answer them |
//! | `rtd_store_errors_total` | `kind` | store failures (`unavailable`, `internal`) |
//! | `rtd_throttle_hits_total` | `limit` | refusals by a rate limit |

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Set once a recorder is installed: until then (no `METRICS_ADDR`) the
/// HTTP middleware skips its clock and label allocations entirely.
static RECORDING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Latency buckets, in seconds: sub-millisecond store writes up to slow
/// requests near the 30 s timeout.
const LATENCY_BUCKETS: [f64; 14] = [
    0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
];

/// The process's recorder, installed on first use (one per process: the
/// `metrics` facade has one global recorder; apps built in one test process
/// share it).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    RECORDING.store(true, std::sync::atomic::Ordering::Relaxed);
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)
            .and_then(PrometheusBuilder::install_recorder)
            .unwrap_or_else(|error| {
                tracing::warn!(%error, "metrics recorder not installed; /metrics stays empty");
                PrometheusBuilder::new().build_recorder().handle()
            })
    })
}

/// Installs the recorder and serves `GET /metrics` on its own listener, so
/// the series are never exposed on the public port. Returns the bound
/// address and the serving task.
///
/// # Errors
/// When the address cannot be bound.
pub async fn serve(
    address: SocketAddr,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    handle();
    let listener = tokio::net::TcpListener::bind(address).await?;
    let bound = listener.local_addr()?;
    tracing::info!(address = %bound, "metrics at http://{bound}/metrics");
    let router = Router::new().route("/metrics", get(render));
    let task = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::warn!(%error, "the metrics listener stopped");
        }
    });
    Ok((bound, task))
}

async fn render() -> Response {
    let mut response = handle().render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// The WebSocket door a connection came through.
#[derive(Debug, Clone, Copy)]
pub enum Door {
    /// Socket.IO at `/socket.io/`.
    SocketIo,
    /// GraphQL over WebSocket at `/graphql`.
    GraphqlWs,
}

impl Door {
    fn label(self) -> &'static str {
        match self {
            Door::SocketIo => "socketio",
            Door::GraphqlWs => "graphql_ws",
        }
    }
}

/// Counts one live connection for as long as it lives.
#[must_use = "the connection counts only while the guard lives"]
pub struct ConnectionCount(Door);

/// A live connection opened (and its handshake succeeded).
pub fn connection_opened(door: Door) -> ConnectionCount {
    handshake(door, true);
    metrics::gauge!("rtd_connections", "door" => door.label()).increment(1.0);
    ConnectionCount(door)
}

impl Drop for ConnectionCount {
    fn drop(&mut self) {
        metrics::gauge!("rtd_connections", "door" => self.0.label()).decrement(1.0);
    }
}

/// A live connection's handshake ended: accepted, or refused (bad token,
/// forbidden origin, no `connection_init`).
pub fn handshake(door: Door, accepted: bool) {
    let outcome = if accepted { "accepted" } else { "refused" };
    metrics::counter!("rtd_handshakes_total", "door" => door.label(), "outcome" => outcome)
        .increment(1);
}

/// The hub published an event.
pub fn event_published(kind: &'static str) {
    metrics::counter!("rtd_events_published_total", "kind" => kind).increment(1);
}

/// An event was written to a connection (a GraphQL subscriber, a Socket.IO
/// socket).
pub fn event_delivered(door: Door, kind: &'static str) {
    events_delivered(door, kind, 1);
}

/// One event was delivered to `subscribers` subscribers at once (a shared
/// GraphQL subscription converts it once for all of them).
pub fn events_delivered(door: Door, kind: &'static str, subscribers: u64) {
    metrics::counter!("rtd_events_delivered_total", "door" => door.label(), "kind" => kind)
        .increment(subscribers);
}

/// A subscriber fell behind and skipped events.
pub fn lagged(door: Door) {
    metrics::counter!("rtd_lagged_subscribers_total", "door" => door.label()).increment(1);
}

/// A connection was ended because its client stopped reading.
pub fn slow_client_dropped(door: Door) {
    metrics::counter!("rtd_slow_clients_dropped_total", "door" => door.label()).increment(1);
}

/// Storing one chat message took `elapsed`.
pub fn message_persisted(elapsed: Duration) {
    metrics::histogram!("rtd_message_persist_seconds").record(elapsed.as_secs_f64());
}

/// The SQLite writer committed `writes` writes together (group commit):
/// how well the chat path's writes share commits under load.
pub fn sqlite_commit(writes: usize) {
    metrics::histogram!("rtd_sqlite_writes_per_commit").record(writes as f64);
}

/// A store operation failed (`unavailable` or `internal`).
pub fn store_error(kind: &'static str) {
    metrics::counter!("rtd_store_errors_total", "kind" => kind).increment(1);
}

/// A rate limit refused something (`address`, `account`, `messages`).
pub fn throttle_hit(limit: &'static str) {
    metrics::counter!("rtd_throttle_hits_total", "limit" => limit).increment(1);
}

/// Events crossed the backplane: `sent` to or `received` from the other
/// processes.
pub fn backplane_events(direction: &'static str, count: usize) {
    metrics::counter!("rtd_backplane_events_total", "direction" => direction)
        .increment(count as u64);
}

/// The backplane let an item go (`outbox` full or Redis down, `event_log`
/// queue full: the store reads bring logged events anyway).
pub fn backplane_dropped(queue: &'static str) {
    metrics::counter!("rtd_backplane_dropped_total", "queue" => queue).increment(1);
}

/// Whether Redis answers this process (1) or not (0).
pub fn backplane_up(up: bool) {
    metrics::gauge!("rtd_backplane_up").set(if up { 1.0 } else { 0.0 });
}

/// A request that matched no route (answered 404).
pub fn http_unmatched(method: &axum::http::Method) {
    metrics::counter!(
        "rtd_http_requests_total",
        "method" => method.as_str().to_owned(),
        "route" => "unmatched",
        "status" => "404"
    )
    .increment(1);
}

/// Middleware: counts and times every HTTP request by its route template
/// (`/orders/{id}`, never the id itself, so the series stay few) and status.
/// Requests that matched no route count as `unmatched`.
pub async fn track_http(request: Request, next: Next) -> Response {
    if !RECORDING.load(std::sync::atomic::Ordering::Relaxed) {
        return next.run(request).await;
    }
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(
        "rtd_http_requests_total",
        "method" => method.clone(),
        "route" => route.clone(),
        "status" => status
    )
    .increment(1);
    metrics::histogram!(
        "rtd_http_request_duration_seconds",
        "method" => method,
        "route" => route
    )
    .record(started.elapsed().as_secs_f64());
    response
}
