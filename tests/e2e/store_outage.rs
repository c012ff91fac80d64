//! A store outage is `UNAVAILABLE`, never a panic or a half write, and the
//! server recovers when the store comes back. The outage is real: the app
//! talks to the MongoDB test server through a TCP relay that the test cuts.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::support::{Backend, TestApp, mongo_database_uri, unique_email};

/// Relays connections from a local port to the store, until cut.
struct Relay {
    address: SocketAddr,
    upstream: String,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl Relay {
    async fn start(upstream: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let mut relay = Relay {
            address,
            upstream,
            tasks: Arc::default(),
            acceptor: None,
        };
        relay.accept_on(listener);
        relay
    }

    fn accept_on(&mut self, listener: TcpListener) {
        let upstream = self.upstream.clone();
        let tasks = self.tasks.clone();
        self.acceptor = Some(tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.lock().unwrap().push(task);
            }
        }));
    }

    /// The store goes away: no new connections, open ones dropped.
    fn cut(&mut self) {
        if let Some(acceptor) = self.acceptor.take() {
            acceptor.abort();
        }
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// The store comes back on the same address.
    async fn restore(&mut self) {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(self.address).unwrap();
        let listener = socket.listen(128).unwrap();
        self.accept_on(listener);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut();
    }
}

/// `host:port` of the single server in the test URI.
fn upstream_of(uri: &str) -> String {
    let rest = uri
        .strip_prefix("mongodb://")
        .expect("the outage test relays a plain mongodb:// URI with one host");
    let rest = rest.rsplit_once('@').map_or(rest, |(_, hosts)| hosts);
    let host = rest.split(['/', '?']).next().unwrap();
    assert!(
        !host.contains(','),
        "the outage test needs a single-host MONGODB_URI"
    );
    host.to_owned()
}

async fn register(app: &TestApp, email: &str) -> (u16, Value) {
    let response = app
        .post(
            "/auth/register",
            json!({ "name": "Outage", "email": email, "password": "password-123" }),
            None,
        )
        .await;
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_store_outage_is_unavailable_and_writes_nothing() {
    let database_uri = mongo_database_uri();
    let mut relay = Relay::start(upstream_of(&database_uri)).await;
    let database = database_uri.split_once("://").unwrap().1;
    let database = database
        .split_once('/')
        .map_or("", |(_, path)| path)
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let relayed = format!(
        "mongodb://{}/{database}?directConnection=true&serverSelectionTimeoutMS=1000&connectTimeoutMS=1000",
        relay.address
    );
    let app = TestApp::spawn_with(Backend::Mongo, |config| {
        config.store = realtime_dashboard::config::StoreConfig::Mongo {
            uri: SecretString::from(relayed),
        };
    })
    .await;
    let (status, _) = register(&app, &unique_email("before")).await;
    assert_eq!(status, 201);

    relay.cut();
    let lost = unique_email("during");
    let (status, body) = register(&app, &lost).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "UNAVAILABLE");
    assert!(
        !body["message"].as_str().unwrap().contains("127.0.0.1"),
        "driver detail leaked: {body}"
    );
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status(), 503);
    let login = app
        .graphql(
            "mutation { login(email: \"a@example.test\", password: \"password-123\") { token } }",
            json!({}),
            None,
        )
        .await;
    assert_eq!(
        login["errors"][0]["extensions"]["code"], "UNAVAILABLE",
        "{login}"
    );
    assert_eq!(
        app.get("/healthz", None).await.status(),
        200,
        "the process lives on"
    );

    relay.restore().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while app.get("/readyz", None).await.status() != 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the store never came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Nothing of the failed registration was written: the email is free.
    let (status, body) = register(&app, &lost).await;
    assert_eq!(status, 201, "{body}");
}
