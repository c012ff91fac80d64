//! The one response shape of the legacy doors, for REST bodies and Socket.IO
//! acks alike: `{"status":"success","data":…}` or
//! `{"status":"error","message":…,"code":…,"details"?:…}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use crate::error::AppError;

/// An instant as every door spells it: RFC 3339, UTC, milliseconds, `Z`.
pub fn timestamp(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A success body.
pub fn success(data: impl Serialize) -> Value {
    json!({ "status": "success", "data": data })
}

/// An error body. Logs the cause of server-side errors (once, here).
pub fn error_body(error: &AppError) -> Value {
    error.log();
    let mut body = json!({
        "status": "error",
        "message": error.to_string(),
        "code": error.code(),
    });
    if let Some(details) = error.details() {
        body["details"] = json!(details);
    }
    if let Some(seconds) = error.retry_after_secs() {
        body["retryAfter"] = json!(seconds);
    }
    body
}

/// The same error in the GraphQL response shape (`errors[0].message` and
/// `extensions.code`), for answers given at `/graphql` before any resolver
/// runs (a refused request, an unverifiable caller, a layer's error).
pub fn graphql_shaped(body: &Value) -> Value {
    json!({
        "errors": [{ "message": body["message"], "extensions": { "code": body["code"] } }]
    })
}

/// A body for an HTTP status produced outside the services (unknown route,
/// body too large, timeout), in the same shape.
pub fn status_body(status: StatusCode) -> Value {
    let (code, message) = match status.as_u16() {
        400 => ("BAD_USER_INPUT", "malformed request"),
        401 => ("UNAUTHENTICATED", crate::auth::INVALID_TOKEN),
        403 => ("FORBIDDEN", "forbidden"),
        404 => ("NOT_FOUND", "no such route"),
        405 => ("BAD_USER_INPUT", "method not allowed on this route"),
        413 => ("BAD_USER_INPUT", "request body too large"),
        415 => ("BAD_USER_INPUT", "unsupported content type"),
        429 => ("RATE_LIMITED", "too many requests, retry later"),
        408 | 503 | 504 => (
            "UNAVAILABLE",
            "the service is temporarily unavailable, retry later",
        ),
        _ => ("INTERNAL", "internal error"),
    };
    json!({ "status": "error", "message": message, "code": code })
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry_after = self.retry_after_secs();
        let mut response = (status, Json(error_body(&self))).into_response();
        if let Some(seconds) = retry_after
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_errors_carry_their_details() {
        let body = error_body(&AppError::invalid("email", "must be an email address"));
        assert_eq!(body["status"], "error");
        assert_eq!(body["code"], "BAD_USER_INPUT");
        assert_eq!(body["details"]["email"], "must be an email address");
    }

    #[test]
    fn internal_errors_say_nothing_of_their_cause() {
        let body = error_body(&AppError::Internal(anyhow::anyhow!(
            "SQLITE_CORRUPT at page 7"
        )));
        assert_eq!(body["message"], "internal error");
        assert!(!body.to_string().contains("SQLITE"));
    }

    #[test]
    fn rate_limited_responses_say_when_to_retry() {
        let response = AppError::RateLimited {
            retry_after: std::time::Duration::from_secs(7),
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
    }
}
