//! Presence: who is online (at least one live connection), announced to
//! admins and the user's conversation peers only, with a grace period so a
//! page reload does not flap; `lastActive` kept in the store, throttled.
//!
//! Each process counts its own connections. Alone, the first connection
//! here announces a user online and the last one gone (after the grace
//! period) offline. With a backplane, arriving on and leaving this process
//! are told to the cluster's registry ([`SharedPresence`]) in the order they
//! happened, by one task, and only the cluster's first arrival and last
//! departure are announced; the same task beats this process's heartbeat
//! and takes dead processes' users offline. Who is online elsewhere is
//! mirrored here from the announcements and re-read at every beat, so
//! asking stays a memory read.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use chrono::{DateTime, Utc};

use crate::auth::Principal;
use crate::backplane::{HEARTBEAT_EVERY, SharedPresence};
use crate::domain::{Page, User, UserId, UserListing};
use crate::error::AppError;
use crate::hub::{Audience, Event, Hub};
use crate::store::{Store, now};

/// `lastActive` is written at most this often per user while active.
const LAST_ACTIVE_EVERY: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// Accounts active this recently count as "recently active".
pub const RECENTLY_ACTIVE: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// The presence registry. Cheap to clone.
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
    /// The cluster's registry and the ordered queue to the task that tells
    /// it, with a backplane.
    shared: Option<(SharedPresence, mpsc::UnboundedSender<Change>)>,
    /// The task's end of the queue, taken by [`Presence::start`].
    pending: Mutex<Option<mpsc::UnboundedReceiver<Change>>>,
    /// Users online anywhere, as last announced or read from the cluster's
    /// registry.
    cluster_online: Mutex<HashSet<UserId>>,
}

/// A user arrived on or left this process (after the grace period).
enum Change {
    Arrived(UserId),
    Left(UserId),
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
    /// An empty registry; with `shared`, the cluster's (see [`start`](Self::start)).
    pub fn new(
        store: Arc<dyn Store>,
        hub: Hub,
        grace: Duration,
        shared: Option<SharedPresence>,
    ) -> Self {
        let (shared, pending) = match shared {
            Some(shared) => {
                let (changes, pending) = mpsc::unbounded_channel();
                (Some((shared, changes)), Some(pending))
            }
            None => (None, None),
        };
        Presence {
            inner: Arc::new(Inner {
                store,
                hub,
                grace,
                users: Mutex::new(HashMap::new()),
                last_written: Mutex::new(HashMap::new()),
                shared,
                pending: Mutex::new(pending),
                cluster_online: Mutex::new(HashSet::new()),
            }),
        }
    }

    /// Starts the task that keeps the cluster's registry (with a backplane
    /// only; `None` otherwise, or when started before).
    pub fn start(&self) -> Option<JoinHandle<()>> {
        let (shared, _) = self.inner.shared.clone()?;
        let changes = lock(&self.inner.pending).take()?;
        let presence = self.clone();
        Some(tokio::spawn(async move {
            presence.keep_cluster_registry(shared, changes).await;
        }))
    }

    /// Hands a change to the cluster's task, or (alone) announces it.
    fn changed(&self, change: Change) {
        match &self.inner.shared {
            Some((_, changes)) => {
                let _ = changes.send(change);
            }
            None => {
                let presence = self.clone();
                tokio::spawn(async move {
                    match change {
                        Change::Arrived(user) => presence.announce(&user, true).await,
                        Change::Left(user) => presence.announce(&user, false).await,
                    }
                });
            }
        }
    }

