//! The OpenAPI 3.1 document of the REST door, served at `GET /openapi.json`.
//!
//! The paths and methods come from the router itself: `rest::router()`
//! registers each handler through `utoipa_axum::routes!`, which mounts the
//! handler and adds its `#[utoipa::path]` description in the same call, so a
//! route cannot be served without being documented. This module holds what
//! the handlers cannot say for themselves: the document's frame (info,
//! servers, the bearer scheme), the envelope shapes the handlers build with
//! `envelope::success` and `page_body`, the error envelope, and the responses
//! every operation can give (413, 500, 503).
//!
//! The envelope types here are never built: they describe JSON that the
//! handlers assemble with `serde_json`. `tests/e2e/api_specs.rs` checks real
//! responses against them.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::Object;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::server::Server;
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, LicenseBuilder, OpenApi, OpenApiBuilder, Ref,
    RefOr, Response, ResponseBuilder,
};
use utoipa::{PartialSchema, ToSchema};

use super::schemas::string_enum;

/// The name of the bearer-token security scheme; handlers that need a
/// signed-in caller list it in `security(...)`.
pub const BEARER: &str = "bearerAuth";

/// Where the REST routes are served: at their paths, and again under
/// `/api/v1` (relative URLs, resolved against where this document is served).
pub const SERVERS: [&str; 2] = ["/", "/api/v1"];

/// The accepted `sort` values of `GET /products`: the names and the short
/// forms `ProductSort::parse` takes.
pub const PRODUCT_SORTS: [&str; 9] = [
    "newest",
    "price_asc",
    "price_desc",
    "name_asc",
    "price",
    "-price",
    "name",
    "createdAt",
    "-createdAt",
];

/// Every `code` of the error envelope, one per error class of the contract.
pub const ERROR_CODES: [&str; 9] = [
    "BAD_USER_INPUT",
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "NOT_FOUND",
    "CONFLICT",
    "RESYNC_REQUIRED",
    "RATE_LIMITED",
    "UNAVAILABLE",
    "INTERNAL",
];

/// The frame the router's operations are added to.
pub fn base() -> OpenApi {
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Realtime Dashboard REST API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(DESCRIPTION))
                .license(Some(
                    LicenseBuilder::new()
                        .name("MIT OR Apache-2.0")
                        .identifier(Some("MIT OR Apache-2.0"))
                        .build(),
                )),
        )
        .servers(Some(SERVERS.map(|url| {
            let mut server = Server::new(url);
            server.description = Some(if url == "/" {
                "The documented paths".to_owned()
            } else {
                "The same routes again under /api/v1".to_owned()
            });
            server
        })))
        .tags(Some(
            [
                ("auth", "Accounts and sessions"),
                ("products", "The catalogue"),
                ("orders", "Orders and their status"),
                ("chat", "Chat history and sending"),
                (
                    "events",
                    "The event log: resume after a disconnect by polling",
                ),
                ("users", "Account administration"),
            ]
            .map(|(name, description)| {
                TagBuilder::new()
                    .name(name)
                    .description(Some(description))
                    .build()
            }),
        ))
        .build()
}

const DESCRIPTION: &str = "The REST routes of the original Express + Socket.IO design, \
served at the paths below and again under `/api/v1` (both servers answer the same). They \
call the same services as GraphQL (`/graphql`, the primary API).\n\n\
Success: `{\"status\":\"success\",\"data\":…}`; lists add `meta.nextCursor` (null on the \
last page; pass it back as `cursor`, or `before` for chat history). Lists are 20 items a page \
by default and at most 100. Error: `{\"status\":\"error\",\"message\",\"code\",\"details\"?}` \
with the HTTP status of the class; validation errors name each field in `details`.\n\n\
Request bodies are JSON objects of at most 64 KiB, sent as `application/json` (a body \
without a content type is read as JSON unless the request has an `Origin`; anything else is \
415). Requests time out after 30 s (503). The Socket.IO events are described by `/asyncapi.json`.";

