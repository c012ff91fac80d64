//! `TestApp`: the real server on port 0, with helpers that speak the API's
//! language. One app per test, each with its own data directory (SQLite) or
//! its own database (MongoDB).
#![allow(dead_code)]

pub mod cluster;
pub mod node;
pub mod steps;
pub mod tokens;

use std::time::Duration;

use realtime_dashboard::app::App;
use realtime_dashboard::auth::{PasswordHasher, TokenIssuer};
use realtime_dashboard::config::{BootstrapAdmin, Config, StoreConfig};
use realtime_dashboard::domain::{Email, Password, Role, UserId};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// The admin every test app starts with.
pub const ADMIN_EMAIL: &str = "admin@example.test";
/// Its password.
pub const ADMIN_PASSWORD: &str = "admin-password-1";
/// The password [`Endpoint::register`] gives every account.
pub const PASSWORD: &str = "password-123";

/// Which store a test app runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Mongo,
}

/// Runs scenarios on both stores, written once: each `name` (an
/// `async fn name(backend: Backend)`) becomes the tests `name_on_sqlite` and
/// `name_on_mongodb`. `name => scenario` names the tests after `name` and
/// runs `scenario`, any `Fn(Backend) -> impl Future` (a function, or a
/// closure that passes more arguments).
///
/// ```ignore
/// on_both_stores!(status_only_moves_forward);
/// on_both_stores!(a_socket_resumes_across_a_restart => |backend| replayed(backend, true));
/// ```
macro_rules! on_both_stores {
    (@pair $name:ident) => {
        $crate::support::on_both_stores!(@pair $name => $name);
    };
    (@pair $name:ident => $scenario:expr) => {
        ::pastey::paste! {
            #[tokio::test]
            async fn [<$name _on_sqlite>]() {
                ($scenario)($crate::support::Backend::Sqlite).await;
            }

            #[tokio::test]
            async fn [<$name _on_mongodb>]() {
                ($scenario)($crate::support::Backend::Mongo).await;
            }
        }
    };
    ($($name:ident $(=> $scenario:expr)?),+ $(,)?) => {$(
        $crate::support::on_both_stores!(@pair $name $(=> $scenario)?);
    )+};
}
pub(crate) use on_both_stores;

/// A signed-in account, as a test sees it.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub email: String,
    pub token: String,
    pub refresh_token: String,
}

/// One server's address and an HTTP client for it: all the request
/// helpers need. A [`TestApp`] (a server in this process) and a cluster
/// [`Process`](cluster::Process) (a child process) both deref to one.
pub struct Endpoint {
    pub port: u16,
    pub address: String,
    pub http: reqwest::Client,
}

impl Endpoint {
    /// The server on `127.0.0.1:port`.
    pub fn on_port(port: u16) -> Endpoint {
        Endpoint {
            port,
            address: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
        }
    }
}

/// A running server.
pub struct TestApp {
    endpoint: Endpoint,
    pub config: Config,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// Set by `restart`: the next app on the same data needs the files.
    keep_data: bool,
    /// `http://…/metrics` when the configuration set `metrics_addr`.
    pub metrics_url: Option<String>,
}

impl TestApp {
    /// An app on the embedded store.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(Backend::Sqlite, |_| {}).await
    }

    /// An app on the given store, with a chance to adjust the configuration.
    pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
        realtime_dashboard::telemetry::init_for_tests();
        let mut config = Config::for_tests();
        if backend == Backend::Mongo {
            config.store = StoreConfig::Mongo {
                uri: SecretString::from(mongo_database_uri()),
            };
        }
        config.bootstrap_admin = Some(BootstrapAdmin {
            email: Email::parse(ADMIN_EMAIL).unwrap(),
            password: Password::parse(ADMIN_PASSWORD).unwrap(),
        });
        adjust(&mut config);
        Self::start(config).await
    }

    /// Stops this server and starts a new one on the same store, data
    /// directory and signing key (on a new port): nothing this process held
    /// in memory survives, only what the store kept.
    pub async fn restart(mut self) -> TestApp {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            let stopped = tokio::time::timeout(Duration::from_secs(15), server).await;
            assert!(stopped.is_ok(), "the server stops within 15 s");
        }
        self.keep_data = true;
        Self::start(self.config.clone()).await
    }

    /// A second server on this one's store and signing key (a new port), as
    /// a second process of one deployment would be; it leaves the data to
    /// this one.
    pub async fn another_on_the_same_store(&self) -> TestApp {
        let mut other = Self::start(self.config.clone()).await;
        other.keep_data = true;
        other
    }

    async fn start(config: Config) -> TestApp {
        let app = App::build_with_hasher(config.clone(), PasswordHasher::for_tests())
            .await
            .expect("the test app builds");
        let port = app.port();
        let metrics_url = app
            .metrics_address()
            .map(|address| format!("http://{address}/metrics"));
        let (shutdown, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        TestApp {
            endpoint: Endpoint::on_port(port),
            config,
            shutdown: Some(shutdown),
            server: Some(server),
            keep_data: false,
            metrics_url,
        }
    }
}

