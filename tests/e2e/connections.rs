//! GraphQL connections as a Relay or Apollo client reads them (issue 16):
//! `totalCount` on every connection, with and without filters and whatever
//! the page; `messages` paged backwards with `last` + `before`; the
//! conversation connection. Over HTTP with `reqwest`, on both stores.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Account, Backend, TestApp, graphql_code, on_both_stores, unique_email};

const SEND_MESSAGE: &str =
    "mutation($to: ID!, $text: String!) { sendMessage(to: $to, text: $text) { id text } }";

/// An app whose send rate does not slow a test that writes a long thread.
async fn spawn(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |config| config.messages_per_second = 1000).await
}

/// `from` sends `text` to `to` over GraphQL; returns the message id.
async fn send(app: &TestApp, from: &Account, to: &Account, text: &str) -> String {
    let data = app
        .graphql_ok(
            SEND_MESSAGE,
            json!({ "to": to.id, "text": text }),
            Some(&from.token),
        )
        .await;
    data["sendMessage"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("sendMessage.id in {data}"))
        .to_owned()
}

/// `{ field { totalCount } }` with `arguments` (a GraphQL argument list,
/// possibly empty) as `token`; must succeed.
async fn total(app: &TestApp, field: &str, arguments: &str, token: Option<&str>) -> i64 {
    let data = app
        .graphql_ok(
            &format!("{{ list: {field}{arguments} {{ totalCount }} }}"),
            json!({}),
            token,
        )
        .await;
    data["list"]["totalCount"]
        .as_i64()
        .unwrap_or_else(|| panic!("{field}{arguments}: totalCount in {data}"))
}

/// The same, refused: the error's code.
async fn total_refused(app: &TestApp, field: &str, token: Option<&str>) -> String {
    let body = app
        .graphql(
            &format!("{{ list: {field} {{ totalCount }} }}"),
            json!({}),
            token,
        )
        .await;
    assert!(body["errors"].is_array(), "{field} must be refused: {body}");
    graphql_code(&body).to_owned()
}

/// `dashboardStats` as the admin.
async fn stats(app: &TestApp, admin: &Account) -> Value {
    let data = app
        .graphql_ok(
            "{ dashboardStats { productCount userCount usersOnline } }",
            json!({}),
            Some(&admin.token),
        )
        .await;
    data["dashboardStats"].clone()
}

fn ids_of(nodes: &Value) -> Vec<String> {
    nodes
        .as_array()
        .unwrap_or_else(|| panic!("a list of nodes: {nodes}"))
        .iter()
        .map(|node| node["id"].as_str().expect("an id").to_owned())
        .collect()
}

// ---------------------------------------------------------------------------
// totalCount
// ---------------------------------------------------------------------------

