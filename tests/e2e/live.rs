//! Live catalogue and order news, with the real clients (`socket.io-client`,
//! `graphql-ws`), on both stores: everyone hears about new products, only
//! admins hear about new orders, and a status move reaches the order's owner
//! and the admins, nobody else.
//!
//! A "never arrives" check always comes after the positive counterpart has
//! arrived somewhere (the admin got it), and where possible after a later
//! event that the same client does receive (a sentinel): events reach one
//! client in order, so anything that was going to arrive is in its buffer.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::node::NodeClient;
use crate::support::steps::id_of;
use crate::support::{Account, Backend, TestApp, on_both_stores, unique_email};

/// How long to wait for something that must happen.
const WAIT: Duration = Duration::from_secs(10);
/// How long to watch for something that must not happen (after its positive
/// counterpart has been seen).
const QUIET: Duration = Duration::from_millis(500);

/// `POST /orders` that must succeed; returns the order JSON.
async fn place(app: &TestApp, account: &Account, product_id: &str) -> Value {
    let response = app.place_order(&account.token, product_id, 1).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "POST /orders: {body}");
    body["data"].clone()
}

/// `PUT /orders/:id {status}` as the admin, which must succeed; returns the order.
async fn rest_move(app: &TestApp, admin: &Account, order_id: &str, status: &str) -> Value {
    let response = app
        .put(
            &format!("/orders/{order_id}"),
            json!({ "status": status }),
            Some(&admin.token),
        )
        .await;
    let code = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(code, 200, "PUT /orders/{order_id} {status}: {body}");
    body["data"].clone()
}

// ---------------------------------------------------------------------------
// Socket.IO
// ---------------------------------------------------------------------------

/// A Socket.IO `event` whose first argument has `key == value`.
fn sio_event(
    event: &'static str,
    key: &'static str,
    value: &str,
) -> impl Fn(&Value) -> bool + use<> {
    let value = value.to_owned();
    move |line| {
        line["kind"] == "event" && line["event"] == event && line["args"][0][key] == value.as_str()
    }
}

/// Asserts an `order_status_update` for `order` (as the mover saw it).
fn assert_status_update(line: &Value, order: &Value, who: &str) {
    let payload = &line["args"][0];
    assert_eq!(
        payload["orderId"], order["id"],
        "{who}: orderId in {payload}"
    );
    assert_eq!(
        payload["userId"], order["userId"],
        "{who}: userId in {payload}"
    );
    assert_eq!(
        payload["status"], order["status"],
        "{who}: status in {payload}"
    );
    assert_eq!(
        payload["updatedAt"], order["updatedAt"],
        "{who}: updatedAt in {payload}"
    );
}

