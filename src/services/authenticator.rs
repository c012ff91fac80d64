//! Whether an access token still speaks for its account, decided at every
//! door against what the store keeps about the account.
//!
//! A signature only proves that the server once issued the token. Sign-out,
//! refresh-token reuse, a role change and a deactivation each move the
//! account's stored status ([`AccountStatus`]): its role, its active flag and
//! the instant before which its tokens are void. Checking every token against
//! that stored status (never against memory alone) is what makes a revocation
//! hold after a restart and on every server process.
//!
//! Reading the store on every request would put a query in front of every
//! authenticated call, so statuses are cached per account for
//! [`STATUS_FRESHNESS`]. This process's own changes drop the cached entry
//! right after the write ([`Authenticator::forget`]), so here a revocation
//! takes effect with the write; another process sharing the store sees it
//! within the freshness window at the latest (a backplane can carry the
//! change sooner).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::auth::{INVALID_TOKEN, Principal, TokenIssuer};
use crate::domain::{AccountStatus, UserId};
use crate::error::AppError;
use crate::store::Store;

/// How long a cached account status is trusted before the store is read
/// again: the longest a revocation made by another process can go unseen.
pub const STATUS_FRESHNESS: Duration = Duration::from_secs(5);

/// A token that passed every check.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// Who is calling.
    pub principal: Principal,
    /// When the token expires (seconds since the epoch): a live connection
    /// ends then.
    pub expires_at: i64,
}

/// Verifies tokens and checks them against the account's stored status.
/// Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct Authenticator {
    tokens: TokenIssuer,
    statuses: Arc<StatusCache>,
}

impl Authenticator {
    /// An authenticator over the issuer's key and the store's accounts.
    pub fn new(tokens: TokenIssuer, store: Arc<dyn Store>) -> Self {
        Authenticator {
            tokens,
            statuses: Arc::new(StatusCache {
                store,
                entries: Mutex::new(HashMap::new()),
                changes: AtomicU64::new(0),
            }),
        }
    }

    /// The caller a bearer token speaks for, if it still does: a valid
    /// signature, not expired, its account existing and active, issued after
    /// the account's last sign-out, role change or deactivation, and carrying
    /// the account's current role.
    ///
    /// # Errors
    /// `UNAUTHENTICATED` with one message whatever failed; `UNAVAILABLE` when
    /// the status is not cached and the store cannot be read.
    pub async fn authenticate(&self, token: &str) -> Result<Authenticated, AppError> {
        let (principal, claims) = self.tokens.verify_claims(token)?;
        match self.statuses.get(&principal.user_id).await? {
            Some(status) if status.admits(principal.role, claims.issued_at()) => {
                Ok(Authenticated {
                    principal,
                    expires_at: claims.exp,
                })
            }
            Some(_) => {
                tracing::debug!(user.id = %principal.user_id, "access token revoked (sign-out, role change or deactivation)");
                Err(AppError::Unauthenticated(INVALID_TOKEN))
            }
            None => {
                tracing::debug!(user.id = %principal.user_id, "access token of an account that does not exist");
                Err(AppError::Unauthenticated(INVALID_TOKEN))
            }
        }
    }

    /// Forgets the account's cached status, so the next token of it is
    /// checked against the store: called right after this process changed
    /// the account's status there.
    pub fn forget(&self, user: &UserId) {
        self.statuses.forget(user);
    }

    /// Drops expired cache entries; called periodically by the app.
    pub fn forget_stale(&self) {
        self.statuses.forget_stale();
    }
}

/// Account statuses by user, each trusted for [`STATUS_FRESHNESS`].
///
/// One map under a std mutex, never held across an await: a lookup is a
/// hash probe, and misses read the store without the lock. Written by hand
/// because a caching crate would bring a scheduler and a dependency tree
/// for what is a map and a timestamp.
struct StatusCache {
    store: Arc<dyn Store>,
    entries: Mutex<HashMap<UserId, Cached>>,
    /// Bumped by every local write: a store read that started before a
    /// write must not put its older answer into the cache after it.
    changes: AtomicU64,
}

struct Cached {
    status: Option<AccountStatus>,
    read_at: Instant,
}

impl StatusCache {
    async fn get(&self, user: &UserId) -> Result<Option<AccountStatus>, AppError> {
        if let Some(cached) = self.entries().get(user)
            && cached.read_at.elapsed() < STATUS_FRESHNESS
        {
            return Ok(cached.status);
        }
        let changes = self.changes.load(Ordering::Acquire);
        let status = self.store.account_status(user).await?;
        let mut entries = self.entries();
        if self.changes.load(Ordering::Acquire) == changes {
            entries.insert(
                user.clone(),
                Cached {
                    status,
                    read_at: Instant::now(),
                },
            );
        }
        Ok(status)
    }

