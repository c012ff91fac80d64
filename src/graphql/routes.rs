//! Mounts the schema on axum at `/graphql`: POST for operations; GET for
//! queries in the query string (GraphQL over HTTP), a WebSocket upgrade
//! (`graphql-transport-ws`, and the legacy `graphql-ws` subprotocol,
//! authenticated in `connection_init`), or the GraphiQL page for a browser.

use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, GraphiQLSource, WebSocketProtocols};
use async_graphql::{Data, ParseRequestError};
use async_graphql_axum::{
    GraphQLProtocol, GraphQLRequest, GraphQLWebSocket, rejection::GraphQLRejection,
};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{FromRequestParts, Request, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::stream::SplitSink;
use futures::{SinkExt as _, StreamExt as _};
use tokio::task::JoinHandle;

use super::engine::MUTATION_OVER_GET;
use super::shared::{Delivery, Share};
use super::{Caller, Engine, Method, Stage, loaders};
use crate::auth::{Principal, bearer_token};
use crate::client_addr::ClientIp;
use crate::domain::UserId;
use crate::error::AppError;
use crate::hub::ConnectionId;
use crate::metrics::{self, Door};
use crate::services::{Authenticator, Opening, Outbound, Services, Wants};

/// GraphiQL loads its scripts from unpkg, so its page gets a policy that
/// allows exactly that; every other response keeps the strict default.
const GRAPHIQL_CSP: &str = "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval' https://unpkg.com; \
     style-src 'self' 'unsafe-inline' https://unpkg.com; img-src 'self' data: https://graphql.org; \
     font-src 'self' data: https://unpkg.com; connect-src 'self' ws: wss:; frame-ancestors 'none'";

/// What the `/graphql` routes run on: the schema, the services it calls
/// (for the caller's token and the loaders), and the WebSocket limits.
#[derive(Clone)]
pub struct GraphqlDoor {
    /// The schema, with the services in its data, in its engine.
    pub engine: Engine,
    /// The services every door calls.
    pub services: Services,
    /// Limits of a GraphQL WebSocket.
    pub websocket: WebSocketLimits,
}

/// The `/graphql` routes.
pub fn router(door: GraphqlDoor) -> Router {
    Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .with_state(door)
}

async fn graphql_post(
    State(state): State<GraphqlDoor>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    request: Result<GraphQLRequest, GraphQLRejection>,
) -> Response {
    let request = match request {
        Ok(request) => request.into_inner(),
        Err(GraphQLRejection(error)) => return bad_request(Format::of(&headers), &error),
    };
    execute(&state, client, &headers, request, Method::Post).await
}

/// Runs one operation for its HTTP caller: POST, or GET for queries.
async fn execute(
    state: &GraphqlDoor,
    client: std::net::IpAddr,
    headers: &HeaderMap,
    request: async_graphql::Request,
    method: Method,
) -> Response {
    let format = Format::of(headers);
    let caller = match caller_from_headers(&state.services.authenticator, headers).await {
        Ok(caller) => caller,
        Err(error) => return refused_for(format, &error),
    };
    let mut request = request.data(caller).data(ClientIp(client));
    loaders::install(&mut request.data, &state.services);
    let (response, stage) = state.engine.execute_http(request, method).await;
    answer(format, stage, response)
}

/// The media type of the GraphQL over HTTP specification for responses.
const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

/// The media type an HTTP caller gets, from its `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// `application/json`: clients written before the GraphQL over HTTP
    /// specification (and requests without `Accept`). Every request that
    /// reached GraphQL answers 200, its errors in `errors`.
    Json,
    /// `application/graphql-response+json`, for a client that ranks it at
    /// least as high as `application/json`: a request that fails before
    /// execution answers 400, without `data`.
    GraphqlResponse,
}

