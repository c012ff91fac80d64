//! The event log on MongoDB: [`EventLogStore`] for [`MongoStore`], the
//! `events` document (`_id` is the position), its queries and its index.
//! Positions come from the log itself: an append inserts at "head + 1" and
//! the unique `_id` makes one of two processes that chose the same number
//! lose and try again (see `append_events`).

use async_trait::async_trait;
use bson::doc;
use bson::oid::ObjectId;
use chrono::{DateTime, Utc};
use mongodb::IndexModel;
use serde::{Deserialize, Serialize};

use super::{MongoStore, chrono, classify, collect, date, object_id, stored, user_id};
use crate::domain::Position;
use crate::store::{
    EventLogStore, EventScope, LogBounds, LogEntry, LogQuery, NewLogEntry, StoreError, StoreResult,
};

/// A logged event; `_id` is its position.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct EventDoc {
    #[serde(rename = "_id")]
    position: i64,
    at: bson::DateTime,
    kind: String,
    everyone: bool,
    admins: bool,
    users: Vec<ObjectId>,
    payload: String,
}

impl EventDoc {
    fn into_entry(self) -> StoreResult<LogEntry> {
        Ok(LogEntry {
            position: Position::new(stored(u64::try_from(self.position), "position")?),
            entry: NewLogEntry {
                at: chrono(self.at),
                kind: self.kind,
                scope: EventScope {
                    everyone: self.everyone,
                    admins: self.admins,
                    users: self.users.iter().map(user_id).collect(),
                },
                payload: self.payload,
            },
        })
    }
}

/// A position as stored (BSON has signed integers only).
fn position_number(position: Position) -> i64 {
    i64::try_from(position.value()).unwrap_or(i64::MAX)
}

impl MongoStore {
    /// The indexes event queries need (created at start-up, idempotently).
    pub(super) async fn create_event_indexes(&self) -> StoreResult<()> {
        self.events
            .create_index(IndexModel::builder().keys(doc! { "at": 1 }).build())
            .await
            .map_err(classify)?;
        Ok(())
    }
}

#[async_trait]
impl EventLogStore for MongoStore {
    async fn append_events(&self, entries: &[NewLogEntry]) -> StoreResult<Vec<Position>> {
        use std::sync::atomic::Ordering;
        // Positions come from the log itself, not from a counter document:
        // an event is inserted at "head + 1", and the unique `_id` makes one
        // of two processes that chose the same number lose and read the head
        // again (or, after a first refusal, tries the number after the one
        // it found taken). A number is therefore only taken by an insert that lands
        // (a counter incremented before a crash would leave a gap forever),
        // and `n` is chosen only after `n - 1` was seen written, so events
        // become visible in position order. Ordered inserts keep that within
        // a batch: they stop at the first refused document.
        const ATTEMPTS: usize = 64;
        let mut positions = Vec::with_capacity(entries.len());
        for attempt in 0..ATTEMPTS {
            if positions.len() == entries.len() {
                break;
            }
            let mut next = self.next_position.load(Ordering::Acquire);
            if next == 0 {
                next = self.event_log_bounds().await?.head.value() + 1;
            }
            let remaining = &entries[positions.len()..];
            let documents: Vec<EventDoc> = remaining
                .iter()
                .enumerate()
                .map(|(offset, entry)| EventDoc {
                    position: position_number(Position::new(next + offset as u64)),
                    at: date(entry.at),
                    kind: entry.kind.clone(),
                    everyone: entry.scope.everyone,
                    admins: entry.scope.admins,
                    users: entry.scope.users.iter().map(object_id).collect(),
                    payload: entry.payload.clone(),
                })
                .collect();
            let inserted = match self.events.insert_many(&documents).ordered(true).await {
                Ok(_) => documents.len(),
                Err(error) => match taken_at(&error) {
                    Some(inserted) => inserted,
                    None => {
                        self.next_position.store(0, Ordering::Release);
                        return Err(classify(error));
                    }
                },
            };
            positions.extend((0..inserted as u64).map(|offset| Position::new(next + offset)));
            let landed = inserted == documents.len();
            let refused = next + inserted as u64;
            self.next_position.store(
                if landed {
                    refused
                } else if attempt < 8 {
                    // Another process took `refused` (seen written): the
                    // next number is the likely free one, without a read.
                    refused + 1
                } else {
                    // Taken again and again: the head ran far; read it.
                    0
                },
                Ordering::Release,
            );
        }
        if positions.len() == entries.len() {
            Ok(positions)
        } else {
            Err(StoreError::Unavailable(anyhow::anyhow!(
                "the event log head kept moving under this process's appends"
            )))
        }
    }

    fn position_taken(&self, position: Position) {
        // Written, so the next number after it is a fair first try.
        self.next_position
            .fetch_max(position.value() + 1, std::sync::atomic::Ordering::AcqRel);
    }

    async fn read_events(&self, query: &LogQuery) -> StoreResult<Vec<LogEntry>> {
        let mut filter = doc! {
            "_id": { "$gt": position_number(query.after), "$lte": position_number(query.up_to) }
        };
        if let Some(reader) = &query.reader {
            let mut visible = vec![
                doc! { "everyone": true },
                doc! { "users": object_id(&reader.user) },
            ];
            if reader.admin {
                visible.push(doc! { "admins": true });
            }
            filter.insert("$or", visible);
        }
        let documents = collect(
            self.events
                .find(filter)
                .sort(doc! { "_id": 1 })
                .limit(i64::try_from(query.limit).unwrap_or(i64::MAX)),
        )
        .await?;
        documents.into_iter().map(EventDoc::into_entry).collect()
    }

    async fn event_log_bounds(&self) -> StoreResult<LogBounds> {
        let end = |direction: i32| async move {
            let found = collect(
                self.events
                    .find(doc! {})
                    .sort(doc! { "_id": direction })
                    .limit(1),
            )
            .await?;
            found
                .first()
                .map(|document| stored(u64::try_from(document.position), "position"))
                .transpose()
                .map(|position| position.map(Position::new))
        };
        Ok(LogBounds {
            first: end(1).await?,
            head: end(-1).await?.unwrap_or(Position::START),
        })
    }

    async fn trim_events(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let head = self.event_log_bounds().await?.head;
        let result = self
            .events
            .delete_many(doc! {
                "at": { "$lt": date(before) },
                "_id": { "$lt": position_number(head) },
            })
            .await
            .map_err(classify)?;
        Ok(result.deleted_count)
    }
}

/// How many documents of an ordered insert landed before one was refused
/// because its position was taken; `None` for any other failure.
fn taken_at(error: &mongodb::error::Error) -> Option<usize> {
    use mongodb::error::ErrorKind;
    const DUPLICATE_KEY: i32 = 11000;
    match error.kind.as_ref() {
        ErrorKind::InsertMany(failure) => {
            let first = failure
                .write_errors
                .as_ref()?
                .iter()
                .min_by_key(|e| e.index)?;
            (first.code == DUPLICATE_KEY && failure.write_concern_error.is_none())
                .then_some(first.index)
        }
        _ => None,
    }
}
