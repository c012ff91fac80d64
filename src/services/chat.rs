//! One-to-one chat: sending (stored before anything is acknowledged or
//! delivered), history, receipts, typing, and offline delivery.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::instrument;

use super::Presence;
use super::{Created, EventLog, Idempotency};
use crate::auth::Principal;
use crate::domain::{
    Conversation, ConversationListing, IdempotencyKey, Message, MessageId, MessageListing,
    Outgoing, Page, UserId,
};
use crate::error::AppError;
use crate::hub::{Audience, ConnectionId, Event, Hub, Published};
use crate::store::{MessageQuery, Store, now};

/// At most this many missed messages are replayed on connect; older ones
/// stay in the history (and stay undelivered until a later connection).
pub const REPLAY_LIMIT: usize = 500;

/// Conversations listed at most.
pub const CONVERSATIONS_LIMIT: usize = 100;

/// A typing indicator is re-sent at most this often per pair.
const TYPING_REFRESH: Duration = Duration::from_secs(1);

/// Most delivery marks written by one store call.
const DELIVERY_MARK_BATCH: usize = 512;

/// How long delivery marks gather before they are written: one store write
/// per this window at most, whatever the message rate.
const DELIVERY_MARK_WINDOW: Duration = Duration::from_millis(100);

/// The writer of live delivery marks.
///
/// Marking each live message delivered as it goes out cost one store write
/// per message and per recipient connection, on the delivery path (W1 of
/// BENCHMARKS.md). Instead, connections hand the ids to this task, which
/// writes whatever has gathered within [`DELIVERY_MARK_WINDOW`] of the first
/// one and while its previous write ran, and wakes once per window, not once
/// per mark: at most ten writes a second, where
/// one write per message cost a store round trip (and two thread wake-ups)
/// per message at 500 messages a second (W1 of BENCHMARKS.md). A mark
/// lost to a crash or a store outage leaves the message undelivered, so the
/// recipient's next connection replays it: the guarantee stays
/// at-least-once per user, with stable ids.
fn spawn_delivery_marks(store: Arc<dyn Store>) -> mpsc::UnboundedSender<MessageId> {
    let (marks, mut noted) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut batch = Vec::with_capacity(DELIVERY_MARK_BATCH);
        while noted.recv_many(&mut batch, DELIVERY_MARK_BATCH).await > 0 {
            if batch.len() < DELIVERY_MARK_BATCH {
                // Asleep rather than listening: the marks noted meanwhile
                // wait in the channel without waking this task for each.
                tokio::time::sleep(DELIVERY_MARK_WINDOW).await;
                while batch.len() < DELIVERY_MARK_BATCH {
                    match noted.try_recv() {
                        Ok(id) => batch.push(id),
                        Err(_) => break,
                    }
                }
            }
            if let Err(error) = store.mark_delivered(&batch).await {
                AppError::from(error).log();
            }
            batch.clear();
        }
    });
    marks
}

/// Who hears that a message was sent: both people of its thread (the
/// sender's other connections show it too).
fn sent_to(message: &Message) -> Audience {
    Audience::Users(vec![message.to.clone(), message.from.clone()])
}

/// A message the send stored, with its event still to publish (`None` for a
/// retry's earlier message, published when it was first sent).
struct Sent {
    message: Message,
    event: Option<Published>,
}

/// The chat service. Cheap to clone.
#[derive(Clone)]
pub struct Chat {
    store: Arc<dyn Store>,
    events: EventLog,
    presence: Presence,
    send_limit: Arc<DefaultKeyedRateLimiter<UserId>>,
    typing: Arc<Typing>,
    delivery_marks: mpsc::UnboundedSender<MessageId>,
    recipients: Arc<KnownRecipients>,
    idempotency: Idempotency,
}

/// Most recipients remembered before the memory is cleared and refilled.
const KNOWN_RECIPIENTS_LIMIT: usize = 100_000;

/// Recipients already found in the store. Accounts are never deleted, so
/// once found a user stays a valid recipient, and a conversation's messages
/// after the first skip the store lookup (one store round trip per message
/// fewer; W1 of BENCHMARKS.md). Unknown ids are not remembered: they are
/// looked up every time, so an account created later is found.
#[derive(Default)]
struct KnownRecipients(Mutex<HashSet<UserId>>);

impl KnownRecipients {
    async fn exists(&self, store: &Arc<dyn Store>, user: &UserId) -> Result<bool, AppError> {
        if self.lock().contains(user) {
            return Ok(true);
        }
        let found = store.user_by_id(user).await?.is_some();
        if found {
            let mut known = self.lock();
            if known.len() >= KNOWN_RECIPIENTS_LIMIT {
                known.clear();
            }
            known.insert(user.clone());
        }
        Ok(found)
    }

