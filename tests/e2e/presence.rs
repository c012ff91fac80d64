//! Presence and connection authority, with the real clients
//! (`socket.io-client`, `graphql-ws`).
//!
//! Presence: a user is online while at least one connection (a socket or a
//! GraphQL WebSocket) is open; admins and the user's conversation peers are
//! told when the first opens and, after the grace period, when the last one
//! closes; a reload within the grace period announces nothing; unrelated
//! users hear nothing; `lastActive` is kept in the store.
//!
//! Authority: a connection lives no longer than its token, its session
//! (logout) and its role.
//!
//! A "never arrives" check comes after its positive counterpart arrived
//! elsewhere and, where possible, after a later event that the same client
//! does receive (a sentinel): events reach one client in order. The only
//! waits are those windows and the (short) grace period itself.

use std::time::Duration;

use realtime_dashboard::auth::TokenIssuer;
use realtime_dashboard::domain::{Role, UserId};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::support::node::NodeClient;
use crate::support::steps::{
    FORBIDDEN, assert_session_ended, close_tab, is_event, is_kind, set_role,
};
use crate::support::{Account, Backend, PASSWORD, TestApp, on_both_stores, unique_email};

/// How long to wait for something that must happen.
const WAIT: Duration = Duration::from_secs(10);
/// How long to watch for something that must not happen (after its positive
/// counterpart has been seen).
const QUIET: Duration = Duration::from_millis(500);
/// The presence grace period of most test apps.
const GRACE: Duration = Duration::from_millis(500);
/// The grace period of the reload test: a new driver process must start and
/// connect within it.
const RELOAD_GRACE: Duration = Duration::from_secs(2);
/// Logout and role changes reach open connections within this.
const WITHIN_A_SECOND: Duration = Duration::from_secs(1);

const PRESENCE_CHANGED: &str = "subscription { presenceChanged { user { id } online lastActive } }";
const NEW_PRODUCT: &str = "subscription { newProduct { id } }";
const NEW_ORDER: &str = "subscription { newOrder { id } }";
const USERS: &str = "query($online: Boolean) { users(online: $online, first: 100) { nodes { id online presence lastActive } } }";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

async fn spawn(backend: Backend, grace: Duration) -> TestApp {
    TestApp::spawn_with(backend, |config| config.presence_grace = grace).await
}

/// A Socket.IO `user_online` / `user_offline` about `user_id`.
fn presence_event(event: &'static str, user_id: &str) -> impl Fn(&Value) -> bool + use<> {
    let user_id = user_id.to_owned();
    move |line| {
        line["kind"] == "event"
            && line["event"] == event
            && line["args"][0]["userId"] == user_id.as_str()
    }
}

/// Either Socket.IO presence event about `user_id`.
fn any_presence_event(user_id: &str) -> impl Fn(&Value) -> bool + use<> {
    let online = presence_event("user_online", user_id);
    let offline = presence_event("user_offline", user_id);
    move |line| online(line) || offline(line)
}

/// A `presenceChanged` next (subscription `pc`) about `user_id`.
fn presence_changed(user_id: &str) -> impl Fn(&Value) -> bool + use<> {
    let user_id = user_id.to_owned();
    move |line| {
        line["kind"] == "next"
            && line["id"] == "pc"
            && line["payload"]["data"]["presenceChanged"]["user"]["id"] == user_id.as_str()
    }
}

/// A Socket.IO `new_order` for `order_id`.
fn new_order(order_id: &str) -> impl Fn(&Value) -> bool + use<> {
    let order_id = order_id.to_owned();
    move |line| {
        line["kind"] == "event"
            && line["event"] == "new_order"
            && line["args"][0]["orderId"] == order_id.as_str()
    }
}

/// How many lines the client has printed so far that satisfy `predicate`.
fn count_seen(client: &NodeClient, predicate: impl Fn(&Value) -> bool) -> usize {
    client
        .seen()
        .iter()
        .filter(|line| {
            serde_json::from_str::<Value>(line)
                .map(|value| predicate(&value))
                .unwrap_or(false)
        })
        .count()
}

/// Asserts a Socket.IO presence payload about `user_id` and returns its
/// `lastActive`.
fn assert_presence_payload(line: &Value, user_id: &str, online: bool, who: &str) -> String {
    let payload = &line["args"][0];
    assert_eq!(payload["userId"], user_id, "{who}: userId in {payload}");
    assert_eq!(payload["user_id"], user_id, "{who}: user_id in {payload}");
    assert_eq!(payload["online"], online, "{who}: online in {payload}");
    let last_active = payload["lastActive"]
        .as_str()
        .unwrap_or_else(|| panic!("{who}: a lastActive string in {payload}"));
    assert!(
        chrono::DateTime::parse_from_rfc3339(last_active).is_ok(),
        "{who}: lastActive is RFC 3339 in {payload}"
    );
    last_active.to_owned()
}

