//! Idempotent writes on every door: a retry with the same key (REST
//! `Idempotency-Key`, GraphQL `idempotencyKey`, Socket.IO `clientId`) returns
//! the first result and creates nothing new; the same key with a different
//! request is `CONFLICT`; keys are per user. On both stores.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{
    Account, Backend, TestApp, assert_rest_error, graphql_code, on_both_stores, unique_email,
};

const WAIT: Duration = Duration::from_secs(10);

/// `POST path` as `token` with an `Idempotency-Key`.
async fn post_keyed(
    app: &TestApp,
    path: &str,
    key: &str,
    body: Value,
    token: &str,
) -> reqwest::Response {
    app.http
        .post(app.url(path))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn stock_of(app: &TestApp, product_id: &str) -> i64 {
    let data = app
        .graphql_ok(
            "query($id: ID!) { product(id: $id) { stock } }",
            json!({ "id": product_id }),
            None,
        )
        .await;
    data["product"]["stock"].as_i64().unwrap()
}

async fn my_order_ids(app: &TestApp, account: &Account) -> Vec<String> {
    let response = app.get("/orders/my?limit=100", Some(&account.token)).await;
    let body: Value = response.json().await.unwrap();
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|order| order["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn rest_retries_return_the_first_result(backend: Backend) {
    // Arrange
    let app = TestApp::spawn_with(backend, |_| {}).await;
    let admin = app.login_as_admin().await;
    let ada = app.register(&unique_email("idem-ada")).await;
    let bob = app.register(&unique_email("idem-bob")).await;

    // Products: the same key twice makes one product.
    let body = json!({ "name": "Once only", "price": 5.0, "stock": 10 });
    let first = post_keyed(&app, "/products", "product-1", body.clone(), &admin.token).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = post_keyed(&app, "/products", "product-1", body.clone(), &admin.token).await;
    assert_eq!(
        again.status(),
        201,
        "a retry answers like the first request"
    );
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["data"]["id"], first["data"]["id"]);
    assert_eq!(app.product_count(&admin.token).await, 1);
    let product_id = first["data"]["id"].as_str().unwrap().to_owned();

    // Orders: a lost answer retried, concurrently too, places one order.
    let order = json!({ "productId": product_id, "quantity": 3 });
    let attempts =
        (0..5).map(|_| post_keyed(&app, "/orders", "order-1", order.clone(), &ada.token));
    let responses = futures::future::join_all(attempts).await;
    let mut ids = Vec::new();
    for response in responses {
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 201, "{body}");
        ids.push(body["data"]["id"].as_str().unwrap().to_owned());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every retry got the one order: {ids:?}");
    assert_eq!(stock_of(&app, &product_id).await, 7, "stock taken once");
    assert_eq!(my_order_ids(&app, &ada).await, ids);

    // The same key with another body is a conflict, and changes nothing.
    let other = json!({ "productId": product_id, "quantity": 1 });
    let conflict = post_keyed(&app, "/orders", "order-1", other.clone(), &ada.token).await;
    assert_rest_error(conflict, 409, "CONFLICT", "a key reused for another order").await;
    assert_eq!(stock_of(&app, &product_id).await, 7);

    // Keys are per user: Bob's "order-1" is his own order.
    let bobs = post_keyed(&app, "/orders", "order-1", order.clone(), &bob.token).await;
    assert_eq!(bobs.status(), 201);
    let bobs: Value = bobs.json().await.unwrap();
    assert_ne!(bobs["data"]["id"].as_str().unwrap(), ids[0]);
    assert_eq!(stock_of(&app, &product_id).await, 4);

    // Chat: one message, however often it is retried.
    let message = json!({ "to": bob.id, "text": "said once" });
    for _ in 0..3 {
        let response =
            post_keyed(&app, "/chat/messages", "msg-1", message.clone(), &ada.token).await;
        assert_eq!(response.status(), 201);
    }
    let thread = app
        .get(&format!("/chat/messages/{}", bob.id), Some(&ada.token))
        .await;
    let thread: Value = thread.json().await.unwrap();
    assert_eq!(thread["data"].as_array().unwrap().len(), 1, "{thread}");

    // A malformed key is a validation error naming the header.
    let bad = post_keyed(&app, "/chat/messages", "has space", message, &ada.token).await;
    let body = assert_rest_error(bad, 400, "BAD_USER_INPUT", "a malformed key").await;
    assert!(body["details"]["Idempotency-Key"].is_string(), "{body}");
}

on_both_stores!(rest_retries_return_the_first_result);

async fn graphql_retries_return_the_first_result(backend: Backend) {
    // Arrange
    let app = TestApp::spawn_with(backend, |_| {}).await;
    let admin = app.login_as_admin().await;
    let ada = app.register(&unique_email("idem-gql-ada")).await;
    const CREATE: &str = "mutation($key: String) { createProduct(input: { name: \"Keyed\", price: 2.5, stock: 4 }, idempotencyKey: $key) { id } }";
    const PLACE: &str = "mutation($p: ID!, $q: Int!, $key: String) { placeOrder(productId: $p, quantity: $q, idempotencyKey: $key) { id quantity } }";
    const SEND: &str = "mutation($to: ID!, $text: String!, $key: String) { sendMessage(to: $to, text: $text, idempotencyKey: $key) { id } }";

    // Act and assert
    let key = json!({ "key": "gql-product" });
    let first = app
        .graphql_ok(CREATE, key.clone(), Some(&admin.token))
        .await;
    let again = app.graphql_ok(CREATE, key, Some(&admin.token)).await;
    assert_eq!(first, again);
    assert_eq!(app.product_count(&admin.token).await, 1);
    let product_id = first["createProduct"]["id"].as_str().unwrap().to_owned();

    let order = json!({ "p": product_id, "q": 2, "key": "gql-order" });
    let first = app.graphql_ok(PLACE, order.clone(), Some(&ada.token)).await;
    let again = app.graphql_ok(PLACE, order, Some(&ada.token)).await;
    assert_eq!(first, again);
    assert_eq!(stock_of(&app, &product_id).await, 2);
    let conflict = app
        .graphql(
            PLACE,
            json!({ "p": product_id, "q": 1, "key": "gql-order" }),
            Some(&ada.token),
        )
        .await;
    assert_eq!(graphql_code(&conflict), "CONFLICT", "{conflict}");

    let message = json!({ "to": admin.id, "text": "once", "key": "gql-msg" });
    let first = app
        .graphql_ok(SEND, message.clone(), Some(&ada.token))
        .await;
    let again = app.graphql_ok(SEND, message, Some(&ada.token)).await;
    assert_eq!(first, again);
    let bad = app
        .graphql(
            SEND,
            json!({ "to": admin.id, "text": "x", "key": "" }),
            Some(&ada.token),
        )
        .await;
    assert_eq!(graphql_code(&bad), "BAD_USER_INPUT", "{bad}");
}

on_both_stores!(graphql_retries_return_the_first_result);

#[tokio::test]
async fn a_socketio_resend_after_a_dropped_connection_delivers_one_message() {
    // Arrange: Ada sends with a clientId, then her connection drops before
    // she can trust the ack.
    let app = TestApp::spawn().await;
    let ada = app.register(&unique_email("idem-sio-ada")).await;
    let bob = app.register(&unique_email("idem-sio-bob")).await;
    let mut bob_socket = app.socket(&bob.token).await;
    let payload = json!({ "to": bob.id, "text": "exactly once", "clientId": "c-42" });
    let mut first = app.socket(&ada.token).await;
    let ack = first
        .emit_with_ack("send_message", json!([payload.clone()]), WAIT)
        .await;
    assert_eq!(ack[0]["status"], "success", "{ack}");
    let sent_id = ack[0]["data"]["id"].clone();
    first.send(json!({ "cmd": "disconnect" })).await;
    first
        .expect("closed", WAIT, |line| line["kind"] == "closed")
        .await;

    // Act: she reconnects and sends again with the same clientId.
    let mut second = app.socket(&ada.token).await;
    let ack = second
        .emit_with_ack("send_message", json!([payload]), WAIT)
        .await;

    // Assert: the same message, stored and delivered once.
    assert_eq!(ack[0]["status"], "success", "{ack}");
    assert_eq!(ack[0]["data"]["id"], sent_id);
    bob_socket
        .expect("receive_message", WAIT, |line| {
            line["event"] == "receive_message"
        })
        .await;
    assert!(
        bob_socket
            .receives_none_within(Duration::from_millis(500), |line| {
                line["event"] == "receive_message"
            })
            .await,
        "a second receive_message: {:#?}",
        bob_socket.seen()
    );
    let thread = app
        .get(&format!("/chat/messages/{}", bob.id), Some(&ada.token))
        .await;
    let thread: Value = thread.json().await.unwrap();
    assert_eq!(thread["data"].as_array().unwrap().len(), 1, "{thread}");
    // A different text under the same clientId is a conflict.
    let ack = second
        .emit_with_ack(
            "send_message",
            json!([{ "to": bob.id, "text": "something else", "clientId": "c-42" }]),
            WAIT,
        )
        .await;
    assert_eq!(ack[0]["code"], "CONFLICT", "{ack}");
}