/// Completes the document built by the router: security scheme, shared
/// responses, and those responses on every operation (413 where there is a
/// body, 500 and 503 everywhere).
pub fn complete(mut api: OpenApi) -> OpenApi {
    let components = api.components.take().unwrap_or_default();
    let mut components = ComponentsBuilder::from(components)
        .security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token from login, register or refresh, as \
                         `Authorization: Bearer <token>`. A missing, bad or expired token \
                         is a 401.",
                    ))
                    .build(),
            ),
        )
        .response("PayloadTooLarge", error_response(TOO_LARGE))
        .response("Unavailable", error_response(UNAVAILABLE))
        .response("Internal", error_response(INTERNAL))
        .build();
    let (name, schema) = (ErrorEnvelope::name().into_owned(), ErrorEnvelope::schema());
    components.schemas.entry(name).or_insert(schema);
    api.components = Some(components);
    for item in api.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            add_shared_responses(operation);
        }
    }
    api
}

const TOO_LARGE: &str = "The request body is over 64 KiB (code `BAD_USER_INPUT`).";
const UNAVAILABLE: &str =
    "The store cannot be reached or the request ran past 30 s; nothing was written. Retry later.";
const INTERNAL: &str = "A bug; the body carries no detail of its cause.";

fn add_shared_responses(operation: &mut Operation) {
    let responses = &mut operation.responses.responses;
    if operation.request_body.is_some() {
        responses
            .entry("413".to_owned())
            .or_insert_with(|| response_ref("PayloadTooLarge"));
    }
    responses
        .entry("500".to_owned())
        .or_insert_with(|| response_ref("Internal"));
    responses
        .entry("503".to_owned())
        .or_insert_with(|| response_ref("Unavailable"));
}

fn response_ref(name: &str) -> RefOr<Response> {
    RefOr::Ref(Ref::from_response_name(name))
}

fn error_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(ErrorEnvelope::name())))
                .build(),
        )
        .build()
}

/// `sort` of `GET /products`.
pub fn product_sort_schema() -> Object {
    string_enum(
        PRODUCT_SORTS,
        "newest (default), price_asc, price_desc or name_asc; also price, -price, name, \
         createdAt and -createdAt",
    )
}

pub fn success_tag() -> Object {
    string_enum(["success"], "Always `success`")
}

fn error_tag() -> Object {
    string_enum(["error"], "Always `error`")
}

fn error_code_schema() -> Object {
    string_enum(
        ERROR_CODES,
        "The error class: BAD_USER_INPUT 400/413, UNAUTHENTICATED 401, FORBIDDEN 403, \
         NOT_FOUND 404, CONFLICT 409, RESYNC_REQUIRED 410, RATE_LIMITED 429, UNAVAILABLE 503, INTERNAL 500",
    )
}

/// The error envelope of every REST error and every Socket.IO error ack.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorEnvelope {
    #[schema(schema_with = error_tag)]
    status: String,
    /// What went wrong, for a person to read.
    message: String,
    #[schema(schema_with = error_code_schema)]
    code: String,
    /// Validation errors only: what is wrong with each field, keyed by its
    /// wire name (`body` for the body as a whole).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    details: Option<BTreeMap<String, String>>,
    /// Rate-limited errors only: whole seconds to wait (also sent as
    /// `Retry-After`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    retry_after: Option<u64>,
}

/// Where a list goes on.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PageMeta {
    /// The cursor of the next page; null on the last page.
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// One product.
#[derive(Serialize, ToSchema)]
pub struct ProductEnvelope {
    #[schema(schema_with = success_tag)]
    status: String,
    data: super::wire::ProductBody,
}

/// A page of products.
#[derive(Serialize, ToSchema)]
pub struct ProductPage {
    #[schema(schema_with = success_tag)]
    status: String,
    data: Vec<super::wire::ProductBody>,
    meta: PageMeta,
}

/// One order.
#[derive(Serialize, ToSchema)]
pub struct OrderEnvelope {
    #[schema(schema_with = success_tag)]
    status: String,
    data: super::wire::OrderBody,
}

/// A page of orders.
#[derive(Serialize, ToSchema)]
pub struct OrderPage {
    #[schema(schema_with = success_tag)]
    status: String,
    data: Vec<super::wire::OrderBody>,
    meta: PageMeta,
}