/// Asserts a `presenceChanged` next about `user_id` and returns its `lastActive`.
fn assert_presence_changed(line: &Value, user_id: &str, online: bool, who: &str) -> String {
    assert!(line["payload"]["errors"].is_null(), "{who}: {line}");
    let change = &line["payload"]["data"]["presenceChanged"];
    assert_eq!(change["user"]["id"], user_id, "{who}: user in {change}");
    assert_eq!(change["online"], online, "{who}: online in {change}");
    let last_active = change["lastActive"]
        .as_str()
        .unwrap_or_else(|| panic!("{who}: a lastActive string in {change}"));
    assert!(
        chrono::DateTime::parse_from_rfc3339(last_active).is_ok(),
        "{who}: lastActive is RFC 3339 in {change}"
    );
    last_active.to_owned()
}

/// Makes `from` and `to` conversation peers: `from` sends `to` a message.
async fn make_peers(app: &TestApp, from: &Account, to: &Account) {
    let response = app
        .post(
            "/chat/messages",
            json!({ "to": to.id, "text": "hello, peer" }),
            Some(&from.token),
        )
        .await;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 201, "POST /chat/messages: {body}");
}

/// Disposes a graphql-ws client and waits until it is gone.
async fn dispose(client: &mut NodeClient) {
    client.send(json!({ "cmd": "dispose" })).await;
    client.expect("disposed", WAIT, is_kind("disposed")).await;
}

/// Subscribes, then runs a query over the same connection and waits for its
/// answer: the server handles a connection's messages in order, so the
/// subscriptions sent before are active by then.
async fn subscribe(client: &mut NodeClient, subscriptions: &[(&str, &str)]) {
    for (id, query) in subscriptions {
        client
            .send(json!({ "cmd": "subscribe", "id": id, "query": query }))
            .await;
    }
    let me = me_over(client, "ready").await;
    assert!(me["id"].is_string(), "the ready query: {me}");
}

/// Runs `{ me { id role } }` over a graphql-ws connection; returns `me`.
async fn me_over(client: &mut NodeClient, id: &'static str) -> Value {
    client
        .send(json!({ "cmd": "query", "id": id, "query": "{ me { id role } }" }))
        .await;
    let answer = client
        .expect(&format!("the answer to {id}"), WAIT, |line| {
            line["kind"] == "next" && line["id"] == id
        })
        .await;
    assert!(answer["payload"]["errors"].is_null(), "{answer}");
    client
        .expect(&format!("complete for {id}"), WAIT, |line| {
            line["kind"] == "complete" && line["id"] == id
        })
        .await;
    answer["payload"]["data"]["me"].clone()
}

/// The admin's `users(online)` list (one page of 100).
async fn users(app: &TestApp, admin: &Account, online: Option<bool>) -> Vec<Value> {
    let data = app
        .graphql_ok(USERS, json!({ "online": online }), Some(&admin.token))
        .await;
    data["users"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("users.nodes in {data}"))
        .clone()
}

/// The node of `user_id` in a `users` list, if listed.
fn node_of<'a>(nodes: &'a [Value], user_id: &str) -> Option<&'a Value> {
    nodes.iter().find(|node| node["id"] == user_id)
}

/// `dashboardStats { usersOnline }` as the admin.
async fn users_online(app: &TestApp, admin: &Account) -> i64 {
    let data = app
        .graphql_ok(
            "{ dashboardStats { usersOnline } }",
            json!({}),
            Some(&admin.token),
        )
        .await;
    data["dashboardStats"]["usersOnline"]
        .as_i64()
        .unwrap_or_else(|| panic!("dashboardStats.usersOnline in {data}"))
}

/// An access token for the user, signed with the server's key, that expires
/// `ttl_secs` from now; also returns its `exp`.
fn short_lived_token(app: &TestApp, user_id: &str, role: Role, ttl_secs: i64) -> (String, i64) {
    let issuer = TokenIssuer::new(app.config.jwt_secret_bytes(), Duration::from_secs(900));
    let id = UserId::parse(user_id).expect("a user id");
    let now = chrono::Utc::now().timestamp();
    let token = issuer
        .sign(&id, role, now, ttl_secs)
        .expect("signing")
        .token;
    (token, now + ttl_secs)
}

