//! A `graphql-transport-ws` client: `connection_init` with the token, one
//! or more subscriptions, `next` payloads, and pings answered.

use std::net::IpAddr;

use futures::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::target::Target;
use crate::transport::{self, OpenError, Ws};

const PATH: &str = "/graphql";
const PROTOCOL: &str = "graphql-transport-ws";

/// One GraphQL WebSocket connection.
pub struct GqlWsClient {
    ws: Ws,
}

impl GqlWsClient {
    /// Opens the socket and waits for `connection_ack`.
    ///
    /// # Errors
    /// [`OpenError::Refused`] when the server closes instead of acking.
    pub async fn connect(target: &Target, token: &str, source: IpAddr) -> Result<Self, OpenError> {
        let mut ws = transport::open(target, PATH, Some(PROTOCOL), source).await?;
        let init = serde_json::json!({ "type": "connection_init", "payload": { "token": token } });
        ws.send(Message::text(init.to_string()))
            .await
            .map_err(OpenError::Handshake)?;
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) if text.contains(r#""connection_ack""#) => {
                    return Ok(GqlWsClient { ws });
                }
                Some(Ok(Message::Text(text))) if text.contains(r#""ping""#) => {
                    ws.send(Message::text(r#"{"type":"pong"}"#))
                        .await
                        .map_err(OpenError::Handshake)?;
                }
                Some(Ok(Message::Close(frame))) => {
                    return Err(OpenError::Refused(format!("closed: {frame:?}")));
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(OpenError::Handshake(error)),
                None => return Err(OpenError::Protocol("closed during the handshake".into())),
            }
        }
    }

    /// Starts a subscription.
    ///
    /// # Errors
    /// The socket is gone.
    pub async fn subscribe(
        &mut self,
        id: &str,
        query: &str,
    ) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        let message = serde_json::json!({
            "id": id,
            "type": "subscribe",
            "payload": { "query": query },
        });
        self.ws.send(Message::text(message.to_string())).await
    }

    /// The next `next` message, whole; `None` once the socket is closed.
    /// Cancel-safe.
    pub async fn next(&mut self) -> Option<Utf8Bytes> {
        while let Some(message) = self.ws.next().await {
            match message {
                Ok(Message::Text(text)) if text.contains(r#""type":"next""#) => return Some(text),
                Ok(Message::Text(text)) if text.contains(r#""type":"ping""#) => {
                    if self
                        .ws
                        .send(Message::text(r#"{"type":"pong"}"#))
                        .await
                        .is_err()
                    {
                        return None;
                    }
                }
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
        None
    }
}
