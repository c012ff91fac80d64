//! Orders on REST, GraphQL and Socket.IO, on both stores: totals computed by
//! the server, ownership, admin-only lists and moves, the forward-only status
//! flow, and stock taken atomically under concurrent orders.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::future::join_all;
use serde_json::{Value, json};

use crate::support::steps::id_of;
use crate::support::{
    Account, Backend, TestApp, assert_rest_error, graphql_code, on_both_stores, unique_email,
};

const ORDER_FIELDS: &str =
    "id quantity unitPrice total status createdAt updatedAt user { id } product { id }";

fn place_mutation() -> String {
    format!(
        "mutation($productId: ID!, $quantity: Int) {{ placeOrder(productId: $productId, quantity: $quantity) {{ {ORDER_FIELDS} }} }}"
    )
}

fn place_mutation_default_quantity() -> String {
    format!(
        "mutation($productId: ID!) {{ placeOrder(productId: $productId) {{ {ORDER_FIELDS} }} }}"
    )
}

fn order_query() -> String {
    format!("query($id: ID!) {{ order(id: $id) {{ {ORDER_FIELDS} }} }}")
}

fn move_mutation() -> String {
    format!(
        "mutation($id: ID!, $status: OrderStatus!) {{ updateOrderStatus(id: $id, status: $status) {{ {ORDER_FIELDS} }} }}"
    )
}

const MY_ORDERS: &str = "{ myOrders(first: 100) { nodes { id } } }";
const ALL_ORDERS: &str = "query($status: OrderStatus) { orders(status: $status, first: 100) { nodes { id status user { id } product { id } } } }";

/// A well-formed id that names nothing.
const UNKNOWN_ID: &str = "65f0000000000000000000bb";
/// Not an id.
const MALFORMED_ID: &str = "definitely-not-an-id";

/// How long to wait for an ack.
const WAIT: Duration = Duration::from_secs(10);

/// `POST /orders` that must succeed (201); returns the order JSON.
async fn place(app: &TestApp, account: &Account, product_id: &str, quantity: i64) -> Value {
    let response = app.place_order(&account.token, product_id, quantity).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "POST /orders: {body}");
    assert_eq!(body["status"], "success", "{body}");
    body["data"].clone()
}

/// `GET path` that must succeed (200); returns `data`.
async fn get_data(app: &TestApp, path: &str, token: &str) -> Value {
    let response = app.get(path, Some(token)).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "GET {path}: {body}");
    body["data"].clone()
}

/// The ids in a REST list or a GraphQL `nodes` array, in order.
fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("a list: {list}"))
        .iter()
        .map(id_of)
        .collect()
}

async fn stock_of(app: &TestApp, product_id: &str) -> i64 {
    let response = app.get(&format!("/products/{product_id}"), None).await;
    let body: Value = response.json().await.unwrap();
    body["data"]["stock"]
        .as_i64()
        .unwrap_or_else(|| panic!("a stock: {body}"))
}

/// Every order (admin `GET /orders?limit=100`; the test stays under one page).
async fn all_orders(app: &TestApp, admin: &Account) -> Vec<Value> {
    let response = app
        .get_with("/orders", &[("limit", "100")], Some(&admin.token))
        .await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "GET /orders: {body}");
    assert!(body["meta"]["nextCursor"].is_null(), "one page: {body}");
    body["data"].as_array().unwrap().clone()
}

// ---------------------------------------------------------------------------
// Happy path
// ---------------------------------------------------------------------------