/// Asserts the GraphQL WebSocket was closed with 4403 and `reason`.
async fn assert_closed_with(client: &mut NodeClient, reason: &str) {
    let closed = client.expect("closed", WAIT, is_kind("closed")).await;
    assert_eq!(
        (closed["code"].clone(), closed["reason"].clone()),
        (json!(FORBIDDEN), json!(reason)),
        "close code and reason; lines: {:#?}",
        client.seen()
    );
}

/// `POST /orders` that must succeed; returns the order id.
async fn place(app: &TestApp, buyer: &Account, product_id: &str) -> String {
    let response = app.place_order(&buyer.token, product_id, 1).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 201, "POST /orders: {body}");
    body["data"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("an order id in {body}"))
        .to_owned()
}

// ---------------------------------------------------------------------------
// Presence
// ---------------------------------------------------------------------------

async fn two_tabs_keep_a_user_online_and_only_admins_and_peers_hear_of_it(backend: Backend) {
    // Arrange
    let app = spawn(backend, GRACE).await;
    let admin = app.login_as_admin().await;
    let alice = app.register(&unique_email("presence-alice")).await;
    let bob = app.register(&unique_email("presence-peer")).await;
    let carol = app.register(&unique_email("presence-stranger")).await;
    make_peers(&app, &bob, &alice).await;
    let mut admin_socket = app.socket(&admin.token).await;
    let mut bob_socket = app.socket(&bob.token).await;
    let mut carol_socket = app.socket(&carol.token).await;

    // Act: the first tab opens.
    let mut first_tab = app.socket(&alice.token).await;

    // Assert: admins and the peer are told.
    let mut online_at = Vec::new();
    for (who, socket) in [("the admin", &mut admin_socket), ("Bob", &mut bob_socket)] {
        let line = socket
            .expect(
                &format!("user_online about Alice for {who}"),
                WAIT,
                presence_event("user_online", &alice.id),
            )
            .await;
        online_at.push(assert_presence_payload(&line, &alice.id, true, who));
    }
    assert_eq!(
        online_at[0], online_at[1],
        "one announcement, one lastActive"
    );

    // Act: a second tab opens, then the first one closes.
    let mut second_tab = app.socket(&alice.token).await;
    close_tab(&mut first_tab).await;

    // Assert: still online, beyond the grace period.
    let (admin_quiet, bob_quiet) = tokio::join!(
        admin_socket.receives_none_within(GRACE + QUIET, presence_event("user_offline", &alice.id)),
        bob_socket.receives_none_within(GRACE + QUIET, presence_event("user_offline", &alice.id)),
    );
    assert!(
        admin_quiet && bob_quiet,
        "user_offline with a tab still open (admin ok: {admin_quiet}, Bob ok: {bob_quiet}); \
         admin lines: {:#?}",
        admin_socket.seen()
    );
    let online = users(&app, &admin, Some(true)).await;
    let node = node_of(&online, &alice.id)
        .unwrap_or_else(|| panic!("users(online: true) lists Alice: {online:#?}"));
    assert_eq!(node["online"], true, "{node}");
    assert_eq!(node["presence"], "ONLINE", "{node}");
    assert_eq!(
        users_online(&app, &admin).await,
        4,
        "usersOnline: the admin, Alice, Bob and Carol"
    );

    // Act: the second tab closes too.
    let closing = Instant::now();
    close_tab(&mut second_tab).await;

    // Assert: offline after the grace period, told to admins and the peer.
    let mut offline_at = Vec::new();
    for (who, socket) in [("the admin", &mut admin_socket), ("Bob", &mut bob_socket)] {
        let line = socket
            .expect(
                &format!("user_offline about Alice for {who}"),
                WAIT,
                presence_event("user_offline", &alice.id),
            )
            .await;
        offline_at.push(assert_presence_payload(&line, &alice.id, false, who));
    }
    let took = closing.elapsed();
    assert!(
        took >= GRACE,
        "user_offline came {took:?} after the last tab closed, before the grace period ({GRACE:?})"
    );
    assert_eq!(
        offline_at[0], offline_at[1],
        "one announcement, one lastActive"
    );
    assert!(
        offline_at[0] >= online_at[0],
        "lastActive moves forward: online {} then offline {}",
        online_at[0],
        offline_at[0]
    );
    let online = users(&app, &admin, Some(true)).await;
    assert!(
        node_of(&online, &alice.id).is_none(),
        "users(online: true) still lists Alice: {online:#?}"
    );
    let everyone = users(&app, &admin, None).await;
    let node =
        node_of(&everyone, &alice.id).unwrap_or_else(|| panic!("users lists Alice: {everyone:#?}"));
    assert_eq!(
        node,
        &json!({
            "id": alice.id,
            "online": false,
            "presence": "RECENTLY_ACTIVE",
            "lastActive": offline_at[0],
        }),
        "Alice after her last tab closed"
    );
    assert_eq!(
        users_online(&app, &admin).await,
        3,
        "usersOnline: the admin, Bob and Carol"
    );

    // The unrelated user heard nothing about Alice. Sentinel: a new product
    // reaches Carol after everything about Alice was announced.
    let product = app.create_product(&admin.token, "Sentinel", 1.0, 1).await;
    let product_id = product["id"].as_str().expect("a product id").to_owned();
    carol_socket
        .expect("new_product for Carol (sentinel)", WAIT, |line| {
            is_event("new_product")(line) && line["args"][0]["productId"] == product_id.as_str()
        })
        .await;
    assert!(
        carol_socket
            .receives_none_within(QUIET, any_presence_event(&alice.id))
            .await,
        "Carol (no conversation with Alice) heard of her presence: {:#?}",
        carol_socket.seen()
    );

    // Each was told once: no second user_online for the second tab.
    for (who, socket) in [("the admin", &admin_socket), ("Bob", &bob_socket)] {
        assert_eq!(
            (
                count_seen(socket, presence_event("user_online", &alice.id)),
                count_seen(socket, presence_event("user_offline", &alice.id)),
            ),
            (1, 1),
            "{who}: (user_online, user_offline) about Alice; lines: {:#?}",
            socket.seen()
        );
    }
}

