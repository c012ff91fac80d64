//! The event log on SQLite: [`EventLogStore`] for [`SqliteStore`], the
//! `events` row and its SQL. Positions are the table's `INTEGER PRIMARY KEY`,
//! handed out by the chat journal (`journal.rs`) of the process that owns
//! the file, for chat messages and for the writer's appends alike; the
//! audience is a JSON list filtered with `json_each`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::chat_rows::EventInsert;
use super::journal::Journal;
use super::statements::execute;
use super::writer::entry_position;
use super::{SqliteStore, classify, not_the_owner, stored, text, timestamp};
use crate::domain::{Position, UserId};
use crate::store::{
    EventLogStore, EventScope, LogBounds, LogEntry, LogQuery, NewLogEntry, StoreResult,
};

/// A position as SQLite stores it (an `INTEGER` is signed).
fn position_number(position: Position) -> i64 {
    i64::try_from(position.value()).unwrap_or(i64::MAX)
}

sqlite_row! {
    struct EventRow {
        position: i64,
        at: String,
        kind: String,
        everyone: bool,
        admins: bool,
        users: String,
        payload: String,
    }
}

impl EventRow {
    fn into_entry(self) -> StoreResult<LogEntry> {
        let users: Vec<String> = stored(serde_json::from_str(&self.users), "event audience")?;
        Ok(LogEntry {
            position: Position::new(stored(u64::try_from(self.position), "position")?),
            entry: NewLogEntry {
                at: timestamp(&self.at)?,
                kind: self.kind,
                scope: EventScope {
                    everyone: self.everyone,
                    admins: self.admins,
                    users: users
                        .iter()
                        .map(|id| stored(UserId::parse(id), "user id"))
                        .collect::<StoreResult<_>>()?,
                },
                payload: self.payload,
            },
        })
    }
}

/// Appends `row` (on the writer thread) at the journal's next position,
/// and returns it.
pub(super) fn append_entry(
    row: &EventInsert,
    connection: &rusqlite::Connection,
    journal: &Journal,
) -> StoreResult<Position> {
    let position = entry_position(journal, connection)?;
    row.run_at(connection, position.value())?;
    Ok(position)
}

#[async_trait]
impl EventLogStore for SqliteStore {
    async fn append_events(&self, entries: &[NewLogEntry]) -> StoreResult<Vec<Position>> {
        let rows = entries
            .iter()
            .map(EventInsert::of)
            .collect::<StoreResult<Vec<_>>>()?;
        // One write on the one writer: positions are handed out in commit
        // order, so a reader never sees `n` before `n - 1`.
        let Some(journal) = self.writer.journal() else {
            return Err(not_the_owner());
        };
        self.writer
            .write(move |c| {
                rows.iter()
                    .map(|row| append_entry(row, c, &journal))
                    .collect()
            })
            .await
    }

    async fn read_events(&self, query: &LogQuery) -> StoreResult<Vec<LogEntry>> {
        self.writer.settle().await?;
        let (reader, admin) = match &query.reader {
            Some(reader) => (Some(reader.user.as_str()), reader.admin),
            None => (None, true),
        };
        let rows: Vec<EventRow> = sqlx::query_as(
            "SELECT position, at, kind, everyone, admins, users, payload FROM events \
             WHERE position > ?1 AND position <= ?2 \
               AND (?3 IS NULL OR everyone = 1 OR (admins = 1 AND ?4) \
                    OR EXISTS (SELECT 1 FROM json_each(events.users) WHERE value = ?3)) \
             ORDER BY position LIMIT ?5",
        )
        .bind(position_number(query.after))
        .bind(position_number(query.up_to))
        .bind(reader)
        .bind(admin)
        .bind(i64::try_from(query.limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows.into_iter().map(EventRow::into_entry).collect()
    }

    async fn event_log_bounds(&self) -> StoreResult<LogBounds> {
        self.writer.settle().await?;
        let (first, head): (Option<i64>, Option<i64>) =
            sqlx::query_as("SELECT MIN(position), MAX(position) FROM events")
                .fetch_one(&self.pool)
                .await
                .map_err(classify)?;
        let position = |value: i64| stored(u64::try_from(value), "position").map(Position::new);
        Ok(LogBounds {
            first: first.map(position).transpose()?,
            head: head.map(position).transpose()?.unwrap_or(Position::START),
        })
    }

    async fn trim_events(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let before = text(before);
        let trimmed = self
            .writer
            .write(move |c| {
                execute(
                    c,
                    // In position order, up to the first event young
                    // enough to keep (positions are handed out in time
                    // order); the newest event always stays, so that its
                    // position is never handed out again.
                    "DELETE FROM events WHERE position < COALESCE( \
                       (SELECT position FROM events WHERE at >= ?1 ORDER BY position LIMIT 1), \
                       (SELECT MAX(position) FROM events))",
                    [before],
                )
            })
            .await?;
        Ok(trimmed as u64)
    }
}
