//! What an outside review asked for at the HTTP edge, through real clients:
//! private answers are never stored by caches, bodies must declare JSON (no
//! cross-site "simple request" can sign in or write), browsers may open live
//! connections only from allowed origins, and a `role` in a registration
//! body makes a plain user.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::node::NodeClient;
use crate::support::{TestApp, assert_rest_error, graphql_code, unique_email};

/// How long to wait for something that must happen.
const WAIT: Duration = Duration::from_secs(10);
/// An origin nobody allowed.
const EVIL: &str = "https://evil.example";
/// The origin the test apps list in `CORS_ORIGINS`.
const LISTED: &str = "https://admin.example.test";

fn cache_control(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("cache-control")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

#[tokio::test]
async fn private_answers_carry_no_store_and_public_reads_do_not() {
    // Arrange
    let app = TestApp::spawn().await;
    let email = unique_email("no-store");
    let registered = app
        .post(
            "/auth/register",
            json!({ "name": "Ada", "email": email, "password": "password-123" }),
            None,
        )
        .await;
    assert_eq!(
        cache_control(&registered),
        "no-store",
        "POST /auth/register"
    );
    let account = crate::support::account_from(registered.json().await.unwrap());

    // Act and assert: everything that hands out tokens or answers a caller.
    let login = app
        .post(
            "/auth/login",
            json!({ "email": email, "password": "password-123" }),
            None,
        )
        .await;
    assert_eq!(cache_control(&login), "no-store", "POST /auth/login");
    let refresh = app
        .post(
            "/auth/refresh",
            json!({ "refreshToken": account.refresh_token }),
            None,
        )
        .await;
    assert_eq!(refresh.status(), 200);
    assert_eq!(cache_control(&refresh), "no-store", "POST /auth/refresh");
    let token = Some(account.token.as_str());
    for path in ["/orders/my", "/chat/messages", "/api/v1/orders/my"] {
        let response = app.get(path, token).await;
        assert_eq!(response.status(), 200, "GET {path}");
        assert_eq!(cache_control(&response), "no-store", "GET {path}");
    }
    let refused = app.get("/orders", token).await;
    assert_eq!(refused.status(), 403);
    assert_eq!(cache_control(&refused), "no-store", "a refusal to a caller");
    let graphql_login = app
        .post(
            "/graphql",
            json!({ "query": "mutation($e: String!) { login(email: $e, password: \"password-123\") { token } }", "variables": { "e": email } }),
            None,
        )
        .await;
    assert_eq!(cache_control(&graphql_login), "no-store", "GraphQL login");
    let me = app
        .post("/graphql", json!({ "query": "{ me { id } }" }), token)
        .await;
    assert_eq!(cache_control(&me), "no-store", "GraphQL me");

    // The anonymous catalogue stays cacheable.
    let products = app.get("/products", None).await;
    assert_eq!(products.status(), 200);
    assert!(
        !cache_control(&products).contains("no-store"),
        "anonymous GET /products: {:?}",
        cache_control(&products)
    );
}

/// A raw POST with the given headers.
async fn post_with(
    app: &TestApp,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = app.http.post(app.url(path)).body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
        .send()
        .await
        .expect("the request reaches the server")
}

#[tokio::test]
async fn bodies_that_are_not_declared_json_are_refused_with_415_and_do_nothing() {
    // Arrange
    let app = TestApp::spawn().await;
    let email = unique_email("simple-request");
    let register =
        json!({ "name": "Mallory", "email": email, "password": "password-123" }).to_string();
    let origin = ("origin", EVIL);

    // Act and assert: what a cross-site form or fetch can send without a
    // preflight, each refused before any handler runs.
    for (content_type, with_origin) in [
        (Some("text/plain;charset=UTF-8"), true),
        (Some("text/plain"), false),
        (Some("application/x-www-form-urlencoded"), true),
        (Some("multipart/form-data; boundary=x"), true),
        (None, true),
    ] {
        let mut headers = Vec::new();
        if let Some(content_type) = content_type {
            headers.push(("content-type", content_type));
        }
        if with_origin {
            headers.push(origin);
        }
        let what = format!("register as {content_type:?} (Origin: {with_origin})");
        let response = post_with(&app, "/auth/register", &register, &headers).await;
        assert_rest_error(response, 415, "BAD_USER_INPUT", &what).await;
    }
    let graphql = post_with(
        &app,
        "/graphql",
        &json!({ "query": "mutation { logout(refreshToken: \"x\") }" }).to_string(),
        &[("content-type", "text/plain"), origin],
    )
    .await;
    assert_eq!(graphql.status(), 415);
    let body: Value = graphql.json().await.unwrap();
    assert_eq!(graphql_code(&body), "BAD_USER_INPUT", "{body}");

    // Nothing was registered.
    let login = app
        .post(
            "/auth/login",
            json!({ "email": email, "password": "password-123" }),
            None,
        )
        .await;
    assert_rest_error(login, 401, "UNAUTHENTICATED", "the refused registration").await;

    // JSON works, declared or (for old non-browser clients) left undeclared.
    let declared = post_with(
        &app,
        "/auth/register",
        &register,
        &[("content-type", "application/json; charset=utf-8"), origin],
    )
    .await;
    assert_eq!(declared.status(), 201);
    let undeclared = post_with(
        &app,
        "/auth/login",
        &json!({ "email": email, "password": "password-123" }).to_string(),
        &[],
    )
    .await;
    assert_eq!(
        undeclared.status(),
        200,
        "a script that sends no content type"
    );
}

/// The first handshake outcome of a Socket.IO client.
async fn socketio_outcome(app: &TestApp, token: &str, origin: Option<&str>) -> Value {
    let headers = origin.map_or(Value::Null, |origin| json!({ "Origin": origin }));
    let mut socket = NodeClient::spawn(
        "sio-driver.mjs",
        json!({ "url": app.address, "auth": { "token": token }, "extraHeaders": headers }),
    )
    .await;
    socket
        .expect("the handshake outcome", WAIT, |line| {
            line["kind"] == "connect_error" || line["kind"] == "connect"
        })
        .await
}

/// Whether a graphql-ws client with this upgrade `Origin` is acknowledged.
async fn graphql_ws_acknowledged(app: &TestApp, token: &str, origin: Option<&str>) -> bool {
    let headers = origin.map_or(Value::Null, |origin| json!({ "Origin": origin }));
    let mut client = NodeClient::spawn(
        "gqlws-driver.mjs",
        json!({ "url": app.ws_url(), "connectionParams": { "token": token }, "headers": headers }),
    )
    .await;
    let outcome = client
        .expect("the connection outcome", WAIT, |line| {
            ["connected", "closed", "connection_failed"]
                .contains(&line["kind"].as_str().unwrap_or(""))
        })
        .await;
    outcome["kind"] == "connected"
}

#[tokio::test]
async fn browsers_open_live_connections_only_from_allowed_origins() {
    // Arrange
    let app = TestApp::spawn_with(crate::support::Backend::Sqlite, |config| {
        config.cors_origins = vec![LISTED.to_owned()];
    })
    .await;
    let alice = app.register(&unique_email("origin")).await;
    let own = app.address.clone();

    // Act and assert: Socket.IO.
    for (origin, allowed) in [
        (None, true),
        (Some(own.as_str()), true),
        (Some(LISTED), true),
        (Some(EVIL), false),
        (Some("null"), false),
    ] {
        let outcome = socketio_outcome(&app, &alice.token, origin).await;
        let expected = if allowed { "connect" } else { "connect_error" };
        assert_eq!(
            outcome["kind"], expected,
            "Socket.IO from {origin:?}: {outcome}"
        );
    }

    // GraphQL over WebSocket.
    for (origin, allowed) in [
        (None, true),
        (Some(own.as_str()), true),
        (Some(LISTED), true),
        (Some(EVIL), false),
    ] {
        assert_eq!(
            graphql_ws_acknowledged(&app, &alice.token, origin).await,
            allowed,
            "GraphQL WebSocket from {origin:?}"
        );
    }

    // The refusal is a 403 before any upgrade, in the envelope.
    let refused = app
        .http
        .get(app.url("/graphql"))
        .header("origin", EVIL)
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("sec-websocket-protocol", "graphql-transport-ws")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(graphql_code(&body), "FORBIDDEN", "{body}");
}

#[tokio::test]
async fn a_role_in_a_registration_body_makes_a_plain_user() {
    let app = TestApp::spawn().await;
    for role in ["admin", "user", "ADMIN"] {
        // Act
        let response = app
            .post(
                "/auth/register",
                json!({ "name": "Old Client", "email": unique_email("with-role"), "password": "password-123", "role": role }),
                None,
            )
            .await;

        // Assert
        assert_eq!(response.status(), 201, "registering with role {role}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["data"]["user"]["role"], "user", "{body}");
        let token = body["data"]["token"].as_str().unwrap();
        let me = app.graphql("{ me { role } }", json!({}), Some(token)).await;
        assert_eq!(me["data"]["me"]["role"], "USER", "{me}");
        let users = app
            .graphql("{ users { nodes { id } } }", json!({}), Some(token))
            .await;
        assert_eq!(graphql_code(&users), "FORBIDDEN", "{users}");
    }
}

#[tokio::test]
async fn a_graphql_websocket_message_over_the_body_limit_closes_only_that_socket_with_1009() {
    // Arrange: two signed-in graphql-ws clients.
    let app = TestApp::spawn().await;
    let alice = app.register(&unique_email("ws-too-big")).await;
    let bob = app.register(&unique_email("ws-bystander")).await;
    let mut big = app.graphql_ws_client(&alice.token).await;
    let mut bystander = app.graphql_ws_client(&bob.token).await;
    let limit = app.config.body_limit;

    // Act: a subscribe message larger than BODY_LIMIT.
    let padding = "#".repeat(limit + 1024);
    big.send(
        json!({ "cmd": "query", "id": "big", "query": format!("{{ me {{ id }} }}\n{padding}") }),
    )
    .await;

    // Assert
    let closed = big
        .expect("the close", WAIT, |line| line["kind"] == "closed")
        .await;
    assert_eq!(closed["code"], 1009, "{:#?}", big.seen());
    bystander
        .send(json!({ "cmd": "query", "id": "still", "query": "{ me { id } }" }))
        .await;
    let answer = bystander
        .expect("the bystander's answer", WAIT, |line| {
            line["kind"] == "next" && line["id"] == "still"
        })
        .await;
    assert_eq!(answer["payload"]["data"]["me"]["id"], bob.id.as_str());
    // A message just under the limit is still read and answered.
    let mut fitting = app.graphql_ws_client(&alice.token).await;
    let padding = "#".repeat(limit - 1024);
    fitting
        .send(json!({ "cmd": "query", "id": "fits", "query": format!("{{ me {{ id }} }}\n{padding}") }))
        .await;
    let answer = fitting
        .expect("the answer", WAIT, |line| {
            line["kind"] == "next" && line["id"] == "fits"
        })
        .await;
    assert_eq!(answer["payload"]["data"]["me"]["id"], alice.id.as_str());
}

#[tokio::test]
async fn a_graphql_websocket_without_connection_init_is_closed_with_4408_after_3_s() {
    use futures::StreamExt as _;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

    // Arrange
    let app = TestApp::spawn().await;
    let mut request = app.ws_url().into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );

    // Act: open the socket and say nothing.
    let started = tokio::time::Instant::now();
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let close = loop {
        match tokio::time::timeout(WAIT, socket.next()).await {
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Close(frame)))) => break frame,
            Ok(Some(Ok(_))) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };

    // Assert
    let frame = close.expect("a close frame with a code");
    assert_eq!(u16::from(frame.code), 4408, "{frame:?}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(2900) && waited < Duration::from_secs(10),
        "closed after {waited:?}"
    );
}