on_both_stores!(two_tabs_keep_a_user_online_and_only_admins_and_peers_hear_of_it);

#[tokio::test]
async fn a_reload_within_the_grace_period_announces_neither_offline_nor_online_again() {
    // Arrange
    let app = spawn(Backend::Sqlite, RELOAD_GRACE).await;
    let admin = app.login_as_admin().await;
    let alice = app.register(&unique_email("reload-alice")).await;
    let bob = app.register(&unique_email("reload-peer")).await;
    make_peers(&app, &alice, &bob).await;
    let mut admin_socket = app.socket(&admin.token).await;
    let mut bob_socket = app.socket(&bob.token).await;
    let mut tab = app.socket(&alice.token).await;
    for (who, socket) in [("the admin", &mut admin_socket), ("Bob", &mut bob_socket)] {
        socket
            .expect(
                &format!("user_online about Alice for {who}"),
                WAIT,
                presence_event("user_online", &alice.id),
            )
            .await;
    }

    // Act: reload (the page's socket closes and a new one connects).
    let reloading = Instant::now();
    close_tab(&mut tab).await;
    let mut reloaded = app.socket(&alice.token).await;
    let took = reloading.elapsed();
    assert!(
        took < RELOAD_GRACE,
        "inconclusive: the reload took {took:?}, longer than the grace period {RELOAD_GRACE:?}"
    );

    // Assert: nothing at all, even once the grace period is over.
    let (admin_quiet, bob_quiet) = tokio::join!(
        admin_socket.receives_none_within(RELOAD_GRACE + QUIET, any_presence_event(&alice.id)),
        bob_socket.receives_none_within(RELOAD_GRACE + QUIET, any_presence_event(&alice.id)),
    );
    assert!(
        admin_quiet,
        "the admin heard the reload: {:#?}",
        admin_socket.seen()
    );
    assert!(bob_quiet, "Bob heard the reload: {:#?}", bob_socket.seen());
    let online = users(&app, &admin, Some(true)).await;
    assert!(
        node_of(&online, &alice.id).is_some(),
        "users(online: true) lists Alice after the reload: {online:#?}"
    );

    // The positive counterpart: closing for good is announced, once.
    close_tab(&mut reloaded).await;
    for (who, socket) in [("the admin", &mut admin_socket), ("Bob", &mut bob_socket)] {
        socket
            .expect(
                &format!("user_offline about Alice for {who}"),
                WAIT,
                presence_event("user_offline", &alice.id),
            )
            .await;
        assert_eq!(
            (
                count_seen(socket, presence_event("user_online", &alice.id)),
                count_seen(socket, presence_event("user_offline", &alice.id)),
            ),
            (1, 1),
            "{who}: (user_online, user_offline) about Alice; lines: {:#?}",
            socket.seen()
        );
    }
}

