//! Handshake authentication: a socket without a valid token never connects.

use axum::http::{HeaderMap, header};

use crate::auth::{INVALID_TOKEN, Principal, bearer_token};
use crate::error::AppError;
use crate::services::Services;

/// What the HTTP request that opened a link offers besides the CONNECT
/// packet's `auth`: kept only until the socket connects.
#[derive(Debug, Default)]
pub struct Offered {
    /// `Authorization: Bearer …`.
    header_token: Option<String>,
    /// The `token` query parameter (old clients).
    query_token: Option<String>,
}

impl Offered {
    /// The tokens a request offers: its bearer header, and the `token`
    /// parameter of its query (read with the Engine.IO parameters).
    pub fn new(headers: &HeaderMap, query_token: Option<&str>) -> Offered {
        let header_token = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(bearer_token)
            .map(str::to_owned);
        Offered {
            header_token,
            query_token: query_token.map(str::to_owned),
        }
    }
}

/// A verified CONNECT.
pub struct Verified {
    /// Who.
    pub principal: Principal,
    /// When the token expires (seconds since the epoch).
    pub expires_at: i64,
    /// The last position the client processed (`auth.offset`), if it
    /// resumes.
    pub resume_after: Option<String>,
}

/// Reads the access token from the CONNECT's `auth.token` (current
/// clients), else the `Authorization: Bearer` header, else the `token`
/// query parameter (old clients), and verifies it. An `Err` refuses the
/// CONNECT: the client gets `connect_error` with the message.
pub async fn authenticate(
    services: &Services,
    auth: Option<serde_json::Value>,
    offered: &Offered,
) -> Result<Verified, AppError> {
    let from_auth = auth.as_ref().and_then(|auth| {
        auth.get("token")
            .and_then(|token| token.as_str())
            .map(str::to_owned)
    });
    // The last position the client processed; a number is taken as its text.
    let resume_after = auth
        .as_ref()
        .and_then(|auth| auth.get("offset"))
        .and_then(|offset| match offset {
            serde_json::Value::String(text) => Some(text.clone()),
            serde_json::Value::Number(number) => Some(number.to_string()),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        });
    let token = from_auth
        .or_else(|| offered.header_token.clone())
        .or_else(|| offered.query_token.clone());
    let authenticated = match token {
        Some(token) => services.authenticator.authenticate(&token).await?,
        None => return Err(AppError::Unauthenticated(INVALID_TOKEN)),
    };
    Ok(Verified {
        principal: authenticated.principal,
        expires_at: authenticated.expires_at,
        resume_after,
    })
}
