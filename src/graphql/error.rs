//! GraphQL rendering of [`AppError`]: the contract code in `extensions.code`.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextRequest, NextSubscribe,
};
use async_graphql::{ErrorExtensions as _, Response, ServerError, Value};
use futures::StreamExt as _;
use futures::stream::BoxStream;

use crate::error::AppError;

/// Converts service results for resolvers. (`?` alone would use
/// async-graphql's blanket conversion and lose the code.)
pub trait IntoGraphql<T> {
    /// The result with the error rendered for GraphQL.
    fn graphql(self) -> async_graphql::Result<T>;
}

impl<T> IntoGraphql<T> for Result<T, AppError> {
    fn graphql(self) -> async_graphql::Result<T> {
        self.map_err(|error| render(&error))
    }
}

/// Errors shared by a batch (the dataloaders' error type).
impl<T> IntoGraphql<T> for Result<T, Arc<AppError>> {
    fn graphql(self) -> async_graphql::Result<T> {
        self.map_err(|error| render(&error))
    }
}

/// One error, rendered: message, `code`, and `details` / `retryAfter` when
/// the class has them. The cause of internal errors is logged here, once.
pub fn render(error: &AppError) -> async_graphql::Error {
    error.log();
    let details = error.details().cloned();
    let retry_after = error.retry_after_secs();
    async_graphql::Error::new(error.to_string()).extend_with(|_, extensions| {
        extensions.set("code", error.code());
        if let Some(details) = details {
            let details = serde_json::to_value(details).unwrap_or_default();
            extensions.set("details", Value::from_json(details).unwrap_or_default());
        }
        if let Some(seconds) = retry_after {
            extensions.set("retryAfter", seconds);
        }
    })
}

/// Gives every error without a code the validation code: those come from
/// async-graphql itself (syntax, unknown fields, wrong variable types, depth
/// and complexity limits, a persisted-query hash that does not match its
/// query), which are all the client's malformed input. The one exception is
/// a persisted-query hash the server does not hold: Apollo's protocol names
/// it `PersistedQueryNotFound` (the message async-graphql gives it, which
/// Apollo clients match) with the code `PERSISTED_QUERY_NOT_FOUND`, and the
/// client retries with the full query.
pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodes)
    }
}

#[async_trait::async_trait]
impl Extension for ErrorCodes {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        for error in &mut response.errors {
            add_default_code(error);
        }
        response
    }

    /// The same over a WebSocket, for every item of the stream (errors
    /// raised before it starts come as its first item).
    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        next.run(ctx, stream)
            .map(|mut response| {
                for error in &mut response.errors {
                    add_default_code(error);
                }
                response
            })
            .boxed()
    }
}

/// The message of Apollo's persisted-query miss.
pub const PERSISTED_QUERY_NOT_FOUND: &str = "PersistedQueryNotFound";

fn add_default_code(error: &mut ServerError) {
    let has_code = error
        .extensions
        .as_ref()
        .is_some_and(|extensions| extensions.get("code").is_some());
    if has_code {
        return;
    }
    if error.message == PERSISTED_QUERY_NOT_FOUND && error.path.is_empty() {
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", "PERSISTED_QUERY_NOT_FOUND");
    } else {
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", "BAD_USER_INPUT");
    }
}
