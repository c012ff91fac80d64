//! The Socket.IO door, driven by the real `socket.io-client` (tests/js/sio-driver.mjs):
//! handshake authentication, sessions ended by the server, and hostile input.

use std::time::Duration;

use realtime_dashboard::auth::INVALID_TOKEN;
use realtime_dashboard::domain::Role;
use serde_json::{Value, json};

use crate::support::node::NodeClient;
use crate::support::steps::{assert_session_ended, is_event, is_kind, position_seen};
use crate::support::tokens::{
    signed_with_another_key, unsigned, with_forged_admin_role, with_tampered_signature,
};
use crate::support::{Account, Backend, TestApp, unique_email};

/// How long to wait for something that must happen.
const WAIT: Duration = Duration::from_secs(10);
/// How long to watch for something that must not happen.
const QUIET: Duration = Duration::from_millis(750);

/// A socket.io-client connected with `auth.token`; returns once `connect` is seen.
async fn connected_socket(app: &TestApp, token: &str) -> NodeClient {
    let mut socket = NodeClient::socketio(&app.address, json!({ "token": token })).await;
    socket.expect("connect", WAIT, is_kind("connect")).await;
    socket
}

/// Asserts the socket was refused at the handshake and never connected.
async fn assert_refused(socket: &mut NodeClient, case: &str) {
    let outcome = socket
        .expect(&format!("the handshake outcome for {case}"), WAIT, |line| {
            line["kind"] == "connect_error" || line["kind"] == "connect"
        })
        .await;
    assert_eq!(outcome["kind"], "connect_error", "{case}: {outcome}");
    assert_eq!(
        outcome["message"], INVALID_TOKEN,
        "connect_error message for {case}"
    );
    // Close the client and wait for it, so its whole history is known.
    socket.send(json!({ "cmd": "disconnect" })).await;
    socket.expect("closed", WAIT, is_kind("closed")).await;
    assert_eq!(
        position_seen(socket, is_kind("connect")),
        None,
        "{case}: the socket connected anyway; lines: {:#?}",
        socket.seen()
    );
}

#[tokio::test]
async fn a_socket_with_a_valid_token_in_auth_token_connects() {
    // Arrange
    let app = TestApp::spawn().await;
    let alice = app.register(&unique_email("sio-alice")).await;

    // Act
    let mut socket = NodeClient::socketio(&app.address, json!({ "token": alice.token })).await;

    // Assert
    let connected = socket.expect("connect", WAIT, is_kind("connect")).await;
    assert!(
        connected["id"].as_str().is_some_and(|id| !id.is_empty()),
        "a socket id"
    );
    assert!(
        socket
            .receives_none_within(QUIET, is_kind("disconnect"))
            .await,
        "the socket stays connected; lines: {:#?}",
        socket.seen()
    );
}

#[tokio::test]
async fn the_authorization_header_and_the_token_query_parameter_are_accepted_too() {
    // Arrange
    let app = TestApp::spawn().await;
    let alice = app.register(&unique_email("sio-old-client")).await;
    let cases = [
        (
            "an Authorization: Bearer header",
            json!({
                "url": app.address,
                "extraHeaders": { "Authorization": format!("Bearer {}", alice.token) },
            }),
        ),
        (
            "a token query parameter",
            json!({ "url": app.address, "query": { "token": alice.token } }),
        ),
    ];

    for (case, options) in cases {
        // Act
        let mut socket = NodeClient::spawn("sio-driver.mjs", options).await;

        // Assert
        socket
            .expect(&format!("connect with {case}"), WAIT, is_kind("connect"))
            .await;
    }
}

#[tokio::test]
async fn missing_malformed_forged_and_expired_tokens_get_connect_error_and_never_connect() {
    // Arrange
    let app = TestApp::spawn().await;
    let alice = app.register(&unique_email("sio-refused")).await;
    let cases = [
        ("no auth at all", Value::Null),
        ("an auth object without a token", json!({})),
        ("a token that is not a string", json!({ "token": 42 })),
        ("an empty token", json!({ "token": "" })),
        ("a malformed token", json!({ "token": "not-a-jwt" })),
        (
            "a token with a tampered signature",
            json!({ "token": with_tampered_signature(&alice.token) }),
        ),
        (
            "a token whose role claim was raised to admin",
            json!({ "token": with_forged_admin_role(&alice.token) }),
        ),
        (
            "an unsigned alg:none token",
            json!({ "token": unsigned(&alice.token) }),
        ),
        (
            "a token signed with another key",
            json!({ "token": signed_with_another_key(&alice.id) }),
        ),
        (
            "an expired token",
            json!({ "token": app.expired_token(&alice.id, Role::User) }),
        ),
    ];

    for (case, auth) in cases {
        // Act
        let mut socket = NodeClient::socketio(&app.address, auth).await;

        // Assert
        assert_refused(&mut socket, case).await;
    }
}

