//! The event log: every event a client can miss gets a position in the
//! store, and reaches the hub in position order.
//!
//! One task per process owns both directions. It appends what this
//! process's services record (the requests that arrived meanwhile in one
//! store call), and it publishes logged events to the hub strictly in
//! position order, without gaps: its own events as soon as they are
//! written (and relayed to the other processes at that moment, whatever
//! this one still waits for), events written by other processes sharing the
//! store as soon as the backplane brings them ([`EventLog::arrived`]), or
//! when it reads them from the store (every [`POLL_EVERY`], and when an
//! event's predecessor has not arrived within [`HOLE_WAIT`]). A store
//! write that appended its own entry (a chat message) publishes it from the
//! writer's task when it is next in line, without a hop to the log's task;
//! both go through one lock on the order of publication. Because
//! the hub only ever sees the log's order, a connection can replay from the
//! store up to [`EventLog::head`] and continue from the hub with no gap and
//! no duplicate.
//!
//! The store is the source of truth. When it cannot be written, the event
//! still goes out live (without a position), the failure is logged, and the
//! write that caused it (already stored) stands: clients that were connected
//! see it; a client that was away refetches.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::auth::Principal;
use crate::domain::Position;
use crate::error::AppError;
use crate::hub::{Audience, Event, Hub, Published, codec};
use crate::store::{LogEntry, LogQuery, LogReader, NewLogEntry, Store, StoreResult, now};

/// How often the log is read for events other processes wrote.
const POLL_EVERY: Duration = Duration::from_millis(500);

/// How long a hole in the positions may stay before it is skipped. Appends
/// become visible in position order, so a hole only lasts while another
/// process's write is in flight; one older than this is a bug or a lost
/// write, and waiting longer would hold up every event behind it.
const GAP_PATIENCE: Duration = Duration::from_secs(5);

/// How long an event another process wrote may wait, held back, for the
/// one before it to arrive through the backplane before the store is read
/// for it (events of several writers can cross on the way).
const HOLE_WAIT: Duration = Duration::from_millis(10);

/// Most events held back waiting for a missing predecessor; beyond this,
/// newer arrivals are left to the store reads.
const AHEAD_LIMIT: usize = 8192;

/// Most events appended or read in one store call.
const BATCH: usize = 256;

/// Requests queued for the appender before `record` waits.
const QUEUE: usize = 4096;

/// A position a client sent back that the log cannot continue from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResyncReason {
    /// Never handed out (forged, or from another deployment).
    Unknown,
    /// Older than the retention window: the events after it are gone.
    Expired,
    /// The log could not be read just now; refetching is the safe choice.
    Unavailable,
}

impl ResyncReason {
    /// The reason as clients read it.
    pub fn as_str(self) -> &'static str {
        match self {
            ResyncReason::Unknown => "unknown_position",
            ResyncReason::Expired => "position_expired",
            ResyncReason::Unavailable => "log_unavailable",
        }
    }
}

/// A page of the log for a polling client.
#[derive(Debug)]
pub struct EventPage {
    /// What the reader may see, oldest first.
    pub events: Vec<Arc<Published>>,
    /// Where the next page starts, when this one is full.
    pub next_cursor: Option<Position>,
    /// The head when the page was read: where to continue from once the
    /// pages run out.
    pub head: Position,
}

/// The event log service. Cheap to clone.
#[derive(Clone)]
pub struct EventLog {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    hub: Hub,
    /// The newest position published to the hub: a replay reads up to here.
    /// Moved only under `order`'s lock; read without it.
    published: AtomicU64,
    /// What is held back for its turn. Locked only by code that does not
    /// wait: the appender, and a sender publishing its own event that is
    /// next in line ([`EventLog::logged`]).
    order: std::sync::Mutex<Order>,
    requests: mpsc::Sender<Record>,
    /// Logged events other processes wrote, as the backplane brings them.
    arrivals: mpsc::Sender<Published>,
    /// Events whose entry a store write of this process appended itself
    /// ([`EventLog::logged`]).
    written: mpsc::Sender<Published>,
    /// The appender's ends, taken by [`EventLog::start`].
    pending: Mutex<Option<Receivers>>,
}

