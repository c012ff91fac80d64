//! The in-process event bus: services publish, doors deliver.
//!
//! An event is published once with the [`Audience`] the publishing service
//! decided. Delivery is keyed by audience: one channel for everyone, one for
//! admins (bounded `tokio::sync::broadcast` channels), and for each connected
//! user one queue per subscriber (created on subscription, dropped with it:
//! `inbox.rs`), so an event for one user wakes only that user's subscribers,
//! and a chat message does not wake the connection it was sent from. Every
//! channel is bounded: a slow subscriber falls behind, is told how many
//! events it missed ([`HubItem::Lagged`]), and never blocks the publisher.
//!
//! Every live connection subscribes to the channels of its audience (the
//! connection service does). With a [`Relay`] (the backplane, when there
//! are several processes), what this process's services publish is also
//! relayed to the other processes, and what they publish arrives through
//! [`Hub::deliver`]; services do not know the difference. The hub defines
//! [`Relay`] and never names the backplane, which depends on the hub (its
//! events and their codec), not the other way round.
//!
//! An [`Observer`] is told of every event, whatever its audience, when it
//! enters the hub and before any subscriber can read it: for state in this
//! process that must never be behind what a client heard (the catalogue
//! snapshot).

pub mod codec;
mod inbox;

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};
use std::task::{Context, Poll};

use futures::Stream;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use crate::auth::Principal;
use chrono::{DateTime, Utc};

use crate::domain::{Message, MessageId, Order, Position, Product, ProductId, Role, UserId};
use inbox::Inbox;

/// Who may hear an event. Decided by the service that publishes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// Every connected client, signed in or not.
    Everyone,
    /// Connected admins.
    Admins,
    /// Every connection of one user.
    User(UserId),
    /// Every connection of some users (each connection once).
    Users(Vec<UserId>),
    /// Every connection of some users and every admin connection, each once
    /// (an admin who is one of those users hears it once too).
    UsersAndAdmins(Vec<UserId>),
}

/// Something that happened, named in the past tense. Wire names (GraphQL
/// fields, Socket.IO events) are chosen by the doors.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An admin changed this account's role: tokens carry the old one, so
    /// the account's live connections must end.
    RoleChanged {
        /// The account.
        user_id: UserId,
        /// Its new role.
        role: Role,
    },
    /// The user signed out (a refresh family was revoked).
    SignedOut {
        /// The account.
        user_id: UserId,
    },
    /// An admin deactivated the account: its live connections must end.
    Deactivated {
        /// The account.
        user_id: UserId,
    },
    /// A product was added to the catalogue.
    ProductAdded(Product),
    /// A product's fields changed (by an admin).
    ProductChanged(Product),
    /// A product was removed from the catalogue.
    ProductRemoved(ProductId),
    /// A user placed an order.
    OrderPlaced(Order),
    /// An admin moved an order along; the order as it is now.
    OrderStatusChanged(Order),
    /// A message was stored; its recipient's connections deliver it, and the
    /// sender's other connections show it (audience: both users).
    MessageSent {
        /// The stored message.
        message: Message,
        /// The connection it was sent from, which already has it (the ack).
        origin: Option<ConnectionId>,
    },
    /// A reader marked a thread's messages seen; their sender is told.
    MessagesSeen {
        /// Who read them.
        by: UserId,
        /// Who sent them.
        sender: UserId,
        /// Which messages.
        ids: Vec<MessageId>,
        /// When.
        at: DateTime<Utc>,
    },
    /// Someone started or stopped typing to someone.
    UserTyping {
        /// Who types.
        from: UserId,
        /// To whom.
        to: UserId,
        /// Started (true) or stopped (false).
        typing: bool,
    },
    /// A user's first connection opened or last one closed.
    PresenceChanged {
        /// Whose presence.
        user_id: UserId,
        /// Online now or not.
        online: bool,
        /// Last activity.
        last_active: DateTime<Utc>,
    },
}

