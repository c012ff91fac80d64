//! Idempotency keys on SQLite: [`IdempotencyStore`] for [`SqliteStore`],
//! over the `idempotency_keys` table (one row per user and key). A claim is
//! one upsert that replaces only an expired row.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::statements::{execute, optional_row};
use super::{SqliteStore, text, timestamp};
use crate::store::{IdempotencyClaim, IdempotencyStore, StoreError, StoreResult};

#[async_trait]
impl IdempotencyStore for SqliteStore {
    async fn claim_idempotency_key(
        &self,
        claim: &IdempotencyClaim,
        expired_before: DateTime<Utc>,
    ) -> StoreResult<IdempotencyClaim> {
        // One write: the insert and the read of an earlier claim see the
        // same state, and claims queue behind each other.
        let params = (
            claim.user_id.as_str().to_owned(),
            claim.key.clone(),
            claim.fingerprint.clone(),
            claim.result_id.clone(),
            text(claim.created_at),
            text(expired_before),
        );
        let earlier = self
            .writer
            .write(move |c| {
                let inserted = execute(
                    c,
                    "INSERT INTO idempotency_keys (user_id, key, fingerprint, result_id, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5) \
                     ON CONFLICT (user_id, key) DO UPDATE SET fingerprint = excluded.fingerprint, \
                       result_id = excluded.result_id, created_at = excluded.created_at \
                     WHERE idempotency_keys.created_at < ?6",
                    (
                        &params.0, &params.1, &params.2, &params.3, &params.4, &params.5,
                    ),
                )?;
                if inserted > 0 {
                    return Ok(None);
                }
                let earlier = optional_row(
                    c,
                    "SELECT fingerprint, result_id, created_at FROM idempotency_keys \
                     WHERE user_id = ? AND key = ?",
                    (&params.0, &params.1),
                    |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?)),
                )?;
                // Not inserted because a live claim holds the key: it is there.
                earlier.map(Some).ok_or_else(|| {
                    StoreError::Internal(anyhow::anyhow!("BUG: an idempotency claim vanished"))
                })
            })
            .await?;
        let Some((fingerprint, result_id, created_at)) = earlier else {
            return Ok(claim.clone());
        };
        Ok(IdempotencyClaim {
            user_id: claim.user_id.clone(),
            key: claim.key.clone(),
            fingerprint,
            result_id,
            created_at: timestamp(&created_at)?,
        })
    }

    async fn forget_idempotency_keys(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let before = text(before);
        let forgotten = self
            .writer
            .write(move |c| {
                execute(
                    c,
                    "DELETE FROM idempotency_keys WHERE created_at < ?",
                    [before],
                )
            })
            .await?;
        Ok(forgotten as u64)
    }
}
