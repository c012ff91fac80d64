//! Several server processes as one (API.md, "Several processes"; issue 14):
//! real processes of the built binary sharing one MongoDB database and one
//! Redis, driven by the real clients (`socket.io-client`, `graphql-ws`) and
//! HTTP. Events published on one process reach matching connections on
//! every process, each once; presence, session ends and sign-in throttles
//! are the cluster's; a process killed with SIGKILL loses nothing that was
//! acknowledged, and a Redis outage is survived without a restart.
//!
//! Every cross-process check has a positive counterpart that the missing
//! backplane would fail (a "stays online" check first asserts the user was
//! seen online on the other process), and every "never arrives" check comes
//! after a later event (a sentinel) that the same connection did receive.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::support::cluster::{Cluster, JWT_SECRET, PRESENCE_GRACE, Process, Redis, free_port};
use crate::support::node::NodeClient;
use crate::support::steps::{FORBIDDEN, SERVER_DISCONNECT, id_of, is_event, is_kind, is_next};
use crate::support::{Account, Endpoint, assert_rest_error, graphql_code, unique_email};

/// How long to wait for something that must happen (a loaded 2-core machine).
const WAIT: Duration = Duration::from_secs(15);
/// How long to watch for something that must not happen, after a sentinel.
const QUIET: Duration = Duration::from_millis(700);
/// Live events, logouts and role changes cross the cluster within this.
const WITHIN_A_SECOND: Duration = Duration::from_secs(1);
/// How long after its process died a user is shown offline, at most, on
/// top of the grace period (API.md: a bounded expiry of at most 30 s).
const DEAD_PROCESS_EXPIRY: Duration = Duration::from_secs(30);
/// Limits out of the way of tests about something else (every test signs
/// in from 127.0.0.1; chat tests send faster than 10 messages a second).
const RELAXED: &[(&str, &str)] = &[
    ("LOGIN_LIMIT_PER_ADDRESS", "1000"),
    ("MESSAGES_PER_SECOND", "1000"),
];

const USERS: &str =
    "query($online: Boolean) { users(online: $online, first: 100) { nodes { id online } } }";
const MESSAGE_RECEIVED: &str = "subscription { messageReceived { id text from { id } to { id } } }";
const MESSAGES_SEEN: &str = "subscription { messagesSeen { ids by { id } } }";
const USER_TYPING: &str = "subscription { userTyping { typing from { id } } }";
const NEW_PRODUCT: &str = "subscription { newProduct { id name } }";
const SEND_MESSAGE: &str =
    "mutation($to: ID!, $text: String!) { sendMessage(to: $to, text: $text) { id text } }";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A Socket.IO `event` whose first argument has `field == value`.
fn event_with(event: &'static str, field: &'static str, value: &str) -> impl Fn(&Value) -> bool {
    let value = value.to_owned();
    move |line| {
        line["kind"] == "event"
            && line["event"] == event
            && line["args"][0][field] == value.as_str()
    }
}

/// A graphql-ws `next` of `sub` whose `data.<field>.id` is `id`.
fn next_with_id(sub: &'static str, field: &'static str, id: &str) -> impl Fn(&Value) -> bool {
    let id = id.to_owned();
    move |line| is_next(sub)(line) && line["payload"]["data"][field]["id"] == id.as_str()
}

/// The lines a client printed so far that satisfy `predicate`.
fn seen_matching(client: &NodeClient, predicate: impl Fn(&Value) -> bool) -> Vec<Value> {
    client
        .seen()
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|value| predicate(value))
        .collect()
}

/// A socket on `process`, once connected and told its `resume_position`
/// (sent right after the handshake: the server has set the connection up).
async fn connect(process: &Process, token: &str) -> NodeClient {
    connect_with(process, json!({ "token": token })).await.0
}

/// A socket on `process` with the handshake `auth`; returns it with the
/// events it received before `resume_position` (a replay, with an offset).
async fn connect_with(process: &Process, auth: Value) -> (NodeClient, Vec<Value>) {
    let mut socket = NodeClient::socketio(&process.address, auth).await;
    let outcome = socket
        .expect(
            &format!("the handshake outcome on process {}", process.number),
            WAIT,
            |line| line["kind"] == "connect" || line["kind"] == "connect_error",
        )
        .await;
    assert_eq!(
        outcome["kind"], "connect",
        "the handshake on process {}: {outcome}",
        process.number
    );
    let mut before = Vec::new();
    loop {
        let line = socket
            .expect(
                &format!("resume_position on process {}", process.number),
                WAIT,
                is_kind("event"),
            )
            .await;
        if line["event"] == "resume_position" {
            assert!(line["args"][0]["position"].is_string(), "{line}");
            return (socket, before);
        }
        before.push(line);
    }
}

/// A graphql-ws client on `process` with `subscriptions` active: each is
/// sent, then a query over the same connection is answered (a connection's
/// messages are handled in order).
async fn graphql_ws(process: &Process, token: &str, subscriptions: &[(&str, &str)]) -> NodeClient {
    let mut client = process.graphql_ws_client(token).await;
    for (id, query) in subscriptions {
        client
            .send(json!({ "cmd": "subscribe", "id": id, "query": query }))
            .await;
    }
    let answer = ws_operation(&mut client, "ready", "{ me { id } }", json!({})).await;
    assert!(answer["errors"].is_null(), "{answer}");
    client
}

/// One query or mutation over a graphql-ws connection; returns its payload.
async fn ws_operation(client: &mut NodeClient, id: &str, query: &str, variables: Value) -> Value {
    client
        .send(json!({ "cmd": "query", "id": id, "query": query, "variables": variables }))
        .await;
    let wanted = id.to_owned();
    let answer = client
        .expect(&format!("the answer to {id}"), WAIT, move |line| {
            line["kind"] == "next" && line["id"] == wanted.as_str()
        })
        .await;
    answer["payload"].clone()
}

/// Emits `event` with an ack; returns the ack's first argument.
async fn ack_of(socket: &mut NodeClient, event: &str, payload: Value) -> Value {
    socket.emit_with_ack(event, json!([payload]), WAIT).await[0].clone()
}

/// `send_message` that must be acknowledged with success; the message.
async fn sio_send(socket: &mut NodeClient, to: &str, text: &str) -> Value {
    let ack = ack_of(socket, "send_message", json!({ "to": to, "text": text })).await;
    assert_eq!(ack["status"], "success", "send_message {text:?}: {ack}");
    ack["data"].clone()
}

/// Closes a socket like a closing tab, and waits until it is closed.
async fn close_tab(socket: &mut NodeClient) {
    socket.send(json!({ "cmd": "disconnect" })).await;
    socket.expect("closed", WAIT, is_kind("closed")).await;
}

/// `{id: online}` of every user, as the admin sees them on `process`.
async fn presence_list(process: &Process, admin: &Account) -> BTreeMap<String, bool> {
    let data = process
        .graphql_ok(USERS, json!({ "online": null }), Some(&admin.token))
        .await;
    data["users"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("users.nodes on process {}: {data}", process.number))
        .iter()
        .map(|node| (id_of(node), node["online"] == true))
        .collect()
}

