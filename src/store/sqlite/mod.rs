//! The embedded SQLite adapter: one database file in WAL mode.
//!
//! Timestamps are RFC 3339 strings with milliseconds (text order is time
//! order); ids are the 24-hex strings of the domain. Migrations under
//! `migrations/` are compiled in and applied at start-up.
//!
//! This file holds what every aggregate shares: the pools, opening and
//! migrating, the background checkpoints, error classification, the row and
//! timestamp helpers, and the contract tests. Each aggregate's trait impl,
//! rows and SQL are in its own file (`users.rs`, `products.rs`, `orders.rs`,
//! `messages.rs`, `tokens.rs`, `idempotency.rs`, `event_log.rs`).

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::QueryBuilder;
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};

use super::{Store, StoreError, StoreResult};
use crate::domain::{Cursor, SortKey};

/// The SQLite store. Cheap to clone (handles).
///
/// Reads go to a pool of connections; every write goes to the one writer
/// thread ([`writer`]), which commits the writes that queued meanwhile
/// together. SQLite admits one writer at a time anyway: with writes spread
/// over the pool, concurrent writers (a chat message, a batch of delivery
/// marks, a last-active touch) found the file locked and slept in SQLite's
/// busy handler, milliseconds at a time (W1 of BENCHMARKS.md: 1,800 sleeps
/// in 4 s at 500 messages a second). The writer does not checkpoint the
/// log; a background task does, from a reader connection.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    writer: Writer,
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
        // Migrations run on a connection of their own (sqlx's migrator),
        // closed before the writer thread opens the file.
        let migrating = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options.clone())
            .await
            .with_context(|| format!("opening SQLite database {}", path.display()))
            .map_err(StoreError::Unavailable)?;
        migrator()
            .run(&migrating)
            .await
            .context("applying SQLite migrations")
            .map_err(StoreError::Unavailable)?;
        migrating.close().await;
        let writer = match Writer::running(path) {
            Some(writer) => writer,
            None => {
                let journal = open_journal(path).await?.map(Arc::new);
                Writer::start(path, MMAP_BYTES, journal)?
            }
        };
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

/// How long opening waits for the chat journal's lock before it goes on
/// without it: a store dropped just before (a test reopening its file, a
/// restart in-process) lets go of it when its writer thread ends.
const JOURNAL_LOCK_WAIT: Duration = Duration::from_secs(2);