async fn a_graphql_websocket_counts_as_presence_and_last_active_is_stored(backend: Backend) {
    // Arrange
    let app = spawn(backend, GRACE).await;
    let admin = app.login_as_admin().await;
    let alice = app.register(&unique_email("gql-presence-alice")).await;
    let bob = app.register(&unique_email("gql-presence-peer")).await;
    let carol = app.register(&unique_email("gql-presence-stranger")).await;
    // Bob writes (so Alice's own lastActive is untouched so far).
    make_peers(&app, &bob, &alice).await;
    let everyone = users(&app, &admin, None).await;
    let before =
        node_of(&everyone, &alice.id).unwrap_or_else(|| panic!("users lists Alice: {everyone:#?}"));
    assert_eq!(
        before,
        &json!({ "id": alice.id, "online": false, "presence": "OFFLINE", "lastActive": null }),
        "Alice before she ever connected"
    );
    let mut admin_client = app.graphql_ws_client(&admin.token).await;
    let mut bob_client = app.graphql_ws_client(&bob.token).await;
    let mut carol_client = app.graphql_ws_client(&carol.token).await;
    subscribe(&mut admin_client, &[("pc", PRESENCE_CHANGED)]).await;
    subscribe(&mut bob_client, &[("pc", PRESENCE_CHANGED)]).await;
    subscribe(
        &mut carol_client,
        &[("pc", PRESENCE_CHANGED), ("np", NEW_PRODUCT)],
    )
    .await;
    let mut admin_socket = app.socket(&admin.token).await;

    // Act: Alice's only connection is a GraphQL WebSocket.
    let mut alice_client = app.graphql_ws_client(&alice.token).await;

    // Assert: announced online on both doors, and stored.
    let mut online_at = Vec::new();
    for (who, client) in [("the admin", &mut admin_client), ("Bob", &mut bob_client)] {
        let line = client
            .expect(
                &format!("presenceChanged online about Alice for {who}"),
                WAIT,
                presence_changed(&alice.id),
            )
            .await;
        online_at.push(assert_presence_changed(&line, &alice.id, true, who));
    }
    let line = admin_socket
        .expect(
            "user_online about Alice on the admin's socket",
            WAIT,
            presence_event("user_online", &alice.id),
        )
        .await;
    online_at.push(assert_presence_payload(
        &line,
        &alice.id,
        true,
        "the admin's socket",
    ));
    assert!(
        online_at.iter().all(|at| *at == online_at[0]),
        "one announcement, one lastActive: {online_at:?}"
    );
    let online = users(&app, &admin, Some(true)).await;
    let node = node_of(&online, &alice.id)
        .unwrap_or_else(|| panic!("users(online: true) lists Alice: {online:#?}"));
    assert_eq!(
        node,
        &json!({
            "id": alice.id,
            "online": true,
            "presence": "ONLINE",
            "lastActive": online_at[0],
        }),
        "Alice connected over GraphQL"
    );
    assert_eq!(
        users_online(&app, &admin).await,
        4,
        "usersOnline: the admin, Alice, Bob and Carol"
    );

    // Act: Alice's GraphQL WebSocket closes.
    let closing = Instant::now();
    dispose(&mut alice_client).await;

    // Assert
    let mut offline_at = Vec::new();
    for (who, client) in [("the admin", &mut admin_client), ("Bob", &mut bob_client)] {
        let line = client
            .expect(
                &format!("presenceChanged offline about Alice for {who}"),
                WAIT,
                |line| {
                    presence_changed(&alice.id)(line)
                        && line["payload"]["data"]["presenceChanged"]["online"] == false
                },
            )
            .await;
        offline_at.push(assert_presence_changed(&line, &alice.id, false, who));
    }
    let took = closing.elapsed();
    assert!(
        took >= GRACE,
        "offline came {took:?} after the connection closed, before the grace period ({GRACE:?})"
    );
    let line = admin_socket
        .expect(
            "user_offline about Alice on the admin's socket",
            WAIT,
            presence_event("user_offline", &alice.id),
        )
        .await;
    offline_at.push(assert_presence_payload(
        &line,
        &alice.id,
        false,
        "the admin's socket",
    ));
    assert!(
        offline_at.iter().all(|at| *at == offline_at[0]),
        "one announcement, one lastActive: {offline_at:?}"
    );
    assert!(
        offline_at[0] >= online_at[0],
        "lastActive moves forward: online {} then offline {}",
        online_at[0],
        offline_at[0]
    );
    let online = users(&app, &admin, Some(true)).await;
    assert!(
        node_of(&online, &alice.id).is_none(),
        "users(online: true) still lists Alice: {online:#?}"
    );
    let everyone = users(&app, &admin, None).await;
    let node =
        node_of(&everyone, &alice.id).unwrap_or_else(|| panic!("users lists Alice: {everyone:#?}"));
    assert_eq!(
        node,
        &json!({
            "id": alice.id,
            "online": false,
            "presence": "RECENTLY_ACTIVE",
            "lastActive": offline_at[0],
        }),
        "Alice after her connection closed"
    );

    // The unrelated user's subscription heard nothing about Alice (sentinel:
    // a product created after both announcements).
    let created = app
        .graphql_ok(
            "mutation { createProduct(input: { name: \"Sentinel\", price: 1.0, stock: 1 }) { id } }",
            json!({}),
            Some(&admin.token),
        )
        .await;
    let product_id = created["createProduct"]["id"]
        .as_str()
        .expect("a product id")
        .to_owned();
    carol_client
        .expect("newProduct for Carol (sentinel)", WAIT, |line| {
            line["kind"] == "next"
                && line["id"] == "np"
                && line["payload"]["data"]["newProduct"]["id"] == product_id.as_str()
        })
        .await;
    assert!(
        carol_client
            .receives_none_within(QUIET, presence_changed(&alice.id))
            .await,
        "Carol (no conversation with Alice) got presenceChanged about her: {:#?}",
        carol_client.seen()
    );
    for (who, client) in [("the admin", &admin_client), ("Bob", &bob_client)] {
        assert_eq!(
            count_seen(client, presence_changed(&alice.id)),
            2,
            "{who}: one presenceChanged online and one offline about Alice; lines: {:#?}",
            client.seen()
        );
    }
}

