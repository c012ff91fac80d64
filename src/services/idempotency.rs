//! Idempotent writes: a retry of a creating write with the same key (after
//! a lost answer, a dropped connection) returns what the first request
//! created instead of creating it again.
//!
//! The first request with a key claims it in the store together with the id
//! of the entity it is about to create. Every later request with that key
//! (same user, within the retention window) gets the same id: if the entity
//! exists it is returned as it is now; if the first request failed or died
//! before writing it, the write runs again under that id, and the store's
//! primary key makes sure at most one such write lands. A key reused with a
//! different request (another operation or another input) is a `CONFLICT`.
//! Failures are not remembered: a retry of a refused write (out of stock)
//! tries again.

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use crate::domain::{Id, IdempotencyKey, UserId};
use crate::error::AppError;
use crate::store::{IdempotencyClaim, Store, now};

/// How long a key is remembered (API.md: 24 hours).
pub const KEY_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// The id a write creates its entity under, and whether an earlier request
/// with the same key chose it.
#[derive(Debug, Clone)]
pub struct Attempt<K> {
    id: Id<K>,
    retry: bool,
}

impl<K> Attempt<K> {
    /// The id to create the entity under.
    pub fn id(&self) -> &Id<K> {
        &self.id
    }

    /// True when an earlier request with the same key chose the id: the
    /// entity may exist already.
    pub fn is_retry(&self) -> bool {
        self.retry
    }
}

/// Idempotency keys, kept in the store. Cheap to clone.
#[derive(Clone)]
pub struct Idempotency {
    store: Arc<dyn Store>,
}

impl Idempotency {
    /// Keys kept in `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Idempotency { store }
    }

    /// The id for a creating write. Without a key, a fresh id. With one, the
    /// id its first request chose (`request` describes the operation and its
    /// input; it must be the same for a retry).
    ///
    /// # Errors
    /// `CONFLICT` when the key was used for a different request;
    /// `UNAVAILABLE` when the store is down.
    pub async fn attempt<K>(
        &self,
        user: &UserId,
        key: Option<&IdempotencyKey>,
        request: &str,
    ) -> Result<Attempt<K>, AppError> {
        let fresh = Id::<K>::generate();
        let Some(key) = key else {
            return Ok(Attempt {
                id: fresh,
                retry: false,
            });
        };
        let at = now();
        let claim = IdempotencyClaim {
            user_id: user.clone(),
            key: key.as_str().to_owned(),
            fingerprint: hex::encode(Sha256::digest(request.as_bytes())),
            result_id: fresh.to_string(),
            created_at: at,
        };
        let expired_before = at - KEY_RETENTION;
        let held = self
            .store
            .claim_idempotency_key(&claim, expired_before)
            .await?;
        if held.fingerprint != claim.fingerprint {
            return Err(AppError::Conflict(
                "this idempotency key was already used for a different request".into(),
            ));
        }
        let retry = held.result_id != claim.result_id;
        let id = Id::parse(&held.result_id).map_err(|e| {
            AppError::Internal(anyhow::anyhow!("a stored idempotency result id: {e}"))
        })?;
        if retry {
            tracing::info!(user.id = %user, "idempotent retry recognised");
        }
        Ok(Attempt { id, retry })
    }

    /// Forgets keys older than the retention window; called periodically.
    ///
    /// # Errors
    /// `UNAVAILABLE` when the store is down.
    pub async fn forget_expired(&self) -> Result<u64, AppError> {
        Ok(self
            .store
            .forget_idempotency_keys(now() - KEY_RETENTION)
            .await?)
    }
}
