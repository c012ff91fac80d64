//! Shared subscriptions: one execution per document and role, and each
//! event's payload serialised once for every subscriber that asked the same.
//!
//! async-graphql runs a subscription once per subscriber: for every event,
//! every subscriber's stream resolves its selection and serialises the
//! response. With 10,000 subscribers of `newProduct` (W6 of BENCHMARKS.md)
//! that is 10,000 resolutions of one product per event. The root fields in
//! [`SHARED_FIELDS`] answer every subscriber of one role alike (the event
//! goes to everyone, or to every admin, and what their selections read
//! depends on nothing else of the caller), so the subscribers that send the
//! same document, variables and operation name with the same role share one
//! [`Renderer`]: a task that runs the operation once, through the
//! [`Engine`] (the same parsing, validation, limits and error codes as any
//! other operation), and hands each payload, serialised once, to all of
//! them. The WebSocket door wraps it in each subscriber's `next` frame
//! ([`Share`]).
//!
//! Sharing is decided before anything is sent, and every other case runs as
//! before, the subscriber's own execution inside async-graphql: another root
//! field, more than one, a fragment or a directive at the root, a persisted
//! query, the legacy `graphql-ws` subprotocol, and an operation that answers
//! at once (a validation error, `FORBIDDEN` for a user asking for
//! `newOrder`), whose answer async-graphql then gives exactly as it did.
//!
//! Falling behind: the renderer lags behind the hub like any subscription,
//! and its `LAGGED` item goes to all its subscribers; a subscriber that lags
//! behind the renderer (its socket is slow) gets a `LAGGED` item of its own,
//! the same error at the same path, and goes on.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationType, Selection,
};
use async_graphql::{Data, Executor as _, PathSegment, Pos, Request, Response, ServerError};
use futures::{FutureExt as _, StreamExt as _};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::AbortHandle;

use super::Engine;
use super::live::{AUDIENCE, lagged_error};
use crate::auth::Principal;
use crate::hub::DEFAULT_CAPACITY;
use crate::metrics::{self, Door};

/// The root subscription fields whose answer depends on the caller's role
/// alone. A field joins this list only if its events go to a whole role
/// (everyone, or every admin) and nothing its selections can reach reads
/// the caller beyond the role: `orderStatusUpdated` (a user's own orders),
/// the chat fields and `events` (a user's own events) stay out.
pub const SHARED_FIELDS: &[&str] = &[
    "newProduct",
    "productUpdated",
    "productDeleted",
    "productRemoved",
    "newOrder",
];

/// A payload serialised once (`{"data":…}`), shared by every subscriber.
pub type Payload = Arc<str>;

/// What identifies the answer a subscription gets: subscribers with equal
/// keys get equal payloads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    admin: bool,
    query: String,
    operation_name: Option<String>,
    /// The variables as JSON (object keys in the order sent).
    variables: String,
}

/// The renderers running, by key. Entries are weak: a renderer lives as
/// long as one subscriber holds it, and removes its entry when it goes.
#[derive(Default)]
pub struct Renderers(Arc<Mutex<HashMap<Key, Weak<Renderer>>>>);

/// One execution of a shared subscription, and the payloads it sends.
pub struct Renderer {
    /// A receiver kept to subscribe newcomers with (`resubscribe`); it is
    /// never read, so it only ever lags.
    payloads: broadcast::Receiver<Payload>,
    /// The execution's stream ended (the hub shut down): a newcomer starts
    /// a new renderer instead of joining this one.
    ended: Arc<AtomicBool>,
    task: AbortHandle,
    key: Key,
    running: Weak<Mutex<HashMap<Key, Weak<Renderer>>>>,
}