async fn total_count_counts_what_each_list_holds_whatever_the_page(backend: Backend) {
    // Arrange: a catalogue, orders of two customers, a few messages.
    let app = spawn(backend).await;
    let admin = app.login_as_admin().await;
    let alice = app.register(&unique_email("count-alice")).await;
    let bob = app.register(&unique_email("count-bob")).await;
    let carol = app.register(&unique_email("count-carol")).await;
    let mut products = Vec::new();
    for (name, price) in [
        ("Red lamp", 10.0),
        ("Blue lamp", 20.0),
        ("Red chair", 30.0),
        ("Oak table", 40.0),
        ("Wool rug", 50.0),
    ] {
        products.push(app.create_product(&admin.token, name, price, 100).await);
    }
    let product = |n: usize| products[n]["id"].as_str().unwrap().to_owned();
    let mut alices_orders = Vec::new();
    for (buyer, n) in [(&alice, 0), (&alice, 1), (&bob, 2), (&alice, 3), (&bob, 0)] {
        let response = app.place_order(&buyer.token, &product(n), 1).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 201, "placing an order: {body}");
        if buyer.id == alice.id {
            alices_orders.push(body["data"]["id"].as_str().unwrap().to_owned());
        }
    }
    app.graphql_ok(
        "mutation($id: ID!) { updateOrderStatus(id: $id, status: SHIPPED) { id } }",
        json!({ "id": alices_orders[0] }),
        Some(&admin.token),
    )
    .await;
    for (from, to) in [
        (&alice, &bob),
        (&bob, &alice),
        (&alice, &bob),
        (&alice, &carol),
        (&bob, &alice),
    ] {
        send(&app, from, to, "hello").await;
    }
    let admin_token = Some(admin.token.as_str());
    let alice_token = Some(alice.token.as_str());

    // Assert: products, with and without filters, on any page.
    let all_products = total(&app, "products", "", None).await;
    assert_eq!(all_products, 5);
    assert_eq!(
        stats(&app, &admin).await["productCount"],
        all_products,
        "the dashboard agrees"
    );
    for (arguments, expected) in [
        ("(first: 1)", 5),
        ("(search: \"lamp\")", 2),
        ("(search: \"RED\", first: 1)", 2),
        ("(minPrice: 15, maxPrice: 40)", 3),
        ("(search: \"lamp\", minPrice: 15)", 1),
        ("(search: \"nothing\")", 0),
        ("(sort: PRICE_DESC, first: 2)", 5),
    ] {
        assert_eq!(
            total(&app, "products", arguments, None).await,
            expected,
            "products{arguments}"
        );
    }
    let first_page = app
        .graphql_ok(
            "{ products(search: \"lamp\", first: 1) { totalCount pageInfo { endCursor hasNextPage } } }",
            json!({}),
            None,
        )
        .await;
    assert_eq!(first_page["products"]["pageInfo"]["hasNextPage"], true);
    let after = first_page["products"]["pageInfo"]["endCursor"].clone();
    let second_page = app
        .graphql_ok(
            "query($after: String) { products(search: \"lamp\", first: 1, after: $after) { totalCount nodes { id } } }",
            json!({ "after": after }),
            None,
        )
        .await;
    assert_eq!(
        second_page["products"]["totalCount"], 2,
        "the cursor does not change the total: {second_page}"
    );

    // Assert: orders (admins), by status, and each customer's own.
    assert_eq!(total(&app, "orders", "", admin_token).await, 5);
    assert_eq!(total(&app, "orders", "(first: 2)", admin_token).await, 5);
    assert_eq!(
        total(&app, "orders", "(status: PENDING)", admin_token).await,
        4
    );
    assert_eq!(
        total(&app, "orders", "(status: SHIPPED, first: 1)", admin_token).await,
        1
    );
    assert_eq!(
        total(&app, "orders", "(status: DELIVERED)", admin_token).await,
        0
    );
    assert_eq!(total(&app, "myOrders", "", alice_token).await, 3);
    assert_eq!(total(&app, "myOrders", "(first: 1)", alice_token).await, 3);
    assert_eq!(total(&app, "myOrders", "", Some(&bob.token)).await, 2);
    assert_eq!(total(&app, "myOrders", "", Some(&carol.token)).await, 0);
    assert_eq!(total(&app, "myOrders", "", admin_token).await, 0);
    assert_eq!(
        total_refused(&app, "orders", alice_token).await,
        "FORBIDDEN"
    );
    assert_eq!(
        total_refused(&app, "myOrders", None).await,
        "UNAUTHENTICATED"
    );

    // Assert: users (admins), all and by presence.
    assert_eq!(total(&app, "users", "", admin_token).await, 4);
    assert_eq!(total(&app, "users", "(first: 1)", admin_token).await, 4);
    assert_eq!(stats(&app, &admin).await["userCount"], 4);
    assert_eq!(total(&app, "users", "(online: true)", admin_token).await, 0);
    assert_eq!(
        total(&app, "users", "(online: false)", admin_token).await,
        4
    );
    assert_eq!(total_refused(&app, "users", alice_token).await, "FORBIDDEN");
    let socket = app.socket(&alice.token).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while total(&app, "users", "(online: true)", admin_token).await != 1 {
        assert!(
            Instant::now() < deadline,
            "users(online: true) counts Alice once her socket is open"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        total(&app, "users", "(online: false)", admin_token).await,
        3
    );
    assert_eq!(stats(&app, &admin).await["usersOnline"], 1);
    let online = app
        .graphql_ok(
            "{ users(online: true) { totalCount nodes { id } } }",
            json!({}),
            admin_token,
        )
        .await;
    assert_eq!(
        ids_of(&online["users"]["nodes"]),
        std::slice::from_ref(&alice.id),
        "the count is what the list shows: {online}"
    );
    drop(socket);

    // Assert: a thread counts both directions, for either participant.
    let thread = |with: &Account| format!("(with: \"{}\", last: 1)", with.id);
    assert_eq!(total(&app, "messages", &thread(&bob), alice_token).await, 4);
    assert_eq!(
        total(&app, "messages", &thread(&alice), Some(&bob.token)).await,
        4
    );
    assert_eq!(
        total(&app, "messages", &thread(&carol), alice_token).await,
        1
    );
    assert_eq!(
        total(&app, "messages", &thread(&carol), Some(&bob.token)).await,
        0
    );
    assert_eq!(
        total_refused(&app, &format!("messages{}", thread(&bob)), None).await,
        "UNAUTHENTICATED"
    );

    // Assert: conversations.
    for (who, expected) in [(&alice, 2), (&bob, 1), (&carol, 1), (&admin, 0)] {
        assert_eq!(
            total(&app, "conversationsConnection", "", Some(&who.token)).await,
            expected,
            "{}'s conversations",
            who.email
        );
    }
    assert_eq!(
        total(&app, "conversationsConnection", "(first: 1)", alice_token).await,
        2
    );
    assert_eq!(
        total_refused(&app, "conversationsConnection", None).await,
        "UNAUTHENTICATED"
    );
}