/// Opens the chat journal of the store at `path`, copies what it holds
/// into SQLite (what a killed process journaled), and empties it. `None`
/// when another process owns the store (see `journal.rs`).
async fn open_journal(path: &Path) -> StoreResult<Option<Journal>> {
    let waited_since = std::time::Instant::now();
    let files = loop {
        if let Some(files) = journal::open_files(path)? {
            break files;
        }
        if waited_since.elapsed() >= JOURNAL_LOCK_WAIT {
            tracing::warn!(
                path = %path.display(),
                "another process owns this SQLite store: this one writes no chat messages \
                 and no events (the embedded store belongs to one process)"
            );
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || recover(&path, files))
        .await
        .map_err(|error| StoreError::Internal(error.into()))?
        .map(Some)
}

/// Replays the journal's files into the database and empties them.
fn recover(path: &Path, files: [std::fs::File; 2]) -> StoreResult<Journal> {
    let fail = |error: rusqlite::Error| {
        StoreError::Unavailable(
            anyhow::Error::new(error).context("replaying the chat journal into SQLite"),
        )
    };
    let connection = rusqlite::Connection::open(path).map_err(fail)?;
    connection
        .busy_timeout(Duration::from_secs(5))
        .map_err(fail)?;
    let mut records = Vec::new();
    for file in &files {
        records.extend(journal::read_records(file)?);
    }
    if !records.is_empty() {
        connection.execute_batch("BEGIN IMMEDIATE").map_err(fail)?;
        for record in &records {
            match record.apply(&connection) {
                Ok(()) => {}
                Err(StoreError::Unavailable(error)) => return Err(StoreError::Unavailable(error)),
                // A record SQLite refuses (a bug) must not keep the store
                // from opening.
                Err(error) => {
                    tracing::error!(%error, "a journaled chat message could not be replayed");
                }
            }
        }
        connection.execute_batch("COMMIT").map_err(fail)?;
        tracing::info!(
            messages = records.len(),
            "chat messages journaled before the last stop are in the database"
        );
    }
    for file in &files {
        file.set_len(0).map_err(|error| {
            StoreError::Unavailable(anyhow::Error::new(error).context("emptying the chat journal"))
        })?;
    }
    let (head, newest): (Option<i64>, Option<String>) = connection
        .query_row(
            "SELECT (SELECT MAX(position) FROM events), (SELECT MAX(id) FROM messages)",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .map_err(fail)?;
    let head = head.and_then(|head| u64::try_from(head).ok()).unwrap_or(0);
    Ok(Journal::new(files, head, newest.unwrap_or_default()))
}

/// What a process that does not own the store gets for a write only the
/// owner may make (a log entry: its positions are the owner's).
fn not_the_owner() -> StoreError {
    StoreError::Unavailable(anyhow::anyhow!(
        "another process owns this SQLite store's event log"
    ))
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

/// Driver errors (the readers' side; [`statements::classify`] is the writer's),
/// classified: unique violations are duplicates; pool,
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
/// read it, without sqlx's `macros` feature (Cargo.toml says why), by the
/// readers (sqlx) and by the writer (`rusqlite`).
macro_rules! sqlite_row {
    (struct $name:ident { $($field:ident: $ty:ty),* $(,)? }) => {
        struct $name {
            $($field: $ty),*
        }

        impl $name {
            /// The same row, as the writer reads it (`RETURNING`).
            #[allow(dead_code)]
            fn from_written(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
                Ok($name {
                    $($field: row.get(stringify!($field))?),*
                })
            }
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

// Declared below `sqlite_row!`: each aggregate's rows use it, and a
// `macro_rules!` macro is visible only after its definition.
mod chat_rows;
mod event_log;
mod idempotency;
mod journal;
mod messages;
mod orders;
mod products;
mod statements;
mod tokens;
mod users;
mod writer;

use journal::Journal;
use writer::Writer;

/// The rows of `table` whose id is in `ids` (`SELECT <columns> … WHERE id
/// IN (…)`), each read by `read`, in no particular order; no ids, no query.
/// The one read of several rows by id (the loaders' batches).
async fn by_ids<K, R, T>(
    pool: &SqlitePool,
    columns: &str,
    table: &str,
    ids: &[crate::domain::Id<K>],
    read: fn(R) -> StoreResult<T>,
) -> StoreResult<Vec<T>>
where
    R: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + Send + Unpin,
{
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = QueryBuilder::new(format!("SELECT {columns} FROM {table} WHERE id IN ("));
    let mut list = sql.separated(", ");
    for id in ids {
        list.push_bind(id.as_str().to_owned());
    }
    sql.push(")");
    sql.build_query_as::<R>()
        .fetch_all(pool)
        .await
        .map_err(classify)?
        .into_iter()
        .map(read)
        .collect()
}

fn cursor_mismatch() -> StoreError {
    StoreError::Internal(anyhow::anyhow!(
        "BUG: a cursor whose key does not fit its ordering"
    ))
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

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(())
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
        7 "0007_lighter_chat_writes.sql",
        8 "0008_messages_by_id.sql",
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
    use crate::domain::{Message, MessageText, Position};
    use crate::store::{EventLogStore as _, LogQuery, MessageStore as _, NewLogEntry};
    use crate::store::{UserStore, contract, now};

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
        let writer: i64 = store
            .writer
            .write(|c| {
                c.query_row("PRAGMA wal_autocheckpoint", [], |row| row.get(0))
                    .map_err(statements::classify)
            })
            .await
            .unwrap();
        assert_eq!(writer, 0);
        let (reader,): (i64,) = sqlx::query_as("PRAGMA wal_autocheckpoint")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert!(reader > 0, "readers keep SQLite's default");
    }

    /// Migration 0008 rebuilds `messages` (WITHOUT ROWID, a partial index
    /// of the undelivered): a database written before it keeps every
    /// message, with its delivery and seen state.
    #[tokio::test]
    async fn messages_written_before_migration_8_survive_it() {
        use crate::domain::{MessageId, UserId};
        use crate::store::MessageStore;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite3");
        let options = SqliteConnectOptions::from_str("sqlite://")
            .unwrap()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
        let old = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .unwrap();
        let before_8: Vec<_> = migrator()
            .iter()
            .filter(|migration| migration.version < 8)
            .cloned()
            .collect();
        sqlx::migrate::Migrator::with_migrations(before_8)
            .run(&old)
            .await
            .unwrap();
        let (alice, bob) = ("a00000000000000000000001", "b00000000000000000000002");
        for (id, email) in [(alice, "alice@example.com"), (bob, "bob@example.com")] {
            sqlx::query(
                "INSERT INTO users (id, name, email, password_hash, role, created_at) \
                 VALUES (?, 'n', ?, 'h', 'user', '2026-11-30T10:00:00.000Z')",
            )
            .bind(id)
            .bind(email)
            .execute(&old)
            .await
            .unwrap();
        }
        let messages = [
            (
                "c00000000000000000000001",
                1,
                Some("2026-11-30T10:01:00.000Z"),
                "10:00:01",
            ),
            ("c00000000000000000000002", 0, None, "10:00:02"),
            ("c00000000000000000000003", 0, None, "10:00:03"),
        ];
        for (id, delivered, seen_at, at) in messages {
            sqlx::query(
                "INSERT INTO messages (id, from_id, to_id, text, seen_at, delivered, created_at) \
                 VALUES (?, ?, ?, 'hello', ?, ?, ?)",
            )
            .bind(id)
            .bind(alice)
            .bind(bob)
            .bind(seen_at)
            .bind(delivered)
            .bind(format!("2026-11-30T{at}.000Z"))
            .execute(&old)
            .await
            .unwrap();
        }
        old.close().await;

        let store = SqliteStore::open(&path).await.unwrap();

        let bob = UserId::parse(bob).unwrap();
        let owed: Vec<String> = store
            .undelivered_messages(&bob, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|message| message.id.as_str().to_owned())
            .collect();
        assert_eq!(
            owed,
            ["c00000000000000000000002", "c00000000000000000000003"]
        );
        let first = MessageId::parse("c00000000000000000000001").unwrap();
        let first = store.message_by_id(&first).await.unwrap().expect("kept");
        assert!(first.seen_at.is_some(), "{first:?}");
        let (table, index): (String, String) = sqlx::query_as(
            "SELECT (SELECT sql FROM sqlite_master WHERE name = 'messages'), \
                    (SELECT sql FROM sqlite_master WHERE name = 'messages_undelivered')",
        )
        .fetch_one(&store.pool)
        .await
        .unwrap();
        assert!(table.contains("WITHOUT ROWID"), "{table}");
        assert!(index.contains("WHERE delivered = 0"), "{index}");
    }

    /// What a killed process leaves: records in both journal files, none
    /// copied into SQLite (no writer ran).
    fn journal_as_if_killed(path: &Path, head: u64, sent: &[(Message, NewLogEntry)]) {
        let files = journal::open_files(path).unwrap().expect("not locked");
        let journal = Journal::new(files, head, String::new());
        for (i, (message, entry)) in sent.iter().enumerate() {
            if i == 1 {
                // The writer took the first: the second goes to the other file.
                let taken = journal.take_for_batch();
                assert_eq!(taken.retired, Some(0));
            }
            let appended = journal
                .append(
                    chat_rows::MessageInsert::of(message),
                    chat_rows::EventInsert::of(entry).unwrap(),
                )
                .unwrap();
            assert!(matches!(appended, journal::Appended::Journaled { .. }));
        }
    }

    #[tokio::test]
    async fn chat_messages_journaled_before_a_kill_are_stored_when_the_store_opens_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.sqlite3");
        let (ada, bob) = (
            contract::new_user("ada-journal@example.com"),
            contract::new_user("bob-journal@example.com"),
        );
        let head = {
            let store = SqliteStore::open(&path).await.unwrap();
            store.insert_user(&ada).await.unwrap();
            store.insert_user(&bob).await.unwrap();
            store
                .append_events(&[contract::log_entry("before", Default::default(), now())])
                .await
                .unwrap()[0]
        };
        let sent: Vec<(Message, NewLogEntry)> = (0..2)
            .map(|i| {
                let message = Message {
                    id: crate::domain::MessageId::generate(),
                    from: ada.id.clone(),
                    to: bob.id.clone(),
                    text: MessageText::parse(&format!("journaled {i}")).unwrap(),
                    seen_at: None,
                    delivered: false,
                    created_at: now(),
                };
                let entry = contract::log_entry(&format!("sent {i}"), Default::default(), now());
                (message, entry)
            })
            .collect();
        // The store above let go of the lock when its writer thread ended.
        let files = loop {
            if let Some(files) = journal::open_files(&path).unwrap() {
                break files;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        drop(files);
        journal_as_if_killed(&path, head.value(), &sent);

        let store = SqliteStore::open(&path).await.unwrap();
        for (message, _) in &sent {
            assert_eq!(
                store.message_by_id(&message.id).await.unwrap().as_ref(),
                Some(message)
            );
        }
        let logged = store
            .read_events(&LogQuery {
                after: head,
                up_to: Position::new(head.value() + 10),
                reader: None,
                limit: 10,
            })
            .await
            .unwrap();
        let positions: Vec<u64> = logged.iter().map(|entry| entry.position.value()).collect();
        assert_eq!(positions, [head.value() + 1, head.value() + 2]);
        assert_eq!(logged[1].entry, sent[1].1);
        for file in journal::paths(&path) {
            let file = std::fs::File::open(file).unwrap();
            assert!(journal::read_records(&file).unwrap().is_empty(), "emptied");
        }
        // Positions go on after the replayed ones.
        let next = store
            .append_events(&[contract::log_entry("after", Default::default(), now())])
            .await
            .unwrap();
        assert_eq!(next[0].value(), head.value() + 3);
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
