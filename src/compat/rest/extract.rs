//! Extractors of the REST door: JSON bodies that fail into the envelope with
//! per-field details, and the caller from `Authorization: Bearer`.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::auth::{INVALID_TOKEN, Principal, bearer_token};
use crate::domain::IdempotencyKey;
use crate::error::{AppError, FieldErrors};
use crate::http::AppState;

/// A JSON body. Malformed JSON, a missing field or a wrong type is a
/// `BAD_USER_INPUT` envelope naming the field; an oversize body is refused
/// before parsing by the body limit (413). The content type is not checked:
/// the original clients do not all send one.
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
        parse_json(&bytes).map(AppJson)
    }
}

/// Parses a JSON document into `T`, naming the offending field on failure.
///
/// # Errors
/// `BAD_USER_INPUT` with the field path in `details`.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    // Every body of this door is an object; serde would otherwise read a
    // struct out of an array by position.
    if bytes.iter().find(|byte| !byte.is_ascii_whitespace()) != Some(&b'{') {
        return Err(AppError::invalid("body", "a JSON object is required"));
    }
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(deserializer).map_err(field_errors)
}

/// Reads an already parsed JSON value (a Socket.IO payload) into `T`, with
/// the same per-field errors as [`parse_json`]; anything but an object is
/// refused.
///
/// # Errors
/// `BAD_USER_INPUT` with the field path in `details`.
pub fn parse_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, AppError> {
    if !value.is_object() {
        return Err(AppError::invalid("payload", "a JSON object is required"));
    }
    serde_path_to_error::deserialize(value).map_err(field_errors)
}

fn field_errors(error: serde_path_to_error::Error<serde_json::Error>) -> AppError {
    let path = error.path().to_string();
    let inner = error.into_inner();
    let mut details = FieldErrors::new();
    if inner.is_syntax() || inner.is_eof() {
        details.insert("body".into(), "malformed JSON".into());
    } else if let Some(field) = missing_field(&inner.to_string()) {
        let key = if path == "." {
            field
        } else {
            format!("{path}.{field}")
        };
        details.insert(key, "is required".into());
    } else {
        let key = if path == "." { "body".to_owned() } else { path };
        details.insert(key, type_problem(&inner.to_string()));
    }
    AppError::invalid_fields(details)
}

/// serde reports a missing field as ``missing field `name` at line …``.
fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split_once('`').map(|(field, _)| field.to_owned())
}

/// ``invalid type: map, expected a string at line 1 column 9`` without the
/// position, which means nothing to a client.
fn type_problem(message: &str) -> String {
    message
        .split(" at line ")
        .next()
        .unwrap_or(message)
        .to_owned()
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

impl FromRequestParts<AppState> for Principal {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        match <Principal as OptionalFromRequestParts<AppState>>::from_request_parts(parts, state)
            .await?
        {
            Some(principal) => Ok(principal),
            None => Err(AppError::Unauthenticated(INVALID_TOKEN)),
        }
    }
}

/// `Option<Principal>`: `None` without an `Authorization` header, but a bad
/// token is still a 401 rather than silently anonymous.
impl OptionalFromRequestParts<AppState> for Principal {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, AppError> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Ok(None);
        };
        let token = value
            .to_str()
            .ok()
            .and_then(bearer_token)
            .ok_or(AppError::Unauthenticated(INVALID_TOKEN))?;
        let authenticated = state.services.authenticator.authenticate(token).await?;
        Ok(Some(authenticated.principal))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Login {
        email: String,
        password: String,
    }

    fn details_of(body: &str) -> FieldErrors {
        match parse_json::<Login>(body.as_bytes()) {
            Err(AppError::Validation { details, .. }) => details,
            other => panic!("expected a validation error for {body}, got {other:?}"),
        }
    }

    #[test]
    fn each_malformed_body_names_what_is_wrong() {
        let cases = [
            ("", "body"),
            ("{", "body"),
            ("not json", "body"),
            ("[]", "body"),
            (r#"["a@example.com", "password"]"#, "body"),
            (r#"{"password":"x"}"#, "email"),
            (r#"{"email":{"$ne":null},"password":"x"}"#, "email"),
            (
                r#"{"email":"a@example.com","password":12345678}"#,
                "password",
            ),
        ];
        for (body, field) in cases {
            let details = details_of(body);
            assert!(
                details.contains_key(field),
                "{body:?} gave {details:?}, expected {field}"
            );
        }
    }

    #[test]
    fn type_problems_lose_their_position() {
        let details = details_of(r#"{"email":{"$ne":null},"password":"x"}"#);
        assert_eq!(details["email"], "invalid type: map, expected a string");
    }
}
