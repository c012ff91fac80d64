//! The axum router: `/graphql`, the REST compat routes, Socket.IO, health,
//! and the layers around them (request ids, tracing, CORS, security headers,
//! body limit, timeouts, panic catching, and the guards of `guards.rs`:
//! no-store on private answers, JSON-only bodies, WebSocket origins). Every error a layer produces on its
//! own (unknown route, body too large, timeout, panic) is rewritten into the
//! documented envelope, so clients only ever see one error shape.
//!
//! What the layers cost, measured with `perf` on a catalogue read served from
//! memory (W5 REST, 32 in flight, on the shared 2-core machine): everything
//! from the outermost layer to the handler is about a quarter of the
//! server's CPU per request, the handler itself about 5 %, and the rest is the
//! kernel's TCP work and hyper. No layer stands out: a new request id was
//! 2 to 3 % (a `getrandom` system call per id, now drawn from the thread's
//! generator), CORS about 2.5 % (its `Vary` header, and a copy of its policy),
//! the four security headers under 1 %, each `from_fn` guard 0.3 to 2 %, the
//! trace span 0.3 % with logs at `warn`. About 10 % is dropping the copies
//! of the route's layered service: axum and hyper clone a route's whole
//! stack for every request, so whatever a layer or the state holds must be
//! cheap to clone (the services are one `Arc`). Every route keeps the one
//! stack: a lighter one for hot reads would save a few percent and have to
//! repeat every header API.md promises.

use std::fmt::Write as _;
use std::time::Duration;

use crate::compat::socketio::SocketIo;
use axum::extract::{OriginalUri, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::map_request_body::MapRequestBodyLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::sensitive_headers::SetSensitiveHeadersLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

mod guards;

use crate::client_addr;
use crate::compat::{envelope, rest};
use crate::config::Config;
use crate::graphql::{self, routes::GraphqlDoor};
use crate::services::Services;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole HTTP surface: each door's routes on its own state, composed
/// here (no door knows this module), with the layers around them.
pub fn router(
    services: Services,
    graphql: GraphqlDoor,
    config: &Config,
    socket_io: &SocketIo,
) -> Router {
    let routes = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(services.clone())
        .merge(graphql::routes::router(graphql))
        .merge(rest::router(services))
        .merge(crate::admin_page::router())
        .route_layer(middleware::from_fn(crate::metrics::track_http))
        // After the route layer: a long poll is not an HTTP request to count.
        .merge(socket_io.routes())
        .fallback(not_found)
        .layer(middleware::map_request(detach_request_head));

    // Innermost: limits whose refusals come out bare and are enveloped next.
    let limits = ServiceBuilder::new()
        .layer(RequestBodyLimitLayer::new(config.body_limit))
        // The limit wraps the body in its own type; the routes take axum's.
        .layer(MapRequestBodyLayer::new(axum::body::Body::new))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            config.request_timeout,
        ));

    let outer = ServiceBuilder::new()
        .layer(SetSensitiveHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
        ]))
        .layer(SetRequestIdLayer::new(REQUEST_ID, RandomUuid))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                let request_id = request
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!(
                    "http",
                    method = %request.method(),
                    path = %request.uri().path(),
                    request.id = %request_id,
                    client = %client_addr::client_of(request.extensions(), request.headers()),
                )
            }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("a request handler panicked");
            let status = StatusCode::INTERNAL_SERVER_ERROR;
            (status, Json(envelope::status_body(status))).into_response()
        }))
        .layer(cors(config))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        ));

    let allowed_origins = guards::AllowedOrigins(std::sync::Arc::new(config.cors_origins.clone()));
    routes
        .layer(limits)
        .layer(middleware::from_fn(guards::json_bodies_only))
        .layer(middleware::from_fn_with_state(
            allowed_origins,
            guards::websocket_origin,
        ))
        .layer(middleware::from_fn(envelope_bare_errors))
        .layer(middleware::from_fn(guards::no_store_private))
        .layer(outer)
        // Outermost: the client address is known to every layer and route.
        .layer(axum::Extension(client_addr::TrustedProxies::new(
            config.trusted_proxies.clone(),
        )))
}

/// New request ids: random UUIDs (version 4), as tower-http's
/// `MakeRequestUuid` makes, drawn from the thread's random generator (a
/// CSPRNG seeded by the OS) instead of one `getrandom` system call per
/// request, which was 2 % of the server's CPU on a catalogue read (W5).
#[derive(Clone, Copy)]
struct RandomUuid;

impl MakeRequestId for RandomUuid {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let mut bytes: [u8; 16] = rand::random();
        bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
        bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
        let mut text = String::with_capacity(36);
        for (index, byte) in bytes.iter().enumerate() {
            if matches!(index, 4 | 6 | 8 | 10) {
                text.push('-');
            }
            // Writing to a String cannot fail.
            let _ = write!(text, "{byte:02x}");
        }
        HeaderValue::from_str(&text).ok().map(RequestId::new)
    }
}

