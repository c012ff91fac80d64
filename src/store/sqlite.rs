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
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::{Credentials, NewRefreshToken, RefreshUse, Store, StoreError, StoreResult};
use crate::auth::RefreshTokenHash;
use crate::domain::{Email, NewUser, Role, User, UserId, UserName};

/// The SQLite store. Cheap to clone (a pool handle).
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

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
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .with_context(|| format!("opening SQLite database {}", path.display()))
            .map_err(StoreError::Unavailable)?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .context("applying SQLite migrations")
            .map_err(StoreError::Unavailable)?;
        Ok(SqliteStore { pool })
    }
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

#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    name: String,
    email: String,
    role: String,
    created_at: String,
    last_active: Option<String>,
    password_hash: String,
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

const USER_COLUMNS: &str = "id, name, email, role, created_at, last_active, password_hash";

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
        .execute(&self.pool)
        .await
        .map_err(classify)?;
        Ok(User {
            id: user.id.clone(),
            name: user.name.clone(),
            email: user.email.clone(),
            role: user.role,
            created_at: user.created_at,
            last_active: None,
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

    async fn set_user_role(&self, id: &UserId, role: Role) -> StoreResult<Option<User>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "UPDATE users SET role = ? WHERE id = ? RETURNING {USER_COLUMNS}"
        ));
        sqlx::query_as::<_, UserRow>(sql)
            .bind(role.as_str())
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?
            .map(UserRow::into_user)
            .transpose()
    }

    async fn count_users(&self) -> StoreResult<u64> {
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await
            .map_err(classify)?;
        Ok(count.max(0) as u64)
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
        .execute(&self.pool)
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
        .fetch_optional(&self.pool)
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
        .fetch_optional(&self.pool)
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
        .execute(&self.pool)
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
}

#[cfg(test)]
mod tests {
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
