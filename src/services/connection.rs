//! The life of one live connection (a Socket.IO socket or a GraphQL
//! WebSocket), whichever door it came through.
//!
//! A connection opens with a verified principal and, when the client
//! resumes, the last position it processed. The service then:
//! - counts the connection for presence while it lives;
//! - subscribes to the hub *before* it reads the log, replays what the
//!   client missed (only what the principal may see), then continues live,
//!   dropping any event at or before the last position handed over, so each
//!   event reaches the connection once, in position order;
//! - recovers from falling behind the hub by reading the log again;
//! - ends the connection with a reason when its token expires, the account
//!   signs out, changes role or is deactivated.
//!
//! The door gets one stream of [`Outbound`] items and only renders them; it
//! calls [`LiveConnection::handed_over`] after each one so chat messages are
//! marked delivered.

use std::collections::{HashSet, VecDeque};
use std::future::Future as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{Stream, StreamExt as _};

use super::{Chat, EventLog, Presence, ResyncReason};
use crate::auth::Principal;
use crate::domain::{Message, MessageId, Position};
use crate::hub::{Audience, ConnectionId, Event, Hub, HubItem, Published, Subscription};

/// Events read from the log per store call while replaying.
const REPLAY_PAGE: usize = 256;

/// Why the server ends a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The access token expired: reconnect with a fresh one.
    TokenExpired,
    /// The account signed out.
    LoggedOut,
    /// An admin changed the account's role: its tokens carry the old one.
    RoleChanged,
    /// An admin deactivated the account.
    Deactivated,
}

impl EndReason {
    /// The reason as every door spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::TokenExpired => "token_expired",
            EndReason::LoggedOut => "logged_out",
            EndReason::RoleChanged => "role_changed",
            EndReason::Deactivated => "deactivated",
        }
    }

    /// The reason an event about `user` ends that user's connections.
    pub fn of(event: &Event, user: &crate::domain::UserId) -> Option<EndReason> {
        match event {
            Event::RoleChanged { user_id, .. } if user_id == user => Some(EndReason::RoleChanged),
            Event::SignedOut { user_id } if user_id == user => Some(EndReason::LoggedOut),
            Event::Deactivated { user_id } if user_id == user => Some(EndReason::Deactivated),
            _ => None,
        }
    }
}

/// What a connection hands its door, in order.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// Everything up to this position has been handed over (or was before
    /// the client connected): a client that drops now resumes from here.
    /// Sent once, after the replay (at once when there is none).
    ResumeFrom(Position),
    /// The position the client resumed from cannot be continued: it should
    /// refetch its state; events continue live.
    ResyncRequired(ResyncReason),
    /// An event the principal may see: replayed or live, once.
    Event(Arc<Published>),
    /// The connection must end; nothing follows.
    Ended(EndReason),
}

/// How a connection opens.
pub struct Opening {
    /// Who, verified by the authenticator.
    pub principal: Principal,
    /// When its token expires (seconds since the epoch).
    pub expires_at: i64,
    /// The connection's id: chat messages it sent are not echoed to it.
    pub origin: ConnectionId,
    /// What the door wants the connection to deliver.
    pub wants: Wants,
}

/// What a connection delivers besides its end. Every kind counts for
/// presence and ends with a reason.
#[derive(Debug, Clone)]
pub enum Wants {
    /// Every event the principal may see, each once and in order: after the
    /// client's last position when it resumes (replayed from the log), else
    /// from now on, preceded by the chat messages no connection took yet
    /// (a client that keeps no position, as the original Socket.IO protocol,
    /// still gets the messages sent while it was away).
    Events {
        /// The last position the client processed, as it sent it.
        resume_after: Option<String>,
    },
    /// Nothing but the end (a GraphQL WebSocket, whose subscriptions each
    /// deliver themselves).
    EndOnly,
}

/// The connection service. Cheap to clone.
#[derive(Clone)]
pub struct Connections {
    hub: Hub,
    event_log: EventLog,
    chat: Chat,
    presence: Presence,
}

impl Connections {
    /// Wires the service.
    pub fn new(hub: Hub, event_log: EventLog, chat: Chat, presence: Presence) -> Self {
        Connections {
            hub,
            event_log,
            chat,
            presence,
        }
    }

