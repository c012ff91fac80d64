//! Chat and presence on GraphQL: threads, conversations, sending, receipts,
//! typing, and live news (with what was missed replayed first).

use async_graphql::connection::{Connection, Edge};
use async_graphql::{ComplexObject, Context, ID, Object, SimpleObject, Subscription};
use futures::{Stream, StreamExt as _};

use super::accounts::{User, linked_user};
use super::context::idempotency_key_arg;
use super::context::{ContextExt as _, id_arg};
use super::error::IntoGraphql as _;
use super::live::events;
use super::scalars::DateTime;
use super::totals::{Counted, Total};
use crate::domain::{self, ConversationListing, MessageId, MessageListing, Outgoing, UserId};
use crate::hub::{ConnectionId, Event};
use crate::services::Outbound;

/// A chat message. `from` and `to` are batch-loaded.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(complex, name = "Message")]
pub struct Message {
    /// Stable id: drop duplicates by it.
    pub id: ID,
    /// What was said.
    pub text: String,
    /// Whether the recipient has seen it.
    pub seen: bool,
    /// When the recipient saw it.
    pub seen_at: Option<DateTime>,
    /// When it was sent.
    pub created_at: DateTime,
    #[graphql(skip)]
    from_id: UserId,
    #[graphql(skip)]
    to_id: UserId,
}

#[ComplexObject]
impl Message {
    /// The sender.
    ///
    /// Errors: `UNAVAILABLE` when the store is down.
    #[graphql(name = "from")]
    async fn sender(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        linked_user(ctx, &self.from_id).await
    }

    /// The recipient.
    ///
    /// Errors: `UNAVAILABLE` when the store is down.
    #[graphql(name = "to")]
    async fn recipient(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        linked_user(ctx, &self.to_id).await
    }
}

impl From<domain::Message> for Message {
    fn from(message: domain::Message) -> Self {
        Message {
            id: ID(message.id.to_string()),
            text: message.text.as_str().to_owned(),
            seen: message.seen(),
            seen_at: message.seen_at.map(DateTime),
            created_at: message.created_at.into(),
            from_id: message.from,
            to_id: message.to,
        }
    }
}

/// A conversation: the peer, the latest message, the unread count.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(complex, name = "Conversation")]
pub struct Conversation {
    /// The latest message either way.
    pub last_message: Message,
    /// The peer's messages the caller has not seen.
    pub unread_count: u64,
    #[graphql(skip)]
    peer_id: UserId,
}

impl From<domain::Conversation> for Conversation {
    fn from(conversation: domain::Conversation) -> Self {
        Conversation {
            last_message: conversation.last_message.into(),
            unread_count: conversation.unread,
            peer_id: conversation.peer,
        }
    }
}

#[ComplexObject]
impl Conversation {
    /// The other participant.
    ///
    /// Errors: `UNAVAILABLE` when the store is down.
    async fn peer(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        linked_user(ctx, &self.peer_id).await
    }
}

/// A read receipt: `by` saw the messages `ids` at `seenAt`.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(complex, name = "SeenReceipt")]
pub struct SeenReceipt {
    /// The messages marked seen.
    pub ids: Vec<ID>,
    /// When.
    pub seen_at: DateTime,
    #[graphql(skip)]
    by_id: UserId,
    #[graphql(skip)]
    message_ids: Vec<MessageId>,
}

#[ComplexObject]
impl SeenReceipt {
    /// Who saw them.
    ///
    /// Errors: `UNAVAILABLE` when the store is down.
    async fn by(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        linked_user(ctx, &self.by_id).await
    }

