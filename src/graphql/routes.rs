//! Mounts the schema on axum at `/graphql`: POST for operations, GET for the
//! GraphiQL page or a WebSocket upgrade (`graphql-transport-ws`, and the
//! legacy `graphql-ws` subprotocol), authenticated in `connection_init`.

use std::net::SocketAddr;

use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, GraphiQLSource};
use async_graphql::{Data, ParseRequestError};
use async_graphql_axum::{
    GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket, rejection::GraphQLRejection,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{ConnectInfo, FromRequestParts, Request, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::{SinkExt as _, StreamExt as _};

use super::Caller;
use super::context::ClientAddr;
use super::loaders;
use crate::auth::{Principal, TokenIssuer, bearer_token};
use crate::error::AppError;
use crate::http::AppState;
use crate::services::Services;

/// GraphiQL loads its scripts from unpkg, so its page gets a policy that
/// allows exactly that; every other response keeps the strict default.
const GRAPHIQL_CSP: &str = "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval' https://unpkg.com; \
     style-src 'self' 'unsafe-inline' https://unpkg.com; img-src 'self' data: https://graphql.org; \
     font-src 'self' data: https://unpkg.com; connect-src 'self' ws: wss:; frame-ancestors 'none'";

/// The `/graphql` routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/graphql", get(graphql_get).post(graphql_post))
}

async fn graphql_post(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    request: Result<GraphQLRequest, GraphQLRejection>,
) -> Response {
    let request = match request {
        Ok(request) => request.into_inner(),
        Err(GraphQLRejection(error)) => return bad_request(&error),
    };
    let caller = caller_from_headers(&state.services.tokens, &headers);
    let mut request = request.data(caller).data(ClientAddr(peer.ip()));
    loaders::install(&mut request.data, &state.services);
    GraphQLResponse::from(state.schema.execute(request).await).into_response()
}

async fn graphql_get(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let wants_websocket = request
        .headers()
        .get(header::UPGRADE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("websocket"));
    if !wants_websocket {
        return graphiql();
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
    let schema = state.schema.clone();
    let services = state.services.clone();
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            serve_websocket(socket, schema, protocol, services, ClientAddr(peer.ip()))
        })
}

/// Close code of `graphql-transport-ws` for a refused `connection_init`.
const CLOSE_FORBIDDEN: u16 = 4403;

/// Serves one GraphQL WebSocket. async-graphql closes a refused
/// `connection_init` with 1002 (protocol error); the protocol says 4403
/// Forbidden, which is what clients such as `graphql-ws` act on, so the close
/// frame is rewritten when the refusal was ours.
async fn serve_websocket(
    socket: WebSocket,
    schema: super::AppSchema,
    protocol: GraphQLProtocol,
    services: Services,
    client: ClientAddr,
) {
    let tokens = services.tokens.clone();
    let refused = Arc::new(AtomicBool::new(false));
    let (sink, stream) = socket.split();
    let sink = {
        let refused = refused.clone();
        sink.with(move |message: Message| {
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
            std::future::ready(Ok::<_, axum::Error>(message))
        })
    };
    let mut data = Data::default();
    data.insert(client);
    loaders::install(&mut data, &services);
    GraphQLWebSocket::new_with_pair(sink, stream, schema, protocol)
        .with_data(data)
        .on_connection_init(move |payload| async move {
            let principal = authenticate_connection(&tokens, &payload).map_err(|error| {
                refused.store(true, Ordering::Release);
                async_graphql::Error::new(error.to_string())
            })?;
            let mut data = Data::default();
            data.insert(Caller::Signed(principal));
            Ok(data)
        })
        .serve()
        .await;
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
fn caller_from_headers(tokens: &TokenIssuer, headers: &HeaderMap) -> Caller {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Caller::Anonymous;
    };
    let token = value.to_str().ok().and_then(bearer_token);
    match token.map(|token| tokens.verify(token)) {
        Some(Ok(principal)) => Caller::Signed(principal),
        _ => Caller::Rejected,
    }
}

/// The principal of a WebSocket connection, from the `connection_init`
/// payload: `{ "token": … }` or `{ "Authorization": "Bearer …" }` (any case).
/// A connection without a valid token is refused (close code 4403).
fn authenticate_connection(
    tokens: &TokenIssuer,
    payload: &serde_json::Value,
) -> Result<Principal, AppError> {
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
        Some(token) => tokens.verify(token),
        None => Err(AppError::Unauthenticated(crate::auth::INVALID_TOKEN)),
    }
}

/// A request that is not GraphQL at all (malformed JSON, wrong content type,
/// too large): the GraphQL error shape with the validation code, status 400
/// (413 when too large).
fn bad_request(error: &ParseRequestError) -> Response {
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
    let body = serde_json::json!({
        "errors": [{ "message": message, "extensions": { "code": "BAD_USER_INPUT" } }]
    });
    (status, Json(body)).into_response()
}
