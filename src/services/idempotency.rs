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
//! tries again. [`Idempotency::create`] is the whole rule; services give it
//! their lookup and their write.

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use crate::domain::{Id, IdempotencyKey, UserId};
use crate::error::AppError;
use crate::store::{IdempotencyClaim, Store, StoreError, StoreResult, now};

/// How long a key is remembered (API.md: 24 hours).
pub const KEY_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// How long a retry waits, step by step, for a first request with the same
/// key that may still be running (a client retrying concurrently) to land
/// before writing itself: about 370 ms in all. A sequential retry finds the
/// entity at once.
const RETRY_WAITS_MS: [u64; 5] = [0, 20, 50, 100, 200];

/// What a creating write with an idempotency key did.
#[derive(Debug, Clone, PartialEq)]
pub enum Created<T> {
    /// This request created it: tell whoever must hear.
    New(T),
    /// An earlier request with the same key did: nothing to announce again.
    Earlier(T),
}

impl<T> Created<T> {
    /// The entity, however it came to be.
    pub fn into_inner(self) -> T {
        match self {
            Created::New(entity) | Created::Earlier(entity) => entity,
        }
    }
}

/// The id a write creates its entity under, and whether an earlier request
/// with the same key chose it.
struct Attempt<K> {
    id: Id<K>,
    retry: bool,
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

    /// Runs a creating write at most once per key. `request` describes the
    /// operation and its input (a retry must describe the same); `find`
    /// looks the entity up by id; `write` creates it under the id it is
    /// given, answering [`StoreError::Duplicate`] when that id exists.
    ///
    /// Without a key, `write` runs under a fresh id. With one, a retry first
    /// looks for what the first request created (giving a concurrent first
    /// request a moment to land, so a twin never takes stock of its own);
    /// otherwise the write runs under the first request's id, and a
    /// duplicate means a concurrent twin won: its entity is the answer.
    ///
    /// # Errors
    /// `CONFLICT` when the key was used for a different request; what
    /// `write` answers; `UNAVAILABLE` when the store is down.
    pub async fn create<K, T, Found, Written>(
        &self,
        user: &UserId,
        key: Option<&IdempotencyKey>,
        request: &str,
        find: impl Fn(Id<K>) -> Found,
        write: impl FnOnce(Id<K>) -> Written,
    ) -> Result<Created<T>, AppError>
    where
        Found: Future<Output = StoreResult<Option<T>>>,
        Written: Future<Output = StoreResult<Result<T, AppError>>>,
    {
        let attempt = self.attempt::<K>(user, key, request).await?;
        if attempt.retry {
            for wait_ms in RETRY_WAITS_MS {
                tokio::time::sleep(Duration::from_millis(wait_ms)).await;
                if let Some(earlier) = find(attempt.id.clone()).await? {
                    return Ok(Created::Earlier(earlier));
                }
            }
        }
        match write(attempt.id.clone()).await {
            Ok(result) => result.map(Created::New),
            Err(StoreError::Duplicate) if key.is_some() => find(attempt.id)
                .await?
                .map(Created::Earlier)
                .ok_or_else(|| AppError::Internal(anyhow::anyhow!("a duplicate entity vanished"))),
            Err(other) => Err(other.into()),
        }
    }

    /// The id for a creating write: fresh without a key; with one, the id
    /// its first request chose.
    async fn attempt<K>(
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