#[tokio::test]
async fn a_role_change_ends_that_users_session_and_nobody_elses() {
    // Arrange
    let app = TestApp::spawn().await;
    let admin = app.login_as_admin().await;
    let alice = app.register(&unique_email("sio-promoted")).await;
    let bob = app.register(&unique_email("sio-bystander")).await;
    let mut alice_socket = connected_socket(&app, &alice.token).await;
    let mut bob_socket = connected_socket(&app, &bob.token).await;

    // Act
    let body = app
        .graphql(
            "mutation($id: ID!) { setUserRole(id: $id, role: ADMIN) { id role } }",
            json!({ "id": alice.id }),
            Some(&admin.token),
        )
        .await;

    // Assert
    assert!(body["errors"].is_null(), "setUserRole failed: {body}");
    assert_eq!(body["data"]["setUserRole"]["role"], "ADMIN", "{body}");
    assert_session_ended(&mut alice_socket, "role_changed").await;
    assert!(
        bob_socket
            .receives_none_within(QUIET, |line| {
                (line["kind"] == "event" && line["event"] != "resume_position")
                    || line["kind"] == "disconnect"
            })
            .await,
        "the bystander heard something; lines: {:#?}",
        bob_socket.seen()
    );
}

#[tokio::test]
async fn logging_out_over_rest_ends_the_session_with_reason_logged_out() {
    // Arrange
    let app = TestApp::spawn().await;
    let alice = app.register(&unique_email("sio-rest-logout")).await;
    let mut socket = connected_socket(&app, &alice.token).await;

    // Act
    let response = app.logout(&alice.refresh_token).await;

    // Assert
    assert_eq!(response.status(), 200, "POST /auth/logout");
    assert_session_ended(&mut socket, "logged_out").await;
}

#[tokio::test]
async fn logging_out_over_graphql_ends_the_session_with_reason_logged_out() {
    // Arrange
    let app = TestApp::spawn().await;
    let alice = app.register(&unique_email("sio-gql-logout")).await;
    let mut socket = connected_socket(&app, &alice.token).await;

    // Act
    let body = app
        .graphql(
            "mutation($refreshToken: String!) { logout(refreshToken: $refreshToken) }",
            json!({ "refreshToken": alice.refresh_token }),
            None,
        )
        .await;

    // Assert
    assert_eq!(body["data"]["logout"], true, "logout failed: {body}");
    assert_session_ended(&mut socket, "logged_out").await;
}

#[tokio::test]
async fn an_unknown_event_is_ignored_and_the_socket_stays_connected() {
    // Arrange
    let app = TestApp::spawn().await;
    let alice = app.register(&unique_email("sio-unknown-event")).await;
    let mut socket = connected_socket(&app, &alice.token).await;

    // Act
    socket
        .emit("no_such_event", json!({ "anything": [1, 2, 3] }))
        .await;
    socket.emit("no_such_event_either", json!([])).await;

    // Assert: a logout still reaches this socket, so it was alive until then.
    let response = app.logout(&alice.refresh_token).await;
    assert_eq!(response.status(), 200, "POST /auth/logout");
    assert_session_ended(&mut socket, "logged_out").await;
}

#[tokio::test]
async fn garbage_frames_and_unknown_events_do_not_take_the_server_down() {
    // Arrange
    let app = TestApp::spawn().await;
    let alice = app.register(&unique_email("sio-garbage")).await;
    let bob = app.register(&unique_email("sio-after-garbage")).await;
    let garbage = [
        "42[\"no_such_event\",{\"a\":1}]",
        "42[\"unterminated\",",
        "42{\"not\":\"an array\"}",
        "42[]",
        "42[42]",
        "43[]",
        "45-[\"binary?\"]",
        "40/no-such-namespace,",
        "4",
        "4x",
        "9",
        "",
        "not a packet at all",
        "\u{0}\u{1}\u{2}",
    ];

    // Act: each packet on a fresh socket, so every one reaches the parser
    // (the server may drop a socket at its first bad frame).
    for packet in garbage {
        let mut vandal = connected_socket(&app, &alice.token).await;
        vandal.emit("no_such_event", json!({ "x": 1 })).await;
        vandal
            .send(json!({ "cmd": "emit_raw", "packet": packet }))
            .await;
        vandal
            .expect(&format!("{packet:?} written"), WAIT, is_kind("sent_raw"))
            .await;
        // Closing the socket and seeing it closed means the server has read
        // the packet before the close frame (or had already dropped it).
        vandal.send(json!({ "cmd": "disconnect" })).await;
        vandal.expect("closed", WAIT, is_kind("closed")).await;
    }

    // Assert
    let mut newcomer = NodeClient::socketio(&app.address, json!({ "token": bob.token })).await;
    newcomer
        .expect("a new socket connects", WAIT, is_kind("connect"))
        .await;
    let health = app.get("/healthz", None).await;
    assert_eq!(health.status(), 200, "GET /healthz after the garbage");
}

