//! Revocation that holds: a signed-out session, a demoted admin and a
//! deactivated account stay cut off after the server restarts, at every door
//! (REST, GraphQL over HTTP, Socket.IO, GraphQL over WebSocket), on both
//! stores; a token whose account does not exist is refused everywhere; a
//! second server process on the same store refuses within the cache window.
//!
//! Each restart test replays the old token against a new server process
//! state (`TestApp::restart`: nothing held in memory survives) and checks a
//! fresh token of the same account still works where it should, so a door
//! that refused everything would fail too.

use std::time::Duration;

use realtime_dashboard::auth::TokenIssuer;
use realtime_dashboard::domain::{Role, UserId};
use realtime_dashboard::services::STATUS_FRESHNESS;
use serde_json::{Value, json};

use crate::support::node::NodeClient;
use crate::support::steps::{FORBIDDEN, SET_ROLE, is_event, is_kind, set_role};
use crate::support::{
    Account, Backend, PASSWORD, TestApp, assert_rest_error, graphql_code, on_both_stores,
    unique_email,
};

/// How long to wait for something that must happen.
const WAIT: Duration = Duration::from_secs(10);

const SET_ACTIVE: &str = "mutation($id: ID!, $active: Boolean!) { setUserActive(id: $id, active: $active) { id active } }";
const CREATE_PRODUCT: &str =
    "mutation { createProduct(input: { name: \"Forbidden fruit\", price: 1.5, stock: 1 }) { id } }";
const USERS_WITH_EMAILS: &str = "{ users(first: 100) { nodes { id email } } }";