    fn lock(&self) -> MutexGuard<'_, HashSet<UserId>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Chat {
    /// Wires the service.
    pub fn new(
        store: Arc<dyn Store>,
        hub: Hub,
        events: EventLog,
        presence: Presence,
        messages_per_second: u32,
        typing_ttl: Duration,
    ) -> Self {
        let rate = NonZeroU32::new(messages_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = rate.saturating_mul(NonZeroU32::new(2).expect("BUG: 2 is not zero"));
        let store_for_marks = Arc::clone(&store);
        let idempotency = Idempotency::new(store.clone());
        Chat {
            store,
            events,
            presence,
            send_limit: Arc::new(RateLimiter::keyed(
                Quota::per_second(rate).allow_burst(burst),
            )),
            typing: Arc::new(Typing {
                hub,
                ttl: typing_ttl,
                pairs: Mutex::new(HashMap::new()),
            }),
            delivery_marks: spawn_delivery_marks(store_for_marks),
            recipients: Arc::default(),
            idempotency,
        }
    }

    /// Sends a message from the caller. It is stored first; then the
    /// recipient's connections deliver it and the sender's other connections
    /// show it. The sender is always the caller, whatever a client claims.
    ///
    /// With an idempotency `key`, a retry returns the message the first
    /// request stored instead of sending it twice.
    ///
    /// # Errors
    /// `RATE_LIMITED` past the per-user send rate; `BAD_USER_INPUT` for a
    /// message to oneself; `NOT_FOUND` for an unknown recipient; `CONFLICT`
    /// for a key used for another request; `UNAVAILABLE` when the store is
    /// down.
    #[instrument(skip_all, fields(user.id = %principal.user_id))]
    pub async fn send(
        &self,
        principal: &Principal,
        outgoing: Outgoing,
        key: Option<&IdempotencyKey>,
        origin: Option<ConnectionId>,
    ) -> Result<Message, AppError> {
        if let Err(not_until) = self.send_limit.check_key(&principal.user_id) {
            crate::metrics::throttle_hit("messages");
            return Err(AppError::RateLimited {
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            });
        }
        if outgoing.to == principal.user_id {
            return Err(AppError::invalid("to", "cannot send a message to yourself"));
        }
        if !self.recipients.exists(&self.store, &outgoing.to).await? {
            return Err(AppError::NotFound("recipient"));
        }
        let request = format!("send_message\n{}\n{}", outgoing.to, outgoing.text.as_str());
        let created = self
            .idempotency
            .create(
                &principal.user_id,
                key,
                &request,
                |id: MessageId| async move {
                    Ok(self.store.message_by_id(&id).await?.map(|message| Sent {
                        message,
                        event: None,
                    }))
                },
                |id: MessageId| async move {
                    let message = Message {
                        id,
                        from: principal.user_id.clone(),
                        to: outgoing.to,
                        text: outgoing.text,
                        seen_at: None,
                        delivered: false,
                        created_at: now(),
                    };
                    let started = std::time::Instant::now();
                    // The message and its event's log entry in one store
                    // write (one commit on SQLite; BENCHMARKS.md, W1).
                    let audience = sent_to(&message);
                    let event = Event::MessageSent {
                        message: message.clone(),
                        origin,
                    };
                    let (at, position) = match self.events.entry(&audience, &event) {
                        Some(entry) => (
                            entry.at,
                            self.store.insert_logged_message(&message, &entry).await?,
                        ),
                        // Not for a sent message, which is always logged;
                        // were it live-only, it would go out without a position.
                        None => {
                            self.store.insert_message(&message).await?;
                            (now(), None)
                        }
                    };
                    crate::metrics::message_persisted(started.elapsed());
                    let event = Published::new(position, at, audience, event);
                    Ok(Ok(Sent {
                        message,
                        event: Some(event),
                    }))
                },
            )
            .await?;
        let Sent { message, event } = match created {
            Created::New(sent) => sent,
            Created::Earlier(sent) => return Ok(sent.message),
        };
        self.typing.stop(&message.from, &message.to);
        if let Some(event) = event {
            self.events.logged(event).await;
        }
        self.presence.touch(&principal.user_id).await;
        Ok(message)
    }

    /// Who may read a message by its id (`node`), as in `messages`: the
    /// two people of its thread, and nobody else, admins included.
    pub fn readable(principal: &Principal, message: &Message) -> bool {
        message.from == principal.user_id || message.to == principal.user_id
    }

    /// The messages with these ids that the caller may read (the messages
    /// a read receipt names, to show them as they are now), oldest first;
    /// others and unknown ids are left out.
    ///
    /// # Errors
    /// `UNAVAILABLE` when the store is down.
    pub async fn messages(
        &self,
        principal: &Principal,
        ids: &[MessageId],
    ) -> Result<Vec<Message>, AppError> {
        let mut messages = self.store.messages_by_ids(ids).await?;
        messages.retain(|message| Self::readable(principal, message));
        messages.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(messages)
    }

    /// A page of the thread between the caller and `peer`, oldest first
    /// within the page; `before` pages further back.
    ///
    /// # Errors
    /// `BAD_USER_INPUT` for a thread with oneself; `UNAVAILABLE` when the
    /// store is down.
    pub async fn thread(
        &self,
        principal: &Principal,
        peer: &UserId,
        listing: MessageListing,
    ) -> Result<Page<Message>, AppError> {
        self.page(principal, Some(peer.clone()), listing).await
    }

    /// How many messages the thread between the caller and `peer` holds
    /// (counted by the store): what [`thread`](Self::thread) pages through.
    ///
    /// # Errors
    /// `UNAVAILABLE` when the store is down.
    pub async fn count_thread(
        &self,
        principal: &Principal,
        peer: &UserId,
    ) -> Result<u64, AppError> {
        Ok(self
            .store
            .count_messages(&principal.user_id, Some(peer))
            .await?)
    }

    /// A page of all the caller's messages, sent and received, oldest first
    /// within the page.
    ///
    /// # Errors
    /// `UNAVAILABLE` when the store is down.
    pub async fn all_messages(
        &self,
        principal: &Principal,
        listing: MessageListing,
    ) -> Result<Page<Message>, AppError> {
        self.page(principal, None, listing).await
    }

    async fn page(
        &self,
        principal: &Principal,
        peer: Option<UserId>,
        listing: MessageListing,
    ) -> Result<Page<Message>, AppError> {
        let rows = self
            .store
            .message_page(&MessageQuery {
                participant: principal.user_id.clone(),
                peer,
                before: listing.before,
                limit: listing.first + 1,
            })
            .await?;
        let mut page = Page::from_rows(rows, listing.first, Message::cursor);
        page.items.reverse();
        Ok(page)
    }

    /// The caller's conversations, most recent first.
    ///
    /// # Errors
    /// `UNAVAILABLE` when the store is down.
    pub async fn conversations(
        &self,
        principal: &Principal,
    ) -> Result<Vec<Conversation>, AppError> {
        Ok(self
            .store
            .conversations(&principal.user_id, None, CONVERSATIONS_LIMIT)
            .await?)
    }

    /// A page of the caller's conversations, most recent first; `after`
    /// continues. A conversation that gets a new message while a client
    /// pages moves to the front, past the pages already read.
    ///
    /// # Errors
    /// `UNAVAILABLE` when the store is down.
    pub async fn conversation_page(
        &self,
        principal: &Principal,
        listing: ConversationListing,
    ) -> Result<Page<Conversation>, AppError> {
        let rows = self
            .store
            .conversations(
                &principal.user_id,
                listing.after.as_ref(),
                listing.first + 1,
            )
            .await?;
        Ok(Page::from_rows(rows, listing.first, Conversation::cursor))
    }

    /// How many conversations the caller has (counted by the store).
    ///
    /// # Errors
    /// `UNAVAILABLE` when the store is down.
    pub async fn count_conversations(&self, principal: &Principal) -> Result<u64, AppError> {
        Ok(self.store.count_conversations(&principal.user_id).await?)
    }

    /// Marks the peer's messages to the caller seen and tells the peer.
    /// Returns the ids marked (empty when there was nothing new).
    ///
    /// # Errors
    /// `UNAVAILABLE` when the store is down.
    pub async fn mark_seen(
        &self,
        principal: &Principal,
        peer: &UserId,
    ) -> Result<(Vec<MessageId>, chrono::DateTime<chrono::Utc>), AppError> {
        let at = now();
        let ids = self.store.mark_seen(&principal.user_id, peer, at).await?;
        if !ids.is_empty() {
            self.events
                .record(
                    Audience::User(peer.clone()),
                    Event::MessagesSeen {
                        by: principal.user_id.clone(),
                        sender: peer.clone(),
                        ids: ids.clone(),
                        at,
                    },
                )
                .await;
        }
        Ok((ids, at))
    }

    /// Starts or stops the caller's typing indicator towards `to`. Never
    /// stored; re-announced at most once a second; expires by itself.
    ///
    /// # Errors
    /// `BAD_USER_INPUT` for oneself.
    pub fn set_typing(
        &self,
        principal: &Principal,
        to: &UserId,
        typing: bool,
    ) -> Result<(), AppError> {
        if to == &principal.user_id {
            return Err(AppError::invalid("to", "cannot type to yourself"));
        }
        if typing {
            self.typing.start(&principal.user_id, to);
        } else {
            self.typing.stop(&principal.user_id, to);
        }
        Ok(())
    }

    /// Messages to the caller not yet delivered to any connection, oldest
    /// first: what a connection replays when it opens.
    ///
    /// # Errors
    /// `UNAVAILABLE` when the store is down.
    pub async fn undelivered(&self, principal: &Principal) -> Result<Vec<Message>, AppError> {
        Ok(self
            .store
            .undelivered_messages(&principal.user_id, REPLAY_LIMIT)
            .await?)
    }

    /// Records that a message reached one of the recipient's
    /// connections, without waiting: the mark is written with the others
    /// noted meanwhile, in one store call (see [`spawn_delivery_marks`]).
    pub fn note_delivered(&self, id: MessageId) {
        // The writer only stops with the runtime; nothing to do then.
        let _ = self.delivery_marks.send(id);
    }

    /// Ends typing indicators nobody refreshed; the app runs this often.
    pub fn expire_typing(&self) {
        self.typing.expire();
    }

    /// Forgets idle rate-limit state; called periodically by the app.
    pub fn forget_idle_limits(&self) {
        self.send_limit.retain_recent();
        self.send_limit.shrink_to_fit();
    }
}

/// Live typing indicators, per (from, to) pair.
struct Typing {
    hub: Hub,
    ttl: Duration,
    pairs: Mutex<HashMap<(UserId, UserId), TypingState>>,
}

struct TypingState {
    announced_at: Instant,
    expires_at: Instant,
}

impl Typing {
    fn pairs(&self) -> MutexGuard<'_, HashMap<(UserId, UserId), TypingState>> {
        self.pairs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn start(&self, from: &UserId, to: &UserId) {
        let now = Instant::now();
        let announce = {
            let mut pairs = self.pairs();
            let state = pairs
                .entry((from.clone(), to.clone()))
                .or_insert(TypingState {
                    announced_at: now - TYPING_REFRESH,
                    expires_at: now,
                });
            state.expires_at = now + self.ttl;
            let due = now.duration_since(state.announced_at) >= TYPING_REFRESH;
            if due {
                state.announced_at = now;
            }
            due
        };
        if announce {
            self.announce(from, to, true);
        }
    }

