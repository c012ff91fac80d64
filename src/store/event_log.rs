//! The event-log port: [`EventLogStore`], the entries it keeps
//! ([`NewLogEntry`], [`LogEntry`]) and how a replay reads them
//! ([`LogQuery`], [`LogReader`], [`EventScope`], [`LogBounds`]).
//!
//! Its own trait (and its own file in each adapter) so a change to the log
//! touches log code only; [`Store`](super::Store) gathers every aggregate.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::domain::{Position, UserId};

/// Who may read a logged event: the hub's audience in a form a store can
/// filter on, so a replay reads only what its reader may see.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventScope {
    /// Every client.
    pub everyone: bool,
    /// Every admin.
    pub admins: bool,
    /// These users (each of their connections).
    pub users: Vec<UserId>,
}

/// An event about to be appended to the log.
#[derive(Debug, Clone, PartialEq)]
pub struct NewLogEntry {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// Its kind (`order_placed`, …), for reading the payload back.
    pub kind: String,
    /// Who may read it.
    pub scope: EventScope,
    /// The event itself, encoded by the event log service (the store keeps
    /// it as an opaque string).
    pub payload: String,
}

/// A logged event, read back with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// Where it stands in the log.
    pub position: Position,
    /// The event as it was appended.
    pub entry: NewLogEntry,
}

/// A range of the log, as one reader may see it.
#[derive(Debug, Clone)]
pub struct LogQuery {
    /// Strictly after this position.
    pub after: Position,
    /// Up to this position, inclusive.
    pub up_to: Position,
    /// Only events this reader may see (`None`: every event).
    pub reader: Option<LogReader>,
    /// How many events to return at most.
    pub limit: usize,
}

/// Whose view of the log a replay reads.
#[derive(Debug, Clone)]
pub struct LogReader {
    /// The reader's account.
    pub user: UserId,
    /// Admins also read what is addressed to admins.
    pub admin: bool,
}

/// The ends of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogBounds {
    /// The oldest event still kept (`None` while the log was never written).
    pub first: Option<Position>,
    /// The newest event ([`Position::START`] while the log was never written).
    pub head: Position,
}

/// The event log: gap-free positions shared by every process on the store,
/// replay filtered by reader, and trimming.
#[async_trait]
pub trait EventLogStore: Send + Sync {
    /// Appends events in order and returns their positions, consecutive and
    /// in the order given. Positions are gap-free across every process that
    /// shares the store, and an event becomes visible only after every event
    /// before it: a reader that sees position `n` has seen `n - 1`.
    async fn append_events(&self, entries: &[NewLogEntry]) -> StoreResult<Vec<Position>>;
    /// Another process wrote `position` (the backplane said so): a store
    /// that picks positions by trying the next free one starts after it,
    /// instead of colliding with it first. A hint; nothing else changes.
    fn position_taken(&self, _position: Position) {}
    /// A range of the log, oldest first, filtered to what the reader may see.
    async fn read_events(&self, query: &LogQuery) -> StoreResult<Vec<LogEntry>>;
    /// The oldest kept and the newest event.
    async fn event_log_bounds(&self) -> StoreResult<LogBounds>;
    /// Drops events that happened before `before`, except the newest (which
    /// keeps the head where it is); returns how many were dropped.
    async fn trim_events(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}