    /// Opens a connection: counts it for presence and subscribes to the hub
    /// now, so nothing published from here on is missed. Call it before the
    /// client hears that it is connected.
    pub fn open(&self, opening: Opening) -> LiveConnection {
        self.presence.connected(&opening.principal.user_id);
        let remaining = (opening.expires_at - chrono::Utc::now().timestamp()).max(0) as u64;
        let principal = opening.principal.clone();
        let origin = Some(opening.origin);
        let feed: Pin<Box<dyn Stream<Item = Outbound> + Send>> = match opening.wants {
            Wants::Events { resume_after } => {
                let undelivered_first = resume_after.is_none();
                Box::pin(self.events(principal, origin, resume_after, undelivered_first))
            }
            Wants::EndOnly => Box::pin(self.end_only(&principal, origin)),
        };
        LiveConnection {
            feed,
            expiry: Box::pin(tokio::time::sleep(Duration::from_secs(remaining))),
            principal: opening.principal,
            connections: self.clone(),
            ended: false,
        }
    }

    /// `item` reached `principal`'s client: a chat message to them is now
    /// delivered (not before: one the client could not take is replayed by
    /// the next connection).
    pub fn handed_over(&self, principal: &Principal, item: &Outbound) {
        if let Outbound::Event(published) = item
            && let Event::MessageSent { message, .. } = &published.event
            && message.to == principal.user_id
        {
            self.chat.note_delivered(message.id.clone());
        }
    }

    /// The principal's chat messages for one subscriber: first those no
    /// connection took yet (in order), then live ones, each once, including
    /// the user's own messages sent from another connection (tabs) but not
    /// those sent from `origin`. A subscriber that falls behind the hub reads
    /// the undelivered ones again. The session's end is an item too.
    /// Subscribes now, so nothing falls between the replay and live.
    pub fn messages(
        &self,
        principal: Principal,
        origin: Option<ConnectionId>,
    ) -> impl Stream<Item = Outbound> + Send + use<> {
        let live = self
            .hub
            .subscribe_user_connection(&principal.user_id, origin.clone());
        let state = MessageFeed {
            chat: self.chat.clone(),
            principal,
            live,
            origin,
            replay_due: true,
            pending: VecDeque::new(),
            shown: Shown::default(),
        };
        futures::stream::unfold(state, MessageFeed::next)
    }

    /// Only the end of the principal's session (the connection `origin`'s
    /// own chat messages do not even wake it).
    fn end_only(
        &self,
        principal: &Principal,
        origin: Option<ConnectionId>,
    ) -> impl Stream<Item = Outbound> + Send + use<> {
        let user = principal.user_id.clone();
        self.hub
            .subscribe_user_connection(&user, origin)
            .filter_map(move |item| {
                futures::future::ready(match item {
                    HubItem::Event(published) => {
                        EndReason::of(&published.event, &user).map(Outbound::Ended)
                    }
                    HubItem::Lagged(_) => None,
                })
            })
    }

    /// Everything a subscriber may hear, live, from the hub (the door keeps
    /// the kinds it renders): for subscriptions that are live only.
    pub fn live(&self, principal: &Principal) -> Subscription {
        self.hub.subscribe(principal)
    }

    /// What is addressed to the principal alone, live (typing, receipts).
    pub fn live_personal(&self, principal: &Principal) -> Subscription {
        self.hub.subscribe_user(&principal.user_id)
    }

    /// Replay after `resume_after` then live events, for one subscriber
    /// that does not count as a connection (a GraphQL `events`
    /// subscription: its WebSocket is the connection). Subscribes now.
    pub fn feed(
        &self,
        principal: Principal,
        origin: Option<ConnectionId>,
        resume_after: Option<String>,
    ) -> impl Stream<Item = Outbound> + Send + use<> {
        self.events(principal, origin, resume_after, false)
    }

    fn events(
        &self,
        principal: Principal,
        origin: Option<ConnectionId>,
        resume_after: Option<String>,
        undelivered_first: bool,
    ) -> impl Stream<Item = Outbound> + Send + use<> {
        let live = self.hub.subscribe_connection(&principal, origin.clone());
        let state = Feed {
            event_log: self.event_log.clone(),
            chat: undelivered_first.then(|| self.chat.clone()),
            principal,
            origin,
            live,
            start: Some(resume_after),
            last: Position::START,
            replay_from: None,
            replay_to: Position::START,
            pending: VecDeque::new(),
            undelivered: HashSet::new(),
        };
        futures::stream::unfold(state, Feed::next)
    }
}

/// One open connection: a stream of [`Outbound`] items. Dropping it counts
/// the connection closed.
pub struct LiveConnection {
    feed: Pin<Box<dyn Stream<Item = Outbound> + Send>>,
    expiry: Pin<Box<tokio::time::Sleep>>,
    principal: Principal,
    connections: Connections,
    ended: bool,
}

