//! GraphQL rendering of [`AppError`]: the contract code in `extensions.code`.

use std::sync::Arc;

use async_graphql::{ErrorExtensions as _, Response, ServerError, Value};

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

/// Gives every error without a code one of the contract's codes. Errors
/// async-graphql raises before any resolver runs (syntax, unknown fields,
/// wrong variable types, depth and complexity limits, a persisted-query
/// hash that does not match its query; they have no `path`) and argument
/// values that do not fit their type are the client's malformed input:
/// `BAD_USER_INPUT`. A persisted-query hash the server does not hold is
/// Apollo's `PersistedQueryNotFound` (the message async-graphql gives it,
/// which Apollo clients match) with the code `PERSISTED_QUERY_NOT_FOUND`,
/// and the client retries with the full query. Anything else without a
/// code was raised inside execution by something other than a service (a
/// missing context value, a panic caught by async-graphql): the server's
/// fault, `INTERNAL`, and logged as such.
pub fn add_default_codes(response: &mut Response) {
    for error in &mut response.errors {
        add_default_code(error);
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
    let code = if error.message == PERSISTED_QUERY_NOT_FOUND && error.path.is_empty() {
        "PERSISTED_QUERY_NOT_FOUND"
    } else if is_input_error(error) {
        "BAD_USER_INPUT"
    } else {
        tracing::error!(error = %error.message, path = ?error.path, "a GraphQL error without a class");
        "INTERNAL"
    };
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code);
}

/// Whether async-graphql raised `error` over what the client sent: before
/// execution (no path), or, during it, over an argument or variable (the
/// messages async-graphql 7 gives those, in `context.rs`, `error.rs` and
/// `resolver_utils/container.rs`). Anything else is not the client's.
fn is_input_error(error: &ServerError) -> bool {
    const INPUT_PROBLEMS: [&str; 6] = [
        "Invalid value for",
        "Failed to parse",
        "Expected input type",
        "Variable ",
        "Cannot query field",
        "Unknown fragment",
    ];
    error.path.is_empty()
        || INPUT_PROBLEMS
            .iter()
            .any(|problem| error.message.starts_with(problem))
        || error.message.contains("(occurred while parsing")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use async_graphql::{Request, Variables};
    use serde_json::json;

    use crate::auth::Principal;

    use crate::domain::{NewProduct, Quantity, Role, UserId};
    use crate::graphql::{Caller, engine};

    use crate::services::Services;
    use crate::services::testing::{fresh_store, services_on};
    use crate::store::Store;

    async fn services() -> (Services, Arc<dyn Store>, tempfile::TempDir) {
        let (store, dir) = fresh_store().await;
        (services_on(store.clone()), store, dir)
    }

    fn code_of(response: &async_graphql::Response) -> String {
        let error = response.errors.first().expect("an error");
        let extensions = serde_json::to_value(error.extensions.as_ref().unwrap()).unwrap();
        extensions["code"].as_str().unwrap().to_owned()
    }

    fn principal(role: Role) -> Principal {
        Principal {
            user_id: UserId::generate(),
            role,
        }
    }

    #[tokio::test]
    async fn what_the_client_sent_wrong_is_bad_user_input() {
        let (services, _store, _dir) = services().await;
        let schema = engine(services);
        for (query, variables) in [
            ("{ products { nodes { id } ", json!({})),
            ("{ products { nodes { nope } } }", json!({})),
            (
                "query ($n: Int) { products(first: $n) { nodes { id } } }",
                json!({ "n": "twenty" }),
            ),
            (
                "{ products(first: \"twenty\") { nodes { id } } }",
                json!({}),
            ),
            (
                "query ($n: Int) { products(first: $m) { nodes { id } } }",
                json!({ "n": 3 }),
            ),
            (
                "query ($s: String!) { login(email: \"a@example.test\", password: $s) { token } }",
                json!({}),
            ),
        ] {
            let request = Request::new(query)
                .variables(Variables::from_json(variables))
                .data(Caller::Signed(principal(Role::Admin)));
            let response = schema.execute(request).await;
            assert_eq!(
                code_of(&response),
                "BAD_USER_INPUT",
                "{query}: {:?}",
                response.errors
            );
        }
    }

    #[tokio::test]
    async fn an_error_the_server_caused_is_internal_not_bad_user_input() {
        let (services, store, _dir) = services().await;
        let _log = services.event_log.start().await.unwrap();
        let admin = principal(Role::Admin);
        let lamp = NewProduct::parse("Lamp", 10.0, Some(5), None).unwrap();
        let lamp = services.catalog.create(&admin, lamp, None).await.unwrap();
        let user = crate::store::contract::new_user("buyer@example.test");
        store.insert_user(&user).await.unwrap();
        let buyer = Principal {
            user_id: user.id.clone(),
            role: Role::User,
        };
        services
            .orders
            .place(&buyer, &lamp.id, Quantity::parse(1).unwrap(), None)
            .await
            .unwrap();
        let schema = engine(services);

        // No loaders installed (the HTTP door installs them): `Order.user`
        // cannot find its loader, a fault of the server, never of the query.
        let request =
            Request::new("{ orders { nodes { id user { id } } } }").data(Caller::Signed(admin));
        let response = schema.execute(request).await;

        assert_eq!(code_of(&response), "INTERNAL", "{:?}", response.errors);
    }
}