#[tokio::test]
async fn a_socket_with_a_valid_token_connects_on_mongodb() {
    // Arrange
    let app = TestApp::spawn_with(Backend::Mongo, |_| {}).await;
    let alice: Account = app.register(&unique_email("sio-mongo")).await;

    // Act
    let mut socket = NodeClient::socketio(&app.address, json!({ "token": alice.token })).await;

    // Assert
    socket.expect("connect", WAIT, is_kind("connect")).await;
}

#[tokio::test]
async fn long_polling_clients_and_clients_that_upgrade_work_as_websocket_ones() {
    // Arrange
    let app = TestApp::spawn().await;
    let admin = app.login_as_admin().await;
    for (case, transports) in [
        ("polling only", json!(["polling"])),
        ("polling, then upgrading", json!(["polling", "websocket"])),
    ] {
        let alice = app.register(&unique_email("sio-polling")).await;
        let open = |token: &str| {
            NodeClient::spawn(
                "sio-driver.mjs",
                json!({ "url": app.address, "auth": { "token": token }, "transports": transports }),
            )
        };
        let mut alice_socket = open(&alice.token).await;
        let mut admin_socket = open(&admin.token).await;
        let upgrades = transports.as_array().unwrap().len() == 2;
        for socket in [&mut alice_socket, &mut admin_socket] {
            let connected = socket
                .expect(&format!("{case}: connect"), WAIT, is_kind("connect"))
                .await;
            if !upgrades {
                assert_eq!(connected["transport"], "polling", "{case}: {connected}");
            }
        }
        if upgrades {
            // The upgrade may finish before or after the connect.
            for socket in [&mut alice_socket, &mut admin_socket] {
                let upgraded = socket
                    .expect(&format!("{case}: upgrade"), WAIT, is_kind("upgrade"))
                    .await;
                assert_eq!(upgraded["transport"], "websocket", "{case}");
            }
        }

        // Act: an event with an ack, a chat message, and a broadcast.
        let ack = alice_socket
            .emit_with_ack(
                "send_message",
                json!({ "to": admin.id, "text": format!("over {case}") }),
                WAIT,
            )
            .await;
        app.create_product(&admin.token, &format!("Polled {case}"), 3.5, 2)
            .await;

        // Assert
        assert_eq!(ack[0]["status"], "success", "{case}: {ack}");
        let received = admin_socket
            .expect(
                &format!("{case}: receive_message"),
                WAIT,
                is_event("receive_message"),
            )
            .await;
        assert_eq!(
            received["args"][0]["text"],
            format!("over {case}"),
            "{case}"
        );
        for socket in [&mut alice_socket, &mut admin_socket] {
            let product = socket
                .expect(
                    &format!("{case}: new_product"),
                    WAIT,
                    is_event("new_product"),
                )
                .await;
            assert_eq!(product["args"][0]["name"], format!("Polled {case}"));
        }
        // The server ends a polling session as it ends a WebSocket one.
        let response = app.logout(&alice.refresh_token).await;
        assert_eq!(response.status(), 200, "{case}: POST /auth/logout");
        assert_session_ended(&mut alice_socket, "logged_out").await;
    }
}

#[tokio::test]
async fn engine_io_requests_that_name_no_session_or_protocol_get_engine_io_errors() {
    // Arrange
    let app = TestApp::spawn().await;
    let http = reqwest::Client::new();
    let cases = [
        ("/socket.io/?EIO=3&transport=polling", 5, "an old protocol"),
        (
            "/socket.io/?EIO=4&transport=carrier-pigeon",
            0,
            "an unknown transport",
        ),
        (
            "/socket.io/?EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAA",
            1,
            "an unknown session",
        ),
    ];

    for (path, code, case) in cases {
        // Act
        let response = http
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();

        // Assert
        assert_eq!(response.status(), 400, "{case}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], code, "{case}: {body}");
    }
    let posted = http
        .post(format!(
            "{}/socket.io/?EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAA",
            app.address
        ))
        .body("40")
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 400, "a POST to an unknown session");
}