/// Logged events held back until their predecessors are published.
#[derive(Default)]
struct Order {
    /// Logged events waiting for their predecessor, by position: other
    /// processes' as the backplane brought them, and this one's own when
    /// another process or a concurrent write took the position before.
    ahead: BTreeMap<u64, Published>,
    /// When the hole at `published + 1` was first seen.
    gap_since: Option<Instant>,
}

/// The appender's ends of its queues.
struct Receivers {
    requests: mpsc::Receiver<Record>,
    arrivals: mpsc::Receiver<Published>,
    written: mpsc::Receiver<Published>,
}

/// One event to append, and who waits for its position.
struct Record {
    audience: Audience,
    event: Event,
    entry: NewLogEntry,
    done: oneshot::Sender<Option<Position>>,
}

impl EventLog {
    /// The service; nothing is appended or published before [`start`](Self::start).
    pub fn new(store: Arc<dyn Store>, hub: Hub) -> Self {
        let (requests, pending_requests) = mpsc::channel(QUEUE);
        let (arrivals, pending_arrivals) = mpsc::channel(QUEUE);
        let (written, pending_written) = mpsc::channel(QUEUE);
        EventLog {
            inner: Arc::new(Inner {
                store,
                hub,
                published: AtomicU64::new(0),
                order: std::sync::Mutex::default(),
                requests,
                arrivals,
                written,
                pending: Mutex::new(Some(Receivers {
                    requests: pending_requests,
                    arrivals: pending_arrivals,
                    written: pending_written,
                })),
            }),
        }
    }

    /// Reads the head of the log and starts the task that appends and
    /// publishes. Events already in the log are history: connections replay
    /// them, the hub never carries them.
    ///
    /// # Errors
    /// `UNAVAILABLE` when the store cannot be read; `INTERNAL` when started twice.
    pub async fn start(&self) -> Result<JoinHandle<()>, AppError> {
        let Some(receivers) = self.inner.pending.lock().await.take() else {
            return Err(AppError::Internal(anyhow::anyhow!(
                "the event log was started twice"
            )));
        };
        let head = self.inner.store.event_log_bounds().await?.head;
        self.inner.published.store(head.value(), Ordering::Release);
        let inner = self.inner.clone();
        Ok(tokio::spawn(async move {
            Appender {
                inner,
                hole_deadline: None,
            }
            .run(receivers)
            .await;
        }))
    }

    /// Logs a missable event and publishes it with its position, after
    /// every event before it. Returns the position (`None` when the store
    /// could not take it: it was published live, without one). Live-only
    /// events are published at once.
    pub async fn record(&self, audience: Audience, event: Event) -> Option<Position> {
        let Some(payload) = codec::encode(&event) else {
            self.inner.hub.publish(audience, event);
            return None;
        };
        let entry = NewLogEntry {
            at: now(),
            kind: event.kind().to_owned(),
            scope: codec::scope(&audience),
            payload,
        };
        let (done, position) = oneshot::channel();
        let record = Record {
            audience,
            event,
            entry,
            done,
        };
        if let Err(mpsc::error::SendError(record)) = self.inner.requests.send(record).await {
            // Only when the appender is gone (shutdown): live is all there is.
            self.inner.hub.publish(record.audience, record.event);
            return None;
        }
        position.await.ok().flatten()
    }

    /// The log entry of `event`, for a store write that appends it in the
    /// same transaction as the change it reports (a chat message:
    /// [`MessageStore::insert_logged_message`](crate::store::MessageStore::insert_logged_message)),
    /// then hands the position to [`logged`](Self::logged). `None` for a
    /// live-only event.
    pub fn entry(&self, audience: &Audience, event: &Event) -> Option<NewLogEntry> {
        Some(NewLogEntry {
            at: now(),
            kind: event.kind().to_owned(),
            scope: codec::scope(audience),
            payload: codec::encode(event)?,
        })
    }

