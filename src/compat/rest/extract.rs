//! Extractors of the REST door: JSON bodies that fail into the envelope with
//! per-field details, and the caller from `Authorization: Bearer`.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::auth::{INVALID_TOKEN, Principal, bearer_token};
use crate::domain::IdempotencyKey;
use crate::error::AppError;
use crate::services::Services;

/// A JSON body. Malformed JSON, a missing field or a wrong type is a
/// `BAD_USER_INPUT` envelope naming the field; an oversize body is refused
/// before parsing by the body limit (413). The content type is checked
/// before this, by `http::guards::json_bodies_only` (415).
pub struct AppJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AppJson<T> {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, AppError> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    AppError::invalid("body", "request body too large")
                } else {
                    AppError::invalid("body", "the request body could not be read")
                }
            })?;
        crate::compat::json_input::parse_json(&bytes).map(AppJson)
    }
}

/// The `Idempotency-Key` header of a creating POST, if sent. A malformed one
/// (empty, too long, not visible ASCII) is a validation error naming it.
pub struct IdempotencyKeyHeader(pub Option<IdempotencyKey>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKeyHeader {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AppError> {
        let Some(value) = parts.headers.get("idempotency-key") else {
            return Ok(IdempotencyKeyHeader(None));
        };
        let key = value
            .to_str()
            .map_err(|_| AppError::invalid("Idempotency-Key", "must be visible ASCII characters"))
            .and_then(|raw| IdempotencyKey::parse(raw).map_err(|e| e.on("Idempotency-Key")))?;
        Ok(IdempotencyKeyHeader(Some(key)))
    }
}

impl FromRequestParts<Services> for Principal {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, services: &Services) -> Result<Self, AppError> {
        match <Principal as OptionalFromRequestParts<Services>>::from_request_parts(parts, services)
            .await?
        {
            Some(principal) => Ok(principal),
            None => Err(AppError::Unauthenticated(INVALID_TOKEN)),
        }
    }
}

/// `Option<Principal>`: `None` without an `Authorization` header, but a bad
/// token is still a 401 rather than silently anonymous.
impl OptionalFromRequestParts<Services> for Principal {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        services: &Services,
    ) -> Result<Option<Self>, AppError> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Ok(None);
        };
        let token = value
            .to_str()
            .ok()
            .and_then(bearer_token)
            .ok_or(AppError::Unauthenticated(INVALID_TOKEN))?;
        let authenticated = services.authenticator.authenticate(token).await?;
        Ok(Some(authenticated.principal))
    }
}
