//! The error classes of API.md, once.
//!
//! Every surface renders an [`AppError`]: REST and Socket.IO acks through
//! `compat::envelope`, GraphQL through `graphql::error`. The class decides the
//! HTTP status and the contract code; the message is what a client may read.
//! Causes of internal and unavailable errors are logged where they are rendered
//! and never sent to clients.

use std::collections::BTreeMap;
use std::time::Duration;

/// Per-field messages of a validation error, keyed by the field's wire name.
pub type FieldErrors = BTreeMap<String, String>;

/// The result type of everything below the doors.
pub type Result<T, E = AppError> = std::result::Result<T, E>;

/// One variant per error class of the public contract.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400 / `BAD_USER_INPUT`: malformed JSON, wrong types, values outside
    /// their domain (bad email, short password, malformed id, ...).
    #[error("{message}")]
    Validation {
        /// A summary a person can read.
        message: String,
        /// What is wrong with each offending field.
        details: FieldErrors,
    },
    /// 401 / `UNAUTHENTICATED`: no token, a bad or expired one, or wrong
    /// credentials. The message never says which.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// 403 / `FORBIDDEN`: the caller is known but its role does not allow it.
    #[error("{0}")]
    Forbidden(&'static str),
    /// 404 / `NOT_FOUND`: a well-formed id that does not exist, or that the
    /// caller may not see.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 409 / `CONFLICT`: the request is valid but the current state refuses it
    /// (email taken, refresh-token reuse, ...).
    #[error("{0}")]
    Conflict(String),
    /// 410 / `RESYNC_REQUIRED`: a client asked to continue after a position
    /// the event log cannot continue from (unknown, or older than the
    /// retention window). It refetches its state and continues from the
    /// positions of new events; nothing is skipped silently.
    #[error(
        "cannot continue after this position ({0}); refetch, then continue from the positions of new events"
    )]
    ResyncRequired(&'static str),
    /// 429 / `RATE_LIMITED`: too many attempts; retry after the given delay.
    #[error("too many attempts, retry later")]
    RateLimited {
        /// How long the caller should wait (sent as `Retry-After`).
        retry_after: Duration,
    },
    /// 503 / `UNAVAILABLE`: the store cannot be reached; nothing was written.
    #[error("the service is temporarily unavailable, retry later")]
    Unavailable(#[source] anyhow::Error),
    /// 500 / `INTERNAL`: a bug. The cause is logged, never sent.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl AppError {
    /// A validation error about a single field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut details = FieldErrors::new();
        let field = field.into();
        details.insert(field.clone(), message.clone());
        AppError::Validation {
            message: format!("{field}: {message}"),
            details,
        }
    }

    /// A validation error over several fields at once, so a client can show
    /// every problem of a form in one round trip.
    pub fn invalid_fields(details: FieldErrors) -> Self {
        let message = details
            .iter()
            .map(|(field, problem)| format!("{field}: {problem}"))
            .collect::<Vec<_>>()
            .join("; ");
        AppError::Validation { message, details }
    }

    /// The same error with a field renamed in its details. Services name
    /// fields as their parameters are named (GraphQL's); a door whose
    /// clients send another name reports that one instead, so an error
    /// never names a field the client did not send.
    #[must_use]
    pub fn renamed(self, from: &str, to: &str) -> Self {
        match self {
            AppError::Validation { details, .. } if details.contains_key(from) => {
                AppError::invalid_fields(
                    details
                        .into_iter()
                        .map(|(field, problem)| {
                            (if field == from { to.to_owned() } else { field }, problem)
                        })
                        .collect(),
                )
            }
            other => other,
        }
    }

    /// The stable contract code (GraphQL `extensions.code`, REST `code`).
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Validation { .. } => "BAD_USER_INPUT",
            AppError::Unauthenticated(_) => "UNAUTHENTICATED",
            AppError::Forbidden(_) => "FORBIDDEN",
            AppError::NotFound(_) => "NOT_FOUND",
            AppError::Conflict(_) => "CONFLICT",
            AppError::ResyncRequired(_) => "RESYNC_REQUIRED",
            AppError::RateLimited { .. } => "RATE_LIMITED",
            AppError::Unavailable(_) => "UNAVAILABLE",
            AppError::Internal(_) => "INTERNAL",
        }
    }

    /// The HTTP status of the class.
    pub fn status(&self) -> u16 {
        match self {
            AppError::Validation { .. } => 400,
            AppError::Unauthenticated(_) => 401,
            AppError::Forbidden(_) => 403,
            AppError::NotFound(_) => 404,
            AppError::Conflict(_) => 409,
            AppError::ResyncRequired(_) => 410,
            AppError::RateLimited { .. } => 429,
            AppError::Unavailable(_) => 503,
            AppError::Internal(_) => 500,
        }
    }

    /// Per-field details, for validation errors only.
    pub fn details(&self) -> Option<&FieldErrors> {
        match self {
            AppError::Validation { details, .. } if !details.is_empty() => Some(details),
            _ => None,
        }
    }

    /// Whole seconds to put in `Retry-After`, rounded up so a client that
    /// waits exactly that long is let through.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            AppError::RateLimited { retry_after } => {
                Some(retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0))
            }
            _ => None,
        }
    }

    /// Logs the cause of server-side failures once, where the error is
    /// rendered for a client. Client errors are not logged as failures.
    pub fn log(&self) {
        match self {
            AppError::Internal(cause) => tracing::error!(error = ?cause, "internal error"),
            AppError::Unavailable(cause) => tracing::warn!(error = %cause, "store unavailable"),
            _ => tracing::debug!(code = self.code(), message = %self, "request refused"),
        }
    }
}

impl From<anyhow::Error> for AppError {
    fn from(cause: anyhow::Error) -> Self {
        AppError::Internal(cause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_has_its_contract_code_and_status() {
        let cases = [
            (AppError::invalid("email", "bad"), "BAD_USER_INPUT", 400),
            (AppError::Unauthenticated("x"), "UNAUTHENTICATED", 401),
            (AppError::Forbidden("x"), "FORBIDDEN", 403),
            (AppError::NotFound("user"), "NOT_FOUND", 404),
            (AppError::Conflict("x".into()), "CONFLICT", 409),
            (
                AppError::RateLimited {
                    retry_after: Duration::from_millis(1500),
                },
                "RATE_LIMITED",
                429,
            ),
            (
                AppError::Unavailable(anyhow::anyhow!("down")),
                "UNAVAILABLE",
                503,
            ),
            (AppError::Internal(anyhow::anyhow!("bug")), "INTERNAL", 500),
        ];
        for (error, code, status) in cases {
            assert_eq!(error.code(), code);
            assert_eq!(error.status(), status, "{code}");
        }
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let error = AppError::RateLimited {
            retry_after: Duration::from_millis(1500),
        };
        assert_eq!(error.retry_after_secs(), Some(2));
    }

    #[test]
    fn internal_causes_never_reach_the_message() {
        let error = AppError::Internal(anyhow::anyhow!("driver said: table users locked"));
        assert_eq!(error.to_string(), "internal error");
        let error = AppError::Unavailable(anyhow::anyhow!("connection refused 10.0.0.1"));
        assert!(!error.to_string().contains("refused"));
    }
}
