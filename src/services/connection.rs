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

use std::collections::VecDeque;
use std::future::Future as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{Stream, StreamExt as _};

use super::{Chat, EventLog, Presence, ResyncReason};
use crate::auth::Principal;
use crate::domain::Position;
use crate::hub::{ConnectionId, Envelope, Event, Hub, HubItem, Subscription};

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
    Event(Arc<Envelope>),
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
    /// The last position the client processed, as it sent it (`None`: a
    /// fresh start, nothing replayed).
    pub resume_after: Option<String>,
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
        let feed = self.feed(
            opening.principal.clone(),
            Some(opening.origin),
            opening.resume_after,
        );
        LiveConnection {
            feed: Box::pin(feed),
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
        if let Outbound::Event(envelope) = item
            && let Event::MessageSent { message, .. } = &envelope.event
            && message.to == principal.user_id
        {
            self.chat.note_delivered(message.id.clone());
        }
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
        let live = self.hub.subscribe(&principal);
        let state = Feed {
            event_log: self.event_log.clone(),
            principal,
            origin,
            live,
            start: Some(resume_after),
            last: Position::START,
            replay_from: None,
            replay_to: Position::START,
            pending: VecDeque::new(),
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
    /// Whose connection it is.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

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
                HubItem::Event(envelope) => {
                    if let Some(reason) = EndReason::of(&envelope.event, &self.principal.user_id) {
                        return Some((Outbound::Ended(reason), self));
                    }
                    if let Some(position) = envelope.position {
                        if position <= self.last {
                            continue; // already handed over by the replay
                        }
                        self.last = position;
                    }
                    if self.echoes_own_message(&envelope) {
                        continue;
                    }
                    return Some((Outbound::Event(envelope), self));
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
            return;
        };
        let checked = match Position::parse(&raw) {
            Ok(after) => self.event_log.check(after).await.map(|c| c.map(|()| after)),
            Err(_) => Ok(Err(ResyncReason::Unknown)),
        };
        match checked {
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
                for envelope in events {
                    let Some(position) = envelope.position else {
                        continue;
                    };
                    reached = position;
                    if self.echoes_own_message(&envelope) {
                        continue;
                    }
                    self.pending.push_back(Outbound::Event(envelope));
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

    /// A chat message sent from this very connection: it has it (the ack).
    fn echoes_own_message(&self, envelope: &Envelope) -> bool {
        matches!(
            &envelope.event,
            Event::MessageSent { origin: Some(origin), .. } if Some(origin) == self.origin.as_ref()
        )
    }
}
