//! Start-up and shutdown: `App::build(config)` wires store, hub, services and
//! doors and binds the listener; `run_until_stopped` serves until a shutdown
//! future resolves.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::serve::ListenerExt as _;
use secrecy::ExposeSecret as _;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::auth::PasswordHasher;
use crate::backplane::Backplane;
use crate::compat::socketio;
use crate::config::Config;
use crate::graphql;
use crate::http;
use crate::hub::Hub;
use crate::services::Services;
use crate::store;

/// How long open connections get to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A built application, listening but not yet serving.
pub struct App {
    listener: TcpListener,
    router: Router,
    io: socketio::SocketIo,
    services: Services,
    background: Vec<JoinHandle<()>>,
    metrics_address: Option<SocketAddr>,
}

impl App {
    /// Connects the store (migrating or indexing it), creates the bootstrap
    /// admin, builds the doors and binds `HOST:PORT`.
    ///
    /// # Errors
    /// When the store cannot be prepared or the address cannot be bound.
    pub async fn build(config: Config) -> anyhow::Result<App> {
        let hasher = PasswordHasher::new();
        Self::build_with_hasher(config, hasher).await
    }

    /// Like [`build`](Self::build) with a chosen password hasher (tests use
    /// cheap parameters so hundreds of registrations stay fast).
    ///
    /// # Errors
    /// When the store cannot be prepared or the address cannot be bound.
    pub async fn build_with_hasher(config: Config, hasher: PasswordHasher) -> anyhow::Result<App> {
        let store = store::connect(&config.store)
            .await
            .context("preparing the store")?;
        let backplane = match (&config.redis_url, config.store.database()) {
            (Some(url), Some(cluster)) => Some(
                Backplane::new(url.expose_secret(), &cluster)
                    .context("setting up the backplane (REDIS_URL)")?,
            ),
            (Some(_), None) => anyhow::bail!("REDIS_URL needs MONGODB_URI naming a database"),
            (None, _) => None,
        };
        let relay = backplane
            .clone()
            .map(|backplane| Arc::new(backplane) as Arc<dyn crate::hub::Relay>);
        let hub = Hub::with_relay(crate::hub::DEFAULT_CAPACITY, relay);
        let services = Services::with_backplane(&config, store, hub, hasher, backplane);
        let event_log = services
            .event_log
            .start()
            .await
            .context("reading the event log")?;
        if let Some(admin) = &config.bootstrap_admin {
            services
                .accounts
                .ensure_bootstrap_admin(admin)
                .await
                .context("creating the bootstrap admin (ADMIN_EMAIL)")?;
        }

        let engine = graphql::engine(services.clone());
        let io = socketio::SocketIo::new(&services);
        let graphql_door = graphql::routes::GraphqlDoor {
            services: services.clone(),
            engine,
            websocket: graphql::routes::WebSocketLimits {
                max_message_bytes: config.body_limit,
                init_timeout: config.connection_init_timeout,
            },
        };
        let router = http::router(services.clone(), graphql_door, &config, &io);

        let address = SocketAddr::new(config.host, config.port);
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("binding {address} (HOST/PORT)"))?;

        let janitor = {
            let services = services.clone();
            let event_retention = config.event_retention;
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(250));
                let mut ticks: u64 = 0;
                loop {
                    tick.tick().await;
                    services.chat.expire_typing();
                    ticks += 1;
                    if ticks.is_multiple_of(240) {
                        services.accounts.forget_idle_throttles();
                        services.chat.forget_idle_limits();
                    }
                    // Once an hour, and once soon after start-up.
                    if ticks % 14_400 == 40 {
                        if let Err(error) = services.idempotency.forget_expired().await {
                            tracing::warn!(%error, "could not forget expired idempotency keys");
                        }
                        match services.event_log.trim(event_retention).await {
                            Ok(trimmed) => tracing::debug!(trimmed, "event log trimmed"),
                            Err(error) => tracing::warn!(%error, "could not trim the event log"),
                        }
                    }
                }
            })
        };

        let mut background = vec![janitor, event_log];
        background.extend(services.start_cluster());
        let metrics_address = match config.metrics_addr {
            Some(address) => {
                let (bound, task) = crate::metrics::serve(address)
                    .await
                    .with_context(|| format!("binding {address} (METRICS_ADDR)"))?;
                background.push(task);
                Some(bound)
            }
            None => None,
        };

        Ok(App {
            listener,
            router,
            io,
            services,
            background,
            metrics_address,
        })
    }

    /// The port actually bound (useful with `PORT=0`).
    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map_or(0, |address| address.port())
    }

    /// Logs the start-up line an operator looks for (where the dashboard,
    /// GraphiQL and the health endpoints are), for `serve` and `demo`
    /// alike, and returns the base URL.
    pub fn log_listening(&self, config: &Config) -> String {
        let base = format!("http://{}:{}", config.host, self.port());
        tracing::info!(
            store = match config.store {
                crate::config::StoreConfig::Sqlite { .. } => "sqlite",
                crate::config::StoreConfig::Mongo { .. } => "mongodb",
            },
            "listening on {base}: dashboard at {base}/dashboard/, GraphiQL at {base}/graphql, \
             health at {base}/healthz and {base}/readyz; REST at / and /api/v1, Socket.IO at /socket.io/"
        );
        base
    }

    /// Where `/metrics` is served, when `METRICS_ADDR` is set.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics_address
    }

    /// The services, for tests and the CLI.
    pub fn services(&self) -> &Services {
        &self.services
    }

    /// Serves until `shutdown` resolves, then closes Socket.IO connections
    /// and gives the rest [`SHUTDOWN_GRACE`] to finish.
    ///
    /// # Errors
    /// When the listener fails.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let App {
            listener,
            router,
            io,
            background,
            ..
        } = self;
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            shutdown.await;
            tracing::info!("shutting down: closing connections");
            let _ = stopping_tx.send(());
            io.close().await;
        };
        // Without TCP_NODELAY a small frame written behind another small
        // frame waits for the peer's delayed ACK (up to 40 ms on Linux):
        // every event is such a frame. axum's plain `serve` leaves Nagle on.
        let listener = listener.tap_io(|stream| {
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%error, "could not set TCP_NODELAY on a connection");
            }
        });
        let server = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(signal);
        let deadline = async move {
            if stopping_rx.await.is_ok() {
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        let result = tokio::select! {
            result = server => result.context("serving HTTP"),
            () = deadline => {
                tracing::warn!("connections still open after the grace period; stopping anyway");
                Ok(())
            }
        };
        for task in background {
            task.abort();
        }
        result
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
