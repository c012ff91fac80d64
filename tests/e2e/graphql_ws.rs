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
    socket_speaking(app, "graphql-ws").await
}

/// A raw WebSocket to `/graphql` offering only `protocol`; asserts the
/// server picked it.
async fn socket_speaking(app: &TestApp, protocol: &'static str) -> Socket {
    let mut request = app
        .ws_url()
        .into_client_request()
        .expect("a WebSocket request");
    request
        .headers_mut()
        .insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(protocol));
    let (socket, response) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
        .await
        .expect("the WebSocket handshake in time")
        .expect("the WebSocket handshake succeeds");
    assert_eq!(
        response.headers().get(SEC_WEBSOCKET_PROTOCOL),
        Some(&HeaderValue::from_static(protocol)),
        "the server speaks {protocol}"
    );
    socket
}

/// Sends `connection_init` with `token` and asserts it is acknowledged.
async fn sign_in(socket: &mut Socket, token: &str) {
    send_json(
        socket,
        json!({ "type": "connection_init", "payload": { "token": token } }),
    )
    .await;
    let ack = next_json(socket, "connection_ack").await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
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
    sign_in(&mut socket, &alice.token).await;

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
    sign_in(&mut socket, &alice.token).await;
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

/// A raw WebSocket to `/graphql` on `graphql-transport-ws`, acknowledged
/// for `token`.
async fn transport_socket(app: &TestApp, token: &str) -> Socket {
    let mut socket = socket_speaking(app, "graphql-transport-ws").await;
    sign_in(&mut socket, token).await;
    socket
}

/// Subscribes to each `(id, query)`, then runs a query on the same socket
/// and waits for its answer: the socket's frames are handled in order, so
/// the subscriptions are live by then.
async fn subscribe_then_sync(socket: &mut Socket, subscriptions: &[(&str, &str)]) {
    for (id, query) in subscriptions {
        send_json(
            socket,
            json!({ "type": "subscribe", "id": id, "payload": { "query": query } }),
        )
        .await;
    }
    send_json(
        socket,
        json!({ "type": "subscribe", "id": "sync", "payload": { "query": "{ me { id } }" } }),
    )
    .await;
    let answer = next_json(socket, "the sync query's answer").await;
    assert_eq!(
        (&answer["type"], &answer["id"]),
        (&json!("next"), &json!("sync")),
        "{answer}"
    );
    let complete = next_json(socket, "the sync query's complete").await;
    assert_eq!(complete, json!({ "type": "complete", "id": "sync" }));
}

/// The next `count` frames, by id.
async fn next_by_id(
    socket: &mut Socket,
    count: usize,
) -> std::collections::BTreeMap<String, Value> {
    let mut frames = std::collections::BTreeMap::new();
    for _ in 0..count {
        let frame = next_json(socket, "a frame").await;
        let id = frame["id"].as_str().unwrap_or_default().to_owned();
        assert!(frames.insert(id, frame.clone()).is_none(), "twice: {frame}");
    }
    frames
}

#[tokio::test]
async fn subscribers_of_one_document_share_its_answers_each_under_its_own_id() {
    // Arrange: two subscriptions of one document on Alice's socket, one on
    // Bob's, one on the admin's (another role: its own execution).
    const NEW_PRODUCT: &str = "subscription { newProduct { id name price } }";
    let app = TestApp::spawn().await;
    let admin = app.login_as_admin().await;
    let alice = app.register(&unique_email("shared-alice")).await;
    let bob = app.register(&unique_email("shared-bob")).await;
    let mut alice_socket = transport_socket(&app, &alice.token).await;
    let mut bob_socket = transport_socket(&app, &bob.token).await;
    let mut admin_socket = transport_socket(&app, &admin.token).await;
    subscribe_then_sync(
        &mut alice_socket,
        &[("a1", NEW_PRODUCT), ("a2", NEW_PRODUCT)],
    )
    .await;
    subscribe_then_sync(&mut bob_socket, &[("b1", NEW_PRODUCT)]).await;
    subscribe_then_sync(&mut admin_socket, &[("c1", NEW_PRODUCT)]).await;

    // Act
    let first = app
        .create_product(&admin.token, "Shared Kettle", 21.5, 3)
        .await;

    // Assert: every subscription gets the product once, under its own id.
    let expected = |id: &str| {
        json!({
            "type": "next",
            "id": id,
            "payload": { "data": { "newProduct": {
                "id": first["id"], "name": "Shared Kettle", "price": 21.5,
            } } },
        })
    };
    let alice_frames = next_by_id(&mut alice_socket, 2).await;
    assert_eq!(alice_frames["a1"], expected("a1"));
    assert_eq!(alice_frames["a2"], expected("a2"));
    assert_eq!(next_by_id(&mut bob_socket, 1).await["b1"], expected("b1"));
    assert_eq!(next_by_id(&mut admin_socket, 1).await["c1"], expected("c1"));

    // Act: Alice completes a1; another product follows.
    send_json(&mut alice_socket, json!({ "type": "complete", "id": "a1" })).await;
    let completed = next_json(&mut alice_socket, "the complete for a1").await;
    assert_eq!(completed, json!({ "type": "complete", "id": "a1" }));
    let second = app
        .create_product(&admin.token, "Shared Teapot", 9.0, 1)
        .await;

    // Assert: a1 has ended; a2 and Bob's go on.
    let alice_frames = next_by_id(&mut alice_socket, 1).await;
    assert_eq!(
        alice_frames.keys().collect::<Vec<_>>(),
        ["a2"],
        "only a2 after a1 completed: {alice_frames:?}"
    );
    assert_eq!(
        alice_frames["a2"]["payload"]["data"]["newProduct"]["id"],
        second["id"]
    );
    let bob_frames = next_by_id(&mut bob_socket, 1).await;
    assert_eq!(
        bob_frames["b1"]["payload"]["data"]["newProduct"]["id"],
        second["id"]
    );
}

#[tokio::test]
async fn a_subscribe_with_the_id_of_a_running_shared_subscription_closes_the_socket_with_4409() {
    // Arrange
    let app = TestApp::spawn().await;
    let alice = app.register(&unique_email("shared-dup")).await;
    let mut socket = transport_socket(&app, &alice.token).await;
    let subscribe = json!({
        "type": "subscribe",
        "id": "same",
        "payload": { "query": "subscription { productUpdated { id } }" },
    });
    subscribe_then_sync(
        &mut socket,
        &[("same", "subscription { productUpdated { id } }")],
    )
    .await;

    // Act
    send_json(&mut socket, subscribe).await;

    // Assert
    match next_incoming(&mut socket).await {
        Incoming::Closed(code) => assert_eq!(code, Some(4409)),
        Incoming::Json(frame) => panic!("expected the close, got {frame}"),
    }
}

#[tokio::test]
async fn a_user_asking_for_new_orders_over_the_socket_is_refused_as_before_sharing() {
    // Arrange
    let app = TestApp::spawn().await;
    let alice = app.register(&unique_email("shared-forbidden")).await;
    let mut socket = transport_socket(&app, &alice.token).await;

    // Act
    send_json(
        &mut socket,
        json!({ "type": "subscribe", "id": "o", "payload": { "query": "subscription { newOrder { id } }" } }),
    )
    .await;

    // Assert: async-graphql's own answer: an error item, then complete.
    let refused = next_json(&mut socket, "the refusal").await;
    assert_eq!(
        (&refused["type"], &refused["id"]),
        (&json!("next"), &json!("o")),
        "{refused}"
    );
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{refused}"
    );
    let complete = next_json(&mut socket, "complete").await;
    assert_eq!(complete, json!({ "type": "complete", "id": "o" }));
}
