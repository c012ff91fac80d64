//! REST routes of the original design, at their documented paths and again
//! under `/api/v1`.

mod auth;
mod catalog;
mod chat;
mod extract;
mod orders;

use axum::Router;
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::{Value, json};

pub use extract::{AppJson, parse_value};

use crate::http::AppState;

/// The REST routes, mounted at `/` and `/api/v1`.
pub fn router() -> Router<AppState> {
    let routes = Router::new()
        .route("/auth/register", post(auth::register))
        .route("/auth/login", post(auth::login))
        .route("/auth/refresh", post(auth::refresh))
        .route("/auth/logout", post(auth::logout))
        .route(
            "/products",
            get(catalog::list_products).post(catalog::create_product),
        )
        .route(
            "/products/{id}",
            get(catalog::get_product)
                .put(catalog::update_product)
                .delete(catalog::delete_product),
        )
        .route(
            "/orders",
            get(orders::list_orders).post(orders::place_order),
        )
        .route("/orders/my", get(orders::my_orders))
        .route(
            "/orders/{id}",
            get(orders::get_order).put(orders::update_order_status),
        )
        .route(
            "/chat/messages",
            get(chat::list_messages).post(chat::send_message),
        )
        .route("/chat/messages/{id}", get(chat::thread));
    Router::new().merge(routes.clone()).nest("/api/v1", routes)
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