/// The ids `users(online: true)` lists on `process`.
async fn online_ids(process: &Process, admin: &Account) -> BTreeSet<String> {
    let data = process
        .graphql_ok(USERS, json!({ "online": true }), Some(&admin.token))
        .await;
    data["users"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("users.nodes on process {}: {data}", process.number))
        .iter()
        .map(id_of)
        .collect()
}

/// Polls `online_ids` on `process` until `done` holds, or panics at `deadline`.
async fn wait_for_online(
    process: &Process,
    admin: &Account,
    deadline: Instant,
    what: &str,
    done: impl Fn(&BTreeSet<String>) -> bool,
) -> BTreeSet<String> {
    loop {
        let online = online_ids(process, admin).await;
        if done(&online) {
            return online;
        }
        assert!(
            Instant::now() < deadline,
            "process {}: {what} did not happen in time; users(online: true) is {online:?}",
            process.number
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `GET /readyz`: status and body.
async fn readyz(process: &Process) -> (u16, Value) {
    let response = process
        .http
        .get(process.url("/readyz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    match response {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.json().await.unwrap_or(Value::Null))
        }
        Err(error) => (0, json!({ "transport error": error.to_string() })),
    }
}

/// Polls `/readyz` on `process` until it answers `status`, or panics at
/// `deadline`; returns the body.
async fn wait_for_readyz(process: &Process, status: u16, deadline: Instant) -> Value {
    loop {
        let (actual, body) = readyz(process).await;
        if actual == status {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "process {}: /readyz did not become {status} in time (last: {actual} {body}); \
             its output:\n{}",
            process.number,
            process.output_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every message of the thread with `peer` as `token` sees it over REST,
/// walking the `before` cursors back to the start.
async fn rest_thread(process: &Process, token: &str, peer: &str) -> Vec<Value> {
    let path = format!("/chat/messages/{peer}");
    let mut pages: Vec<Vec<Value>> = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let mut query = vec![("limit", "100".to_owned())];
        if let Some(cursor) = &before {
            query.push(("before", cursor.clone()));
        }
        let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let response = process.get_with(&path, &query, Some(token)).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 200, "GET {path}: {body}");
        pages.push(
            body["data"]
                .as_array()
                .unwrap_or_else(|| panic!("GET {path}: data is a list: {body}"))
                .clone(),
        );
        assert!(pages.len() < 50, "GET {path}: the cursor walk never ends");
        match body["meta"]["nextCursor"].as_str() {
            Some(cursor) => before = Some(cursor.to_owned()),
            None => break,
        }
    }
    pages.into_iter().rev().flatten().collect()
}

/// How many times each id occurs.
fn counts<'a>(ids: impl IntoIterator<Item = &'a String>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for id in ids {
        *counts.entry(id.clone()).or_insert(0) += 1;
    }
    counts
}

/// Asserts every id of `acked` occurs exactly once in `delivered`, and no
/// id of `delivered` occurs twice.
fn assert_exactly_once(acked: &[String], delivered: &[String], what: &str) {
    let counted = counts(delivered);
    let missing: Vec<&String> = acked
        .iter()
        .filter(|id| !counted.contains_key(*id))
        .collect();
    let doubled: Vec<(&String, &usize)> = counted.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        missing.is_empty() && doubled.is_empty(),
        "{what}: {} acknowledged, {} delivered; missing {missing:?}; delivered more than once \
         {doubled:?}",
        acked.len(),
        delivered.len()
    );
}

/// The outcome of one tracked `send_message`.
enum Sent {
    /// Acknowledged with success: the stored message.
    Acked(Value),
    /// Acknowledged with an error.
    Refused(Value),
    /// No ack: the socket dropped (or the ack timed out) first.
    Lost(Value),
}

/// `send_message` with an ack that may never come: waits for the ack, its
/// time-out or the socket's disconnect, whichever is first.
async fn send_tracked(socket: &mut NodeClient, tag: &str, to: &str, text: &str) -> Sent {
    socket
        .send(json!({
            "cmd": "emit",
            "event": "send_message",
            "args": [{ "to": to, "text": text }],
            "ack": true,
            "tag": tag,
            "timeoutMs": 5000,
        }))
        .await;
    let wanted = tag.to_owned();
    let line = socket
        .expect(
            &format!("the ack of {tag} or a disconnect"),
            WAIT,
            move |line| {
                (line["tag"] == wanted.as_str()
                    && (line["kind"] == "ack" || line["kind"] == "ack_timeout"))
                    || line["kind"] == "disconnect"
            },
        )
        .await;
    match line["kind"].as_str() {
        Some("ack") if line["args"][0]["status"] == "success" => {
            Sent::Acked(line["args"][0]["data"].clone())
        }
        Some("ack") => Sent::Refused(line["args"][0].clone()),
        _ => Sent::Lost(line),
    }
}

/// The ids of `receive_message` events from `from` among `lines`.
fn received_from(lines: &[Value], from: &str) -> Vec<String> {
    lines
        .iter()
        .filter(|line| is_event("receive_message")(line) && line["args"][0]["from"] == from)
        .map(|line| id_of(&line["args"][0]))
        .collect()
}

/// Reads whatever the client prints for `window` (into its buffer and
/// `seen()`, for counting).
async fn drain(client: &mut NodeClient, window: Duration) {
    let nothing_matches = client.receives_none_within(window, |_| false).await;
    debug_assert!(nothing_matches);
}

/// Every line the client printed so far, parsed.
fn all_lines(client: &NodeClient) -> Vec<Value> {
    seen_matching(client, |_| true)
}

/// The last position a socket was given: of its last event that carries
/// one (`resume_position` included).
fn last_position(client: &NodeClient) -> String {
    all_lines(client)
        .iter()
        .rev()
        .find_map(|line| {
            (line["kind"] == "event")
                .then(|| line["args"][0]["position"].as_str())
                .flatten()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| panic!("no position seen: {:#?}", client.seen()))
}

/// Sends `to` one message after another until the socket drops; returns
/// the ids acknowledged with success, and the error acks.
async fn chat_until_dropped(
    name: &str,
    client: &mut NodeClient,
    to: &str,
    acked: &Cell<usize>,
) -> (Vec<String>, Vec<Value>) {
    let mut sent = Vec::new();
    let mut refused = Vec::new();
    for n in 0.. {
        let tag = format!("{name}-{n}");
        match send_tracked(client, &tag, to, &format!("{name} #{n}")).await {
            Sent::Acked(message) => {
                sent.push(id_of(&message));
                acked.set(acked.get() + 1);
            }
            Sent::Refused(ack) => refused.push(ack),
            Sent::Lost(_) => break,
        }
        assert!(n < 5000, "{name}'s socket never dropped");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (sent, refused)
}

// ---------------------------------------------------------------------------
// The harness on its own: one process with REDIS_URL behaves as one process
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_single_process_with_redis_serves_chat_orders_and_its_throttle() {
    // Arrange
    let redis = Redis::for_tests().await;
    let cluster = Cluster::start_with(1, &redis, &[("LOGIN_LIMIT_PER_ADDRESS", "6")]).await;
    let only = cluster.process(1);
    let health = only.get("/healthz", None).await;
    assert_eq!(health.status(), 200);
    let admin = only.login_as_admin().await;
    let alice = only.register(&unique_email("one-alice")).await;
    let bob = only.register(&unique_email("one-bob")).await;
    let mut admin_socket = connect(only, &admin.token).await;
    let mut alice_socket = connect(only, &alice.token).await;
    let mut bob_socket = connect(only, &bob.token).await;

    // Act
    let message = sio_send(&mut alice_socket, &bob.id, "one process").await;
    let product = only.create_product(&admin.token, "Solo", 2.0, 5).await;
    let order = only
        .place_order(&alice.token, &id_of(&product), 1)
        .await
        .json::<Value>()
        .await
        .unwrap();

    // Assert
    bob_socket
        .expect(
            "the message",
            WAIT,
            event_with("receive_message", "id", &id_of(&message)),
        )
        .await;
    admin_socket
        .expect(
            "new_order",
            WAIT,
            event_with("new_order", "orderId", &id_of(&order["data"])),
        )
        .await;
    // Three sign-ins so far (a login, two registrations): the address
    // limit of 6 leaves three more.
    let mut statuses = Vec::new();
    for n in 0..4 {
        let response = only
            .post(
                "/auth/login",
                json!({ "email": format!("solo-spray{n}@example.test"), "password": "guess-123" }),
                None,
            )
            .await;
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 429], "one process, one limit");
}

// ---------------------------------------------------------------------------
// a. Chat between users on different processes
// ---------------------------------------------------------------------------

#[tokio::test]
async fn chat_between_users_on_different_processes_on_socketio_and_graphql_ws() {
    // Arrange: Alice on process 1 (and a second tab on 3), Bob on 2.
    let redis = Redis::for_tests().await;
    let cluster = Cluster::start_with(3, &redis, RELAXED).await;
    let (p1, p2, p3) = (cluster.process(1), cluster.process(2), cluster.process(3));
    let alice = p1.register(&unique_email("cl-chat-alice")).await;
    let bob = p2.register(&unique_email("cl-chat-bob")).await;
    let mut alice_socket = connect(p1, &alice.token).await;
    let mut alice_tab = connect(p3, &alice.token).await;
    let mut bob_socket = connect(p2, &bob.token).await;

    // Socket.IO: Alice → Bob, acked, delivered to Bob and to Alice's other tab.
    let first = sio_send(&mut alice_socket, &bob.id, "hello from process 1").await;
    let first_id = id_of(&first);
    let line = bob_socket
        .expect(
            "Alice's message on Bob's socket (process 2)",
            WAIT,
            event_with("receive_message", "id", &first_id),
        )
        .await;
    assert_eq!(line["args"][0]["from"], alice.id.as_str(), "{line}");
    assert_eq!(line["args"][0]["text"], "hello from process 1", "{line}");
    alice_tab
        .expect(
            "Alice's message on her other tab (process 3)",
            WAIT,
            event_with("receive_message", "id", &first_id),
        )
        .await;

    // Bob → Alice, the other way.
    let reply = sio_send(&mut bob_socket, &alice.id, "hello from process 2").await;
    alice_socket
        .expect(
            "Bob's reply on Alice's socket (process 1)",
            WAIT,
            event_with("receive_message", "id", &id_of(&reply)),
        )
        .await;

    // Typing crosses: start, then stop.
    let ack = ack_of(&mut alice_socket, "typing", json!(bob.id)).await;
    assert_eq!(ack["status"], "success", "typing: {ack}");
    let line = bob_socket
        .expect(
            "user_typing true on process 2",
            WAIT,
            is_event("user_typing"),
        )
        .await;
    assert_eq!(
        line["args"],
        json!([{ "from": alice.id, "typing": true }]),
        "{line}"
    );
    let ack = ack_of(&mut alice_socket, "stop_typing", json!({ "to": bob.id })).await;
    assert_eq!(ack["status"], "success", "stop_typing: {ack}");
    let line = bob_socket
        .expect(
            "user_typing false on process 2",
            WAIT,
            is_event("user_typing"),
        )
        .await;
    assert_eq!(
        line["args"],
        json!([{ "from": alice.id, "typing": false }]),
        "{line}"
    );

    // Seen receipts cross: Bob marks the thread seen; Alice's socket hears it.
    let ack = ack_of(&mut bob_socket, "mark_seen", json!({ "with": alice.id })).await;
    assert_eq!(ack["status"], "success", "mark_seen: {ack}");
    assert_eq!(ack["data"]["ids"], json!([first_id]), "{ack}");
    let line = alice_socket
        .expect(
            "messages_seen on process 1",
            WAIT,
            is_event("messages_seen"),
        )
        .await;
    assert_eq!(line["args"][0]["by"], bob.id.as_str(), "{line}");
    assert_eq!(line["args"][0]["ids"], json!([first_id]), "{line}");

    // Once each: a sentinel after everything, then nothing doubled.
    let sentinel = sio_send(&mut alice_socket, &bob.id, "sentinel").await;
    for (who, socket) in [("Bob", &mut bob_socket), ("Alice's tab", &mut alice_tab)] {
        socket
            .expect(
                &format!("the sentinel for {who}"),
                WAIT,
                event_with("receive_message", "id", &id_of(&sentinel)),
            )
            .await;
        drain(socket, QUIET).await;
        let copies = seen_matching(socket, event_with("receive_message", "id", &first_id)).len();
        assert_eq!(
            copies,
            1,
            "{who} got the first message {copies} times: {:#?}",
            socket.seen()
        );
    }
    let receipts = seen_matching(&alice_socket, is_event("messages_seen")).len();
    assert_eq!(receipts, 1, "Alice's receipts: {:#?}", alice_socket.seen());
    let typings = seen_matching(&bob_socket, is_event("user_typing")).len();
    assert_eq!(typings, 2, "Bob's typing events: {:#?}", bob_socket.seen());

    // graphql-ws: Bob subscribed on process 3, Alice on process 1.
    let mut bob_client = graphql_ws(
        p3,
        &bob.token,
        &[("mr", MESSAGE_RECEIVED), ("ty", USER_TYPING)],
    )
    .await;
    let mut alice_client = graphql_ws(
        p1,
        &alice.token,
        &[("mr", MESSAGE_RECEIVED), ("seen", MESSAGES_SEEN)],
    )
    .await;

    // Alice sends over HTTP through process 2: Bob's subscription on 3 gets it.
    let sent = p2
        .graphql_ok(
            SEND_MESSAGE,
            json!({ "to": bob.id, "text": "over GraphQL" }),
            Some(&alice.token),
        )
        .await;
    let gql_id = id_of(&sent["sendMessage"]);
    let line = bob_client
        .expect(
            "messageReceived on process 3",
            WAIT,
            next_with_id("mr", "messageReceived", &gql_id),
        )
        .await;
    let received = &line["payload"]["data"]["messageReceived"];
    assert_eq!(received["from"]["id"], alice.id.as_str(), "{line}");
    assert_eq!(received["text"], "over GraphQL", "{line}");
    bob_socket
        .expect(
            "the GraphQL message on Bob's socket (process 2)",
            WAIT,
            event_with("receive_message", "id", &gql_id),
        )
        .await;

    // Bob replies over his WebSocket on 3: Alice's subscription on 1 gets it.
    let answer = ws_operation(
        &mut bob_client,
        "reply",
        SEND_MESSAGE,
        json!({ "to": alice.id, "text": "back over GraphQL" }),
    )
    .await;
    assert!(answer["errors"].is_null(), "{answer}");
    let reply_id = id_of(&answer["data"]["sendMessage"]);
    alice_client
        .expect(
            "messageReceived on process 1",
            WAIT,
            next_with_id("mr", "messageReceived", &reply_id),
        )
        .await;

    // Typing and receipts cross on GraphQL too.
    let data = p2
        .graphql_ok(
            "mutation($to: ID!) { setTyping(to: $to, typing: true) }",
            json!({ "to": bob.id }),
            Some(&alice.token),
        )
        .await;
    assert_eq!(data["setTyping"], true, "{data}");
    let line = bob_client
        .expect("userTyping on process 3", WAIT, is_next("ty"))
        .await;
    assert_eq!(
        line["payload"]["data"]["userTyping"],
        json!({ "typing": true, "from": { "id": alice.id } }),
        "{line}"
    );
    let data = p2
        .graphql_ok(
            "mutation($with: ID!) { markMessagesSeen(with: $with) { ids } }",
            json!({ "with": alice.id }),
            Some(&bob.token),
        )
        .await;
    let marked = data["markMessagesSeen"]["ids"].clone();
    let mut expected = vec![id_of(&sentinel), gql_id.clone()];
    expected.sort();
    let mut marked_ids: Vec<String> = serde_json::from_value(marked.clone()).unwrap();
    marked_ids.sort();
    assert_eq!(marked_ids, expected, "{data}");
    let line = alice_client
        .expect("messagesSeen on process 1", WAIT, is_next("seen"))
        .await;
    let receipt = &line["payload"]["data"]["messagesSeen"];
    assert_eq!(receipt["by"]["id"], bob.id.as_str(), "{line}");
    let mut receipt_ids: Vec<String> = serde_json::from_value(receipt["ids"].clone()).unwrap();
    receipt_ids.sort();
    assert_eq!(receipt_ids, expected, "{line}");
    assert_eq!(
        seen_matching(&bob_client, next_with_id("mr", "messageReceived", &gql_id)).len(),
        1,
        "Bob's subscription got the GraphQL message more than once: {:#?}",
        bob_client.seen()
    );
}

// ---------------------------------------------------------------------------
// b. Orders and products reach every process
// ---------------------------------------------------------------------------

#[tokio::test]
async fn an_order_reaches_an_admin_on_another_process_and_a_product_reaches_all_three() {
    // Arrange
    let redis = Redis::for_tests().await;
    let cluster = Cluster::start_with(3, &redis, RELAXED).await;
    let (p1, p2, p3) = (cluster.process(1), cluster.process(2), cluster.process(3));
    let admin = p1.login_as_admin().await;
    let buyer = p1.register(&unique_email("cl-buyer")).await;
    let product = p2
        .create_product(&admin.token, "Cluster lamp", 10.0, 50)
        .await;
    let product_id = id_of(&product);
    let mut admin_socket = connect(p3, &admin.token).await;
    let mut buyer_sockets = Vec::new();
    for process in [p1, p2, p3] {
        buyer_sockets.push((process.number, connect(process, &buyer.token).await));
    }
    let mut graphql_client = graphql_ws(p1, &buyer.token, &[("np", NEW_PRODUCT)]).await;

    // Act: an order through process 1.
    let started = Instant::now();
    let response = p1.place_order(&buyer.token, &product_id, 1).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 201, "POST /orders on process 1: {body}");
    let order_id = id_of(&body["data"]);

    // Assert: the admin on process 3 hears of it within a second.
    let line = admin_socket
        .expect(
            "new_order on process 3",
            WAIT,
            event_with("new_order", "orderId", &order_id),
        )
        .await;
    let took = started.elapsed();
    assert!(
        took <= WITHIN_A_SECOND,
        "the order placed on process 1 reached the admin on process 3 after {took:?}"
    );
    assert!(line["args"][0]["position"].is_string(), "{line}");

    // The status move through process 2 reaches the owner on every process.
    let moved = p2
        .put(
            &format!("/orders/{order_id}"),
            json!({ "status": "processing" }),
            Some(&admin.token),
        )
        .await;
    assert_eq!(moved.status(), 200, "PUT /orders/:id on process 2");
    for (number, socket) in &mut buyer_sockets {
        let line = socket
            .expect(
                &format!("order_status_update on process {number}"),
                WAIT,
                event_with("order_status_update", "orderId", &order_id),
            )
            .await;
        assert_eq!(line["args"][0]["status"], "processing", "{line}");
    }

    // Act: a product added through process 2.
    let added = p2
        .create_product(&admin.token, "Cluster desk", 80.0, 3)
        .await;
    let added_id = id_of(&added);

    // Assert: every socket on every process, and the subscription, get it.
    buyer_sockets.push((3, admin_socket));
    for (number, socket) in &mut buyer_sockets {
        let line = socket
            .expect(
                &format!("new_product on a socket on process {number}"),
                WAIT,
                event_with("new_product", "productId", &added_id),
            )
            .await;
        assert_eq!(line["args"][0]["name"], "Cluster desk", "{line}");
    }
    graphql_client
        .expect(
            "newProduct on process 1",
            WAIT,
            next_with_id("np", "newProduct", &added_id),
        )
        .await;

    // Once each: a sentinel product through process 3, then count.
    let sentinel = p3.create_product(&admin.token, "Sentinel", 1.0, 1).await;
    let sentinel_id = id_of(&sentinel);
    let admin_index = buyer_sockets.len() - 1;
    for (index, (number, socket)) in buyer_sockets.iter_mut().enumerate() {
        socket
            .expect(
                &format!("the sentinel on process {number}"),
                WAIT,
                event_with("new_product", "productId", &sentinel_id),
            )
            .await;
        drain(socket, QUIET).await;
        let copies = seen_matching(socket, event_with("new_product", "productId", &added_id)).len();
        assert_eq!(
            copies,
            1,
            "the socket on process {number} got the product {copies} times: {:#?}",
            socket.seen()
        );
        let updates = seen_matching(
            socket,
            event_with("order_status_update", "orderId", &order_id),
        )
        .len();
        assert_eq!(
            updates,
            1,
            "order_status_update on process {number}: {:#?}",
            socket.seen()
        );
        // Buyers are not admins: no new_order on their sockets; the
        // admin's (the last) got it once.
        let orders = seen_matching(socket, is_event("new_order")).len();
        let expected = usize::from(index == admin_index);
        assert_eq!(
            orders,
            expected,
            "new_order on process {number}: {:#?}",
            socket.seen()
        );
    }
    graphql_client
        .expect(
            "the sentinel on the subscription",
            WAIT,
            next_with_id("np", "newProduct", &sentinel_id),
        )
        .await;
    assert_eq!(
        seen_matching(&graphql_client, next_with_id("np", "newProduct", &added_id)).len(),
        1,
        "{:#?}",
        graphql_client.seen()
    );
}

/// `(name, stock)` of each product on `process`'s default listings, REST
/// `GET /products` and GraphQL `products(first: 20)`, which must agree.
async fn default_listings(process: &Process, what: &str) -> Vec<(String, i64)> {
    let pairs = |products: &Value| -> Vec<(String, i64)> {
        products
            .as_array()
            .expect("a list of products")
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap().to_owned(),
                    p["stock"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    let response = process.get("/products", None).await;
    assert_eq!(response.status(), 200, "GET /products {what}");
    let rest: Value = response.json().await.unwrap();
    let graphql = process
        .graphql_ok(
            "{ products(first: 20) { nodes { name stock } } }",
            json!({}),
            None,
        )
        .await;
    let (rest, graphql) = (pairs(&rest["data"]), pairs(&graphql["products"]["nodes"]));
    assert_eq!(
        rest, graphql,
        "the doors disagree on process {} {what}",
        process.number
    );
    rest
}

#[tokio::test]
async fn a_catalogue_change_on_one_process_is_in_the_next_listing_of_another_once_heard_there() {
    // Arrange: process 2 keeps its listings in memory once read, and an
    // admin socket on it hears of products and orders.
    let redis = Redis::for_tests().await;
    let cluster = Cluster::start_with(2, &redis, RELAXED).await;
    let (p1, p2) = (cluster.process(1), cluster.process(2));
    let admin = p1.login_as_admin().await;
    let buyer = p1.register(&unique_email("cl-snapshot")).await;
    let mut news = connect(p2, &admin.token).await;
    assert_eq!(default_listings(p2, "at first").await, []);

    // Act: a product added through process 1.
    let product = p1
        .create_product(&admin.token, "Shared lamp", 12.5, 5)
        .await;
    let id = id_of(&product);

    // Assert: once process 2 announced it, its very next listing shows it
    // (no retry: the kept pages move on before any connection hears).
    news.expect(
        "new_product on process 2",
        WAIT,
        event_with("new_product", "productId", &id),
    )
    .await;
    let what = "once it heard of the create";
    assert_eq!(
        default_listings(p2, what).await,
        [("Shared lamp".to_owned(), 5)]
    );

    // An order through process 1 takes stock.
    let response = p1.place_order(&buyer.token, &id, 2).await;
    assert_eq!(response.status(), 201, "POST /orders on process 1");
    news.expect(
        "new_order on process 2",
        WAIT,
        event_with("new_order", "productId", &id),
    )
    .await;
    let what = "once it heard of the order";
    assert_eq!(
        default_listings(p2, what).await,
        [("Shared lamp".to_owned(), 3)]
    );

    // A removal through process 1.
    let response = p1
        .delete(&format!("/products/{id}"), Some(&admin.token))
        .await;
    assert_eq!(response.status(), 200, "DELETE /products/:id on process 1");
    news.expect(
        "product_deleted on process 2",
        WAIT,
        event_with("product_deleted", "productId", &id),
    )
    .await;
    assert_eq!(
        default_listings(p2, "once it heard of the removal").await,
        []
    );
}

// ---------------------------------------------------------------------------
// c. Presence is the cluster's
// ---------------------------------------------------------------------------

#[tokio::test]
async fn presence_is_the_same_on_every_process_and_two_tabs_on_two_processes_count_once() {
    // Arrange: the admin on 3, Bob on 2, Alice with a tab on 1 and one on 2.
    let redis = Redis::for_tests().await;
    let cluster = Cluster::start_with(3, &redis, RELAXED).await;
    let (p1, p2, p3) = (cluster.process(1), cluster.process(2), cluster.process(3));
    let admin = p1.login_as_admin().await;
    let alice = p1.register(&unique_email("cl-presence-alice")).await;
    let bob = p3.register(&unique_email("cl-presence-bob")).await;
    let mut admin_socket = connect(p3, &admin.token).await;
    let _bob_socket = connect(p2, &bob.token).await;
    let mut first_tab = connect(p1, &alice.token).await;
    let mut second_tab = connect(p2, &alice.token).await;

    // Assert: one list, the same everywhere: the three of them online.
    let everyone: BTreeSet<String> = [&admin.id, &alice.id, &bob.id]
        .into_iter()
        .cloned()
        .collect();
    let deadline = Instant::now() + WAIT;
    for process in [p1, p2, p3] {
        wait_for_online(process, &admin, deadline, "all three online", |online| {
            *online == everyone
        })
        .await;
    }
    let lists = [
        presence_list(p1, &admin).await,
        presence_list(p2, &admin).await,
        presence_list(p3, &admin).await,
    ];
    assert_eq!(lists[0], lists[1], "process 1 and 2 differ");
    assert_eq!(lists[1], lists[2], "process 2 and 3 differ");
    for process in [p1, p2, p3] {
        let data = process
            .graphql_ok(
                "{ dashboardStats { usersOnline } }",
                json!({}),
                Some(&admin.token),
            )
            .await;
        assert_eq!(
            data["dashboardStats"]["usersOnline"], 3,
            "usersOnline on process {}: {data}",
            process.number
        );
    }
    admin_socket
        .expect(
            "user_online about Alice on process 3",
            WAIT,
            event_with("user_online", "userId", &alice.id),
        )
        .await;

    // Act: the tab on process 1 closes.
    close_tab(&mut first_tab).await;

    // Assert: beyond the grace period, Alice is still online everywhere.
    assert!(
        admin_socket
            .receives_none_within(
                PRESENCE_GRACE + Duration::from_secs(2),
                event_with("user_offline", "userId", &alice.id)
            )
            .await,
        "user_offline about Alice with her tab on process 2 still open: {:#?}",
        admin_socket.seen()
    );
    for process in [p1, p2, p3] {
        let online = online_ids(process, &admin).await;
        assert_eq!(
            online, everyone,
            "process {}: one tab closed, one open",
            process.number
        );
    }

    // Act: the tab on process 2 closes.
    close_tab(&mut second_tab).await;

    // Assert: offline everywhere, Bob still online; told once each way.
    let line = admin_socket
        .expect(
            "user_offline about Alice on process 3",
            PRESENCE_GRACE + WAIT,
            event_with("user_offline", "userId", &alice.id),
        )
        .await;
    assert_eq!(line["args"][0]["user_id"], alice.id.as_str(), "{line}");
    let without_alice: BTreeSet<String> = [&admin.id, &bob.id].into_iter().cloned().collect();
    let deadline = Instant::now() + WAIT;
    for process in [p1, p2, p3] {
        wait_for_online(process, &admin, deadline, "Alice offline", |online| {
            *online == without_alice
        })
        .await;
    }
    drain(&mut admin_socket, QUIET).await;
    for event in ["user_online", "user_offline"] {
        let told = seen_matching(&admin_socket, event_with(event, "userId", &alice.id)).len();
        assert_eq!(
            told,
            1,
            "{event} about Alice, told {told} times: {:#?}",
            admin_socket.seen()
        );
    }
}

// ---------------------------------------------------------------------------
// d. A sign-out ends the account's connections on every process
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_logout_through_one_process_ends_the_users_connections_on_the_others() {
    // Arrange: Alice's socket on 3 and GraphQL WebSocket on 1; Carol's on 3.
    let redis = Redis::for_tests().await;
    let cluster = Cluster::start_with(3, &redis, RELAXED).await;
    let (p1, p2, p3) = (cluster.process(1), cluster.process(2), cluster.process(3));
    let alice = p1.register(&unique_email("cl-logout-alice")).await;
    let carol = p1.register(&unique_email("cl-logout-carol")).await;
    let mut alice_socket = connect(p3, &alice.token).await;
    let mut alice_client = graphql_ws(p1, &alice.token, &[]).await;
    let mut carol_socket = connect(p3, &carol.token).await;

    // Act: Alice signs out through process 2.
    let started = Instant::now();
    let response = p2.logout(&alice.refresh_token).await;
    assert_eq!(response.status(), 200, "POST /auth/logout on process 2");

    // Assert: within a second, session_ended then a server disconnect on 3,
    // and a 4403 close on 1.
    let socket_end = async {
        let ended = alice_socket
            .expect(
                "session_ended on process 3",
                WAIT,
                is_event("session_ended"),
            )
            .await;
        let at = started.elapsed();
        let dropped = alice_socket
            .expect("the disconnect on process 3", WAIT, is_kind("disconnect"))
            .await;
        (ended, at, dropped)
    };
    let graphql_end = async {
        let closed = alice_client
            .expect("the close on process 1", WAIT, is_kind("closed"))
            .await;
        (closed, started.elapsed())
    };
    let ((ended, socket_took, dropped), (closed, graphql_took)) =
        tokio::join!(socket_end, graphql_end);
    assert_eq!(
        ended["args"],
        json!([{ "reason": "logged_out" }]),
        "{ended}"
    );
    assert_eq!(dropped["reason"], SERVER_DISCONNECT, "{dropped}");
    assert!(
        socket_took <= WITHIN_A_SECOND,
        "session_ended reached process 3 after {socket_took:?}"
    );
    assert_eq!(
        (closed["code"].clone(), closed["reason"].clone()),
        (json!(FORBIDDEN), json!("logged_out")),
        "{closed}"
    );
    assert!(
        graphql_took <= WITHIN_A_SECOND,
        "the GraphQL WebSocket on process 1 closed after {graphql_took:?}"
    );

    // The old token is refused on process 1, at every door.
    let response = p1.get("/orders/my", Some(&alice.token)).await;
    assert_rest_error(
        response,
        401,
        "UNAUTHENTICATED",
        "the old token on process 1",
    )
    .await;
    let body = p1
        .graphql("{ me { id } }", json!({}), Some(&alice.token))
        .await;
    assert_eq!(graphql_code(&body), "UNAUTHENTICATED", "{body}");
    let mut again = NodeClient::socketio(&p1.address, json!({ "token": alice.token })).await;
    let outcome = again
        .expect("the handshake outcome", WAIT, |line| {
            line["kind"] == "connect" || line["kind"] == "connect_error"
        })
        .await;
    assert_eq!(outcome["kind"], "connect_error", "{outcome}");

    // Carol lives on.
    assert!(
        carol_socket
            .receives_none_within(QUIET, |line| {
                is_event("session_ended")(line) || is_kind("disconnect")(line)
            })
            .await,
        "Carol's socket was ended: {:#?}",
        carol_socket.seen()
    );
}

// ---------------------------------------------------------------------------
// e. kill -9 of a process mid-traffic
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_process_killed_mid_chat_loses_nothing_acknowledged_and_its_users_go_offline() {
    // Arrange: Alice, Bob and Carol on process 1; the admin watches from 2.
    let redis = Redis::for_tests().await;
    let mut cluster = Cluster::start_with(3, &redis, RELAXED).await;
    let (admin, alice, bob, carol, mut admin_socket) = {
        let p2 = cluster.process(2);
        let admin = p2.login_as_admin().await;
        let alice = p2.register(&unique_email("cl-kill-alice")).await;
        let bob = p2.register(&unique_email("cl-kill-bob")).await;
        let carol = p2.register(&unique_email("cl-kill-carol")).await;
        let admin_socket = connect(p2, &admin.token).await;
        (admin, alice, bob, carol, admin_socket)
    };
    let mut alice_socket = connect(cluster.process(1), &alice.token).await;
    let mut bob_socket = connect(cluster.process(1), &bob.token).await;
    let _carol_socket = connect(cluster.process(1), &carol.token).await;
    // Carol (on process 1 only) is seen online from the others first.
    let deadline = Instant::now() + WAIT;
    for i in [2, 3] {
        wait_for_online(
            cluster.process(i),
            &admin,
            deadline,
            "Carol online",
            |online| online.contains(&carol.id),
        )
        .await;
    }

    // Act: both chat through process 1; it is killed mid-traffic.
    let alice_acked = Cell::new(0usize);
    let bob_acked = Cell::new(0usize);
    let killer = async {
        let deadline = Instant::now() + WAIT;
        while alice_acked.get() < 8 || bob_acked.get() < 8 {
            assert!(
                Instant::now() < deadline,
                "the chat through process 1 did not get going ({} and {} acked)",
                alice_acked.get(),
                bob_acked.get()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        cluster.kill9(1);
        Instant::now()
    };
    let ((alice_sent, alice_refused), (bob_sent, bob_refused), killed_at) = tokio::join!(
        chat_until_dropped("alice", &mut alice_socket, &bob.id, &alice_acked),
        chat_until_dropped("bob", &mut bob_socket, &alice.id, &bob_acked),
        killer,
    );
    assert!(
        alice_refused.is_empty() && bob_refused.is_empty(),
        "sends refused before the kill: {alice_refused:?} {bob_refused:?}"
    );

    // Alice comes back first, on process 2, from her last position, and
    // writes to Bob while he is away; then Bob comes back on process 2 from
    // his.
    let p2 = cluster.process(2);
    let alice_from = last_position(&alice_socket);
    let bob_from = last_position(&bob_socket);
    let (mut alice_again, alice_replay) =
        connect_with(p2, json!({ "token": alice.token, "offset": alice_from })).await;
    let mut while_away = Vec::new();
    for n in 0..3 {
        let message = sio_send(&mut alice_again, &bob.id, &format!("while away #{n}")).await;
        while_away.push(id_of(&message));
    }
    let (mut bob_again, bob_replay) =
        connect_with(p2, json!({ "token": bob.token, "offset": bob_from })).await;
    for (who, from, replay) in [
        ("Alice", &alice_from, &alice_replay),
        ("Bob", &bob_from, &bob_replay),
    ] {
        assert!(
            !replay.iter().any(is_event("resync_required")),
            "{who}'s position {from} was not resumable: {replay:#?}"
        );
    }

    // Assert: what Bob missed is replayed to him, in order.
    let replayed_to_bob = received_from(&bob_replay, &alice.id);
    let tail: Vec<&String> = replayed_to_bob
        .iter()
        .filter(|id| while_away.contains(id))
        .collect();
    assert_eq!(
        tail,
        while_away.iter().collect::<Vec<_>>(),
        "the messages sent while Bob was away, replayed in order (replayed: {replayed_to_bob:?})"
    );
    eprintln!(
        "kill -9: Alice {} and Bob {} acknowledged before the kill; replayed on process 2: {} to \
         Bob (3 sent while he was away), {} to Alice",
        alice_sent.len(),
        bob_sent.len(),
        replayed_to_bob.len(),
        received_from(&alice_replay, &bob.id).len()
    );

    // Every acknowledged message reached its recipient exactly once
    // (before the kill on process 1, or replayed on process 2).
    let mut alice_acked_all = alice_sent.clone();
    alice_acked_all.extend(while_away.iter().cloned());
    let mut bob_got = received_from(&all_lines(&bob_socket), &alice.id);
    bob_got.extend(replayed_to_bob.iter().cloned());
    assert_exactly_once(&alice_acked_all, &bob_got, "Alice's messages to Bob");
    let mut alice_got = received_from(&all_lines(&alice_socket), &bob.id);
    alice_got.extend(received_from(&alice_replay, &bob.id));
    assert_exactly_once(&bob_sent, &alice_got, "Bob's messages to Alice");

    // Then live on process 2, once.
    let live = sio_send(&mut alice_again, &bob.id, "after the kill").await;
    bob_again
        .expect(
            "the live message on process 2",
            WAIT,
            event_with("receive_message", "id", &id_of(&live)),
        )
        .await;
    drain(&mut bob_again, QUIET).await;
    let after: Vec<String> = received_from(&all_lines(&bob_again), &alice.id);
    assert_exactly_once(
        std::slice::from_ref(&id_of(&live)),
        &after,
        "live after the resume (replayed messages are counted above)",
    );

    // Every acknowledged message is stored, once.
    let thread = rest_thread(cluster.process(3), &alice.token, &bob.id).await;
    let stored: Vec<String> = thread.iter().map(id_of).collect();
    let mut acked: Vec<String> = alice_acked_all.clone();
    acked.extend(bob_sent.iter().cloned());
    acked.push(id_of(&live));
    let stored_counts = counts(&stored);
    let missing: Vec<&String> = acked
        .iter()
        .filter(|id| !stored_counts.contains_key(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not stored: {missing:?}"
    );
    assert!(
        stored_counts.values().all(|n| *n == 1),
        "a message stored twice: {stored_counts:?}"
    );

    // Carol, who does not come back, is offline on the others in time;
    // Alice and Bob, who did, are online.
    let bound = killed_at + PRESENCE_GRACE + DEAD_PROCESS_EXPIRY;
    for i in [2, 3] {
        let online = wait_for_online(
            cluster.process(i),
            &admin,
            bound,
            "Carol (on the killed process) shown offline within PRESENCE_GRACE + 30 s",
            |online| !online.contains(&carol.id),
        )
        .await;
        assert!(
            online.contains(&alice.id) && online.contains(&bob.id),
            "process {i}: Alice and Bob came back and are online: {online:?}"
        );
    }
    let remaining = bound.saturating_duration_since(Instant::now()) + Duration::from_secs(1);
    admin_socket
        .expect(
            "user_offline about Carol on process 2",
            remaining,
            event_with("user_offline", "userId", &carol.id),
        )
        .await;
}

// ---------------------------------------------------------------------------
// f. A Redis outage
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_redis_outage_is_survived_without_a_restart_and_loses_nothing_acknowledged() {
    // Arrange: a private Redis (it is stopped and started again), two
    // processes, Alice on 1, Bob on 2, chatting.
    let mut redis = Redis::private().await;
    let cluster = Cluster::start_with(2, &redis, RELAXED).await;
    let (p1, p2) = (cluster.process(1), cluster.process(2));
    for process in [p1, p2] {
        let (status, body) = readyz(process).await;
        assert_eq!(
            (status, body.clone()),
            (200, json!({ "status": "ok", "store": "ok", "redis": "ok" })),
            "process {} before the outage",
            process.number
        );
    }
    let alice = p1.register(&unique_email("cl-outage-alice")).await;
    let bob = p2.register(&unique_email("cl-outage-bob")).await;
    let mut alice_socket = connect(p1, &alice.token).await;
    let mut bob_socket = connect(p2, &bob.token).await;
    let warm_up = sio_send(&mut alice_socket, &bob.id, "before the outage").await;
    bob_socket
        .expect(
            "a message across before the outage",
            WAIT,
            event_with("receive_message", "id", &id_of(&warm_up)),
        )
        .await;

    // Act: traffic from Alice all along; Redis stops for about 3 s.
    let stop = Cell::new(false);
    let outage: Cell<Option<(Instant, Instant)>> = Cell::new(None);
    let traffic = async {
        let mut acked: Vec<(String, Instant)> = Vec::new();
        let mut refused = Vec::new();
        let mut n = 0;
        while !stop.get() {
            n += 1;
            let tag = format!("outage-{n}");
            match send_tracked(&mut alice_socket, &tag, &bob.id, &format!("#{n}")).await {
                Sent::Acked(message) => acked.push((id_of(&message), Instant::now())),
                Sent::Refused(ack) => refused.push(ack),
                Sent::Lost(line) => panic!(
                    "Alice's socket on process 1 lost its ack or its connection ({line}): {:#?}",
                    alice_socket.seen()
                ),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        (acked, refused)
    };
    let control = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        redis.stop().await;
        let stopped_at = Instant::now();
        let deadline = stopped_at + Duration::from_secs(10);
        for process in [p1, p2] {
            let body = wait_for_readyz(process, 503, deadline).await;
            assert_eq!(
                body["status"], "error",
                "process {}: {body}",
                process.number
            );
            assert_eq!(
                body["code"], "UNAVAILABLE",
                "process {}: {body}",
                process.number
            );
        }
        tokio::time::sleep_until(stopped_at + Duration::from_secs(3)).await;
        for process in [p1, p2] {
            let (status, body) = readyz(process).await;
            assert_eq!(
                status, 503,
                "process {} during the outage: {body}",
                process.number
            );
        }
        let restarting_at = Instant::now();
        redis.start_again().await;
        outage.set(Some((stopped_at, restarting_at)));
        let deadline = Instant::now() + Duration::from_secs(30);
        for process in [p1, p2] {
            let body = wait_for_readyz(process, 200, deadline).await;
            assert_eq!(
                body["redis"], "ok",
                "process {} after the outage: {body}",
                process.number
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        stop.set(true);
    };
    let ((acked, refused), ()) = tokio::join!(traffic, control);

    // Assert: Alice was served all along.
    let (stopped_at, restarting_at) = outage.get().expect("the outage happened");
    assert!(
        refused.is_empty(),
        "messages refused around the outage (the process keeps serving its own \
         connections): {refused:?}"
    );
    let during = acked
        .iter()
        .filter(|(_, at)| *at > stopped_at && *at < restarting_at)
        .count();
    assert!(
        during >= 1,
        "no message was acknowledged while Redis was down ({} in all)",
        acked.len()
    );
    let acked_ids: Vec<String> = acked.iter().map(|(id, _)| id.clone()).collect();

    // Bob, still connected on process 2, catches up on every one, once.
    let wanted: BTreeSet<String> = acked_ids.iter().cloned().collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got: BTreeSet<String> = received_from(&all_lines(&bob_socket), &alice.id)
            .into_iter()
            .collect();
        if wanted.is_subset(&got) {
            break;
        }
        let missing: Vec<&String> = wanted.difference(&got).collect();
        assert!(
            Instant::now() < deadline,
            "Bob (connected to process 2 throughout) never got {} acknowledged message(s) \
             {missing:?}; his lines: {:#?}",
            missing.len(),
            bob_socket.seen()
        );
        drain(&mut bob_socket, Duration::from_millis(200)).await;
    }
    assert!(
        seen_matching(&bob_socket, is_kind("disconnect")).is_empty(),
        "Bob's socket was dropped: {:#?}",
        bob_socket.seen()
    );

    // Chat across works again, both ways.
    let sentinel = sio_send(&mut alice_socket, &bob.id, "after the outage").await;
    bob_socket
        .expect(
            "a message across after the outage",
            WAIT,
            event_with("receive_message", "id", &id_of(&sentinel)),
        )
        .await;
    let back = sio_send(&mut bob_socket, &alice.id, "and back").await;
    alice_socket
        .expect(
            "a reply across after the outage",
            WAIT,
            event_with("receive_message", "id", &id_of(&back)),
        )
        .await;
    drain(&mut bob_socket, QUIET).await;
    let delivered = received_from(&all_lines(&bob_socket), &alice.id);
    let mut everything = vec![id_of(&warm_up)];
    everything.extend(acked_ids.iter().cloned());
    everything.push(id_of(&sentinel));
    assert_exactly_once(&everything, &delivered, "Alice's messages on Bob's socket");

    // And all of it is stored.
    let thread = rest_thread(p2, &bob.token, &alice.id).await;
    let stored: BTreeSet<String> = thread.iter().map(id_of).collect();
    let missing: Vec<&String> = everything
        .iter()
        .filter(|id| !stored.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not stored: {missing:?}"
    );
}

// ---------------------------------------------------------------------------
// g. Sign-in throttles are the cluster's
// ---------------------------------------------------------------------------

/// One failed sign-in (an unknown email, a wrong password) on `process`,
/// with an optional `X-Forwarded-For`; the HTTP status. A 429 must carry
/// `RATE_LIMITED` and `Retry-After`.
async fn failed_sign_in(process: &Endpoint, email: &str, forwarded: Option<&str>) -> u16 {
    let mut request = process
        .http
        .post(process.url("/auth/login"))
        .json(&json!({ "email": email, "password": "wrong-password-1" }));
    if let Some(forwarded) = forwarded {
        request = request.header("X-Forwarded-For", forwarded);
    }
    let response = request
        .send()
        .await
        .expect("the request reaches the server");
    let status = response.status().as_u16();
    let retry_after = response.headers().contains_key("retry-after");
    let body: Value = response.json().await.unwrap_or(Value::Null);
    match status {
        401 => assert_eq!(body["code"], "UNAUTHENTICATED", "{body}"),
        429 => {
            assert_eq!(body["code"], "RATE_LIMITED", "{body}");
            assert!(retry_after, "a 429 without Retry-After: {body}");
        }
        other => panic!("a sign-in answered {other}: {body}"),
    }
    status
}

/// `count` failed sign-ins in turn, round-robin over the cluster's
/// processes; the statuses in order.
async fn spray(cluster: &Cluster, count: usize, forwarded: Option<&str>, tag: &str) -> Vec<u16> {
    let mut statuses = Vec::new();
    for n in 0..count {
        let process = &cluster.processes()[n % cluster.processes().len()];
        let email = format!("{tag}-{n}-{}", unique_email("spray"));
        statuses.push(failed_sign_in(process, &email, forwarded).await);
    }
    statuses
}

#[tokio::test]
async fn thirty_sign_ins_over_three_processes_meet_one_shared_limit() {
    // Arrange: the default limit (20 a minute per address).
    let redis = Redis::for_tests().await;
    let cluster = Cluster::start(3, &redis).await;

    // Act: thirty attempts at once, round-robin over the three (at once,
    // so that the minute's refill, one attempt every 3 s, plays no part).
    let started = Instant::now();
    let attempts = (0..30).map(|n| {
        let process: &Endpoint = &cluster.processes()[n % 3];
        let email = unique_email(&format!("shared-spray{n}"));
        async move { failed_sign_in(process, &email, None).await }
    });
    let statuses = futures::future::join_all(attempts).await;
    let took = started.elapsed();

    // Assert
    let accepted = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    let refills = (took.as_secs_f64() / 3.0).floor() as usize;
    assert_eq!(accepted + refused, 30, "{statuses:?}");
    assert!(
        (20..=20 + refills).contains(&accepted),
        "{accepted} of 30 sign-ins over three processes were checked (the shared limit is 20, \
         plus {refills} refilled in the {took:?} they took); statuses in round-robin order: \
         {statuses:?}"
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_forwarded_clients_have_separate_limits_across_the_cluster() {
    // Arrange: the test client is the trusted proxy; a limit of 4 a minute.
    let redis = Redis::for_tests().await;
    let cluster = Cluster::start_with(
        3,
        &redis,
        &[
            ("TRUSTED_PROXIES", "127.0.0.1/32"),
            ("LOGIN_LIMIT_PER_ADDRESS", "4"),
        ],
    )
    .await;

    // Act: two forwarded clients, six attempts each over the three.
    let first = spray(&cluster, 6, Some("198.51.100.1"), "first").await;
    let second = spray(&cluster, 6, Some("1.2.3.4, 198.51.100.2"), "second").await;
    // The proxy's own address has its own limit, untouched.
    let own = failed_sign_in(cluster.process(2), &unique_email("proxy"), None).await;

    // Assert
    assert_eq!(first, [401, 401, 401, 401, 429, 429], "the first client");
    assert_eq!(second, [401, 401, 401, 401, 429, 429], "the second client");
    assert_eq!(own, 401, "the proxy itself");
    let graphql = cluster
        .process(3)
        .http
        .post(cluster.process(3).url("/graphql"))
        .header("X-Forwarded-For", "198.51.100.1")
        .json(&json!({ "query": "mutation { login(email: \"nobody@example.test\", password: \"guess-123\") { token } }" }))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(graphql_code(&graphql), "RATE_LIMITED", "{graphql}");
}

#[tokio::test]
async fn a_forged_forwarded_address_from_an_untrusted_peer_changes_nothing_in_a_cluster() {
    // Arrange: no trusted proxies; a limit of 4 a minute.
    let redis = Redis::for_tests().await;
    let cluster = Cluster::start_with(3, &redis, &[("LOGIN_LIMIT_PER_ADDRESS", "4")]).await;

    // Act: each round claims another address.
    let first = spray(&cluster, 6, Some("198.51.100.1"), "forged-a").await;
    let second = spray(&cluster, 6, Some("198.51.100.2"), "forged-b").await;
    let plain = spray(&cluster, 3, None, "plain").await;

    // Assert: one peer, one limit, shared.
    assert_eq!(first, [401, 401, 401, 401, 429, 429]);
    assert_eq!(second, [429; 6]);
    assert_eq!(plain, [429; 3]);
}

// ---------------------------------------------------------------------------
// h. Redis needs MongoDB
// ---------------------------------------------------------------------------

#[test]
fn redis_without_mongodb_refuses_to_start_with_one_line_naming_mongodb_uri() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let mut child = std::process::Command::new(crate::support::cluster::BINARY)
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("PORT", &port)
        .env("HOST", "127.0.0.1")
        .env("REDIS_URL", "redis://127.0.0.1:6390")
        .env("JWT_SECRET", JWT_SECRET)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("REDIS_URL without MONGODB_URI: still running after 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !status.success(),
        "it exited with {status}; stderr: {stderr}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr: {stderr:?}");
    assert!(
        lines[0].contains("MONGODB_URI"),
        "the line names MONGODB_URI: {stderr:?}"
    );
    assert!(
        !dir.path().join("data/realtime-dashboard.sqlite3").exists(),
        "it opened the embedded store before refusing"
    );
}
