//! The persistence port: one [`Store`] interface, two adapters.
//!
//! [`SqliteStore`] is the embedded default (WAL mode, files under `DATA_DIR`),
//! [`MongoStore`] the deployment choice. Both pass the one contract suite in
//! `contract.rs`. Adapters classify their driver's errors where they happen
//! ([`StoreError`]), so a duplicate key is a conflict and a lost connection is
//! `UNAVAILABLE` on every store, and no driver message reaches a client.
//! Operations that must be atomic are single methods here (a conditional
//! update), never read-check-write sequences in a service.

mod mongo;
mod sqlite;

#[cfg(test)]
pub mod contract;
#[cfg(test)]
pub mod counting;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use mongo::{MongoStore, with_database};
pub use sqlite::SqliteStore;

use crate::auth::RefreshTokenHash;
use crate::config::StoreConfig;
use crate::domain::{
    AccountStatus, Conversation, Cursor, Email, Message, MessageId, NewOrder, NewUser, Order,
    OrderId, OrderStatus, Position, Price, Product, ProductId, ProductPatch, ProductSort, Role,
    SearchTerms, Stock, User, UserId,
};
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

/// An account with its password hash, for sign-in only.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The account.
    pub user: User,
    /// Its argon2id PHC string.
    pub password_hash: String,
}

/// A refresh token about to be stored (its hash only).
#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    /// SHA-256 of the token.
    pub hash: RefreshTokenHash,
    /// Whose session it continues.
    pub user_id: UserId,
    /// The sign-in it descends from; reuse of any member revokes them all.
    pub family: String,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
    /// When it stops working even if unused.
    pub expires_at: DateTime<Utc>,
}

/// What presenting a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshUse {
    /// Unused, unexpired, unrevoked: now marked used, to be rotated.
    Fresh {
        /// Whose session it is.
        user_id: UserId,
        /// Its family, inherited by the replacement.
        family: String,
    },
    /// Already rotated once: someone replays it. The family must be revoked.
    Reused {
        /// Whose session it was.
        user_id: UserId,
        /// The family to revoke.
        family: String,
    },
    /// Unknown, expired or revoked.
    Invalid,
}

/// The first request made with an idempotency key: what it asked for (a
/// fingerprint) and the id of what it creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    /// Whose key (keys are per user).
    pub user_id: UserId,
    /// The client's key.
    pub key: String,
    /// SHA-256 (hex) of the operation and its input.
    pub fingerprint: String,
    /// The id of the entity the request creates.
    pub result_id: String,
    /// When the key was first used.
    pub created_at: DateTime<Utc>,
}

/// A catalogue list request, already valid.
#[derive(Debug, Clone, Default)]
pub struct ProductQuery {
    /// Word prefixes the name must match (all of them).
    pub search: Option<SearchTerms>,
    /// Lowest price, inclusive.
    pub min_price: Option<Price>,
    /// Highest price, inclusive.
    pub max_price: Option<Price>,
    /// The ordering.
    pub sort: ProductSort,
    /// Start strictly after this position (its ordering is `sort`'s).
    pub after: Option<Cursor>,
    /// How many rows to return at most (the service asks one more than a
    /// page to know whether more follow).
    pub limit: usize,
}

/// An order list request, newest first.
#[derive(Debug, Clone, Default)]
pub struct OrderQuery {
    /// Only orders in this status.
    pub status: Option<OrderStatus>,
    /// Only this user's orders.
    pub user_id: Option<UserId>,
    /// Start strictly after this position (a newest-first cursor).
    pub after: Option<Cursor>,
    /// How many rows to return at most.
    pub limit: usize,
}

/// What placing an order did.
#[derive(Debug, Clone, PartialEq)]
pub enum PlaceOrder {
    /// Stock taken and order written.
    Placed(Order),
    /// Not enough stock; nothing written.
    OutOfStock,
    /// No such product; nothing written.
    UnknownProduct,
}

/// What a status move did.
#[derive(Debug, Clone, PartialEq)]
pub enum MoveOrder {
    /// Moved; the order as it is now.
    Moved(Order),
    /// The order is in a status the move may not start from; unchanged.
    NotAllowed(Order),
    /// No such order.
    UnknownOrder,
}

/// Order figures for the dashboard.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OrderStats {
    /// How many orders are in each status (every status listed).
    pub by_status: Vec<(OrderStatus, u64)>,
    /// Sum of all order totals, in minor units.
    pub revenue_cents: i64,
    /// Orders placed since the given instant.
    pub placed_since: u64,
}

/// A page of messages, newest first, before a position.
#[derive(Debug, Clone)]
pub struct MessageQuery {
    /// Whose messages (sent or received).
    pub participant: UserId,
    /// Only the thread with this peer.
    pub peer: Option<UserId>,
    /// Start strictly before this position (a `MESSAGES_NEWEST` cursor).
    pub before: Option<Cursor>,
    /// How many rows to return at most.
    pub limit: usize,
}

/// Who may read a logged event: the hub's audience in a form a store can
/// filter on, so a replay reads only what its reader may see.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventScope {
    /// Every client.
    pub everyone: bool,
    /// Every admin.
    pub admins: bool,
    /// These users (each of their connections).
    pub users: Vec<UserId>,
}

