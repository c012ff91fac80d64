//! The only place rules live. Each service takes a `Principal` (when the
//! operation needs one) and typed domain input, checks role and ownership,
//! calls the store, publishes to the hub, and returns typed output or a typed
//! [`AppError`](crate::error::AppError). The doors only translate.

mod accounts;
mod authenticator;
mod catalog;
mod chat;
mod connection;
mod dashboard;
mod event_log;
mod idempotency;
mod lookup;
mod orders;
mod presence;
mod throttle;

use std::sync::Arc;

pub use accounts::{Accounts, Registration, Session, SignIn};
pub use authenticator::{Authenticated, Authenticator, STATUS_FRESHNESS};
pub use catalog::{Catalog, Snapshot};
pub use chat::{CONVERSATIONS_LIMIT, Chat};
pub use connection::{Connections, EndReason, LiveConnection, Opening, Outbound, Wants};
pub use dashboard::{Dashboard, DashboardStats};
pub use event_log::{EventLog, EventPage, ResyncReason};
pub use idempotency::{Created, Idempotency, KEY_RETENTION};
pub use lookup::{Found, Lookup};
pub use orders::Orders;
pub use presence::{Presence, RECENTLY_ACTIVE};
pub use throttle::LoginThrottle;

use crate::auth::{PasswordHasher, TokenIssuer};
use crate::backplane::{Backplane, SharedPresence};
use crate::config::Config;
use crate::hub::{Event, Hub, Published};
use crate::store::Store;

/// Every service, built once at start-up and shared by all doors: a handle
/// on one [`ServiceSet`], whose services it derefs to. Cheap to clone (one
/// reference count), which matters: the HTTP router clones its state for
/// every request, and a clone of every service (a token issuer with its
/// keys, throttles, caches) cost allocations on every catalogue read.
#[derive(Clone)]
pub struct Services(Arc<ServiceSet>);

impl std::ops::Deref for Services {
    type Target = ServiceSet;

    fn deref(&self) -> &ServiceSet {
        &self.0
    }
}

/// The services of one process, behind [`Services`].
pub struct ServiceSet {
    /// Accounts, sign-in and sessions.
    pub accounts: Accounts,
    /// The product catalogue.
    pub catalog: Catalog,
    /// Orders and their status flow.
    pub orders: Orders,
    /// The admin dashboard's figures.
    pub dashboard: Dashboard,
    /// One-to-one chat.
    pub chat: Chat,
    /// Who is online.
    pub presence: Presence,
    /// Objects by id, whatever their kind (Relay's `node`).
    pub lookup: Lookup,
    /// The store: doors reach it only through the services ([`ready`](Self::ready)).
    store: Arc<dyn Store>,
    /// Decides at every door whether an access token still speaks for its
    /// account.
    pub authenticator: Authenticator,
    /// Idempotency keys (the janitor forgets expired ones).
    pub idempotency: Idempotency,
    /// The event log: positions, replay, retention.
    pub event_log: EventLog,
    /// Live connections: presence, replay then live, end reasons.
    pub connections: Connections,
    /// The other processes of the cluster, when there are any.
    backplane: Option<Backplane>,
    hub: Hub,
}

impl Services {
    /// Readiness (`/readyz`): the store answers, and Redis too when this
    /// process is part of a cluster.
    ///
    /// # Errors
    /// `UNAVAILABLE` when one does not.
    pub async fn ready(&self) -> Result<(), crate::error::AppError> {
        self.store.ping().await?;
        if let Some(backplane) = &self.backplane {
            backplane.ready().await?;
        }
        Ok(())
    }

    /// Whether this process is part of a cluster (has a backplane).
    pub fn clustered(&self) -> bool {
        self.backplane.is_some()
    }

    /// Starts the tasks a cluster needs: the backplane's connection, the
    /// delivery of what other processes publish, and the presence registry.
    /// Nothing without a backplane.
    pub fn start_cluster(&self) -> Vec<tokio::task::JoinHandle<()>> {
        let Some(backplane) = &self.backplane else {
            return Vec::new();
        };
        let mut tasks = Vec::new();
        if let Some((connection, mut received)) = backplane.start() {
            tasks.push(connection);
            let services = self.clone();
            tasks.push(tokio::spawn(async move {
                while let Some(published) = received.recv().await {
                    services.arrived(published);
                }
            }));
        }
        tasks.extend(self.presence.start());
        tasks
    }

