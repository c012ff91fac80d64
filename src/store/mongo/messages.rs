//! Chat on MongoDB: [`MessageStore`] for [`MongoStore`], the `messages`
//! document, its queries (the conversation list is one aggregation) and its
//! indexes.

use async_trait::async_trait;
use bson::oid::ObjectId;
use bson::{Bson, Document, doc};
use chrono::{DateTime, Utc};
use mongodb::IndexModel;
use serde::{Deserialize, Serialize};

use super::{
    MongoStore, by_ids, chrono, classify, collect, cursor_id, cursor_mismatch, date, domain_id,
    number, object_id, stored, time_position,
};
use crate::domain::{
    Conversation, Cursor, Message, MessageId, MessageText, Position, SortKey, UserId,
};
use crate::store::{
    EventLogStore as _, MessageQuery, MessageStore, NewLogEntry, StoreError, StoreResult,
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct MessageDoc {
    #[serde(rename = "_id")]
    id: ObjectId,
    from: ObjectId,
    to: ObjectId,
    text: String,
    seen_at: Option<bson::DateTime>,
    delivered: bool,
    created_at: bson::DateTime,
}

impl MessageDoc {
    fn from_message(message: &Message) -> Self {
        MessageDoc {
            id: object_id(&message.id),
            from: object_id(&message.from),
            to: object_id(&message.to),
            text: message.text.as_str().to_owned(),
            seen_at: message.seen_at.map(date),
            delivered: message.delivered,
            created_at: date(message.created_at),
        }
    }

    fn into_message(self) -> StoreResult<Message> {
        Ok(Message {
            id: domain_id(&self.id),
            from: domain_id(&self.from),
            to: domain_id(&self.to),
            text: stored(MessageText::parse(&self.text), "message text")?,
            seen_at: self.seen_at.map(chrono),
            delivered: self.delivered,
            created_at: chrono(self.created_at),
        })
    }
}

impl MongoStore {
    /// The indexes message queries need (created at start-up, idempotently).
    pub(super) async fn create_message_indexes(&self) -> StoreResult<()> {
        let message_indexes = [
            doc! { "from": 1, "to": 1, "createdAt": -1, "_id": -1 },
            doc! { "to": 1, "from": 1, "createdAt": -1, "_id": -1 },
            doc! { "createdAt": -1, "_id": -1 },
            doc! { "to": 1, "delivered": 1, "createdAt": 1, "_id": 1 },
            doc! { "seenMark": 1 },
        ];
        for keys in message_indexes {
            self.messages
                .create_index(IndexModel::builder().keys(keys).build())
                .await
                .map_err(classify)?;
        }
        Ok(())
    }
}

/// The messages of `participant` (with `peer`: of their thread only): what
/// a page reads and a count counts.
fn participants(participant: &UserId, peer: Option<&UserId>) -> Document {
    let me = object_id(participant);
    match peer {
        Some(peer) => {
            let peer = object_id(peer);
            doc! { "$or": [{ "from": me, "to": peer }, { "from": peer, "to": me }] }
        }
        None => doc! { "$or": [{ "from": me }, { "to": me }] },
    }
}

#[async_trait]
impl MessageStore for MongoStore {
    async fn insert_message(&self, message: &Message) -> StoreResult<()> {
        self.messages
            .insert_one(MessageDoc::from_message(message))
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn insert_logged_message(
        &self,
        message: &Message,
        entry: &NewLogEntry,
    ) -> StoreResult<Option<Position>> {
        self.insert_message(message).await?;
        match self.append_events(std::slice::from_ref(entry)).await {
            Ok(positions) => Ok(positions.first().copied()),
            Err(error) => {
                crate::metrics::store_error("event_log");
                tracing::error!(%error, "could not log a stored message; it goes out live only");
                Ok(None)
            }
        }
    }

    async fn message_page(&self, query: &MessageQuery) -> StoreResult<Vec<Message>> {
        let mut conditions = vec![participants(&query.participant, query.peer.as_ref())];
        if let Some(cursor) = &query.before {
            conditions.push(time_position(cursor, "$lt")?);
        }
        let documents: Vec<MessageDoc> = collect(
            self.messages
                .find(doc! { "$and": conditions })
                .sort(doc! { "createdAt": -1, "_id": -1 })
                .limit(query.limit as i64),
        )
        .await?;
        documents
            .into_iter()
            .map(MessageDoc::into_message)
            .collect()
    }

    async fn count_messages(
        &self,
        participant: &UserId,
        peer: Option<&UserId>,
    ) -> StoreResult<u64> {
        self.messages
            .count_documents(participants(participant, peer))
            .await
            .map_err(classify)
    }

    async fn mark_seen(
        &self,
        reader: &UserId,
        peer: &UserId,
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<MessageId>> {
        // MongoDB cannot return the ids an update_many changed, so each call
        // tags what it marks with its own token and reads the tag back: two
        // concurrent calls never both report one message.
        let mark = ObjectId::new();
        self.messages
            .update_many(
                doc! { "to": object_id(reader), "from": object_id(peer), "seenAt": Bson::Null },
                doc! { "$set": { "seenAt": date(at), "seenMark": mark } },
            )
            .await
            .map_err(classify)?;
        let marked: Vec<MessageDoc> =
            collect(self.messages.find(doc! { "seenMark": mark })).await?;
        let mut ids: Vec<MessageId> = marked
            .iter()
            .map(|message| domain_id(&message.id))
            .collect();
        ids.sort();
        Ok(ids)
    }

    async fn undelivered_messages(&self, to: &UserId, limit: usize) -> StoreResult<Vec<Message>> {
        let documents: Vec<MessageDoc> = collect(
            self.messages
                .find(doc! { "to": object_id(to), "delivered": false })
                .sort(doc! { "createdAt": 1, "_id": 1 })
                .limit(limit as i64),
        )
        .await?;
        documents
            .into_iter()
            .map(MessageDoc::into_message)
            .collect()
    }

    async fn message_by_id(&self, id: &MessageId) -> StoreResult<Option<Message>> {
        self.messages
            .find_one(doc! { "_id": object_id(id) })
            .await
            .map_err(classify)?
            .map(MessageDoc::into_message)
            .transpose()
    }

    async fn messages_by_ids(&self, ids: &[MessageId]) -> StoreResult<Vec<Message>> {
        by_ids(&self.messages, ids, MessageDoc::into_message).await
    }

    async fn mark_delivered(&self, ids: &[MessageId]) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let ids: Vec<Bson> = ids.iter().map(|id| Bson::ObjectId(object_id(id))).collect();
        self.messages
            .update_many(
                doc! { "_id": { "$in": ids }, "delivered": false },
                doc! { "$set": { "delivered": true } },
            )
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn conversations(
        &self,
        user: &UserId,
        after: Option<&Cursor>,
        limit: usize,
    ) -> StoreResult<Vec<Conversation>> {
        let me = object_id(user);
        let mut pipeline = vec![
            doc! { "$match": { "$or": [{ "from": me }, { "to": me }] } },
            doc! { "$sort": { "createdAt": -1, "_id": -1 } },
            doc! { "$group": {
                "_id": { "$cond": [{ "$eq": ["$from", me] }, "$to", "$from"] },
                "last": { "$first": "$$ROOT" },
                "unread": { "$sum": { "$cond": [
                    { "$and": [{ "$eq": ["$to", me] }, { "$eq": [{ "$ifNull": ["$seenAt", Bson::Null] }, Bson::Null] }] },
                    1,
                    0,
                ] } },
            } },
        ];
        if let Some(cursor) = after {
            // Conversations are ordered by their latest message (time, then
            // id), so the cursor is that message's position.
            let SortKey::Time(at) = &cursor.key else {
                return Err(cursor_mismatch());
            };
            let (at, id) = (date(*at), cursor_id(&cursor.id)?);
            pipeline.push(doc! { "$match": { "$or": [
                { "last.createdAt": { "$lt": at } },
                { "last.createdAt": at, "last._id": { "$lt": id } },
            ] } });
        }
        pipeline.push(doc! { "$sort": { "last.createdAt": -1, "last._id": -1 } });
        pipeline.push(doc! { "$limit": limit as i64 });
        let groups: Vec<Document> = collect(self.messages.aggregate(pipeline)).await?;
        groups
            .into_iter()
            .map(|group| {
                let peer = group
                    .get_object_id("_id")
                    .map_err(|e| StoreError::Internal(anyhow::anyhow!("conversation peer: {e}")))?;
                let last = group.get_document("last").map_err(|e| {
                    StoreError::Internal(anyhow::anyhow!("conversation message: {e}"))
                })?;
                let last: MessageDoc = bson::from_document(last.clone()).map_err(|e| {
                    StoreError::Internal(anyhow::anyhow!("conversation message: {e}"))
                })?;
                Ok(Conversation {
                    peer: domain_id(&peer),
                    last_message: last.into_message()?,
                    unread: number(group.get("unread")).max(0) as u64,
                })
            })
            .collect()
    }

    async fn count_conversations(&self, user: &UserId) -> StoreResult<u64> {
        let me = object_id(user);
        let pipeline = [
            doc! { "$match": { "$or": [{ "from": me }, { "to": me }] } },
            doc! { "$group": { "_id": { "$cond": [{ "$eq": ["$from", me] }, "$to", "$from"] } } },
            doc! { "$group": { "_id": Bson::Null, "conversations": { "$sum": 1 } } },
        ];
        let counted: Vec<Document> = collect(self.messages.aggregate(pipeline)).await?;
        Ok(counted.first().map_or(0, |result| {
            number(result.get("conversations")).max(0) as u64
        }))
    }

    async fn conversation_peers(&self, user: &UserId) -> StoreResult<Vec<UserId>> {
        let me = object_id(user);
        let mut peers = Vec::new();
        for (field, other) in [("from", "to"), ("to", "from")] {
            let values = self
                .messages
                .distinct(other, doc! { field: me })
                .await
                .map_err(classify)?;
            peers.extend(values.into_iter().filter_map(|value| match value {
                Bson::ObjectId(oid) => Some(domain_id::<crate::domain::UserKind>(&oid)),
                _ => None,
            }));
        }
        peers.sort();
        peers.dedup();
        Ok(peers)
    }
}
