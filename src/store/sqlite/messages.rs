//! Chat on SQLite: [`MessageStore`] for [`SqliteStore`], the `messages` row
//! and its SQL (the conversation list is one windowed query).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use sqlx::sqlite::Sqlite;

use super::chat_rows::{EventInsert, MessageInsert};
use super::event_log::append_entry;
use super::journal::Appended;
use super::statements::classify as classify_written;
use super::writer::copy_journaled;
use super::{
    SqliteStore, by_ids, classify, cursor_mismatch, not_the_owner, push_time_keyset, stored, text,
    timestamp,
};
use crate::domain::{
    Conversation, Cursor, Message, MessageId, MessageText, Position, SortKey, UserId,
};
use crate::store::{MessageQuery, MessageStore, NewLogEntry, StoreResult};

const MESSAGE_COLUMNS: &str = "id, from_id, to_id, text, seen_at, delivered, created_at";

sqlite_row! {
    struct MessageRow {
        id: String,
        from_id: String,
        to_id: String,
        text: String,
        seen_at: Option<String>,
        delivered: i64,
        created_at: String,
    }
}

impl MessageRow {
    fn into_message(self) -> StoreResult<Message> {
        Ok(Message {
            id: stored(MessageId::parse(&self.id), "message id")?,
            from: stored(UserId::parse(&self.from_id), "sender id")?,
            to: stored(UserId::parse(&self.to_id), "recipient id")?,
            text: stored(MessageText::parse(&self.text), "message text")?,
            seen_at: self.seen_at.as_deref().map(timestamp).transpose()?,
            delivered: self.delivered != 0,
            created_at: timestamp(&self.created_at)?,
        })
    }
}

/// The messages of `participant` (with `peer`: of their thread only): what
/// a page reads and a count counts.
fn push_participants(sql: &mut QueryBuilder<Sqlite>, participant: &UserId, peer: Option<&UserId>) {
    let me = participant.as_str().to_owned();
    match peer {
        Some(peer) => {
            let peer = peer.as_str().to_owned();
            sql.push("((from_id = ")
                .push_bind(me.clone())
                .push(" AND to_id = ")
                .push_bind(peer.clone());
            sql.push(") OR (from_id = ")
                .push_bind(peer)
                .push(" AND to_id = ")
                .push_bind(me)
                .push("))");
        }
        None => {
            sql.push("(from_id = ")
                .push_bind(me.clone())
                .push(" OR to_id = ")
                .push_bind(me)
                .push(")");
        }
    }
}

#[async_trait]
impl MessageStore for SqliteStore {
    async fn insert_message(&self, message: &Message) -> StoreResult<()> {
        let row = MessageInsert::of(message);
        let journal = self.writer.journal();
        self.writer
            .write(move |c| {
                // After the journaled ones, which may hold the same id.
                if let Some(journal) = &journal {
                    copy_journaled(journal, c)?;
                }
                row.run(c)?;
                if let Some(journal) = &journal {
                    journal.stored_message(&row.id);
                }
                Ok(())
            })
            .await
    }

    async fn insert_logged_message(
        &self,
        message: &Message,
        entry: &NewLogEntry,
    ) -> StoreResult<Option<Position>> {
        let row = MessageInsert::of(message);
        let logged = EventInsert::of(entry)?;
        let journal = self.writer.journal().ok_or_else(not_the_owner)?;
        // The usual way: journaled, then copied into SQLite by the writer
        // with others (see `journal.rs`).
        let (row, logged) = match journal.append(row, logged)? {
            Appended::Journaled { position, wake } => {
                if wake {
                    self.writer.wake();
                }
                return Ok(Some(position));
            }
            Appended::NotNewest(handed_back) => *handed_back,
        };
        // An id that may already be stored: one write, checked against the
        // table, the message and its log entry committed together.
        self.writer
            .write(move |c| {
                copy_journaled(&journal, c)?;
                row.run(c)?;
                let position = append_entry(&logged, c, &journal)?;
                journal.stored_message(&row.id);
                Ok(Some(position))
            })
            .await
    }

    async fn message_page(&self, query: &MessageQuery) -> StoreResult<Vec<Message>> {
        self.writer.settle().await?;
        let mut sql =
            QueryBuilder::<Sqlite>::new(format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE "));
        push_participants(&mut sql, &query.participant, query.peer.as_ref());
        if let Some(cursor) = &query.before {
            push_time_keyset(&mut sql, cursor, "<")?;
        }
        sql.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(query.limit as i64);
        sql.build_query_as::<MessageRow>()
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?
            .into_iter()
            .map(MessageRow::into_message)
            .collect()
    }

    async fn count_messages(
        &self,
        participant: &UserId,
        peer: Option<&UserId>,
    ) -> StoreResult<u64> {
        self.writer.settle().await?;
        let mut sql = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM messages WHERE ");
        push_participants(&mut sql, participant, peer);
        let (count,): (i64,) = sql
            .build_query_as()
            .fetch_one(&self.pool)
            .await
            .map_err(classify)?;
        Ok(count.max(0) as u64)
    }

    async fn mark_seen(
        &self,
        reader: &UserId,
        peer: &UserId,
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<MessageId>> {
        let params = (
            text(at),
            reader.as_str().to_owned(),
            peer.as_str().to_owned(),
        );
        let ids: Vec<String> = self
            .writer
            .write(move |c| {
                c.prepare_cached(
                    "UPDATE messages SET seen_at = ?1 \
                     WHERE to_id = ?2 AND from_id = ?3 AND seen_at IS NULL RETURNING id",
                )
                .and_then(|mut statement| {
                    statement
                        .query_map(params, |row| row.get(0))?
                        .collect::<rusqlite::Result<Vec<String>>>()
                })
                .map_err(classify_written)
            })
            .await?;
        let mut ids = ids
            .iter()
            .map(|id| stored(MessageId::parse(id), "message id"))
            .collect::<StoreResult<Vec<_>>>()?;
        ids.sort();
        Ok(ids)
    }

    async fn undelivered_messages(&self, to: &UserId, limit: usize) -> StoreResult<Vec<Message>> {
        self.writer.settle().await?;
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE to_id = ? AND delivered = 0 \
             ORDER BY created_at ASC, id ASC LIMIT ?"
        ));
        sqlx::query_as::<_, MessageRow>(sql)
            .bind(to.as_str())
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?
            .into_iter()
            .map(MessageRow::into_message)
            .collect()
    }

