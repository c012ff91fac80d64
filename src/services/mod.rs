//! The only place rules live. Each service takes a `Principal` (when the
//! operation needs one) and typed domain input, checks role and ownership,
//! calls the store, publishes to the hub, and returns typed output or a typed
//! [`AppError`](crate::error::AppError). The doors only translate.

mod accounts;
mod authenticator;
mod catalog;
mod chat;
mod dashboard;
mod idempotency;
mod orders;
mod presence;
mod throttle;

use std::sync::Arc;

pub use accounts::{Accounts, Registration, Session, SignIn};
pub use authenticator::{Authenticated, Authenticator, STATUS_FRESHNESS};
pub use catalog::{Catalog, ProductListing};
pub use chat::{CONVERSATIONS_LIMIT, Chat, MessageListing, Outgoing, message_cursor};
pub use dashboard::{Dashboard, DashboardStats};
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
    /// The event bus the services publish to and the doors read from.
    pub hub: Hub,
    /// Decides at every door whether an access token still speaks for its
    /// account.
    pub authenticator: Authenticator,
    /// Idempotency keys (the janitor forgets expired ones).
    pub idempotency: Idempotency,
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
        let store_for_keys = store.clone();
        Services {
            accounts,
            catalog: Catalog::new(store.clone(), hub.clone()),
            orders: Orders::new(store.clone(), hub.clone()),
            dashboard: Dashboard::new(store.clone(), presence.clone()),
            chat: Chat::new(
                store.clone(),
                hub.clone(),
                presence.clone(),
                config.messages_per_second,
                config.typing_ttl,
            ),
            presence,
            store,
            hub,
            authenticator,
            idempotency: Idempotency::new(store_for_keys),
        }
    }
}
