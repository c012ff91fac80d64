//! One-to-one chat through every door, with the real clients
//! (`socket.io-client`, `graphql-ws`) and REST: round trips, the two doors
//! used interchangeably, privacy, bad input, offline delivery, receipts,
//! typing, and hostile traffic. Flows that store messages run on both stores.
//!
//! A "never arrives" check always comes after its positive counterpart has
//! arrived, and where possible after a later message that the same
//! connection does receive (a sentinel): one connection's messages are
//! delivered in order, so anything that was going to arrive before the
//! sentinel is in its buffer by then.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use realtime_dashboard::domain::UserId;
use serde_json::{Value, json};

use crate::support::node::NodeClient;
use crate::support::steps::{id_of, is_event, is_next};
use crate::support::{
    Account, Backend, TestApp, assert_rest_error, graphql_code, on_both_stores, unique_email,
};

/// How long to wait for something that must happen.
const WAIT: Duration = Duration::from_secs(10);
/// How long to watch for something that must not happen (after its
/// positive counterpart has been seen).
const QUIET: Duration = Duration::from_millis(500);

const MESSAGE_RECEIVED: &str = "subscription { messageReceived { id text from { id } to { id } } }";
const MESSAGES_SEEN: &str =
    "subscription { messagesSeen { ids seenAt by { id } messages { id seen seenAt text } } }";
const USER_TYPING: &str = "subscription { userTyping { typing from { id } } }";
const SEND_MESSAGE: &str = "mutation($to: ID!, $text: String!) { \
     sendMessage(to: $to, text: $text) { id text from { id } to { id } } }";
const THREAD: &str = "query($with: ID!, $before: String) { \
     messages(with: $with, before: $before) { \
       nodes { id text seen from { id } to { id } } \
       pageInfo { hasPreviousPage startCursor } } }";
const CONVERSATIONS: &str = "{ conversations { peer { id } lastMessage { id text } unreadCount } }";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn ids_of(messages: &[Value]) -> Vec<String> {
    messages.iter().map(id_of).collect()
}

fn sorted(ids: &Value) -> Vec<String> {
    let mut ids: Vec<String> = ids
        .as_array()
        .unwrap_or_else(|| panic!("an id array, got {ids}"))
        .iter()
        .map(|id| id.as_str().expect("ids are strings").to_owned())
        .collect();
    ids.sort();
    ids
}

/// A `receive_message` carrying the message `id`.
fn is_receive(id: &str) -> impl Fn(&Value) -> bool + use<> {
    let id = id.to_owned();
    move |line| is_event("receive_message")(line) && line["args"][0]["id"] == id.as_str()
}

/// A `receive_message` carrying any of `ids`.
fn is_receive_of_any(ids: &[String]) -> impl Fn(&Value) -> bool + use<> {
    let ids = ids.to_vec();
    move |line| {
        is_event("receive_message")(line)
            && line["args"][0]["id"]
                .as_str()
                .is_some_and(|id| ids.iter().any(|wanted| wanted == id))
    }
}

/// A graphql-ws `next` of subscription `sub` whose `data.field.id` is `id`.
fn is_next_with_id(
    sub: &'static str,
    field: &'static str,
    id: &str,
) -> impl Fn(&Value) -> bool + use<> {
    let id = id.to_owned();
    move |line| {
        line["kind"] == "next"
            && line["id"] == sub
            && line["payload"]["data"][field]["id"] == id.as_str()
    }
}

/// A graphql-ws `next` of `messageReceived` subscription `sub` carrying any of `ids`.
fn is_received_of_any(sub: &'static str, ids: &[String]) -> impl Fn(&Value) -> bool + use<> {
    let ids = ids.to_vec();
    move |line| {
        is_next(sub)(line)
            && line["payload"]["data"]["messageReceived"]["id"]
                .as_str()
                .is_some_and(|id| ids.iter().any(|wanted| wanted == id))
    }
}

/// Emits `event` with an ack and returns the ack's first argument.
async fn ack_of(socket: &mut NodeClient, event: &str, payload: Value) -> Value {
    let args = socket.emit_with_ack(event, json!([payload]), WAIT).await;
    args[0].clone()
}

/// `send_message {to, text}` over Socket.IO, which must succeed; returns the
/// stored message from the ack.
async fn sio_send(socket: &mut NodeClient, to: &str, text: &str) -> Value {
    let ack = ack_of(socket, "send_message", json!({ "to": to, "text": text })).await;
    assert_eq!(ack["status"], "success", "send_message {text:?}: {ack}");
    ack["data"].clone()
}

/// `POST /chat/messages` with `body`, which must answer 201; returns `data`.
async fn rest_send(app: &TestApp, sender: &Account, body: Value) -> Value {
    let response = app
        .post("/chat/messages", body.clone(), Some(&sender.token))
        .await;
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 201, "POST /chat/messages {body}: {answer}");
    answer["data"].clone()
}

/// `sendMessage` over HTTP, which must succeed; returns the message.
async fn gql_send(app: &TestApp, sender: &Account, to: &str, text: &str) -> Value {
    let data = app
        .graphql_ok(
            SEND_MESSAGE,
            json!({ "to": to, "text": text }),
            Some(&sender.token),
        )
        .await;
    data["sendMessage"].clone()
}

/// Every message of a REST history route, chronological, walking `before`
/// cursors back to the start.
async fn rest_history(app: &TestApp, token: &str, path: &str) -> Vec<Value> {
    let mut pages: Vec<Vec<Value>> = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let query: Vec<(&str, &str)> = before.iter().map(|b| ("before", b.as_str())).collect();
        let response = app.get_with(path, &query, Some(token)).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 200, "GET {path} before {before:?}: {body}");
        assert_eq!(body["status"], "success", "GET {path}: {body}");
        let page = body["data"]
            .as_array()
            .unwrap_or_else(|| panic!("GET {path}: data is a list: {body}"))
            .clone();
        assert!(pages.len() < 50, "GET {path}: the cursor walk never ends");
        pages.push(page);
        match body["meta"]["nextCursor"].as_str() {
            Some(cursor) => before = Some(cursor.to_owned()),
            None => break,
        }
    }
    // Pages come newest first; each page is chronological.
    pages.into_iter().rev().flatten().collect()
}

/// `GET /chat/messages/:peer` as `token`, every page, chronological.
async fn rest_thread(app: &TestApp, token: &str, peer: &str) -> Vec<Value> {
    rest_history(app, token, &format!("/chat/messages/{peer}")).await
}

/// GraphQL `messages(with)` as `token`, every page, chronological.
async fn gql_thread(app: &TestApp, token: &str, with: &str) -> Vec<Value> {
    let mut pages: Vec<Vec<Value>> = Vec::new();
    let mut before = Value::Null;
    loop {
        let data = app
            .graphql_ok(
                THREAD,
                json!({ "with": with, "before": before }),
                Some(token),
            )
            .await;
        let connection = &data["messages"];
        pages.push(
            connection["nodes"]
                .as_array()
                .unwrap_or_else(|| panic!("messages.nodes is a list: {data}"))
                .clone(),
        );
        assert!(
            pages.len() < 50,
            "messages(with): the cursor walk never ends"
        );
        if connection["pageInfo"]["hasPreviousPage"] != true {
            break;
        }
        before = connection["pageInfo"]["startCursor"].clone();
        assert!(
            before.is_string(),
            "a startCursor with hasPreviousPage: {data}"
        );
    }
    pages.into_iter().rev().flatten().collect()
}