    /// Publishes an event whose [`entry`](Self::entry) a store write
    /// appended at its position: relayed to the other processes at once, and
    /// published here in position order, as [`record`](Self::record)
    /// publishes. Without a position (the log could not take it) it goes
    /// out live.
    ///
    /// An event next in line (the usual case: positions are handed out in
    /// the order the writes are made) is published from the caller's task,
    /// under the order's lock. Handing it to the appender's task instead
    /// cost a task wake-up, often a thread's, per chat message (W1 of
    /// BENCHMARKS.md). One behind a hole waits in the appender's queue for
    /// its turn.
    pub async fn logged(&self, event: Published) {
        if event.position.is_none() {
            self.inner.hub.publish(event.audience, event.event);
            return;
        }
        self.inner.hub.relay(&event);
        let event = {
            let mut order = self.inner.order();
            if event.position == Some(self.inner.published().next()) {
                self.inner.publish(event);
                self.inner.publish_held(&mut order);
                return;
            }
            event
        };
        if let Err(mpsc::error::SendError(event)) = self.inner.written.send(event).await {
            // Only when the appender is gone (shutdown): live is all there is.
            self.inner.hub.deliver(event);
        }
    }

    /// A logged event another process wrote, as the backplane brought it:
    /// published here in position order, once. Never waits; when the queue
    /// is full the event is left to the next read of the store.
    pub fn arrived(&self, event: Published) {
        if let Some(position) = event.position {
            self.inner.store.position_taken(position);
        }
        if self.inner.arrivals.try_send(event).is_err() {
            crate::metrics::backplane_dropped("event_log");
        }
    }

    /// The newest position published to this process's hub. A connection
    /// that subscribed to the hub before reading this gets every later
    /// event live; the ones up to here it reads from the store.
    pub fn head(&self) -> Position {
        Position::new(self.inner.published.load(Ordering::Acquire))
    }

    /// Reads back what `reader` may see after `after`, up to `up_to`, oldest
    /// first, at most `limit` events.
    ///
    /// # Errors
    /// `UNAVAILABLE` when the store cannot be read.
    pub async fn replay(
        &self,
        reader: &Principal,
        after: Position,
        up_to: Position,
        limit: usize,
    ) -> Result<Vec<Arc<Published>>, AppError> {
        if after >= up_to {
            return Ok(Vec::new());
        }
        let entries = self
            .inner
            .store
            .read_events(&LogQuery {
                after,
                up_to,
                reader: Some(LogReader {
                    user: reader.user_id.clone(),
                    admin: reader.is_admin(),
                }),
                limit,
            })
            .await?;
        Ok(entries
            .into_iter()
            .filter_map(decoded)
            .map(Arc::new)
            .collect())
    }

    /// One page of what `reader` may see after `after`, for polling clients
    /// (REST `GET /events`). Without `after` the page is empty: the client
    /// starts from the head it is given.
    ///
    /// # Errors
    /// `RESYNC_REQUIRED` for a position the log cannot continue from;
    /// `UNAVAILABLE` when the store is down.
    pub async fn page(
        &self,
        reader: &Principal,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> Result<EventPage, AppError> {
        let limit = crate::domain::page_size(limit);
        let head = self.head();
        let Some(after) = after else {
            return Ok(EventPage {
                events: Vec::new(),
                next_cursor: None,
                head,
            });
        };
        let after = self
            .resume_point(after)
            .await?
            .map_err(|reason| AppError::ResyncRequired(reason.as_str()))?;
        let events = self.replay(reader, after, head, limit).await?;
        let next_cursor = (events.len() == limit)
            .then(|| events.last().and_then(|event| event.position))
            .flatten();
        Ok(EventPage {
            events,
            next_cursor,
            head,
        })
    }

    /// The position a client sent back, if the log can continue after it:
    /// it was handed out, and the events after it are still kept. Every
    /// door's resume goes through here.
    ///
    /// # Errors
    /// `UNAVAILABLE` when the store cannot be read.
    pub async fn resume_point(
        &self,
        raw: &str,
    ) -> Result<Result<Position, ResyncReason>, AppError> {
        let Ok(after) = Position::parse(raw) else {
            return Ok(Err(ResyncReason::Unknown));
        };
        let bounds = self.inner.store.event_log_bounds().await?;
        if after > bounds.head.max(self.head()) {
            return Ok(Err(ResyncReason::Unknown));
        }
        let kept = match bounds.first {
            Some(first) => after.next() >= first,
            None => after == Position::START,
        };
        Ok(if kept {
            Ok(after)
        } else {
            Err(ResyncReason::Expired)
        })
    }

    /// Drops events older than the retention window (the janitor calls it).
    ///
    /// # Errors
    /// `UNAVAILABLE` when the store cannot be written.
    pub async fn trim(&self, retention: Duration) -> Result<u64, AppError> {
        let retention = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
        let before = now()
            .checked_sub_signed(retention)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        Ok(self.inner.store.trim_events(before).await?)
    }
}

/// A stored event as the hub carries it; `None` (logged) for a row this
/// server cannot read.
fn decoded(entry: LogEntry) -> Option<Published> {
    match codec::decode(&entry.entry.kind, &entry.entry.payload) {
        Ok(event) => Some(Published::new(
            Some(entry.position),
            entry.entry.at,
            codec::audience(&entry.entry.scope),
            event,
        )),
        Err(error) => {
            tracing::error!(%error, position = %entry.position, "skipping an unreadable logged event");
            None
        }
    }
}

/// A record whose entry went to the store: what is published once it has
/// a position, and who waits for that position.
struct Waiting {
    at: chrono::DateTime<chrono::Utc>,
    audience: Audience,
    event: Event,
    done: oneshot::Sender<Option<Position>>,
}

/// A batch of appends on its way to the store.
type Write = Pin<Box<dyn Future<Output = StoreResult<Vec<Position>>> + Send>>;

/// Sleeps until `deadline` (a select branch guarded by `is_some`).
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    if let Some(deadline) = deadline {
        tokio::time::sleep_until(deadline).await;
    }
}