    async fn message_by_id(&self, id: &MessageId) -> StoreResult<Option<Message>> {
        self.writer.settle().await?;
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?"
        ));
        sqlx::query_as::<_, MessageRow>(sql)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?
            .map(MessageRow::into_message)
            .transpose()
    }

    async fn messages_by_ids(&self, ids: &[MessageId]) -> StoreResult<Vec<Message>> {
        self.writer.settle().await?;
        by_ids(
            &self.pool,
            MESSAGE_COLUMNS,
            "messages",
            ids,
            MessageRow::into_message,
        )
        .await
    }

    async fn mark_delivered(&self, ids: &[MessageId]) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut ids: Vec<String> = ids.iter().map(|id| id.as_str().to_owned()).collect();
        if let Some(journal) = self.writer.journal() {
            journal.mark_delivered(&mut ids);
            if ids.is_empty() {
                return Ok(());
            }
        }
        // Marks that missed the journal ride with its next copy: a
        // redelivery is all a lost or late mark costs (at-least-once).
        self.writer
            .write_when_due(move |c| {
                let mut statement = c
                    .prepare_cached(
                        "UPDATE messages SET delivered = 1 WHERE id = ? AND delivered = 0",
                    )
                    .map_err(classify_written)?;
                for id in &ids {
                    statement.execute([id]).map_err(classify_written)?;
                }
                Ok(())
            })
            .await
    }

    async fn conversations(
        &self,
        user: &UserId,
        after: Option<&Cursor>,
        limit: usize,
    ) -> StoreResult<Vec<Conversation>> {
        self.writer.settle().await?;
        // Conversations are ordered by their latest message (time, then id),
        // so the cursor is that message's position.
        let after = match after {
            Some(cursor) => {
                let SortKey::Time(at) = &cursor.key else {
                    return Err(cursor_mismatch());
                };
                Some((text(*at), cursor.id.clone()))
            }
            None => None,
        };
        let keyset = if after.is_some() {
            " AND (created_at < ?3 OR (created_at = ?3 AND id < ?4))"
        } else {
            ""
        };
        let sql = sqlx::AssertSqlSafe(format!(
            "WITH mine AS ( \
                 SELECT {MESSAGE_COLUMNS}, CASE WHEN from_id = ?1 THEN to_id ELSE from_id END AS peer \
                 FROM messages WHERE from_id = ?1 OR to_id = ?1 \
             ), ranked AS ( \
                 SELECT *, \
                     ROW_NUMBER() OVER (PARTITION BY peer ORDER BY created_at DESC, id DESC) AS position, \
                     SUM(CASE WHEN to_id = ?1 AND seen_at IS NULL THEN 1 ELSE 0 END) OVER (PARTITION BY peer) AS unread \
                 FROM mine \
             ) \
             SELECT {MESSAGE_COLUMNS}, peer, unread FROM ranked WHERE position = 1{keyset} \
             ORDER BY created_at DESC, id DESC LIMIT ?2"
        ));
        let mut query = sqlx::query(sql).bind(user.as_str()).bind(limit as i64);
        if let Some((at, id)) = after {
            query = query.bind(at).bind(id);
        }
        let rows: Vec<(MessageRow, String, i64)> = query
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?
            .into_iter()
            .map(|row| {
                use sqlx::{FromRow as _, Row as _};
                let message = MessageRow::from_row(&row)?;
                Ok((message, row.try_get("peer")?, row.try_get("unread")?))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(classify)?;
        rows.into_iter()
            .map(|(message, peer, unread)| {
                Ok(Conversation {
                    peer: stored(UserId::parse(&peer), "peer id")?,
                    last_message: message.into_message()?,
                    unread: unread.max(0) as u64,
                })
            })
            .collect()
    }

    async fn count_conversations(&self, user: &UserId) -> StoreResult<u64> {
        self.writer.settle().await?;
        let (count,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM (SELECT to_id FROM messages WHERE from_id = ?1 \
             UNION SELECT from_id FROM messages WHERE to_id = ?1)",
        )
        .bind(user.as_str())
        .fetch_one(&self.pool)
        .await
        .map_err(classify)?;
        Ok(count.max(0) as u64)
    }

    async fn conversation_peers(&self, user: &UserId) -> StoreResult<Vec<UserId>> {
        self.writer.settle().await?;
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT to_id FROM messages WHERE from_id = ?1 UNION SELECT from_id FROM messages WHERE to_id = ?1",
        )
        .bind(user.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        rows.into_iter()
            .map(|(id,)| stored(UserId::parse(&id), "peer id"))
            .collect()
    }
}
