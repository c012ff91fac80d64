//! Refresh tokens on SQLite: [`TokenStore`] for [`SqliteStore`], over the
//! `refresh_tokens` table (keyed by the token's hash). Using a token is one
//! conditional `UPDATE … RETURNING` on the writer.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{SqliteStore, classify, stored, text};
use crate::auth::RefreshTokenHash;
use crate::domain::UserId;
use crate::store::{NewRefreshToken, RefreshUse, StoreResult, TokenStore};

#[async_trait]
impl TokenStore for SqliteStore {
    async fn insert_refresh_token(&self, token: &NewRefreshToken) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, user_id, family, issued_at, expires_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(token.hash.as_str())
        .bind(token.user_id.as_str())
        .bind(&token.family)
        .bind(text(token.issued_at))
        .bind(text(token.expires_at))
        .execute(&self.writer)
        .await
        .map_err(classify)?;
        Ok(())
    }

    async fn use_refresh_token(
        &self,
        hash: &RefreshTokenHash,
        now: DateTime<Utc>,
    ) -> StoreResult<RefreshUse> {
        let now = text(now);
        let fresh: Option<(String, String)> = sqlx::query_as(
            "UPDATE refresh_tokens SET used_at = ?1 \
             WHERE token_hash = ?2 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?1 \
             RETURNING user_id, family",
        )
        .bind(&now)
        .bind(hash.as_str())
        .fetch_optional(&self.writer)
        .await
        .map_err(classify)?;
        if let Some((user_id, family)) = fresh {
            return Ok(RefreshUse::Fresh {
                user_id: stored(UserId::parse(&user_id), "user id")?,
                family,
            });
        }
        let reused: Option<(String, String)> = sqlx::query_as(
            "SELECT user_id, family FROM refresh_tokens \
             WHERE token_hash = ? AND used_at IS NOT NULL AND revoked_at IS NULL",
        )
        .bind(hash.as_str())
        .fetch_optional(&self.writer)
        .await
        .map_err(classify)?;
        match reused {
            Some((user_id, family)) => Ok(RefreshUse::Reused {
                user_id: stored(UserId::parse(&user_id), "user id")?,
                family,
            }),
            None => Ok(RefreshUse::Invalid),
        }
    }

    async fn revoke_refresh_family(&self, family: &str, now: DateTime<Utc>) -> StoreResult<u64> {
        let result = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = ? WHERE family = ? AND revoked_at IS NULL",
        )
        .bind(text(now))
        .bind(family)
        .execute(&self.writer)
        .await
        .map_err(classify)?;
        Ok(result.rows_affected())
    }

    async fn revoke_user_refresh_tokens(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let result = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
        )
        .bind(text(now))
        .bind(user.as_str())
        .execute(&self.writer)
        .await
        .map_err(classify)?;
        Ok(result.rows_affected())
    }

    async fn refresh_token_owner(
        &self,
        hash: &RefreshTokenHash,
    ) -> StoreResult<Option<(UserId, String)>> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT user_id, family FROM refresh_tokens WHERE token_hash = ?")
                .bind(hash.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(classify)?;
        row.map(|(user_id, family)| Ok((stored(UserId::parse(&user_id), "user id")?, family)))
            .transpose()
    }
}