/// The task that appends and publishes.
struct Appender {
    inner: Arc<Inner>,
    /// When to stop waiting for the predecessor of what `Order` holds back
    /// and read the store.
    hole_deadline: Option<tokio::time::Instant>,
}

impl Appender {
    async fn run(mut self, receivers: Receivers) {
        let Receivers {
            mut requests,
            mut arrivals,
            mut written,
        } = receivers;
        let mut poll = tokio::time::interval(POLL_EVERY);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The batch being written: while the store works on it, what other
        // processes wrote is still published as it arrives.
        let mut writing: Option<(Write, Vec<Waiting>)> = None;
        loop {
            let hole_deadline = self.hole_deadline;
            tokio::select! {
                Some(event) = arrivals.recv() => {
                    self.hold(event);
                    while let Ok(event) = arrivals.try_recv() {
                        self.hold(event);
                    }
                    self.publish_held();
                }
                Some(event) = written.recv() => {
                    // Relayed already (`logged`).
                    self.hold(event);
                    while let Ok(event) = written.try_recv() {
                        self.hold(event);
                    }
                    self.publish_held();
                }
                () = sleep_until(hole_deadline), if hole_deadline.is_some() => {
                    let last = self.inner.last_held();
                    self.catch_up(last).await;
                    self.hole_deadline = None;
                    self.publish_held();
                }
                written = async {
                    match writing.as_mut() {
                        Some((write, _)) => write.await,
                        None => std::future::pending().await,
                    }
                }, if writing.is_some() => {
                    if let Some((_, waiting)) = writing.take() {
                        self.written(written, waiting).await;
                    }
                }
                first = requests.recv(), if writing.is_none() => {
                    let Some(first) = first else { return };
                    let mut batch = vec![first];
                    while batch.len() < BATCH {
                        match requests.try_recv() {
                            Ok(record) => batch.push(record),
                            Err(_) => break,
                        }
                    }
                    writing = Some(self.write(batch));
                }
                _ = poll.tick() => {
                    self.catch_up(Position::new(u64::MAX)).await;
                    self.publish_held();
                }
            }
        }
    }

    /// An event this process logged: the other processes hear of it at
    /// once, whatever this one still waits for (a writer that held its
    /// events back would hold up every process behind it); here it waits
    /// for its turn.
    fn hold_own(&mut self, event: Published) {
        self.inner.hub.relay(&event);
        self.hold(event);
    }

    /// Holds a logged event until its turn comes.
    fn hold(&mut self, event: Published) {
        let Some(position) = event.position else {
            return;
        };
        let mut order = self.inner.order();
        if position > self.inner.published() && order.ahead.len() < AHEAD_LIMIT {
            order.ahead.insert(position.value(), event);
        }
    }

    /// Publishes the held events that are next in line; when a hole stays
    /// in front of the rest, the store is read for it after [`HOLE_WAIT`].
    fn publish_held(&mut self) {
        let still_held = {
            let mut order = self.inner.order();
            self.inner.publish_held(&mut order);
            !order.ahead.is_empty()
        };
        self.hole_deadline = match (still_held, self.hole_deadline) {
            (false, _) => None,
            (true, Some(deadline)) => Some(deadline),
            (true, None) => Some(tokio::time::Instant::now() + HOLE_WAIT),
        };
    }