on_both_stores!(a_graphql_websocket_counts_as_presence_and_last_active_is_stored);

// ---------------------------------------------------------------------------
// Connections never outlive their authority
// ---------------------------------------------------------------------------

#[tokio::test]
async fn an_expired_token_ends_its_socket_and_closes_its_graphql_websocket_and_a_fresh_token_reconnects()
 {
    // Arrange
    let app = spawn(Backend::Sqlite, GRACE).await;
    let alice = app.register(&unique_email("expiry-alice")).await;
    let (short, expires_at) = short_lived_token(&app, &alice.id, Role::User, 2);
    let mut socket = app.socket(&short).await;
    let mut client = app.graphql_ws_client(&short).await;
    subscribe(&mut client, &[("pc", PRESENCE_CHANGED)]).await;

    // Act: the token runs out.
    tokio::join!(
        assert_session_ended(&mut socket, "token_expired"),
        assert_closed_with(&mut client, "token_expired"),
    );

    // Assert: not before the token's exp.
    let now = chrono::Utc::now().timestamp();
    assert!(
        now >= expires_at,
        "the connections were ended at {now}, before the token's exp {expires_at}"
    );

    // Act: reconnect with a fresh token.
    let fresh = app.login(&alice.email, PASSWORD).await;
    let mut socket = app.socket(&fresh.token).await;
    let mut client = app.graphql_ws_client(&fresh.token).await;

    // Assert
    let me = me_over(&mut client, "me").await;
    assert_eq!(me["id"], alice.id.as_str(), "{me}");
    let (socket_quiet, client_quiet) = tokio::join!(
        socket.receives_none_within(QUIET, |line| {
            is_event("session_ended")(line) || is_kind("disconnect")(line)
        }),
        client.receives_none_within(QUIET, is_kind("closed")),
    );
    assert!(
        socket_quiet,
        "the fresh socket was ended: {:#?}",
        socket.seen()
    );
    assert!(
        client_quiet,
        "the fresh GraphQL WebSocket was closed: {:#?}",
        client.seen()
    );
}

