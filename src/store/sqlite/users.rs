//! Accounts on SQLite: [`UserStore`] for [`SqliteStore`], the `users` row
//! and its SQL.
//!
//! The session cut-off (`sessions_valid_from`) is stored as epoch
//! milliseconds, so `MAX` keeps it from moving back.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use sqlx::sqlite::Sqlite;

use super::statements::{execute, optional_row};
use super::{SqliteStore, by_ids, classify, push_time_keyset, stored, text, timestamp};
use crate::domain::{AccountStatus, Cursor, Email, NewUser, Role, User, UserId, UserName};
use crate::store::{Credentials, StoreResult, UserStore};

const USER_COLUMNS: &str = "id, name, email, role, created_at, last_active, active, password_hash";

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
        let sql = format!(
            "UPDATE users SET role = COALESCE(?, role), active = COALESCE(?, active), \
             sessions_valid_from = MAX(sessions_valid_from, ?) \
             WHERE id = ? RETURNING {USER_COLUMNS}"
        );
        let params = (
            role.map(Role::as_str),
            active.map(i64::from),
            sessions_valid_from.timestamp_millis(),
            id.as_str().to_owned(),
        );
        self.writer
            .write(move |c| optional_row(c, &sql, params, UserRow::from_written))
            .await?
            .map(UserRow::into_user)
            .transpose()
    }
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn insert_user(&self, user: &NewUser) -> StoreResult<User> {
        let row = (
            user.id.as_str().to_owned(),
            user.name.as_str().to_owned(),
            user.email.as_str().to_owned(),
            user.password_hash.clone(),
            user.role.as_str(),
            text(user.created_at),
        );
        self.writer
            .write(move |c| {
                execute(
                    c,
                    "INSERT INTO users (id, name, email, password_hash, role, created_at) \
                     VALUES (?, ?, ?, ?, ?, ?)",
                    row,
                )
            })
            .await?;
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
        by_ids(&self.pool, USER_COLUMNS, "users", ids, UserRow::into_user).await
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
        let params = (from.timestamp_millis(), id.as_str().to_owned());
        let changed = self
            .writer
            .write(move |c| {
                execute(
                    c,
                    "UPDATE users SET sessions_valid_from = MAX(sessions_valid_from, ?) WHERE id = ?",
                    params,
                )
            })
            .await?;
        Ok(changed > 0)
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
        let params = (text(at), id.as_str().to_owned());
        self.writer
            .write(move |c| {
                execute(
                    c,
                    "UPDATE users SET last_active = ?1 \
                     WHERE id = ?2 AND (last_active IS NULL OR last_active < ?1)",
                    params,
                )
            })
            .await?;
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
}
