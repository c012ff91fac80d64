//! The chat port: [`MessageStore`] and the [`MessageQuery`] it pages with.
//!
//! Its own trait (and its own file in each adapter) so a change to chat
//! touches chat code only; [`Store`](super::Store) gathers every aggregate.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{NewLogEntry, StoreResult};
use crate::domain::{Conversation, Cursor, Message, MessageId, Position, UserId};

/// A page of messages, newest first, before a position.
#[derive(Debug, Clone)]
pub struct MessageQuery {
    /// Whose messages (sent or received).
    pub participant: UserId,
    /// Only the thread with this peer.
    pub peer: Option<UserId>,
    /// Start strictly before this position (a `MESSAGES_NEWEST` cursor).
    pub before: Option<Cursor>,
    /// How many rows to return at most.
    pub limit: usize,
}

/// Chat messages: storing, paging, seen and delivered marks, and the
/// conversation list.
#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Stores a message (before anything is acknowledged or delivered).
    async fn insert_message(&self, message: &Message) -> StoreResult<()>;
    /// Stores a message and appends `entry`, the log entry of its sending,
    /// returning the entry's position: the chat path's one write. On SQLite
    /// both are one transaction (one commit per message, or fewer, instead
    /// of two). On MongoDB the message is inserted first, then the entry
    /// appended; when only the append fails the message stands and the
    /// answer is `None` (the event then goes out live, without a position,
    /// as any event the log could not take).
    async fn insert_logged_message(
        &self,
        message: &Message,
        entry: &NewLogEntry,
    ) -> StoreResult<Option<Position>>;
    /// Messages of a participant (or of one thread), newest first.
    async fn message_page(&self, query: &MessageQuery) -> StoreResult<Vec<Message>>;
    /// Number of messages of a participant (or of one thread, with `peer`):
    /// what [`message_page`](Self::message_page) walks, counted on the store.
    async fn count_messages(&self, participant: &UserId, peer: Option<&UserId>)
    -> StoreResult<u64>;
    /// Marks `peer`'s unseen messages to `reader` seen; returns their ids.
    async fn mark_seen(
        &self,
        reader: &UserId,
        peer: &UserId,
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<MessageId>>;
    /// Messages to `to` not yet handed to any live connection, oldest first.
    async fn undelivered_messages(&self, to: &UserId, limit: usize) -> StoreResult<Vec<Message>>;
    /// One message by id (an idempotent retry finds the one it sent).
    async fn message_by_id(&self, id: &MessageId) -> StoreResult<Option<Message>>;
    /// The messages with these ids that exist, in any order (the messages a
    /// read receipt marked; a batch of lookups by id).
    async fn messages_by_ids(&self, ids: &[MessageId]) -> StoreResult<Vec<Message>>;
    /// Records that these messages reached a live connection.
    async fn mark_delivered(&self, ids: &[MessageId]) -> StoreResult<()>;
    /// The user's conversations, most recent first (at most `limit`),
    /// strictly after `after` (a `CONVERSATIONS_NEWEST` cursor: the time and
    /// id of a conversation's latest message) when given.
    async fn conversations(
        &self,
        user: &UserId,
        after: Option<&Cursor>,
        limit: usize,
    ) -> StoreResult<Vec<Conversation>>;
    /// Number of the user's conversations (peers written to or heard from).
    async fn count_conversations(&self, user: &UserId) -> StoreResult<u64>;
    /// Everyone the user has exchanged messages with.
    async fn conversation_peers(&self, user: &UserId) -> StoreResult<Vec<UserId>>;
}