impl Format {
    fn of(headers: &HeaderMap) -> Format {
        // The highest quality given to each (`q=0` means "not this").
        let (mut graphql_response, mut json) = (0.0_f32, 0.0_f32);
        let ranges = headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','));
        for range in ranges {
            let mut parts = range.split(';');
            let media_type = parts.next().unwrap_or_default().trim();
            let quality = parts
                .filter_map(|parameter| parameter.split_once('='))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("q"))
                .map_or(1.0, |(_, value)| value.trim().parse().unwrap_or(0.0));
            if media_type.eq_ignore_ascii_case(GRAPHQL_RESPONSE_JSON) {
                graphql_response = graphql_response.max(quality);
            } else if ["application/json", "application/*", "*/*"]
                .iter()
                .any(|json_range| media_type.eq_ignore_ascii_case(json_range))
            {
                json = json.max(quality);
            }
        }
        if graphql_response > 0.0 && graphql_response >= json {
            Format::GraphqlResponse
        } else {
            Format::Json
        }
    }

    fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Format::Json => "application/json",
            Format::GraphqlResponse => GRAPHQL_RESPONSE_JSON,
        })
    }
}

/// A JSON body with the caller's media type.
fn json_response<T: serde::Serialize>(format: Format, status: StatusCode, body: &T) -> Response {
    let mut response = (status, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, format.content_type());
    response
}

