//! The embedded SQLite adapter: one database file in WAL mode.
//!
//! Timestamps are RFC 3339 strings with milliseconds (text order is time
//! order); ids are the 24-hex strings of the domain. Migrations under
//! `migrations/` are compiled in and applied at start-up.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::QueryBuilder;
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};

use super::{
    Credentials, EventScope, IdempotencyClaim, LogBounds, LogEntry, LogQuery, MessageQuery,
    MoveOrder, NewLogEntry, NewRefreshToken, OrderQuery, OrderStats, PlaceOrder, ProductQuery,
    RefreshUse, Store, StoreError, StoreResult,
};
use crate::auth::RefreshTokenHash;
use crate::domain::{
    AccountStatus, Conversation, Cursor, Description, Email, Message, MessageId, MessageText,
    NewOrder, NewUser, Order, OrderId, OrderStatus, Position, Price, Product, ProductId,
    ProductName, ProductPatch, ProductSort, Quantity, Role, SortKey, Stock, User, UserId, UserName,
};

/// The SQLite store. Cheap to clone (pool handles).
///
/// Reads go to a pool of connections; every write goes through one writer
/// connection. SQLite admits one writer at a time anyway: with writes spread
/// over the pool, concurrent writers (a chat message, a batch of delivery
/// marks, a last-active touch) found the file locked and slept in SQLite's
/// busy handler, milliseconds at a time (W1 of BENCHMARKS.md: 1,800 sleeps
/// in 4 s at 500 messages a second). Queued on one connection they wait for
/// each other without sleeping, in arrival order. The writer does not
/// checkpoint the log; a background task does, from a reader connection.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    writer: SqlitePool,
}

/// How much of the database file SQLite may map into memory.
const MMAP_BYTES: u64 = 256 * 1024 * 1024;

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies migrations.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the file cannot be opened or migrated.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating {}", dir.display()))
                .map_err(StoreError::Unavailable)?;
        }
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(|e| StoreError::Internal(e.into()))?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            // Each reader re-reads the pages the writer changed; memory-
            // mapped, those reads are page-cache hits instead of read()
            // copies (the kernel's file-read paths were about 5 % of the
            // server's CPU in BENCHMARKS.md's chat profile). Address space
            // only, not memory.
            .pragma("mmap_size", MMAP_BYTES.to_string());
        // The writer never checkpoints: a checkpoint inside a commit would
        // hold up every write queued behind it. See `spawn_checkpoints`.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options.clone().pragma("wal_autocheckpoint", "0"))
            .await
            .with_context(|| format!("opening SQLite database {}", path.display()))
            .map_err(StoreError::Unavailable)?;
        migrator()
            .run(&writer)
            .await
            .context("applying SQLite migrations")
            .map_err(StoreError::Unavailable)?;
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .with_context(|| format!("opening SQLite database {}", path.display()))
            .map_err(StoreError::Unavailable)?;
        spawn_checkpoints(pool.clone());
        Ok(SqliteStore { pool, writer })
    }
}

/// How often the write-ahead log is copied back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Checkpoints the write-ahead log from a reader connection, in the
/// background. A PASSIVE checkpoint copies what it can without blocking the
/// writer or readers; what it could not copy (pages a reader still sees) is
/// copied by a later one. Stops when the pool is closed.
fn spawn_checkpoints(pool: SqlitePool) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(CHECKPOINT_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !pool.is_closed() {
            every.tick().await;
            if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&pool)
                .await
            {
                tracing::warn!(%error, "SQLite checkpoint failed; the next one retries");
            }
        }
    });
}

/// Driver errors, classified: unique violations are duplicates; pool,
/// I/O and lock timeouts mean the store is unavailable; the rest is a bug.
fn classify(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Duplicate,
        sqlx::Error::Database(db)
            if matches!(db.code().as_deref(), Some("5" | "6" | "10" | "13" | "14")) =>
        {
            // SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN
            StoreError::Unavailable(error.into())
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(error.into())
        }
        _ => StoreError::Internal(error.into()),
    }
}

fn text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn timestamp(raw: &str) -> StoreResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw)
        .map(|at| at.with_timezone(&Utc))
        .with_context(|| format!("stored timestamp {raw:?}"))
        .map_err(StoreError::Internal)
}

fn stored<T, E: std::fmt::Display>(value: Result<T, E>, what: &str) -> StoreResult<T> {
    value.map_err(|e| StoreError::Internal(anyhow::anyhow!("stored {what} is invalid: {e}")))
}

/// A row struct read by column name, as `#[derive(sqlx::FromRow)]` would
/// read it, without sqlx's `macros` feature (Cargo.toml says why).
macro_rules! sqlite_row {
    (struct $name:ident { $($field:ident: $ty:ty),* $(,)? }) => {
        struct $name {
            $($field: $ty),*
        }

        impl<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> for $name {
            fn from_row(row: &'r sqlx::sqlite::SqliteRow) -> Result<Self, sqlx::Error> {
                use sqlx::Row as _;
                Ok($name {
                    $($field: row.try_get(stringify!($field))?),*
                })
            }
        }
    };
}

sqlite_row! {
    struct UserRow {
        id: String,
        name: String,
        email: String,
        role: String,
        created_at: String,
        last_active: Option<String>,
        active: i64,
        password_hash: String,
    }
}

