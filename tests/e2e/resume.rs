//! Resume after a disconnect: every event a client can miss has a position,
//! and a client that comes back with its last position gets exactly what it
//! missed, in order, then live events, with no duplicate, also across a
//! server restart, on both stores. Audiences hold on replay; a position the
//! log cannot continue from gets `resync_required` / 410, never a gap.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::node::NodeClient;
use crate::support::steps::is_event;
use crate::support::{Backend, TestApp, assert_rest_error, on_both_stores, unique_email};

const WAIT: Duration = Duration::from_secs(10);

/// The payload of the next `event` the socket receives.
async fn next(socket: &mut NodeClient, event: &'static str) -> Value {
    socket.expect(event, WAIT, is_event(event)).await["args"][0].clone()
}

/// The events the socket receives, in arrival order, until `resume_position`.
async fn until_resume_position(socket: &mut NodeClient) -> (Vec<(String, Value)>, String) {
    let mut received = Vec::new();
    loop {
        let line = socket
            .expect("an event or resume_position", WAIT, |line| {
                line["kind"] == "event"
            })
            .await;
        let name = line["event"].as_str().unwrap().to_owned();
        let payload = line["args"][0].clone();
        if name == "resume_position" {
            let position = payload["position"].as_str().unwrap().to_owned();
            return (received, position);
        }
        received.push((name, payload));
    }
}

async fn socket_with(app: &TestApp, auth: Value) -> NodeClient {
    let mut socket = NodeClient::socketio(&app.address, auth).await;
    socket
        .expect("connect", WAIT, |line| line["kind"] == "connect")
        .await;
    socket
}

fn position_of(payload: &Value) -> u64 {
    payload["position"]
        .as_str()
        .unwrap_or_else(|| panic!("no position in {payload}"))
        .parse()
        .unwrap()
}

async fn missed_events_are_replayed_in_order_then_live(backend: Backend, restart: bool) {
    let app = TestApp::spawn_with(backend, |_| {}).await;
    let admin = app.login_as_admin().await;
    let user = app.register(&unique_email("resumer")).await;
    let product = app.create_product(&admin.token, "Lamp", 12.5, 10).await;
    let product_id = product["id"].as_str().unwrap().to_owned();
    let first_order: Value = app
        .place_order(&user.token, &product_id, 1)
        .await
        .json()
        .await
        .unwrap();
    let first_order_id = first_order["data"]["id"].as_str().unwrap().to_owned();

    // Both connect once (no offset: as before, plus resume_position), then drop.
    let mut admin_socket = socket_with(&app, json!({ "token": admin.token })).await;
    let admin_from = next(&mut admin_socket, "resume_position").await["position"]
        .as_str()
        .unwrap()
        .to_owned();
    admin_socket.send(json!({ "cmd": "disconnect" })).await;
    let mut user_socket = socket_with(&app, json!({ "token": user.token })).await;
    let user_from = next(&mut user_socket, "resume_position").await["position"]
        .as_str()
        .unwrap()
        .to_owned();
    user_socket.send(json!({ "cmd": "disconnect" })).await;

    // While they are away: a new order, a status move, a new product.
    let second_order: Value = app
        .place_order(&user.token, &product_id, 2)
        .await
        .json()
        .await
        .unwrap();
    let second_order_id = second_order["data"]["id"].as_str().unwrap().to_owned();
    let moved = app
        .put(
            &format!("/orders/{first_order_id}"),
            json!({ "status": "processing" }),
            Some(&admin.token),
        )
        .await;
    assert_eq!(moved.status(), 200);
    app.create_product(&admin.token, "Desk", 80.0, 3).await;

    let app = if restart { app.restart().await } else { app };

    // The admin resumes: exactly the three, in order, then the head.
    let mut admin_socket =
        socket_with(&app, json!({ "token": admin.token, "offset": admin_from })).await;
    let (replayed, head) = until_resume_position(&mut admin_socket).await;
    let names: Vec<&str> = replayed.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        ["new_order", "order_status_update", "new_product"],
        "{replayed:?}"
    );
    assert_eq!(replayed[0].1["orderId"], second_order_id.as_str());
    assert_eq!(replayed[1].1["orderId"], first_order_id.as_str());
    assert_eq!(replayed[1].1["status"], "processing");
    assert_eq!(replayed[2].1["name"], "Desk");
    let positions: Vec<u64> = replayed.iter().map(|(_, p)| position_of(p)).collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "in order: {positions:?}"
    );
    assert_eq!(
        head.parse::<u64>().unwrap(),
        positions[2],
        "the head is the last one"
    );

    // Then live, after the replay, once.
    app.create_product(&admin.token, "Chair", 40.0, 5).await;
    let live = next(&mut admin_socket, "new_product").await;
    assert_eq!(live["name"], "Chair");
    assert!(position_of(&live) > positions[2]);
    assert!(
        admin_socket
            .receives_none_within(Duration::from_millis(500), |line| {
                line["kind"] == "event"
                    && line["event"] != "user_online"
                    && line["event"] != "user_offline"
            })
            .await,
        "no duplicate: {:?}",
        admin_socket.seen()
    );

    // The user resumes: their own order's move and the catalogue, never the
    // admins' new_order.
    let mut user_socket =
        socket_with(&app, json!({ "token": user.token, "offset": user_from })).await;
    let (replayed, _) = until_resume_position(&mut user_socket).await;
    let names: Vec<&str> = replayed.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        ["order_status_update", "new_product", "new_product"],
        "{replayed:?}"
    );
    assert_eq!(replayed[0].1["orderId"], first_order_id.as_str());
}

