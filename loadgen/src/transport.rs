//! Opening WebSockets from a chosen loopback source address, and naming why
//! one could not be opened.

use std::net::{IpAddr, SocketAddr};

use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::target::Target;

/// A client WebSocket over plain TCP.
pub type Ws = WebSocketStream<TcpStream>;

/// Why a connection did not open.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// This process ran out of file descriptors (EMFILE/ENFILE).
    #[error("out of file descriptors: {0}")]
    Descriptors(std::io::Error),
    #[error("TCP: {0}")]
    Tcp(std::io::Error),
    #[error("WebSocket handshake: {0}")]
    Handshake(tokio_tungstenite::tungstenite::Error),
    /// The server answered the protocol handshake with a refusal.
    #[error("refused: {0}")]
    Refused(String),
    #[error("protocol: {0}")]
    Protocol(String),
}

impl OpenError {
    fn from_io(error: std::io::Error) -> Self {
        match error.raw_os_error() {
            Some(23 | 24) => OpenError::Descriptors(error),
            _ => OpenError::Tcp(error),
        }
    }
}

/// Opens a WebSocket to `path` on the target from `source`, offering
/// `protocol` as the subprotocol when given.
pub async fn open(
    target: &Target,
    path: &str,
    protocol: Option<&'static str>,
    source: IpAddr,
) -> Result<Ws, OpenError> {
    let socket = match target.address {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(OpenError::from_io)?;
    socket
        .bind(SocketAddr::new(source, 0))
        .map_err(OpenError::from_io)?;
    let stream = socket
        .connect(target.address)
        .await
        .map_err(OpenError::from_io)?;
    stream.set_nodelay(true).map_err(OpenError::from_io)?;
    let url = format!("ws://{}{path}", target.address);
    let mut request = url.into_client_request().map_err(OpenError::Handshake)?;
    if let Some(protocol) = protocol {
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(protocol));
    }
    let (ws, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .map_err(OpenError::Handshake)?;
    Ok(ws)
}
