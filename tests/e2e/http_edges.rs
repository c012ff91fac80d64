//! What every HTTP client meets around the routes: health, unknown routes,
//! oversize bodies, security headers, request ids, CORS, GraphiQL.

use serde_json::{Value, json};

use crate::support::{Backend, TestApp};

#[tokio::test]
async fn health_and_readiness_answer_200() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/healthz", None).await.status(), 200);
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["store"], "ok");
}

#[tokio::test]
async fn readiness_checks_mongodb_too() {
    let app = TestApp::spawn_with(Backend::Mongo, |_| {}).await;
    assert_eq!(app.get("/readyz", None).await.status(), 200);
}

#[tokio::test]
async fn unknown_routes_get_the_envelope() {
    let app = TestApp::spawn().await;
    let response = app.get("/no/such/route", None).await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "error");
    assert_eq!(body["code"], "NOT_FOUND");
    let response = app.get("/auth/login", None).await;
    assert_eq!(response.status(), 405);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "error");
}

#[tokio::test]
async fn oversize_bodies_get_413_in_the_envelope_and_the_server_lives_on() {
    let app = TestApp::spawn().await;
    let huge = "x".repeat(70 * 1024);
    let response = app
        .post(
            "/auth/login",
            json!({ "email": huge, "password": "password-123" }),
            None,
        )
        .await;
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "error");
    assert_eq!(body["code"], "BAD_USER_INPUT");

    let response = app
        .post(
            "/graphql",
            json!({ "query": format!("{{ me {{ id }} }} #{huge}") }),
            None,
        )
        .await;
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");

    assert_eq!(app.get("/healthz", None).await.status(), 200);
}

#[tokio::test]
async fn malformed_graphql_requests_get_graphql_errors() {
    let app = TestApp::spawn().await;
    let response = app
        .post_raw("/graphql", "{not json", "application/json")
        .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
}

#[tokio::test]
async fn responses_carry_security_headers_and_a_request_id() {
    let app = TestApp::spawn().await;
    let response = app.get("/healthz", None).await;
    let headers = response.headers();
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert!(headers.contains_key("content-security-policy"));
    assert!(!headers["x-request-id"].is_empty());

    let response = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "client-chosen-id")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "client-chosen-id");
}

#[tokio::test]
async fn cors_allows_configured_origins_only() {
    let app = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.cors_origins = vec!["https://admin.example.test".into()];
    })
    .await;
    let preflight = |origin: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, app.url("/auth/login"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let allowed = preflight("https://admin.example.test").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://admin.example.test"
    );
    let refused = preflight("https://evil.example.test").await.unwrap();
    assert!(
        !refused
            .headers()
            .contains_key("access-control-allow-origin")
    );
}

#[tokio::test]
async fn a_browser_get_on_graphql_serves_graphiql_wired_for_subscriptions() {
    let app = TestApp::spawn().await;
    let response = app
        .http
        .get(app.url("/graphql"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let page = response.text().await.unwrap();
    assert!(page.contains("graphiql"), "not a GraphiQL page");
    assert!(page.contains("/graphql"));
    assert!(
        page.contains("subscriptionUrl: createUrl('/graphql', true)"),
        "subscriptions not wired"
    );
}

#[tokio::test]
async fn a_query_runs_over_get_as_graphql_over_http_has_it() {
    let app = TestApp::spawn().await;
    let ada = app.register("get-ada@example.test").await;
    let query =
        "query Who($yes: Boolean!) { me { email @include(if: $yes) } } query Unused { __typename }";
    let response = app
        .http
        .get(app.url("/graphql"))
        .query(&[
            ("query", query),
            ("operationName", "Who"),
            ("variables", r#"{"yes": true}"#),
        ])
        .bearer_auth(&ada.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("json")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["data"]["me"]["email"], "get-ada@example.test",
        "{body}"
    );
}

#[tokio::test]
async fn a_mutation_over_get_is_refused_with_405_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let ada = app.register("get-mutation@example.test").await;
    let logout = format!(r#"logout(refreshToken: "{}")"#, ada.refresh_token);
    let cases = [
        vec![("query", format!("mutation {{ {logout} }}"))],
        vec![
            (
                "query",
                format!("query Q {{ __typename }} mutation M {{ {logout} }}"),
            ),
            ("operationName", "M".to_owned()),
        ],
    ];
    for parameters in cases {
        let response = app
            .http
            .get(app.url("/graphql"))
            .query(&parameters)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{parameters:?}");
        assert_eq!(response.headers()["allow"], "POST");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            crate::support::graphql_code(&body),
            "BAD_USER_INPUT",
            "{body}"
        );
    }
    // The session is still alive: the refresh token still works.
    let refreshed = app
        .post(
            "/auth/refresh",
            json!({ "refreshToken": ada.refresh_token }),
            None,
        )
        .await;
    assert_eq!(refreshed.status(), 200);
}

#[tokio::test]
async fn a_get_without_a_query_is_graphiql_only_for_a_browser() {
    let app = TestApp::spawn().await;
    let plain = app.http.get(app.url("/graphql")).send().await.unwrap();
    assert_eq!(plain.status(), 400);
    let body: Value = plain.json().await.unwrap();
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("`query` parameter"),
        "{body}"
    );

    let bad_variables = app
        .http
        .get(app.url("/graphql"))
        .query(&[("query", "{ __typename }"), ("variables", "{not json")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad_variables.status(), 400);
    let body: Value = bad_variables.json().await.unwrap();
    assert_eq!(
        crate::support::graphql_code(&body),
        "BAD_USER_INPUT",
        "{body}"
    );
}

#[tokio::test]
async fn the_root_sends_a_browser_to_the_dashboard() {
    let app = TestApp::spawn().await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = no_redirects.get(app.url("/")).send().await.unwrap();
    assert_eq!(response.status(), 307);
    assert_eq!(response.headers()["location"], "/dashboard/");
    let followed = app.get("/", None).await;
    assert_eq!(followed.status(), 200);
    let page = followed.text().await.unwrap();
    assert!(page.contains("Realtime Dashboard"), "{page:.200}");
}