/// The HTTP answer to what the schema answered.
///
/// A request refused before execution (syntax, validation, an unknown
/// `operationName`, a persisted-query hash that does not match its query)
/// is 400 without `data` for a client that accepts
/// `application/graphql-response+json`, and 200 with `data: null` for the
/// others, as before that specification. A persisted-query miss is 200
/// either way, never stored by a cache: Apollo's clients (and servers)
/// treat it as a request to send the query again. A mutation over GET is
/// 405 with `Allow: POST`.
fn answer(format: Format, stage: Stage, mut response: async_graphql::Response) -> Response {
    if stage == Stage::MutationOverGet {
        let mut response = refused(format, StatusCode::METHOD_NOT_ALLOWED, MUTATION_OVER_GET);
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let persisted_query_miss = stage == Stage::PersistedQueryMiss;
    let refused_before_execution = stage == Stage::Refused && format == Format::GraphqlResponse;
    let cache_control = response
        .is_ok()
        .then(|| response.cache_control.value())
        .flatten()
        .and_then(|value| HeaderValue::from_str(&value).ok());
    let http_headers = std::mem::take(&mut response.http_headers);
    // Executed answers (every query that reached a resolver) are written
    // once, straight from the response; only a refusal, which must lose its
    // `data`, goes through a JSON value.
    let mut answer = if refused_before_execution {
        let mut body = match serde_json::to_value(&response) {
            Ok(body) => body,
            Err(error) => {
                return refused_for(format, &AppError::Internal(anyhow::Error::new(error)));
            }
        };
        if let Some(body) = body.as_object_mut() {
            body.remove("data");
        }
        json_response(format, StatusCode::BAD_REQUEST, &body)
    } else {
        json_response(format, StatusCode::OK, &response)
    };
    let headers = answer.headers_mut();
    if persisted_query_miss {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    } else if let Some(cache_control) = cache_control {
        headers.insert(header::CACHE_CONTROL, cache_control);
    }
    headers.extend(http_headers);
    answer
}

/// The query string of `GET /graphql`, as the GraphQL over HTTP
/// specification names its parameters (`variables` and `extensions` are
/// JSON text).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetParameters {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

/// `GET /graphql?query=…`: a query over GET, as the GraphQL over HTTP
/// specification has it (cacheable, linkable), or a persisted query's hash
/// alone in `extensions`. A mutation is refused with 405 and `Allow: POST`,
/// also when it comes as a hash (`engine.rs` checks the document that
/// would run), so a link or a prefetch can never change anything.
async fn graphql_get_operation(
    state: &GraphqlDoor,
    client: std::net::IpAddr,
    headers: &HeaderMap,
    parameters: GetParameters,
) -> Response {
    let format = Format::of(headers);
    let query = parameters.query.unwrap_or_default();
    let mut request = async_graphql::Request::new(query);
    request.operation_name = parameters.operation_name;
    if let Some(variables) = parameters.variables {
        match serde_json::from_str(&variables) {
            Ok(variables) => request.variables = async_graphql::Variables::from_json(variables),
            Err(error) => {
                return refused(
                    format,
                    StatusCode::BAD_REQUEST,
                    &format!("`variables` is not JSON: {error}"),
                );
            }
        }
    }
    if let Some(extensions) = parameters.extensions {
        match serde_json::from_str(&extensions) {
            Ok(extensions) => request.extensions = extensions,
            Err(error) => {
                return refused(
                    format,
                    StatusCode::BAD_REQUEST,
                    &format!("`extensions` is not JSON: {error}"),
                );
            }
        }
    }
    execute(state, client, headers, request, Method::Get).await
}

/// A GraphQL-shaped refusal made before any resolver runs.
fn refused(format: Format, status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({
        "errors": [{ "message": message, "extensions": { "code": "BAD_USER_INPUT" } }]
    });
    json_response(format, status, &body)
}

/// `GET /graphql`: a WebSocket upgrade (subscriptions), a query in the
/// query string, or, for a browser asking for HTML, the GraphiQL page.
async fn graphql_get(
    State(state): State<GraphqlDoor>,
    ClientIp(client): ClientIp,
    request: Request,
) -> Response {
    let wants_websocket = request
        .headers()
        .get(header::UPGRADE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("websocket"));
    if !wants_websocket {
        let format = Format::of(request.headers());
        let parameters = match axum::extract::Query::<GetParameters>::try_from_uri(request.uri()) {
            Ok(axum::extract::Query(parameters)) => parameters,
            Err(rejection) => {
                return refused(format, StatusCode::BAD_REQUEST, &rejection.body_text());
            }
        };
        // A persisted query's hash may come alone, in `extensions`.
        if parameters.query.is_some() || parameters.extensions.is_some() {
            return graphql_get_operation(&state, client, request.headers(), parameters).await;
        }
        if accepts_html(request.headers()) {
            return graphiql();
        }
        return refused(
            format,
            StatusCode::BAD_REQUEST,
            "GET /graphql needs a `query` parameter (or a WebSocket upgrade for subscriptions; \
             browsers asking for HTML get GraphiQL)",
        );
    }
    let (mut parts, _body) = request.into_parts();
    let protocol = match GraphQLProtocol::from_request_parts(&mut parts, &state).await {
        Ok(protocol) => protocol,
        Err(rejection) => return rejection.into_response(),
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let sharing = speaks_transport_ws(&parts.headers);
    let engine = state.engine.clone();
    let services = state.services.clone();
    let limits = state.websocket;
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        // tungstenite refuses frames past this bound itself (memory stays
        // bounded); between the body limit and it, the socket is closed
        // with 1009 by `within_size`.
        .max_message_size(limits.max_message_bytes.saturating_mul(2).max(4096))
        // tungstenite allocates its read buffer up front (128 KiB unless
        // told); GraphQL frames are small, and a subscriber holds one for
        // as long as it stays. The Socket.IO door reads with the same size.
        .read_buffer_size(WS_READ_BUFFER_BYTES)
        .on_upgrade(move |socket| {
            serve_websocket(
                socket,
                engine,
                protocol,
                sharing,
                services,
                limits,
                ClientIp(client),
            )
        })
}

/// Whether the socket speaks `graphql-transport-ws`: the first of the
/// client's offered subprotocols that async-graphql knows, as
/// [`GraphQLProtocol`] picks it.
fn speaks_transport_ws(headers: &HeaderMap) -> bool {
    let negotiated = headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|value| value.to_str().ok())
        .and_then(|offers| {
            offers
                .split(',')
                .find_map(|offer| offer.trim().parse::<WebSocketProtocols>().ok())
        });
    negotiated == Some(WebSocketProtocols::GraphQLWS)
}

/// Read buffer of a GraphQL WebSocket; larger frames are still read whole.
const WS_READ_BUFFER_BYTES: usize = 4096;

/// Close code of `graphql-transport-ws` for a refused `connection_init`.
const CLOSE_FORBIDDEN: u16 = 4403;
/// Close code of `graphql-transport-ws` when no `connection_init` came in time.
const CLOSE_INIT_TIMEOUT: u16 = 4408;
/// Close code of `graphql-transport-ws` for a `subscribe` whose id is taken.
const CLOSE_SUBSCRIBER_EXISTS: u16 = 4409;
/// WebSocket close code for a message larger than the server takes.
const CLOSE_TOO_BIG: u16 = 1009;
/// Longest one frame may wait to be written: a client that reads nothing
/// for this long is disconnected.
const STALLED_WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What one GraphQL WebSocket may send and how long it may wait to sign in.
#[derive(Debug, Clone, Copy)]
pub struct WebSocketLimits {
    /// Largest message read (`BODY_LIMIT`); a larger one closes the socket
    /// with 1009.
    pub max_message_bytes: usize,
    /// Time allowed before `connection_init`; then the socket is closed with
    /// 4408.
    pub init_timeout: std::time::Duration,
}

/// Why the server closes a GraphQL WebSocket itself.
struct Closing {
    code: u16,
    reason: Cow<'static, str>,
}

/// The write half of a GraphQL WebSocket, shared by async-graphql's
/// protocol, the shared subscriptions and the session guard.
type SharedSink = Arc<tokio::sync::Mutex<SplitSink<WebSocket, Message>>>;

/// Writes one frame. A client that stops reading fills its TCP window, and
/// the write waits; past [`STALLED_WRITE_TIMEOUT`] the connection ends
/// instead of holding its subscriptions (which lag, bounded, in the
/// meantime) for ever.
async fn write(sink: &SharedSink, message: Message) -> Result<(), axum::Error> {
    // Uncontended (the usual case), without the semaphore's future.
    let mut writer = match sink.try_lock() {
        Ok(writer) => writer,
        Err(_) => sink.lock().await,
    };
    match tokio::time::timeout(STALLED_WRITE_TIMEOUT, writer.send(message)).await {
        Ok(sent) => sent,
        Err(_) => {
            tracing::info!("GraphQL WebSocket closed: the client stopped reading");
            metrics::slow_client_dropped(Door::GraphqlWs);
            Err(axum::Error::new("the client stopped reading"))
        }
    }
}

/// Serves one GraphQL WebSocket.
///
/// async-graphql closes a refused `connection_init` with 1002 (protocol
/// error); the protocol says 4403 Forbidden, which is what clients such as
/// `graphql-ws` act on, so that close frame is rewritten when the refusal was
/// ours. Once signed in, the connection counts for presence and lives no
/// longer than its authority: when the token expires, the user signs out or
/// their role changes, it is closed with 4403 and the reason, and the client
/// reconnects with a fresh token. A socket that sends no `connection_init`
/// in time is closed with 4408, one that sends a message larger than the
/// limit with 1009; neither touches any other connection.
///
/// On `graphql-transport-ws`, a `subscribe` that can share its execution
/// with other subscribers (`shared.rs`) is taken out of the client's frames
/// before async-graphql sees them, and served here from the shared payloads;
/// an id already held by such a subscription is refused with 4409, as the
/// protocol says. Everything else is async-graphql's.
async fn serve_websocket(
    socket: WebSocket,
    engine: Engine,
    protocol: GraphQLProtocol,
    sharing: bool,
    services: Services,
    limits: WebSocketLimits,
    client: ClientIp,
) {
    let authenticator = services.authenticator.clone();
    let refused = Arc::new(AtomicBool::new(false));
    let (sink, stream) = socket.split();
    let (too_big, mut oversized) = tokio::sync::oneshot::channel::<()>();
    let stream = within_size(stream, limits.max_message_bytes, too_big);
    // Shared, so the session guard and the shared subscriptions can write
    // while GraphQL owns the socket.
    let sink: SharedSink = Arc::new(tokio::sync::Mutex::new(sink));
    let (mut shared_door, mut endings) =
        SharedDoor::new(engine.clone(), services.clone(), sharing, sink.clone());
    let signed = shared_door.principal.clone();
    let stream = stream
        .filter_map(move |item| {
            std::future::ready(match item {
                Ok(message) => shared_door.intercept(message).map(Ok),
                error => Some(error),
            })
        })
        .boxed();
    let graphql_sink = {
        let refused = refused.clone();
        futures::sink::unfold(sink.clone(), move |sink, message: Message| {
            let refused = refused.clone();
            async move {
                let message = match message {
                    Message::Close(Some(frame))
                        if frame.code == 1002 && refused.load(Ordering::Acquire) =>
                    {
                        Message::Close(Some(CloseFrame {
                            code: CLOSE_FORBIDDEN,
                            reason: "Forbidden".into(),
                        }))
                    }
                    other => other,
                };
                write(&sink, message).await?;
                Ok::<_, axum::Error>(sink)
            }
        })
    };
    let connection = ConnectionId(format!("gql:{}", UserId::generate()));
    let connection_for_guard = connection.clone();
    let mut data = Data::default();
    data.insert(client);
    data.insert(connection);
    loaders::install(&mut data, &services);
    let (signed_in, session) = tokio::sync::oneshot::channel::<(Principal, i64)>();
    let serve = GraphQLWebSocket::new_with_pair(graphql_sink, stream, engine, protocol)
        .with_data(data)
        .on_connection_init(move |payload| async move {
            let (principal, expires_at) = authenticate_connection(&authenticator, &payload)
                .await
                .map_err(|error| {
                metrics::handshake(Door::GraphqlWs, false);
                refused.store(true, Ordering::Release);
                async_graphql::Error::new(error.to_string())
            })?;
            let _ = signed.set(principal.clone());
            let _ = signed_in.send((principal.clone(), expires_at));
            let mut data = Data::default();
            data.insert(Caller::Signed(principal));
            Ok(data)
        })
        .serve();
    let guard = async {
        match tokio::time::timeout(limits.init_timeout, session).await {
            Ok(Ok((principal, expires_at))) => Closing {
                code: CLOSE_FORBIDDEN,
                reason: guard_session(&services, principal, expires_at, connection_for_guard)
                    .await
                    .into(),
            },
            // Refused: async-graphql closes the socket itself.
            Ok(Err(_)) => std::future::pending().await,
            Err(_) => {
                metrics::handshake(Door::GraphqlWs, false);
                Closing {
                    code: CLOSE_INIT_TIMEOUT,
                    reason: "Connection initialisation timeout".into(),
                }
            }
        }
    };
    let too_big_closing = || Closing {
        code: CLOSE_TOO_BIG,
        reason: "message too big".into(),
    };
    // An oversized message ends the client's stream, and `serve` may finish
    // in the same poll that fired `oversized`: checked again then.
    let closing = tokio::select! {
        biased;
        Ok(()) = &mut oversized => too_big_closing(),
        closing = guard => closing,
        () = serve => match oversized.try_recv() {
            Ok(()) => too_big_closing(),
            Err(_) => return,
        },
        Some(ending) = endings.recv() => match ending {
            Ending::Close(closing) => closing,
            Ending::Gone => return,
        },
    };
    let frame = CloseFrame {
        code: closing.code,
        reason: closing.reason.as_ref().into(),
    };
    let close = async { sink.lock().await.send(Message::Close(Some(frame))).await };
    let _ = tokio::time::timeout(STALLED_WRITE_TIMEOUT, close).await;
}

/// Why a shared subscription ends the whole connection.
enum Ending {
    /// Closed with this code and reason (a `subscribe` with an id a shared
    /// subscription holds: 4409).
    Close(Closing),
    /// A write failed or stalled: the client is gone.
    Gone,
}

/// Takes the client's frames that concern shared subscriptions out of what
/// async-graphql reads, and serves those subscriptions: each from a task of
/// its own that writes its frames, so an event wakes that task alone, not
/// the connection's protocol and guard.
struct SharedDoor {
    engine: Engine,
    services: Services,
    /// Off for the legacy `graphql-ws` subprotocol: its frames are
    /// async-graphql's alone.
    sharing: bool,
    sink: SharedSink,
    /// The caller, once `connection_init` was accepted.
    principal: Arc<OnceLock<Principal>>,
    /// This socket's shared subscriptions by id: the tasks writing them.
    feeds: HashMap<String, JoinHandle<()>>,
    endings: tokio::sync::mpsc::UnboundedSender<Ending>,
}

/// The fields of a client frame the shared subscriptions look at.
#[derive(serde::Deserialize)]
struct ClientFrame {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
    payload: Option<async_graphql::Request>,
}

impl SharedDoor {
    fn new(
        engine: Engine,
        services: Services,
        sharing: bool,
        sink: SharedSink,
    ) -> (Self, tokio::sync::mpsc::UnboundedReceiver<Ending>) {
        let (endings, received) = tokio::sync::mpsc::unbounded_channel();
        let door = Self {
            engine,
            services,
            sharing,
            sink,
            principal: Arc::default(),
            feeds: HashMap::new(),
            endings,
        };
        (door, received)
    }

    /// The message for async-graphql, or `None` when it was served here.
    fn intercept(&mut self, message: Message) -> Option<Message> {
        let Message::Text(text) = &message else {
            return Some(message);
        };
        let concerned =
            self.sharing && (text.contains("\"subscribe\"") || text.contains("\"complete\""));
        if !concerned {
            return Some(message);
        }
        let Ok(ClientFrame {
            kind,
            id: Some(id),
            payload,
        }) = serde_json::from_str::<ClientFrame>(text)
        else {
            return Some(message);
        };
        let feeds = &mut self.feeds;
        match kind.as_str() {
            "subscribe" if feeds.get(&id).is_some_and(|feed| !feed.is_finished()) => {
                let _ = self.endings.send(Ending::Close(Closing {
                    code: CLOSE_SUBSCRIBER_EXISTS,
                    reason: format!("Subscriber for {id} already exists").into(),
                }));
            }
            "subscribe" => {
                let (Some(principal), Some(request)) = (self.principal.get(), payload) else {
                    return Some(message);
                };
                let joined = self.engine.join_shared(principal, request, || {
                    let mut data = Data::default();
                    data.insert(Caller::Signed(principal.clone()));
                    loaders::install(&mut data, &self.services);
                    data
                });
                let Some(share) = joined else {
                    return Some(message);
                };
                let feed = forward(share, id.clone(), self.sink.clone(), self.endings.clone());
                feeds.insert(id, tokio::spawn(feed));
            }
            "complete" if feeds.contains_key(&id) => {
                let feed = feeds.remove(&id).expect("BUG: looked up just now");
                // A feed that finished has written its own `complete`.
                if !feed.is_finished() {
                    feed.abort();
                    // As async-graphql answers a `complete` for its own;
                    // after the feed has stopped, so no `next` follows it.
                    let sink = self.sink.clone();
                    tokio::spawn(async move {
                        let _ = feed.await;
                        let _ = write(&sink, Message::Text(complete_frame(&id).into())).await;
                    });
                }
            }
            _ => return Some(message),
        }
        None
    }
}

impl Drop for SharedDoor {
    /// The connection is over: so are its shared subscriptions.
    fn drop(&mut self) {
        for feed in self.feeds.values() {
            feed.abort();
        }
    }
}

/// Writes one shared subscription's frames until it completes; a write
/// that fails ends the connection.
async fn forward(
    mut share: Share,
    id: String,
    sink: SharedSink,
    endings: tokio::sync::mpsc::UnboundedSender<Ending>,
) {
    let next = next_frame_start(&id);
    while let Some(delivery) = share.next().await {
        let frame = match delivery {
            Delivery::Next(payload) => next_frame(&next, &payload),
            Delivery::Complete => complete_frame(&id),
        };
        if write(&sink, Message::Text(frame.into())).await.is_err() {
            let _ = endings.send(Ending::Gone);
            return;
        }
    }
}

/// The start of subscription `id`'s `next` frames, up to their payload:
/// made once per subscription.
fn next_frame_start(id: &str) -> String {
    let id = serde_json::to_string(id).expect("BUG: a string always serialises");
    format!(r#"{{"type":"next","id":{id},"payload":"#)
}

/// A `next` frame of `graphql-transport-ws`, as async-graphql writes one.
fn next_frame(start: &str, payload: &str) -> String {
    let mut frame = String::with_capacity(start.len() + payload.len() + 1);
    frame.push_str(start);
    frame.push_str(payload);
    frame.push('}');
    frame
}

/// A `complete` frame of `graphql-transport-ws`.
fn complete_frame(id: &str) -> String {
    serde_json::json!({ "type": "complete", "id": id }).to_string()
}

/// The client's messages up to `max_bytes` each; the first larger one (or
/// one tungstenite refused for its size) ends the stream and fires
/// `too_big`, so the socket is closed with 1009 instead of being parsed.
fn within_size(
    stream: impl futures::Stream<Item = Result<Message, axum::Error>> + Send + Unpin + 'static,
    max_bytes: usize,
    too_big: tokio::sync::oneshot::Sender<()>,
) -> impl futures::Stream<Item = Result<Message, axum::Error>> + Send + Unpin + 'static {
    let mut too_big = Some(too_big);
    stream
        .take_while(move |item| {
            let oversized = match item {
                Ok(Message::Text(text)) => text.len() > max_bytes,
                Ok(Message::Binary(bytes)) => bytes.len() > max_bytes,
                Ok(_) => false,
                // tungstenite's own capacity refusal: "Space limit exceeded".
                Err(error) => error.to_string().contains("limit exceeded"),
            };
            if oversized && let Some(too_big) = too_big.take() {
                let _ = too_big.send(());
            }
            std::future::ready(!oversized)
        })
        .boxed()
}

/// Opens the WebSocket's connection in the connection service (presence,
/// end reasons) and resolves with the reason the session must end.
async fn guard_session(
    services: &Services,
    principal: Principal,
    expires_at: i64,
    origin: ConnectionId,
) -> &'static str {
    let _counted = metrics::connection_opened(Door::GraphqlWs);
    let mut live = services.connections.open(Opening {
        principal,
        expires_at,
        origin,
        wants: Wants::EndOnly,
    });
    while let Some(item) = live.next().await {
        if let Outbound::Ended(reason) = item {
            return reason.as_str();
        }
    }
    "server_shutdown"
}

