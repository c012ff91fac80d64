//! Steps the scenarios share: what the Node drivers' lines are matched with,
//! and the assertions and actions built on them. Written once here, so a
//! step means the same in every file that takes it.

use std::time::Duration;

use serde_json::{Value, json};

use super::node::NodeClient;
use super::{Account, Endpoint};

/// How long a step waits for something that must happen.
pub const WAIT: Duration = Duration::from_secs(10);
/// The close code of a GraphQL WebSocket whose authority ended or was refused.
pub const FORBIDDEN: u16 = 4403;
/// The disconnect reason socket.io-client reports when the server ends the socket.
pub const SERVER_DISCONNECT: &str = "io server disconnect";

/// A driver line of this `kind` (`connect`, `disconnect`, `closed`, ...).
pub fn is_kind(kind: &'static str) -> impl Fn(&Value) -> bool {
    move |line| line["kind"] == kind
}

/// A Socket.IO `event` line for this event name.
pub fn is_event(event: &'static str) -> impl Fn(&Value) -> bool {
    move |line| line["kind"] == "event" && line["event"] == event
}

/// A graphql-ws `next` of subscription (or operation) `sub`.
pub fn is_next(sub: &'static str) -> impl Fn(&Value) -> bool {
    move |line| line["kind"] == "next" && line["id"] == sub
}

/// The `id` of an entity in a response or an event.
pub fn id_of(value: &Value) -> String {
    value["id"]
        .as_str()
        .unwrap_or_else(|| panic!("an id in {value}"))
        .to_owned()
}

/// Index of the first line the driver printed that satisfies `predicate`.
pub fn position_seen(client: &NodeClient, predicate: impl Fn(&Value) -> bool) -> Option<usize> {
    client.seen().iter().position(|line| {
        serde_json::from_str::<Value>(line)
            .map(|value| predicate(&value))
            .unwrap_or(false)
    })
}

/// Asserts the socket was told `session_ended {reason}` and was then
/// disconnected by the server, in that order.
pub async fn assert_session_ended(socket: &mut NodeClient, reason: &str) {
    let ended = socket
        .expect("session_ended", WAIT, is_event("session_ended"))
        .await;
    assert_eq!(
        ended["args"],
        json!([{ "reason": reason }]),
        "session_ended payload"
    );
    let disconnect = socket
        .expect("disconnect", WAIT, is_kind("disconnect"))
        .await;
    assert_eq!(
        disconnect["reason"], SERVER_DISCONNECT,
        "the server ends the socket"
    );
    let told = position_seen(socket, is_event("session_ended"));
    let dropped = position_seen(socket, is_kind("disconnect"));
    assert!(
        told < dropped,
        "session_ended must arrive before the disconnect; lines: {:#?}",
        socket.seen()
    );
}

/// Closes a socket like a closing tab, and waits until it is closed.
pub async fn close_tab(socket: &mut NodeClient) {
    socket.send(json!({ "cmd": "disconnect" })).await;
    socket.expect("closed", WAIT, is_kind("closed")).await;
}

/// The `setUserRole` mutation.
pub const SET_ROLE: &str =
    "mutation($id: ID!, $role: Role!) { setUserRole(id: $id, role: $role) { id role } }";

/// The admin gives `user` the `role` (`"ADMIN"`, `"USER"`) over GraphQL,
/// which must succeed.
pub async fn set_role(app: &Endpoint, admin: &Account, user: &Account, role: &str) {
    let data = app
        .graphql_ok(
            SET_ROLE,
            json!({ "id": user.id, "role": role }),
            Some(&admin.token),
        )
        .await;
    assert_eq!(data["setUserRole"]["role"], role, "{data}");
}