    /// An event another process published: logged ones go through the
    /// event log (position order); live ones to this process's connections,
    /// after what they change here (a session end voids the cached account
    /// status; a presence change, the mirror of who is online).
    fn arrived(&self, published: Published) {
        if published.position.is_some() {
            self.event_log.arrived(published);
            return;
        }
        match &published.event {
            Event::SignedOut { user_id }
            | Event::Deactivated { user_id }
            | Event::RoleChanged { user_id, .. } => self.authenticator.forget(user_id),
            Event::PresenceChanged {
                user_id, online, ..
            } => self.presence.heard(user_id, *online),
            _ => {}
        }
        self.hub.deliver(published);
    }

    /// Wires the services of one process to one store and one hub.
    pub fn new(config: &Config, store: Arc<dyn Store>, hub: Hub, hasher: PasswordHasher) -> Self {
        Self::with_backplane(config, store, hub, hasher, None)
    }

    /// Wires the services to one store, one hub and, in a cluster, the
    /// backplane, which the hub must relay to as well (see
    /// [`Hub::with_relay`]).
    pub fn with_backplane(
        config: &Config,
        store: Arc<dyn Store>,
        hub: Hub,
        hasher: PasswordHasher,
        backplane: Option<Backplane>,
    ) -> Self {
        assert_eq!(
            hub.is_relayed(),
            backplane.is_some(),
            "BUG: a clustered hub relays to the backplane the services use"
        );
        let tokens = TokenIssuer::new(config.jwt_secret_bytes(), config.access_token_ttl);
        let throttle = LoginThrottle::new(
            config.login_attempts_per_address,
            config.login_attempts_per_account,
            backplane.as_ref(),
        );
        let authenticator = Authenticator::new(tokens.clone(), store.clone());
        let accounts = Accounts::new(
            store.clone(),
            hasher,
            tokens,
            authenticator.clone(),
            hub.clone(),
            throttle,
            config.refresh_token_ttl,
        );
        let presence = Presence::new(
            store.clone(),
            hub.clone(),
            config.presence_grace,
            backplane.clone().map(SharedPresence::new),
        );
        let event_log = EventLog::new(store.clone(), hub.clone());
        let store_for_keys = store.clone();
        let chat = Chat::new(
            store.clone(),
            hub.clone(),
            event_log.clone(),
            presence.clone(),
            config.messages_per_second,
            config.typing_ttl,
        );
        // The catalogue's kept listings move on with every write made here
        // (the services tell it) and every event the hub carries (other
        // processes' writes included).
        let snapshot = Snapshot::new();
        hub.observe_with(Arc::new(snapshot.clone()));
        let connections = Connections::new(
            hub.clone(),
            event_log.clone(),
            chat.clone(),
            presence.clone(),
        );
        Services(Arc::new(ServiceSet {
            accounts,
            catalog: Catalog::new(store.clone(), event_log.clone(), snapshot.clone()),
            orders: Orders::new(store.clone(), hub.clone(), event_log.clone(), snapshot),
            dashboard: Dashboard::new(store.clone(), presence.clone()),
            chat,
            connections,
            presence,
            lookup: Lookup::new(store.clone()),
            store,
            authenticator,
            idempotency: Idempotency::new(store_for_keys),
            event_log,
            backplane,
            hub,
        }))
    }
}

/// What the services' unit tests share.
#[cfg(test)]
pub(crate) mod testing {
    use std::sync::Arc;

    use super::Services;
    use crate::auth::PasswordHasher;
    use crate::config::Config;
    use crate::hub::Hub;
    use crate::store::counting::CountingStore;
    use crate::store::{SqliteStore, Store};

    /// A fresh, empty SQLite store in a temporary directory (kept while the
    /// directory is).
    pub async fn fresh_store() -> (Arc<dyn Store>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db.sqlite3"))
            .await
            .unwrap();
        (Arc::new(store), dir)
    }

    /// The services of one process on `store`, with the test settings
    /// (cheap password hashing), the event log not started.
    pub fn services_on(store: Arc<dyn Store>) -> Services {
        Services::new(
            &Config::for_tests(),
            store,
            Hub::default(),
            PasswordHasher::for_tests(),
        )
    }

    /// Services on a fresh SQLite store that counts its calls (to prove what
    /// a request costs in store calls), with the event log started.
    pub async fn counted_services() -> (Services, Arc<CountingStore>, tempfile::TempDir) {
        let (sqlite, dir) = fresh_store().await;
        let counting = Arc::new(CountingStore::new(sqlite));
        let services = services_on(counting.clone());
        let _log = services.event_log.start().await.unwrap();
        (services, counting, dir)
    }
}
