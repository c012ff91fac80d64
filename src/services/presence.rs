//! Presence: who is online (at least one live connection), announced to
//! admins and the user's conversation peers only, with a grace period so a
//! page reload does not flap; `lastActive` kept in the store, throttled.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::auth::Principal;
use crate::domain::{Cursor, Page, SortKey, User, UserId, page_size};
use crate::error::AppError;
use crate::hub::{Audience, Event, Hub};
use crate::store::{Store, USERS_OLDEST, now};

/// A page request on the presence list, valid.
#[derive(Debug, Clone, Default)]
pub struct UserListing {
    /// Only online (`Some(true)`) or only not online (`Some(false)`) users.
    pub online: Option<bool>,
    /// Page size (clamped).
    pub first: usize,
    /// Continue after this cursor.
    pub after: Option<Cursor>,
}

impl UserListing {
    /// Parses raw page arguments (`after`).
    ///
    /// # Errors
    /// `BAD_USER_INPUT` naming `after`.
    pub fn parse(
        online: Option<bool>,
        first: Option<i64>,
        after: Option<&str>,
    ) -> Result<Self, AppError> {
        let after = match after.map(|raw| Cursor::decode(raw, USERS_OLDEST)) {
            Some(Ok(cursor)) if matches!(cursor.key, SortKey::Time(_)) => Some(cursor),
            Some(_) => return Err(AppError::invalid("after", "is not a cursor of this list")),
            None => None,
        };
        Ok(UserListing {
            online,
            first: page_size(first),
            after,
        })
    }
}

/// Where a user stands in the registration-order user list.
pub fn user_cursor(user: &User) -> Cursor {
    Cursor {
        ordering: USERS_OLDEST,
        key: SortKey::Time(user.created_at),
        id: user.id.to_string(),
    }
}

/// `lastActive` is written at most this often per user while active.
const LAST_ACTIVE_EVERY: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// Accounts active this recently count as "recently active".
pub const RECENTLY_ACTIVE: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// The presence registry of this process. Cheap to clone.
///
/// Counts live in memory: with several server processes, this moves to a
/// shared registry (see ARCHITECTURE.md); nothing else changes.
#[derive(Clone)]
pub struct Presence {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    hub: Hub,
    grace: Duration,
    users: Mutex<HashMap<UserId, Entry>>,
    last_written: Mutex<HashMap<UserId, DateTime<Utc>>>,
}

#[derive(Default)]
struct Entry {
    /// Open connections.
    connections: usize,
    /// Bumped on every connect, so a pending offline announcement can tell
    /// that the user came back during the grace period.
    generation: u64,
    /// Whether the user is currently announced online.
    announced: bool,
}

impl Presence {
    /// An empty registry.
    pub fn new(store: Arc<dyn Store>, hub: Hub, grace: Duration) -> Self {
        Presence {
            inner: Arc::new(Inner {
                store,
                hub,
                grace,
                users: Mutex::new(HashMap::new()),
                last_written: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// A connection of `user` opened. The first one announces the user
    /// online (unless they were still within the grace period of a reload).
    /// Counting is immediate, so a disconnect that follows at once is always
    /// counted after it; the announcement runs in the background.
    pub fn connected(&self, user: &UserId) {
        let announce = {
            let mut users = self.inner.users();
            let entry = users.entry(user.clone()).or_default();
            entry.connections += 1;
            entry.generation += 1;
            let announce = !entry.announced;
            entry.announced = true;
            announce
        };
        if announce {
            let presence = self.clone();
            let user = user.clone();
            tokio::spawn(async move { presence.announce(&user, true).await });
        }
    }

    /// A connection of `user` closed. After the grace period, if no
    /// connection came back, the user is announced offline.
    pub fn disconnected(&self, user: &UserId) {
        let generation = {
            let mut users = self.inner.users();
            let Some(entry) = users.get_mut(user) else {
                return;
            };
            entry.connections = entry.connections.saturating_sub(1);
            if entry.connections > 0 {
                return;
            }
            entry.generation
        };
        let presence = self.clone();
        let user = user.clone();
        tokio::spawn(async move {
            tokio::time::sleep(presence.inner.grace).await;
            let gone = {
                let mut users = presence.inner.users();
                match users.get(&user) {
                    Some(entry) if entry.connections == 0 && entry.generation == generation => {
                        users.remove(&user);
                        true
                    }
                    _ => false,
                }
            };
            if gone {
                presence.announce(&user, false).await;
            }
        });
    }

    /// True while the user has a live connection (or is within the grace
    /// period of their last one).
    pub fn is_online(&self, user: &UserId) -> bool {
        self.inner
            .users()
            .get(user)
            .is_some_and(|entry| entry.announced)
    }

    /// Everyone online now.
    pub fn online_users(&self) -> Vec<UserId> {
        self.inner
            .users()
            .iter()
            .filter(|(_, entry)| entry.announced)
            .map(|(user, _)| user.clone())
            .collect()
    }

    /// The presence list (admins): accounts in registration order. Online
    /// users come from this process's registry; the filter `online: false`
    /// is applied to each page, so such a page may hold fewer than `first`.
    ///
    /// # Errors
    /// `FORBIDDEN` for non-admins; `UNAVAILABLE` when the store is down.
    pub async fn users(
        &self,
        principal: &Principal,
        listing: UserListing,
    ) -> Result<Page<User>, AppError> {
        principal.require_admin()?;
        if listing.online == Some(true) {
            let online = self.online_users();
            let mut users = self.inner.store.users_by_ids(&online).await?;
            users.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
            if let Some(after) = &listing.after {
                let after = (after.key.clone(), after.id.clone());
                users.retain(|user| (SortKey::Time(user.created_at), user.id.to_string()) > after);
            }
            return Ok(Page::from_rows(users, listing.first, user_cursor));
        }
        let rows = self
            .inner
            .store
            .list_users(listing.after.as_ref(), listing.first + 1)
            .await?;
        let mut page = Page::from_rows(rows, listing.first, user_cursor);
        if listing.online == Some(false) {
            page.items.retain(|user| !self.is_online(&user.id));
        }
        Ok(page)
    }

    /// Records activity; writes `lastActive` at most once a minute per user.
    pub async fn touch(&self, user: &UserId) {
        let at = now();
        let due = {
            let mut written = self
                .inner
                .last_written
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            match written.get(user) {
                Some(last) if at - *last < LAST_ACTIVE_EVERY => false,
                _ => {
                    written.insert(user.clone(), at);
                    true
                }
            }
        };
        if due {
            self.write_last_active(user, at).await;
        }
    }

    async fn announce(&self, user: &UserId, online: bool) {
        let at = now();
        self.write_last_active(user, at).await;
        let peers = match self.inner.store.conversation_peers(user).await {
            Ok(peers) => peers,
            Err(error) => {
                tracing::warn!(%error, "presence: conversation peers unavailable; telling admins only");
                Vec::new()
            }
        };
        self.inner.hub.publish(
            Audience::UsersAndAdmins(peers),
            Event::PresenceChanged {
                user_id: user.clone(),
                online,
                last_active: at,
            },
        );
    }

    async fn write_last_active(&self, user: &UserId, at: DateTime<Utc>) {
        if let Err(error) = self.inner.store.touch_last_active(user, at).await {
            tracing::warn!(%error, "lastActive not written");
        }
    }
}

impl Inner {
    fn users(&self) -> MutexGuard<'_, HashMap<UserId, Entry>> {
        self.users
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
