//! Frames the server writes: Engine.IO messages (`4`) of Socket.IO
//! packets, each built once as the text the socket sends.

use axum::extract::ws::Utf8Bytes;
use serde::Serialize;

/// DISCONNECT of the default namespace.
pub const DISCONNECT: Utf8Bytes = Utf8Bytes::from_static("41");

/// An event with one argument: `42["name",payload]`.
pub fn event(name: &str, payload: &impl Serialize) -> Utf8Bytes {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(b"42[");
    write_json(&mut out, name);
    out.push(b',');
    write_json(&mut out, payload);
    out.push(b']');
    utf8(out)
}

/// The answer to the event with ack id `id`: `43id[body]`.
pub fn ack(id: i64, body: &impl Serialize) -> Utf8Bytes {
    let mut out = format!("43{id}[").into_bytes();
    write_json(&mut out, body);
    out.push(b']');
    utf8(out)
}

/// CONNECT's answer: `40{"sid":…}`.
pub fn connected(socket_id: &str) -> Utf8Bytes {
    let mut out = b"40".to_vec();
    write_json(&mut out, &serde_json::json!({ "sid": socket_id }));
    utf8(out)
}

/// CONNECT_ERROR: `44{"message":…}` (with the namespace when not `/`).
pub fn connect_error(namespace: &str, message: &str) -> Utf8Bytes {
    let mut out = b"44".to_vec();
    if namespace != "/" {
        out.extend_from_slice(namespace.as_bytes());
        out.push(b',');
    }
    write_json(&mut out, &serde_json::json!({ "message": message }));
    utf8(out)
}

fn write_json(out: &mut Vec<u8>, value: &(impl Serialize + ?Sized)) {
    if let Err(error) = serde_json::to_writer(&mut *out, value) {
        // Our payload types serialise; a failure is a bug, written as null.
        tracing::error!(%error, "a Socket.IO payload did not serialise");
        out.extend_from_slice(b"null");
    }
}

/// The frame (serde_json writes UTF-8 only).
fn utf8(frame: Vec<u8>) -> Utf8Bytes {
    Utf8Bytes::try_from(frame).unwrap_or_else(|_| Utf8Bytes::from_static("4"))
}
