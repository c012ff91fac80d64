//! `events(after:)`: one ordered, resumable stream of every event the caller
//! may see, each with its position in the event log. The connection service
//! does the work (`Connections::feed`): replay after `after`, then live,
//! each event once; this module only maps its items to GraphQL types.

use async_graphql::{Context, SimpleObject, Subscription, Union};
use futures::{Stream, StreamExt as _};

use super::catalog::{Product, ProductRemoved};
use super::chat::{Message, SeenReceipt, receipt};
use super::context::ContextExt as _;
use super::orders::Order;
use super::scalars::DateTime;
use crate::error::AppError;
use crate::hub::{ConnectionId, Event, Published};
use crate::services::Outbound;

/// Everything up to `position` has been sent: a client that drops now
/// resumes with `events(after: position)`. First item without `after`;
/// after the replay with it.
#[derive(SimpleObject)]
pub struct Checkpoint {
    /// The head of the event log for this subscription.
    pub position: String,
}

/// A user placed an order (admins).
#[derive(SimpleObject)]
pub struct OrderPlaced {
    /// Resume after this.
    pub position: String,
    /// When it happened.
    pub at: DateTime,
    /// The order as placed.
    pub order: Order,
}

/// An order moved (its owner and admins).
#[derive(SimpleObject)]
pub struct OrderStatusChanged {
    /// Resume after this.
    pub position: String,
    /// When it happened.
    pub at: DateTime,
    /// The order as it was after the move.
    pub order: Order,
}

/// A product was added (everyone).
#[derive(SimpleObject)]
pub struct ProductAdded {
    /// Resume after this.
    pub position: String,
    /// When it happened.
    pub at: DateTime,
    /// The product as added.
    pub product: Product,
}

/// A product changed (everyone).
#[derive(SimpleObject)]
pub struct ProductChanged {
    /// Resume after this.
    pub position: String,
    /// When it happened.
    pub at: DateTime,
    /// The product after the change.
    pub product: Product,
}

/// A chat message to or from the caller (not those sent on this very
/// connection: the mutation answered them).
#[derive(SimpleObject)]
pub struct MessageSent {
    /// Resume after this.
    pub position: String,
    /// When it happened.
    pub at: DateTime,
    /// The message.
    pub message: Message,
}

/// The caller's messages were seen by their recipient.
#[derive(SimpleObject)]
pub struct MessagesSeenByPeer {
    /// Resume after this.
    pub position: String,
    /// When it happened.
    pub at: DateTime,
    /// Which messages, by whom, when.
    pub receipt: SeenReceipt,
}

/// One item of `events`.
#[derive(Union)]
pub enum LiveEvent {
    /// Where to resume from.
    Checkpoint(Checkpoint),
    /// `order_placed`.
    OrderPlaced(OrderPlaced),
    /// `order_status_changed`.
    OrderStatusChanged(OrderStatusChanged),
    /// `product_added`.
    ProductAdded(ProductAdded),
    /// `product_changed`.
    ProductChanged(ProductChanged),
    /// `product_removed`.
    ProductRemoved(ProductRemoved),
    /// `message_sent`.
    MessageSent(MessageSent),
    /// `messages_seen`.
    MessagesSeenByPeer(MessagesSeenByPeer),
}

/// The resumable stream.
#[derive(Default)]
pub struct EventSubscription;

#[Subscription]
impl EventSubscription {
    /// Every event the caller may see (the same audiences as the other
    /// subscriptions), in order, each with its `position`. With `after` (a
    /// position from an earlier item) it first replays what happened since,
    /// then continues live, with no gap and no duplicate; without it, it
    /// starts with a `Checkpoint` (the current head). A position that is
    /// unknown or older than the retention window yields an error item with
    /// code `RESYNC_REQUIRED` (refetch, then continue), then a `Checkpoint`
    /// and live events. Typing and presence are not here (live only: see
    /// `userTyping`, `presenceChanged`).
    ///
    /// Errors: `UNAUTHENTICATED`; `RESYNC_REQUIRED` (an item, then a
    /// `Checkpoint` and live events) for an unknown or expired `after`.
    async fn events(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<LiveEvent>>> {
        let principal = ctx.principal()?.clone();
        let origin = ctx.data_opt::<ConnectionId>().cloned();
        let connections = ctx.services().connections.clone();
        let feed = connections.feed(principal.clone(), origin, after);
        Ok(feed
            .take_while(|item| futures::future::ready(!matches!(item, Outbound::Ended(_))))
            .filter_map(move |item| {
                let event = live_event(&item);
                // Handed to async-graphql, which writes it next.
                connections.handed_over(&principal, &item);
                futures::future::ready(event)
            }))
    }
}

fn live_event(item: &Outbound) -> Option<async_graphql::Result<LiveEvent>> {
    match item {
        Outbound::ResumeFrom(position) => Some(Ok(LiveEvent::Checkpoint(Checkpoint {
            position: position.to_string(),
        }))),
        Outbound::ResyncRequired(reason) => Some(Err(super::error::render(
            &AppError::ResyncRequired(reason.as_str()),
        ))),
        Outbound::Event(published) => logged(published).map(Ok),
        Outbound::Ended(_) => None,
    }
}

fn logged(published: &Published) -> Option<LiveEvent> {
    let position = published.position?.to_string();
    let at = DateTime::from(published.at);
    Some(match &published.event {
        Event::OrderPlaced(order) => LiveEvent::OrderPlaced(OrderPlaced {
            position,
            at,
            order: Order::from(order.clone()),
        }),
        Event::OrderStatusChanged(order) => LiveEvent::OrderStatusChanged(OrderStatusChanged {
            position,
            at,
            order: Order::from(order.clone()),
        }),
        Event::ProductAdded(product) => LiveEvent::ProductAdded(ProductAdded {
            position,
            at,
            product: Product::from(product.clone()),
        }),
        Event::ProductChanged(product) => LiveEvent::ProductChanged(ProductChanged {
            position,
            at,
            product: Product::from(product.clone()),
        }),
        Event::ProductRemoved(id) => LiveEvent::ProductRemoved(ProductRemoved::new(published, id)),
        Event::MessageSent { message, .. } => LiveEvent::MessageSent(MessageSent {
            position,
            at,
            message: Message::from(message.clone()),
        }),
        Event::MessagesSeen {
            by, ids, at: seen, ..
        } => LiveEvent::MessagesSeenByPeer(MessagesSeenByPeer {
            position,
            at,
            receipt: receipt(by.clone(), ids, *seen),
        }),
        _ => return None,
    })
}
