//! GraphQL over WebSocket at `/graphql`: the real `graphql-ws` client
//! (protocol `graphql-transport-ws`, tests/js/gqlws-driver.mjs) and a raw
//! `tokio-tungstenite` socket speaking the legacy `graphql-ws` subprotocol
//! (subscriptions-transport-ws).

use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use realtime_dashboard::domain::Role;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::SEC_WEBSOCKET_PROTOCOL;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::support::node::NodeClient;
use crate::support::steps::{FORBIDDEN, is_kind};
use crate::support::tokens::{
    signed_with_another_key, unsigned, with_forged_admin_role, with_tampered_signature,
};
use crate::support::{TestApp, unique_email};

/// How long to wait for something that must happen.
const WAIT: Duration = Duration::from_secs(10);

const ME: &str = "{ me { id role } }";

fn is_for(kind: &'static str, id: &'static str) -> impl Fn(&Value) -> bool {
    move |line| line["kind"] == kind && line["id"] == id
}

/// Runs `{ me { id role } }` over an acknowledged graphql-ws connection and
/// returns the `me` object.
async fn me_over_the_socket(client: &mut NodeClient) -> Value {
    client
        .send(json!({ "cmd": "query", "id": "q1", "query": ME }))
        .await;
    let next = client
        .expect("next for q1", WAIT, is_for("next", "q1"))
        .await;
    assert!(
        next["payload"]["errors"].is_null(),
        "the query failed: {next}"
    );
    client
        .expect("complete for q1", WAIT, is_for("complete", "q1"))
        .await;
    next["payload"]["data"]["me"].clone()
}

#[tokio::test]
async fn the_graphql_ws_client_authenticates_with_a_token_in_connection_init_and_runs_me() {
    // Arrange
    let app = TestApp::spawn().await;
    let alice = app.register(&unique_email("gqlws-token")).await;
    let mut client = NodeClient::graphql_ws(&app.ws_url(), json!({ "token": alice.token })).await;
    client.expect("connected", WAIT, is_kind("connected")).await;

    // Act
    let me = me_over_the_socket(&mut client).await;

    // Assert
    assert_eq!(me, json!({ "id": alice.id, "role": "USER" }));
}

#[tokio::test]
async fn the_graphql_ws_client_authenticates_with_an_authorization_bearer_in_connection_init() {
    // Arrange
    let app = TestApp::spawn().await;
    let alice = app.register(&unique_email("gqlws-bearer")).await;
    let params = json!({ "Authorization": format!("Bearer {}", alice.token) });
    let mut client = NodeClient::graphql_ws(&app.ws_url(), params).await;
    client.expect("connected", WAIT, is_kind("connected")).await;

    // Act
    let me = me_over_the_socket(&mut client).await;

    // Assert
    assert_eq!(me, json!({ "id": alice.id, "role": "USER" }));
}

#[tokio::test]
async fn a_connection_init_without_a_valid_token_is_closed_with_4403_and_never_acknowledged() {
    // Arrange
    let app = TestApp::spawn().await;
    let alice = app.register(&unique_email("gqlws-refused")).await;
    let cases = [
        ("no connection_init payload", Value::Null),
        ("a payload without a token", json!({})),
        ("a malformed token", json!({ "token": "not-a-jwt" })),
        (
            "a token with a tampered signature",
            json!({ "token": with_tampered_signature(&alice.token) }),
        ),
        (
            "a token whose role claim was raised to admin",
            json!({ "token": with_forged_admin_role(&alice.token) }),
        ),
        (
            "an unsigned alg:none token",
            json!({ "token": unsigned(&alice.token) }),
        ),
        (
            "a token signed with another key",
            json!({ "token": signed_with_another_key(&alice.id) }),
        ),
        (
            "an Authorization value that is not Bearer",
            json!({ "Authorization": format!("Basic {}", alice.token) }),
        ),
        (
            "an expired token",
            json!({ "token": app.expired_token(&alice.id, Role::User) }),
        ),
    ];

    let mut outcomes = Vec::new();
    for (case, params) in cases {
        // Act
        let mut client = NodeClient::graphql_ws(&app.ws_url(), params).await;
        let closed = client
            .expect(&format!("closed for {case}"), WAIT, is_kind("closed"))
            .await;
        let acknowledged = client
            .seen()
            .iter()
            .any(|line| line.contains(r#""kind":"connected""#));
        outcomes.push((
            case,
            closed["code"].clone(),
            closed["reason"].clone(),
            acknowledged,
        ));
    }

    // Assert
    let wrong: Vec<_> = outcomes
        .iter()
        .filter(|(_, code, _, acknowledged)| *code != FORBIDDEN || *acknowledged)
        .collect();
    assert!(
        wrong.is_empty(),
        "every refusal must close with {FORBIDDEN} and never acknowledge; \
         (case, close code, reason, acknowledged) that did not: {wrong:#?}"
    );
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A raw WebSocket to `/graphql` offering only the legacy `graphql-ws`
/// subprotocol; asserts the server picked it.
async fn legacy_socket(app: &TestApp) -> Socket {
    let mut request = app
        .ws_url()
        .into_client_request()
        .expect("a WebSocket request");
    request.headers_mut().insert(
        SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static("graphql-ws"),
    );
    let (socket, response) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
        .await
        .expect("the WebSocket handshake in time")
        .expect("the WebSocket handshake succeeds");
    assert_eq!(
        response.headers().get(SEC_WEBSOCKET_PROTOCOL),
        Some(&HeaderValue::from_static("graphql-ws")),
        "the server speaks the legacy subprotocol"
    );
    socket
}

async fn send_json(socket: &mut Socket, message: Value) {
    socket
        .send(Message::text(message.to_string()))
        .await
        .expect("the message is sent");
}

/// What a legacy client reads next.
#[derive(Debug)]
enum Incoming {
    Json(Value),
    /// A close frame (with its code), the end of the stream, or a transport error.
    Closed(Option<u16>),
}

/// The next JSON message or the end of the connection, skipping pings/pongs
/// and `ka` keep-alives. Panics if neither comes within [`WAIT`].
async fn next_incoming(socket: &mut Socket) -> Incoming {
    let read = async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(text.as_str())
                        .unwrap_or_else(|e| panic!("a JSON message, got {text:?}: {e}"));
                    if value["type"] != "ka" {
                        return Incoming::Json(value);
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    return Incoming::Closed(frame.map(|frame| u16::from(frame.code)));
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Incoming::Closed(None),
            }
        }
    };
    tokio::time::timeout(WAIT, read)
        .await
        .expect("a message or a close in time")
}

async fn next_json(socket: &mut Socket, what: &str) -> Value {
    match next_incoming(socket).await {
        Incoming::Json(value) => value,
        Incoming::Closed(code) => panic!("expected {what}, but the socket closed ({code:?})"),
    }
}

#[tokio::test]
async fn the_legacy_graphql_ws_subprotocol_authenticates_and_runs_me() {
    // Arrange
    let app = TestApp::spawn().await;
    let alice = app.register(&unique_email("gqlws-legacy")).await;
    let mut socket = legacy_socket(&app).await;
    send_json(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "token": alice.token } }),
    )
    .await;
    let ack = next_json(&mut socket, "connection_ack").await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");

    // Act
    send_json(
        &mut socket,
        json!({ "type": "start", "id": "1", "payload": { "query": "{ me { id } }" } }),
    )
    .await;

    // Assert
    let data = next_json(&mut socket, "data").await;
    assert_eq!(
        data,
        json!({ "type": "data", "id": "1", "payload": { "data": { "me": { "id": alice.id } } } })
    );
    let complete = next_json(&mut socket, "complete").await;
    assert_eq!(complete, json!({ "type": "complete", "id": "1" }));
}