impl Drop for Renderer {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(running) = self.running.upgrade() {
            let mut running = lock(&running);
            // A newer renderer may hold the key already; it stays.
            if running
                .get(&self.key)
                .is_some_and(|renderer| renderer.strong_count() == 0)
            {
                running.remove(&self.key);
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Engine {
    /// A share of the renderer for `request` as `principal` asks it, started
    /// now if none runs; `None` when the request is not one to share (see
    /// the module's docs) and the subscriber's own execution must answer
    /// it. `data` gives the execution's data (the caller, the loaders) when
    /// a renderer starts; it must not hold anything of one connection that
    /// the shared fields could read.
    pub fn join_shared(
        &self,
        principal: &Principal,
        request: Request,
        data: impl FnOnce() -> Data,
    ) -> Option<Share> {
        if !request.extensions.is_empty() {
            return None;
        }
        let root = shared_root(
            &*self.parsed_document(&request.query)?,
            request.operation_name.as_deref(),
        )?;
        let key = Key {
            admin: principal.is_admin(),
            query: request.query.clone(),
            operation_name: request.operation_name.clone(),
            variables: serde_json::to_string(&request.variables).ok()?,
        };
        let renderers = &self.renderers().0;
        let mut running = lock(renderers);
        let stale = match running.get(&key).and_then(Weak::upgrade) {
            Some(renderer) if !renderer.ended.load(Ordering::SeqCst) => {
                drop(running);
                return Some(Share::new(renderer.payloads.resubscribe(), renderer, root));
            }
            other => other,
        };
        let mut stream = self.execute_stream(request, Some(Arc::new(data())));
        // An operation that answers before any event (refused, invalid) is
        // left to async-graphql, which answers it for this subscriber alone.
        if stream.next().now_or_never().is_some() {
            drop(running);
            drop(stale);
            return None;
        }
        let (sender, payloads) = broadcast::channel(DEFAULT_CAPACITY);
        let ended = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(render(stream, sender, ended.clone())).abort_handle();
        let renderer = Arc::new(Renderer {
            payloads,
            ended,
            task,
            key: key.clone(),
            running: Arc::downgrade(renderers),
        });
        running.insert(key, Arc::downgrade(&renderer));
        drop(running);
        drop(stale);
        Some(Share::new(renderer.payloads.resubscribe(), renderer, root))
    }
}

/// Runs one shared execution: each response serialised once and sent to
/// every subscriber. Deliveries are counted by the subscription's own
/// stream ([`AUDIENCE`] tells it how many subscribers there are).
async fn render(
    mut stream: futures::stream::BoxStream<'static, Response>,
    sender: broadcast::Sender<Payload>,
    ended: Arc<AtomicBool>,
) {
    AUDIENCE
        .scope(Cell::new(1), async move {
            loop {
                // The renderer's own receiver is not a subscriber.
                let audience = sender.receiver_count().saturating_sub(1) as u64;
                AUDIENCE.with(|cell| cell.set(audience));
                let Some(response) = stream.next().await else {
                    break;
                };
                let payload = serde_json::to_string(&response)
                    .expect("BUG: a GraphQL response always serialises");
                let _ = sender.send(payload.into());
            }
            // Before the sender goes: a newcomer that still finds this
            // renderer running gets the end of its stream.
            ended.store(true, Ordering::SeqCst);
        })
        .await;
}

/// The one root field of a shareable subscription: its response key and
/// where it is in the document (for a `LAGGED` item of its own).
#[derive(Debug, Clone)]
struct Root {
    response_key: String,
    pos: Pos,
}

/// The root field if the operation is a subscription of exactly one field
/// of [`SHARED_FIELDS`], with no directive; `None` otherwise.
fn shared_root(document: &ExecutableDocument, operation_name: Option<&str>) -> Option<Root> {
    let operation = match (&document.operations, operation_name) {
        (DocumentOperations::Single(operation), None) => operation,
        (DocumentOperations::Single(_), Some(_)) => return None,
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name)?,
        (DocumentOperations::Multiple(_), None) => return None,
    };
    if operation.node.ty != OperationType::Subscription || !operation.node.directives.is_empty() {
        return None;
    }
    let [item] = operation.node.selection_set.node.items.as_slice() else {
        return None;
    };
    let Selection::Field(field) = &item.node else {
        return None;
    };
    let shared = SHARED_FIELDS.contains(&field.node.name.node.as_str());
    (shared && field.node.directives.is_empty()).then(|| Root {
        response_key: field.node.response_key().node.to_string(),
        pos: field.pos,
    })
}

/// What one subscriber gets from a shared subscription.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// The next payload (a `LAGGED` error item of this subscriber's own
    /// when it fell behind).
    Next(Payload),
    /// The execution ended: the subscription is complete.
    Complete,
}

/// One subscriber's share of a renderer: its [`Delivery`]s, one at a
/// time, ending after [`Delivery::Complete`]. Dropping the last share of a
/// renderer stops it.
pub struct Share {
    payloads: broadcast::Receiver<Payload>,
    root: Root,
    completed: bool,
    _renderer: Arc<Renderer>,
}

impl Share {
    fn new(payloads: broadcast::Receiver<Payload>, renderer: Arc<Renderer>, root: Root) -> Self {
        Self {
            payloads,
            root,
            completed: false,
            _renderer: renderer,
        }
    }