/// One chat message.
#[derive(Serialize, ToSchema)]
pub struct MessageEnvelope {
    #[schema(schema_with = success_tag)]
    status: String,
    data: super::wire::MessageBody,
}

/// A page of chat messages, chronological within the page; `meta.nextCursor`
/// pages further back (as `before`).
#[derive(Serialize, ToSchema)]
pub struct MessagePage {
    #[schema(schema_with = success_tag)]
    status: String,
    data: Vec<super::wire::MessageBody>,
    meta: PageMeta,
}

/// A new session (refresh).
#[derive(Serialize, ToSchema)]
pub struct SessionEnvelope {
    #[schema(schema_with = success_tag)]
    status: String,
    data: super::wire::SessionBody,
}

/// A new session (register, login), with `token` and `user` mirrored at the
/// top level for the original auth-flow clients.
#[derive(Serialize, ToSchema)]
pub struct MirroredSessionEnvelope {
    #[schema(schema_with = success_tag)]
    status: String,
    data: super::wire::SessionBody,
    /// The same as `data.token`.
    token: String,
    /// The same as `data.user`.
    user: super::wire::UserBody,
}

/// One account.
#[derive(Serialize, ToSchema)]
pub struct UserEnvelope {
    #[schema(schema_with = success_tag)]
    status: String,
    data: super::wire::UserBody,
}

/// Signed out.
#[derive(Serialize, ToSchema)]
pub struct LoggedOutEnvelope {
    #[schema(schema_with = success_tag)]
    status: String,
    data: LoggedOut,
}

/// Always `{"loggedOut": true}`, also for an unknown or already revoked token.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoggedOut {
    logged_out: bool,
}

/// A deleted product.
#[derive(Serialize, ToSchema)]
pub struct DeletedEnvelope {
    #[schema(schema_with = success_tag)]
    status: String,
    data: Deleted,
}

/// The id of what was deleted.
#[derive(Serialize, ToSchema)]
pub struct Deleted {
    id: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ProductSort;
    use crate::error::AppError;

    #[test]
    fn every_reference_and_security_requirement_of_the_document_resolves() {
        let document = serde_json::to_value(crate::compat::rest::openapi()).unwrap();
        let mut references = Vec::new();
        collect_references(&document, &mut references);
        assert!(!references.is_empty());
        for reference in references {
            let pointer = reference.strip_prefix('#').unwrap_or(&reference);
            assert!(document.pointer(pointer).is_some(), "{reference}");
        }
        let schemes = &document["components"]["securitySchemes"];
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                for requirement in operation["security"].as_array().into_iter().flatten() {
                    for scheme in requirement.as_object().unwrap().keys() {
                        assert_eq!(scheme, BEARER, "{method} {path}");
                        assert!(schemes.get(scheme).is_some(), "{method} {path}: {scheme}");
                    }
                }
            }
        }
    }

    fn collect_references(value: &serde_json::Value, into: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(object) => {
                if let Some(serde_json::Value::String(reference)) = object.get("$ref") {
                    into.push(reference.clone());
                }
                for value in object.values() {
                    collect_references(value, into);
                }
            }
            serde_json::Value::Array(items) => {
                for value in items {
                    collect_references(value, into);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn every_documented_sort_is_accepted() {
        for sort in PRODUCT_SORTS {
            assert!(ProductSort::parse(sort).is_ok(), "{sort}");
        }
    }

    #[test]
    fn every_error_class_has_a_documented_code() {
        let errors = [
            AppError::invalid("x", "y"),
            AppError::Unauthenticated("x"),
            AppError::Forbidden("x"),
            AppError::NotFound("x"),
            AppError::Conflict("x".into()),
            AppError::ResyncRequired("x"),
            AppError::RateLimited {
                retry_after: std::time::Duration::from_secs(1),
            },
            AppError::Unavailable(anyhow::anyhow!("x")),
            AppError::Internal(anyhow::anyhow!("x")),
        ];
        for error in errors {
            assert!(ERROR_CODES.contains(&error.code()), "{}", error.code());
        }
    }
}