on_both_stores!(
    a_socket_resumes_with_exactly_what_it_missed =>
        |backend| missed_events_are_replayed_in_order_then_live(backend, false),
    a_socket_resumes_across_a_restart =>
        |backend| missed_events_are_replayed_in_order_then_live(backend, true),
);

#[tokio::test]
async fn a_forged_or_unknown_offset_gets_resync_required_and_then_live_events() {
    let app = TestApp::spawn().await;
    let admin = app.login_as_admin().await;
    for forged in [json!("999999"), json!("not-a-position"), json!(-3)] {
        let mut socket = socket_with(&app, json!({ "token": admin.token, "offset": forged })).await;
        let resync = next(&mut socket, "resync_required").await;
        assert_eq!(resync["reason"], "unknown_position", "{forged}");
        let head = next(&mut socket, "resume_position").await;
        assert!(head["position"].is_string());
        app.create_product(&admin.token, "After resync", 1.0, 1)
            .await;
        let live = next(&mut socket, "new_product").await;
        assert!(position_of(&live) > head["position"].as_str().unwrap().parse().unwrap());
        socket.send(json!({ "cmd": "disconnect" })).await;
    }
}

#[tokio::test]
async fn a_client_that_received_nothing_resumes_from_its_resume_position() {
    let app = TestApp::spawn().await;
    let admin = app.login_as_admin().await;
    let mut socket = socket_with(&app, json!({ "token": admin.token })).await;
    let from = next(&mut socket, "resume_position").await["position"].clone();
    socket.send(json!({ "cmd": "disconnect" })).await;
    app.create_product(&admin.token, "Missed", 2.0, 1).await;
    let mut socket = socket_with(&app, json!({ "token": admin.token, "offset": from })).await;
    let (replayed, _) = until_resume_position(&mut socket).await;
    assert_eq!(replayed.len(), 1, "{replayed:?}");
    assert_eq!(replayed[0].1["name"], "Missed");
}