impl LiveConnection {
    /// The door handed `item` to its client: a chat message to this user is
    /// now delivered (not before: one the socket could not take is replayed
    /// by the next connection).
    pub fn handed_over(&self, item: &Outbound) {
        self.connections.handed_over(&self.principal, item);
    }
}

impl Stream for LiveConnection {
    type Item = Outbound;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Outbound>> {
        if self.ended {
            return Poll::Ready(None);
        }
        if self.expiry.as_mut().poll(cx).is_ready() {
            self.ended = true;
            return Poll::Ready(Some(Outbound::Ended(EndReason::TokenExpired)));
        }
        match self.feed.poll_next_unpin(cx) {
            Poll::Ready(Some(Outbound::Ended(reason))) => {
                self.ended = true;
                Poll::Ready(Some(Outbound::Ended(reason)))
            }
            other => other,
        }
    }
}

impl Drop for LiveConnection {
    fn drop(&mut self) {
        self.connections
            .presence
            .disconnected(&self.principal.user_id);
    }
}

/// The state of one feed.
struct Feed {
    event_log: EventLog,
    /// Set when the feed starts with the chat messages no connection took.
    chat: Option<Chat>,
    principal: Principal,
    origin: Option<ConnectionId>,
    live: Subscription,
    /// Still to do: the first step, with the client's resume position.
    start: Option<Option<String>>,
    /// The newest position handed over (or skipped as not for this feed).
    last: Position,
    /// A replay in progress: read after this position…
    replay_from: Option<Position>,
    /// …up to this one.
    replay_to: Position,
    pending: VecDeque<Outbound>,
    /// The ids of the undelivered messages handed over first: the same
    /// message arriving live (sent while they were read) is not repeated.
    undelivered: HashSet<MessageId>,
}

impl Feed {
    async fn next(mut self) -> Option<(Outbound, Self)> {
        loop {
            if let Some(resume_after) = self.start.take() {
                self.begin(resume_after).await;
            }
            if let Some(item) = self.pending.pop_front() {
                return Some((item, self));
            }
            if let Some(after) = self.replay_from.take() {
                self.replay_page(after).await;
                continue;
            }
            match self.live.next().await? {
                HubItem::Event(published) => {
                    if let Some(reason) = EndReason::of(&published.event, &self.principal.user_id) {
                        return Some((Outbound::Ended(reason), self));
                    }
                    if let Some(position) = published.position {
                        if position <= self.last {
                            continue; // already handed over by the replay
                        }
                        self.last = position;
                    }
                    if self.echoes_own_message(&published) || self.handed_first(&published) {
                        continue;
                    }
                    return Some((Outbound::Event(published), self));
                }
                HubItem::Lagged(missed) => {
                    // What was logged is read back; live-only news is gone.
                    tracing::warn!(missed, "a connection fell behind; replaying from the log");
                    self.replay_from = Some(self.last);
                    self.replay_to = self.event_log.head();
                }
            }
        }
    }

    /// Decides where the feed starts: the head (fresh), or a replay from the
    /// client's position, or the head with a resync notice.
    async fn begin(&mut self, resume_after: Option<String>) {
        let head = self.event_log.head();
        self.last = head;
        let Some(raw) = resume_after else {
            self.pending.push_back(Outbound::ResumeFrom(head));
            if let Some(chat) = self.chat.take() {
                self.queue_undelivered(&chat).await;
            }
            return;
        };
        match self.event_log.resume_point(&raw).await {
            Ok(Ok(after)) => {
                self.last = after;
                self.replay_from = Some(after);
                self.replay_to = head;
            }
            Ok(Err(reason)) => {
                self.pending.push_back(Outbound::ResyncRequired(reason));
                self.pending.push_back(Outbound::ResumeFrom(head));
            }
            Err(error) => {
                // The log cannot be read now: better a refetch than a gap.
                error.log();
                self.pending
                    .push_back(Outbound::ResyncRequired(ResyncReason::Unavailable));
                self.pending.push_back(Outbound::ResumeFrom(head));
            }
        }
    }