/// An event about to be appended to the log.
#[derive(Debug, Clone, PartialEq)]
pub struct NewLogEntry {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Its kind (`order_placed`, …), for reading the payload back.
    pub kind: String,
    /// Who may read it.
    pub scope: EventScope,
    /// The event itself, encoded by the event log service (the store keeps
    /// it as an opaque string).
    pub payload: String,
}

/// A logged event, read back with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// Where it stands in the log.
    pub position: Position,
    /// The event as it was appended.
    pub entry: NewLogEntry,
}

/// A range of the log, as one reader may see it.
#[derive(Debug, Clone)]
pub struct LogQuery {
    /// Strictly after this position.
    pub after: Position,
    /// Up to this position, inclusive.
    pub up_to: Position,
    /// Only events this reader may see (`None`: every event).
    pub reader: Option<LogReader>,
    /// How many events to return at most.
    pub limit: usize,
}

/// Whose view of the log a replay reads.
#[derive(Debug, Clone)]
pub struct LogReader {
    /// The reader's account.
    pub user: UserId,
    /// Admins also read what is addressed to admins.
    pub admin: bool,
}

/// The ends of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogBounds {
    /// The oldest event still kept (`None` while the log was never written).
    pub first: Option<Position>,
    /// The newest event ([`Position::START`] while the log was never written).
    pub head: Position,
}

/// The persistence port. Methods are grouped by aggregate; every method is
/// one round trip or one atomic operation on the store.
#[async_trait]
pub trait Store: Send + Sync {
    /// Succeeds when the store answers (`/readyz`).
    async fn ping(&self) -> StoreResult<()>;

    // --- users ---

    /// Writes a new account. [`StoreError::Duplicate`] when the email is taken.
    async fn insert_user(&self, user: &NewUser) -> StoreResult<User>;
    /// One account by id.
    async fn user_by_id(&self, id: &UserId) -> StoreResult<Option<User>>;
    /// Several accounts by id, in no particular order; unknown ids are skipped
    /// (the batch behind GraphQL's user loader).
    async fn users_by_ids(&self, ids: &[UserId]) -> StoreResult<Vec<User>>;
    /// An account and its password hash, by email, for sign-in.
    async fn credentials_by_email(&self, email: &Email) -> StoreResult<Option<Credentials>>;
    /// Changes a role and, in the same write, voids the account's access
    /// tokens issued before `sessions_valid_from` (they carry the old role;
    /// the cut-off never moves back). `None` when the account does not exist.
    async fn set_user_role(
        &self,
        id: &UserId,
        role: Role,
        sessions_valid_from: DateTime<Utc>,
    ) -> StoreResult<Option<User>>;
    /// Activates or deactivates an account and, in the same write, voids its
    /// access tokens issued before `sessions_valid_from`. `None` when the
    /// account does not exist.
    async fn set_user_active(
        &self,
        id: &UserId,
        active: bool,
        sessions_valid_from: DateTime<Utc>,
    ) -> StoreResult<Option<User>>;
    /// Voids the account's access tokens issued before `from` (sign-out);
    /// the cut-off never moves back. False when the account does not exist.
    async fn end_user_sessions(&self, id: &UserId, from: DateTime<Utc>) -> StoreResult<bool>;
    /// What decides whether the account's access tokens are accepted; `None`
    /// when the account does not exist. One small read by primary key: it is
    /// cached in front of every door.
    async fn account_status(&self, id: &UserId) -> StoreResult<Option<AccountStatus>>;
    /// Number of accounts.
    async fn count_users(&self) -> StoreResult<u64>;

    /// Records activity (throttled by the caller).
    async fn touch_last_active(&self, id: &UserId, at: DateTime<Utc>) -> StoreResult<()>;
    /// Accounts in registration order, keyset-paginated (`USERS_OLDEST`).
    async fn list_users(&self, after: Option<&Cursor>, limit: usize) -> StoreResult<Vec<User>>;

    // --- messages ---