    /// The cluster task: tells the registry each change in order, announces
    /// the cluster's first arrivals and last departures, beats, sweeps.
    async fn keep_cluster_registry(
        self,
        shared: SharedPresence,
        mut changes: mpsc::UnboundedReceiver<Change>,
    ) {
        let mut beat = tokio::time::interval(HEARTBEAT_EVERY);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Set when the registry may disagree with this process (a change
        // it could not take): the next beat that reaches Redis resyncs.
        let mut out_of_sync = true;
        loop {
            tokio::select! {
                change = changes.recv() => {
                    let Some(change) = change else { return };
                    let (user, online, told) = match change {
                        Change::Arrived(user) => {
                            let told = shared.join(&user).await.map(|joined| {
                                out_of_sync |= joined.registered_anew;
                                joined.first
                            });
                            (user, true, told)
                        }
                        Change::Left(user) => {
                            let told = shared.leave(&user).await;
                            (user, false, told)
                        }
                    };
                    match told {
                        Ok(true) => self.announce(&user, online).await,
                        Ok(false) => {}
                        Err(error) => {
                            // Redis is away: this process announces what
                            // it sees, and resyncs the registry later.
                            tracing::debug!(%error, "presence: cluster registry unavailable");
                            out_of_sync = true;
                            self.announce(&user, online).await;
                        }
                    }
                }
                _ = beat.tick() => {
                    match self.beat(&shared, out_of_sync).await {
                        Ok(()) => out_of_sync = false,
                        Err(error) => {
                            tracing::debug!(%error, "presence: heartbeat not delivered");
                            out_of_sync = true;
                            lock(&self.inner.cluster_online).clear();
                        }
                    }
                }
            }
        }
    }

    /// Proves this process alive, rejoins its users when the registry lost
    /// them, takes dead processes' users offline, and refreshes the mirror.
    async fn beat(&self, shared: &SharedPresence, out_of_sync: bool) -> Result<(), AppError> {
        let registered_anew = shared.heartbeat().await?;
        if registered_anew || out_of_sync {
            let here: HashSet<UserId> = self.online_here().into_iter().collect();
            let held: HashSet<UserId> = shared.held_here().await?.into_iter().collect();
            for user in here.difference(&held) {
                if shared.join(user).await?.first {
                    self.announce(user, true).await;
                }
            }
            for user in held.difference(&here) {
                if shared.leave(user).await? {
                    self.announce(user, false).await;
                }
            }
        }
        let gone = shared.sweep().await?;
        if !gone.is_empty() {
            tracing::info!(
                users = gone.len(),
                "presence: a server process stopped beating; its users are offline"
            );
        }
        for user in gone {
            self.announce(&user, false).await;
        }
        let online = shared.online().await?;
        *lock(&self.inner.cluster_online) = online.into_iter().collect();
        Ok(())
    }

    /// A user was announced online or offline (here, or by another process).
    pub fn heard(&self, user: &UserId, online: bool) {
        let mut cluster_online = lock(&self.inner.cluster_online);
        if online {
            cluster_online.insert(user.clone());
        } else {
            cluster_online.remove(user);
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
            self.changed(Change::Arrived(user.clone()));
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
                presence.changed(Change::Left(user));
            }
        });
    }

    /// True while the user has a live connection (or is within the grace
    /// period of their last one), here or on another process.
    pub fn is_online(&self, user: &UserId) -> bool {
        self.inner
            .users()
            .get(user)
            .is_some_and(|entry| entry.announced)
            || lock(&self.inner.cluster_online).contains(user)
    }

    /// Everyone online now, on any process.
    pub fn online_users(&self) -> Vec<UserId> {
        let mut online: HashSet<UserId> = self.online_here().into_iter().collect();
        online.extend(lock(&self.inner.cluster_online).iter().cloned());
        online.into_iter().collect()
    }

    /// Everyone online on this process.
    fn online_here(&self) -> Vec<UserId> {
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
                users.retain(|user| {
                    let at = user.cursor();
                    (at.key, at.id) > after
                });
            }
            return Ok(Page::from_rows(users, listing.first, User::cursor));
        }
        let rows = self
            .inner
            .store
            .list_users(listing.after.as_ref(), listing.first + 1)
            .await?;
        let mut page = Page::from_rows(rows, listing.first, User::cursor);
        if listing.online == Some(false) {
            page.items.retain(|user| !self.is_online(&user.id));
        }
        Ok(page)
    }

    /// How many accounts the presence list holds with this `online` filter,
    /// whatever its cursor and page size (admins). Without the filter, the
    /// store counts the accounts. Who is online is read from memory: this
    /// process's connections and, in a cluster, the registry mirrored at the
    /// last heartbeat and announcement. So `online: true` counts who is
    /// online anywhere as this process knows it now (exact alone; in a
    /// cluster it may lag a heartbeat behind another process), and
    /// `online: false` is the accounts counted by the store minus that
    /// number, as exact.
    ///
    /// # Errors
    /// `FORBIDDEN` for non-admins; `UNAVAILABLE` when the store is down.
    pub async fn count_users(
        &self,
        principal: &Principal,
        online: Option<bool>,
    ) -> Result<u64, AppError> {
        principal.require_admin()?;
        let online_now = || self.online_users().len() as u64;
        Ok(match online {
            Some(true) => online_now(),
            Some(false) => {
                let accounts = self.inner.store.count_users().await?;
                accounts.saturating_sub(online_now())
            }
            None => self.inner.store.count_users().await?,
        })
    }

    /// Records activity; writes `lastActive` at most once a minute per user.
    pub async fn touch(&self, user: &UserId) {
        let at = now();
        let due = {
            let mut written = lock(&self.inner.last_written);
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
        self.heard(user, online);
    }

    async fn write_last_active(&self, user: &UserId, at: DateTime<Utc>) {
        if let Err(error) = self.inner.store.touch_last_active(user, at).await {
            tracing::warn!(%error, "lastActive not written");
        }
    }
}

/// Locks a map only touched by short, non-panicking sections (a poisoned
/// one still holds a consistent map).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Inner {
    fn users(&self) -> MutexGuard<'_, HashMap<UserId, Entry>> {
        lock(&self.users)
    }
}