async fn socketio_events_reach_exactly_their_audience(backend: Backend) {
    // Arrange
    let app = TestApp::spawn_with(backend, |_| {}).await;
    let admin = app.login_as_admin().await;
    let alice = app.register(&unique_email("live-sio-alice")).await;
    let bob = app.register(&unique_email("live-sio-bob")).await;

    // Nobody listens anonymously: a socket without a token is refused.
    let mut anonymous = NodeClient::socketio(&app.address, Value::Null).await;
    let outcome = anonymous
        .expect("the anonymous handshake outcome", WAIT, |line| {
            line["kind"] == "connect_error" || line["kind"] == "connect"
        })
        .await;
    assert_eq!(outcome["kind"], "connect_error", "{outcome}");

    let mut admin_socket = app.socket(&admin.token).await;
    let mut alice_socket = app.socket(&alice.token).await;
    let mut bob_socket = app.socket(&bob.token).await;

    // --- new_product: every socket, exactly once ---
    let product = app
        .create_product(&admin.token, "Live Lamp", 12.5, 10)
        .await;
    let product_id = id_of(&product);
    let mut expected = product.clone();
    expected["productId"] = json!(product_id);
    for (who, socket) in [
        ("admin", &mut admin_socket),
        ("Alice", &mut alice_socket),
        ("Bob", &mut bob_socket),
    ] {
        let line = socket
            .expect(
                &format!("new_product for {who}"),
                WAIT,
                sio_event("new_product", "productId", &product_id),
            )
            .await;
        assert!(line["args"][0]["position"].is_string(), "{line}");
        assert_eq!(
            crate::support::without_position(&line["args"]),
            json!([expected]),
            "{who}: new_product payload"
        );
    }
    let (admin_again, alice_again, bob_again) = tokio::join!(
        admin_socket
            .receives_none_within(QUIET, sio_event("new_product", "productId", &product_id)),
        alice_socket
            .receives_none_within(QUIET, sio_event("new_product", "productId", &product_id)),
        bob_socket.receives_none_within(QUIET, sio_event("new_product", "productId", &product_id)),
    );
    assert!(
        admin_again && alice_again && bob_again,
        "new_product arrived twice (admin ok: {admin_again}, Alice ok: {alice_again}, Bob ok: {bob_again})"
    );

    // --- new_order: admins only ---
    let order = place(&app, &alice, &product_id).await;
    let order_id = id_of(&order);
    let line = admin_socket
        .expect(
            "new_order for the admin",
            WAIT,
            sio_event("new_order", "orderId", &order_id),
        )
        .await;
    let mut expected = order.clone();
    expected["orderId"] = json!(order_id);
    assert_eq!(
        crate::support::without_position(&line["args"]),
        json!([expected]),
        "new_order payload"
    );
    let is_new_order = |line: &Value| line["kind"] == "event" && line["event"] == "new_order";
    let (alice_quiet, bob_quiet) = tokio::join!(
        alice_socket.receives_none_within(QUIET, is_new_order),
        bob_socket.receives_none_within(QUIET, is_new_order),
    );
    assert!(
        alice_quiet,
        "Alice (a user, the buyer) heard new_order: {:#?}",
        alice_socket.seen()
    );
    assert!(
        bob_quiet,
        "Bob (a user) heard new_order: {:#?}",
        bob_socket.seen()
    );

    // --- order_status_update: the owner and the admins ---
    let bob_order = place(&app, &bob, &product_id).await;
    let bob_order_id = id_of(&bob_order);
    let moved = rest_move(&app, &admin, &order_id, "processing").await;
    for (who, socket) in [("Alice", &mut alice_socket), ("admin", &mut admin_socket)] {
        let line = socket
            .expect(
                &format!("order_status_update for {who}"),
                WAIT,
                sio_event("order_status_update", "orderId", &order_id),
            )
            .await;
        assert_status_update(&line, &moved, who);
    }
    // Sentinel: Bob's own order moves after Alice's; once he has heard about
    // his, he would have heard about hers already.
    let bob_moved = rest_move(&app, &admin, &bob_order_id, "processing").await;
    let line = bob_socket
        .expect(
            "order_status_update of Bob's own order",
            WAIT,
            sio_event("order_status_update", "orderId", &bob_order_id),
        )
        .await;
    assert_status_update(&line, &bob_moved, "Bob");
    admin_socket
        .expect(
            "order_status_update of Bob's order for the admin",
            WAIT,
            sio_event("order_status_update", "orderId", &bob_order_id),
        )
        .await;
    let (bob_quiet, alice_quiet) = tokio::join!(
        bob_socket.receives_none_within(
            QUIET,
            sio_event("order_status_update", "orderId", &order_id)
        ),
        alice_socket.receives_none_within(
            QUIET,
            sio_event("order_status_update", "orderId", &bob_order_id)
        ),
    );
    assert!(
        bob_quiet,
        "Bob heard Alice's status move: {:#?}",
        bob_socket.seen()
    );
    assert!(
        alice_quiet,
        "Alice heard Bob's status move: {:#?}",
        alice_socket.seen()
    );

    // --- update_order_status over Socket.IO by the admin ---
    let ack = admin_socket
        .emit_with_ack(
            "update_order_status",
            json!({ "orderId": order_id, "status": "shipped" }),
            WAIT,
        )
        .await;
    assert_eq!(ack[0]["status"], "success", "the admin's ack: {ack}");
    let shipped = ack[0]["data"].clone();
    assert_eq!(shipped["id"], order_id.as_str(), "{ack}");
    assert_eq!(shipped["status"], "shipped", "{ack}");
    assert_eq!(shipped["userId"], alice.id.as_str(), "{ack}");
    for (who, socket) in [("Alice", &mut alice_socket), ("admin", &mut admin_socket)] {
        let line = socket
            .expect(&format!("the shipped update for {who}"), WAIT, |line| {
                sio_event("order_status_update", "orderId", &order_id)(line)
                    && line["args"][0]["status"] == "shipped"
            })
            .await;
        assert_status_update(&line, &shipped, who);
    }
    // Sentinel for Bob again.
    rest_move(&app, &admin, &bob_order_id, "shipped").await;
    bob_socket
        .expect("Bob's own shipped update", WAIT, |line| {
            sio_event("order_status_update", "orderId", &bob_order_id)(line)
                && line["args"][0]["status"] == "shipped"
        })
        .await;
    assert!(
        bob_socket
            .receives_none_within(
                QUIET,
                sio_event("order_status_update", "orderId", &order_id)
            )
            .await,
        "Bob heard Alice's order move over Socket.IO: {:#?}",
        bob_socket.seen()
    );

    // Each status move reached each of its audience once.
    let admin_heard = admin_socket
        .seen()
        .iter()
        .filter(|line| line.contains("\"order_status_update\"") && line.contains(&order_id))
        .count();
    assert_eq!(admin_heard, 2, "the admin heard each of Alice's moves once");
    let alice_heard = alice_socket
        .seen()
        .iter()
        .filter(|line| line.contains("\"order_status_update\"") && line.contains(&order_id))
        .count();
    assert_eq!(alice_heard, 2, "Alice heard each of her moves once");
}