impl Event {
    /// A stable name of the event's kind, for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::RoleChanged { .. } => "role_changed",
            Event::SignedOut { .. } => "signed_out",
            Event::Deactivated { .. } => "deactivated",
            Event::ProductAdded(_) => "product_added",
            Event::ProductChanged(_) => "product_changed",
            Event::ProductRemoved(_) => "product_removed",
            Event::OrderPlaced(_) => "order_placed",
            Event::OrderStatusChanged(_) => "order_status_changed",
            Event::MessageSent { .. } => "message_sent",
            Event::MessagesSeen { .. } => "messages_seen",
            Event::UserTyping { .. } => "user_typing",
            Event::PresenceChanged { .. } => "presence_changed",
        }
    }

    /// A chat message sent from `connection` itself: that connection has it
    /// already (the ack or the mutation's answer), so it is not echoed there.
    pub fn sent_from(&self, connection: Option<&ConnectionId>) -> bool {
        matches!(
            self,
            Event::MessageSent { origin: Some(sent), .. } if Some(sent) == connection
        )
    }
}

/// Identifies one live connection (a Socket.IO socket or a GraphQL
/// WebSocket), so an event can skip the connection it came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConnectionId(pub String);

/// An event as the hub publishes it: with its audience, its place in the
/// event log, and its rendering, shared by every subscriber that receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    /// The event as a door writes it to each of its connections, made by
    /// the first connection that renders it (one serialisation per event,
    /// however many connections hear it).
    pub rendered: Rendered,
    /// Its place in the event log, for events a client can miss and resume
    /// (`None`: live only, such as typing and presence).
    pub position: Option<Position>,
    /// When it happened (for logged events: when it was logged).
    pub at: DateTime<Utc>,
    /// Who may hear it.
    pub audience: Audience,
    /// What happened.
    pub event: Event,
}

impl Published {
    /// A published event not rendered yet.
    pub fn new(
        position: Option<Position>,
        at: DateTime<Utc>,
        audience: Audience,
        event: Event,
    ) -> Self {
        Published {
            rendered: Rendered::default(),
            position,
            at,
            audience,
            event,
        }
    }
}

/// One door's rendering of an event, kept with the event so that every
/// connection of that door writes the same bytes. The hub does not know the
/// type; the door that renders per connection (Socket.IO) names it.
#[derive(Default)]
pub struct Rendered(OnceLock<Box<dyn Any + Send + Sync>>);

impl Rendered {
    /// The rendering, made by `render` the first time it is asked for. A
    /// second type asked of the same event (no door does that) is rendered
    /// each time rather than mixed up.
    pub fn get_or_render<T>(&self, render: impl Fn() -> T) -> T
    where
        T: Clone + Send + Sync + 'static,
    {
        let kept = self.0.get_or_init(|| Box::new(render()));
        match kept.downcast_ref::<T>() {
            Some(value) => value.clone(),
            None => render(),
        }
    }
}

impl Clone for Rendered {
    /// A copy of a published event is rendered anew (it may be changed).
    fn clone(&self) -> Self {
        Rendered::default()
    }
}

impl PartialEq for Rendered {
    /// Renderings do not make two events different.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for Rendered {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(if self.0.get().is_some() {
            "Rendered"
        } else {
            "NotRendered"
        })
    }
}

/// What a subscriber reads.
#[derive(Debug, Clone, PartialEq)]
pub enum HubItem {
    /// The next event.
    Event(Arc<Published>),
    /// The subscriber fell this many events behind; they are gone.
    Lagged(u64),
}

/// Events a channel holds for its slowest subscriber before that subscriber
/// starts missing them.
pub const DEFAULT_CAPACITY: usize = 1024;

/// A cheap-clone handle on the bus, held in application state.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    capacity: usize,
    everyone: broadcast::Sender<Arc<Published>>,
    admins: broadcast::Sender<Arc<Published>>,
    /// Each connected user's subscribers.
    users: Mutex<HashMap<UserId, Vec<Arc<Inbox>>>>,
    /// The other processes of the cluster, when there are any.
    relay: Option<Arc<dyn Relay>>,
    /// Told of every event before its subscribers (set up at start-up).
    observers: RwLock<Vec<Arc<dyn Observer>>>,
}

/// Carries what this process publishes to the other processes of a
/// cluster (the backplane does). Called on the publishing path, so it must
/// not wait: a relay queues, and drops what it cannot queue.
pub trait Relay: Send + Sync {
    /// Sends one event this process published to the other processes.
    fn relay(&self, published: &Published);
}

/// Learns of every event the hub carries (this process's and what other
/// processes published), synchronously, before any subscriber can read it,
/// so it is never behind what a client heard, and cannot lag as a
/// subscriber can. Called on the publishing path: it must not wait.
pub trait Observer: Send + Sync {
    /// One event, as it enters the hub.
    fn observe(&self, published: &Published);
}

