//! The persistence port: one [`Store`] interface, two adapters.
//!
//! [`SqliteStore`] is the embedded default (WAL mode, files under `DATA_DIR`),
//! [`MongoStore`] the deployment choice. Both pass the one contract suite in
//! `contract/`. Adapters classify their driver's errors where they happen
//! ([`StoreError`]), so a duplicate key is a conflict and a lost connection is
//! `UNAVAILABLE` on every store, and no driver message reaches a client.
//! Operations that must be atomic are single methods here (a conditional
//! update), never read-check-write sequences in a service.
//!
//! The port is split by aggregate, one file each here and in each adapter
//! (`sqlite/`, `mongo/`): [`UserStore`] (`users.rs`), [`ProductStore`]
//! (`products.rs`), [`OrderStore`] (`orders.rs`), [`MessageStore`]
//! (`messages.rs`), [`TokenStore`] (`tokens.rs`, refresh tokens),
//! [`IdempotencyStore`] (`idempotency.rs`) and [`EventLogStore`]
//! (`event_log.rs`), so a change to one aggregate touches its files only.
//! [`Store`] is all of them plus `ping`; callers hold an `Arc<dyn Store>`
//! and call any aggregate's methods on it without importing its trait
//! (a trait object answers its supertraits' methods). Code that calls them
//! on a concrete adapter (`SqliteStore`, in tests) imports the trait.

mod event_log;
mod idempotency;
mod messages;
mod mongo;
mod orders;
mod products;
mod sqlite;
mod tokens;
mod users;

#[cfg(test)]
pub mod contract;
#[cfg(test)]
pub mod counting;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use event_log::{
    EventLogStore, EventScope, LogBounds, LogEntry, LogQuery, LogReader, NewLogEntry,
};
pub use idempotency::{IdempotencyClaim, IdempotencyStore};
pub use messages::{MessageQuery, MessageStore};
pub use mongo::{MongoStore, with_database};
pub use orders::{MoveOrder, OrderFilter, OrderQuery, OrderStats, OrderStore, PlaceOrder};
pub use products::{ProductFilter, ProductQuery, ProductStore};
pub use sqlite::SqliteStore;
pub use tokens::{NewRefreshToken, RefreshUse, TokenStore};
pub use users::{Credentials, UserStore};

use crate::config::StoreConfig;
use crate::error::AppError;

/// How a store operation failed, classified by the adapter.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write; the service names the conflict.
    #[error("duplicate key")]
    Duplicate,
    /// The store cannot be reached or timed out; nothing was written.
    #[error("store unavailable: {0}")]
    Unavailable(#[source] anyhow::Error),
    /// Anything else: a bug or corrupt data.
    #[error("store failure: {0}")]
    Internal(#[source] anyhow::Error),
}

/// Result of store operations.
pub type StoreResult<T> = Result<T, StoreError>;

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Duplicate => AppError::Conflict("already exists".into()),
            StoreError::Unavailable(cause) => {
                crate::metrics::store_error("unavailable");
                AppError::Unavailable(cause)
            }
            StoreError::Internal(cause) => {
                crate::metrics::store_error("internal");
                AppError::Internal(cause)
            }
        }
    }
}

/// The persistence port: every aggregate's trait, and the store's health.
/// Every method is one round trip or one atomic operation on the store.
#[async_trait]
pub trait Store:
    UserStore
    + ProductStore
    + OrderStore
    + MessageStore
    + TokenStore
    + IdempotencyStore
    + EventLogStore
    + Send
    + Sync
{
    /// Succeeds when the store answers (`/readyz`).
    async fn ping(&self) -> StoreResult<()>;
}

/// Opens the store the configuration names, applying migrations (SQLite) or
/// creating indexes (MongoDB).
///
/// # Errors
/// [`StoreError::Unavailable`] when the store cannot be reached or prepared.
pub async fn connect(config: &StoreConfig) -> StoreResult<Arc<dyn Store>> {
    match config {
        StoreConfig::Sqlite { path } => Ok(Arc::new(SqliteStore::open(path).await?)),
        StoreConfig::Mongo { uri } => Ok(Arc::new(MongoStore::connect(uri).await?)),
    }
}

/// Timestamps are kept at millisecond precision on every store (BSON dates
/// are milliseconds), so a value read back equals the value written.
pub fn now() -> DateTime<Utc> {
    truncate_to_millis(Utc::now())
}

/// Drops sub-millisecond precision.
pub fn truncate_to_millis(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at)
}
