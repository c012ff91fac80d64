//! The refresh-token port: [`TokenStore`], the [`NewRefreshToken`] it keeps
//! and the [`RefreshUse`] presenting one finds.
//!
//! Its own trait (and its own file in each adapter) so a change to sessions
//! touches token code only; [`Store`](super::Store) gathers every aggregate.
//! Idempotency keys, though also short-lived keyed records, are not here:
//! they serve the creating writes of every door, not sessions
//! ([`IdempotencyStore`](super::IdempotencyStore)).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::auth::RefreshTokenHash;
use crate::domain::UserId;

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

/// Refresh tokens (by hash): issue, single use with reuse detection, and
/// revocation by family or by account.
#[async_trait]
pub trait TokenStore: Send + Sync {
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
}