    /// The messages marked seen, as they are now (`seen` true, `seenAt`
    /// set): select `id seen seenAt` and a normalized cache (Apollo Client,
    /// Relay) updates the messages it holds by itself, with no hand-written
    /// update. One store read for the whole receipt, only when selected.
    ///
    /// Errors: `UNAUTHENTICATED`; `UNAVAILABLE` when the store is down.
    #[graphql(complexity = "super::list_cost(crate::domain::MAX_PAGE_SIZE, child_complexity)")]
    async fn messages(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Message>> {
        let principal = ctx.principal()?;
        let messages = ctx
            .services()
            .chat
            .messages(principal, &self.message_ids)
            .await
            .graphql()?;
        Ok(messages.into_iter().map(Message::from).collect())
    }
}

pub(super) fn receipt(
    by: UserId,
    ids: &[MessageId],
    at: chrono::DateTime<chrono::Utc>,
) -> SeenReceipt {
    SeenReceipt {
        ids: ids.iter().map(|id| ID(id.to_string())).collect(),
        seen_at: at.into(),
        by_id: by,
        message_ids: ids.to_vec(),
    }
}

/// Someone started or stopped typing to the caller.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(complex, name = "UserTyping")]
pub struct UserTyping {
    /// Started (true) or stopped (false).
    pub typing: bool,
    #[graphql(skip)]
    from_id: UserId,
}

#[ComplexObject]
impl UserTyping {
    /// Who types.
    ///
    /// Errors: `UNAVAILABLE` when the store is down.
    #[graphql(name = "from")]
    async fn typist(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        linked_user(ctx, &self.from_id).await
    }
}

/// A user came online or went offline.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(complex, name = "PresenceChange")]
pub struct PresenceChange {
    /// Online now or not.
    pub online: bool,
    /// Last activity.
    pub last_active: DateTime,
    #[graphql(skip)]
    user_id: UserId,
}

#[ComplexObject]
impl PresenceChange {
    /// Whose presence changed.
    ///
    /// Errors: `UNAVAILABLE` when the store is down.
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        linked_user(ctx, &self.user_id).await
    }
}

/// Chat queries.
#[derive(Default)]
pub struct ChatQuery;

