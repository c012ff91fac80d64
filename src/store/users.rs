//! The accounts port: [`UserStore`] and the [`Credentials`] it reads for
//! sign-in.
//!
//! Its own trait (and its own file in each adapter) so a change to accounts
//! touches account code only; [`Store`](super::Store) gathers every aggregate.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::domain::{AccountStatus, Cursor, Email, NewUser, Role, User, UserId};

/// An account with its password hash, for sign-in only.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The account.
    pub user: User,
    /// Its argon2id PHC string.
    pub password_hash: String,
}

/// Accounts: registration, sign-in lookups, roles, deactivation and the
/// session cut-off that voids access tokens.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Writes a new account. [`StoreError::Duplicate`](super::StoreError::Duplicate)
    /// when the email is taken.
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
}