    /// The next delivery; `None` after [`Delivery::Complete`].
    pub async fn next(&mut self) -> Option<Delivery> {
        if self.completed {
            return None;
        }
        Some(match self.payloads.recv().await {
            Ok(payload) => Delivery::Next(payload),
            Err(RecvError::Lagged(missed)) => {
                metrics::lagged(Door::GraphqlWs);
                Delivery::Next(lagged_payload(&self.root, missed).into())
            }
            Err(RecvError::Closed) => {
                self.completed = true;
                Delivery::Complete
            }
        })
    }
}

/// The `LAGGED` item async-graphql gives a subscription that missed
/// `missed` events: the error at its root field.
fn lagged_payload(root: &Root, missed: u64) -> String {
    let mut error: ServerError = lagged_error(missed).into_server_error(root.pos);
    error.path = vec![PathSegment::Field(root.response_key.clone())];
    serde_json::to_string(&Response::from_errors(vec![error]))
        .expect("BUG: a GraphQL response always serialises")
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;
    use serde_json::{Value, json};

    use super::{lagged_payload, shared_root};

    fn root_of(query: &str, operation_name: Option<&str>) -> Option<String> {
        shared_root(&parse_query(query).unwrap(), operation_name).map(|root| root.response_key)
    }

    #[test]
    fn only_one_shared_root_field_without_directives_is_shared() {
        // Shared: one field of the list, aliased or not, named or not.
        assert_eq!(
            root_of("subscription { newProduct { id } }", None).as_deref(),
            Some("newProduct")
        );
        assert_eq!(
            root_of("subscription S { added: newOrder { id } }", Some("S")).as_deref(),
            Some("added")
        );
        assert_eq!(
            root_of(
                "subscription A { newProduct { id } } subscription B { productUpdated { id } }",
                Some("B")
            )
            .as_deref(),
            Some("productUpdated")
        );
        // Not shared: everything else is the subscriber's own execution.
        for (query, operation_name) in [
            ("subscription { messageReceived { id } }", None),
            ("subscription { orderStatusUpdated { id } }", None),
            (
                "subscription { newProduct { id } productUpdated { id } }",
                None,
            ),
            (
                "subscription { newProduct @include(if: true) { id } }",
                None,
            ),
            ("subscription S @deprecated { newProduct { id } }", None),
            (
                "subscription { ...F } fragment F on Subscription { newProduct { id } }",
                None,
            ),
            ("{ products { totalCount } }", None),
            (
                "subscription A { newProduct { id } } subscription B { newProduct { id } }",
                None,
            ),
            ("subscription { newProduct { id } }", Some("Other")),
        ] {
            assert_eq!(root_of(query, operation_name), None, "{query}");
        }
    }

    #[test]
    fn a_subscriber_behind_gets_the_lagged_error_at_its_root_field() {
        let root = shared_root(
            &parse_query("subscription { p: newProduct { id } }").unwrap(),
            None,
        )
        .unwrap();

        let payload: Value = serde_json::from_str(&lagged_payload(&root, 7)).unwrap();

        assert_eq!(payload["data"], Value::Null);
        let error = &payload["errors"][0];
        assert_eq!(error["path"], json!(["p"]));
        assert_eq!(
            error["extensions"],
            json!({ "code": "LAGGED", "missed": 7 })
        );
        assert_eq!(error["locations"], json!([{ "line": 1, "column": 16 }]));
    }
}