    /// Stores a message (before anything is acknowledged or delivered).
    async fn insert_message(&self, message: &Message) -> StoreResult<()>;
    /// Messages of a participant (or of one thread), newest first.
    async fn message_page(&self, query: &MessageQuery) -> StoreResult<Vec<Message>>;
    /// Marks `peer`'s unseen messages to `reader` seen; returns their ids.
    async fn mark_seen(
        &self,
        reader: &UserId,
        peer: &UserId,
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<MessageId>>;
    /// Messages to `to` not yet handed to any live connection, oldest first.
    async fn undelivered_messages(&self, to: &UserId, limit: usize) -> StoreResult<Vec<Message>>;
    /// One message by id (an idempotent retry finds the one it sent).
    async fn message_by_id(&self, id: &MessageId) -> StoreResult<Option<Message>>;
    /// Records that these messages reached a live connection.
    async fn mark_delivered(&self, ids: &[MessageId]) -> StoreResult<()>;
    /// The user's conversations, most recent first (at most `limit`).
    async fn conversations(&self, user: &UserId, limit: usize) -> StoreResult<Vec<Conversation>>;
    /// Everyone the user has exchanged messages with.
    async fn conversation_peers(&self, user: &UserId) -> StoreResult<Vec<UserId>>;

    // --- products ---

    /// Writes a new product (with its search terms).
    async fn insert_product(&self, product: &Product) -> StoreResult<()>;
    /// Applies a partial update; `None` when the product does not exist.
    async fn update_product(
        &self,
        id: &ProductId,
        patch: &ProductPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Product>>;
    /// Removes a product; false when it did not exist. Orders keep their
    /// product id (history stays), the product just resolves to nothing.
    async fn delete_product(&self, id: &ProductId) -> StoreResult<bool>;
    /// One product.
    async fn product_by_id(&self, id: &ProductId) -> StoreResult<Option<Product>>;
    /// Several products, any order, unknown ids skipped.
    async fn products_by_ids(&self, ids: &[ProductId]) -> StoreResult<Vec<Product>>;
    /// A keyset-paginated, filtered catalogue list.
    async fn list_products(&self, query: &ProductQuery) -> StoreResult<Vec<Product>>;
    /// Number of products.
    async fn count_products(&self) -> StoreResult<u64>;
    /// Products with fewer than `below` units, fewest first.
    async fn low_stock_products(&self, below: Stock, limit: usize) -> StoreResult<Vec<Product>>;

    // --- orders ---

    /// Takes the stock and writes the order as one atomic step: a
    /// conditional decrement (`stock >= quantity`), so concurrent orders can
    /// never oversell, then the order with the server-computed total.
    async fn place_order(&self, order: &NewOrder) -> StoreResult<PlaceOrder>;
    /// Moves an order to `to` if it is in one of `from` (a conditional
    /// update, so concurrent moves cannot go backwards).
    async fn move_order(
        &self,
        id: &OrderId,
        from: &[OrderStatus],
        to: OrderStatus,
        now: DateTime<Utc>,
    ) -> StoreResult<MoveOrder>;
    /// One order.
    async fn order_by_id(&self, id: &OrderId) -> StoreResult<Option<Order>>;
    /// A keyset-paginated order list, newest first.
    async fn list_orders(&self, query: &OrderQuery) -> StoreResult<Vec<Order>>;
    /// Dashboard figures.
    async fn order_stats(&self, since: DateTime<Utc>) -> StoreResult<OrderStats>;

    // --- refresh tokens ---

    /// Keeps a newly issued refresh token.
    async fn insert_refresh_token(&self, token: &NewRefreshToken) -> StoreResult<()>;
    /// Atomically marks a usable token used and says what it was; the
    /// conditional update makes two concurrent uses of one token end as one
    /// `Fresh` and one `Reused`.
    async fn use_refresh_token(
        &self,
        hash: &RefreshTokenHash,
        now: DateTime<Utc>,
    ) -> StoreResult<RefreshUse>;
    /// Revokes every token of a family; returns how many were still live.
    async fn revoke_refresh_family(&self, family: &str, now: DateTime<Utc>) -> StoreResult<u64>;
    // --- idempotency keys ---

    /// Keeps `claim` unless the same user already used the same key since
    /// `expired_before`; returns the claim that holds now (this one, or the
    /// earlier one). Atomic: of two concurrent first requests, one wins.
    async fn claim_idempotency_key(
        &self,
        claim: &IdempotencyClaim,
        expired_before: DateTime<Utc>,
    ) -> StoreResult<IdempotencyClaim>;
    /// Drops keys first used before `before`; returns how many.
    async fn forget_idempotency_keys(&self, before: DateTime<Utc>) -> StoreResult<u64>;

    /// Revokes every token of an account, whatever its family (deactivation);
    /// returns how many were still live.
    async fn revoke_user_refresh_tokens(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<u64>;
    /// The family and owner of a token, whatever its state (for logout).
    async fn refresh_token_owner(
        &self,
        hash: &RefreshTokenHash,
    ) -> StoreResult<Option<(UserId, String)>>;

    // The event log.
    /// Appends events in order and returns their positions, consecutive and
    /// in the order given. Positions are gap-free across every process that
    /// shares the store, and an event becomes visible only after every event
    /// before it: a reader that sees position `n` has seen `n - 1`.
    async fn append_events(&self, entries: &[NewLogEntry]) -> StoreResult<Vec<Position>>;
    /// Another process wrote `position` (the backplane said so): a store
    /// that picks positions by trying the next free one starts after it,
    /// instead of colliding with it first. A hint; nothing else changes.
    fn position_taken(&self, _position: Position) {}
    /// A range of the log, oldest first, filtered to what the reader may see.
    async fn read_events(&self, query: &LogQuery) -> StoreResult<Vec<LogEntry>>;
    /// The oldest kept and the newest event.
    async fn event_log_bounds(&self) -> StoreResult<LogBounds>;
    /// Drops events that happened before `before`, except the newest (which
    /// keeps the head where it is); returns how many were dropped.
    async fn trim_events(&self, before: DateTime<Utc>) -> StoreResult<u64>;
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