impl UserRow {
    fn into_credentials(self) -> StoreResult<Credentials> {
        let user = User {
            id: stored(UserId::parse(&self.id), "user id")?,
            name: stored(UserName::parse(&self.name), "user name")?,
            email: stored(Email::parse(&self.email), "email")?,
            role: stored(Role::parse(&self.role), "role")?,
            created_at: timestamp(&self.created_at)?,
            last_active: self.last_active.as_deref().map(timestamp).transpose()?,
            active: self.active != 0,
        };
        Ok(Credentials {
            user,
            password_hash: self.password_hash,
        })
    }

    fn into_user(self) -> StoreResult<User> {
        self.into_credentials().map(|credentials| credentials.user)
    }
}

sqlite_row! {
    struct ProductRow {
        id: String,
        name: String,
        price_cents: i64,
        stock: i64,
        description: String,
        created_at: String,
        updated_at: String,
    }
}

impl ProductRow {
    fn into_product(self) -> StoreResult<Product> {
        Ok(Product {
            id: stored(ProductId::parse(&self.id), "product id")?,
            name: stored(ProductName::parse(&self.name), "product name")?,
            price: stored(Price::from_cents(self.price_cents), "price")?,
            stock: stored(Stock::parse(self.stock), "stock")?,
            description: stored(Description::parse(&self.description), "description")?,
            created_at: timestamp(&self.created_at)?,
            updated_at: timestamp(&self.updated_at)?,
        })
    }
}

const PRODUCT_COLUMNS: &str = "id, name, price_cents, stock, description, created_at, updated_at";

sqlite_row! {
    struct OrderRow {
        id: String,
        user_id: String,
        product_id: String,
        quantity: i64,
        unit_price_cents: i64,
        total_cents: i64,
        status: String,
        created_at: String,
        updated_at: String,
    }
}

impl OrderRow {
    fn into_order(self) -> StoreResult<Order> {
        Ok(Order {
            id: stored(OrderId::parse(&self.id), "order id")?,
            user_id: stored(UserId::parse(&self.user_id), "user id")?,
            product_id: stored(ProductId::parse(&self.product_id), "product id")?,
            quantity: stored(Quantity::parse(self.quantity), "quantity")?,
            unit_price: stored(Price::from_cents(self.unit_price_cents), "unit price")?,
            total: stored(Price::from_cents(self.total_cents), "total")?,
            status: stored(OrderStatus::parse(&self.status), "status")?,
            created_at: timestamp(&self.created_at)?,
            updated_at: timestamp(&self.updated_at)?,
        })
    }
}

const ORDER_COLUMNS: &str = "id, user_id, product_id, quantity, unit_price_cents, total_cents, status, created_at, updated_at";

/// The smallest text above every text that starts with `prefix`.
fn prefix_upper_bound(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

fn cursor_mismatch() -> StoreError {
    StoreError::Internal(anyhow::anyhow!(
        "BUG: a cursor whose key does not fit its ordering"
    ))
}

async fn write_terms(
    connection: &mut sqlx::SqliteConnection,
    id: &ProductId,
    name: &ProductName,
) -> Result<(), sqlx::Error> {
    for term in name.search_terms() {
        sqlx::query("INSERT OR IGNORE INTO product_terms (term, product_id) VALUES (?, ?)")
            .bind(term)
            .bind(id.as_str())
            .execute(&mut *connection)
            .await?;
    }
    Ok(())
}

/// `AND (created_at cmp t OR (created_at = t AND id cmp id))`: the keyset
/// condition of every time-ordered list.
fn push_time_keyset(
    sql: &mut QueryBuilder<Sqlite>,
    cursor: &Cursor,
    comparison: &str,
) -> StoreResult<()> {
    let SortKey::Time(at) = &cursor.key else {
        return Err(cursor_mismatch());
    };
    sql.push(format!(" AND (created_at {comparison} "))
        .push_bind(text(*at));
    sql.push(" OR (created_at = ").push_bind(text(*at));
    sql.push(format!(" AND id {comparison} "))
        .push_bind(cursor.id.clone());
    sql.push("))");
    Ok(())
}

fn push_key(sql: &mut QueryBuilder<Sqlite>, sort: ProductSort, key: &SortKey) -> StoreResult<()> {
    match (sort, key) {
        (ProductSort::Newest, SortKey::Time(at)) => sql.push_bind(text(*at)),
        (ProductSort::PriceAsc | ProductSort::PriceDesc, SortKey::Cents(cents)) => {
            sql.push_bind(*cents)
        }
        (ProductSort::NameAsc, SortKey::Text(name)) => sql.push_bind(name.clone()),
        _ => return Err(cursor_mismatch()),
    };
    Ok(())
}

impl SqliteStore {
    /// Sets the given parts of an account's status and raises its session
    /// cut-off, in one statement.
    async fn change_account(
        &self,
        id: &UserId,
        role: Option<Role>,
        active: Option<bool>,
        sessions_valid_from: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "UPDATE users SET role = COALESCE(?, role), active = COALESCE(?, active), \
             sessions_valid_from = MAX(sessions_valid_from, ?) \
             WHERE id = ? RETURNING {USER_COLUMNS}"
        ));
        sqlx::query_as::<_, UserRow>(sql)
            .bind(role.map(Role::as_str))
            .bind(active.map(i64::from))
            .bind(sessions_valid_from.timestamp_millis())
            .bind(id.as_str())
            .fetch_optional(&self.writer)
            .await
            .map_err(classify)?
            .map(UserRow::into_user)
            .transpose()
    }

    async fn order_row(&self, id: &OrderId) -> StoreResult<Option<Order>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = ?"));
        sqlx::query_as::<_, OrderRow>(sql)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?
            .map(OrderRow::into_order)
            .transpose()
    }
}

sqlite_row! {
    struct MessageRow {
        id: String,
        from_id: String,
        to_id: String,
        text: String,
        seen_at: Option<String>,
        delivered: i64,
        created_at: String,
    }
}