/// `CORS_ORIGINS` as a CORS policy; no origins means same-origin only (no
/// CORS headers at all).
fn cors(config: &Config) -> CorsLayer {
    let origins: Vec<HeaderValue> = config
        .cors_origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, REQUEST_ID])
        .expose_headers([REQUEST_ID, header::RETRY_AFTER])
        .allow_credentials(false)
        .max_age(Duration::from_secs(600))
}

/// Copies the head of a request that opens a long-lived connection (a
/// WebSocket upgrade) out of the connection's read buffer.
///
/// hyper parses the URI and header values (and axum clones the URI) as
/// slices of its 8 to 16 KiB read buffer, so anything a WebSocket keeps of
/// its upgrade request pins that whole buffer for the socket's life: with
/// socketioxide, which kept the head, 16 KiB of the 36 KiB an idle socket
/// cost (W3 of BENCHMARKS.md). Copied, the head costs its own few hundred
/// bytes once per upgrade, and no handler can pin the buffer by keeping a
/// header. Plain requests (Socket.IO polls included) are left alone.
async fn detach_request_head(mut request: Request) -> Request {
    if !request.headers().contains_key(header::UPGRADE) {
        return request;
    }
    let headers = request
        .headers()
        .iter()
        .filter_map(|(name, value)| {
            let name = HeaderName::from_bytes(name.as_str().as_bytes()).ok()?;
            let mut copy = HeaderValue::from_bytes(value.as_bytes()).ok()?;
            copy.set_sensitive(value.is_sensitive());
            Some((name, copy))
        })
        .collect();
    *request.headers_mut() = headers;
    if let Ok(uri) = axum::http::Uri::try_from(request.uri().to_string()) {
        // axum keeps a clone of the URI as it arrived; it shares the buffer.
        if let Some(original) = request.extensions_mut().get_mut::<OriginalUri>() {
            original.0 = uri.clone();
        }
        *request.uri_mut() = uri;
    }
    request
}

/// Rewrites error responses that carry no JSON body of their own (from layers
/// and the router: 404, 405, 413, timeouts) into the envelope.
async fn envelope_bare_errors(request: Request, next: Next) -> Response {
    let is_graphql = request.uri().path().starts_with("/graphql");
    let response = next.run(request).await;
    let status = response.status();
    // Layers answer with no body or a plain-text one; handlers always with JSON.
    let bare = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_none_or(|value| value.as_bytes().starts_with(b"text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !bare {
        return response;
    }
    let body = envelope::status_body(status);
    let status = if status == StatusCode::REQUEST_TIMEOUT {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        status
    };
    if is_graphql {
        return (status, Json(envelope::graphql_shaped(&body))).into_response();
    }
    (status, Json(body)).into_response()
}

async fn not_found(request: Request) -> Response {
    crate::metrics::http_unmatched(request.method());
    (
        StatusCode::NOT_FOUND,
        Json(envelope::status_body(StatusCode::NOT_FOUND)),
    )
        .into_response()
}

/// The process is up.
async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// The store answers.
async fn readyz(State(services): State<Services>) -> Response {
    match services.ready().await {
        Ok(()) if services.clustered() => {
            Json(serde_json::json!({ "status": "ok", "store": "ok", "redis": "ok" }))
                .into_response()
        }
        Ok(()) => Json(serde_json::json!({ "status": "ok", "store": "ok" })).into_response(),
        Err(error) => error.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_distinct_version_4_uuids() {
        let request = Request::new(axum::body::Body::empty());
        let mut ids = std::collections::HashSet::new();
        for _ in 0..1000 {
            let id = RandomUuid.make_request_id(&request).unwrap();
            let text = id.header_value().to_str().unwrap().to_owned();
            let groups: Vec<&str> = text.split('-').collect();
            let lengths: Vec<usize> = groups.iter().map(|group| group.len()).collect();
            assert_eq!(lengths, [8, 4, 4, 4, 12], "{text}");
            assert!(
                text.chars()
                    .all(|c| c == '-' || matches!(c, '0'..='9' | 'a'..='f'))
            );
            assert!(groups[2].starts_with('4'), "version 4: {text}");
            assert!(
                matches!(&groups[3][..1], "8" | "9" | "a" | "b"),
                "variant: {text}"
            );
            ids.insert(text);
        }
        assert_eq!(ids.len(), 1000);
    }

    #[tokio::test]
    async fn a_detached_request_head_is_copied_intact() {
        let mut request = Request::builder()
            .uri("/socket.io/?EIO=4&transport=websocket")
            .header("upgrade", "websocket")
            .header("authorization", "Bearer t")
            .header("x-custom", "kept")
            .body(axum::body::Body::empty())
            .unwrap();
        request
            .headers_mut()
            .get_mut("authorization")
            .unwrap()
            .set_sensitive(true);
        let uri = request.uri().clone();
        request.extensions_mut().insert(OriginalUri(uri));
        let copied = detach_request_head(request).await;
        assert_eq!(copied.uri(), "/socket.io/?EIO=4&transport=websocket");
        assert_eq!(copied.headers()["x-custom"], "kept");
        assert!(copied.headers()["authorization"].is_sensitive());
        let original = copied.extensions().get::<OriginalUri>().unwrap();
        assert_eq!(original.0, *copied.uri());
    }
}
