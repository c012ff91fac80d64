//! A Socket.IO v4 client over a WebSocket (Engine.IO v4, default namespace),
//! as much of it as the workloads use: connect with `auth`, emit with or
//! without an ack, and receive events and acks, answering heartbeats.
//!
//! Frames are inspected as text, not parsed into JSON trees: with 10,000
//! sockets on the same two cores as the server, the client's cost per frame
//! has to stay small.

use std::net::IpAddr;

use futures::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::target::Target;
use crate::transport::{self, OpenError, Ws};

/// The Engine.IO endpoint, WebSocket transport from the start.
const PATH: &str = "/socket.io/?EIO=4&transport=websocket";

/// One Socket.IO connection.
pub struct SioClient {
    ws: Ws,
    next_ack: u64,
}

/// A packet from the server the workloads care about.
pub enum Incoming {
    /// An event frame, whole (`42[...]`).
    Event(Utf8Bytes),
    /// An ack to one of our emits (`43<id>[...]`), whole.
    Ack(Utf8Bytes),
}

impl SioClient {
    /// Opens the socket and completes the namespace handshake with
    /// `auth: {token}`.
    ///
    /// # Errors
    /// [`OpenError::Refused`] carries the server's `connect_error` message.
    pub async fn connect(target: &Target, token: &str, source: IpAddr) -> Result<Self, OpenError> {
        let mut ws = transport::open(target, PATH, None, source).await?;
        let open = next_text(&mut ws).await?;
        if !open.starts_with('0') {
            return Err(OpenError::Protocol(format!(
                "expected an Engine.IO open, got {open}"
            )));
        }
        let auth = serde_json::json!({ "token": token });
        ws.send(Message::text(format!("40{auth}")))
            .await
            .map_err(OpenError::Handshake)?;
        loop {
            let frame = next_text(&mut ws).await?;
            if frame.as_str() == "2" {
                ws.send(Message::text("3"))
                    .await
                    .map_err(OpenError::Handshake)?;
            } else if frame.starts_with("40") {
                return Ok(SioClient { ws, next_ack: 0 });
            } else if let Some(error) = frame.strip_prefix("44") {
                return Err(OpenError::Refused(error.to_owned()));
            }
        }
    }

    /// Emits `event` with one argument; returns the ack id when one is asked for.
    ///
    /// # Errors
    /// The socket is gone.
    pub async fn emit(
        &mut self,
        event: &str,
        data: &serde_json::Value,
        with_ack: bool,
    ) -> Result<Option<u64>, tokio_tungstenite::tungstenite::Error> {
        let args = serde_json::json!([event, data]);
        let (frame, id) = if with_ack {
            self.next_ack += 1;
            (format!("42{}{args}", self.next_ack), Some(self.next_ack))
        } else {
            (format!("42{args}"), None)
        };
        self.ws.send(Message::text(frame)).await?;
        Ok(id)
    }

    /// The next event or ack; `None` once the server has closed the socket.
    /// Heartbeats are answered on the way.
    ///
    /// Cancel-safe: a frame is only taken from the stream when returned.
    pub async fn next(&mut self) -> Option<Incoming> {
        while let Some(message) = self.ws.next().await {
            let Ok(Message::Text(frame)) = message else {
                match message {
                    Ok(Message::Close(_)) | Err(_) => return None,
                    _ => continue,
                }
            };
            match frame.as_bytes() {
                [b'2'] if self.ws.send(Message::text("3")).await.is_err() => return None,
                [b'1', ..] | [b'4', b'1', ..] => return None,
                [b'4', b'2', ..] => return Some(Incoming::Event(frame)),
                [b'4', b'3', ..] => return Some(Incoming::Ack(frame)),
                _ => {}
            }
        }
        None
    }
}

/// The name of the event in an event frame (`42["name",...]`, with an
/// optional ack id after `42`).
pub fn event_name(frame: &str) -> Option<&str> {
    let rest = frame.strip_prefix("42")?;
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    let rest = rest.strip_prefix("[\"")?;
    rest.split('"').next()
}

/// Whether an ack frame reports success.
pub fn ack_succeeded(frame: &str) -> bool {
    frame.contains(r#""status":"success""#)
}

async fn next_text(ws: &mut Ws) -> Result<Utf8Bytes, OpenError> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => return Ok(text),
            Some(Ok(Message::Close(frame))) => {
                return Err(OpenError::Refused(format!("closed: {frame:?}")));
            }
            Some(Ok(_)) => {}
            Some(Err(error)) => return Err(OpenError::Handshake(error)),
            None => return Err(OpenError::Protocol("closed during the handshake".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_are_read_with_and_without_an_ack_id() {
        assert_eq!(
            event_name(r#"42["new_product",{"a":1}]"#),
            Some("new_product")
        );
        assert_eq!(
            event_name(r#"4217["send_message",{}]"#),
            Some("send_message")
        );
        assert_eq!(event_name("43[1]"), None);
    }

    #[test]
    fn acks_are_judged_by_their_status() {
        assert!(ack_succeeded(r#"431[{"status":"success","data":{}}]"#));
        assert!(!ack_succeeded(
            r#"431[{"status":"error","code":"RATE_LIMITED"}]"#
        ));
    }
}
