//! Accounts over the REST compat routes: the documented envelopes, every
//! error class, throttling, rotation and reuse detection, on both stores.

use serde_json::{Value, json};

use crate::support::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Backend, TestApp, account_from, assert_rest_error, on_both_stores,
    unique_email,
};

async fn register_login_refresh_logout_round_trip(backend: Backend) {
    let app = TestApp::spawn_with(backend, |_| {}).await;
    let email = unique_email("round-trip");

    // Register: 201, the envelope, token and user mirrored at the top level.
    let response = app
        .post(
            "/auth/register",
            json!({ "name": "Ada", "email": email, "password": "password-123" }),
            None,
        )
        .await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "success");
    assert_eq!(body["token"], body["data"]["token"]);
    assert_eq!(body["user"], body["data"]["user"]);
    assert_eq!(body["data"]["user"]["role"], "user");
    assert_eq!(body["data"]["user"]["email"], email.as_str());
    assert_eq!(body["data"]["expiresIn"], 900);
    assert_eq!(body["data"]["user"]["id"].as_str().unwrap().len(), 24);
    let registered = account_from(body);

    // Login, under /api/v1 as well.
    let response = app
        .post(
            "/api/v1/auth/login",
            json!({ "email": email, "password": "password-123" }),
            None,
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token"], body["data"]["token"]);
    let session = account_from(body);
    assert_eq!(session.id, registered.id);

    // Refresh rotates: a new pair, the old refresh token is spent.
    let response = app
        .post(
            "/auth/refresh",
            json!({ "refreshToken": session.refresh_token }),
            None,
        )
        .await;
    assert_eq!(response.status(), 200);
    let rotated = account_from(response.json().await.unwrap());
    assert_ne!(rotated.refresh_token, session.refresh_token);

    // The new access token works.
    let me = app
        .graphql("{ me { id email role } }", json!({}), Some(&rotated.token))
        .await;
    assert_eq!(me["data"]["me"]["id"], registered.id.as_str());

    // Logout revokes the family: the rotated refresh token stops working.
    let response = app.logout(&rotated.refresh_token).await;
    assert_eq!(response.status(), 200);
    let response = app
        .post(
            "/auth/refresh",
            json!({ "refreshToken": rotated.refresh_token }),
            None,
        )
        .await;
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "UNAUTHENTICATED");
}

on_both_stores!(register_login_refresh_logout_round_trip);

async fn reusing_a_rotated_refresh_token_revokes_the_family(backend: Backend) {
    let app = TestApp::spawn_with(backend, |_| {}).await;
    let account = app.register(&unique_email("reuse")).await;
    let response = app
        .post(
            "/auth/refresh",
            json!({ "refreshToken": account.refresh_token }),
            None,
        )
        .await;
    let rotated = account_from(response.json().await.unwrap());

    // Replaying the spent token is a conflict...
    let response = app
        .post(
            "/auth/refresh",
            json!({ "refreshToken": account.refresh_token }),
            None,
        )
        .await;
    assert_eq!(response.status(), 409);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "CONFLICT");

    // ...and the legitimate successor is revoked with it.
    let response = app
        .post(
            "/auth/refresh",
            json!({ "refreshToken": rotated.refresh_token }),
            None,
        )
        .await;
    assert_eq!(response.status(), 401);
}

on_both_stores!(reusing_a_rotated_refresh_token_revokes_the_family);

#[tokio::test]
async fn an_unknown_email_and_a_wrong_password_get_the_same_answer() {
    let app = TestApp::spawn().await;
    let account = app.register(&unique_email("same-answer")).await;

    let wrong_password = app
        .post(
            "/auth/login",
            json!({ "email": account.email, "password": "not-the-password" }),
            None,
        )
        .await;
    let unknown_email = app
        .post(
            "/auth/login",
            json!({ "email": unique_email("nobody"), "password": "password-123" }),
            None,
        )
        .await;

    assert_eq!(wrong_password.status(), 401);
    assert_eq!(unknown_email.status(), 401);
    let wrong_password: Value = wrong_password.json().await.unwrap();
    let unknown_email: Value = unknown_email.json().await.unwrap();
    assert_eq!(wrong_password, unknown_email);
    assert_eq!(wrong_password["code"], "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_taken_email_is_a_conflict_whatever_its_case() {
    let app = TestApp::spawn().await;
    let email = unique_email("taken");
    app.register(&email).await;
    let response = app
        .post(
            "/auth/register",
            json!({ "name": "Copy", "email": email.to_uppercase(), "password": "password-123" }),
            None,
        )
        .await;
    assert_eq!(response.status(), 409);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "CONFLICT");
    assert_eq!(body["status"], "error");
}