impl MessageRow {
    fn into_message(self) -> StoreResult<Message> {
        Ok(Message {
            id: stored(MessageId::parse(&self.id), "message id")?,
            from: stored(UserId::parse(&self.from_id), "sender id")?,
            to: stored(UserId::parse(&self.to_id), "recipient id")?,
            text: stored(MessageText::parse(&self.text), "message text")?,
            seen_at: self.seen_at.as_deref().map(timestamp).transpose()?,
            delivered: self.delivered != 0,
            created_at: timestamp(&self.created_at)?,
        })
    }
}

const MESSAGE_COLUMNS: &str = "id, from_id, to_id, text, seen_at, delivered, created_at";

const USER_COLUMNS: &str = "id, name, email, role, created_at, last_active, active, password_hash";

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn insert_user(&self, user: &NewUser) -> StoreResult<User> {
        sqlx::query(
            "INSERT INTO users (id, name, email, password_hash, role, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(user.id.as_str())
        .bind(user.name.as_str())
        .bind(user.email.as_str())
        .bind(&user.password_hash)
        .bind(user.role.as_str())
        .bind(text(user.created_at))
        .execute(&self.writer)
        .await
        .map_err(classify)?;
        Ok(User {
            id: user.id.clone(),
            name: user.name.clone(),
            email: user.email.clone(),
            role: user.role,
            created_at: user.created_at,
            last_active: None,
            active: true,
        })
    }

    async fn user_by_id(&self, id: &UserId) -> StoreResult<Option<User>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"));
        sqlx::query_as::<_, UserRow>(sql)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?
            .map(UserRow::into_user)
            .transpose()
    }

    async fn users_by_ids(&self, ids: &[UserId]) -> StoreResult<Vec<User>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders = vec!["?"; ids.len()].join(", ");
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users WHERE id IN ({placeholders})"
        ));
        let mut query = sqlx::query_as::<_, UserRow>(sql);
        for id in ids {
            query = query.bind(id.as_str());
        }
        query
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?
            .into_iter()
            .map(UserRow::into_user)
            .collect()
    }

    async fn credentials_by_email(&self, email: &Email) -> StoreResult<Option<Credentials>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE email = ?"));
        sqlx::query_as::<_, UserRow>(sql)
            .bind(email.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?
            .map(UserRow::into_credentials)
            .transpose()
    }

    async fn set_user_role(
        &self,
        id: &UserId,
        role: Role,
        sessions_valid_from: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        self.change_account(id, Some(role), None, sessions_valid_from)
            .await
    }

    async fn set_user_active(
        &self,
        id: &UserId,
        active: bool,
        sessions_valid_from: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        self.change_account(id, None, Some(active), sessions_valid_from)
            .await
    }

    async fn end_user_sessions(&self, id: &UserId, from: DateTime<Utc>) -> StoreResult<bool> {
        let result = sqlx::query(
            "UPDATE users SET sessions_valid_from = MAX(sessions_valid_from, ?) WHERE id = ?",
        )
        .bind(from.timestamp_millis())
        .bind(id.as_str())
        .execute(&self.writer)
        .await
        .map_err(classify)?;
        Ok(result.rows_affected() > 0)
    }

    async fn account_status(&self, id: &UserId) -> StoreResult<Option<AccountStatus>> {
        let row: Option<(String, i64, i64)> =
            sqlx::query_as("SELECT role, active, sessions_valid_from FROM users WHERE id = ?")
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(classify)?;
        row.map(|(role, active, valid_from)| {
            Ok(AccountStatus {
                role: stored(Role::parse(&role), "role")?,
                active: active != 0,
                sessions_valid_from: stored(
                    DateTime::from_timestamp_millis(valid_from).ok_or("out of range"),
                    "session cut-off",
                )?,
            })
        })
        .transpose()
    }

    async fn count_users(&self) -> StoreResult<u64> {
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await
            .map_err(classify)?;
        Ok(count.max(0) as u64)
    }

    async fn touch_last_active(&self, id: &UserId, at: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE users SET last_active = ?1 WHERE id = ?2 AND (last_active IS NULL OR last_active < ?1)")
            .bind(text(at))
            .bind(id.as_str())
            .execute(&self.writer)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn list_users(&self, after: Option<&Cursor>, limit: usize) -> StoreResult<Vec<User>> {
        let mut sql =
            QueryBuilder::<Sqlite>::new(format!("SELECT {USER_COLUMNS} FROM users WHERE 1 = 1"));
        if let Some(cursor) = after {
            push_time_keyset(&mut sql, cursor, ">")?;
        }
        sql.push(" ORDER BY created_at ASC, id ASC LIMIT ")
            .push_bind(limit as i64);
        sql.build_query_as::<UserRow>()
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?
            .into_iter()
            .map(UserRow::into_user)
            .collect()
    }

    async fn insert_message(&self, message: &Message) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO messages (id, from_id, to_id, text, seen_at, delivered, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(message.id.as_str())
        .bind(message.from.as_str())
        .bind(message.to.as_str())
        .bind(message.text.as_str())
        .bind(message.seen_at.map(text))
        .bind(i64::from(message.delivered))
        .bind(text(message.created_at))
        .execute(&self.writer)
        .await
        .map_err(classify)?;
        Ok(())
    }

    async fn message_page(&self, query: &MessageQuery) -> StoreResult<Vec<Message>> {
        let mut sql =
            QueryBuilder::<Sqlite>::new(format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE "));
        let me = query.participant.as_str().to_owned();
        match &query.peer {
            Some(peer) => {
                let peer = peer.as_str().to_owned();
                sql.push("((from_id = ")
                    .push_bind(me.clone())
                    .push(" AND to_id = ")
                    .push_bind(peer.clone());
                sql.push(") OR (from_id = ")
                    .push_bind(peer)
                    .push(" AND to_id = ")
                    .push_bind(me)
                    .push("))");
            }
            None => {
                sql.push("(from_id = ")
                    .push_bind(me.clone())
                    .push(" OR to_id = ")
                    .push_bind(me)
                    .push(")");
            }
        }
        if let Some(cursor) = &query.before {
            push_time_keyset(&mut sql, cursor, "<")?;
        }
        sql.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(query.limit as i64);
        sql.build_query_as::<MessageRow>()
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?
            .into_iter()
            .map(MessageRow::into_message)
            .collect()
    }

    async fn mark_seen(
        &self,
        reader: &UserId,
        peer: &UserId,
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<MessageId>> {
        let ids: Vec<(String,)> = sqlx::query_as(
            "UPDATE messages SET seen_at = ?1 WHERE to_id = ?2 AND from_id = ?3 AND seen_at IS NULL RETURNING id",
        )
        .bind(text(at))
        .bind(reader.as_str())
        .bind(peer.as_str())
        .fetch_all(&self.writer)
        .await
        .map_err(classify)?;
        let mut ids = ids
            .into_iter()
            .map(|(id,)| stored(MessageId::parse(&id), "message id"))
            .collect::<StoreResult<Vec<_>>>()?;
        ids.sort();
        Ok(ids)
    }

    async fn undelivered_messages(&self, to: &UserId, limit: usize) -> StoreResult<Vec<Message>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE to_id = ? AND delivered = 0 \
             ORDER BY created_at ASC, id ASC LIMIT ?"
        ));
        sqlx::query_as::<_, MessageRow>(sql)
            .bind(to.as_str())
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?
            .into_iter()
            .map(MessageRow::into_message)
            .collect()
    }

    async fn message_by_id(&self, id: &MessageId) -> StoreResult<Option<Message>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?"
        ));
        sqlx::query_as::<_, MessageRow>(sql)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?
            .map(MessageRow::into_message)
            .transpose()
    }

    async fn mark_delivered(&self, ids: &[MessageId]) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut sql = QueryBuilder::<Sqlite>::new(
            "UPDATE messages SET delivered = 1 WHERE delivered = 0 AND id IN (",
        );
        let mut list = sql.separated(", ");
        for id in ids {
            list.push_bind(id.as_str().to_owned());
        }
        sql.push(")");
        sql.build().execute(&self.writer).await.map_err(classify)?;
        Ok(())
    }

    async fn conversations(&self, user: &UserId, limit: usize) -> StoreResult<Vec<Conversation>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "WITH mine AS ( \
                 SELECT {MESSAGE_COLUMNS}, CASE WHEN from_id = ?1 THEN to_id ELSE from_id END AS peer \
                 FROM messages WHERE from_id = ?1 OR to_id = ?1 \
             ), ranked AS ( \
                 SELECT *, \
                     ROW_NUMBER() OVER (PARTITION BY peer ORDER BY created_at DESC, id DESC) AS position, \
                     SUM(CASE WHEN to_id = ?1 AND seen_at IS NULL THEN 1 ELSE 0 END) OVER (PARTITION BY peer) AS unread \
                 FROM mine \
             ) \
             SELECT {MESSAGE_COLUMNS}, peer, unread FROM ranked WHERE position = 1 \
             ORDER BY created_at DESC, id DESC LIMIT ?2"
        ));
        let rows: Vec<(MessageRow, String, i64)> = sqlx::query(sql)
            .bind(user.as_str())
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?
            .into_iter()
            .map(|row| {
                use sqlx::{FromRow as _, Row as _};
                let message = MessageRow::from_row(&row)?;
                Ok((message, row.try_get("peer")?, row.try_get("unread")?))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(classify)?;
        rows.into_iter()
            .map(|(message, peer, unread)| {
                Ok(Conversation {
                    peer: stored(UserId::parse(&peer), "peer id")?,
                    last_message: message.into_message()?,
                    unread: unread.max(0) as u64,
                })
            })
            .collect()
    }

    async fn conversation_peers(&self, user: &UserId) -> StoreResult<Vec<UserId>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT to_id FROM messages WHERE from_id = ?1 UNION SELECT from_id FROM messages WHERE to_id = ?1",
        )
        .bind(user.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows.into_iter()
            .map(|(id,)| stored(UserId::parse(&id), "peer id"))
            .collect()
    }

    async fn insert_product(&self, product: &Product) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.map_err(classify)?;
        sqlx::query(
            "INSERT INTO products (id, name, name_key, price_cents, stock, description, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(product.id.as_str())
        .bind(product.name.as_str())
        .bind(product.name.sort_key())
        .bind(product.price.cents())
        .bind(product.stock.units())
        .bind(product.description.as_str())
        .bind(text(product.created_at))
        .bind(text(product.updated_at))
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
        write_terms(&mut tx, &product.id, &product.name)
            .await
            .map_err(classify)?;
        tx.commit().await.map_err(classify)
    }

    async fn update_product(
        &self,
        id: &ProductId,
        patch: &ProductPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Product>> {
        let mut tx = self.writer.begin().await.map_err(classify)?;
        let sql = sqlx::AssertSqlSafe(format!(
            "UPDATE products SET name = COALESCE(?1, name), name_key = COALESCE(?2, name_key), \
             price_cents = COALESCE(?3, price_cents), stock = COALESCE(?4, stock), \
             description = COALESCE(?5, description), updated_at = ?6 \
             WHERE id = ?7 RETURNING {PRODUCT_COLUMNS}"
        ));
        let row = sqlx::query_as::<_, ProductRow>(sql)
            .bind(patch.name.as_ref().map(ProductName::as_str))
            .bind(patch.name.as_ref().map(ProductName::sort_key))
            .bind(patch.price.map(Price::cents))
            .bind(patch.stock.map(Stock::units))
            .bind(patch.description.as_ref().map(Description::as_str))
            .bind(text(now))
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(classify)?;
        let Some(row) = row else {
            return Ok(None);
        };
        if let Some(name) = &patch.name {
            sqlx::query("DELETE FROM product_terms WHERE product_id = ?")
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
            write_terms(&mut tx, id, name).await.map_err(classify)?;
        }
        tx.commit().await.map_err(classify)?;
        row.into_product().map(Some)
    }

    async fn delete_product(&self, id: &ProductId) -> StoreResult<bool> {
        let result = sqlx::query("DELETE FROM products WHERE id = ?")
            .bind(id.as_str())
            .execute(&self.writer)
            .await
            .map_err(classify)?;
        Ok(result.rows_affected() > 0)
    }

    async fn product_by_id(&self, id: &ProductId) -> StoreResult<Option<Product>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {PRODUCT_COLUMNS} FROM products WHERE id = ?"
        ));
        sqlx::query_as::<_, ProductRow>(sql)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?
            .map(ProductRow::into_product)
            .transpose()
    }

    async fn products_by_ids(&self, ids: &[ProductId]) -> StoreResult<Vec<Product>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {PRODUCT_COLUMNS} FROM products WHERE id IN ("
        ));
        let mut list = sql.separated(", ");
        for id in ids {
            list.push_bind(id.as_str().to_owned());
        }
        sql.push(")");
        sql.build_query_as::<ProductRow>()
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?
            .into_iter()
            .map(ProductRow::into_product)
            .collect()
    }

    async fn list_products(&self, query: &ProductQuery) -> StoreResult<Vec<Product>> {
        let mut sql = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {PRODUCT_COLUMNS} FROM products WHERE 1 = 1"
        ));
        if let Some(search) = &query.search {
            for prefix in search.prefixes() {
                sql.push(" AND id IN (SELECT product_id FROM product_terms WHERE term >= ");
                sql.push_bind(prefix.clone());
                sql.push(" AND term < ");
                sql.push_bind(prefix_upper_bound(prefix));
                sql.push(")");
            }
        }
        if let Some(min) = query.min_price {
            sql.push(" AND price_cents >= ").push_bind(min.cents());
        }
        if let Some(max) = query.max_price {
            sql.push(" AND price_cents <= ").push_bind(max.cents());
        }
        if let Some(cursor) = &query.after {
            let (column, comparison) = match query.sort {
                ProductSort::Newest => ("created_at", "<"),
                ProductSort::PriceAsc => ("price_cents", ">"),
                ProductSort::PriceDesc => ("price_cents", "<"),
                ProductSort::NameAsc => ("name_key", ">"),
            };
            sql.push(format!(" AND ({column} {comparison} "));
            push_key(&mut sql, query.sort, &cursor.key)?;
            sql.push(format!(" OR ({column} = "));
            push_key(&mut sql, query.sort, &cursor.key)?;
            sql.push(format!(" AND id {comparison} "));
            sql.push_bind(cursor.id.clone());
            sql.push("))");
        }
        sql.push(match query.sort {
            ProductSort::Newest => " ORDER BY created_at DESC, id DESC",
            ProductSort::PriceAsc => " ORDER BY price_cents ASC, id ASC",
            ProductSort::PriceDesc => " ORDER BY price_cents DESC, id DESC",
            ProductSort::NameAsc => " ORDER BY name_key ASC, id ASC",
        });
        sql.push(" LIMIT ").push_bind(query.limit as i64);
        sql.build_query_as::<ProductRow>()
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?
            .into_iter()
            .map(ProductRow::into_product)
            .collect()
    }

    async fn count_products(&self) -> StoreResult<u64> {
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM products")
            .fetch_one(&self.pool)
            .await
            .map_err(classify)?;
        Ok(count.max(0) as u64)
    }

    async fn low_stock_products(&self, below: Stock, limit: usize) -> StoreResult<Vec<Product>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {PRODUCT_COLUMNS} FROM products WHERE stock < ? ORDER BY stock ASC, id ASC LIMIT ?"
        ));
        sqlx::query_as::<_, ProductRow>(sql)
            .bind(below.units())
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?
            .into_iter()
            .map(ProductRow::into_product)
            .collect()
    }

    async fn place_order(&self, order: &NewOrder) -> StoreResult<PlaceOrder> {
        // IMMEDIATE: the transaction takes the write lock up front, so a
        // writer in another process makes it wait (busy timeout) rather
        // than fail halfway; in this process orders queue on the writer.
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(classify)?;
        let taken: Option<(i64,)> = sqlx::query_as(
            "UPDATE products SET stock = stock - ?1, updated_at = ?2 \
             WHERE id = ?3 AND stock >= ?1 RETURNING price_cents",
        )
        .bind(order.quantity.units())
        .bind(text(order.created_at))
        .bind(order.product_id.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(classify)?;
        let Some((unit_price_cents,)) = taken else {
            let exists: Option<(i64,)> = sqlx::query_as("SELECT 1 FROM products WHERE id = ?")
                .bind(order.product_id.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(classify)?;
            tx.rollback().await.map_err(classify)?;
            return Ok(if exists.is_some() {
                PlaceOrder::OutOfStock
            } else {
                PlaceOrder::UnknownProduct
            });
        };
        let unit_price = stored(Price::from_cents(unit_price_cents), "price")?;
        let total_cents = unit_price_cents
            .checked_mul(order.quantity.units())
            .ok_or_else(|| StoreError::Internal(anyhow::anyhow!("order total overflows")))?;
        let total = stored(Price::from_cents(total_cents), "order total")?;
        sqlx::query(
            "INSERT INTO orders (id, user_id, product_id, quantity, unit_price_cents, total_cents, status, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(order.id.as_str())
        .bind(order.user_id.as_str())
        .bind(order.product_id.as_str())
        .bind(order.quantity.units())
        .bind(unit_price_cents)
        .bind(total_cents)
        .bind(OrderStatus::Pending.as_str())
        .bind(text(order.created_at))
        .bind(text(order.created_at))
        .execute(&mut *tx)
        .await
        .map_err(classify)?;
        tx.commit().await.map_err(classify)?;
        Ok(PlaceOrder::Placed(Order {
            id: order.id.clone(),
            user_id: order.user_id.clone(),
            product_id: order.product_id.clone(),
            quantity: order.quantity,
            unit_price,
            total,
            status: OrderStatus::Pending,
            created_at: order.created_at,
            updated_at: order.created_at,
        }))
    }

    async fn move_order(
        &self,
        id: &OrderId,
        from: &[OrderStatus],
        to: OrderStatus,
        now: DateTime<Utc>,
    ) -> StoreResult<MoveOrder> {
        if !from.is_empty() {
            let mut sql = QueryBuilder::<Sqlite>::new("UPDATE orders SET status = ");
            sql.push_bind(to.as_str());
            sql.push(", updated_at = ").push_bind(text(now));
            sql.push(" WHERE id = ").push_bind(id.as_str().to_owned());
            sql.push(" AND status IN (");
            let mut list = sql.separated(", ");
            for status in from {
                list.push_bind(status.as_str());
            }
            sql.push(format!(") RETURNING {ORDER_COLUMNS}"));
            let moved = sql
                .build_query_as::<OrderRow>()
                .fetch_optional(&self.writer)
                .await
                .map_err(classify)?;
            if let Some(row) = moved {
                return row.into_order().map(MoveOrder::Moved);
            }
        }
        Ok(match self.order_row(id).await? {
            Some(order) => MoveOrder::NotAllowed(order),
            None => MoveOrder::UnknownOrder,
        })
    }

    async fn order_by_id(&self, id: &OrderId) -> StoreResult<Option<Order>> {
        self.order_row(id).await
    }

    async fn list_orders(&self, query: &OrderQuery) -> StoreResult<Vec<Order>> {
        let mut sql =
            QueryBuilder::<Sqlite>::new(format!("SELECT {ORDER_COLUMNS} FROM orders WHERE 1 = 1"));
        if let Some(status) = query.status {
            sql.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(user_id) = &query.user_id {
            sql.push(" AND user_id = ")
                .push_bind(user_id.as_str().to_owned());
        }
        if let Some(cursor) = &query.after {
            push_time_keyset(&mut sql, cursor, "<")?;
        }
        sql.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(query.limit as i64);
        sql.build_query_as::<OrderRow>()
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?
            .into_iter()
            .map(OrderRow::into_order)
            .collect()
    }

    async fn order_stats(&self, since: DateTime<Utc>) -> StoreResult<OrderStats> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT status, COUNT(*), COALESCE(SUM(total_cents), 0) FROM orders GROUP BY status",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        let (recent,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM orders WHERE created_at >= ?")
            .bind(text(since))
            .fetch_one(&self.pool)
            .await
            .map_err(classify)?;
        let mut stats = OrderStats {
            by_status: OrderStatus::ALL.iter().map(|status| (*status, 0)).collect(),
            revenue_cents: 0,
            placed_since: recent.max(0) as u64,
        };
        for (status, count, revenue) in rows {
            let status = stored(OrderStatus::parse(&status), "status")?;
            if let Some(entry) = stats.by_status.iter_mut().find(|(s, _)| *s == status) {
                entry.1 = count.max(0) as u64;
            }
            stats.revenue_cents += revenue;
        }
        Ok(stats)
    }

    async fn insert_refresh_token(&self, token: &NewRefreshToken) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, user_id, family, issued_at, expires_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(token.hash.as_str())
        .bind(token.user_id.as_str())
        .bind(&token.family)
        .bind(text(token.issued_at))
        .bind(text(token.expires_at))
        .execute(&self.writer)
        .await
        .map_err(classify)?;
        Ok(())
    }

    async fn use_refresh_token(
        &self,
        hash: &RefreshTokenHash,
        now: DateTime<Utc>,
    ) -> StoreResult<RefreshUse> {
        let now = text(now);
        let fresh: Option<(String, String)> = sqlx::query_as(
            "UPDATE refresh_tokens SET used_at = ?1 \
             WHERE token_hash = ?2 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?1 \
             RETURNING user_id, family",
        )
        .bind(&now)
        .bind(hash.as_str())
        .fetch_optional(&self.writer)
        .await
        .map_err(classify)?;
        if let Some((user_id, family)) = fresh {
            return Ok(RefreshUse::Fresh {
                user_id: stored(UserId::parse(&user_id), "user id")?,
                family,
            });
        }
        let reused: Option<(String, String)> = sqlx::query_as(
            "SELECT user_id, family FROM refresh_tokens \
             WHERE token_hash = ? AND used_at IS NOT NULL AND revoked_at IS NULL",
        )
        .bind(hash.as_str())
        .fetch_optional(&self.writer)
        .await
        .map_err(classify)?;
        match reused {
            Some((user_id, family)) => Ok(RefreshUse::Reused {
                user_id: stored(UserId::parse(&user_id), "user id")?,
                family,
            }),
            None => Ok(RefreshUse::Invalid),
        }
    }

    async fn revoke_refresh_family(&self, family: &str, now: DateTime<Utc>) -> StoreResult<u64> {
        let result = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = ? WHERE family = ? AND revoked_at IS NULL",
        )
        .bind(text(now))
        .bind(family)
        .execute(&self.writer)
        .await
        .map_err(classify)?;
        Ok(result.rows_affected())
    }

    async fn claim_idempotency_key(
        &self,
        claim: &IdempotencyClaim,
        expired_before: DateTime<Utc>,
    ) -> StoreResult<IdempotencyClaim> {
        // On the writer: the insert and the read of an earlier claim see
        // the same state, and claims queue behind each other.
        let inserted: Option<(String,)> = sqlx::query_as(
            "INSERT INTO idempotency_keys (user_id, key, fingerprint, result_id, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (user_id, key) DO UPDATE SET fingerprint = excluded.fingerprint, \
               result_id = excluded.result_id, created_at = excluded.created_at \
             WHERE idempotency_keys.created_at < ?6 \
             RETURNING result_id",
        )
        .bind(claim.user_id.as_str())
        .bind(&claim.key)
        .bind(&claim.fingerprint)
        .bind(&claim.result_id)
        .bind(text(claim.created_at))
        .bind(text(expired_before))
        .fetch_optional(&self.writer)
        .await
        .map_err(classify)?;
        if inserted.is_some() {
            return Ok(claim.clone());
        }
        let (fingerprint, result_id, created_at): (String, String, String) = sqlx::query_as(
            "SELECT fingerprint, result_id, created_at FROM idempotency_keys \
             WHERE user_id = ? AND key = ?",
        )
        .bind(claim.user_id.as_str())
        .bind(&claim.key)
        .fetch_one(&self.writer)
        .await
        .map_err(classify)?;
        Ok(IdempotencyClaim {
            user_id: claim.user_id.clone(),
            key: claim.key.clone(),
            fingerprint,
            result_id,
            created_at: timestamp(&created_at)?,
        })
    }

    async fn forget_idempotency_keys(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let result = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < ?")
            .bind(text(before))
            .execute(&self.writer)
            .await
            .map_err(classify)?;
        Ok(result.rows_affected())
    }

    async fn revoke_user_refresh_tokens(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let result = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
        )
        .bind(text(now))
        .bind(user.as_str())
        .execute(&self.writer)
        .await
        .map_err(classify)?;
        Ok(result.rows_affected())
    }

    async fn refresh_token_owner(
        &self,
        hash: &RefreshTokenHash,
    ) -> StoreResult<Option<(UserId, String)>> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT user_id, family FROM refresh_tokens WHERE token_hash = ?")
                .bind(hash.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(classify)?;
        row.map(|(user_id, family)| Ok((stored(UserId::parse(&user_id), "user id")?, family)))
            .transpose()
    }

    async fn append_events(&self, entries: &[NewLogEntry]) -> StoreResult<Vec<Position>> {
        // One transaction on the one writer: positions are handed out in
        // commit order, so a reader never sees `n` before `n - 1`.
        let mut transaction = self.writer.begin().await.map_err(classify)?;
        let mut positions = Vec::with_capacity(entries.len());
        for entry in entries {
            let users = serde_json::to_string(
                &entry
                    .scope
                    .users
                    .iter()
                    .map(UserId::as_str)
                    .collect::<Vec<_>>(),
            )
            .map_err(|e| StoreError::Internal(e.into()))?;
            let (position,): (i64,) = sqlx::query_as(
                "INSERT INTO events (at, kind, everyone, admins, users, payload) \
                 VALUES (?, ?, ?, ?, ?, ?) RETURNING position",
            )
            .bind(text(entry.at))
            .bind(&entry.kind)
            .bind(entry.scope.everyone)
            .bind(entry.scope.admins)
            .bind(users)
            .bind(&entry.payload)
            .fetch_one(&mut *transaction)
            .await
            .map_err(classify)?;
            positions.push(Position::new(stored(u64::try_from(position), "position")?));
        }
        transaction.commit().await.map_err(classify)?;
        Ok(positions)
    }

    async fn read_events(&self, query: &LogQuery) -> StoreResult<Vec<LogEntry>> {
        let (reader, admin) = match &query.reader {
            Some(reader) => (Some(reader.user.as_str()), reader.admin),
            None => (None, true),
        };
        let rows: Vec<EventRow> = sqlx::query_as(
            "SELECT position, at, kind, everyone, admins, users, payload FROM events \
             WHERE position > ?1 AND position <= ?2 \
               AND (?3 IS NULL OR everyone = 1 OR (admins = 1 AND ?4) \
                    OR EXISTS (SELECT 1 FROM json_each(events.users) WHERE value = ?3)) \
             ORDER BY position LIMIT ?5",
        )
        .bind(position_number(query.after))
        .bind(position_number(query.up_to))
        .bind(reader)
        .bind(admin)
        .bind(i64::try_from(query.limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows.into_iter().map(EventRow::into_entry).collect()
    }

    async fn event_log_bounds(&self) -> StoreResult<LogBounds> {
        let (first, head): (Option<i64>, Option<i64>) =
            sqlx::query_as("SELECT MIN(position), MAX(position) FROM events")
                .fetch_one(&self.pool)
                .await
                .map_err(classify)?;
        let position = |value: i64| stored(u64::try_from(value), "position").map(Position::new);
        Ok(LogBounds {
            first: first.map(position).transpose()?,
            head: head.map(position).transpose()?.unwrap_or(Position::START),
        })
    }

    async fn trim_events(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let result = sqlx::query(
            "DELETE FROM events WHERE at < ? AND position < (SELECT MAX(position) FROM events)",
        )
        .bind(text(before))
        .execute(&self.writer)
        .await
        .map_err(classify)?;
        Ok(result.rows_affected())
    }
}

/// A position as SQLite stores it (an `INTEGER` is signed).
fn position_number(position: Position) -> i64 {
    i64::try_from(position.value()).unwrap_or(i64::MAX)
}

sqlite_row! {
    struct EventRow {
        position: i64,
        at: String,
        kind: String,
        everyone: bool,
        admins: bool,
        users: String,
        payload: String,
    }
}

impl EventRow {
    fn into_entry(self) -> StoreResult<LogEntry> {
        let users: Vec<String> = stored(serde_json::from_str(&self.users), "event audience")?;
        Ok(LogEntry {
            position: Position::new(stored(u64::try_from(self.position), "position")?),
            entry: NewLogEntry {
                at: timestamp(&self.at)?,
                kind: self.kind,
                scope: EventScope {
                    everyone: self.everyone,
                    admins: self.admins,
                    users: users
                        .iter()
                        .map(|id| stored(UserId::parse(id), "user id"))
                        .collect::<StoreResult<_>>()?,
                },
                payload: self.payload,
            },
        })
    }
}

/// The migrations under `migrations/`, compiled in.
///
/// Listed here rather than read by `sqlx::migrate!`: that macro needs sqlx's
/// `macros` feature, which builds sqlx and SQLite a second time for the
/// compiler (about a fifth of a first build on two cores). Versions,
/// descriptions and checksums are what the macro gives, so databases it
/// migrated carry on; a test checks that every file is listed.
fn migrator() -> sqlx::migrate::Migrator {
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    macro_rules! embedded {
        ($($version:literal $file:literal),* $(,)?) => {
            vec![$(Migration::new(
                $version,
                migration_description($file).into(),
                MigrationType::Simple,
                sqlx::SqlStr::from_static(include_str!(concat!("../../../migrations/", $file))),
                false,
            )),*]
        };
    }
    Migrator::with_migrations(embedded![
        1 "0001_accounts.sql",
        2 "0002_catalog_and_orders.sql",
        3 "0003_chat.sql",
        4 "0004_account_status.sql",
        5 "0005_idempotency_keys.sql",
        6 "0006_event_log.sql",
    ])
}

/// `0002_catalog_and_orders.sql` is described as `catalog and orders`, as
/// sqlx describes a migration file.
fn migration_description(file: &str) -> String {
    let name = file.split_once('_').map_or(file, |(_, name)| name);
    name.trim_end_matches(".sql").replace('_', " ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_migration_file_is_compiled_in_with_its_version() {
        let directory = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        let mut files: Vec<String> = std::fs::read_dir(directory)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".sql"))
            .collect();
        files.sort();
        let migrator = migrator();
        let listed: Vec<(i64, String)> = migrator
            .iter()
            .map(|migration| (migration.version, migration.description.to_string()))
            .collect();
        let on_disk: Vec<(i64, String)> = files
            .iter()
            .map(|file| {
                let version = file.split_once('_').unwrap().0.parse().unwrap();
                (version, migration_description(file))
            })
            .collect();
        assert_eq!(listed, on_disk, "migrations/ and `migrator()` differ");
        for (migration, file) in migrator.iter().zip(&files) {
            let sql = std::fs::read_to_string(format!("{directory}/{file}")).unwrap();
            assert_eq!(migration.sql.as_str(), sql, "{file}");
            assert!(
                !sql.starts_with("-- no-transaction"),
                "{file}: not supported here"
            );
        }
    }

    use super::*;
    use crate::store::contract;

    async fn fresh_store() -> (SqliteStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("test.sqlite3"))
            .await
            .unwrap();
        (store, dir)
    }

    macro_rules! contract_tests {
        ($($name:ident),* $(,)?) => {$(
            #[tokio::test]
            async fn $name() {
                let (store, _dir) = fresh_store().await;
                contract::$name(&store).await;
            }
        )*};
    }

    contract::for_each_contract_test!(contract_tests);

    #[tokio::test]
    async fn the_database_runs_in_wal_mode() {
        let (store, _dir) = fresh_store().await;
        let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[tokio::test]
    async fn the_writer_leaves_checkpoints_to_the_background_task() {
        let (store, _dir) = fresh_store().await;
        let (writer,): (i64,) = sqlx::query_as("PRAGMA wal_autocheckpoint")
            .fetch_one(&store.writer)
            .await
            .unwrap();
        assert_eq!(writer, 0);
        let (reader,): (i64,) = sqlx::query_as("PRAGMA wal_autocheckpoint")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert!(reader > 0, "readers keep SQLite's default");
    }

    #[tokio::test]
    async fn reopening_keeps_the_data_and_reapplies_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.sqlite3");
        let user = contract::new_user("keep@example.com");
        SqliteStore::open(&path)
            .await
            .unwrap()
            .insert_user(&user)
            .await
            .unwrap();
        let reopened = SqliteStore::open(&path).await.unwrap();
        assert!(reopened.user_by_id(&user.id).await.unwrap().is_some());
    }
}