async fn placing_and_reading_orders_works_with_totals_computed_by_the_server(backend: Backend) {
    // Arrange
    let app = TestApp::spawn_with(backend, |_| {}).await;
    let admin = app.login_as_admin().await;
    let alice = app.register(&unique_email("orders-alice")).await;
    let bob = app.register(&unique_email("orders-bob")).await;
    let product = app
        .create_product(&admin.token, "Desk Lamp", 19.99, 10)
        .await;
    let product_id = id_of(&product);

    // Act: three orders by Alice, on REST and GraphQL.
    let first = place(&app, &alice, &product_id, 3).await;
    let data = app
        .graphql_ok(
            &place_mutation(),
            json!({ "productId": product_id, "quantity": 2 }),
            Some(&alice.token),
        )
        .await;
    let second = data["placeOrder"].clone();
    let response = app
        .post(
            "/api/v1/orders",
            json!({ "productId": product_id }),
            Some(&alice.token),
        )
        .await;
    assert_eq!(
        response.status(),
        201,
        "POST /api/v1/orders without a quantity"
    );
    let third = response.json::<Value>().await.unwrap()["data"].clone();

    // Assert: the REST order.
    let first_id = id_of(&first);
    assert_eq!(first_id.len(), 24, "a 24-hex id");
    assert_eq!(first["userId"], alice.id.as_str());
    assert_eq!(first["productId"], product_id.as_str());
    assert_eq!(first["quantity"], 3);
    assert_eq!(first["unitPrice"], 19.99);
    assert_eq!(first["total"], 59.97, "19.99 × 3, computed by the server");
    assert_eq!(first["status"], "pending");
    assert!(
        first["createdAt"].is_string() && first["updatedAt"].is_string(),
        "{first}"
    );

    // The GraphQL order.
    assert_eq!(second["quantity"], 2);
    assert_eq!(second["unitPrice"], 19.99);
    assert_eq!(second["total"], 39.98);
    assert_eq!(second["status"], "PENDING");
    assert_eq!(second["user"]["id"], alice.id.as_str());
    assert_eq!(second["product"]["id"], product_id.as_str());

    // The order without a quantity: one unit.
    assert_eq!(third["quantity"], 1);
    assert_eq!(third["total"], 19.99);

    // Stock was taken.
    assert_eq!(stock_of(&app, &product_id).await, 10 - 3 - 2 - 1);

    // One order, on every door, for its owner and for the admin.
    let expected_order_ids = vec![id_of(&third), id_of(&second), first_id.clone()];
    for token in [&alice.token, &admin.token] {
        let read = get_data(&app, &format!("/orders/{first_id}"), token).await;
        assert_eq!(read, first, "GET /orders/:id reads what POST wrote");
        let read = get_data(&app, &format!("/api/v1/orders/{first_id}"), token).await;
        assert_eq!(read, first, "GET /api/v1/orders/:id");
        let data = app
            .graphql_ok(&order_query(), json!({ "id": first_id }), Some(token))
            .await;
        let order = &data["order"];
        assert_eq!(order["id"], first_id.as_str());
        assert_eq!(order["total"], 59.97);
        assert_eq!(order["quantity"], 3);
        assert_eq!(order["createdAt"], first["createdAt"]);
        assert_eq!(order["user"]["id"], alice.id.as_str());
        assert_eq!(order["product"]["id"], product_id.as_str());
    }

    // Alice's own list, newest first, on both doors; Bob's is empty.
    let mine = get_data(&app, "/orders/my", &alice.token).await;
    assert_eq!(
        ids(&mine),
        expected_order_ids,
        "GET /orders/my, newest first"
    );
    let data = app
        .graphql_ok(MY_ORDERS, json!({}), Some(&alice.token))
        .await;
    assert_eq!(
        ids(&data["myOrders"]["nodes"]),
        expected_order_ids,
        "myOrders"
    );
    let bobs = get_data(&app, "/orders/my", &bob.token).await;
    assert_eq!(bobs, json!([]), "Bob has no orders");
    let data = app.graphql_ok(MY_ORDERS, json!({}), Some(&bob.token)).await;
    assert_eq!(data["myOrders"]["nodes"], json!([]), "Bob's myOrders");

    // The admin's lists, on both doors, with the status filter.
    let listed = all_orders(&app, &admin).await;
    assert_eq!(
        ids(&Value::Array(listed.clone())),
        expected_order_ids,
        "GET /orders"
    );
    assert!(listed.iter().all(|o| o["userId"] == alice.id.as_str()));
    let data = app
        .graphql_ok(ALL_ORDERS, json!({}), Some(&admin.token))
        .await;
    assert_eq!(ids(&data["orders"]["nodes"]), expected_order_ids, "orders");
    let response = app
        .get_with("/orders", &[("status", "shipped")], Some(&admin.token))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["data"], json!([]));
    let data = app
        .graphql_ok(
            ALL_ORDERS,
            json!({ "status": "PENDING" }),
            Some(&admin.token),
        )
        .await;
    assert_eq!(data["orders"]["nodes"].as_array().unwrap().len(), 3);

    // The dashboard adds it up.
    let data = app
        .graphql_ok(
            "{ dashboardStats { revenue ordersLast24H ordersByStatus { status count } } }",
            json!({}),
            Some(&admin.token),
        )
        .await;
    let stats = &data["dashboardStats"];
    assert_eq!(stats["revenue"], 119.94, "59.97 + 39.98 + 19.99: {stats}");
    assert_eq!(stats["ordersLast24H"], 3, "{stats}");
    let pending = stats["ordersByStatus"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["status"] == "PENDING")
        .unwrap_or_else(|| panic!("a PENDING count: {stats}"));
    assert_eq!(pending["count"], 3, "{stats}");

    // A default quantity on GraphQL is one unit too.
    let data = app
        .graphql_ok(
            &place_mutation_default_quantity(),
            json!({ "productId": product_id }),
            Some(&bob.token),
        )
        .await;
    assert_eq!(data["placeOrder"]["quantity"], 1);
    assert_eq!(data["placeOrder"]["user"]["id"], bob.id.as_str());
}