impl Hub {
    /// A hub whose channels hold `capacity` events each.
    pub fn new(capacity: usize) -> Self {
        Self::with_relay(capacity, None)
    }

    /// A hub that also relays what this process publishes to the other
    /// processes of the cluster (`None`: one process, as [`new`](Self::new)).
    pub fn with_relay(capacity: usize, relay: Option<Arc<dyn Relay>>) -> Self {
        let capacity = capacity.max(1);
        Hub {
            inner: Arc::new(Inner {
                capacity,
                everyone: broadcast::channel(capacity).0,
                admins: broadcast::channel(capacity).0,
                users: Mutex::new(HashMap::new()),
                relay,
                observers: RwLock::new(Vec::new()),
            }),
        }
    }

    /// Whether this hub relays to other processes (a cluster), which then
    /// bring what they publish.
    pub fn is_relayed(&self) -> bool {
        self.inner.relay.is_some()
    }

    /// Publishes one live-only event to its audience. Never waits: with no
    /// subscriber the event is dropped, and slow subscribers lag instead of
    /// blocking. Events a client can miss go through the event log instead
    /// ([`EventLog::record`](crate::services::EventLog::record)), which
    /// publishes them here with their position, in position order.
    pub fn publish(&self, audience: Audience, event: Event) {
        let published = Published::new(None, crate::store::now(), audience, event);
        self.relay(&published);
        self.send(published);
    }

    /// Sends an event this process published to the other processes of the
    /// cluster, if any (the event log relays its own logged events as soon
    /// as they have a position, and delivers them here in position order).
    pub fn relay(&self, published: &Published) {
        if let Some(relay) = &self.inner.relay {
            relay.relay(published);
        }
    }

    /// Delivers an event to this process's connections only: logged events
    /// in position order (the event log does), and what other processes
    /// published (relaying those again would echo them around the cluster).
    pub fn deliver(&self, published: Published) {
        self.send(published);
    }

    /// Tells `observer` of every event from now on, before its subscribers.
    pub fn observe_with(&self, observer: Arc<dyn Observer>) {
        self.inner
            .observers
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(observer);
    }

    fn send(&self, published: Published) {
        crate::metrics::event_published(published.event.kind());
        for observer in self
            .inner
            .observers
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
        {
            observer.observe(&published);
        }
        let published = Arc::new(published);
        match &published.audience {
            Audience::Everyone => {
                let _ = self.inner.everyone.send(published.clone());
            }
            Audience::Admins => {
                let _ = self.inner.admins.send(published.clone());
            }
            Audience::User(user_id) => self.send_to_user(user_id, &published),
            Audience::Users(user_ids) => {
                for user_id in user_ids {
                    self.send_to_user(user_id, &published);
                }
            }
            Audience::UsersAndAdmins(user_ids) => {
                for user_id in user_ids {
                    self.send_to_user(user_id, &published);
                }
                let _ = self.inner.admins.send(published.clone());
            }
        }
    }

    fn send_to_user(&self, user_id: &UserId, published: &Arc<Published>) {
        if let Some(inboxes) = self.inner.users().get(user_id) {
            for inbox in inboxes {
                inbox.push(published, self.inner.capacity);
            }
        }
    }

    /// Everything a signed-in connection may hear: everyone's events, admins'
    /// events for admins, and its own user's events.
    pub fn subscribe(&self, principal: &Principal) -> Subscription {
        self.subscribe_connection(principal, None)
    }

    /// As [`subscribe`](Self::subscribe), for the live connection
    /// `connection`: the chat messages sent from it are left out.
    pub fn subscribe_connection(
        &self,
        principal: &Principal,
        connection: Option<ConnectionId>,
    ) -> Subscription {
        let mut streams = vec![BroadcastStream::new(self.inner.everyone.subscribe())];
        if principal.is_admin() {
            streams.push(BroadcastStream::new(self.inner.admins.subscribe()));
        }
        self.subscription(streams, Some((principal.user_id.clone(), connection)))
    }

    /// Only the events addressed to one user (per-connection delivery of
    /// chat messages reads this, without waking on broadcasts).
    pub fn subscribe_user(&self, user_id: &UserId) -> Subscription {
        self.subscribe_user_connection(user_id, None)
    }

