//! Idempotency keys on MongoDB: [`IdempotencyStore`] for [`MongoStore`],
//! the `idempotencyKeys` document (`_id` is `<user id>:<key>`), its queries
//! and its index. The unique `_id` decides between concurrent first claims.

use async_trait::async_trait;
use bson::doc;
use chrono::{DateTime, Utc};
use mongodb::IndexModel;
use serde::{Deserialize, Serialize};

use super::{MongoStore, chrono, classify, date};
use crate::store::{IdempotencyClaim, IdempotencyStore, StoreError, StoreResult};

/// An idempotency claim; `_id` is `<user id>:<key>`, unique by construction.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct IdempotencyDoc {
    #[serde(rename = "_id")]
    id: String,
    fingerprint: String,
    result_id: String,
    created_at: bson::DateTime,
}

impl MongoStore {
    /// The indexes idempotency queries need (created at start-up, idempotently).
    pub(super) async fn create_idempotency_indexes(&self) -> StoreResult<()> {
        self.idempotency_keys
            .create_index(IndexModel::builder().keys(doc! { "createdAt": 1 }).build())
            .await
            .map_err(classify)?;
        Ok(())
    }
}

#[async_trait]
impl IdempotencyStore for MongoStore {
    async fn claim_idempotency_key(
        &self,
        claim: &IdempotencyClaim,
        expired_before: DateTime<Utc>,
    ) -> StoreResult<IdempotencyClaim> {
        let id = format!("{}:{}", claim.user_id, claim.key);
        let document = IdempotencyDoc {
            id: id.clone(),
            fingerprint: claim.fingerprint.clone(),
            result_id: claim.result_id.clone(),
            created_at: date(claim.created_at),
        };
        // The unique `_id` decides between concurrent first requests; an
        // expired claim is replaced only if it is still the expired one.
        for _ in 0..3 {
            match self.idempotency_keys.insert_one(&document).await {
                Ok(_) => return Ok(claim.clone()),
                Err(error) => match classify(error) {
                    StoreError::Duplicate => {}
                    other => return Err(other),
                },
            }
            let Some(earlier) = self
                .idempotency_keys
                .find_one(doc! { "_id": &id })
                .await
                .map_err(classify)?
            else {
                continue; // forgotten in between: try the insert again
            };
            if earlier.created_at >= date(expired_before) {
                return Ok(IdempotencyClaim {
                    user_id: claim.user_id.clone(),
                    key: claim.key.clone(),
                    fingerprint: earlier.fingerprint,
                    result_id: earlier.result_id,
                    created_at: chrono(earlier.created_at),
                });
            }
            let replaced = self
                .idempotency_keys
                .replace_one(
                    doc! { "_id": &id, "createdAt": earlier.created_at },
                    &document,
                )
                .await
                .map_err(classify)?;
            if replaced.matched_count == 1 {
                return Ok(claim.clone());
            }
        }
        Err(StoreError::Internal(anyhow::anyhow!(
            "an idempotency key kept changing under its claim"
        )))
    }

    async fn forget_idempotency_keys(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let result = self
            .idempotency_keys
            .delete_many(doc! { "createdAt": { "$lt": date(before) } })
            .await
            .map_err(classify)?;
        Ok(result.deleted_count)
    }
}