    /// Reads one page of the replay; queues the next page or the end.
    async fn replay_page(&mut self, after: Position) {
        match self
            .event_log
            .replay(&self.principal, after, self.replay_to, REPLAY_PAGE)
            .await
        {
            Ok(events) => {
                let full = events.len() == REPLAY_PAGE;
                let mut reached = after;
                for published in events {
                    let Some(position) = published.position else {
                        continue;
                    };
                    reached = position;
                    if self.echoes_own_message(&published) {
                        continue;
                    }
                    self.pending.push_back(Outbound::Event(published));
                }
                if full {
                    self.replay_from = Some(reached);
                } else {
                    reached = self.replay_to;
                    self.pending.push_back(Outbound::ResumeFrom(reached));
                }
                self.last = self.last.max(reached);
            }
            Err(error) => {
                error.log();
                self.pending
                    .push_back(Outbound::ResyncRequired(ResyncReason::Unavailable));
                self.last = self.last.max(self.replay_to);
                self.pending.push_back(Outbound::ResumeFrom(self.last));
            }
        }
    }

    /// Queues the chat messages to this user that no connection took yet,
    /// oldest first.
    async fn queue_undelivered(&mut self, chat: &Chat) {
        match chat.undelivered(&self.principal).await {
            Ok(missed) => {
                for message in missed {
                    self.undelivered.insert(message.id.clone());
                    self.pending.push_back(Outbound::Event(Arc::new(undelivered(
                        &self.principal,
                        message,
                    ))));
                }
            }
            Err(error) => error.log(),
        }
    }

    fn handed_first(&self, published: &Published) -> bool {
        matches!(&published.event, Event::MessageSent { message, .. } if self.undelivered.contains(&message.id))
    }

    fn echoes_own_message(&self, published: &Published) -> bool {
        published.event.sent_from(self.origin.as_ref())
    }
}

/// An undelivered message as the `Published` a live one arrives in (it has no
/// position: it was read from the messages, not the log).
fn undelivered(principal: &Principal, message: Message) -> Published {
    Published::new(
        None,
        message.created_at,
        Audience::User(principal.user_id.clone()),
        Event::MessageSent {
            message,
            origin: None,
        },
    )
}

/// How many delivered message ids a connection remembers to skip duplicates.
const REMEMBERED: usize = 1024;

/// The message ids a connection has shown, the latest [`REMEMBERED`] of them.
#[derive(Default)]
struct Shown {
    order: VecDeque<MessageId>,
    ids: HashSet<MessageId>,
}

impl Shown {
    /// True the first time an id is offered.
    fn first_time(&mut self, id: &MessageId) -> bool {
        if !self.ids.insert(id.clone()) {
            return false;
        }
        self.order.push_back(id.clone());
        if self.order.len() > REMEMBERED
            && let Some(oldest) = self.order.pop_front()
        {
            self.ids.remove(&oldest);
        }
        true
    }
}

/// The state of one [`Connections::messages`] feed.
struct MessageFeed {
    chat: Chat,
    principal: Principal,
    live: Subscription,
    origin: Option<ConnectionId>,
    replay_due: bool,
    pending: VecDeque<Message>,
    shown: Shown,
}