#[tokio::test]
async fn repeated_typing_is_forwarded_again_at_most_once_a_second() {
    // Arrange: Alice types to Bob, as clients written for the original do:
    // `start_typing` on every keystroke, hiding the indicator a few seconds
    // after the last `user_typing`.
    let app = TestApp::spawn().await;
    let alice = app.register(&unique_email("typing-again-alice")).await;
    let bob = app.register(&unique_email("typing-again-bob")).await;
    let mut alice_socket = app.socket(&alice.token).await;
    let mut bob_socket = app.socket(&bob.token).await;
    let is_typing = |line: &Value| {
        line["kind"] == "event"
            && line["event"] == "user_typing"
            && line["args"][0]["typing"] == true
    };

    // Act and assert: the first keystroke is forwarded, the next ones within
    // a second are not, one after a second is forwarded again.
    keystroke(&mut alice_socket, &bob.id).await;
    bob_socket
        .expect("the first user_typing", WAIT, is_typing)
        .await;
    keystroke(&mut alice_socket, &bob.id).await;
    assert!(
        bob_socket
            .receives_none_within(Duration::from_millis(300), is_typing)
            .await,
        "a keystroke within a second was forwarded again: {:#?}",
        bob_socket.seen()
    );
    tokio::time::sleep(Duration::from_millis(900)).await;
    keystroke(&mut alice_socket, &bob.id).await;
    bob_socket
        .expect("user_typing again after a second", WAIT, is_typing)
        .await;
}

