//! GraphQL over HTTP as its specification has it: the status and media type
//! of a request that fails before execution, by what the client accepts;
//! and automatic persisted queries (Apollo's protocol) over POST and GET.

use reqwest::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::support::{TestApp, graphql_code, unique_email};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// What Apollo Client 4 sends.
const APOLLO_ACCEPT: &str = "application/graphql-response+json,application/json;q=0.9";

/// `POST /graphql` with `body` and `accept` (none when `None`): status,
/// media type and body.
async fn post(app: &TestApp, body: &Value, accept: Option<&str>) -> (u16, String, Value) {
    let mut request = app.http.post(app.url("/graphql")).json(body);
    if let Some(accept) = accept {
        request = request.header(ACCEPT, accept);
    }
    read(
        request
            .send()
            .await
            .expect("the request reaches the server"),
    )
    .await
}

/// `GET /graphql` with `parameters` and `accept`.
async fn get(
    app: &TestApp,
    parameters: &[(&str, String)],
    accept: Option<&str>,
) -> (u16, String, Value) {
    let mut request = app.http.get(app.url("/graphql")).query(parameters);
    if let Some(accept) = accept {
        request = request.header(ACCEPT, accept);
    }
    read(
        request
            .send()
            .await
            .expect("the request reaches the server"),
    )
    .await
}

async fn read(response: reqwest::Response) -> (u16, String, Value) {
    let status = response.status().as_u16();
    let media_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.json().await.expect("a JSON body");
    (status, media_type, body)
}

fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn persisted(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

/// Requests that never reach execution, each with what must be in its
/// message.
fn refused_before_execution() -> Vec<(&'static str, Value, &'static str)> {
    let typename = "{ __typename }";
    vec![
        (
            "a syntax error",
            json!({ "query": "{ me { id " }),
            "expected",
        ),
        ("a missing query", json!({}), ""),
        (
            "an unknown field",
            json!({ "query": "{ noSuchField }" }),
            "noSuchField",
        ),
        (
            "an argument of the wrong type",
            json!({ "query": "{ products(first: \"ten\") { nodes { id } } }" }),
            "first",
        ),
        (
            "a variable of the wrong type",
            json!({
                "query": "query P($n: Int) { products(first: $n) { nodes { id } } }",
                "variables": { "n": "ten" },
            }),
            "n",
        ),
        (
            "an unknown operationName",
            json!({ "query": "query A { __typename }", "operationName": "B" }),
            "Unknown operation",
        ),
        (
            "a persisted-query hash that is not its query's",
            json!({
                "query": typename,
                "extensions": persisted(&sha256("{ somethingElse }")),
            }),
            "does not match",
        ),
    ]
}

#[tokio::test]
async fn a_request_refused_before_execution_is_400_for_clients_of_the_graphql_response_type() {
    let app = TestApp::spawn().await;
    for (case, body, message) in refused_before_execution() {
        for accept in [GRAPHQL_RESPONSE, APOLLO_ACCEPT] {
            let (status, media_type, answer) = post(&app, &body, Some(accept)).await;
            assert_eq!(status, 400, "{case} ({accept}): {answer}");
            assert_eq!(media_type, GRAPHQL_RESPONSE, "{case} ({accept})");
            assert!(
                answer.get("data").is_none(),
                "{case}: no `data` when execution never began: {answer}"
            );
            assert_eq!(graphql_code(&answer), "BAD_USER_INPUT", "{case}: {answer}");
            let said = answer["errors"][0]["message"].as_str().unwrap_or_default();
            assert!(said.contains(message), "{case}: {answer}");
        }
    }
}

#[tokio::test]
async fn a_request_refused_before_execution_is_200_for_clients_of_plain_json_as_before() {
    let app = TestApp::spawn().await;
    for (case, body, _) in refused_before_execution() {
        for accept in [
            Some("application/json"),
            None,
            Some("*/*"),
            Some("application/json, application/graphql-response+json;q=0.5"),
        ] {
            let (status, media_type, answer) = post(&app, &body, accept).await;
            assert_eq!(status, 200, "{case} ({accept:?}): {answer}");
            assert_eq!(media_type, "application/json", "{case} ({accept:?})");
            assert_eq!(answer["data"], Value::Null, "{case}: {answer}");
            assert_eq!(graphql_code(&answer), "BAD_USER_INPUT", "{case}: {answer}");
        }
    }
}

#[tokio::test]
async fn a_body_that_is_not_json_is_400_in_the_media_type_the_client_accepts() {
    let app = TestApp::spawn().await;
    for (accept, expected) in [
        (Some(GRAPHQL_RESPONSE), GRAPHQL_RESPONSE),
        (Some("application/json"), "application/json"),
        (None, "application/json"),
    ] {
        let mut request = app
            .http
            .post(app.url("/graphql"))
            .header(CONTENT_TYPE, "application/json")
            .body("{not json");
        if let Some(accept) = accept {
            request = request.header(ACCEPT, accept);
        }
        let (status, media_type, answer) = read(request.send().await.unwrap()).await;
        assert_eq!(status, 400, "{accept:?}: {answer}");
        assert_eq!(media_type, expected, "{accept:?}");
        assert_eq!(graphql_code(&answer), "BAD_USER_INPUT", "{answer}");
    }
}

#[tokio::test]
async fn an_executed_request_is_200_with_its_errors_whatever_the_client_accepts() {
    let app = TestApp::spawn().await;
    // `me` is non-null and needs a caller: its error leaves `data` null, yet
    // execution ran.
    let anonymous_me = json!({ "query": "{ me { id } }" });
    for (accept, expected) in [
        (Some(APOLLO_ACCEPT), GRAPHQL_RESPONSE),
        (Some("application/json"), "application/json"),
        (None, "application/json"),
    ] {
        let (status, media_type, answer) = post(&app, &anonymous_me, accept).await;
        assert_eq!(status, 200, "{accept:?}: {answer}");
        assert_eq!(media_type, expected, "{accept:?}");
        assert_eq!(graphql_code(&answer), "UNAUTHENTICATED", "{answer}");
        assert!(answer.get("data").is_some(), "{answer}");

        let ok = json!({ "query": "{ __typename }" });
        let (status, media_type, answer) = post(&app, &ok, accept).await;
        assert_eq!(status, 200, "{accept:?}: {answer}");
        assert_eq!(media_type, expected, "{accept:?}");
        assert_eq!(answer, json!({ "data": { "__typename": "Query" } }));
    }
    // Over GET too.
    let query = ("query", "{ __typename }".to_owned());
    let (status, media_type, _) =
        get(&app, std::slice::from_ref(&query), Some(GRAPHQL_RESPONSE)).await;
    assert_eq!((status, media_type.as_str()), (200, GRAPHQL_RESPONSE));
    let (status, media_type, _) = get(&app, &[query], None).await;
    assert_eq!((status, media_type.as_str()), (200, "application/json"));
    let bad = ("query", "{ noSuchField }".to_owned());
    let (status, media_type, _) = get(&app, &[bad], Some(GRAPHQL_RESPONSE)).await;
    assert_eq!((status, media_type.as_str()), (400, GRAPHQL_RESPONSE));
}

#[tokio::test]
async fn persisted_queries_miss_register_and_hit_over_post_and_get() {
    let app = TestApp::spawn().await;
    let query = "query Catalogue($n: Int) { products(first: $n) { nodes { id } } }";
    let hash = sha256(query);
    let variables = json!({ "n": 1 });

    // A hash the server does not hold: Apollo's miss, 200 whatever the
    // client accepts (the client retries with the query), never cached.
    for accept in [APOLLO_ACCEPT, "application/json"] {
        let response = app
            .http
            .post(app.url("/graphql"))
            .json(&json!({ "variables": variables, "extensions": persisted(&hash) }))
            .header(ACCEPT, accept)
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
        let (status, _, answer) = read(response).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["errors"][0]["message"], "PersistedQueryNotFound");
        assert_eq!(
            graphql_code(&answer),
            "PERSISTED_QUERY_NOT_FOUND",
            "{answer}"
        );
    }

    // A hash that is not its query's is refused, and stores nothing.
    let wrong = sha256("{ __typename }");
    let with_wrong_hash = json!({ "query": query, "extensions": persisted(&wrong) });
    let (status, _, answer) = post(&app, &with_wrong_hash, Some(GRAPHQL_RESPONSE)).await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("does not match"),
        "{answer}"
    );
    let (_, _, answer) = post(&app, &json!({ "extensions": persisted(&wrong) }), None).await;
    assert_eq!(
        graphql_code(&answer),
        "PERSISTED_QUERY_NOT_FOUND",
        "{answer}"
    );

    // The query with its hash runs and is stored...
    let registration =
        json!({ "query": query, "variables": variables, "extensions": persisted(&hash) });
    let (status, _, registered) = post(&app, &registration, Some(APOLLO_ACCEPT)).await;
    assert_eq!(status, 200, "{registered}");
    assert!(registered["errors"].is_null(), "{registered}");
    assert!(
        registered["data"]["products"]["nodes"].is_array(),
        "{registered}"
    );

    // ...so the hash alone runs it, over POST and over GET.
    let hit = json!({ "variables": variables, "extensions": persisted(&hash) });
    let (status, _, answer) = post(&app, &hit, Some(APOLLO_ACCEPT)).await;
    assert_eq!((status, &answer), (200, &registered));
    let parameters = [
        ("variables", variables.to_string()),
        ("extensions", persisted(&hash).to_string()),
    ];
    let (status, _, answer) = get(&app, &parameters, Some(APOLLO_ACCEPT)).await;
    assert_eq!((status, &answer), (200, &registered));
    let unknown = [(
        "extensions",
        persisted(&sha256("{ me { id } }")).to_string(),
    )];
    let (status, _, answer) = get(&app, &unknown, Some(APOLLO_ACCEPT)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        graphql_code(&answer),
        "PERSISTED_QUERY_NOT_FOUND",
        "{answer}"
    );

    // Only version 1 of the protocol exists.
    let version_2 =
        json!({ "extensions": { "persistedQuery": { "version": 2, "sha256Hash": hash } } });
    let (status, _, answer) = post(&app, &version_2, Some(GRAPHQL_RESPONSE)).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(graphql_code(&answer), "BAD_USER_INPUT", "{answer}");
}