on_both_stores!(socketio_events_reach_exactly_their_audience);

// ---------------------------------------------------------------------------
// GraphQL subscriptions
// ---------------------------------------------------------------------------

const NEW_PRODUCT: &str = "subscription { newProduct { id name price stock } }";
const NEW_ORDER: &str =
    "subscription { newOrder { id quantity total status user { id } product { id } } }";
const STATUS_UPDATED: &str = "subscription { orderStatusUpdated { id status user { id } } }";

/// A `next` for subscription `id` whose `data.field.id` is `value`.
fn gql_next(id: &'static str, field: &'static str, value: &str) -> impl Fn(&Value) -> bool + use<> {
    let value = value.to_owned();
    move |line| {
        line["kind"] == "next"
            && line["id"] == id
            && line["payload"]["data"][field]["id"] == value.as_str()
    }
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
    client
        .send(json!({ "cmd": "query", "id": "ready", "query": "{ me { id } }" }))
        .await;
    let answer = client
        .expect("the ready query", WAIT, |line| {
            line["kind"] == "next" && line["id"] == "ready"
        })
        .await;
    assert!(answer["payload"]["errors"].is_null(), "{answer}");
    client
        .expect("the ready query's complete", WAIT, |line| {
            line["kind"] == "complete" && line["id"] == "ready"
        })
        .await;
}

/// The GraphQL errors with which subscription `id` was refused: a
/// graphql-ws `error` message, or a `next` carrying errors and no data.
async fn refusal(client: &mut NodeClient, id: &'static str) -> Value {
    let line = client
        .expect(&format!("{id} refused"), WAIT, |line| {
            line["id"] == id
                && (line["kind"] == "sub_error"
                    || (line["kind"] == "next" && !line["payload"]["errors"].is_null()))
        })
        .await;
    if line["kind"] == "sub_error" {
        line["errors"].clone()
    } else {
        assert!(
            line["payload"]["data"].is_null(),
            "refused with data: {line}"
        );
        line["payload"]["errors"].clone()
    }
}