async fn logout_and_a_role_change_end_live_connections_within_a_second(backend: Backend) {
    // Arrange
    let app = spawn(backend, GRACE).await;
    let admin = app.login_as_admin().await;
    let alice = app.register(&unique_email("authority-logout")).await;
    let bob = app.register(&unique_email("authority-promoted")).await;
    let carol = app.register(&unique_email("authority-bystander")).await;
    let mut alice_socket = app.socket(&alice.token).await;
    let mut alice_client = app.graphql_ws_client(&alice.token).await;
    subscribe(&mut alice_client, &[("pc", PRESENCE_CHANGED)]).await;
    let mut bob_socket = app.socket(&bob.token).await;
    let mut bob_client = app.graphql_ws_client(&bob.token).await;
    subscribe(&mut bob_client, &[("pc", PRESENCE_CHANGED)]).await;
    let mut carol_socket = app.socket(&carol.token).await;
    let mut carol_client = app.graphql_ws_client(&carol.token).await;
    subscribe(&mut carol_client, &[("pc", PRESENCE_CHANGED)]).await;

    // Act: Alice signs out.
    let started = Instant::now();
    let response = app.logout(&alice.refresh_token).await;
    assert_eq!(response.status(), 200, "POST /auth/logout");

    // Assert
    tokio::join!(
        assert_session_ended(&mut alice_socket, "logged_out"),
        assert_closed_with(&mut alice_client, "logged_out"),
    );
    let took = started.elapsed();
    assert!(
        took <= WITHIN_A_SECOND,
        "the logout reached Alice's connections after {took:?}"
    );

    // Act: Bob is made an admin.
    let started = Instant::now();
    set_role(&app, &admin, &bob, "ADMIN").await;

    // Assert
    tokio::join!(
        assert_session_ended(&mut bob_socket, "role_changed"),
        assert_closed_with(&mut bob_client, "role_changed"),
    );
    let took = started.elapsed();
    assert!(
        took <= WITHIN_A_SECOND,
        "the role change reached Bob's connections after {took:?}"
    );

    // The bystander's connections live on.
    let (socket_quiet, client_quiet) = tokio::join!(
        carol_socket.receives_none_within(QUIET, |line| {
            is_event("session_ended")(line) || is_kind("disconnect")(line)
        }),
        carol_client.receives_none_within(QUIET, is_kind("closed")),
    );
    assert!(
        socket_quiet,
        "Carol's socket was ended: {:#?}",
        carol_socket.seen()
    );
    assert!(
        client_quiet,
        "Carol's GraphQL WebSocket was closed: {:#?}",
        carol_client.seen()
    );
    let me = me_over(&mut carol_client, "carol-me").await;
    assert_eq!(me["id"], carol.id.as_str(), "{me}");

    // Fresh tokens reconnect, with the new role.
    let bob_again = app.login(&bob.email, PASSWORD).await;
    let _bob_socket = app.socket(&bob_again.token).await;
    let mut bob_client = app.graphql_ws_client(&bob_again.token).await;
    let me = me_over(&mut bob_client, "bob-me").await;
    assert_eq!(me, json!({ "id": bob.id, "role": "ADMIN" }));
    let alice_again = app.login(&alice.email, PASSWORD).await;
    let _alice_socket = app.socket(&alice_again.token).await;
    let mut alice_client = app.graphql_ws_client(&alice_again.token).await;
    let me = me_over(&mut alice_client, "alice-me").await;
    assert_eq!(me, json!({ "id": alice.id, "role": "USER" }));
}

on_both_stores!(logout_and_a_role_change_end_live_connections_within_a_second);