#[tokio::test]
async fn bad_registration_and_login_inputs_are_validation_errors() {
    let app = TestApp::spawn().await;
    let cases: Vec<(&str, &str, Value, &str)> = vec![
        (
            "register",
            "/auth/register",
            json!({ "email": "a@example.test", "password": "password-123" }),
            "name",
        ),
        (
            "register",
            "/auth/register",
            json!({ "name": "A", "password": "password-123" }),
            "email",
        ),
        (
            "register",
            "/auth/register",
            json!({ "name": "A", "email": "not-an-email", "password": "password-123" }),
            "email",
        ),
        (
            "register",
            "/auth/register",
            json!({ "name": "A", "email": "a@example.test", "password": "short" }),
            "password",
        ),
        (
            "register",
            "/auth/register",
            json!({ "name": 42, "email": "a@example.test", "password": "password-123" }),
            "name",
        ),
        (
            "register",
            "/auth/register",
            json!(["not", "an", "object"]),
            "body",
        ),
        (
            "login",
            "/auth/login",
            json!({ "email": { "$ne": null }, "password": "password-123" }),
            "email",
        ),
        (
            "login",
            "/auth/login",
            json!({ "email": ADMIN_EMAIL, "password": { "$ne": null } }),
            "password",
        ),
        (
            "login",
            "/auth/login",
            json!({ "email": ADMIN_EMAIL }),
            "password",
        ),
        (
            "login",
            "/auth/login",
            json!({ "email": ADMIN_EMAIL, "password": "" }),
            "password",
        ),
        (
            "refresh",
            "/auth/refresh",
            json!({ "refreshToken": 12 }),
            "refreshToken",
        ),
        ("logout", "/auth/logout", json!({}), "refreshToken"),
    ];
    for (what, path, body, field) in cases {
        let response = app.post(path, body.clone(), None).await;
        assert_eq!(response.status(), 400, "{what} {body}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["status"], "error", "{what} {body}");
        assert_eq!(answer["code"], "BAD_USER_INPUT", "{what} {body}");
        assert!(
            answer["details"][field].is_string(),
            "{what} {body}: no details.{field} in {answer}"
        );
    }
    // Nothing was created by any of them.
    let response = app
        .post(
            "/auth/login",
            json!({ "email": "a@example.test", "password": "password-123" }),
            None,
        )
        .await;
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn malformed_json_is_a_validation_error_in_the_envelope() {
    let app = TestApp::spawn().await;
    for body in [
        "{",
        "not json",
        "",
        "{\"email\": \"a@b.c\", \"password\": }",
    ] {
        let response = app
            .post_raw("/auth/login", body.to_owned(), "application/json")
            .await;
        assert_eq!(response.status(), 400, "{body:?}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["code"], "BAD_USER_INPUT", "{body:?}");
    }
}

#[tokio::test]
async fn registration_never_creates_an_admin() {
    let app = TestApp::spawn().await;
    let account = app.register(&unique_email("plain")).await;
    let me = app
        .graphql("{ me { role } }", json!({}), Some(&account.token))
        .await;
    assert_eq!(me["data"]["me"]["role"], "USER");
}

#[tokio::test]
async fn repeated_failed_logins_are_throttled_with_retry_after() {
    let app = TestApp::spawn().await;
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let response = app
            .post(
                "/auth/login",
                json!({ "email": ADMIN_EMAIL, "password": "wrong-password" }),
                None,
            )
            .await;
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            let retry_after: u64 = response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(retry_after >= 1, "Retry-After {retry_after}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["code"], "RATE_LIMITED");
            break;
        }
    }
    assert_eq!(statuses.last(), Some(&429), "never throttled: {statuses:?}");
    assert!(
        statuses[..statuses.len() - 1]
            .iter()
            .all(|status| *status == 401),
        "{statuses:?}"
    );
    // The account is throttled even with the right password now.
    let response = app
        .post(
            "/auth/login",
            json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }),
            None,
        )
        .await;
    assert_eq!(response.status(), 429);
}

