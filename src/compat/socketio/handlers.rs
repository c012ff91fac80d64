//! Client events → the services: one table from event name to handler.
//! Every handler answers with the envelope the event's ack carries (`{status:
//! "success", data}` or the error envelope); an event without an ack id is
//! handled all the same and answers nothing. Unknown events are ignored,
//! as Socket.IO servers do.

use std::sync::Arc;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use serde_json::Value;
use socketioxide_core::parser::Parse as _;
use socketioxide_parser_common::CommonParser;

use super::caller::Caller;
use super::events::{self, SocketEvent};
use super::{chat, orders};
use crate::compat::envelope;
use crate::error::AppError;

/// A handler at work: the ack id it answers and the body of the answer.
pub type Reply = BoxFuture<'static, (Option<i64>, Value)>;

/// A handler: the caller and the event's argument (`None` when it sent
/// none) to the ack's `data` or the error.
type Handler = fn(Arc<Caller>, Option<Value>) -> BoxFuture<'static, Result<Value, AppError>>;

/// Every client → server event of the door and its handler.
const HANDLERS: [(&SocketEvent, Handler); 6] = [
    (&events::UPDATE_ORDER_STATUS, |caller, payload| {
        orders::update_order_status(caller, payload).boxed()
    }),
    (&events::SEND_MESSAGE, |caller, payload| {
        chat::send_message(caller, payload).boxed()
    }),
    (&events::TYPING, |caller, payload| {
        chat::set_typing(caller, payload, true).boxed()
    }),
    (&events::START_TYPING, |caller, payload| {
        chat::set_typing(caller, payload, true).boxed()
    }),
    (&events::STOP_TYPING, |caller, payload| {
        chat::set_typing(caller, payload, false).boxed()
    }),
    (&events::MARK_SEEN, |caller, payload| {
        chat::mark_seen(caller, payload).boxed()
    }),
];

/// The handling of one EVENT packet (`data`: `["name", argument…]`), or
/// `None` for an event the door does not handle.
pub fn dispatch(
    caller: &Arc<Caller>,
    data: &mut socketioxide_core::Value,
    ack: Option<i64>,
) -> Option<Reply> {
    let name = CommonParser.read_event(data).ok()?;
    let handler = HANDLERS
        .iter()
        .find(|(event, _)| event.name == name)
        .map(|(_, handler)| *handler)?;
    let payload = CommonParser.decode_value::<Value>(data, true).ok();
    // A handler runs inside its socket's task: a panic in one is answered
    // as an internal error instead of ending the socket.
    let handling = std::panic::AssertUnwindSafe(handler(caller.clone(), payload)).catch_unwind();
    Some(
        async move {
            let body = match handling.await {
                Ok(Ok(data)) => envelope::success(data),
                Ok(Err(error)) => envelope::error_body(&error),
                Err(_) => {
                    tracing::error!("a Socket.IO event handler panicked");
                    envelope::error_body(&AppError::Internal(anyhow::anyhow!(
                        "an event handler panicked"
                    )))
                }
            };
            (ack, body)
        }
        .boxed(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_client_event_of_the_table_has_a_handler() {
        let handled: Vec<&str> = HANDLERS.iter().map(|(event, _)| event.name).collect();
        let client_events: Vec<&str> = events::ALL
            .iter()
            .filter(|event| event.direction == events::Direction::ClientToServer)
            .map(|event| event.name)
            .collect();
        assert_eq!(handled.len(), client_events.len());
        for name in client_events {
            assert!(handled.contains(&name), "{name} has no handler");
        }
    }
}