/// One `start_typing {to}` keystroke, acknowledged.
async fn keystroke(socket: &mut NodeClient, to: &str) {
    let ack = socket
        .emit_with_ack("start_typing", json!([{ "to": to }]), WAIT)
        .await;
    assert_eq!(ack[0]["status"], "success", "{ack}");
}

#[tokio::test]
async fn list_sizes_count_in_a_queries_cost_so_many_large_pages_are_refused_before_running() {
    // Arrange
    let app = TestApp::spawn().await;
    let admin = app.login_as_admin().await;
    app.create_product(&admin.token, "Probe", 1.0, 1).await;
    let aliases: String = (0..500)
        .map(|n| format!("p{n}: products(first: 100) {{ nodes {{ id name }} }}\n"))
        .collect();

    // Act
    let expensive = app
        .graphql(&format!("{{ {aliases} }}"), json!({}), None)
        .await;
    let ten_pages: String = (0..10)
        .map(|n| format!("p{n}: products(first: 100) {{ nodes {{ id name price }} }}\n"))
        .collect();
    let affordable = app
        .graphql(&format!("{{ {ten_pages} }}"), json!({}), None)
        .await;

    // Assert
    assert_eq!(graphql_code(&expensive), "BAD_USER_INPUT", "{expensive}");
    assert!(
        expensive["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("complex"),
        "{expensive}"
    );
    assert!(expensive["data"].is_null(), "nothing ran: {expensive}");
    assert!(affordable["errors"].is_null(), "{affordable}");
    assert_eq!(affordable["data"]["p9"]["nodes"][0]["name"], "Probe");
}

#[tokio::test]
async fn only_failed_sign_ins_count_against_an_account() {
    // Arrange: the per-account limit is 5 failed attempts a minute.
    let app = TestApp::spawn().await;
    let account = app.register(&unique_email("many-devices")).await;
    let attempt = |password: &'static str| {
        app.post(
            "/auth/login",
            json!({ "email": account.email, "password": password }),
            None,
        )
    };

    // Act and assert: eight devices sign in within the minute.
    for device in 0..8 {
        let response = attempt("password-123").await;
        assert_eq!(response.status(), 200, "device {device}");
    }
    // Guessing is still throttled after five failures.
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(attempt("wrong-guess-1").await.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429]);
    let locked = attempt("password-123").await;
    assert_rest_error(
        locked,
        429,
        "RATE_LIMITED",
        "the right password while locked",
    )
    .await;
}
