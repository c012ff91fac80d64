//! Operations: `/metrics` on its own listener (`METRICS_ADDR`), in the
//! Prometheus text format, with counters that move when the server works.
//!
//! The recorder is process-wide and other tests run beside this one, so
//! every assertion is "moved by at least what this test did", never an
//! exact value.

use std::time::Duration;

use serde_json::json;

use crate::support::node::NodeClient;
use crate::support::{Backend, TestApp, unique_email};

const WAIT: Duration = Duration::from_secs(10);

/// The sum of the samples of `name` whose labels include every pair.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (series_name, series_labels) = match series.split_once('{') {
                Some((series_name, rest)) => (series_name, rest),
                None => (series, ""),
            };
            let matches = series_name == name
                && labels
                    .iter()
                    .all(|(key, value)| series_labels.contains(&format!("{key}=\"{value}\"")));
            matches.then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}

async fn scrape(app: &TestApp) -> String {
    let url = app.metrics_url.as_ref().expect("metrics_addr is set");
    let response = app.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    response.text().await.unwrap()
}

#[tokio::test]
async fn metrics_are_served_on_their_own_address_and_move_with_the_work() {
    // Arrange
    let app = TestApp::spawn_with(Backend::Sqlite, |config| {
        config.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
        config.login_attempts_per_address = 3;
    })
    .await;
    let admin = app.login_as_admin().await;
    let alice = app.register(&unique_email("metrics-alice")).await;
    let before = scrape(&app).await;
    let moved = |after: &str, name: &str, labels: &[(&str, &str)]| {
        sample(after, name, labels) - sample(&before, name, labels)
    };

    // Act: a GraphQL subscriber and a socket, a product, a chat message,
    // a refused handshake, a throttled sign-in.
    let mut subscriber = app.graphql_ws_client(&alice.token).await;
    subscriber
        .send(json!({ "cmd": "subscribe", "id": "np", "query": "subscription { newProduct { id } }" }))
        .await;
    subscriber
        .send(json!({ "cmd": "query", "id": "ready", "query": "{ me { id } }" }))
        .await;
    subscriber
        .expect("ready", WAIT, |line| {
            line["kind"] == "next" && line["id"] == "ready"
        })
        .await;
    let mut socket = app.socket(&alice.token).await;
    app.create_product(&admin.token, "Metered lamp", 10.0, 3)
        .await;
    subscriber
        .expect("newProduct", WAIT, |line| {
            line["kind"] == "next" && line["id"] == "np"
        })
        .await;
    socket
        .expect("new_product", WAIT, |line| line["event"] == "new_product")
        .await;
    let sent = app
        .post(
            "/chat/messages",
            json!({ "to": admin.id, "text": "counted" }),
            Some(&alice.token),
        )
        .await;
    assert_eq!(sent.status(), 201);
    let mut refused = NodeClient::socketio(&app.address, json!({ "token": "nope" })).await;
    refused
        .expect("connect_error", WAIT, |line| {
            line["kind"] == "connect_error"
        })
        .await;
    for _ in 0..4 {
        app.post(
            "/auth/login",
            json!({ "email": "nobody@example.test", "password": "password-123" }),
            None,
        )
        .await;
    }

    // Assert
    let after = scrape(&app).await;
    let checks: [(&str, &[(&str, &str)]); 11] = [
        (
            "rtd_http_requests_total",
            &[
                ("route", "/products"),
                ("method", "POST"),
                ("status", "201"),
            ],
        ),
        (
            "rtd_http_requests_total",
            &[("route", "/chat/messages"), ("status", "201")],
        ),
        (
            "rtd_http_request_duration_seconds_count",
            &[("route", "/products")],
        ),
        (
            "rtd_handshakes_total",
            &[("door", "graphql_ws"), ("outcome", "accepted")],
        ),
        (
            "rtd_handshakes_total",
            &[("door", "socketio"), ("outcome", "accepted")],
        ),
        (
            "rtd_handshakes_total",
            &[("door", "socketio"), ("outcome", "refused")],
        ),
        ("rtd_events_published_total", &[("kind", "product_added")]),
        (
            "rtd_events_delivered_total",
            &[("door", "graphql_ws"), ("kind", "product_added")],
        ),
        (
            "rtd_events_delivered_total",
            &[("door", "socketio"), ("kind", "product_added")],
        ),
        ("rtd_message_persist_seconds_count", &[]),
        ("rtd_throttle_hits_total", &[("limit", "address")]),
    ];
    for (name, labels) in checks {
        let delta = moved(&after, name, labels);
        assert!(delta >= 1.0, "{name} {labels:?} moved by {delta}:\n{after}");
    }
    assert!(
        sample(&after, "rtd_connections", &[("door", "socketio")]) >= 1.0,
        "the socket is counted:\n{after}"
    );
    // Not on the public port.
    let public = app.get("/metrics", None).await;
    assert_eq!(public.status(), 404);
}
