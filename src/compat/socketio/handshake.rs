//! Handshake authentication: a socket without a valid token never connects.

use socketioxide::extract::{SocketRef, State, TryData};

use crate::auth::{INVALID_TOKEN, bearer_token};
use crate::error::AppError;
use crate::services::Services;

/// Reads the access token from the handshake `auth.token` (current clients),
/// else the `Authorization: Bearer` header, else the `token` query parameter
/// (old clients), verifies it, and keeps the principal on the socket. An
/// `Err` fails the handshake: the client gets `connect_error` with the
/// message.
pub async fn authenticate(
    socket: SocketRef,
    TryData(auth): TryData<serde_json::Value>,
    State(services): State<Services>,
) -> Result<(), AppError> {
    let auth = auth.ok();
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
    let parts = socket.req_parts();
    let from_header = || {
        parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(bearer_token)
            .map(str::to_owned)
    };
    let from_query = || {
        parts.uri.query().and_then(|query| {
            query
                .split('&')
                .filter_map(|pair| pair.split_once('='))
                .find(|(key, _)| *key == "token")
                .map(|(_, value)| value.to_owned())
        })
    };
    let token = from_auth.or_else(from_header).or_else(from_query);
    let authenticated = match token {
        Some(token) => services.authenticator.authenticate(&token).await,
        None => Err(AppError::Unauthenticated(INVALID_TOKEN)),
    }
    .inspect_err(|_| crate::metrics::handshake(crate::metrics::Door::SocketIo, false))?;
    let principal = authenticated.principal;
    super::prepare(
        &socket,
        &principal,
        authenticated.expires_at,
        resume_after,
        &services,
    );
    socket.extensions.insert(principal);
    Ok(())
}