/// Whether the client (a browser) asks for an HTML page.
fn accepts_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.contains("text/html"))
}

fn graphiql() -> Response {
    let page = GraphiQLSource::build()
        .endpoint("/graphql")
        .subscription_endpoint("/graphql")
        .title("Realtime Dashboard GraphQL")
        .finish();
    let mut response = Html(page).into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(GRAPHIQL_CSP),
    );
    response
}

/// The caller of an HTTP GraphQL request, from its `Authorization` header.
///
/// # Errors
/// `UNAVAILABLE` when the token's account cannot be checked (store down):
/// neither accepting nor refusing the token would be the truth.
async fn caller_from_headers(
    authenticator: &Authenticator,
    headers: &HeaderMap,
) -> Result<Caller, AppError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(Caller::Anonymous);
    };
    let Some(token) = value.to_str().ok().and_then(bearer_token) else {
        return Ok(Caller::Rejected);
    };
    match authenticator.authenticate(token).await {
        Ok(authenticated) => Ok(Caller::Signed(authenticated.principal)),
        Err(AppError::Unauthenticated(_)) => Ok(Caller::Rejected),
        Err(other) => Err(other),
    }
}

/// A request refused for a reason of the server's (its caller cannot be
/// checked, the store being down; an answer that cannot be written): the
/// GraphQL error shape with the error's class.
fn refused_for(format: Format, error: &AppError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let body = crate::compat::envelope::graphql_shaped(&crate::compat::envelope::error_body(error));
    json_response(format, status, &body)
}

