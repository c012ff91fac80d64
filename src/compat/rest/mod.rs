//! REST routes of the original design, at their documented paths and again
//! under `/api/v1`, and the machine-readable API documents (`/openapi.json`,
//! `/asyncapi.json`).
//!
//! Each route is registered with `utoipa_axum::routes!`, which mounts the
//! handler for the methods of its `#[utoipa::path]` and adds that description
//! to the OpenAPI document in the same step: what is served is what is
//! documented. One `routes!` call per path (the macro mounts every handler of
//! a call on every path of that call).

mod auth;
mod catalog;
mod chat;
mod events;
mod extract;
mod orders;
mod users;

use axum::Router;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use extract::AppJson;

use crate::compat::{api_specs, openapi as doc};
use crate::services::Services;

/// The REST routes with their descriptions, each registered once.
fn documented_routes() -> OpenApiRouter<Services> {
    OpenApiRouter::with_openapi(doc::base())
        .routes(routes!(auth::register))
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(catalog::list_products, catalog::create_product))
        .routes(routes!(
            catalog::get_product,
            catalog::update_product,
            catalog::delete_product
        ))
        .routes(routes!(orders::list_orders, orders::place_order))
        .routes(routes!(orders::my_orders))
        .routes(routes!(orders::get_order, orders::update_order_status))
        .routes(routes!(chat::list_messages, chat::send_message))
        .routes(routes!(chat::thread))
        .routes(routes!(users::update_user))
        .routes(routes!(events::list_events))
}

/// The REST routes on the services, mounted at `/` and `/api/v1`, plus
/// `GET /openapi.json` and `GET /asyncapi.json` (at `/` only).
pub fn router(services: Services) -> Router {
    let (routes, api) = documented_routes().split_for_parts();
    Router::new()
        .merge(routes.clone())
        .nest("/api/v1", routes)
        .merge(api_specs::router(doc::complete(api)))
        .with_state(services)
}

/// The OpenAPI 3.1 document of these routes, as `GET /openapi.json` serves it.
pub fn openapi() -> utoipa::openapi::OpenApi {
    doc::complete(documented_routes().into_openapi())
}

/// A list envelope: `data` is the page's items, `meta.nextCursor` continues
/// the list (null on the last page).
fn page_body<T: Serialize>(page: crate::domain::Page<T>) -> Value {
    let mut body = crate::compat::envelope::success(&page.items);
    body["meta"] = json!({ "nextCursor": page.next_cursor });
    body
}

/// A numeric query parameter; text that is not a number is a validation
/// error naming the parameter.
fn number_param(name: &str, raw: Option<&str>) -> Result<Option<f64>, crate::error::AppError> {
    match raw.map(str::trim).filter(|raw| !raw.is_empty()) {
        None => Ok(None),
        Some(raw) => raw
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .map(Some)
            .ok_or_else(|| crate::error::AppError::invalid(name, "must be a number")),
    }
}