async fn graphql_subscriptions_reach_exactly_their_audience(backend: Backend) {
    // Arrange
    let app = TestApp::spawn_with(backend, |_| {}).await;
    let admin = app.login_as_admin().await;
    let alice = app.register(&unique_email("live-gql-alice")).await;
    let bob = app.register(&unique_email("live-gql-bob")).await;
    let mut admin_client = app.graphql_ws_client(&admin.token).await;
    let mut alice_client = app.graphql_ws_client(&alice.token).await;
    let mut bob_client = app.graphql_ws_client(&bob.token).await;
    let everything = [
        ("np", NEW_PRODUCT),
        ("no", NEW_ORDER),
        ("osu", STATUS_UPDATED),
    ];
    subscribe_all(&mut admin_client, &everything).await;
    subscribe_all(&mut alice_client, &everything).await;
    subscribe_all(&mut bob_client, &everything).await;

    // newOrder is refused to users, with FORBIDDEN.
    for (who, client) in [("Alice", &mut alice_client), ("Bob", &mut bob_client)] {
        let errors = refusal(client, "no").await;
        assert_eq!(
            errors[0]["extensions"]["code"], "FORBIDDEN",
            "{who}'s newOrder refusal: {errors}"
        );
    }

    // --- newProduct: everyone, once ---
    let data = app
        .graphql_ok(
            "mutation { createProduct(input: { name: \"Live Kettle\", price: 24.99, stock: 10 }) { id name price stock } }",
            json!({}),
            Some(&admin.token),
        )
        .await;
    let product = data["createProduct"].clone();
    let product_id = id_of(&product);
    for (who, client) in [
        ("admin", &mut admin_client),
        ("Alice", &mut alice_client),
        ("Bob", &mut bob_client),
    ] {
        let line = client
            .expect(
                &format!("newProduct for {who}"),
                WAIT,
                gql_next("np", "newProduct", &product_id),
            )
            .await;
        assert_eq!(line["payload"]["data"]["newProduct"], product, "{who}");
    }
    let (admin_again, alice_again, bob_again) = tokio::join!(
        admin_client.receives_none_within(QUIET, gql_next("np", "newProduct", &product_id)),
        alice_client.receives_none_within(QUIET, gql_next("np", "newProduct", &product_id)),
        bob_client.receives_none_within(QUIET, gql_next("np", "newProduct", &product_id)),
    );
    assert!(
        admin_again && alice_again && bob_again,
        "newProduct arrived twice (admin ok: {admin_again}, Alice ok: {alice_again}, Bob ok: {bob_again})"
    );

    // --- newOrder: the admin only ---
    let data = app
        .graphql_ok(
            "mutation($p: ID!) { placeOrder(productId: $p, quantity: 2) { id } }",
            json!({ "p": product_id }),
            Some(&alice.token),
        )
        .await;
    let order_id = id_of(&data["placeOrder"]);
    let line = admin_client
        .expect(
            "newOrder for the admin",
            WAIT,
            gql_next("no", "newOrder", &order_id),
        )
        .await;
    assert_eq!(
        line["payload"]["data"]["newOrder"],
        json!({
            "id": order_id,
            "quantity": 2,
            "total": 49.98,
            "status": "PENDING",
            "user": { "id": alice.id },
            "product": { "id": product_id },
        }),
        "newOrder payload"
    );
    let a_new_order = |line: &Value| {
        line["id"] == "no" && line["kind"] == "next" && !line["payload"]["data"].is_null()
    };
    let (alice_quiet, bob_quiet) = tokio::join!(
        alice_client.receives_none_within(QUIET, a_new_order),
        bob_client.receives_none_within(QUIET, a_new_order),
    );
    assert!(
        alice_quiet,
        "Alice got newOrder: {:#?}",
        alice_client.seen()
    );
    assert!(bob_quiet, "Bob got newOrder: {:#?}", bob_client.seen());

    // --- orderStatusUpdated: the owner and the admins ---
    let data = app
        .graphql_ok(
            "mutation($p: ID!) { placeOrder(productId: $p) { id } }",
            json!({ "p": product_id }),
            Some(&bob.token),
        )
        .await;
    let bob_order_id = id_of(&data["placeOrder"]);
    let move_to = |id: &str, status: &str| json!({ "id": id, "status": status });
    const MOVE: &str = "mutation($id: ID!, $status: OrderStatus!) { updateOrderStatus(id: $id, status: $status) { id status } }";
    app.graphql_ok(MOVE, move_to(&order_id, "PROCESSING"), Some(&admin.token))
        .await;
    for (who, client) in [("Alice", &mut alice_client), ("admin", &mut admin_client)] {
        let line = client
            .expect(
                &format!("orderStatusUpdated for {who}"),
                WAIT,
                gql_next("osu", "orderStatusUpdated", &order_id),
            )
            .await;
        assert_eq!(
            line["payload"]["data"]["orderStatusUpdated"],
            json!({ "id": order_id, "status": "PROCESSING", "user": { "id": alice.id } }),
            "{who}"
        );
    }
    // Sentinel: Bob's own order moves after Alice's.
    app.graphql_ok(MOVE, move_to(&bob_order_id, "SHIPPED"), Some(&admin.token))
        .await;
    bob_client
        .expect(
            "orderStatusUpdated of Bob's own order",
            WAIT,
            gql_next("osu", "orderStatusUpdated", &bob_order_id),
        )
        .await;
    admin_client
        .expect(
            "orderStatusUpdated of Bob's order for the admin",
            WAIT,
            gql_next("osu", "orderStatusUpdated", &bob_order_id),
        )
        .await;
    let (bob_quiet, alice_quiet) = tokio::join!(
        bob_client.receives_none_within(QUIET, gql_next("osu", "orderStatusUpdated", &order_id)),
        alice_client
            .receives_none_within(QUIET, gql_next("osu", "orderStatusUpdated", &bob_order_id)),
    );
    assert!(
        bob_quiet,
        "Bob got Alice's status move: {:#?}",
        bob_client.seen()
    );
    assert!(
        alice_quiet,
        "Alice got Bob's status move: {:#?}",
        alice_client.seen()
    );

    // A move made over Socket.IO reaches the GraphQL subscribers too.
    let mut admin_socket = app.socket(&admin.token).await;
    let ack = admin_socket
        .emit_with_ack(
            "update_order_status",
            json!({ "orderId": order_id, "status": "delivered" }),
            WAIT,
        )
        .await;
    assert_eq!(ack[0]["status"], "success", "{ack}");
    let line = alice_client
        .expect("DELIVERED for Alice", WAIT, |line| {
            gql_next("osu", "orderStatusUpdated", &order_id)(line)
                && line["payload"]["data"]["orderStatusUpdated"]["status"] == "DELIVERED"
        })
        .await;
    assert!(line["payload"]["errors"].is_null(), "{line}");
}

on_both_stores!(graphql_subscriptions_reach_exactly_their_audience);