#[tokio::test]
async fn the_legacy_graphql_ws_subprotocol_refuses_a_connection_init_without_a_valid_token() {
    // Arrange
    let app = TestApp::spawn().await;
    let cases = [
        ("no payload", json!({ "type": "connection_init" })),
        (
            "a payload without a token",
            json!({ "type": "connection_init", "payload": {} }),
        ),
        (
            "a malformed token",
            json!({ "type": "connection_init", "payload": { "token": "not-a-jwt" } }),
        ),
    ];

    for (case, init) in cases {
        let mut socket = legacy_socket(&app).await;

        // Act
        send_json(&mut socket, init).await;

        // Assert: a connection_error, then the end of the connection, and
        // never a connection_ack.
        let mut received = Vec::new();
        let closed = loop {
            match next_incoming(&mut socket).await {
                Incoming::Json(value) => received.push(value),
                Incoming::Closed(code) => break code,
            }
        };
        assert!(
            received.iter().all(|m| m["type"] != "connection_ack"),
            "{case}: acknowledged anyway: {received:?}"
        );
        assert!(
            received.iter().any(|m| m["type"] == "connection_error"),
            "{case}: no connection_error before the close ({closed:?}): {received:?}"
        );
    }
}

#[tokio::test]
async fn persisted_queries_work_over_the_socket_too() {
    use sha2::{Digest as _, Sha256};

    // Arrange
    let app = TestApp::spawn().await;
    let alice = app.register(&unique_email("gqlws-apq")).await;
    let mut socket = legacy_socket(&app).await;
    send_json(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "token": alice.token } }),
    )
    .await;
    let ack = next_json(&mut socket, "connection_ack").await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    let query = "query Me { me { id } }";
    let hash = hex::encode(Sha256::digest(query.as_bytes()));
    let persisted = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
    let me = json!({ "data": { "me": { "id": alice.id } } });

    // Act + Assert: a miss is an error item, then the operation completes.
    send_json(
        &mut socket,
        json!({ "type": "start", "id": "miss", "payload": { "extensions": persisted } }),
    )
    .await;
    let miss = next_json(&mut socket, "data for the miss").await;
    assert_eq!(
        miss["payload"]["errors"][0]["message"], "PersistedQueryNotFound",
        "{miss}"
    );
    assert_eq!(
        miss["payload"]["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_FOUND",
        "{miss}"
    );
    let complete = next_json(&mut socket, "complete for the miss").await;
    assert_eq!(complete, json!({ "type": "complete", "id": "miss" }));

    // The query with its hash registers it; the hash alone then runs it.
    for (id, payload) in [
        (
            "register",
            json!({ "query": query, "extensions": persisted }),
        ),
        ("hit", json!({ "extensions": persisted })),
    ] {
        send_json(
            &mut socket,
            json!({ "type": "start", "id": id, "payload": payload }),
        )
        .await;
        let data = next_json(&mut socket, "data").await;
        assert_eq!(data, json!({ "type": "data", "id": id, "payload": me }));
        let complete = next_json(&mut socket, "complete").await;
        assert_eq!(complete, json!({ "type": "complete", "id": id }));
    }
}