    fn forget(&self, user: &UserId) {
        let mut entries = self.entries();
        self.changes.fetch_add(1, Ordering::AcqRel);
        entries.remove(user);
    }

    fn forget_stale(&self) {
        self.entries()
            .retain(|_, cached| cached.read_at.elapsed() < STATUS_FRESHNESS);
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, Cached>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::domain::Role;
    use crate::store::contract::new_user;
    use crate::store::counting::CountingStore;
    use crate::store::{SqliteStore, UserStore, now};

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    async fn fixture() -> (
        Authenticator,
        Arc<CountingStore>,
        TokenIssuer,
        tempfile::TempDir,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = SqliteStore::open(&dir.path().join("db.sqlite3"))
            .await
            .unwrap();
        let store = Arc::new(CountingStore::new(Arc::new(sqlite)));
        let tokens = TokenIssuer::new(SECRET, Duration::from_secs(900));
        let authenticator = Authenticator::new(tokens.clone(), store.clone());
        (authenticator, store, tokens, dir)
    }

    #[tokio::test]
    async fn a_token_of_an_unknown_account_is_refused() {
        let (authenticator, _store, tokens, _dir) = fixture().await;
        let token = tokens
            .issue_for(&UserId::generate(), Role::Admin, Duration::from_secs(60))
            .unwrap();
        assert!(matches!(
            authenticator.authenticate(&token.token).await,
            Err(AppError::Unauthenticated(_))
        ));
    }

    #[tokio::test]
    async fn statuses_are_read_once_per_freshness_window() {
        let (authenticator, store, tokens, _dir) = fixture().await;
        let user = store
            .insert_user(&new_user("cached@example.com"))
            .await
            .unwrap();
        let token = tokens
            .issue_for(&user.id, Role::User, Duration::from_secs(60))
            .unwrap();
        store.reset();
        for _ in 0..5 {
            let authenticated = authenticator.authenticate(&token.token).await.unwrap();
            assert_eq!(authenticated.principal.user_id, user.id);
        }
        assert_eq!(store.calls().get("account_status"), Some(&1));
    }

    #[tokio::test]
    async fn a_local_change_holds_at_once_and_a_stored_one_after_forgetting() {
        let (authenticator, store, tokens, _dir) = fixture().await;
        let user = store
            .insert_user(&new_user("revoked@example.com"))
            .await
            .unwrap();
        let old = tokens
            .issue_for(&user.id, Role::User, Duration::from_secs(60))
            .unwrap();
        authenticator.authenticate(&old.token).await.unwrap();

        // The store moves (as when another process signs the user out): the
        // cache here does not know until the entry is forgotten or expires.
        let cut_off = now() + chrono::Duration::milliseconds(1);
        store.end_user_sessions(&user.id, cut_off).await.unwrap();
        assert!(authenticator.authenticate(&old.token).await.is_ok());
        authenticator.forget(&user.id);
        assert!(authenticator.authenticate(&old.token).await.is_err());

        // Deactivated: even a token issued after the write is refused.
        store
            .set_user_active(&user.id, false, Utc::now())
            .await
            .unwrap();
        authenticator.forget(&user.id);
        std::thread::sleep(Duration::from_millis(2));
        let fresh = tokens
            .issue_for(&user.id, Role::User, Duration::from_secs(60))
            .unwrap();
        assert!(
            authenticator.authenticate(&fresh.token).await.is_err(),
            "deactivated"
        );
    }

    #[tokio::test]
    async fn a_token_issued_after_the_cut_off_is_accepted() {
        let (authenticator, store, tokens, _dir) = fixture().await;
        let user = store
            .insert_user(&new_user("again@example.com"))
            .await
            .unwrap();
        let cut_off = now();
        store.end_user_sessions(&user.id, cut_off).await.unwrap();
        std::thread::sleep(Duration::from_millis(2));
        let fresh = tokens
            .issue_for(&user.id, Role::User, Duration::from_secs(60))
            .unwrap();
        assert!(authenticator.authenticate(&fresh.token).await.is_ok());
        let forged_role = tokens
            .issue_for(&user.id, Role::Admin, Duration::from_secs(60))
            .unwrap();
        assert!(
            authenticator
                .authenticate(&forged_role.token)
                .await
                .is_err(),
            "a token whose role is not the account's"
        );
    }
}
