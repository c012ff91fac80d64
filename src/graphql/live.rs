//! Subscriptions are hub streams filtered to one kind of event.

use async_graphql::ErrorExtensions as _;
use futures::{Stream, StreamExt as _};

use crate::hub::{Event, HubItem, Published, Subscription};
use crate::metrics::{self, Door};

tokio::task_local! {
    /// How many subscribers an item goes to: set by a shared subscription's
    /// renderer (`shared.rs`), which converts each event once for all of
    /// them; one everywhere else.
    pub static AUDIENCE: std::cell::Cell<u64>;
}

/// The events of one kind from a hub subscription, converted. A lagging
/// subscriber gets an error item (`extensions.code = "LAGGED"`, with the
/// number missed) instead of a silent gap, and the stream goes on.
pub fn events<T: Send + 'static>(
    subscription: Subscription,
    pick: impl Fn(&Event) -> Option<T> + Send + 'static,
) -> impl Stream<Item = async_graphql::Result<T>> + Send + 'static {
    published(subscription, move |published| pick(&published.event))
}

/// Like [`events`], picking from the whole published event: for payloads
/// that carry its log position and time as well.
pub fn published<T: Send + 'static>(
    subscription: Subscription,
    pick: impl Fn(&Published) -> Option<T> + Send + 'static,
) -> impl Stream<Item = async_graphql::Result<T>> + Send + 'static {
    subscription.filter_map(move |item| {
        let next = match item {
            HubItem::Event(published) => pick(&published).map(|item| {
                let audience = AUDIENCE.try_with(std::cell::Cell::get).unwrap_or(1);
                metrics::events_delivered(Door::GraphqlWs, published.event.kind(), audience);
                Ok(item)
            }),
            HubItem::Lagged(missed) => {
                metrics::lagged(Door::GraphqlWs);
                Some(Err(lagged_error(missed)))
            }
        };
        futures::future::ready(next)
    })
}

/// The error item of a subscription that fell behind and missed `missed`
/// events (`extensions.code = "LAGGED"`).
pub fn lagged_error(missed: u64) -> async_graphql::Error {
    async_graphql::Error::new(format!(
        "this subscription fell behind and missed {missed} events; refetch to catch up"
    ))
    .extend_with(|_, extensions| {
        extensions.set("code", "LAGGED");
        extensions.set("missed", missed);
    })
}
