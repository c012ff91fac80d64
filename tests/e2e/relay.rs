//! The GraphQL door as Relay and Apollo clients expect it: objects fetched
//! by id alone (`node`, `nodes`) with each kind's own authorisation,
//! non-null links to accounts, and subscription payloads a normalized cache
//! applies by itself (a removed product as an object with its id).

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::steps::{id_of, is_next};
use crate::support::{Backend, TestApp, graphql_code, on_both_stores, unique_email};

const WAIT: Duration = Duration::from_secs(10);

/// A Relay refetch query: the fields of each kind through fragments.
const NODE: &str = "query($id: ID!) { node(id: $id) { __typename id \
     ... on Product { name } \
     ... on Order { quantity user { id } } \
     ... on User { name } \
     ... on Message { text from { id } to { id } } } }";

const NODES: &str = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }";

async fn node(app: &TestApp, id: &str, token: Option<&str>) -> Value {
    app.graphql_ok(NODE, json!({ "id": id }), token).await["node"].clone()
}

async fn each_kind_is_refetched_by_id_as_its_own_queries_allow(backend: Backend) {
    // Arrange: a product, Ada's order of it, a message from Ada to Bob.
    let app = TestApp::spawn_with(backend, |_| {}).await;
    let admin = app.login_as_admin().await;
    let ada = app.register(&unique_email("relay-ada")).await;
    let bob = app.register(&unique_email("relay-bob")).await;
    let lamp = app
        .create_product(&admin.token, "Relay Lamp", 12.5, 5)
        .await;
    let lamp_id = id_of(&lamp);
    let response = app.place_order(&ada.token, &lamp_id, 2).await;
    assert_eq!(response.status(), 201);
    let order: Value = response.json().await.unwrap();
    let order_id = id_of(&order["data"]);
    let sent = app
        .graphql_ok(
            "mutation($to: ID!) { sendMessage(to: $to, text: \"hello\") { id } }",
            json!({ "to": bob.id }),
            Some(&ada.token),
        )
        .await;
    let message_id = id_of(&sent["sendMessage"]);

    // Act + Assert: products are anyone's, even without a token.
    let product = node(&app, &lamp_id, None).await;
    assert_eq!(product["__typename"], "Product", "{product}");
    assert_eq!(product["name"], "Relay Lamp", "{product}");

    // An order: its owner and admins; another user sees null, not an error.
    let mine = node(&app, &order_id, Some(&ada.token)).await;
    assert_eq!(mine["__typename"], "Order", "{mine}");
    assert_eq!(mine["quantity"], 2, "{mine}");
    assert_eq!(mine["user"]["id"], ada.id.as_str(), "{mine}");
    assert_eq!(
        node(&app, &order_id, Some(&admin.token)).await["id"],
        order_id.as_str()
    );
    assert!(node(&app, &order_id, Some(&bob.token)).await.is_null());
    assert!(node(&app, &order_id, None).await.is_null());

    // A message: its two participants only, admins included in "others".
    for reader in [&ada, &bob] {
        let message = node(&app, &message_id, Some(&reader.token)).await;
        assert_eq!(message["__typename"], "Message", "{message}");
        assert_eq!(message["text"], "hello", "{message}");
        assert_eq!(message["from"]["id"], ada.id.as_str(), "{message}");
    }
    assert!(node(&app, &message_id, Some(&admin.token)).await.is_null());

    // An account: itself and admins.
    let herself = node(&app, &ada.id, Some(&ada.token)).await;
    assert_eq!(herself["__typename"], "User", "{herself}");
    assert_eq!(
        node(&app, &ada.id, Some(&admin.token)).await["id"],
        ada.id.as_str()
    );
    assert!(node(&app, &ada.id, Some(&bob.token)).await.is_null());

    // Unknown ids read like forbidden ones: null.
    let unknown = "0123456789abcdef01234567";
    assert!(node(&app, unknown, Some(&admin.token)).await.is_null());

    // `nodes` answers in the order asked, one batch.
    let data = app
        .graphql_ok(
            NODES,
            json!({ "ids": [order_id, unknown, lamp_id, message_id, bob.id] }),
            Some(&ada.token),
        )
        .await;
    let kinds: Vec<Value> = data["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| node["__typename"].clone())
        .collect();
    assert_eq!(
        kinds,
        [
            json!("Order"),
            Value::Null,
            json!("Product"),
            json!("Message"),
            Value::Null
        ],
        "{data}"
    );
}

on_both_stores!(each_kind_is_refetched_by_id_as_its_own_queries_allow);

#[tokio::test]
async fn malformed_or_too_many_ids_are_bad_user_input() {
    let app = TestApp::spawn().await;
    let ada = app.register(&unique_email("relay-bad")).await;

    let body = app
        .graphql(NODE, json!({ "id": "not-an-id" }), Some(&ada.token))
        .await;
    assert_eq!(graphql_code(&body), "BAD_USER_INPUT", "{body}");

    let ids: Vec<String> = (0..101).map(|n| format!("{n:024x}")).collect();
    let body = app
        .graphql(NODES, json!({ "ids": ids }), Some(&ada.token))
        .await;
    assert_eq!(graphql_code(&body), "BAD_USER_INPUT", "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["details"]["ids"], "at most 100 ids",
        "{body}"
    );
}

#[tokio::test]
async fn links_to_accounts_are_non_null_and_every_listed_kind_is_a_node() {
    let app = TestApp::spawn().await;
    let data = app
        .graphql_ok(
            "{ __schema { types { name interfaces { name } \
               fields { name type { kind ofType { name } } } } } }",
            json!({}),
            None,
        )
        .await;
    let types = data["__schema"]["types"].as_array().unwrap();
    let field = |type_name: &str, field_name: &str| -> Value {
        let found = types
            .iter()
            .find(|t| t["name"] == type_name)
            .unwrap_or_else(|| panic!("type {type_name}"));
        found["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == field_name)
            .unwrap_or_else(|| panic!("{type_name}.{field_name}"))["type"]
            .clone()
    };
    for (type_name, field_name) in [
        ("Order", "user"),
        ("Message", "from"),
        ("Message", "to"),
        ("Conversation", "peer"),
        ("SeenReceipt", "by"),
        ("UserTyping", "from"),
        ("PresenceChange", "user"),
    ] {
        let kind = field(type_name, field_name);
        assert_eq!(
            kind,
            json!({ "kind": "NON_NULL", "ofType": { "name": "User" } }),
            "{type_name}.{field_name}"
        );
    }
    assert_eq!(
        field("Order", "product")["kind"],
        "OBJECT",
        "nullable once deleted"
    );
    for type_name in ["User", "Product", "Order", "Message"] {
        let found = types.iter().find(|t| t["name"] == type_name).unwrap();
        assert_eq!(
            found["interfaces"],
            json!([{ "name": "Node" }]),
            "{type_name}"
        );
    }
}

async fn a_removed_product_arrives_as_an_object_with_its_id(backend: Backend) {
    // Arrange: a subscriber of productRemoved (and of the deprecated
    // productDeleted, which keeps working) through the real graphql-ws client.
    let app = TestApp::spawn_with(backend, |_| {}).await;
    let admin = app.login_as_admin().await;
    let ada = app.register(&unique_email("relay-removed")).await;
    let lamp = app
        .create_product(&admin.token, "Doomed Lamp", 3.0, 1)
        .await;
    let lamp_id = id_of(&lamp);
    let mut client = app.graphql_ws_client(&ada.token).await;
    for (id, query) in [
        (
            "removed",
            "subscription { productRemoved { productId position at } }",
        ),
        ("deleted", "subscription { productDeleted }"),
    ] {
        client
            .send(json!({ "cmd": "subscribe", "id": id, "query": query }))
            .await;
    }
    client
        .send(json!({ "cmd": "query", "id": "ready", "query": "{ me { id } }" }))
        .await;
    client
        .expect("the ready answer", WAIT, |line| {
            line["kind"] == "next" && line["id"] == "ready"
        })
        .await;

    // Act
    let response = app
        .delete(&format!("/products/{lamp_id}"), Some(&admin.token))
        .await;
    assert_eq!(response.status(), 200);

    // Assert
    let line = client
        .expect("productRemoved", WAIT, is_next("removed"))
        .await;
    let removed = &line["payload"]["data"]["productRemoved"];
    assert_eq!(removed["productId"], lamp_id.as_str(), "{line}");
    assert!(
        removed["position"].as_str().is_some_and(|p| !p.is_empty()),
        "{line}"
    );
    assert!(removed["at"].is_string(), "{line}");
    let line = client
        .expect("productDeleted", WAIT, is_next("deleted"))
        .await;
    assert_eq!(
        line["payload"]["data"]["productDeleted"],
        lamp_id.as_str(),
        "{line}"
    );
}

on_both_stores!(a_removed_product_arrives_as_an_object_with_its_id);
