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
mod orders;
mod presence;
mod throttle;

use std::sync::Arc;

pub use accounts::{Accounts, Registration, Session, SignIn};
pub use authenticator::{Authenticated, Authenticator, STATUS_FRESHNESS};
pub use catalog::{Catalog, ProductListing};
pub use chat::{CONVERSATIONS_LIMIT, Chat, MessageListing, Outgoing, message_cursor};
pub use connection::{Connections, EndReason, LiveConnection, Opening, Outbound, Wants};
pub use dashboard::{Dashboard, DashboardStats};
pub use event_log::{EventLog, EventPage, ResyncReason};
pub use idempotency::{Created, Idempotency, KEY_RETENTION};
pub use orders::{OrderListing, Orders, order_cursor};
pub use presence::{Presence, RECENTLY_ACTIVE, UserListing, user_cursor};
pub use throttle::LoginThrottle;

use crate::auth::{PasswordHasher, TokenIssuer};
use crate::config::Config;
use crate::hub::Hub;
use crate::store::Store;

/// Every service, built once at start-up and shared by all doors.
#[derive(Clone)]
pub struct Services {
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
}

impl Services {
    /// Readiness (`/readyz`): the store answers.
    ///
    /// # Errors
    /// `UNAVAILABLE` when it does not.
    pub async fn ready(&self) -> Result<(), crate::error::AppError> {
        Ok(self.store.ping().await?)
    }

    /// Wires the services to one store and one hub.
    pub fn new(config: &Config, store: Arc<dyn Store>, hub: Hub, hasher: PasswordHasher) -> Self {
        let tokens = TokenIssuer::new(config.jwt_secret_bytes(), config.access_token_ttl);
        let throttle = LoginThrottle::new(
            config.login_attempts_per_address,
            config.login_attempts_per_account,
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
        let presence = Presence::new(store.clone(), hub.clone(), config.presence_grace);
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
        let connections = Connections::new(
            hub.clone(),
            event_log.clone(),
            chat.clone(),
            presence.clone(),
        );
        Services {
            accounts,
            catalog: Catalog::new(store.clone(), event_log.clone()),
            orders: Orders::new(store.clone(), hub.clone(), event_log.clone()),
            dashboard: Dashboard::new(store.clone(), presence.clone()),
            chat,
            connections,
            presence,
            store,
            authenticator,
            idempotency: Idempotency::new(store_for_keys),
            event_log,
        }
    }
}