#[Object]
impl ChatQuery {
    /// The thread with another user, paged backwards as Relay does: `last: N`
    /// is the newest N messages, `last: N, before: pageInfo.startCursor` the
    /// N just older, while `pageInfo.hasPreviousPage`. Edges are in
    /// chronological order (oldest first), so `startCursor` is the oldest
    /// edge's; `hasNextPage` is always false (newer messages arrive by
    /// `messageReceived`). `totalCount` counts the whole thread.
    /// Errors: `UNAUTHENTICATED`, `BAD_USER_INPUT` (a malformed `with`, a
    /// cursor of another list, `first` together with `last`), `UNAVAILABLE`.
    #[graphql(complexity = "super::page_cost(last.or(first), child_complexity)")]
    async fn messages(
        &self,
        ctx: &Context<'_>,
        with: ID,
        #[graphql(
            desc = "The older name of `last`, with the same meaning: the newest N messages before `before`. Not together with `last`.",
            deprecation = "Relay pages backwards with `last` + `before`: use `last`, which means the same."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "Page size: the newest N messages before `before` (before the end without it); 20 by default, at most 100."
        )]
        last: Option<i32>,
        #[graphql(desc = "Only messages older than this cursor: a `startCursor` of this thread.")]
        before: Option<String>,
    ) -> async_graphql::Result<Connection<String, Message, Total>> {
        let principal = ctx.principal()?;
        let peer = id_arg(&with, "with")?;
        let listing = MessageListing::parse_backward(
            first.map(i64::from),
            last.map(i64::from),
            before.as_deref(),
        )
        .graphql()?;
        let total = Total::of(Counted::Thread(peer.clone()));
        let page = ctx
            .services()
            .chat
            .thread(principal, &peer, listing)
            .await
            .graphql()?;
        let mut connection =
            Connection::with_additional_fields(page.next_cursor.is_some(), false, total);
        connection.edges.extend(
            page.items
                .into_iter()
                .map(|message| Edge::new(message.cursor().encode(), Message::from(message))),
        );
        Ok(connection)
    }

    /// The caller's conversations, most recent first, at most 100.
    /// Errors: `UNAUTHENTICATED`, `UNAVAILABLE`.
    #[graphql(
        complexity = "super::list_cost(crate::services::CONVERSATIONS_LIMIT, child_complexity)",
        deprecation = "Stops at 100 conversations: use `conversationsConnection`, which pages (`first`, `after`) and has `totalCount`."
    )]
    async fn conversations(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Conversation>> {
        let principal = ctx.principal()?;
        let conversations = ctx
            .services()
            .chat
            .conversations(principal)
            .await
            .graphql()?;
        Ok(conversations.into_iter().map(Conversation::from).collect())
    }

    /// The caller's conversations as a Relay connection, most recent first
    /// (by their latest message): `conversations` paged, under a new name so
    /// the list stays for the clients that read it. Page forward with
    /// `after: pageInfo.endCursor` while `hasNextPage`; `totalCount` counts
    /// every conversation. A conversation that gets a new message while a
    /// client pages moves to the front, ahead of the pages already read
    /// (refetch the first page, or follow `messageReceived`).
    /// Errors: `UNAUTHENTICATED`, `BAD_USER_INPUT` (a cursor of another
    /// list), `UNAVAILABLE`.
    #[graphql(complexity = "super::page_cost(first, child_complexity)")]
    async fn conversations_connection(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size: 20 by default, at most 100.")] first: Option<i32>,
        #[graphql(desc = "Continue after this cursor: an `endCursor` of this list.")] after: Option<
            String,
        >,
    ) -> async_graphql::Result<Connection<String, Conversation, Total>> {
        let principal = ctx.principal()?;
        let listing =
            ConversationListing::parse(first.map(i64::from), after.as_deref()).graphql()?;
        let page = ctx
            .services()
            .chat
            .conversation_page(principal, listing)
            .await
            .graphql()?;
        let total = Total::of(Counted::Conversations);
        let mut connection =
            Connection::with_additional_fields(false, page.next_cursor.is_some(), total);
        connection
            .edges
            .extend(page.items.into_iter().map(|conversation| {
                Edge::new(
                    conversation.cursor().encode(),
                    Conversation::from(conversation),
                )
            }));
        Ok(connection)
    }
}

/// Chat mutations.
#[derive(Default)]
pub struct ChatMutation;

#[Object]
impl ChatMutation {
    /// Sends a message from the caller (stored before it is returned or
    /// delivered). The recipient hears `messageReceived`.
    ///
    /// Errors: `UNAUTHENTICATED`; `BAD_USER_INPUT` for an empty or oversize
    /// text, a malformed recipient id or `idempotencyKey`, or a message to
    /// oneself; `NOT_FOUND` for an unknown recipient; `CONFLICT` for an
    /// `idempotencyKey` used for another request; `RATE_LIMITED` past the
    /// per-user send rate (`retryAfter`); `UNAVAILABLE` when the store is down.
    async fn send_message(
        &self,
        ctx: &Context<'_>,
        to: ID,
        text: String,
        #[graphql(
            desc = "Makes a retry safe: the same key from the same user within 24 hours returns the first result instead of creating again; the same key with different arguments is CONFLICT."
        )]
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<Message> {
        let principal = ctx.principal()?;
        let outgoing = Outgoing::parse(&to, &text).graphql()?;
        let key = idempotency_key_arg(idempotency_key.as_deref())?;
        let origin = ctx.data_opt::<ConnectionId>().cloned();
        ctx.services()
            .chat
            .send(principal, outgoing, key.as_ref(), origin)
            .await
            .map(Message::from)
            .graphql()
    }

    /// Marks the thread's incoming messages seen; their sender hears `messagesSeen`.
    ///
    /// Errors: `UNAUTHENTICATED`; `BAD_USER_INPUT` for a malformed id;
    /// `UNAVAILABLE` when the store is down.
    async fn mark_messages_seen(
        &self,
        ctx: &Context<'_>,
        with: ID,
    ) -> async_graphql::Result<SeenReceipt> {
        let principal = ctx.principal()?;
        let peer = id_arg(&with, "with")?;
        let (ids, at) = ctx
            .services()
            .chat
            .mark_seen(principal, &peer)
            .await
            .graphql()?;
        Ok(receipt(principal.user_id.clone(), &ids, at))
    }

    /// Starts or stops the caller's typing indicator to `to` (expires by
    /// itself after a few seconds without a refresh).
    ///
    /// Errors: `UNAUTHENTICATED`; `BAD_USER_INPUT` for a malformed id or
    /// oneself.
    async fn set_typing(
        &self,
        ctx: &Context<'_>,
        to: ID,
        typing: bool,
    ) -> async_graphql::Result<bool> {
        let principal = ctx.principal()?;
        let to = id_arg(&to, "to")?;
        ctx.services()
            .chat
            .set_typing(principal, &to, typing)
            .map(|()| typing)
            .graphql()
    }
}