/// `conversations` as `token`.
async fn conversations(app: &TestApp, token: &str) -> Vec<Value> {
    let data = app.graphql_ok(CONVERSATIONS, json!({}), Some(token)).await;
    data["conversations"]
        .as_array()
        .unwrap_or_else(|| panic!("conversations is a list: {data}"))
        .clone()
}

/// The unread count of the conversation with `peer`.
async fn unread_with(app: &TestApp, token: &str, peer: &str) -> Value {
    let all = conversations(app, token).await;
    all.iter()
        .find(|conversation| conversation["peer"]["id"] == peer)
        .unwrap_or_else(|| panic!("a conversation with {peer} in {all:?}"))["unreadCount"]
        .clone()
}

/// Closes a Socket.IO client and waits until its WebSocket is closed.
async fn close_socket(mut socket: NodeClient) {
    socket.send(json!({ "cmd": "disconnect" })).await;
    socket
        .expect("closed", WAIT, |line| line["kind"] == "closed")
        .await;
}

/// Closes a graphql-ws client and waits until it is disposed.
async fn close_graphql(mut client: NodeClient) {
    client.send(json!({ "cmd": "dispose" })).await;
    client
        .expect("disposed", WAIT, |line| line["kind"] == "disposed")
        .await;
}

/// Runs one query or mutation over the graphql-ws connection; returns its payload.
async fn ws_operation(
    client: &mut NodeClient,
    id: &'static str,
    query: &str,
    variables: Value,
) -> Value {
    client
        .send(json!({ "cmd": "query", "id": id, "query": query, "variables": variables }))
        .await;
    let answer = client
        .expect(&format!("the answer to {id}"), WAIT, |line| {
            line["kind"] == "next" && line["id"] == id
        })
        .await;
    client
        .expect(&format!("complete of {id}"), WAIT, |line| {
            line["kind"] == "complete" && line["id"] == id
        })
        .await;
    answer["payload"].clone()
}

/// Subscribes, then runs a query over the same connection and waits for its
/// answer: the server handles a connection's messages in order, so the
/// subscriptions sent before are active by then.
async fn subscribe_all(client: &mut NodeClient, subscriptions: &[(&str, &str)]) {
    for (id, query) in subscriptions {
        client
            .send(json!({ "cmd": "subscribe", "id": id, "query": query }))
            .await;
    }
    let answer = ws_operation(client, "ready", "{ me { id } }", json!({})).await;
    assert!(answer["errors"].is_null(), "{answer}");
}

/// The next `count` `receive_message` payloads of a socket, in arrival order.
async fn next_received(socket: &mut NodeClient, count: usize, what: &str) -> Vec<Value> {
    let mut payloads = Vec::new();
    for n in 1..=count {
        let line = socket
            .expect(
                &format!("{what} (#{n} of {count})"),
                WAIT,
                is_event("receive_message"),
            )
            .await;
        payloads.push(line["args"][0].clone());
    }
    payloads
}

/// The next `count` `messageReceived` messages of subscription `sub`, in order.
async fn next_graphql_received(
    client: &mut NodeClient,
    sub: &'static str,
    count: usize,
    what: &str,
) -> Vec<Value> {
    let mut messages = Vec::new();
    for n in 1..=count {
        let line = client
            .expect(&format!("{what} (#{n} of {count})"), WAIT, is_next(sub))
            .await;
        assert!(line["payload"]["errors"].is_null(), "{what}: {line}");
        messages.push(line["payload"]["data"]["messageReceived"].clone());
    }
    messages
}

/// A message as GraphQL renders it from the REST/Socket.IO wire shape.
fn as_graphql(message: &Value) -> Value {
    json!({
        "id": message["id"],
        "text": message["text"],
        "from": { "id": message["from"] },
        "to": { "id": message["to"] },
    })
}

/// The fields both the REST and the GraphQL history show, in one shape.
fn comparable(message: &Value) -> Value {
    let id = |user: &Value| match user {
        Value::Object(_) => user["id"].clone(),
        other => other.clone(),
    };
    json!({
        "id": message["id"],
        "text": message["text"],
        "seen": message["seen"],
        "from": id(&message["from"]),
        "to": id(&message["to"]),
    })
}

// ---------------------------------------------------------------------------
// 1. Round trip on Socket.IO
// ---------------------------------------------------------------------------

async fn a_socketio_message_is_stored_from_the_token_user_and_reaches_every_other_connection_once(
    backend: Backend,
) {
    // Arrange
    let app = TestApp::spawn_with(backend, |_| {}).await;
    let alice = app.register(&unique_email("chat-rt-alice")).await;
    let bob = app.register(&unique_email("chat-rt-bob")).await;
    let mut alice_sender = app.socket(&alice.token).await;
    let mut alice_other_tab = app.socket(&alice.token).await;
    let mut bob_socket = app.socket(&bob.token).await;

    // Act: the payload claims to come from Bob.
    let ack = ack_of(
        &mut alice_sender,
        "send_message",
        json!({ "to": bob.id, "text": "Hello Bob", "from": bob.id }),
    )
    .await;

    // Assert: the ack carries the stored message, from Alice.
    assert_eq!(ack["status"], "success", "{ack}");
    let message = ack["data"].clone();
    let id = id_of(&message);
    assert_eq!(
        message["from"],
        alice.id.as_str(),
        "a forged from is ignored: {message}"
    );
    assert_eq!(message["to"], bob.id.as_str(), "{message}");
    assert_eq!(message["text"], "Hello Bob", "{message}");
    assert_eq!(message["seen"], false, "{message}");
    assert!(message["seenAt"].is_null(), "{message}");
    let created = message["createdAt"].as_str().unwrap_or_default();
    assert!(
        chrono::DateTime::parse_from_rfc3339(created).is_ok(),
        "createdAt is RFC 3339: {message}"
    );
    assert_eq!(message["created_at"], message["createdAt"], "{message}");

    // Bob and Alice's other tab receive it, as stored.
    for (who, socket) in [
        ("Bob", &mut bob_socket),
        ("Alice's other tab", &mut alice_other_tab),
    ] {
        let line = socket
            .expect(&format!("receive_message for {who}"), WAIT, is_receive(&id))
            .await;
        assert!(line["args"][0]["position"].is_string(), "{line}");
        assert_eq!(
            crate::support::without_position(&line["args"]),
            json!([message]),
            "{who}: receive_message payload"
        );
    }

    // Sentinel: a message Alice sends over REST (again claiming to be Bob)
    // reaches all three sockets, the one that sent the first included.
    let sentinel = rest_send(
        &app,
        &alice,
        json!({ "to": bob.id, "text": "Sent over REST", "from": bob.id }),
    )
    .await;
    assert_eq!(
        sentinel["from"],
        alice.id.as_str(),
        "REST ignores a forged from: {sentinel}"
    );
    let sentinel_id = id_of(&sentinel);
    for (who, socket) in [
        ("Alice's sending socket", &mut alice_sender),
        ("Alice's other tab", &mut alice_other_tab),
        ("Bob", &mut bob_socket),
    ] {
        let line = socket
            .expect(
                &format!("the REST message for {who}"),
                WAIT,
                is_receive(&sentinel_id),
            )
            .await;
        assert_eq!(
            crate::support::without_position(&line["args"]),
            json!([sentinel]),
            "{who}: REST message payload"
        );
    }
    assert!(
        alice_sender
            .receives_none_within(QUIET, is_receive(&id))
            .await,
        "the sending socket got its own message back (it has the ack): {:#?}",
        alice_sender.seen()
    );
    for (who, socket) in [
        ("Bob", &mut bob_socket),
        ("Alice's other tab", &mut alice_other_tab),
    ] {
        assert!(
            socket
                .receives_none_within(QUIET, is_receive_of_any(&[id.clone(), sentinel_id.clone()]))
                .await,
            "{who} received a message twice: {:#?}",
            socket.seen()
        );
    }

    // Stored once each, as acknowledged.
    let thread = rest_thread(&app, &bob.token, &alice.id).await;
    assert_eq!(thread, vec![message, sentinel], "Bob's thread with Alice");
}

