//! Idempotency keys on SQLite: [`IdempotencyStore`] for [`SqliteStore`],
//! over the `idempotency_keys` table (one row per user and key). A claim is
//! one upsert that replaces only an expired row.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{SqliteStore, classify, text, timestamp};
use crate::store::{IdempotencyClaim, IdempotencyStore, StoreResult};

#[async_trait]
impl IdempotencyStore for SqliteStore {
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
}