impl std::ops::Deref for TestApp {
    type Target = Endpoint;

    fn deref(&self) -> &Endpoint {
        &self.endpoint
    }
}

impl Endpoint {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/graphql", self.port)
    }

    /// Sends `request`, with `token` as its bearer credential when there is
    /// one: every request helper below goes through here.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        token: Option<&str>,
    ) -> reqwest::Response {
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        request
            .send()
            .await
            .expect("the request reaches the server")
    }

    /// `POST path` with a JSON body (any JSON, valid for the route or not).
    pub async fn post(&self, path: &str, body: Value, token: Option<&str>) -> reqwest::Response {
        self.send(self.http.post(self.url(path)).json(&body), token)
            .await
    }

    /// `POST path` with a raw body.
    pub async fn post_raw(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
        content_type: &str,
    ) -> reqwest::Response {
        let request = self.http.post(self.url(path));
        self.send(
            request.header("content-type", content_type).body(body),
            None,
        )
        .await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        self.send(self.http.get(self.url(path)), token).await
    }

    /// A GraphQL operation over HTTP; returns the whole response body.
    pub async fn graphql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        let response = self
            .post(
                "/graphql",
                json!({ "query": query, "variables": variables }),
                token,
            )
            .await;
        response.json().await.expect("GraphQL answers JSON")
    }

    /// Registers a user over REST and returns the signed-in account.
    pub async fn register(&self, email: &str) -> Account {
        let response = self
            .post(
                "/auth/register",
                json!({ "name": "Test User", "email": email, "password": PASSWORD }),
                None,
            )
            .await;
        assert_eq!(response.status(), 201, "registering {email}");
        account_from(response.json().await.unwrap())
    }

    /// Signs in over REST.
    pub async fn login(&self, email: &str, password: &str) -> Account {
        let response = self
            .post(
                "/auth/login",
                json!({ "email": email, "password": password }),
                None,
            )
            .await;
        assert_eq!(response.status(), 200, "signing in as {email}");
        account_from(response.json().await.unwrap())
    }

    /// `POST /auth/logout` with a refresh token: signs that session out.
    pub async fn logout(&self, refresh_token: &str) -> reqwest::Response {
        self.post(
            "/auth/logout",
            json!({ "refreshToken": refresh_token }),
            None,
        )
        .await
    }

    /// Signs in as the bootstrap admin.
    pub async fn login_as_admin(&self) -> Account {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }
}

impl TestApp {
    /// A token for the account, signed with the server's key, that expired
    /// a minute ago (beyond any leeway).
    pub fn expired_token(&self, user_id: &str, role: Role) -> String {
        let issuer = TokenIssuer::new(self.config.jwt_secret_bytes(), Duration::from_secs(900));
        let id = UserId::parse(user_id).unwrap();
        let now = chrono::Utc::now().timestamp();
        issuer.sign(&id, role, now - 960, 900).unwrap().token
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
        if !self.keep_data {
            let _ = std::fs::remove_dir_all(&self.config.data_dir);
        }
    }
}

/// The session in a login/register/refresh envelope.
pub fn account_from(body: Value) -> Account {
    let data = &body["data"];
    Account {
        id: data["user"]["id"]
            .as_str()
            .expect("data.user.id")
            .to_owned(),
        email: data["user"]["email"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        token: data["token"].as_str().expect("data.token").to_owned(),
        refresh_token: data["refreshToken"]
            .as_str()
            .expect("data.refreshToken")
            .to_owned(),
    }
}

/// A fresh database on the MongoDB test server (`MONGODB_URI`).
pub fn mongo_database_uri() -> String {
    let base = std::env::var("MONGODB_URI").expect(
        "MONGODB_URI is not set: run the README's test command (tests/run.sh), which starts a \
         MongoDB-compatible server, or point MONGODB_URI at one",
    );
    realtime_dashboard::store::with_database(&base, &format!("rtd_e2e_{}", UserId::generate()))
}

/// The `extensions.code` of the first GraphQL error.
pub fn graphql_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<no code>")
}