on_both_stores!(
    a_socketio_message_is_stored_from_the_token_user_and_reaches_every_other_connection_once
);

// ---------------------------------------------------------------------------
// 2. Interchangeable doors
// ---------------------------------------------------------------------------

async fn a_socketio_user_and_a_graphql_user_chat_both_ways_with_one_history(backend: Backend) {
    // Arrange: Alice on Socket.IO, Bob on GraphQL.
    let app = TestApp::spawn_with(backend, |_| {}).await;
    let alice = app.register(&unique_email("chat-doors-alice")).await;
    let bob = app.register(&unique_email("chat-doors-bob")).await;
    let mut alice_socket = app.socket(&alice.token).await;
    let mut bob_client = app.graphql_ws_client(&bob.token).await;
    subscribe_all(&mut bob_client, &[("received", MESSAGE_RECEIVED)]).await;

    // Act and assert, turn by turn.
    // Alice → Bob over Socket.IO.
    let first = sio_send(&mut alice_socket, &bob.id, "Hi Bob, from Socket.IO").await;
    let line = bob_client
        .expect(
            "messageReceived for Bob",
            WAIT,
            is_next_with_id("received", "messageReceived", &id_of(&first)),
        )
        .await;
    assert_eq!(
        line["payload"]["data"]["messageReceived"],
        as_graphql(&first),
        "{line}"
    );

    // Bob → Alice with sendMessage on his WebSocket.
    let payload = ws_operation(
        &mut bob_client,
        "reply",
        SEND_MESSAGE,
        json!({ "to": alice.id, "text": "Hi Alice, from GraphQL" }),
    )
    .await;
    assert!(
        payload["errors"].is_null(),
        "sendMessage over the WebSocket: {payload}"
    );
    let reply = payload["data"]["sendMessage"].clone();
    assert_eq!(reply["from"]["id"], bob.id.as_str(), "{reply}");
    let reply_id = id_of(&reply);
    let line = alice_socket
        .expect("receive_message for Alice", WAIT, is_receive(&reply_id))
        .await;
    let received = &line["args"][0];
    assert_eq!(
        as_graphql(received),
        reply,
        "receive_message of Bob's reply: {line}"
    );

    // Alice → Bob over Socket.IO again; Bob → Alice with sendMessage over HTTP.
    let second = sio_send(&mut alice_socket, &bob.id, "How are you?").await;
    let line = bob_client
        .expect(
            "the second messageReceived for Bob",
            WAIT,
            is_next_with_id("received", "messageReceived", &id_of(&second)),
        )
        .await;
    assert_eq!(
        line["payload"]["data"]["messageReceived"],
        as_graphql(&second),
        "{line}"
    );
    let answer = gql_send(&app, &bob, &alice.id, "Fine, over HTTP").await;
    let answer_id = id_of(&answer);
    alice_socket
        .expect(
            "receive_message of the HTTP reply",
            WAIT,
            is_receive(&answer_id),
        )
        .await;
    // Sent from no connection of Bob's, it shows on his WebSocket (another
    // connection of the sender); the one he sent on his WebSocket did not
    // come back to it.
    bob_client
        .expect(
            "Bob's HTTP message on his WebSocket",
            WAIT,
            is_next_with_id("received", "messageReceived", &answer_id),
        )
        .await;
    assert!(
        bob_client
            .receives_none_within(
                QUIET,
                is_received_of_any("received", std::slice::from_ref(&reply_id))
            )
            .await,
        "Bob's WebSocket got back the message it sent: {:#?}",
        bob_client.seen()
    );

    // One history, whichever door and whichever side reads it.
    let expected: Vec<String> = vec![id_of(&first), reply_id, id_of(&second), answer_id];
    let texts = [
        "Hi Bob, from Socket.IO",
        "Hi Alice, from GraphQL",
        "How are you?",
        "Fine, over HTTP",
    ];
    let alice_rest = rest_thread(&app, &alice.token, &bob.id).await;
    let bob_rest = rest_thread(&app, &bob.token, &alice.id).await;
    let alice_graphql = gql_thread(&app, &alice.token, &bob.id).await;
    let bob_graphql = gql_thread(&app, &bob.token, &alice.id).await;
    for (view, messages) in [
        ("Alice over REST", &alice_rest),
        ("Bob over REST", &bob_rest),
        ("Alice over GraphQL", &alice_graphql),
        ("Bob over GraphQL", &bob_graphql),
    ] {
        assert_eq!(ids_of(messages), expected, "{view}: ids in order");
        let said: Vec<&str> = messages
            .iter()
            .map(|m| m["text"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(said, texts, "{view}: texts in order");
    }
    let reference: Vec<Value> = alice_rest.iter().map(comparable).collect();
    for (view, messages) in [
        ("Bob over REST", &bob_rest),
        ("Alice over GraphQL", &alice_graphql),
        ("Bob over GraphQL", &bob_graphql),
    ] {
        let same: Vec<Value> = messages.iter().map(comparable).collect();
        assert_eq!(same, reference, "{view} agrees with Alice's REST history");
    }
    let senders: Vec<&str> = reference
        .iter()
        .map(|m| m["from"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        senders,
        [
            alice.id.as_str(),
            bob.id.as_str(),
            alice.id.as_str(),
            bob.id.as_str()
        ],
        "who said what"
    );
}

on_both_stores!(a_socketio_user_and_a_graphql_user_chat_both_ways_with_one_history);

// ---------------------------------------------------------------------------
// 3. Privacy
// ---------------------------------------------------------------------------

async fn a_third_user_gets_nothing_of_someone_elses_thread_on_any_door(backend: Backend) {
    // Arrange: Alice and Bob talk; Carol listens on every door.
    let app = TestApp::spawn_with(backend, |_| {}).await;
    let alice = app.register(&unique_email("chat-priv-alice")).await;
    let bob = app.register(&unique_email("chat-priv-bob")).await;
    let carol = app.register(&unique_email("chat-priv-carol")).await;
    let mut alice_socket = app.socket(&alice.token).await;
    let mut bob_socket = app.socket(&bob.token).await;
    let mut carol_socket = app.socket(&carol.token).await;
    let mut carol_client = app.graphql_ws_client(&carol.token).await;
    subscribe_all(
        &mut carol_client,
        &[("received", MESSAGE_RECEIVED), ("seen", MESSAGES_SEEN)],
    )
    .await;

    let to_bob = sio_send(&mut alice_socket, &bob.id, "Secret for Bob").await;
    bob_socket
        .expect("Alice's message for Bob", WAIT, is_receive(&id_of(&to_bob)))
        .await;
    let to_alice = rest_send(
        &app,
        &bob,
        json!({ "to": alice.id, "text": "Secret for Alice" }),
    )
    .await;
    alice_socket
        .expect(
            "Bob's message for Alice",
            WAIT,
            is_receive(&id_of(&to_alice)),
        )
        .await;
    let private = vec![id_of(&to_bob), id_of(&to_alice)];

    // Act and assert: Carol reads the threads with Alice and with Bob.
    for peer in [&alice.id, &bob.id] {
        let rest = rest_thread(&app, &carol.token, peer).await;
        assert!(
            rest.is_empty(),
            "REST /chat/messages/{peer} as Carol: {rest:?}"
        );
        let graphql = gql_thread(&app, &carol.token, peer).await;
        assert!(
            graphql.is_empty(),
            "GraphQL messages(with: {peer}) as Carol: {graphql:?}"
        );
    }
    let all = rest_history(&app, &carol.token, "/chat/messages").await;
    assert!(all.is_empty(), "REST /chat/messages as Carol: {all:?}");
    let listed = conversations(&app, &carol.token).await;
    assert!(listed.is_empty(), "Carol's conversations: {listed:?}");

    // Carol cannot mark Alice's messages to Bob seen either.
    let ack = ack_of(&mut carol_socket, "mark_seen", json!({ "with": alice.id })).await;
    assert_eq!(ack["status"], "success", "{ack}");
    assert_eq!(
        ack["data"]["ids"],
        json!([]),
        "Carol marked someone else's messages: {ack}"
    );
    assert_eq!(
        unread_with(&app, &bob.token, &alice.id).await,
        1,
        "Bob's unread count after Carol's mark_seen"
    );

    // Sentinel: Alice writes to Carol; Carol's connections get that, and
    // nothing of the thread between Alice and Bob before it.
    let to_carol = sio_send(&mut alice_socket, &carol.id, "Hello Carol").await;
    let to_carol_id = id_of(&to_carol);
    carol_socket
        .expect("Alice's message for Carol", WAIT, is_receive(&to_carol_id))
        .await;
    carol_client
        .expect(
            "Alice's message for Carol over GraphQL",
            WAIT,
            is_next_with_id("received", "messageReceived", &to_carol_id),
        )
        .await;
    assert!(
        carol_socket
            .receives_none_within(QUIET, is_receive_of_any(&private))
            .await,
        "Carol's socket received Alice↔Bob messages: {:#?}",
        carol_socket.seen()
    );
    assert!(
        carol_client
            .receives_none_within(QUIET, is_received_of_any("received", &private))
            .await,
        "Carol's messageReceived carried Alice↔Bob messages: {:#?}",
        carol_client.seen()
    );
    assert!(
        carol_socket
            .receives_none_within(Duration::ZERO, is_event("messages_seen"))
            .await
            && carol_client
                .receives_none_within(Duration::ZERO, is_next("seen"))
                .await,
        "Carol heard a read receipt: {:#?} / {:#?}",
        carol_socket.seen(),
        carol_client.seen()
    );

    // Her history now holds exactly her own message, on both doors.
    let rest = rest_thread(&app, &carol.token, &alice.id).await;
    assert_eq!(
        ids_of(&rest),
        std::slice::from_ref(&to_carol_id),
        "Carol's REST thread with Alice"
    );
    let graphql = gql_thread(&app, &carol.token, &alice.id).await;
    assert_eq!(
        ids_of(&graphql),
        std::slice::from_ref(&to_carol_id),
        "Carol's GraphQL thread with Alice"
    );
    let all = rest_history(&app, &carol.token, "/chat/messages").await;
    assert_eq!(
        ids_of(&all),
        std::slice::from_ref(&to_carol_id),
        "all of Carol's messages"
    );
    let listed = conversations(&app, &carol.token).await;
    assert_eq!(listed.len(), 1, "Carol's conversations: {listed:?}");
    assert_eq!(listed[0]["peer"]["id"], alice.id.as_str(), "{listed:?}");
    assert_eq!(
        listed[0]["lastMessage"]["id"],
        to_carol_id.as_str(),
        "{listed:?}"
    );
}

on_both_stores!(a_third_user_gets_nothing_of_someone_elses_thread_on_any_door);

// ---------------------------------------------------------------------------
// 4. Bad input
// ---------------------------------------------------------------------------

/// One message that must be refused, on every door.
struct BadMessage {
    what: &'static str,
    to: String,
    text: String,
    status: u16,
    code: &'static str,
    /// The field the validation details name, for validation errors.
    field: Option<&'static str>,
}

async fn bad_messages_are_refused_on_every_door_and_nothing_is_stored(backend: Backend) {
    // Arrange
    let app = TestApp::spawn_with(backend, |_| {}).await;
    let alice = app.register(&unique_email("chat-bad-alice")).await;
    let bob = app.register(&unique_email("chat-bad-bob")).await;
    let mut alice_socket = app.socket(&alice.token).await;
    let nobody = UserId::generate().to_string();
    let bad = |what, to: &str, text: &str, status, code, field| BadMessage {
        what,
        to: to.to_owned(),
        text: text.to_owned(),
        status,
        code,
        field,
    };
    let cases = [
        bad(
            "an unknown recipient",
            &nobody,
            "hello",
            404,
            "NOT_FOUND",
            None,
        ),
        bad(
            "a malformed recipient id",
            "not-an-id",
            "hello",
            400,
            "BAD_USER_INPUT",
            Some("to"),
        ),
        bad(
            "the sender as recipient",
            &alice.id,
            "hello",
            400,
            "BAD_USER_INPUT",
            Some("to"),
        ),
        bad(
            "an empty text",
            &bob.id,
            "",
            400,
            "BAD_USER_INPUT",
            Some("text"),
        ),
        bad(
            "a whitespace-only text",
            &bob.id,
            " \t\n  ",
            400,
            "BAD_USER_INPUT",
            Some("text"),
        ),
        bad(
            "a 4,001-character text",
            &bob.id,
            &"a".repeat(4001),
            400,
            "BAD_USER_INPUT",
            Some("text"),
        ),
    ];

    for case in &cases {
        let what = case.what;
        // Act: REST
        let response = app
            .post(
                "/chat/messages",
                json!({ "to": case.to, "text": case.text }),
                Some(&alice.token),
            )
            .await;
        // Assert
        let body =
            assert_rest_error(response, case.status, case.code, &format!("REST, {what}")).await;
        if let Some(field) = case.field {
            assert!(
                body["details"][field].is_string(),
                "REST, {what}: details.{field} in {body}"
            );
        }

        // Act: GraphQL
        let body = app
            .graphql(
                SEND_MESSAGE,
                json!({ "to": case.to, "text": case.text }),
                Some(&alice.token),
            )
            .await;
        // Assert
        assert_eq!(graphql_code(&body), case.code, "GraphQL, {what}: {body}");
        assert!(body["data"].is_null(), "GraphQL, {what}: no data: {body}");
        if let Some(field) = case.field {
            assert!(
                body["errors"][0]["extensions"]["details"][field].is_string(),
                "GraphQL, {what}: extensions.details.{field} in {body}"
            );
        }

        // Act: Socket.IO
        let ack = ack_of(
            &mut alice_socket,
            "send_message",
            json!({ "to": case.to, "text": case.text }),
        )
        .await;
        // Assert
        assert_eq!(ack["status"], "error", "Socket.IO, {what}: {ack}");
        assert_eq!(ack["code"], case.code, "Socket.IO, {what}: {ack}");
        assert!(
            ack["message"].is_string(),
            "Socket.IO, {what}: a message in {ack}"
        );
        if let Some(field) = case.field {
            assert!(
                ack["details"][field].is_string(),
                "Socket.IO, {what}: details.{field} in {ack}"
            );
        }
    }

    // Payloads of the wrong shape get a validation ack too.
    let shapes = [
        ("a bare string", json!(["hello"])),
        ("no argument at all", json!([])),
        ("an object without text", json!([{ "to": bob.id }])),
        ("a number as text", json!([{ "to": bob.id, "text": 42 }])),
        ("null", json!([null])),
    ];
    for (what, args) in shapes {
        let ack = alice_socket.emit_with_ack("send_message", args, WAIT).await;
        assert_eq!(ack[0]["status"], "error", "Socket.IO, {what}: {ack}");
        assert_eq!(ack[0]["code"], "BAD_USER_INPUT", "Socket.IO, {what}: {ack}");
    }

    // Histories with a malformed id are refused.
    let response = app
        .get("/chat/messages/not-an-id", Some(&alice.token))
        .await;
    assert_rest_error(
        response,
        400,
        "BAD_USER_INPUT",
        "REST history with a malformed id",
    )
    .await;
    let body = app
        .graphql(THREAD, json!({ "with": "not-an-id" }), Some(&alice.token))
        .await;
    assert_eq!(
        graphql_code(&body),
        "BAD_USER_INPUT",
        "GraphQL history with a malformed id: {body}"
    );

    // Nothing was stored.
    let stored = rest_history(&app, &alice.token, "/chat/messages").await;
    assert!(
        stored.is_empty(),
        "refused messages were stored: {stored:?}"
    );
    let stored = rest_history(&app, &bob.token, "/chat/messages").await;
    assert!(
        stored.is_empty(),
        "refused messages were stored for Bob: {stored:?}"
    );

    // 4,000 characters (counted as characters, not bytes) are accepted on every door.
    let longest = "é".repeat(4000);
    let by_rest = rest_send(&app, &alice, json!({ "to": bob.id, "text": longest })).await;
    let by_graphql = gql_send(&app, &alice, &bob.id, &longest).await;
    let by_socket = sio_send(&mut alice_socket, &bob.id, &longest).await;
    let accepted = vec![id_of(&by_rest), id_of(&by_graphql), id_of(&by_socket)];
    for (who, token) in [("Alice", &alice.token), ("Bob", &bob.token)] {
        let stored = rest_history(&app, token, "/chat/messages").await;
        assert_eq!(
            ids_of(&stored),
            accepted,
            "{who}'s messages: exactly the accepted ones"
        );
        for message in &stored {
            assert_eq!(message["text"], longest.as_str(), "stored text unchanged");
        }
    }
}

on_both_stores!(bad_messages_are_refused_on_every_door_and_nothing_is_stored);

// ---------------------------------------------------------------------------
// 5. Offline delivery
// ---------------------------------------------------------------------------

async fn messages_sent_while_offline_arrive_on_reconnect_in_order_exactly_once(backend: Backend) {
    // Arrange: Bob was online, then left.
    let app = TestApp::spawn_with(backend, |_| {}).await;
    let alice = app.register(&unique_email("chat-off-alice")).await;
    let bob = app.register(&unique_email("chat-off-bob")).await;
    let mut alice_socket = app.socket(&alice.token).await;
    close_socket(app.socket(&bob.token).await).await;
    let mut sent = Vec::new();
    for text in ["first while away", "second while away", "third while away"] {
        sent.push(sio_send(&mut alice_socket, &bob.id, text).await);
    }
    let sent_ids = ids_of(&sent);

    // Act
    let mut bob_back = app.socket(&bob.token).await;

    // Assert: exactly those three, in order, as stored.
    let arrived = next_received(&mut bob_back, 3, "a missed message").await;
    assert_eq!(arrived, sent, "the missed messages, in order");
    // Sentinel: a live message arrives after the replay, and nothing twice.
    let live = sio_send(&mut alice_socket, &bob.id, "welcome back").await;
    bob_back
        .expect("the live message", WAIT, is_receive(&id_of(&live)))
        .await;
    assert!(
        bob_back
            .receives_none_within(QUIET, is_event("receive_message"))
            .await,
        "Bob got more than the three missed and the live message: {:#?}",
        bob_back.seen()
    );
    close_socket(bob_back).await;

    // A later connection gets none of them again.
    let mut bob_again = app.socket(&bob.token).await;
    let later = sio_send(&mut alice_socket, &bob.id, "see you").await;
    bob_again
        .expect("the next live message", WAIT, is_receive(&id_of(&later)))
        .await;
    assert!(
        bob_again
            .receives_none_within(QUIET, is_receive_of_any(&sent_ids))
            .await,
        "a later connection got the missed messages again: {:#?}",
        bob_again.seen()
    );
}

on_both_stores!(messages_sent_while_offline_arrive_on_reconnect_in_order_exactly_once);

async fn a_graphql_subscription_started_after_messages_were_sent_begins_with_them_once(
    backend: Backend,
) {
    // Arrange: Bob was online over GraphQL, then left.
    let app = TestApp::spawn_with(backend, |_| {}).await;
    let alice = app.register(&unique_email("chat-gqloff-alice")).await;
    let bob = app.register(&unique_email("chat-gqloff-bob")).await;
    let mut alice_socket = app.socket(&alice.token).await;
    close_graphql(app.graphql_ws_client(&bob.token).await).await;
    let mut sent = Vec::new();
    for text in ["one while away", "two while away", "three while away"] {
        sent.push(sio_send(&mut alice_socket, &bob.id, text).await);
    }
    let sent_ids = ids_of(&sent);

    // Act
    let mut bob_client = app.graphql_ws_client(&bob.token).await;
    subscribe_all(&mut bob_client, &[("received", MESSAGE_RECEIVED)]).await;

    // Assert: the subscription starts with exactly those three, in order.
    let arrived = next_graphql_received(&mut bob_client, "received", 3, "a missed message").await;
    let expected: Vec<Value> = sent.iter().map(as_graphql).collect();
    assert_eq!(arrived, expected, "the missed messages, in order");
    let live = sio_send(&mut alice_socket, &bob.id, "welcome back").await;
    bob_client
        .expect(
            "the live message",
            WAIT,
            is_next_with_id("received", "messageReceived", &id_of(&live)),
        )
        .await;
    assert!(
        bob_client
            .receives_none_within(QUIET, is_next("received"))
            .await,
        "Bob got more than the three missed and the live message: {:#?}",
        bob_client.seen()
    );
    close_graphql(bob_client).await;

    // A later subscription (or socket) gets none of them again.
    let mut bob_again = app.graphql_ws_client(&bob.token).await;
    subscribe_all(&mut bob_again, &[("received", MESSAGE_RECEIVED)]).await;
    let mut bob_socket = app.socket(&bob.token).await;
    let later = sio_send(&mut alice_socket, &bob.id, "see you").await;
    let later_id = id_of(&later);
    bob_again
        .expect(
            "the next live message",
            WAIT,
            is_next_with_id("received", "messageReceived", &later_id),
        )
        .await;
    bob_socket
        .expect(
            "the next live message on a socket",
            WAIT,
            is_receive(&later_id),
        )
        .await;
    assert!(
        bob_again
            .receives_none_within(QUIET, is_received_of_any("received", &sent_ids))
            .await,
        "a later subscription got the missed messages again: {:#?}",
        bob_again.seen()
    );
    assert!(
        bob_socket
            .receives_none_within(QUIET, is_receive_of_any(&sent_ids))
            .await,
        "a later socket got the missed messages again: {:#?}",
        bob_socket.seen()
    );
}

on_both_stores!(a_graphql_subscription_started_after_messages_were_sent_begins_with_them_once);

// ---------------------------------------------------------------------------
// 6. Receipts
// ---------------------------------------------------------------------------

async fn marking_a_thread_seen_tells_the_sender_exactly_the_unseen_ids_once(backend: Backend) {
    // Arrange: Alice wrote twice to Bob, Bob once to Alice.
    let app = TestApp::spawn_with(backend, |_| {}).await;
    let alice = app.register(&unique_email("chat-seen-alice")).await;
    let bob = app.register(&unique_email("chat-seen-bob")).await;
    let mut alice_socket = app.socket(&alice.token).await;
    let mut alice_client = app.graphql_ws_client(&alice.token).await;
    subscribe_all(&mut alice_client, &[("seen", MESSAGES_SEEN)]).await;
    let mut bob_socket = app.socket(&bob.token).await;
    let one = sio_send(&mut alice_socket, &bob.id, "one").await;
    let two = sio_send(&mut alice_socket, &bob.id, "two").await;
    next_received(&mut bob_socket, 2, "Alice's messages").await;
    let three = sio_send(&mut bob_socket, &alice.id, "three").await;
    alice_socket
        .expect("Bob's message", WAIT, is_receive(&id_of(&three)))
        .await;
    let listed = conversations(&app, &bob.token).await;
    assert_eq!(listed.len(), 1, "Bob's conversations: {listed:?}");
    assert_eq!(listed[0]["peer"]["id"], alice.id.as_str(), "{listed:?}");
    assert_eq!(
        listed[0]["lastMessage"]["id"],
        id_of(&three).as_str(),
        "{listed:?}"
    );
    assert_eq!(listed[0]["unreadCount"], 2, "{listed:?}");
    let mut unseen = vec![id_of(&one), id_of(&two)];
    unseen.sort();

    // Act
    let ack = ack_of(&mut bob_socket, "mark_seen", json!({ "with": alice.id })).await;

    // Assert
    assert_eq!(ack["status"], "success", "{ack}");
    assert_eq!(
        sorted(&ack["data"]["ids"]),
        unseen,
        "mark_seen marks Alice's two: {ack}"
    );
    let seen_at = ack["data"]["seenAt"].clone();
    assert!(seen_at.is_string(), "{ack}");
    let line = alice_socket
        .expect("messages_seen for Alice", WAIT, is_event("messages_seen"))
        .await;
    let receipt = &line["args"][0];
    assert_eq!(receipt["by"], bob.id.as_str(), "{line}");
    assert_eq!(sorted(&receipt["ids"]), unseen, "{line}");
    assert_eq!(receipt["seenAt"], seen_at, "{line}");
    let line = alice_client
        .expect("messagesSeen for Alice", WAIT, is_next("seen"))
        .await;
    let receipt = &line["payload"]["data"]["messagesSeen"];
    assert_eq!(receipt["by"]["id"], bob.id.as_str(), "{line}");
    assert_eq!(sorted(&receipt["ids"]), unseen, "{line}");
    // The messages themselves, as a normalized cache needs them to update
    // by id: seen now, at the receipt's time, oldest first.
    let messages = receipt["messages"].as_array().expect("messages").clone();
    let ids: Vec<String> = messages
        .iter()
        .map(|message| message["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, [id_of(&one), id_of(&two)], "{line}");
    assert_eq!(messages[0]["text"], "one", "{line}");
    for message in &messages {
        assert_eq!(message["seen"], true, "{line}");
        assert_eq!(message["seenAt"], receipt["seenAt"], "{line}");
    }

    // A second mark_seen marks nothing, and Alice hears nothing new.
    let again = ack_of(&mut bob_socket, "mark_seen", json!({ "with": alice.id })).await;
    assert_eq!(again["status"], "success", "{again}");
    assert_eq!(
        again["data"]["ids"],
        json!([]),
        "nothing new to mark: {again}"
    );
    let (socket_quiet, graphql_quiet) = tokio::join!(
        alice_socket.receives_none_within(QUIET, is_event("messages_seen")),
        alice_client.receives_none_within(QUIET, is_next("seen")),
    );
    assert!(
        socket_quiet && graphql_quiet,
        "Alice heard a second receipt: {:#?} / {:#?}",
        alice_socket.seen(),
        alice_client.seen()
    );
    assert!(
        bob_socket
            .receives_none_within(Duration::ZERO, is_event("messages_seen"))
            .await,
        "Bob heard a receipt for his own marking: {:#?}",
        bob_socket.seen()
    );

    // The unread counts and the history show it.
    assert_eq!(
        unread_with(&app, &bob.token, &alice.id).await,
        0,
        "Bob's unread count"
    );
    assert_eq!(
        unread_with(&app, &alice.token, &bob.id).await,
        1,
        "Alice's unread count"
    );
    let thread = rest_thread(&app, &alice.token, &bob.id).await;
    let seen: Vec<(Value, Value)> = thread
        .iter()
        .map(|m| (m["seen"].clone(), m["seenAt"].clone()))
        .collect();
    assert_eq!(
        seen,
        [
            (json!(true), seen_at.clone()),
            (json!(true), seen_at.clone()),
            (json!(false), Value::Null)
        ],
        "seen flags in the thread: {thread:?}"
    );

    // The GraphQL door: Alice marks Bob's message seen; Bob's socket hears it.
    let data = app
        .graphql_ok(
            "mutation($with: ID!) { markMessagesSeen(with: $with) { ids seenAt by { id } } }",
            json!({ "with": bob.id }),
            Some(&alice.token),
        )
        .await;
    let marked = &data["markMessagesSeen"];
    assert_eq!(marked["ids"], json!([id_of(&three)]), "{data}");
    assert_eq!(marked["by"]["id"], alice.id.as_str(), "{data}");
    let line = bob_socket
        .expect("messages_seen for Bob", WAIT, is_event("messages_seen"))
        .await;
    assert!(line["args"][0]["position"].is_string(), "{line}");
    assert_eq!(
        crate::support::without_position(&line["args"][0]),
        json!({ "by": alice.id, "ids": [id_of(&three)], "seenAt": marked["seenAt"] }),
        "{line}"
    );
    assert_eq!(
        unread_with(&app, &alice.token, &bob.id).await,
        0,
        "Alice's unread count"
    );
}

on_both_stores!(marking_a_thread_seen_tells_the_sender_exactly_the_unseen_ids_once);

// ---------------------------------------------------------------------------
// 7. Typing
// ---------------------------------------------------------------------------

/// The next `user_typing` of a socket, asserted to be `{from, typing}`.
async fn expect_typing(socket: &mut NodeClient, from: &str, typing: bool, what: &str) {
    let line = socket.expect(what, WAIT, is_event("user_typing")).await;
    assert_eq!(
        line["args"],
        json!([{ "from": from, "typing": typing }]),
        "{what}"
    );
}

/// The next `userTyping` of subscription "typing", asserted to be `{typing, from}`.
async fn expect_graphql_typing(client: &mut NodeClient, from: &str, typing: bool, what: &str) {
    let line = client.expect(what, WAIT, is_next("typing")).await;
    assert_eq!(
        line["payload"]["data"]["userTyping"],
        json!({ "typing": typing, "from": { "id": from } }),
        "{what}: {line}"
    );
}

#[tokio::test]
async fn typing_reaches_only_the_recipient_stops_on_request_and_expires_by_itself() {
    // Arrange: a short typing lifetime.
    let ttl = Duration::from_millis(1000);
    let app = TestApp::spawn_with(Backend::Sqlite, |config| config.typing_ttl = ttl).await;
    let alice = app.register(&unique_email("chat-typing-alice")).await;
    let bob = app.register(&unique_email("chat-typing-bob")).await;
    let carol = app.register(&unique_email("chat-typing-carol")).await;
    let mut alice_socket = app.socket(&alice.token).await;
    let mut bob_socket = app.socket(&bob.token).await;
    let mut carol_socket = app.socket(&carol.token).await;
    let mut bob_client = app.graphql_ws_client(&bob.token).await;
    let mut carol_client = app.graphql_ws_client(&carol.token).await;
    subscribe_all(&mut bob_client, &[("typing", USER_TYPING)]).await;
    subscribe_all(&mut carol_client, &[("typing", USER_TYPING)]).await;

    // Act: `typing` with the recipient id as a string.
    let ack = ack_of(&mut alice_socket, "typing", json!(bob.id)).await;
    // Assert
    assert_eq!(ack["status"], "success", "typing: {ack}");
    expect_typing(&mut bob_socket, &alice.id, true, "typing: true").await;
    expect_graphql_typing(&mut bob_client, &alice.id, true, "userTyping true").await;

    // Act: `stop_typing {to}`.
    let ack = ack_of(&mut alice_socket, "stop_typing", json!({ "to": bob.id })).await;
    // Assert
    assert_eq!(ack["status"], "success", "stop_typing: {ack}");
    expect_typing(
        &mut bob_socket,
        &alice.id,
        false,
        "typing: false after stop_typing",
    )
    .await;
    expect_graphql_typing(
        &mut bob_client,
        &alice.id,
        false,
        "userTyping false after stop",
    )
    .await;

    // Act: `start_typing {to}`, then nothing.
    let ack = ack_of(&mut alice_socket, "start_typing", json!({ "to": bob.id })).await;
    let started = Instant::now();
    // Assert: it ends by itself, not before its lifetime.
    assert_eq!(ack["status"], "success", "start_typing: {ack}");
    expect_typing(&mut bob_socket, &alice.id, true, "typing: true again").await;
    expect_graphql_typing(&mut bob_client, &alice.id, true, "userTyping true again").await;
    expect_typing(&mut bob_socket, &alice.id, false, "typing: false by expiry").await;
    let lasted = started.elapsed();
    assert!(
        lasted >= ttl / 2,
        "the typing indicator expired after {lasted:?}, well before its lifetime {ttl:?}"
    );
    expect_graphql_typing(
        &mut bob_client,
        &alice.id,
        false,
        "userTyping false by expiry",
    )
    .await;

    // The GraphQL door: setTyping reaches Bob's socket the same way.
    for typing in [true, false] {
        let data = app
            .graphql_ok(
                "mutation($to: ID!, $typing: Boolean!) { setTyping(to: $to, typing: $typing) }",
                json!({ "to": bob.id, "typing": typing }),
                Some(&alice.token),
            )
            .await;
        assert_eq!(data["setTyping"], typing, "{data}");
        expect_typing(
            &mut bob_socket,
            &alice.id,
            typing,
            &format!("setTyping {typing}"),
        )
        .await;
        expect_graphql_typing(
            &mut bob_client,
            &alice.id,
            typing,
            &format!("setTyping {typing}"),
        )
        .await;
    }

    // Bad targets get an error ack and tell nobody.
    for (what, payload) in [
        ("a malformed id", json!("not-an-id")),
        ("oneself", json!({ "to": alice.id })),
        ("an object without to", json!({ "user": bob.id })),
        ("a number", json!(42)),
    ] {
        let ack = ack_of(&mut alice_socket, "typing", payload).await;
        assert_eq!(ack["status"], "error", "typing to {what}: {ack}");
        assert_eq!(ack["code"], "BAD_USER_INPUT", "typing to {what}: {ack}");
    }

    // Nothing more reached Bob (the stopped indicator did not expire again),
    // and nothing ever reached Carol or the typist.
    let (bob_quiet, bob_graphql_quiet, carol_quiet, carol_graphql_quiet, alice_quiet) = tokio::join!(
        bob_socket.receives_none_within(ttl + QUIET, is_event("user_typing")),
        bob_client.receives_none_within(QUIET, is_next("typing")),
        carol_socket.receives_none_within(QUIET, is_event("user_typing")),
        carol_client.receives_none_within(QUIET, is_next("typing")),
        alice_socket.receives_none_within(QUIET, is_event("user_typing")),
    );
    assert!(
        bob_quiet,
        "Bob heard an extra user_typing: {:#?}",
        bob_socket.seen()
    );
    assert!(
        bob_graphql_quiet,
        "Bob heard an extra userTyping: {:#?}",
        bob_client.seen()
    );
    assert!(
        carol_quiet,
        "Carol's socket heard typing: {:#?}",
        carol_socket.seen()
    );
    assert!(
        carol_graphql_quiet,
        "Carol's subscription heard typing: {:#?}",
        carol_client.seen()
    );
    assert!(
        alice_quiet,
        "the typist heard her own typing: {:#?}",
        alice_socket.seen()
    );
}

// ---------------------------------------------------------------------------
// 8. Robustness
// ---------------------------------------------------------------------------

async fn a_one_megabyte_text_gets_an_error_ack_and_the_socket_keeps_working(backend: Backend) {
    // Arrange
    let app = TestApp::spawn_with(backend, |_| {}).await;
    let alice = app.register(&unique_email("chat-big-alice")).await;
    let bob = app.register(&unique_email("chat-big-bob")).await;
    let mut alice_socket = app.socket(&alice.token).await;
    let mut bob_socket = app.socket(&bob.token).await;

    // Act
    let huge = "x".repeat(1_000_000);
    let ack = ack_of(
        &mut alice_socket,
        "send_message",
        json!({ "to": bob.id, "text": huge }),
    )
    .await;

    // Assert
    assert_eq!(ack["status"], "error", "a 1 MB text: {ack}");
    assert_eq!(ack["code"], "BAD_USER_INPUT", "a 1 MB text: {ack}");
    assert!(ack["details"]["text"].is_string(), "details.text in {ack}");
    let after = sio_send(&mut alice_socket, &bob.id, "still here").await;
    bob_socket
        .expect(
            "the message after the huge one",
            WAIT,
            is_receive(&id_of(&after)),
        )
        .await;
    assert!(
        bob_socket
            .receives_none_within(QUIET, |line| {
                is_event("receive_message")(line) && line["args"][0]["text"] != "still here"
            })
            .await,
        "Bob received something else: {:#?}",
        bob_socket.seen()
    );
    assert!(
        alice_socket
            .receives_none_within(Duration::ZERO, |line| line["kind"] == "disconnect")
            .await,
        "Alice's socket was disconnected: {:#?}",
        alice_socket.seen()
    );
    let thread = rest_thread(&app, &alice.token, &bob.id).await;
    assert_eq!(
        ids_of(&thread),
        [id_of(&after)],
        "only the valid message is stored"
    );
    let health = app.get("/healthz", None).await;
    assert_eq!(health.status(), 200, "GET /healthz");
}

on_both_stores!(a_one_megabyte_text_gets_an_error_ack_and_the_socket_keeps_working);

async fn a_flood_of_messages_is_rate_limited_and_every_ack_arrives(backend: Backend) {
    // Arrange: the default limit, 10 a second with bursts of 20.
    let app = TestApp::spawn_with(backend, |_| {}).await;
    let rate = f64::from(app.config.messages_per_second);
    let burst = 2 * app.config.messages_per_second as usize;
    let alice = app.register(&unique_email("chat-flood-alice")).await;
    let bob = app.register(&unique_email("chat-flood-bob")).await;
    let mut alice_socket = app.socket(&alice.token).await;
    let mut bob_socket = app.socket(&bob.token).await;
    const FLOOD: usize = 200;

    // Act: 200 emits, each with an ack, none waiting for the one before.
    let started = Instant::now();
    for n in 0..FLOOD {
        alice_socket
            .send(json!({
                "cmd": "emit",
                "event": "send_message",
                "args": [{ "to": bob.id, "text": format!("flood {n}") }],
                "ack": true,
                "tag": format!("flood-{n}"),
                "timeoutMs": 10_000,
            }))
            .await;
    }
    let mut accepted = BTreeSet::new();
    let mut limited = 0;
    for n in 0..FLOOD {
        let tag = format!("flood-{n}");
        let line = alice_socket
            .expect(
                &format!("the ack of emit {n}"),
                Duration::from_secs(15),
                |line| {
                    line["tag"] == tag.as_str()
                        && (line["kind"] == "ack" || line["kind"] == "ack_timeout")
                },
            )
            .await;
        assert_eq!(
            line["kind"], "ack",
            "emit {n} was never acknowledged: {line}"
        );
        let ack = &line["args"][0];
        match ack["status"].as_str() {
            Some("success") => {
                assert_eq!(ack["data"]["text"], format!("flood {n}"), "{ack}");
                accepted.insert(id_of(&ack["data"]));
            }
            _ => {
                assert_eq!(ack["status"], "error", "emit {n}: {ack}");
                assert_eq!(ack["code"], "RATE_LIMITED", "emit {n}: {ack}");
                limited += 1;
            }
        }
    }
    let took = started.elapsed().as_secs_f64();

    // Assert: the burst passes, the rest is limited.
    assert!(
        limited > 0,
        "no RATE_LIMITED ack among {FLOOD} emits in {took:.2}s"
    );
    assert!(
        accepted.len() >= burst,
        "only {} of {FLOOD} accepted; a burst of {burst} is allowed",
        accepted.len()
    );
    let allowed = burst + (rate * took).ceil() as usize + 1;
    assert!(
        accepted.len() <= allowed,
        "{} accepted in {took:.2}s; at most {allowed} allowed",
        accepted.len()
    );
    // Bob got each accepted message once, and nothing else.
    let arrived = next_received(&mut bob_socket, accepted.len(), "an accepted flood message").await;
    let arrived_ids: BTreeSet<String> = arrived.iter().map(id_of).collect();
    assert_eq!(
        arrived_ids.len(),
        arrived.len(),
        "Bob got a message twice: {arrived:?}"
    );
    assert_eq!(
        arrived_ids, accepted,
        "Bob got exactly the accepted messages"
    );
    assert!(
        bob_socket
            .receives_none_within(QUIET, is_event("receive_message"))
            .await,
        "Bob got a refused message: {:#?}",
        bob_socket.seen()
    );
    // Only the accepted ones are stored.
    let stored: BTreeSet<String> = ids_of(&rest_thread(&app, &bob.token, &alice.id).await)
        .into_iter()
        .collect();
    assert_eq!(stored, accepted, "stored messages");
    // The socket is still up and answered; so is the server.
    assert!(
        alice_socket
            .receives_none_within(Duration::ZERO, |line| line["kind"] == "disconnect")
            .await,
        "the flooding socket was disconnected: {:#?}",
        alice_socket.seen()
    );
    let ack = ack_of(&mut alice_socket, "mark_seen", json!({ "with": bob.id })).await;
    assert_eq!(
        ack["status"], "success",
        "the flooding socket still answers: {ack}"
    );
    let health = app.get("/healthz", None).await;
    assert_eq!(health.status(), 200, "GET /healthz after the flood");
}

on_both_stores!(a_flood_of_messages_is_rate_limited_and_every_ack_arrives);