    /// Starts writing a batch.
    fn write(&self, batch: Vec<Record>) -> (Write, Vec<Waiting>) {
        let (entries, waiting): (Vec<NewLogEntry>, Vec<Waiting>) = batch
            .into_iter()
            .map(|record| {
                let waiting = Waiting {
                    at: record.entry.at,
                    audience: record.audience,
                    event: record.event,
                    done: record.done,
                };
                (record.entry, waiting)
            })
            .unzip();
        let store = self.inner.store.clone();
        let write = Box::pin(async move { store.append_events(&entries).await });
        (write, waiting)
    }

    /// A batch was written: relays it to the other processes, publishes it
    /// here after whatever other processes wrote before it, and tells each
    /// caller its position.
    async fn written(&mut self, result: StoreResult<Vec<Position>>, waiting: Vec<Waiting>) {
        match result {
            Ok(positions) => {
                let mut written = Vec::with_capacity(positions.len());
                for (record, position) in waiting.into_iter().zip(positions) {
                    self.hold_own(Published::new(
                        Some(position),
                        record.at,
                        record.audience,
                        record.event,
                    ));
                    written.push((record.done, position));
                }
                self.publish_held();
                if self.hole_deadline.is_some() && !self.inner.hub.is_relayed() {
                    // Written before ours by another process, and no
                    // backplane to bring it: it is in the store.
                    let last = self.inner.last_held();
                    self.catch_up(last).await;
                    self.hole_deadline = None;
                    self.publish_held();
                }
                for (done, position) in written {
                    let _ = done.send(Some(position));
                }
            }
            Err(error) => {
                crate::metrics::store_error("event_log");
                tracing::error!(%error, "could not log events; publishing them live only");
                for record in waiting {
                    self.inner.hub.publish(record.audience, record.event);
                    let _ = record.done.send(None);
                }
            }
        }
    }

    /// Publishes what the log holds after the published head, up to
    /// `up_to`, in order, stopping at a hole until it is filled or too old.
    async fn catch_up(&mut self, up_to: Position) {
        loop {
            let after = self.inner.published();
            let entries = match self
                .inner
                .store
                .read_events(&LogQuery {
                    after,
                    up_to,
                    reader: None,
                    limit: BATCH,
                })
                .await
            {
                Ok(entries) => entries,
                Err(error) => {
                    tracing::warn!(%error, "could not read the event log; retrying");
                    return;
                }
            };
            let read = entries.len();
            if !self.inner.publish_read(entries) || read < BATCH {
                return;
            }
        }
    }
}

impl Inner {
    /// The order of publication; poisoning is ignored, as every section
    /// under this lock leaves it consistent.
    fn order(&self) -> MutexGuard<'_, Order> {
        self.order.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn published(&self) -> Position {
        Position::new(self.published.load(Ordering::Acquire))
    }

    /// The newest position held back (the start when none is).
    fn last_held(&self) -> Position {
        Position::new(
            self.order()
                .ahead
                .last_key_value()
                .map_or(0, |(position, _)| *position),
        )
    }

    /// Moves the head first, then publishes: a connection that subscribes
    /// and then reads the head may get this event both from its replay and
    /// live (and drops the second copy by its position), never from neither.
    /// Called with `order` locked, so the head only moves forward.
    fn publish(&self, event: Published) {
        let position = event.position.unwrap_or_default();
        self.published.store(position.value(), Ordering::Release);
        self.hub.deliver(event);
    }

    /// Publishes entries read from the store after the head, in order;
    /// `false` when a hole stops it (until it is filled or too old).
    fn publish_read(&self, entries: Vec<LogEntry>) -> bool {
        let mut order = self.order();
        for entry in entries {
            let next = self.published().next();
            if entry.position < next {
                // A sender published it meanwhile (`EventLog::logged`).
                continue;
            }
            if entry.position != next {
                let since = *order.gap_since.get_or_insert_with(Instant::now);
                if since.elapsed() < GAP_PATIENCE {
                    return false;
                }
                tracing::error!(
                    from = %next,
                    to = %entry.position,
                    "positions missing from the event log; skipping them"
                );
            }
            order.gap_since = None;
            let position = entry.position;
            match decoded(entry) {
                Some(event) => self.publish(event),
                None => self.published.store(position.value(), Ordering::Release),
            }
        }
        true
    }