    /// As [`subscribe_user`](Self::subscribe_user), for the live connection
    /// `connection`: the chat messages sent from it are left out.
    pub fn subscribe_user_connection(
        &self,
        user_id: &UserId,
        connection: Option<ConnectionId>,
    ) -> Subscription {
        self.subscription(Vec::new(), Some((user_id.clone(), connection)))
    }

    /// What an anonymous connection may hear: everyone's events only.
    pub fn subscribe_anonymous(&self) -> Subscription {
        let streams = vec![BroadcastStream::new(self.inner.everyone.subscribe())];
        self.subscription(streams, None)
    }

    /// A subscription to `streams` and, for a user, a queue of its own among
    /// that user's subscribers.
    fn subscription(
        &self,
        streams: Vec<BroadcastStream<Arc<Published>>>,
        user: Option<(UserId, Option<ConnectionId>)>,
    ) -> Subscription {
        let user = user.map(|(user_id, connection)| {
            let inbox = Inbox::new(connection);
            self.inner
                .users()
                .entry(user_id.clone())
                .or_default()
                .push(inbox.clone());
            (user_id, inbox)
        });
        Subscription {
            streams,
            user,
            hub: self.inner.clone(),
            next: 0,
            // Allocated on the first delivery: an idle subscriber holds none.
            recent: VecDeque::new(),
        }
    }

    /// Number of users with a subscriber (for tests and metrics).
    pub fn user_channels(&self) -> usize {
        self.inner.users().len()
    }
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new(DEFAULT_CAPACITY)
    }
}