/// Chat and presence news.
#[derive(Default)]
pub struct ChatSubscription;

#[Subscription]
impl ChatSubscription {
    /// Messages to the caller, starting with those missed while offline (in
    /// order), then live; also the caller's own messages sent from other
    /// connections. Each message once per subscription.
    ///
    /// Errors: `UNAUTHENTICATED`. Missed messages are replayed from the store,
    /// so this stream does not lag.
    async fn message_received(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Message>>> {
        let principal = ctx.principal()?.clone();
        let connections = ctx.services().connections.clone();
        let origin = ctx.data_opt::<ConnectionId>().cloned();
        // Listens now; reads what was missed when first polled.
        let messages = connections.messages(principal.clone(), origin);
        Ok(messages.filter_map(move |item| {
            let message = match &item {
                Outbound::Event(published) => match &published.event {
                    Event::MessageSent { message, .. } => Some(Ok(Message::from(message.clone()))),
                    _ => None,
                },
                _ => None,
            };
            // Handed to async-graphql, which writes it next.
            connections.handed_over(&principal, &item);
            futures::future::ready(message)
        }))
    }

    /// Read receipts of the caller's messages.
    ///
    /// Errors: `UNAUTHENTICATED`; `LAGGED` (an item, then the stream goes on)
    /// when this subscription fell behind.
    async fn messages_seen(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<SeenReceipt>>> {
        let principal = ctx.principal()?;
        Ok(events(
            ctx.services().connections.live_personal(principal),
            |event| match event {
                Event::MessagesSeen { by, ids, at, .. } => Some(receipt(by.clone(), ids, *at)),
                _ => None,
            },
        ))
    }

    /// Typing indicators towards the caller.
    ///
    /// Errors: `UNAUTHENTICATED`; `LAGGED` (an item, then the stream goes on)
    /// when this subscription fell behind.
    async fn user_typing(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<UserTyping>>> {
        let principal = ctx.principal()?;
        Ok(events(
            ctx.services().connections.live_personal(principal),
            |event| match event {
                Event::UserTyping { from, typing, .. } => Some(UserTyping {
                    typing: *typing,
                    from_id: from.clone(),
                }),
                _ => None,
            },
        ))
    }

    /// Presence changes of the caller's conversation peers (admins: of everyone).
    ///
    /// Errors: `UNAUTHENTICATED`; `LAGGED` (an item, then the stream goes on)
    /// when this subscription fell behind.
    async fn presence_changed(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<PresenceChange>>> {
        let principal = ctx.principal()?;
        Ok(events(
            ctx.services().connections.live(principal),
            |event| match event {
                Event::PresenceChanged {
                    user_id,
                    online,
                    last_active,
                } => Some(PresenceChange {
                    online: *online,
                    last_active: (*last_active).into(),
                    user_id: user_id.clone(),
                }),
                _ => None,
            },
        ))
    }
}