/// The principal of a WebSocket connection, from the `connection_init`
/// payload: `{ "token": … }` or `{ "Authorization": "Bearer …" }` (any case).
/// A connection without a valid token is refused (close code 4403). Also
/// returns when the token expires (seconds since the epoch).
async fn authenticate_connection(
    authenticator: &Authenticator,
    payload: &serde_json::Value,
) -> Result<(Principal, i64), AppError> {
    let field = |name: &str| {
        payload.as_object().and_then(|object| {
            object
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .and_then(|(_, value)| value.as_str())
        })
    };
    let token = field("token").or_else(|| field("authorization").and_then(bearer_token));
    match token {
        Some(token) => authenticator
            .authenticate(token)
            .await
            .map(|authenticated| (authenticated.principal, authenticated.expires_at)),
        None => Err(AppError::Unauthenticated(crate::auth::INVALID_TOKEN)),
    }
}

/// A request that is not GraphQL at all (malformed JSON, wrong content type,
/// too large): the GraphQL error shape with the validation code, status 400
/// (413 when too large).
fn bad_request(format: Format, error: &ParseRequestError) -> Response {
    let too_large = matches!(error, ParseRequestError::PayloadTooLarge)
        || error.to_string().contains("length limit exceeded");
    let (status, message) = if too_large {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large".to_owned(),
        )
    } else {
        (
            StatusCode::BAD_REQUEST,
            format!("malformed GraphQL request: {error}"),
        )
    };
    refused(format, status, &message)
}
