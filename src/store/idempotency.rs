//! The idempotency-key port: [`IdempotencyStore`] and the
//! [`IdempotencyClaim`] it keeps.
//!
//! Its own trait rather than part of the token port: keys make a retried
//! creating write (a product, an order, a message) create nothing twice
//! (`services/idempotency.rs`); they share nothing with sessions but an
//! expiry. [`Store`](super::Store) gathers every aggregate.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::domain::UserId;

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

/// Idempotency keys, per user: the first claim holds until it expires.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
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
}