#[tokio::test]
async fn live_events_carry_their_position_for_clients_without_an_offset() {
    let app = TestApp::spawn().await;
    let admin = app.login_as_admin().await;
    let mut socket = app.socket(&admin.token).await;
    let head: u64 = next(&mut socket, "resume_position").await["position"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    app.create_product(&admin.token, "Positioned", 3.0, 1).await;
    let event = next(&mut socket, "new_product").await;
    assert_eq!(position_of(&event), head + 1);
}

/// `GET` a page of `/events` that must succeed.
async fn events_page(app: &TestApp, path: &str, token: &str) -> Value {
    app.get(path, Some(token)).await.json().await.unwrap()
}

/// The `kind` of each event of a `/events` page, in order.
fn kinds_of(page: &Value) -> Vec<&str> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn polling_clients_read_the_log_over_rest_with_the_same_audiences() {
    let app = TestApp::spawn().await;
    let admin = app.login_as_admin().await;
    let user = app.register(&unique_email("poller")).await;

    let start: Value = app
        .get("/events", Some(&user.token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(start["status"], "success");
    assert_eq!(start["data"], json!([]), "without after: only the head");
    let from = start["meta"]["position"].as_str().unwrap().to_owned();

    let product = app.create_product(&admin.token, "Polled", 5.0, 5).await;
    let product_id = product["id"].as_str().unwrap();
    let order: Value = app
        .place_order(&user.token, product_id, 1)
        .await
        .json()
        .await
        .unwrap();
    let order_id = order["data"]["id"].as_str().unwrap();
    let other = app.register(&unique_email("other-buyer")).await;
    assert_eq!(
        app.place_order(&other.token, product_id, 1).await.status(),
        201
    );
    app.put(
        &format!("/orders/{order_id}"),
        json!({ "status": "shipped" }),
        Some(&admin.token),
    )
    .await;

    let page = events_page(&app, &format!("/events?after={from}"), &user.token).await;
    let kinds = kinds_of(&page);
    assert_eq!(kinds, ["product_added", "order_status_changed"], "{page}");
    assert_eq!(page["data"][1]["payload"]["status"], "shipped");
    assert!(page["meta"]["nextCursor"].is_null());

    let admin_page =
        events_page(&app, &format!("/events?after={from}&limit=2"), &admin.token).await;
    let kinds = kinds_of(&admin_page);
    assert_eq!(kinds, ["product_added", "order_placed"]);
    let cursor = admin_page["meta"]["nextCursor"].as_str().unwrap();
    let rest = events_page(&app, &format!("/events?after={cursor}"), &admin.token).await;
    let kinds = kinds_of(&rest);
    assert_eq!(kinds, ["order_placed", "order_status_changed"]);
    assert_eq!(rest["meta"]["position"], page["meta"]["position"]);

    for forged in ["999999", "abc"] {
        let response = app
            .get(&format!("/events?after={forged}"), Some(&user.token))
            .await;
        assert_rest_error(response, 410, "RESYNC_REQUIRED", forged).await;
    }
    let anonymous = app.get("/events", None).await;
    assert_eq!(anonymous.status(), 401);
}

const EVENTS: &str = "subscription($after: String) { events(after: $after) { \
    __typename \
    ... on Checkpoint { position } \
    ... on OrderPlaced { position order { id } } \
    ... on OrderStatusChanged { position order { id status } } \
    ... on ProductAdded { position product { name } } \
    ... on ProductChanged { position product { name } } \
    ... on ProductRemoved { position productId } \
    ... on MessageSent { position message { text } } \
    ... on MessagesSeenByPeer { position receipt { ids } } } }";

/// Subscribes to `events(after:)` on a real graphql-ws client.
async fn subscribe_events(app: &TestApp, token: &str, after: Option<&str>) -> NodeClient {
    let mut client = app.graphql_ws_client(token).await;
    client
        .send(json!({ "cmd": "subscribe", "id": "ev", "query": EVENTS, "variables": { "after": after } }))
        .await;
    client
}

/// The next `events` item: its payload (`data.events` or `errors`).
async fn next_item(client: &mut NodeClient) -> Value {
    client
        .expect("an events item", WAIT, |line| {
            line["kind"] == "next" && line["id"] == "ev"
        })
        .await["payload"]
        .clone()
}

/// Items until a `Checkpoint`; returns them and the checkpoint's position.
async fn until_checkpoint(client: &mut NodeClient) -> (Vec<Value>, String) {
    let mut items = Vec::new();
    loop {
        let payload = next_item(client).await;
        let event = payload["data"]["events"].clone();
        if event["__typename"] == "Checkpoint" {
            return (items, event["position"].as_str().unwrap().to_owned());
        }
        items.push(event);
    }
}

async fn graphql_events_resume(backend: Backend) {
    let app = TestApp::spawn_with(backend, |_| {}).await;
    let admin = app.login_as_admin().await;
    let user = app.register(&unique_email("gql-resumer")).await;
    let product = app.create_product(&admin.token, "Kettle", 20.0, 10).await;
    let product_id = product["id"].as_str().unwrap().to_owned();

    // Without `after`: a Checkpoint first, then live.
    let mut admin_events = subscribe_events(&app, &admin.token, None).await;
    let (none, from) = until_checkpoint(&mut admin_events).await;
    assert!(none.is_empty());
    let mut user_events = subscribe_events(&app, &user.token, None).await;
    let (_, user_from) = until_checkpoint(&mut user_events).await;
    let order: Value = app
        .place_order(&user.token, &product_id, 1)
        .await
        .json()
        .await
        .unwrap();
    let order_id = order["data"]["id"].as_str().unwrap().to_owned();
    let live = next_item(&mut admin_events).await;
    assert_eq!(
        live["data"]["events"]["__typename"], "OrderPlaced",
        "{live}"
    );
    let seen_up_to = live["data"]["events"]["position"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(seen_up_to.parse::<u64>().unwrap() > from.parse::<u64>().unwrap());
    admin_events.send(json!({ "cmd": "dispose" })).await;
    user_events.send(json!({ "cmd": "dispose" })).await;

    // Away: the order moves, a product is renamed, then a restart.
    app.put(
        &format!("/orders/{order_id}"),
        json!({ "status": "shipped" }),
        Some(&admin.token),
    )
    .await;
    app.put(
        &format!("/products/{product_id}"),
        json!({ "name": "Kettle 2" }),
        Some(&admin.token),
    )
    .await;
    let app = app.restart().await;

    let mut admin_events = subscribe_events(&app, &admin.token, Some(&seen_up_to)).await;
    let (replayed, _) = until_checkpoint(&mut admin_events).await;
    let kinds: Vec<&str> = replayed
        .iter()
        .map(|e| e["__typename"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["OrderStatusChanged", "ProductChanged"],
        "{replayed:?}"
    );
    assert_eq!(replayed[0]["order"]["status"], "SHIPPED");
    assert_eq!(replayed[1]["product"]["name"], "Kettle 2");
    app.create_product(&admin.token, "Teapot", 9.0, 1).await;
    let live = next_item(&mut admin_events).await;
    assert_eq!(
        live["data"]["events"]["product"]["name"], "Teapot",
        "{live}"
    );

    // The user replays from before their own order: their move and the
    // catalogue, never OrderPlaced (admins only).
    let mut user_events = subscribe_events(&app, &user.token, Some(&user_from)).await;
    let (replayed, _) = until_checkpoint(&mut user_events).await;
    let kinds: Vec<&str> = replayed
        .iter()
        .map(|e| e["__typename"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["OrderStatusChanged", "ProductChanged", "ProductAdded"],
        "{replayed:?}"
    );

    // A forged position: RESYNC_REQUIRED, then a Checkpoint and live events.
    let mut forged = subscribe_events(&app, &admin.token, Some("424242")).await;
    let error = next_item(&mut forged).await;
    assert_eq!(
        error["errors"][0]["extensions"]["code"], "RESYNC_REQUIRED",
        "{error}"
    );
    let (none, _) = until_checkpoint(&mut forged).await;
    assert!(none.is_empty());
    app.create_product(&admin.token, "Cup", 3.0, 1).await;
    let live = next_item(&mut forged).await;
    assert_eq!(live["data"]["events"]["product"]["name"], "Cup", "{live}");
}

on_both_stores!(graphql_events_resume_after_a_restart => graphql_events_resume);