on_both_stores!(placing_and_reading_orders_works_with_totals_computed_by_the_server);

// ---------------------------------------------------------------------------
// Ownership and roles on every door
// ---------------------------------------------------------------------------

async fn another_users_order_is_not_found_on_rest_and_graphql(backend: Backend) {
    // Arrange
    let app = TestApp::spawn_with(backend, |_| {}).await;
    let admin = app.login_as_admin().await;
    let alice = app.register(&unique_email("owner-alice")).await;
    let bob = app.register(&unique_email("owner-bob")).await;
    let product = app.create_product(&admin.token, "Mug", 8.0, 5).await;
    let order = place(&app, &alice, &id_of(&product), 1).await;
    let order_id = id_of(&order);

    // Act + Assert: Bob cannot see it, exactly as if it did not exist.
    let response = app
        .get(&format!("/orders/{order_id}"), Some(&bob.token))
        .await;
    let foreign = assert_rest_error(response, 404, "NOT_FOUND", "Bob's GET of Alice's order").await;
    let response = app
        .get(&format!("/orders/{UNKNOWN_ID}"), Some(&bob.token))
        .await;
    let missing = assert_rest_error(response, 404, "NOT_FOUND", "GET of an unknown order").await;
    assert_eq!(
        foreign["message"], missing["message"],
        "a foreign order looks like a missing one"
    );
    let body = app
        .graphql(&order_query(), json!({ "id": order_id }), Some(&bob.token))
        .await;
    assert_eq!(graphql_code(&body), "NOT_FOUND", "Bob's order(id): {body}");
    assert!(body["data"]["order"].is_null(), "{body}");
    let data = app.graphql_ok(MY_ORDERS, json!({}), Some(&bob.token)).await;
    assert_eq!(
        data["myOrders"]["nodes"],
        json!([]),
        "not in Bob's myOrders"
    );

    // Unknown and malformed ids, for the owner too.
    let response = app
        .get(&format!("/orders/{UNKNOWN_ID}"), Some(&alice.token))
        .await;
    assert_rest_error(response, 404, "NOT_FOUND", "GET /orders/<unknown>").await;
    let response = app
        .get(&format!("/orders/{MALFORMED_ID}"), Some(&alice.token))
        .await;
    assert_rest_error(response, 400, "BAD_USER_INPUT", "GET /orders/<malformed>").await;
    let body = app
        .graphql(
            &order_query(),
            json!({ "id": UNKNOWN_ID }),
            Some(&alice.token),
        )
        .await;
    assert_eq!(graphql_code(&body), "NOT_FOUND", "order(<unknown>): {body}");
    let body = app
        .graphql(
            &order_query(),
            json!({ "id": MALFORMED_ID }),
            Some(&alice.token),
        )
        .await;
    assert_eq!(
        graphql_code(&body),
        "BAD_USER_INPUT",
        "order(<malformed>): {body}"
    );

    // Anonymous callers are unauthenticated.
    let response = app.get(&format!("/orders/{order_id}"), None).await;
    assert_rest_error(
        response,
        401,
        "UNAUTHENTICATED",
        "an anonymous GET /orders/:id",
    )
    .await;
    let response = app.get("/orders/my", None).await;
    assert_rest_error(
        response,
        401,
        "UNAUTHENTICATED",
        "an anonymous GET /orders/my",
    )
    .await;

    // The owner and the admin still can.
    get_data(&app, &format!("/orders/{order_id}"), &alice.token).await;
    get_data(&app, &format!("/orders/{order_id}"), &admin.token).await;
}