impl Inner {
    fn users(&self) -> MutexGuard<'_, HashMap<UserId, Vec<Arc<Inbox>>>> {
        // The map is only touched by short, non-panicking sections; a poisoned
        // lock still holds a consistent map.
        self.users
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A stream of [`HubItem`]s for one connection. Dropping it leaves its
/// user's subscribers.
pub struct Subscription {
    /// The broadcast channels it hears (everyone's, admins').
    streams: Vec<BroadcastStream<Arc<Published>>>,
    /// Its user's events, in a queue of its own.
    user: Option<(UserId, Arc<Inbox>)>,
    hub: Arc<Inner>,
    /// Round-robin start, so a busy channel cannot starve the others.
    next: usize,
    /// The last events delivered, to drop the second copy of an event that
    /// reached this subscriber on two channels (`UsersAndAdmins`).
    recent: VecDeque<Arc<Published>>,
}

/// How many delivered events a subscription remembers for de-duplication.
/// Copies of one event are published back to back, so a few suffice.
const RECENT: usize = 16;

impl Stream for Subscription {
    type Item = HubItem;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<HubItem>> {
        let this = &mut *self;
        loop {
            // The user's queue comes last in the rotation: index `streams.len()`.
            let count = this.streams.len() + usize::from(this.user.is_some());
            let mut finished = 0;
            let mut item = None;
            for offset in 0..count {
                let index = (this.next + offset) % count;
                let polled = match this.streams.get_mut(index) {
                    Some(stream) => Pin::new(stream).poll_next(cx).map(|item| {
                        item.map(|read| {
                            read.map_err(|BroadcastStreamRecvError::Lagged(missed)| missed)
                        })
                    }),
                    None => match &this.user {
                        Some((_, inbox)) => inbox.poll_next(cx).map(Some),
                        None => Poll::Ready(None),
                    },
                };
                match polled {
                    Poll::Ready(Some(ready)) => {
                        this.next = (index + 1) % count;
                        item = Some(ready);
                        break;
                    }
                    Poll::Ready(None) => finished += 1,
                    Poll::Pending => {}
                }
            }
            match item {
                Some(Ok(published)) => {
                    if this.recent.iter().any(|seen| Arc::ptr_eq(seen, &published)) {
                        continue;
                    }
                    if this.recent.len() == RECENT {
                        this.recent.pop_front();
                    }
                    this.recent.push_back(published.clone());
                    return Poll::Ready(Some(HubItem::Event(published)));
                }
                Some(Err(missed)) => return Poll::Ready(Some(HubItem::Lagged(missed))),
                None if finished == count => return Poll::Ready(None),
                None => return Poll::Pending,
            }
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some((user, inbox)) = &self.user {
            let mut users = self.hub.users();
            if let Some(inboxes) = users.get_mut(user) {
                inboxes.retain(|kept| !Arc::ptr_eq(kept, inbox));
                if inboxes.is_empty() {
                    users.remove(user);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::{FutureExt as _, StreamExt as _};

    use super::*;

    fn principal(role: Role) -> Principal {
        Principal {
            user_id: UserId::generate(),
            role,
        }
    }

    fn signed_out(user_id: &UserId) -> Event {
        Event::SignedOut {
            user_id: user_id.clone(),
        }
    }

    async fn next_event(subscription: &mut Subscription) -> Arc<Published> {
        match tokio::time::timeout(Duration::from_secs(1), subscription.next()).await {
            Ok(Some(HubItem::Event(published))) => published,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    fn nothing_pending(subscription: &mut Subscription) -> bool {
        subscription.next().now_or_never().is_none()
    }

    #[tokio::test]
    async fn an_event_for_one_user_wakes_only_that_users_subscribers() {
        let hub = Hub::default();
        let alice = principal(Role::User);
        let bob = principal(Role::User);
        let admin = principal(Role::Admin);
        let mut alice_tab_1 = hub.subscribe(&alice);
        let mut alice_tab_2 = hub.subscribe(&alice);
        let mut bob_tab = hub.subscribe(&bob);
        let mut admin_tab = hub.subscribe(&admin);

        hub.publish(
            Audience::User(alice.user_id.clone()),
            signed_out(&alice.user_id),
        );

        assert_eq!(
            next_event(&mut alice_tab_1).await.event,
            signed_out(&alice.user_id)
        );
        assert_eq!(
            next_event(&mut alice_tab_2).await.event,
            signed_out(&alice.user_id)
        );
        assert!(nothing_pending(&mut bob_tab));
        assert!(nothing_pending(&mut admin_tab));
    }

    #[tokio::test]
    async fn admin_events_reach_admins_only_and_everyone_events_reach_all() {
        let hub = Hub::default();
        let user = principal(Role::User);
        let admin = principal(Role::Admin);
        let mut user_tab = hub.subscribe(&user);
        let mut admin_tab = hub.subscribe(&admin);
        let mut anonymous = hub.subscribe_anonymous();

        hub.publish(Audience::Admins, signed_out(&admin.user_id));
        assert_eq!(next_event(&mut admin_tab).await.audience, Audience::Admins);
        assert!(nothing_pending(&mut user_tab));
        assert!(nothing_pending(&mut anonymous));

        hub.publish(Audience::Everyone, signed_out(&user.user_id));
        for tab in [&mut user_tab, &mut admin_tab, &mut anonymous] {
            assert_eq!(next_event(tab).await.audience, Audience::Everyone);
        }
    }

    #[tokio::test]
    async fn a_lagging_subscriber_never_blocks_the_publisher_and_is_told() {
        let hub = Hub::new(4);
        let user = principal(Role::User);
        let mut idle = hub.subscribe(&user);

        // Publishing far past capacity completes without anyone reading.
        for _ in 0..100 {
            hub.publish(
                Audience::User(user.user_id.clone()),
                signed_out(&user.user_id),
            );
        }

        match idle.next().await {
            Some(HubItem::Lagged(missed)) => assert_eq!(missed, 96),
            other => panic!("expected a lag report, got {other:?}"),
        }
        // After the report the subscriber continues with what is still held.
        assert_eq!(next_event(&mut idle).await.event, signed_out(&user.user_id));
    }

    #[tokio::test]
    async fn users_and_admins_events_reach_the_owner_and_admins_once_each() {
        let hub = Hub::default();
        let owner = principal(Role::User);
        let owner_who_is_admin = principal(Role::Admin);
        let other_admin = principal(Role::Admin);
        let bystander = principal(Role::User);
        let mut owner_tab = hub.subscribe(&owner);
        let mut admin_owner_tab = hub.subscribe(&owner_who_is_admin);
        let mut admin_tab = hub.subscribe(&other_admin);
        let mut bystander_tab = hub.subscribe(&bystander);

        hub.publish(
            Audience::UsersAndAdmins(vec![owner.user_id.clone()]),
            signed_out(&owner.user_id),
        );
        hub.publish(
            Audience::UsersAndAdmins(vec![owner_who_is_admin.user_id.clone()]),
            signed_out(&owner_who_is_admin.user_id),
        );

        assert_eq!(
            next_event(&mut owner_tab).await.event,
            signed_out(&owner.user_id)
        );
        assert!(nothing_pending(&mut owner_tab));
        // The admin who owns the second event gets both, each once.
        assert_eq!(
            next_event(&mut admin_owner_tab).await.event,
            signed_out(&owner.user_id)
        );
        assert_eq!(
            next_event(&mut admin_owner_tab).await.event,
            signed_out(&owner_who_is_admin.user_id)
        );
        assert!(nothing_pending(&mut admin_owner_tab));
        assert_eq!(
            next_event(&mut admin_tab).await.event,
            signed_out(&owner.user_id)
        );
        assert_eq!(
            next_event(&mut admin_tab).await.event,
            signed_out(&owner_who_is_admin.user_id)
        );
        assert!(nothing_pending(&mut bystander_tab));
    }

    #[tokio::test]
    async fn an_observer_hears_every_event_whatever_its_audience_before_subscribers() {
        struct Seen(Mutex<Vec<Audience>>);
        impl Observer for Seen {
            fn observe(&self, published: &Published) {
                self.0.lock().unwrap().push(published.audience.clone());
            }
        }
        let hub = Hub::default();
        let seen = Arc::new(Seen(Mutex::new(Vec::new())));
        hub.observe_with(seen.clone());
        let user = principal(Role::User);
        let mut tab = hub.subscribe(&user);

        hub.publish(Audience::Admins, signed_out(&user.user_id));
        hub.publish(
            Audience::User(UserId::generate()),
            signed_out(&user.user_id),
        );
        hub.deliver(Published::new(
            None,
            crate::store::now(),
            Audience::User(user.user_id.clone()),
            signed_out(&user.user_id),
        ));

        // Told synchronously: before the subscriber has read anything.
        assert_eq!(seen.0.lock().unwrap().len(), 3);
        assert_eq!(next_event(&mut tab).await.event, signed_out(&user.user_id));
    }

    #[tokio::test]
    async fn a_chat_message_skips_the_connection_it_was_sent_from_only() {
        let hub = Hub::default();
        let sender = principal(Role::User);
        let recipient = principal(Role::User);
        let sending_tab = ConnectionId("sending tab".into());
        let mut origin = hub.subscribe_connection(&sender, Some(sending_tab.clone()));
        let mut origin_messages =
            hub.subscribe_user_connection(&sender.user_id, Some(sending_tab.clone()));
        let mut other_tab = hub.subscribe_connection(&sender, Some(ConnectionId("other".into())));
        let mut recipient_tab = hub.subscribe(&recipient);
        let sent = Event::MessageSent {
            message: Message {
                id: MessageId::generate(),
                from: sender.user_id.clone(),
                to: recipient.user_id.clone(),
                text: crate::domain::MessageText::parse("hi").unwrap(),
                seen_at: None,
                delivered: false,
                created_at: crate::store::now(),
            },
            origin: Some(sending_tab),
        };

        hub.publish(
            Audience::Users(vec![recipient.user_id.clone(), sender.user_id.clone()]),
            sent.clone(),
        );

        assert_eq!(next_event(&mut recipient_tab).await.event, sent);
        assert_eq!(next_event(&mut other_tab).await.event, sent);
        assert!(nothing_pending(&mut origin));
        assert!(nothing_pending(&mut origin_messages));
        // Anything else addressed to the sender still reaches that connection.
        hub.publish(
            Audience::User(sender.user_id.clone()),
            signed_out(&sender.user_id),
        );
        assert_eq!(
            next_event(&mut origin).await.event,
            signed_out(&sender.user_id)
        );
        assert_eq!(
            next_event(&mut origin_messages).await.event,
            signed_out(&sender.user_id)
        );
    }

    #[tokio::test]
    async fn a_users_channel_is_dropped_with_its_last_subscriber() {
        let hub = Hub::default();
        let user = principal(Role::User);
        let first = hub.subscribe(&user);
        let second = hub.subscribe(&user);
        assert_eq!(hub.user_channels(), 1);
        drop(first);
        assert_eq!(hub.user_channels(), 1);
        drop(second);
        assert_eq!(hub.user_channels(), 0);
        // Publishing to a user with no channel is a no-op, not an error.
        hub.publish(
            Audience::User(user.user_id.clone()),
            signed_out(&user.user_id),
        );
        assert_eq!(hub.user_channels(), 0);
    }
}