#[tokio::test]
async fn a_persisted_mutation_is_still_refused_over_get() {
    let app = TestApp::spawn().await;
    let ada = app.register(&unique_email("apq-ada")).await;
    let bob = app.register(&unique_email("apq-bob")).await;
    let logout = "mutation Out($token: String!) { logout(refreshToken: $token) }";
    let hash = sha256(logout);

    // Registered over POST (Ada signs out)...
    let registration = json!({
        "query": logout,
        "variables": { "token": ada.refresh_token },
        "extensions": persisted(&hash),
    });
    let (status, _, answer) = post(&app, &registration, None).await;
    assert_eq!(
        (status, &answer["data"]["logout"]),
        (200, &json!(true)),
        "{answer}"
    );

    // ...its hash over GET is refused before it runs: Bob stays signed in.
    let parameters = [
        (
            "variables",
            json!({ "token": bob.refresh_token }).to_string(),
        ),
        ("extensions", persisted(&hash).to_string()),
    ];
    let response = app
        .http
        .get(app.url("/graphql"))
        .query(&parameters)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    let answer: Value = response.json().await.unwrap();
    assert_eq!(graphql_code(&answer), "BAD_USER_INPUT", "{answer}");
    let refreshed = app
        .post(
            "/auth/refresh",
            json!({ "refreshToken": bob.refresh_token }),
            None,
        )
        .await;
    assert_eq!(refreshed.status(), 200);
}
