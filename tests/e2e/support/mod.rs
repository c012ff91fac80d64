//! `TestApp`: the real server on port 0, with helpers that speak the API's
//! language. One app per test, each with its own data directory (SQLite) or
//! its own database (MongoDB).
#![allow(dead_code)]

pub mod node;
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

/// Which store a test app runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Mongo,
}

/// A signed-in account, as a test sees it.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub email: String,
    pub token: String,
    pub refresh_token: String,
}

/// A running server.
pub struct TestApp {
    pub port: u16,
    pub address: String,
    pub http: reqwest::Client,
    pub config: Config,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
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
        let app = App::build_with_hasher(config.clone(), PasswordHasher::for_tests())
            .await
            .expect("the test app builds");
        let port = app.port();
        let (shutdown, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        TestApp {
            port,
            address: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            config,
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/graphql", self.port)
    }

    /// `POST path` with a JSON body (any JSON, valid for the route or not).
    pub async fn post(&self, path: &str, body: Value, token: Option<&str>) -> reqwest::Response {
        let mut request = self.http.post(self.url(path)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request
            .send()
            .await
            .expect("the request reaches the server")
    }

    /// `POST path` with a raw body.
    pub async fn post_raw(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
        content_type: &str,
    ) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("the request reaches the server")
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = self.http.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request
            .send()
            .await
            .expect("the request reaches the server")
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
                json!({ "name": "Test User", "email": email, "password": "password-123" }),
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

    /// Signs in as the bootstrap admin.
    pub async fn login_as_admin(&self) -> Account {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

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
        let _ = std::fs::remove_dir_all(&self.config.data_dir);
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
