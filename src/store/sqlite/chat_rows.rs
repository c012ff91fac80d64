//! The chat rows: a message and a log entry as the writer inserts them,
//! owned, because they cross to the writer thread or wait in the chat
//! journal (`journal.rs`), which carries one of each per message. Their
//! `INSERT`s are here, once, for the writer, the journal's copies and its
//! replay alike.

use serde::{Deserialize, Serialize};

use super::statements::execute;
use super::text;
use crate::domain::{Message, UserId};
use crate::store::{NewLogEntry, StoreError, StoreResult};

/// One message as the writer inserts it (owned: it crosses to the writer
/// thread, or waits in the chat journal).
#[derive(Serialize, Deserialize)]
pub(super) struct MessageInsert {
    /// Ids begin with their time: the journal compares them as text.
    pub(super) id: String,
    from: String,
    to: String,
    text: String,
    seen_at: Option<String>,
    delivered: i64,
    created_at: String,
}

impl MessageInsert {
    pub(super) fn of(message: &Message) -> Self {
        MessageInsert {
            id: message.id.as_str().to_owned(),
            from: message.from.as_str().to_owned(),
            to: message.to.as_str().to_owned(),
            text: message.text.as_str().to_owned(),
            seen_at: message.seen_at.map(text),
            delivered: i64::from(message.delivered),
            created_at: text(message.created_at),
        }
    }

    /// Delivered before it reached SQLite: it is inserted as delivered, and
    /// never enters the index of undelivered messages.
    pub(super) fn mark_delivered(&mut self) {
        self.delivered = 1;
    }

    pub(super) fn run(&self, connection: &rusqlite::Connection) -> StoreResult<()> {
        self.insert(
            connection,
            "INSERT INTO messages (id, from_id, to_id, text, seen_at, delivered, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
    }

    /// Inserts a journaled message; already there (a journal replayed after
    /// a crash) is no error.
    pub(super) fn run_or_ignore(&self, connection: &rusqlite::Connection) -> StoreResult<()> {
        self.insert(
            connection,
            "INSERT OR IGNORE INTO messages \
             (id, from_id, to_id, text, seen_at, delivered, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
    }

    fn insert(&self, connection: &rusqlite::Connection, sql: &str) -> StoreResult<()> {
        execute(
            connection,
            sql,
            (
                &self.id,
                &self.from,
                &self.to,
                &self.text,
                &self.seen_at,
                self.delivered,
                &self.created_at,
            ),
        )
        .map(drop)
    }

    #[cfg(test)]
    pub(super) fn is_delivered(&self) -> bool {
        self.delivered == 1
    }

    #[cfg(test)]
    pub(super) fn for_test(id: &str) -> Self {
        MessageInsert {
            id: id.into(),
            from: "a".into(),
            to: "b".into(),
            text: "hello".into(),
            seen_at: None,
            delivered: 0,
            created_at: "2026-11-30T00:00:00.000Z".into(),
        }
    }
}

/// One log entry as the writer inserts it (owned: it crosses to the
/// writer thread, or waits in the chat journal).
#[derive(Serialize, Deserialize)]
pub(super) struct EventInsert {
    at: String,
    kind: String,
    everyone: bool,
    admins: bool,
    users: String,
    payload: String,
}

impl EventInsert {
    pub(super) fn of(entry: &NewLogEntry) -> StoreResult<Self> {
        let users: Vec<&str> = entry.scope.users.iter().map(UserId::as_str).collect();
        Ok(EventInsert {
            at: text(entry.at),
            kind: entry.kind.clone(),
            everyone: entry.scope.everyone,
            admins: entry.scope.admins,
            users: serde_json::to_string(&users).map_err(|e| StoreError::Internal(e.into()))?,
            payload: entry.payload.clone(),
        })
    }

    /// Inserts the entry at `position`, given by the journal; already
    /// there (a journal replayed after a crash) is no error.
    pub(super) fn run_at(
        &self,
        connection: &rusqlite::Connection,
        position: u64,
    ) -> StoreResult<()> {
        execute(
            connection,
            "INSERT OR IGNORE INTO events (position, at, kind, everyone, admins, users, payload) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                i64::try_from(position).unwrap_or(i64::MAX),
                &self.at,
                &self.kind,
                self.everyone,
                self.admins,
                &self.users,
                &self.payload,
            ),
        )
        .map(drop)
    }

    #[cfg(test)]
    pub(super) fn for_test() -> Self {
        EventInsert {
            at: "2026-11-30T00:00:00.000Z".into(),
            kind: "message_sent".into(),
            everyone: false,
            admins: false,
            users: "[]".into(),
            payload: "{}".into(),
        }
    }
}
