//! Accounts over GraphQL (HTTP): the same rules as REST, errors with
//! `extensions.code`.

use realtime_dashboard::domain::Role;
use serde_json::{Value, json};

use crate::support::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Backend, TestApp, graphql_code, on_both_stores, unique_email,
};

const REGISTER: &str = "mutation($input: RegisterInput!) { register(input: $input) { token refreshToken expiresIn user { id name email role } } }";
const LOGIN: &str = "mutation($email: String!, $password: String!) { login(email: $email, password: $password) { token refreshToken user { id role } } }";
const REFRESH: &str = "mutation($token: String!) { refreshToken(refreshToken: $token) { token refreshToken user { id } } }";
const LOGOUT: &str = "mutation($token: String!) { logout(refreshToken: $token) }";
const ME: &str = "{ me { id name email role } }";
const SET_ROLE: &str =
    "mutation($id: ID!, $role: Role!) { setUserRole(id: $id, role: $role) { id role email } }";

async fn register(app: &TestApp, email: &str) -> Value {
    let body = app
        .graphql(
            REGISTER,
            json!({ "input": { "name": "Grace", "email": email, "password": "password-123" } }),
            None,
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["register"].clone()
}

async fn the_session_lifecycle_works_over_graphql(backend: Backend) {
    let app = TestApp::spawn_with(backend, |_| {}).await;
    let email = unique_email("gql");
    let registered = register(&app, &email).await;
    assert_eq!(registered["user"]["role"], "USER");
    assert_eq!(registered["expiresIn"], 900);

    let login = app
        .graphql(
            LOGIN,
            json!({ "email": email, "password": "password-123" }),
            None,
        )
        .await;
    let session = &login["data"]["login"];
    let token = session["token"].as_str().unwrap();
    let me = app.graphql(ME, json!({}), Some(token)).await;
    assert_eq!(me["data"]["me"]["id"], registered["user"]["id"]);
    assert_eq!(me["data"]["me"]["email"], email.as_str());

    let refresh = session["refreshToken"].as_str().unwrap();
    let rotated = app
        .graphql(REFRESH, json!({ "token": refresh }), None)
        .await;
    let rotated_refresh = rotated["data"]["refreshToken"]["refreshToken"]
        .as_str()
        .unwrap();
    assert_ne!(rotated_refresh, refresh);

    let reused = app
        .graphql(REFRESH, json!({ "token": refresh }), None)
        .await;
    assert_eq!(graphql_code(&reused), "CONFLICT");
    let after_reuse = app
        .graphql(REFRESH, json!({ "token": rotated_refresh }), None)
        .await;
    assert_eq!(graphql_code(&after_reuse), "UNAUTHENTICATED");

    let logout = app
        .graphql(LOGOUT, json!({ "token": rotated_refresh }), None)
        .await;
    assert_eq!(logout["data"]["logout"], true);
}

on_both_stores!(the_session_lifecycle_works_over_graphql);

#[tokio::test]
async fn me_needs_a_valid_unexpired_token() {
    let app = TestApp::spawn().await;
    let account = app.register(&unique_email("me")).await;
    let expired = app.expired_token(&account.id, Role::User);
    let mut tampered = account.token.clone();
    tampered.pop();
    tampered.push(if account.token.ends_with('A') {
        'B'
    } else {
        'A'
    });

    for token in [
        None,
        Some(expired.as_str()),
        Some(tampered.as_str()),
        Some("garbage"),
    ] {
        let body = app.graphql(ME, json!({}), token).await;
        assert_eq!(
            graphql_code(&body),
            "UNAUTHENTICATED",
            "token {token:?}: {body}"
        );
        assert!(body["data"].is_null() || body["data"]["me"].is_null());
    }
}

#[tokio::test]
async fn a_bad_token_does_not_stop_public_operations() {
    let app = TestApp::spawn().await;
    let body = app
        .graphql(
            LOGIN,
            json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }),
            Some("expired-or-garbage"),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert!(body["data"]["login"]["token"].is_string());
}