/// Asserts every door refuses `token` as unauthenticated.
async fn every_door_refuses(app: &TestApp, token: &str, what: &str) {
    let response = app.get("/orders/my", Some(token)).await;
    assert_rest_error(response, 401, "UNAUTHENTICATED", &format!("{what}: REST")).await;

    let body = app.graphql("{ me { id } }", json!({}), Some(token)).await;
    assert_eq!(
        graphql_code(&body),
        "UNAUTHENTICATED",
        "{what}: GraphQL over HTTP: {body}"
    );

    let mut socket = NodeClient::socketio(&app.address, json!({ "token": token })).await;
    let outcome = socket
        .expect(&format!("{what}: the handshake outcome"), WAIT, |line| {
            line["kind"] == "connect_error" || line["kind"] == "connect"
        })
        .await;
    assert_eq!(
        outcome["kind"], "connect_error",
        "{what}: Socket.IO: {outcome}"
    );

    let mut client = NodeClient::graphql_ws(&app.ws_url(), json!({ "token": token })).await;
    let closed = client
        .expect(&format!("{what}: the close"), WAIT, is_kind("closed"))
        .await;
    assert_eq!(
        closed["code"],
        json!(FORBIDDEN),
        "{what}: GraphQL WebSocket: {:#?}",
        client.seen()
    );
    assert!(
        !client
            .seen()
            .iter()
            .any(|line| line.contains(r#""kind":"connected""#)),
        "{what}: the GraphQL WebSocket was acknowledged"
    );
}

/// Asserts every door accepts `token` as the account `id` with `role`.
async fn every_door_accepts(app: &TestApp, token: &str, id: &str, role: &str, what: &str) {
    let response = app.get("/orders/my", Some(token)).await;
    assert_eq!(response.status(), 200, "{what}: REST");

    let data = app
        .graphql_ok("{ me { id role } }", json!({}), Some(token))
        .await;
    assert_eq!(
        data["me"],
        json!({ "id": id, "role": role }),
        "{what}: GraphQL"
    );

    // Both WebSocket doors acknowledge (the helpers assert it).
    let _socket = app.socket(token).await;
    let _client = app.graphql_ws_client(token).await;
}

async fn sign_out_holds_across_a_restart(backend: Backend) {
    // Arrange: Alice signs in and out; her access token is void.
    let app = TestApp::spawn_with(backend, |_| {}).await;
    let alice = app.register(&unique_email("revoked-logout")).await;
    every_door_accepts(&app, &alice.token, &alice.id, "USER", "before sign-out").await;
    let response = app.logout(&alice.refresh_token).await;
    assert_eq!(response.status(), 200);
    every_door_refuses(&app, &alice.token, "signed out, same process").await;

    // Act
    let app = app.restart().await;

    // Assert
    every_door_refuses(&app, &alice.token, "signed out, after a restart").await;
    let again = app.login(&alice.email, PASSWORD).await;
    every_door_accepts(&app, &again.token, &alice.id, "USER", "signed in again").await;
}

on_both_stores!(
    a_signed_out_token_stays_refused_after_a_restart => sign_out_holds_across_a_restart
);

async fn demotion_holds_across_a_restart(backend: Backend) {
    // Arrange: Bob is made an admin and signs in as one; then demoted.
    let app = TestApp::spawn_with(backend, |_| {}).await;
    let admin = app.login_as_admin().await;
    let bob = app.register(&unique_email("revoked-demoted")).await;
    let carol = app.register(&unique_email("revoked-bystander")).await;
    set_role(&app, &admin, &bob, "ADMIN").await;
    let bob_admin = app.login(&bob.email, PASSWORD).await;
    every_door_accepts(&app, &bob_admin.token, &bob.id, "ADMIN", "promoted").await;
    set_role(&app, &admin, &bob, "USER").await;

    // Act
    let app = app.restart().await;

    // Assert: the admin token Bob kept does nothing, anywhere.
    every_door_refuses(&app, &bob_admin.token, "demoted, after a restart").await;
    let token = Some(bob_admin.token.as_str());
    let response = app
        .post(
            "/products",
            json!({ "name": "Forbidden fruit", "price": 1.5, "stock": 1 }),
            token,
        )
        .await;
    assert_rest_error(response, 401, "UNAUTHENTICATED", "POST /products").await;
    for (query, variables) in [
        (CREATE_PRODUCT, json!({})),
        (USERS_WITH_EMAILS, json!({})),
        (SET_ROLE, json!({ "id": carol.id, "role": "ADMIN" })),
    ] {
        let body = app.graphql(query, variables, token).await;
        assert_eq!(graphql_code(&body), "UNAUTHENTICATED", "{query}: {body}");
    }
    let admin = app.login_as_admin().await;
    let roles = app
        .graphql_ok(
            "{ users(first: 100) { nodes { id role } } }",
            json!({}),
            Some(&admin.token),
        )
        .await;
    let carol_role = roles["users"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|user| user["id"] == carol.id.as_str())
        .map(|user| user["role"].clone());
    assert_eq!(carol_role, Some(json!("USER")), "nobody was promoted");
    assert_eq!(
        app.product_count(&admin.token).await,
        0,
        "nothing was created"
    );

    // A fresh token works, as the user Bob now is.
    let bob_user = app.login(&bob.email, PASSWORD).await;
    every_door_accepts(
        &app,
        &bob_user.token,
        &bob.id,
        "USER",
        "demoted, fresh token",
    )
    .await;
    let body = app
        .graphql(CREATE_PRODUCT, json!({}), Some(&bob_user.token))
        .await;
    assert_eq!(graphql_code(&body), "FORBIDDEN", "{body}");
}

on_both_stores!(
    a_demoted_admins_token_stays_refused_after_a_restart => demotion_holds_across_a_restart
);

async fn deactivation_holds_across_a_restart(backend: Backend) {
    // Arrange: Dora is deactivated over GraphQL.
    let app = TestApp::spawn_with(backend, |_| {}).await;
    let admin = app.login_as_admin().await;
    let dora = app.register(&unique_email("revoked-deactivated")).await;
    let data = app
        .graphql_ok(
            SET_ACTIVE,
            json!({ "id": dora.id, "active": false }),
            Some(&admin.token),
        )
        .await;
    assert_eq!(
        data["setUserActive"],
        json!({ "id": dora.id, "active": false })
    );

    // Act
    let app = app.restart().await;

    // Assert: her token, her refresh token and her password do nothing.
    every_door_refuses(&app, &dora.token, "deactivated, after a restart").await;
    let refreshed = app
        .post(
            "/auth/refresh",
            json!({ "refreshToken": dora.refresh_token }),
            None,
        )
        .await;
    assert_rest_error(refreshed, 401, "UNAUTHENTICATED", "refresh").await;
    let signed_in = app
        .post(
            "/auth/login",
            json!({ "email": dora.email, "password": PASSWORD }),
            None,
        )
        .await;
    assert_rest_error(signed_in, 403, "FORBIDDEN", "sign-in").await;

    // Her data stays, and reactivation lets her sign in again.
    let admin = app.login_as_admin().await;
    let data = app
        .graphql_ok(
            SET_ACTIVE,
            json!({ "id": dora.id, "active": true }),
            Some(&admin.token),
        )
        .await;
    assert_eq!(data["setUserActive"]["active"], true);
    let again = app.login(&dora.email, PASSWORD).await;
    every_door_accepts(&app, &again.token, &dora.id, "USER", "reactivated").await;
    every_door_refuses(&app, &dora.token, "the token from before the deactivation").await;
}

on_both_stores!(
    a_deactivated_accounts_token_stays_refused_after_a_restart => deactivation_holds_across_a_restart
);

#[tokio::test]
async fn deactivation_over_rest_ends_open_connections_and_keeps_the_data() {
    // Arrange: Eve has an order, a socket and a GraphQL WebSocket.
    let app = TestApp::spawn().await;
    let admin = app.login_as_admin().await;
    let eve = app.register(&unique_email("deactivated-live")).await;
    let product = app.create_product(&admin.token, "Lamp", 12.0, 5).await;
    let placed = app
        .place_order(&eve.token, product["id"].as_str().unwrap(), 1)
        .await;
    assert_eq!(placed.status(), 201);
    let mut socket = app.socket(&eve.token).await;
    let mut client = app.graphql_ws_client(&eve.token).await;

    // Act
    let response = app
        .http
        .patch(app.url(&format!("/users/{}", eve.id)))
        .bearer_auth(&admin.token)
        .json(&json!({ "active": false }))
        .send()
        .await
        .unwrap();

    // Assert
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["active"], false, "{body}");
    assert_eq!(body["data"]["id"], eve.id.as_str(), "{body}");
    let ended = socket
        .expect("session_ended", WAIT, is_event("session_ended"))
        .await;
    assert_eq!(ended["args"], json!([{ "reason": "deactivated" }]));
    socket
        .expect("the server's disconnect", WAIT, is_kind("disconnect"))
        .await;
    let closed = client.expect("closed", WAIT, is_kind("closed")).await;
    assert_eq!(
        (closed["code"].clone(), closed["reason"].clone()),
        (json!(FORBIDDEN), json!("deactivated"))
    );
    every_door_refuses(&app, &eve.token, "deactivated").await;
    let orders = app
        .get_with("/orders", &[("limit", "100")], Some(&admin.token))
        .await;
    let orders: Value = orders.json().await.unwrap();
    let kept = orders["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|order| order["userId"] == eve.id.as_str());
    assert!(kept, "Eve's order stays: {orders}");
}

#[tokio::test]
async fn only_admins_deactivate_and_never_themselves() {
    let app = TestApp::spawn().await;
    let admin = app.login_as_admin().await;
    let frank = app.register(&unique_email("deactivate-rules")).await;
    let grace = app.register(&unique_email("deactivate-target")).await;
    let patch = |token: &str, id: &str, body: Value| {
        app.http
            .patch(app.url(&format!("/users/{id}")))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let cases = [
        (
            patch(&frank.token, &grace.id, json!({ "active": false }))
                .await
                .unwrap(),
            403,
            "FORBIDDEN",
            "a user deactivating someone",
        ),
        (
            patch(
                &admin.token,
                &admin_id(&app, &admin).await,
                json!({ "active": false }),
            )
            .await
            .unwrap(),
            403,
            "FORBIDDEN",
            "an admin deactivating themselves",
        ),
        (
            patch(
                &admin.token,
                &UserId::generate().to_string(),
                json!({ "active": false }),
            )
            .await
            .unwrap(),
            404,
            "NOT_FOUND",
            "an unknown account",
        ),
        (
            patch(&admin.token, "not-an-id", json!({ "active": false }))
                .await
                .unwrap(),
            400,
            "BAD_USER_INPUT",
            "a malformed id",
        ),
        (
            patch(&admin.token, &grace.id, json!({ "active": "no" }))
                .await
                .unwrap(),
            400,
            "BAD_USER_INPUT",
            "a flag that is not a boolean",
        ),
    ];
    for (response, status, code, what) in cases {
        assert_rest_error(response, status, code, what).await;
    }
    let body = app
        .graphql(
            SET_ACTIVE,
            json!({ "id": grace.id, "active": false }),
            Some(&frank.token),
        )
        .await;
    assert_eq!(graphql_code(&body), "FORBIDDEN", "{body}");
    every_door_accepts(&app, &grace.token, &grace.id, "USER", "untouched").await;
}

async fn admin_id(app: &TestApp, admin: &Account) -> String {
    let data = app
        .graphql_ok("{ me { id } }", json!({}), Some(&admin.token))
        .await;
    data["me"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_validly_signed_token_of_an_account_that_does_not_exist_is_refused() {
    let app = TestApp::spawn().await;
    let issuer = TokenIssuer::new(app.config.jwt_secret_bytes(), Duration::from_secs(900));
    let ghost = issuer
        .issue_for(&UserId::generate(), Role::Admin, Duration::from_secs(900))
        .unwrap();
    every_door_refuses(&app, &ghost.token, "an account that does not exist").await;
}

#[tokio::test]
async fn another_process_on_the_same_store_refuses_a_signed_out_token_within_the_cache_window() {
    // Arrange: two servers on one MongoDB database; Alice is known to both.
    let first = TestApp::spawn_with(Backend::Mongo, |_| {}).await;
    let second = first.another_on_the_same_store().await;
    let alice = first.register(&unique_email("revoked-elsewhere")).await;
    every_door_accepts(&second, &alice.token, &alice.id, "USER", "on the second").await;

    // Act: she signs out through the first.
    let response = first.logout(&alice.refresh_token).await;
    assert_eq!(response.status(), 200);

    // Assert: the second refuses her token once its cached status expires.
    let deadline = tokio::time::Instant::now() + STATUS_FRESHNESS + Duration::from_secs(2);
    loop {
        let status = second.get("/orders/my", Some(&alice.token)).await.status();
        if status == 401 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the second process still accepts the token after {STATUS_FRESHNESS:?} (answered {status})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    every_door_refuses(&second, &alice.token, "signed out on another process").await;
}