/// A unique email for one test.
pub fn unique_email(prefix: &str) -> String {
    format!("{prefix}-{}@example.test", UserId::generate())
}

// ---------------------------------------------------------------------------
// Catalogue, orders and live clients (tests/e2e/catalog.rs, orders.rs, live.rs).
// ---------------------------------------------------------------------------

/// How long to wait for a live client to connect.
const CLIENT_WAIT: Duration = Duration::from_secs(10);

impl Endpoint {
    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, body: Value, token: Option<&str>) -> reqwest::Response {
        self.send(self.http.put(self.url(path)).json(&body), token)
            .await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        self.send(self.http.delete(self.url(path)), token).await
    }

    /// `GET path` with query parameters (encoded by the client).
    pub async fn get_with(
        &self,
        path: &str,
        query: &[(&str, &str)],
        token: Option<&str>,
    ) -> reqwest::Response {
        self.send(self.http.get(self.url(path)).query(query), token)
            .await
    }

    /// Creates a product over REST (`POST /products`, admin) and returns the
    /// product JSON (`data`); asserts 201.
    pub async fn create_product(
        &self,
        admin_token: &str,
        name: &str,
        price: f64,
        stock: i64,
    ) -> Value {
        let response = self
            .post(
                "/products",
                json!({ "name": name, "price": price, "stock": stock }),
                Some(admin_token),
            )
            .await;
        let status = response.status();
        let body: Value = response.json().await.expect("POST /products answers JSON");
        assert_eq!(status, 201, "creating product {name:?}: {body}");
        body["data"].clone()
    }

    /// `POST /orders {productId, quantity}` as `token`; the raw response.
    pub async fn place_order(
        &self,
        token: &str,
        product_id: &str,
        quantity: i64,
    ) -> reqwest::Response {
        self.post(
            "/orders",
            json!({ "productId": product_id, "quantity": quantity }),
            Some(token),
        )
        .await
    }

    /// A GraphQL operation that must succeed; returns `data`.
    pub async fn graphql_ok(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        let body = self.graphql(query, variables.clone(), token).await;
        assert!(
            body["errors"].is_null(),
            "GraphQL errors for {query} with {variables}: {body}"
        );
        body["data"].clone()
    }

    /// `dashboardStats { productCount }`, as the admin token.
    pub async fn product_count(&self, admin_token: &str) -> i64 {
        let data = self
            .graphql_ok(
                "{ dashboardStats { productCount } }",
                json!({}),
                Some(admin_token),
            )
            .await;
        data["dashboardStats"]["productCount"]
            .as_i64()
            .expect("dashboardStats.productCount is a number")
    }

    /// A real `socket.io-client` connected with `auth.token`; returns once
    /// `connect` is seen.
    pub async fn socket(&self, token: &str) -> node::NodeClient {
        let mut socket = node::NodeClient::socketio(&self.address, json!({ "token": token })).await;
        socket
            .expect("connect", CLIENT_WAIT, |line| line["kind"] == "connect")
            .await;
        socket
    }

    /// A real `graphql-ws` client with `connection_init {token}`; returns once
    /// the connection is acknowledged.
    pub async fn graphql_ws_client(&self, token: &str) -> node::NodeClient {
        let mut client =
            node::NodeClient::graphql_ws(&self.ws_url(), json!({ "token": token })).await;
        client
            .expect("connected", CLIENT_WAIT, |line| line["kind"] == "connected")
            .await;
        client
    }
}

/// The error envelope of a REST response, after asserting its HTTP status and
/// `code` (and `status: "error"`). `what` names the case in failures.
pub async fn assert_rest_error(
    response: reqwest::Response,
    status: u16,
    code: &str,
    what: &str,
) -> Value {
    let actual = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(actual, status, "{what}: HTTP status; body {body}");
    assert_eq!(body["status"], "error", "{what}: envelope {body}");
    assert_eq!(body["code"], code, "{what}: error code; body {body}");
    body
}

/// A payload (or an array of them) without the event-log `position` that
/// resumable events carry, to compare it with the entity it describes.
pub fn without_position(value: &Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(without_position).collect()),
        Value::Object(object) => {
            let mut object = object.clone();
            object.remove("position");
            Value::Object(object)
        }
        other => other.clone(),
    }
}