    fn stop(&self, from: &UserId, to: &UserId) {
        let was_typing = self.pairs().remove(&(from.clone(), to.clone())).is_some();
        if was_typing {
            self.announce(from, to, false);
        }
    }

    fn expire(&self) {
        let now = Instant::now();
        let expired: Vec<(UserId, UserId)> = {
            let mut pairs = self.pairs();
            let expired: Vec<_> = pairs
                .iter()
                .filter(|(_, state)| state.expires_at <= now)
                .map(|(pair, _)| pair.clone())
                .collect();
            for pair in &expired {
                pairs.remove(pair);
            }
            expired
        };
        for (from, to) in expired {
            self.announce(&from, &to, false);
        }
    }

    fn announce(&self, from: &UserId, to: &UserId, typing: bool) {
        self.hub.publish(
            Audience::User(to.clone()),
            Event::UserTyping {
                from: from.clone(),
                to: to.clone(),
                typing,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outgoing_messages_report_both_fields() {
        let error = Outgoing::parse("nope", "").unwrap_err();
        let details = error.details().unwrap();
        assert!(details.contains_key("to") && details.contains_key("text"));
        assert!(Outgoing::parse("0123456789abcdef01234567", "hi").is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn typing_is_throttled_and_expires_by_itself() {
        use futures::StreamExt as _;

        let hub = Hub::default();
        let typing = Typing {
            hub: hub.clone(),
            ttl: Duration::from_secs(5),
            pairs: Mutex::new(HashMap::new()),
        };
        let from = UserId::generate();
        let to = UserId::generate();
        let mut recipient = hub.subscribe_user(&to);

        typing.start(&from, &to);
        typing.start(&from, &to); // within a second: not re-announced
        tokio::time::advance(Duration::from_secs(3)).await;
        typing.expire(); // refreshed at t=0, lives until t=5
        tokio::time::advance(Duration::from_secs(3)).await;
        typing.expire();

        let mut seen = Vec::new();
        while let Some(Some(crate::hub::HubItem::Event(published))) =
            futures::FutureExt::now_or_never(recipient.next())
        {
            if let Event::UserTyping { typing, .. } = published.event {
                seen.push(typing);
            }
        }
        assert_eq!(seen, [true, false]);
    }
}
