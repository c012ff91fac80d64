//! Refresh tokens on SQLite: [`TokenStore`] for [`SqliteStore`], over the
//! `refresh_tokens` table (keyed by the token's hash). Using a token is one
//! conditional `UPDATE … RETURNING` on the writer.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::statements::{execute, optional_row};
use super::{SqliteStore, classify, stored, text};
use crate::auth::RefreshTokenHash;
use crate::domain::UserId;
use crate::store::{NewRefreshToken, RefreshUse, StoreResult, TokenStore};

#[async_trait]
impl TokenStore for SqliteStore {
    async fn insert_refresh_token(&self, token: &NewRefreshToken) -> StoreResult<()> {
        let row = (
            token.hash.as_str().to_owned(),
            token.user_id.as_str().to_owned(),
            token.family.clone(),
            text(token.issued_at),
            text(token.expires_at),
        );
        self.writer
            .write(move |c| {
                execute(
                    c,
                    "INSERT INTO refresh_tokens (token_hash, user_id, family, issued_at, expires_at) \
                     VALUES (?, ?, ?, ?, ?)",
                    row,
                )
            })
            .await?;
        Ok(())
    }

    async fn use_refresh_token(
        &self,
        hash: &RefreshTokenHash,
        now: DateTime<Utc>,
    ) -> StoreResult<RefreshUse> {
        let (now, hash) = (text(now), hash.as_str().to_owned());
        let pair =
            |row: &rusqlite::Row<'_>| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?));
        // One write: the use and, when it was not fresh, the check for an
        // earlier use see the same state.
        let (fresh, reused) = self
            .writer
            .write(move |c| {
                let fresh = optional_row(
                    c,
                    "UPDATE refresh_tokens SET used_at = ?1 \
                     WHERE token_hash = ?2 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?1 \
                     RETURNING user_id, family",
                    (&now, &hash),
                    pair,
                )?;
                if fresh.is_some() {
                    return Ok((fresh, None));
                }
                let reused = optional_row(
                    c,
                    "SELECT user_id, family FROM refresh_tokens \
                     WHERE token_hash = ? AND used_at IS NOT NULL AND revoked_at IS NULL",
                    [&hash],
                    pair,
                )?;
                Ok((None, reused))
            })
            .await?;
        if let Some((user_id, family)) = fresh {
            return Ok(RefreshUse::Fresh {
                user_id: stored(UserId::parse(&user_id), "user id")?,
                family,
            });
        }
        match reused {
            Some((user_id, family)) => Ok(RefreshUse::Reused {
                user_id: stored(UserId::parse(&user_id), "user id")?,
                family,
            }),
            None => Ok(RefreshUse::Invalid),
        }
    }

    async fn revoke_refresh_family(&self, family: &str, now: DateTime<Utc>) -> StoreResult<u64> {
        let params = (text(now), family.to_owned());
        let revoked = self
            .writer
            .write(move |c| {
                execute(
                    c,
                    "UPDATE refresh_tokens SET revoked_at = ? WHERE family = ? AND revoked_at IS NULL",
                    params,
                )
            })
            .await?;
        Ok(revoked as u64)
    }

    async fn revoke_user_refresh_tokens(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let params = (text(now), user.as_str().to_owned());
        let revoked = self
            .writer
            .write(move |c| {
                execute(
                    c,
                    "UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                    params,
                )
            })
            .await?;
        Ok(revoked as u64)
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