impl MessageFeed {
    async fn next(mut self) -> Option<(Outbound, Self)> {
        loop {
            if std::mem::take(&mut self.replay_due) {
                match self.chat.undelivered(&self.principal).await {
                    Ok(missed) => self.pending.extend(missed),
                    Err(error) => error.log(),
                }
            }
            while let Some(message) = self.pending.pop_front() {
                if self.shown.first_time(&message.id) {
                    let published = undelivered(&self.principal, message);
                    return Some((Outbound::Event(Arc::new(published)), self));
                }
            }
            match self.live.next().await? {
                HubItem::Event(published) => {
                    if let Some(reason) = EndReason::of(&published.event, &self.principal.user_id) {
                        return Some((Outbound::Ended(reason), self));
                    }
                    let Event::MessageSent { message, .. } = &published.event else {
                        continue;
                    };
                    if !published.event.sent_from(self.origin.as_ref())
                        && self.shown.first_time(&message.id)
                    {
                        return Some((Outbound::Event(published), self));
                    }
                }
                HubItem::Lagged(missed) => {
                    tracing::warn!(
                        missed,
                        "a connection fell behind on messages; replaying from the store"
                    );
                    self.replay_due = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::StreamExt as _;

    use super::*;
    use crate::auth::PasswordHasher;
    use crate::config::Config;
    use crate::domain::{ProductId, Role, UserId};
    use crate::hub::Audience;
    use crate::services::Services;
    use crate::services::testing::fresh_store;

    /// Services on a fresh SQLite store whose hub holds only `capacity`
    /// events per channel, with the event log started.
    async fn services(capacity: usize) -> (Services, tempfile::TempDir) {
        let (store, dir) = fresh_store().await;
        let services = Services::new(
            &Config::for_tests(),
            store,
            Hub::new(capacity),
            PasswordHasher::for_tests(),
        );
        let _task = services.event_log.start().await.unwrap();
        (services, dir)
    }

    fn admin() -> Principal {
        Principal {
            user_id: UserId::generate(),
            role: Role::Admin,
        }
    }

    async fn record(services: &Services, count: usize) {
        for _ in 0..count {
            services
                .event_log
                .record(
                    Audience::Everyone,
                    Event::ProductRemoved(ProductId::generate()),
                )
                .await
                .expect("the store takes it");
        }
    }

    /// The positions of the events a feed hands over until it reaches `last`.
    async fn positions_until(
        feed: &mut (impl Stream<Item = Outbound> + Unpin),
        last: u64,
    ) -> Vec<u64> {
        let mut seen = Vec::new();
        while seen.last() != Some(&last) {
            let item = tokio::time::timeout(Duration::from_secs(10), feed.next())
                .await
                .expect("the feed keeps going")
                .expect("the feed does not end");
            if let Outbound::Event(published) = item {
                seen.push(published.position.expect("logged").value());
            }
        }
        seen
    }

    #[tokio::test]
    async fn a_replay_with_events_arriving_meanwhile_has_no_gap_and_no_duplicate() {
        // A hub that holds 8 events: the feed, busy replaying, falls behind
        // it and must read the log again rather than skip.
        let (services, _dir) = services(8).await;
        record(&services, 300).await; // more than a replay page
        let mut feed = Box::pin(services.connections.feed(
            admin(),
            None,
            Some(Position::START.to_string()),
        ));
        let writer = {
            let services = services.clone();
            tokio::spawn(async move { record(&services, 200).await })
        };
        let seen = positions_until(&mut feed, 500).await;
        writer.await.unwrap();
        assert_eq!(seen, (1..=500).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_fresh_feed_starts_at_the_head_and_misses_nothing_after_it() {
        let (services, _dir) = services(1024).await;
        record(&services, 5).await;
        let mut feed = Box::pin(services.connections.feed(admin(), None, None));
        match feed.next().await {
            Some(Outbound::ResumeFrom(head)) => assert_eq!(head, Position::new(5)),
            other => panic!("expected the head first, got {other:?}"),
        }
        record(&services, 3).await;
        assert_eq!(positions_until(&mut feed, 8).await, [6, 7, 8]);
    }

    #[tokio::test]
    async fn an_unknown_position_asks_for_a_resync_then_goes_live() {
        let (services, _dir) = services(1024).await;
        record(&services, 2).await;
        let mut feed = Box::pin(services.connections.feed(admin(), None, Some("99".into())));
        assert!(matches!(
            feed.next().await,
            Some(Outbound::ResyncRequired(ResyncReason::Unknown))
        ));
        assert!(matches!(
            feed.next().await,
            Some(Outbound::ResumeFrom(head)) if head == Position::new(2)
        ));
        record(&services, 1).await;
        assert_eq!(positions_until(&mut feed, 3).await, [3]);
    }

    #[tokio::test]
    async fn a_connection_ends_with_its_accounts_sign_out_and_counts_for_presence() {
        let (services, _dir) = services(1024).await;
        let user = Principal {
            user_id: UserId::generate(),
            role: Role::User,
        };
        let mut live = services.connections.open(Opening {
            principal: user.clone(),
            expires_at: chrono::Utc::now().timestamp() + 600,
            origin: ConnectionId("test".into()),
            wants: Wants::EndOnly,
        });
        assert!(services.presence.is_online(&user.user_id));
        services.connections.hub.publish(
            Audience::User(user.user_id.clone()),
            Event::SignedOut {
                user_id: user.user_id.clone(),
            },
        );
        assert!(matches!(
            live.next().await,
            Some(Outbound::Ended(EndReason::LoggedOut))
        ));
        assert!(live.next().await.is_none(), "nothing after the end");
    }

    #[tokio::test]
    async fn a_connection_ends_when_its_token_expires() {
        let (services, _dir) = services(1024).await;
        let mut live = services.connections.open(Opening {
            principal: admin(),
            expires_at: chrono::Utc::now().timestamp(),
            origin: ConnectionId("test".into()),
            wants: Wants::EndOnly,
        });
        let ended = tokio::time::timeout(Duration::from_secs(5), live.next()).await;
        assert!(matches!(
            ended,
            Ok(Some(Outbound::Ended(EndReason::TokenExpired)))
        ));
    }
}
