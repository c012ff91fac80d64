//! Refresh tokens on MongoDB: [`TokenStore`] for [`MongoStore`], the
//! `refreshTokens` document (keyed by the token's hash), its queries and its
//! indexes. Using a token is one conditional `findOneAndUpdate`.

use async_trait::async_trait;
use bson::oid::ObjectId;
use bson::{Bson, doc};
use chrono::{DateTime, Utc};
use mongodb::IndexModel;
use serde::{Deserialize, Serialize};

use super::{MongoStore, classify, date, object_id, user_id};
use crate::auth::RefreshTokenHash;
use crate::domain::UserId;
use crate::store::{NewRefreshToken, RefreshUse, StoreResult, TokenStore};

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RefreshTokenDoc {
    /// The token's SHA-256: unique by construction, so it is the key.
    #[serde(rename = "_id")]
    hash: String,
    user_id: ObjectId,
    family: String,
    issued_at: bson::DateTime,
    expires_at: bson::DateTime,
    used_at: Option<bson::DateTime>,
    revoked_at: Option<bson::DateTime>,
}

impl MongoStore {
    /// The indexes token queries need (created at start-up, idempotently).
    pub(super) async fn create_token_indexes(&self) -> StoreResult<()> {
        self.refresh_tokens
            .create_index(IndexModel::builder().keys(doc! { "family": 1 }).build())
            .await
            .map_err(classify)?;
        self.refresh_tokens
            .create_index(IndexModel::builder().keys(doc! { "userId": 1 }).build())
            .await
            .map_err(classify)?;
        Ok(())
    }
}

#[async_trait]
impl TokenStore for MongoStore {
    async fn insert_refresh_token(&self, token: &NewRefreshToken) -> StoreResult<()> {
        let document = RefreshTokenDoc {
            hash: token.hash.as_str().to_owned(),
            user_id: object_id(&token.user_id),
            family: token.family.clone(),
            issued_at: date(token.issued_at),
            expires_at: date(token.expires_at),
            used_at: None,
            revoked_at: None,
        };
        self.refresh_tokens
            .insert_one(&document)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn use_refresh_token(
        &self,
        hash: &RefreshTokenHash,
        now: DateTime<Utc>,
    ) -> StoreResult<RefreshUse> {
        let now = date(now);
        let fresh = self
            .refresh_tokens
            .find_one_and_update(
                doc! {
                    "_id": hash.as_str(),
                    "usedAt": Bson::Null,
                    "revokedAt": Bson::Null,
                    "expiresAt": { "$gt": now },
                },
                doc! { "$set": { "usedAt": now } },
            )
            .await
            .map_err(classify)?;
        if let Some(token) = fresh {
            return Ok(RefreshUse::Fresh {
                user_id: user_id(&token.user_id),
                family: token.family,
            });
        }
        let reused = self
            .refresh_tokens
            .find_one(doc! {
                "_id": hash.as_str(),
                "usedAt": { "$ne": Bson::Null },
                "revokedAt": Bson::Null,
            })
            .await
            .map_err(classify)?;
        Ok(match reused {
            Some(token) => RefreshUse::Reused {
                user_id: user_id(&token.user_id),
                family: token.family,
            },
            None => RefreshUse::Invalid,
        })
    }

    async fn revoke_refresh_family(&self, family: &str, now: DateTime<Utc>) -> StoreResult<u64> {
        let result = self
            .refresh_tokens
            .update_many(
                doc! { "family": family, "revokedAt": Bson::Null },
                doc! { "$set": { "revokedAt": date(now) } },
            )
            .await
            .map_err(classify)?;
        Ok(result.modified_count)
    }

    async fn revoke_user_refresh_tokens(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let result = self
            .refresh_tokens
            .update_many(
                doc! { "userId": object_id(user), "revokedAt": Bson::Null },
                doc! { "$set": { "revokedAt": date(now) } },
            )
            .await
            .map_err(classify)?;
        Ok(result.modified_count)
    }

    async fn refresh_token_owner(
        &self,
        hash: &RefreshTokenHash,
    ) -> StoreResult<Option<(UserId, String)>> {
        Ok(self
            .refresh_tokens
            .find_one(doc! { "_id": hash.as_str() })
            .await
            .map_err(classify)?
            .map(|token| (user_id(&token.user_id), token.family)))
    }
}