on_both_stores!(total_count_counts_what_each_list_holds_whatever_the_page);

// ---------------------------------------------------------------------------
// messages(with:, last:, before:)
// ---------------------------------------------------------------------------

const THREAD_PAGE: &str = "query($with: ID!, $last: Int, $before: String) { \
     messages(with: $with, last: $last, before: $before) { \
       totalCount \
       edges { cursor node { id text createdAt } } \
       pageInfo { hasPreviousPage hasNextPage startCursor endCursor } } }";

async fn paging_back_through_a_thread_with_last_reads_every_message_once_in_order(
    backend: Backend,
) {
    // Arrange: 45 messages, both ways.
    let app = spawn(backend).await;
    let alice = app.register(&unique_email("thread-alice")).await;
    let bob = app.register(&unique_email("thread-bob")).await;
    let mut sent = Vec::new();
    for n in 0..45 {
        let (from, to) = if n % 3 == 0 {
            (&bob, &alice)
        } else {
            (&alice, &bob)
        };
        sent.push(send(&app, from, to, &format!("message {n}")).await);
    }

    // Act: page back 20 at a time until there is nothing older.
    let mut pages: Vec<Vec<String>> = Vec::new();
    let mut before = Value::Null;
    loop {
        let data = app
            .graphql_ok(
                THREAD_PAGE,
                json!({ "with": bob.id, "last": 20, "before": before }),
                Some(&alice.token),
            )
            .await;
        let connection = &data["messages"];
        assert_eq!(connection["totalCount"], 45, "{data}");
        let edges = connection["edges"].as_array().expect("edges").clone();
        let info = &connection["pageInfo"];
        assert_eq!(
            info["startCursor"], edges[0]["cursor"],
            "startCursor is the oldest edge's"
        );
        assert_eq!(info["endCursor"], edges[edges.len() - 1]["cursor"]);
        assert_eq!(info["hasNextPage"], false);
        let times: Vec<&str> = edges
            .iter()
            .map(|edge| edge["node"]["createdAt"].as_str().unwrap())
            .collect();
        assert!(
            times.windows(2).all(|pair| pair[0] <= pair[1]),
            "edges are chronological: {times:?}"
        );
        pages.push(
            edges
                .iter()
                .map(|edge| edge["node"]["id"].as_str().unwrap().to_owned())
                .collect(),
        );
        assert!(pages.len() <= 5, "the walk never ends");
        if info["hasPreviousPage"] != true {
            break;
        }
        before = info["startCursor"].clone();
    }

    // Assert: 20, 20, 5; together every message once, in the order sent.
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [20, 20, 5]);
    let walked: Vec<String> = pages.into_iter().rev().flatten().collect();
    let distinct: BTreeSet<&String> = walked.iter().collect();
    assert_eq!(distinct.len(), walked.len(), "no message twice");
    assert_eq!(walked, sent, "no gap, and oldest first");

    // Assert: the newest page by default, and the deprecated `first` as
    // before: the same page as `last`.
    let newest = |arguments: &'static str| {
        let app = &app;
        let token = alice.token.clone();
        let with = bob.id.clone();
        async move {
            let data = app
                .graphql_ok(
                    &format!(
                        "query($with: ID!) {{ messages(with: $with{arguments}) {{ \
                           nodes {{ id }} pageInfo {{ hasPreviousPage }} }} }}"
                    ),
                    json!({ "with": with }),
                    Some(&token),
                )
                .await;
            (
                ids_of(&data["messages"]["nodes"]),
                data["messages"]["pageInfo"]["hasPreviousPage"].clone(),
            )
        }
    };
    let by_default = newest("").await;
    assert_eq!(by_default.0, sent[25..], "the newest 20 by default");
    assert_eq!(by_default.1, true);
    assert_eq!(newest(", first: 20").await, by_default, "first as before");
    assert_eq!(newest(", last: 20").await, by_default);
    assert_eq!(newest(", last: 45").await.0, sent);
    assert_eq!(newest(", first: 45").await.1, false);

    // Assert: first and last together are refused, naming both.
    let both = app
        .graphql(
            "query($with: ID!) { messages(with: $with, first: 5, last: 5) { totalCount } }",
            json!({ "with": bob.id }),
            Some(&alice.token),
        )
        .await;
    assert_eq!(graphql_code(&both), "BAD_USER_INPUT", "{both}");
    let details = &both["errors"][0]["extensions"]["details"];
    assert!(
        details["first"].is_string() && details["last"].is_string(),
        "details name first and last: {both}"
    );
    assert!(both["data"].is_null(), "{both}");
}