    /// Publishes the held events that are next in line. A hole in front of
    /// the rest is skipped once it is older than any write in flight can be
    /// (it is not in the store either, or a store read would have filled it).
    fn publish_held(&self, order: &mut Order) {
        while let Some(position) = order.ahead.first_key_value().map(|(position, _)| *position) {
            let published = self.published().value();
            if position > published + 1 {
                let since = *order.gap_since.get_or_insert_with(Instant::now);
                if since.elapsed() < GAP_PATIENCE {
                    break;
                }
                tracing::error!(
                    from = published + 1,
                    to = position,
                    "positions never arrived nor reached the event log; skipping them"
                );
            }
            let Some(event) = order.ahead.remove(&position) else {
                break;
            };
            if position > published {
                order.gap_since = None;
                self.publish(event);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::StreamExt as _;

    use super::*;
    use crate::domain::{ProductId, Role, UserId};
    use crate::hub::HubItem;
    use crate::services::testing::fresh_store;

    /// An event log on a fresh, empty SQLite store, started: what it
    /// publishes can only come from arrivals.
    async fn started_log() -> (EventLog, Hub, tempfile::TempDir) {
        let (store, dir) = fresh_store().await;
        let hub = Hub::default();
        let log = EventLog::new(store, hub.clone());
        let _task = log.start().await.unwrap();
        (log, hub, dir)
    }

    fn written_elsewhere(position: u64) -> Published {
        Published::new(
            Some(Position::new(position)),
            now(),
            Audience::Everyone,
            Event::ProductRemoved(ProductId::generate()),
        )
    }

    #[tokio::test]
    async fn logged_events_are_published_in_position_order_and_the_next_in_line_at_once() {
        let (log, hub, _dir) = started_log().await;
        let mut subscriber = hub.subscribe(&Principal {
            user_id: UserId::generate(),
            role: Role::User,
        });

        // Two writes that took positions 1 and 2 finish in the other order.
        log.logged(written_elsewhere(2)).await;
        assert_eq!(log.head(), Position::START, "2 waits for 1");
        log.logged(written_elsewhere(1)).await;
        assert_eq!(
            log.head(),
            Position::new(1),
            "1 is next in line: published by the caller before it returns"
        );
        let mut published = Vec::new();
        let mut next =
            async || match tokio::time::timeout(Duration::from_secs(2), subscriber.next()).await {
                Ok(Some(HubItem::Event(event))) => event.position.unwrap().value(),
                other => panic!("expected an event, got {other:?}"),
            };
        published.push(next().await);
        published.push(next().await);
        log.logged(written_elsewhere(3)).await;
        assert_eq!(log.head(), Position::new(3), "published before returning");
        published.push(next().await);
        assert_eq!(published, [1, 2, 3]);
    }

    #[tokio::test]
    async fn arrivals_from_other_processes_are_published_in_position_order_once() {
        let (log, hub, _dir) = started_log().await;
        let mut subscriber = hub.subscribe(&Principal {
            user_id: UserId::generate(),
            role: Role::User,
        });

        // Two writers' events crossed on the way, and one came twice.
        for position in [2, 3, 1, 2] {
            log.arrived(written_elsewhere(position));
        }

        let mut published = Vec::new();
        while published.len() < 3 {
            match tokio::time::timeout(Duration::from_secs(2), subscriber.next()).await {
                Ok(Some(HubItem::Event(event))) => {
                    published.push(event.position.unwrap().value());
                }
                other => panic!("expected an event, got {other:?} after {published:?}"),
            }
        }
        assert_eq!(published, [1, 2, 3]);
        assert_eq!(log.head(), Position::new(3));
        // The second copy of 2 and nothing else.
        let more = tokio::time::timeout(Duration::from_millis(300), subscriber.next()).await;
        assert!(more.is_err(), "nothing more is published: {more:?}");

        // An arrival at or before the head is old news.
        log.arrived(written_elsewhere(1));
        let more = tokio::time::timeout(Duration::from_millis(300), subscriber.next()).await;
        assert!(
            more.is_err(),
            "an old position is not published again: {more:?}"
        );
    }
}