async fn a_demoted_admin_is_disconnected_and_hears_no_further_new_order(backend: Backend) {
    // Arrange: a second admin, with a socket and a newOrder subscription
    // that do receive new orders.
    let app = spawn(backend, GRACE).await;
    let admin = app.login_as_admin().await;
    let dave = app.register(&unique_email("demoted-dave")).await;
    set_role(&app, &admin, &dave, "ADMIN").await;
    let dave = app.login(&dave.email, PASSWORD).await;
    let alice = app.register(&unique_email("demotion-buyer")).await;
    let product = app
        .create_product(&admin.token, "Demotion Lamp", 10.0, 10)
        .await;
    let product_id = product["id"].as_str().expect("a product id").to_owned();
    let mut admin_socket = app.socket(&admin.token).await;
    let mut dave_socket = app.socket(&dave.token).await;
    let mut dave_client = app.graphql_ws_client(&dave.token).await;
    subscribe(&mut dave_client, &[("no", NEW_ORDER)]).await;
    let gql_new_order = |order_id: &str| {
        let order_id = order_id.to_owned();
        move |line: &Value| {
            line["kind"] == "next"
                && line["id"] == "no"
                && line["payload"]["data"]["newOrder"]["id"] == order_id.as_str()
        }
    };
    let before = place(&app, &alice, &product_id).await;
    dave_socket
        .expect(
            "new_order for Dave while an admin",
            WAIT,
            new_order(&before),
        )
        .await;
    dave_client
        .expect(
            "newOrder for Dave while an admin",
            WAIT,
            gql_new_order(&before),
        )
        .await;
    admin_socket
        .expect("new_order for the admin", WAIT, new_order(&before))
        .await;

    // Act: the bootstrap admin demotes Dave.
    set_role(&app, &admin, &dave, "USER").await;

    // Assert: his connections end, and a later order does not reach them.
    tokio::join!(
        assert_session_ended(&mut dave_socket, "role_changed"),
        assert_closed_with(&mut dave_client, "role_changed"),
    );
    let after = place(&app, &alice, &product_id).await;
    admin_socket
        .expect(
            "new_order for the admin after the demotion",
            WAIT,
            new_order(&after),
        )
        .await;
    let (socket_quiet, client_quiet) = tokio::join!(
        dave_socket.receives_none_within(QUIET, new_order(&after)),
        dave_client.receives_none_within(QUIET, gql_new_order(&after)),
    );
    assert!(
        socket_quiet,
        "Dave's old admin socket heard new_order after his demotion: {:#?}",
        dave_socket.seen()
    );
    assert!(
        client_quiet,
        "Dave's old GraphQL subscription got newOrder after his demotion: {:#?}",
        dave_client.seen()
    );
    assert!(
        admin_socket
            .receives_none_within(QUIET, is_kind("disconnect"))
            .await,
        "the admin who demoted Dave was disconnected: {:#?}",
        admin_socket.seen()
    );

    // Reconnecting with a fresh token works, as a user: no admin news.
    let dave_again = app.login(&dave.email, PASSWORD).await;
    let mut dave_socket = app.socket(&dave_again.token).await;
    let third = place(&app, &alice, &product_id).await;
    admin_socket
        .expect(
            "new_order for the admin (sentinel)",
            WAIT,
            new_order(&third),
        )
        .await;
    assert!(
        dave_socket
            .receives_none_within(QUIET, is_event("new_order"))
            .await,
        "Dave, reconnected as a user, heard new_order: {:#?}",
        dave_socket.seen()
    );
}

on_both_stores!(a_demoted_admin_is_disconnected_and_hears_no_further_new_order);

#[tokio::test]
async fn tokens_held_before_a_demotion_or_a_sign_out_no_longer_open_anything() {
    // Arrange: a second admin, signed in before being demoted.
    let app = spawn(Backend::Sqlite, GRACE).await;
    let admin = app.login_as_admin().await;
    let deputy = app.register(&unique_email("deputy")).await;
    set_role(&app, &admin, &deputy, "ADMIN").await;
    let deputy = app.login(&deputy.email, PASSWORD).await;
    let leaver = app.register(&unique_email("leaver")).await;

    // Act: demote one, sign the other out.
    set_role(&app, &admin, &deputy, "USER").await;
    let response = app.logout(&leaver.refresh_token).await;
    assert_eq!(response.status(), 200);

    // Assert: the old access tokens open nothing, on any door.
    for (who, token) in [
        ("demoted admin", &deputy.token),
        ("signed-out user", &leaver.token),
    ] {
        let mut socket = NodeClient::socketio(&app.address, json!({ "token": token })).await;
        socket
            .expect(
                &format!("{who}: connect_error"),
                WAIT,
                is_kind("connect_error"),
            )
            .await;
        let mut graphql_ws = NodeClient::graphql_ws(&app.ws_url(), json!({ "token": token })).await;
        let closed = graphql_ws
            .expect(&format!("{who}: closed"), WAIT, is_kind("closed"))
            .await;
        assert_eq!(closed["code"], FORBIDDEN, "{who}: {closed}");
        let me = app.graphql("{ me { id } }", json!({}), Some(token)).await;
        assert_eq!(
            me["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
            "{who}: {me}"
        );
    }
    let orders = app.get("/orders", Some(&deputy.token)).await;
    assert_eq!(
        orders.status(),
        401,
        "the demoted admin's old token still lists orders"
    );

    // A fresh sign-in works at once, with the new role.
    let again = app.login(&deputy.email, PASSWORD).await;
    let me = app
        .graphql("{ me { role } }", json!({}), Some(&again.token))
        .await;
    assert_eq!(me["data"]["me"]["role"], "USER", "{me}");
    let orders = app.get("/orders", Some(&again.token)).await;
    assert_eq!(orders.status(), 403);
}