on_both_stores!(paging_back_through_a_thread_with_last_reads_every_message_once_in_order);

// ---------------------------------------------------------------------------
// conversationsConnection
// ---------------------------------------------------------------------------

const CONVERSATION_PAGE: &str = "query($first: Int, $after: String) { \
     conversationsConnection(first: $first, after: $after) { \
       totalCount \
       edges { cursor node { peer { id } lastMessage { id } unreadCount } } \
       pageInfo { hasNextPage hasPreviousPage endCursor } } }";

async fn the_conversation_connection_pages_newest_first_with_a_total(backend: Backend) {
    // Arrange: Alice talks with seven people, the latest exchange last.
    let app = spawn(backend).await;
    let alice = app.register(&unique_email("conv-alice")).await;
    let mut peers = Vec::new();
    for n in 0..7 {
        let peer = app.register(&unique_email(&format!("conv-peer{n}"))).await;
        send(&app, &peer, &alice, "hi").await;
        peers.push(peer);
    }
    send(&app, &alice, &peers[2], "back to you").await;
    // Newest latest message first: peer 2, then 6, 5, 4, 3, 1, 0.
    let expected: Vec<String> = [2, 6, 5, 4, 3, 1, 0]
        .iter()
        .map(|n: &usize| peers[*n].id.clone())
        .collect();

    // Act: walk three at a time.
    let mut walked = Vec::new();
    let mut after = Value::Null;
    let mut sizes = Vec::new();
    loop {
        let data = app
            .graphql_ok(
                CONVERSATION_PAGE,
                json!({ "first": 3, "after": after }),
                Some(&alice.token),
            )
            .await;
        let connection = &data["conversationsConnection"];
        assert_eq!(connection["totalCount"], 7, "{data}");
        assert_eq!(connection["pageInfo"]["hasPreviousPage"], false);
        let edges = connection["edges"].as_array().expect("edges").clone();
        sizes.push(edges.len());
        walked.extend(
            edges
                .iter()
                .map(|edge| edge["node"]["peer"]["id"].as_str().unwrap().to_owned()),
        );
        assert!(sizes.len() <= 5, "the walk never ends");
        if connection["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = connection["pageInfo"]["endCursor"].clone();
    }

    // Assert: every conversation once, newest first, as the old list has them.
    assert_eq!(sizes, [3, 3, 1]);
    assert_eq!(walked, expected);
    let listed = app
        .graphql_ok(
            "{ conversations { peer { id } } }",
            json!({}),
            Some(&alice.token),
        )
        .await;
    let listed: Vec<String> = listed["conversations"]
        .as_array()
        .expect("the deprecated list still answers")
        .iter()
        .map(|conversation| conversation["peer"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, expected);

    // Assert: a cursor of another list is refused, naming `after`.
    let thread = app
        .graphql_ok(
            "query($with: ID!) { messages(with: $with, last: 1) { pageInfo { startCursor } } }",
            json!({ "with": peers[0].id }),
            Some(&alice.token),
        )
        .await;
    let foreign = thread["messages"]["pageInfo"]["startCursor"].clone();
    let refused = app
        .graphql(
            CONVERSATION_PAGE,
            json!({ "first": 3, "after": foreign }),
            Some(&alice.token),
        )
        .await;
    assert_eq!(graphql_code(&refused), "BAD_USER_INPUT", "{refused}");
    assert!(
        refused["errors"][0]["extensions"]["details"]["after"].is_string(),
        "{refused}"
    );
}

on_both_stores!(the_conversation_connection_pages_newest_first_with_a_total);