on_both_stores!(another_users_order_is_not_found_on_rest_and_graphql);

async fn a_user_cannot_list_all_orders_or_move_one_on_any_door(backend: Backend) {
    // Arrange: Alice owns the order, and still may not move it.
    let app = TestApp::spawn_with(backend, |_| {}).await;
    let admin = app.login_as_admin().await;
    let alice = app.register(&unique_email("role-alice")).await;
    let bob = app.register(&unique_email("role-bob")).await;
    let product = app.create_product(&admin.token, "Pen", 1.25, 5).await;
    let order = place(&app, &alice, &id_of(&product), 1).await;
    let order_id = id_of(&order);

    for user in [&alice, &bob] {
        let token = Some(user.token.as_str());
        let who = if user.id == alice.id {
            "the owner"
        } else {
            "another user"
        };

        // REST
        let response = app.get("/orders", token).await;
        assert_rest_error(response, 403, "FORBIDDEN", &format!("{who}: GET /orders")).await;
        let response = app
            .get_with("/api/v1/orders", &[("status", "pending")], token)
            .await;
        assert_rest_error(
            response,
            403,
            "FORBIDDEN",
            &format!("{who}: GET /api/v1/orders"),
        )
        .await;
        let response = app
            .put(
                &format!("/orders/{order_id}"),
                json!({ "status": "processing" }),
                token,
            )
            .await;
        assert_rest_error(
            response,
            403,
            "FORBIDDEN",
            &format!("{who}: PUT /orders/:id"),
        )
        .await;

        // GraphQL
        let body = app.graphql(ALL_ORDERS, json!({}), token).await;
        assert_eq!(graphql_code(&body), "FORBIDDEN", "{who}: orders: {body}");
        let body = app
            .graphql(
                &move_mutation(),
                json!({ "id": order_id, "status": "PROCESSING" }),
                token,
            )
            .await;
        assert_eq!(
            graphql_code(&body),
            "FORBIDDEN",
            "{who}: updateOrderStatus: {body}"
        );
        let body = app
            .graphql("{ dashboardStats { revenue } }", json!({}), token)
            .await;
        assert_eq!(
            graphql_code(&body),
            "FORBIDDEN",
            "{who}: dashboardStats: {body}"
        );

        // Socket.IO
        let mut socket = app.socket(&user.token).await;
        let ack = socket
            .emit_with_ack(
                "update_order_status",
                json!({ "orderId": order_id, "status": "processing" }),
                WAIT,
            )
            .await;
        assert_eq!(
            ack[0]["status"], "error",
            "{who}: update_order_status ack: {ack}"
        );
        assert_eq!(
            ack[0]["code"], "FORBIDDEN",
            "{who}: update_order_status ack: {ack}"
        );
        assert!(ack[0]["message"].is_string(), "{who}: a message: {ack}");
    }

    // Nothing moved.
    let read = get_data(&app, &format!("/orders/{order_id}"), &admin.token).await;
    assert_eq!(read, order, "the order is untouched");
}

on_both_stores!(a_user_cannot_list_all_orders_or_move_one_on_any_door);

// ---------------------------------------------------------------------------
// Status flow
// ---------------------------------------------------------------------------

/// `PUT /orders/:id {status}` as the admin; the raw response.
async fn rest_move(app: &TestApp, admin: &Account, id: &str, status: Value) -> reqwest::Response {
    app.put(
        &format!("/orders/{id}"),
        json!({ "status": status }),
        Some(&admin.token),
    )
    .await
}

async fn graphql_move(app: &TestApp, admin: &Account, id: &str, status: &str) -> Value {
    app.graphql(
        &move_mutation(),
        json!({ "id": id, "status": status }),
        Some(&admin.token),
    )
    .await
}