#[tokio::test]
async fn one_address_is_throttled_across_accounts() {
    let app = TestApp::spawn_with(crate::support::Backend::Sqlite, |config| {
        config.login_attempts_per_address = 4;
    })
    .await;
    let mut statuses = Vec::new();
    for n in 0..6 {
        let response = app
            .post(
                "/auth/login",
                json!({ "email": format!("spray{n}@example.test"), "password": "guess-123" }),
                None,
            )
            .await;
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 429, 429]);
}

/// Six failed sign-ins (unknown emails) as if from `forwarded`, each
/// answered status in order; and over GraphQL one more, its error code.
async fn spray(app: &TestApp, forwarded: &str) -> (Vec<u16>, Value) {
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for n in 0..6 {
        let response = http
            .post(app.url("/auth/login"))
            .header("X-Forwarded-For", forwarded)
            .json(&json!({ "email": format!("spray{n}@example.test"), "password": "guess-123" }))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    let graphql: Value = http
        .post(app.url("/graphql"))
        .header("X-Forwarded-For", forwarded)
        .json(&json!({ "query": "mutation { login(email: \"spray9@example.test\", password: \"guess-123\") { token } }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (statuses, graphql["errors"][0]["extensions"]["code"].clone())
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit() {
    // Arrange: the test client's address is the trusted proxy.
    let app = TestApp::spawn_with(crate::support::Backend::Sqlite, |config| {
        config.login_attempts_per_address = 4;
        config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;

    // Act
    let first = spray(&app, "198.51.100.1").await;
    let second = spray(&app, "1.2.3.4, 198.51.100.2").await;

    // Assert
    for (client, (statuses, graphql)) in [("first", first), ("second", second)] {
        assert_eq!(statuses, [401, 401, 401, 401, 429, 429], "{client} client");
        assert_eq!(graphql, "RATE_LIMITED", "{client} client over GraphQL");
    }
}

#[tokio::test]
async fn a_forged_forwarded_address_from_an_untrusted_peer_changes_nothing() {
    // Arrange: no trusted proxies (the default).
    let app = TestApp::spawn_with(crate::support::Backend::Sqlite, |config| {
        config.login_attempts_per_address = 4;
    })
    .await;

    // Act: each round claims another address.
    let (first, _) = spray(&app, "198.51.100.1").await;
    let (second, _) = spray(&app, "198.51.100.2").await;

    // Assert: one address, one limit.
    assert_eq!(first, [401, 401, 401, 401, 429, 429]);
    assert_eq!(second, [429; 6]);
}

#[tokio::test]
async fn logout_is_idempotent_and_reveals_nothing() {
    let app = TestApp::spawn().await;
    let account = app.register(&unique_email("logout")).await;
    for token in [
        account.refresh_token.as_str(),
        account.refresh_token.as_str(),
        "never-issued",
    ] {
        let response = app.logout(token).await;
        assert_eq!(response.status(), 200);
    }
}

#[tokio::test]
async fn the_bootstrap_admin_can_sign_in_as_admin() {
    let app = TestApp::spawn().await;
    let admin = app.login_as_admin().await;
    let me = app
        .graphql("{ me { role email } }", json!({}), Some(&admin.token))
        .await;
    assert_eq!(me["data"]["me"]["role"], "ADMIN");
    assert_eq!(me["data"]["me"]["email"], ADMIN_EMAIL);
}

#[tokio::test]
async fn a_registration_names_every_missing_or_wrong_field_at_once() {
    let app = TestApp::spawn().await;
    let response = app
        .post("/auth/register", json!({ "email": 42 }), None)
        .await;
    let body = assert_rest_error(response, 400, "BAD_USER_INPUT", "register with one field").await;
    let details = body["details"].as_object().expect("details");
    assert_eq!(details.len(), 3, "{body}");
    assert_eq!(details["name"], "is required");
    assert_eq!(details["password"], "is required");
    assert!(
        details["email"]
            .as_str()
            .unwrap()
            .starts_with("invalid type"),
        "{body}"
    );
}