#[tokio::test]
async fn bad_inputs_are_bad_user_input() {
    let app = TestApp::spawn().await;
    let cases: Vec<(&str, &str, Value)> = vec![
        (
            "short password",
            REGISTER,
            json!({ "input": { "name": "A", "email": "a@example.test", "password": "short" } }),
        ),
        (
            "bad email",
            REGISTER,
            json!({ "input": { "name": "A", "email": "nope", "password": "password-123" } }),
        ),
        (
            "empty name",
            REGISTER,
            json!({ "input": { "name": " ", "email": "a@example.test", "password": "password-123" } }),
        ),
        (
            "role in the input",
            REGISTER,
            json!({ "input": { "name": "A", "email": "a@example.test", "password": "password-123", "role": "ADMIN" } }),
        ),
        (
            "missing field",
            REGISTER,
            json!({ "input": { "name": "A", "password": "password-123" } }),
        ),
        (
            "wrong type",
            REGISTER,
            json!({ "input": { "name": 7, "email": "a@example.test", "password": "password-123" } }),
        ),
        (
            "operator object",
            LOGIN,
            json!({ "email": { "$ne": null }, "password": "password-123" }),
        ),
        (
            "missing variable",
            LOGIN,
            json!({ "email": "a@example.test" }),
        ),
    ];
    for (what, query, variables) in cases {
        let body = app.graphql(query, variables, None).await;
        assert_eq!(graphql_code(&body), "BAD_USER_INPUT", "{what}: {body}");
    }
    let body = app.graphql("{ me { id ", json!({}), None).await;
    assert_eq!(
        graphql_code(&body),
        "BAD_USER_INPUT",
        "syntax error: {body}"
    );
    let body = app.graphql("{ nosuchfield }", json!({}), None).await;
    assert_eq!(
        graphql_code(&body),
        "BAD_USER_INPUT",
        "unknown field: {body}"
    );
    // None of them created an account.
    let body = app
        .graphql(
            LOGIN,
            json!({ "email": "a@example.test", "password": "password-123" }),
            None,
        )
        .await;
    assert_eq!(graphql_code(&body), "UNAUTHENTICATED");
}

#[tokio::test]
async fn validation_errors_name_their_fields() {
    let app = TestApp::spawn().await;
    let body = app
        .graphql(
            REGISTER,
            json!({ "input": { "name": "", "email": "nope", "password": "short" } }),
            None,
        )
        .await;
    let details = &body["errors"][0]["extensions"]["details"];
    for field in ["name", "email", "password"] {
        assert!(details[field].is_string(), "no details.{field}: {body}");
    }
}

#[tokio::test]
async fn too_deep_documents_are_refused_before_execution() {
    let app = TestApp::spawn().await;
    let mut query = String::from("{ __schema { types { fields { type ");
    for _ in 0..12 {
        query.push_str("{ ofType ");
    }
    query.push_str("{ name }");
    query.push_str(&"}".repeat(12));
    query.push_str(" } } } }");
    let body = app.graphql(&query, json!({}), None).await;
    assert_eq!(graphql_code(&body), "BAD_USER_INPUT", "{body}");
    assert!(body["data"].is_null());
}

#[tokio::test]
async fn only_admins_change_roles_and_the_change_takes_effect() {
    let app = TestApp::spawn().await;
    let admin = app.login_as_admin().await;
    let user = app.register(&unique_email("promote")).await;
    let other = app.register(&unique_email("bystander")).await;

    let refused = app
        .graphql(
            SET_ROLE,
            json!({ "id": other.id, "role": "ADMIN" }),
            Some(&user.token),
        )
        .await;
    assert_eq!(graphql_code(&refused), "FORBIDDEN");
    let anonymous = app
        .graphql(SET_ROLE, json!({ "id": other.id, "role": "ADMIN" }), None)
        .await;
    assert_eq!(graphql_code(&anonymous), "UNAUTHENTICATED");

    let promoted = app
        .graphql(
            SET_ROLE,
            json!({ "id": user.id, "role": "ADMIN" }),
            Some(&admin.token),
        )
        .await;
    assert_eq!(
        promoted["data"]["setUserRole"]["role"], "ADMIN",
        "{promoted}"
    );
    // Admins see other accounts' emails.
    assert_eq!(
        promoted["data"]["setUserRole"]["email"],
        user.email.as_str()
    );

    // A fresh sign-in carries the new role.
    let again = app.login(&user.email, "password-123").await;
    let me = app.graphql(ME, json!({}), Some(&again.token)).await;
    assert_eq!(me["data"]["me"]["role"], "ADMIN");

    let unknown = app
        .graphql(
            SET_ROLE,
            json!({ "id": "0123456789abcdef01234567", "role": "USER" }),
            Some(&admin.token),
        )
        .await;
    assert_eq!(graphql_code(&unknown), "NOT_FOUND");
    let malformed = app
        .graphql(
            SET_ROLE,
            json!({ "id": "not-an-id", "role": "USER" }),
            Some(&admin.token),
        )
        .await;
    assert_eq!(graphql_code(&malformed), "BAD_USER_INPUT");
    let own = app
        .graphql(
            SET_ROLE,
            json!({ "id": admin.id, "role": "USER" }),
            Some(&admin.token),
        )
        .await;
    assert_eq!(graphql_code(&own), "FORBIDDEN");
}

#[tokio::test]
async fn graphql_login_is_throttled_like_rest() {
    let app = TestApp::spawn().await;
    let mut codes = Vec::new();
    for _ in 0..6 {
        let body = app
            .graphql(
                LOGIN,
                json!({ "email": ADMIN_EMAIL, "password": "wrong-password" }),
                None,
            )
            .await;
        codes.push(graphql_code(&body).to_owned());
    }
    assert_eq!(
        codes.last().map(String::as_str),
        Some("RATE_LIMITED"),
        "{codes:?}"
    );
}