async fn status_only_moves_forward(backend: Backend) {
    // Arrange
    let app = TestApp::spawn_with(backend, |_| {}).await;
    let admin = app.login_as_admin().await;
    let alice = app.register(&unique_email("flow-alice")).await;
    let product = app.create_product(&admin.token, "Bike", 300.0, 5).await;
    let product_id = id_of(&product);
    let one = id_of(&place(&app, &alice, &product_id, 1).await);
    let two = id_of(&place(&app, &alice, &product_id, 1).await);

    // Forward one step over REST.
    let response = rest_move(&app, &admin, &one, json!("processing")).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "pending → processing: {body}");
    assert_eq!(body["data"]["status"], "processing");
    assert_eq!(body["data"]["id"], one.as_str());
    let processing = body["data"].clone();

    // Same status and backwards: conflicts, over REST and GraphQL.
    let response = rest_move(&app, &admin, &one, json!("processing")).await;
    assert_rest_error(response, 409, "CONFLICT", "processing → processing").await;
    let response = rest_move(&app, &admin, &one, json!("pending")).await;
    assert_rest_error(response, 409, "CONFLICT", "processing → pending").await;
    let body = graphql_move(&app, &admin, &one, "PROCESSING").await;
    assert_eq!(
        graphql_code(&body),
        "CONFLICT",
        "PROCESSING → PROCESSING: {body}"
    );
    let body = graphql_move(&app, &admin, &one, "PENDING").await;
    assert_eq!(
        graphql_code(&body),
        "CONFLICT",
        "PROCESSING → PENDING: {body}"
    );
    let read = get_data(&app, &format!("/orders/{one}"), &admin.token).await;
    assert_eq!(read, processing, "failed moves write nothing");

    // Skipping forward over GraphQL; then nothing further is possible.
    let body = graphql_move(&app, &admin, &one, "DELIVERED").await;
    assert!(body["errors"].is_null(), "PROCESSING → DELIVERED: {body}");
    assert_eq!(body["data"]["updateOrderStatus"]["status"], "DELIVERED");
    for back in ["SHIPPED", "PROCESSING", "PENDING", "DELIVERED"] {
        let body = graphql_move(&app, &admin, &one, back).await;
        assert_eq!(
            graphql_code(&body),
            "CONFLICT",
            "DELIVERED → {back}: {body}"
        );
    }
    let response = rest_move(&app, &admin, &one, json!("shipped")).await;
    assert_rest_error(response, 409, "CONFLICT", "delivered → shipped").await;

    // The other order skips straight from pending to shipped, over REST.
    let response = rest_move(&app, &admin, &two, json!("shipped")).await;
    assert_eq!(response.status(), 200, "pending → shipped");
    let response = rest_move(&app, &admin, &two, json!("processing")).await;
    assert_rest_error(response, 409, "CONFLICT", "shipped → processing").await;

    // Unknown statuses are validation errors; nothing moves.
    for (case, status) in [
        ("an unknown status", json!("cancelled")),
        ("an empty status", json!("")),
        ("a status that is not a string", json!(2)),
        ("a null status", Value::Null),
    ] {
        let response = rest_move(&app, &admin, &two, status).await;
        assert_rest_error(response, 400, "BAD_USER_INPUT", &format!("PUT with {case}")).await;
    }
    let response = app
        .put(&format!("/orders/{two}"), json!({}), Some(&admin.token))
        .await;
    assert_rest_error(response, 400, "BAD_USER_INPUT", "PUT without a status").await;
    let body = graphql_move(&app, &admin, &two, "CANCELLED").await;
    assert_eq!(
        graphql_code(&body),
        "BAD_USER_INPUT",
        "status CANCELLED: {body}"
    );

    // Unknown and malformed ids.
    let response = rest_move(&app, &admin, UNKNOWN_ID, json!("shipped")).await;
    assert_rest_error(response, 404, "NOT_FOUND", "PUT /orders/<unknown>").await;
    let response = rest_move(&app, &admin, MALFORMED_ID, json!("shipped")).await;
    assert_rest_error(response, 400, "BAD_USER_INPUT", "PUT /orders/<malformed>").await;
    let body = graphql_move(&app, &admin, UNKNOWN_ID, "SHIPPED").await;
    assert_eq!(
        graphql_code(&body),
        "NOT_FOUND",
        "updateOrderStatus(<unknown>): {body}"
    );
    let body = graphql_move(&app, &admin, MALFORMED_ID, "SHIPPED").await;
    assert_eq!(
        graphql_code(&body),
        "BAD_USER_INPUT",
        "updateOrderStatus(<malformed>): {body}"
    );

    // The admin's Socket.IO door follows the same rules.
    let mut socket = app.socket(&admin.token).await;
    let ack = socket
        .emit_with_ack(
            "update_order_status",
            json!({ "orderId": two, "status": "pending" }),
            WAIT,
        )
        .await;
    assert_eq!(
        ack[0]["status"], "error",
        "shipped → pending over Socket.IO: {ack}"
    );
    assert_eq!(ack[0]["code"], "CONFLICT", "{ack}");
    let ack = socket
        .emit_with_ack(
            "update_order_status",
            json!({ "orderId": two, "status": "lost" }),
            WAIT,
        )
        .await;
    assert_eq!(
        ack[0]["code"], "BAD_USER_INPUT",
        "an unknown status over Socket.IO: {ack}"
    );
    let ack = socket
        .emit_with_ack(
            "update_order_status",
            json!({ "orderId": UNKNOWN_ID, "status": "delivered" }),
            WAIT,
        )
        .await;
    assert_eq!(
        ack[0]["code"], "NOT_FOUND",
        "an unknown order over Socket.IO: {ack}"
    );

    // Where everything ended.
    let orders = all_orders(&app, &admin).await;
    let statuses: BTreeSet<(String, String)> = orders
        .iter()
        .map(|o| (id_of(o), o["status"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        statuses,
        BTreeSet::from([(one, "delivered".to_owned()), (two, "shipped".to_owned())])
    );
}

on_both_stores!(status_only_moves_forward);

// ---------------------------------------------------------------------------
// Stock
// ---------------------------------------------------------------------------

async fn fifty_concurrent_orders_against_stock_ten_sell_exactly_ten(backend: Backend) {
    // Arrange
    let app = TestApp::spawn_with(backend, |_| {}).await;
    let admin = app.login_as_admin().await;
    let mut users = Vec::new();
    for i in 0..5 {
        users.push(app.register(&unique_email(&format!("rush-{i}"))).await);
    }
    let product = app
        .create_product(&admin.token, "Limited Edition", 99.99, 10)
        .await;
    let product_id = id_of(&product);

    // Act
    let attempts = (0..50).map(|i| {
        let app = &app;
        let token = users[i % users.len()].token.clone();
        let product_id = product_id.clone();
        async move {
            let response = app.place_order(&token, &product_id, 1).await;
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (status, body)
        }
    });
    let outcomes = join_all(attempts).await;

    // Assert
    let created: Vec<&Value> = outcomes
        .iter()
        .filter(|(status, _)| *status == 201)
        .map(|(_, body)| &body["data"])
        .collect();
    let conflicts: Vec<&Value> = outcomes
        .iter()
        .filter(|(status, _)| *status == 409)
        .map(|(_, body)| body)
        .collect();
    let others: Vec<_> = outcomes
        .iter()
        .filter(|(status, _)| *status != 201 && *status != 409)
        .collect();
    assert!(others.is_empty(), "answers other than 201/409: {others:?}");
    assert_eq!(created.len(), 10, "exactly the stock is sold");
    assert_eq!(
        conflicts.len(),
        40,
        "everyone else is told it is out of stock"
    );
    assert!(
        conflicts.iter().all(|body| body["code"] == "CONFLICT"),
        "every refusal is a CONFLICT: {conflicts:?}"
    );
    assert_eq!(stock_of(&app, &product_id).await, 0, "the stock ends at 0");
    let created_ids: BTreeSet<String> = created.iter().map(|o| id_of(o)).collect();
    assert_eq!(created_ids.len(), 10, "ten distinct orders");
    let listed: Vec<Value> = all_orders(&app, &admin)
        .await
        .into_iter()
        .filter(|o| o["productId"] == product_id.as_str())
        .collect();
    assert_eq!(
        listed.len(),
        10,
        "GET /orders lists exactly ten orders: {listed:?}"
    );
    let listed_ids: BTreeSet<String> = listed.iter().map(id_of).collect();
    assert_eq!(
        listed_ids, created_ids,
        "the listed orders are the created ones"
    );
    assert!(
        listed
            .iter()
            .all(|o| o["quantity"] == 1 && o["total"] == 99.99),
        "{listed:?}"
    );
}

on_both_stores!(fifty_concurrent_orders_against_stock_ten_sell_exactly_ten);

async fn an_order_that_cannot_be_served_leaves_the_stock_unchanged(backend: Backend) {
    // Arrange
    let app = TestApp::spawn_with(backend, |_| {}).await;
    let admin = app.login_as_admin().await;
    let alice = app.register(&unique_email("stock-alice")).await;
    let product = app.create_product(&admin.token, "Rare Stamp", 3.5, 2).await;
    let product_id = id_of(&product);

    // Act + Assert: more than the stock.
    let response = app.place_order(&alice.token, &product_id, 3).await;
    assert_rest_error(response, 409, "CONFLICT", "3 units of 2").await;
    let body = app
        .graphql(
            &place_mutation(),
            json!({ "productId": product_id, "quantity": 3 }),
            Some(&alice.token),
        )
        .await;
    assert_eq!(
        graphql_code(&body),
        "CONFLICT",
        "placeOrder of 3 units of 2: {body}"
    );
    assert_eq!(
        stock_of(&app, &product_id).await,
        2,
        "the stock is unchanged"
    );
    assert!(
        all_orders(&app, &admin).await.is_empty(),
        "no order was written"
    );

    // Bad quantities and product ids: validation / not found, nothing written.
    let cases = [
        (
            "quantity 0",
            json!({ "productId": product_id, "quantity": 0 }),
            400,
            "BAD_USER_INPUT",
        ),
        (
            "quantity -1",
            json!({ "productId": product_id, "quantity": -1 }),
            400,
            "BAD_USER_INPUT",
        ),
        (
            "quantity 1001",
            json!({ "productId": product_id, "quantity": 1001 }),
            400,
            "BAD_USER_INPUT",
        ),
        (
            "a fractional quantity",
            json!({ "productId": product_id, "quantity": 1.5 }),
            400,
            "BAD_USER_INPUT",
        ),
        (
            "no productId",
            json!({ "quantity": 1 }),
            400,
            "BAD_USER_INPUT",
        ),
        (
            "a malformed productId",
            json!({ "productId": MALFORMED_ID }),
            400,
            "BAD_USER_INPUT",
        ),
        (
            "an unknown productId",
            json!({ "productId": UNKNOWN_ID }),
            404,
            "NOT_FOUND",
        ),
    ];
    for (case, body, status, code) in cases {
        let response = app.post("/orders", body, Some(&alice.token)).await;
        assert_rest_error(response, status, code, &format!("POST /orders with {case}")).await;
    }
    let body = app
        .graphql(
            &place_mutation(),
            json!({ "productId": product_id, "quantity": 0 }),
            Some(&alice.token),
        )
        .await;
    assert_eq!(
        graphql_code(&body),
        "BAD_USER_INPUT",
        "placeOrder quantity 0: {body}"
    );
    let body = app
        .graphql(
            &place_mutation_default_quantity(),
            json!({ "productId": UNKNOWN_ID }),
            Some(&alice.token),
        )
        .await;
    assert_eq!(
        graphql_code(&body),
        "NOT_FOUND",
        "placeOrder of an unknown product: {body}"
    );
    let response = app
        .post("/orders", json!({ "productId": product_id }), None)
        .await;
    assert_rest_error(
        response,
        401,
        "UNAUTHENTICATED",
        "an anonymous POST /orders",
    )
    .await;
    assert_eq!(
        stock_of(&app, &product_id).await,
        2,
        "the stock is unchanged"
    );
    assert!(
        all_orders(&app, &admin).await.is_empty(),
        "no order was written"
    );

    // Exactly the stock, then nothing more.
    place(&app, &alice, &product_id, 2).await;
    assert_eq!(stock_of(&app, &product_id).await, 0);
    let response = app.place_order(&alice.token, &product_id, 1).await;
    assert_rest_error(response, 409, "CONFLICT", "1 unit of 0").await;
    assert_eq!(stock_of(&app, &product_id).await, 0, "the stock stays at 0");
    assert_eq!(all_orders(&app, &admin).await.len(), 1, "one order in all");
}

on_both_stores!(an_order_that_cannot_be_served_leaves_the_stock_unchanged);
