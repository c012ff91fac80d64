//! `/orders`: orders over REST.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::extract::IdempotencyKeyHeader;
use super::{AppJson, number_param, page_body};
use crate::auth::Principal;
use crate::compat::envelope;
use crate::compat::openapi::{ErrorEnvelope, OrderEnvelope, OrderPage};
use crate::compat::schemas::order_status_schema;
use crate::compat::wire::OrderBody;
use crate::domain::{OrderId, OrderListing, OrderStatus, ProductId, Quantity};
use crate::error::AppError;
use crate::services::Services;

/// `GET /orders` and `/orders/my` query parameters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrdersParams {
    /// Only orders in this status.
    #[param(schema_with = order_status_schema)]
    status: Option<String>,
    /// Items per page: 20 by default, at most 100 (more is clamped).
    #[param(value_type = Option<i64>)]
    limit: Option<String>,
    /// `meta.nextCursor` of the previous page.
    cursor: Option<String>,
}

/// `POST /orders` body.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlaceOrderBody {
    product_id: String,
    /// Units to order; 1 when left out.
    quantity: Option<i64>,
}

/// `PUT /orders/:id` body.
#[derive(Deserialize, ToSchema)]
pub struct UpdateStatusBody {
    /// The next status: only forward, skipping allowed.
    #[schema(schema_with = order_status_schema)]
    status: String,
}

fn listing(params: &OrdersParams) -> Result<OrderListing, AppError> {
    let limit = number_param("limit", params.limit.as_deref())?;
    OrderListing::parse(
        params.status.as_deref(),
        limit.map(|n: f64| n as i64),
        params.cursor.as_deref(),
    )
    .map_err(|e| e.renamed("after", "cursor"))
}

/// Every order, newest first (admins).
#[utoipa::path(
    get,
    path = "/orders",
    tag = "orders",
    params(OrdersParams),
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "A page of orders", body = OrderPage),
        (status = 400, description = "A bad status, limit or cursor", body = ErrorEnvelope),
        (status = 401, description = "No token, or a bad or expired one", body = ErrorEnvelope),
        (status = 403, description = "Not an admin", body = ErrorEnvelope),
    )
)]
pub async fn list_orders(
    State(services): State<Services>,
    principal: Principal,
    Query(params): Query<OrdersParams>,
) -> Result<impl IntoResponse, AppError> {
    let page = services.orders.list(&principal, listing(&params)?).await?;
    Ok(Json(page_body(page.map(|order| OrderBody::from(&order)))))
}

/// The caller's own orders, newest first.
#[utoipa::path(
    get,
    path = "/orders/my",
    tag = "orders",
    params(OrdersParams),
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "A page of the caller's orders", body = OrderPage),
        (status = 400, description = "A bad status, limit or cursor", body = ErrorEnvelope),
        (status = 401, description = "No token, or a bad or expired one", body = ErrorEnvelope),
    )
)]
pub async fn my_orders(
    State(services): State<Services>,
    principal: Principal,
    Query(params): Query<OrdersParams>,
) -> Result<impl IntoResponse, AppError> {
    let page = services.orders.mine(&principal, listing(&params)?).await?;
    Ok(Json(page_body(page.map(|order| OrderBody::from(&order)))))
}

/// One order, for its owner or an admin.
#[utoipa::path(
    get,
    path = "/orders/{id}",
    tag = "orders",
    params(("id" = String, Path, description = "The order id")),
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The order", body = OrderEnvelope),
        (status = 400, description = "A malformed id", body = ErrorEnvelope),
        (status = 401, description = "No token, or a bad or expired one", body = ErrorEnvelope),
        (status = 404, description = "No such order, or not the caller's", body = ErrorEnvelope),
    )
)]
pub async fn get_order(
    State(services): State<Services>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, AppError> {
    let id = OrderId::parse(&id).map_err(|e| e.on("id"))?;
    let order = services.orders.order(&principal, &id).await?;
    Ok(Json(envelope::success(OrderBody::from(&order))))
}

/// Orders a product (signed in).
///
/// The stock is taken atomically; admins hear `new_order`.
#[utoipa::path(
    post,
    path = "/orders",
    tag = "orders",
    request_body = PlaceOrderBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key from the same user within 24 hours returns the first result; with a different body, 409")),
    security(("bearerAuth" = [])),
    responses(
        (status = 201, description = "The order, placed (status `pending`)", body = OrderEnvelope),
        (status = 400, description = "A malformed body, product id or quantity", body = ErrorEnvelope),
        (status = 401, description = "No token, or a bad or expired one", body = ErrorEnvelope),
        (status = 404, description = "No such product", body = ErrorEnvelope),
        (status = 409, description = "Out of stock, or the Idempotency-Key was used for another request", body = ErrorEnvelope),
    )
)]
pub async fn place_order(
    State(services): State<Services>,
    principal: Principal,
    IdempotencyKeyHeader(key): IdempotencyKeyHeader,
    AppJson(body): AppJson<PlaceOrderBody>,
) -> Result<impl IntoResponse, AppError> {
    let product_id = ProductId::parse(&body.product_id).map_err(|e| e.on("productId"))?;
    let quantity = Quantity::parse(body.quantity.unwrap_or(Quantity::DEFAULT))
        .map_err(|e| e.on("quantity"))?;
    let order = services
        .orders
        .place(&principal, &product_id, quantity, key.as_ref())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(envelope::success(OrderBody::from(&order))),
    ))
}

/// Moves an order forward (admins).
///
/// Only forward, skipping allowed; the owner and admins hear
/// `order_status_update`.
#[utoipa::path(
    put,
    path = "/orders/{id}",
    tag = "orders",
    params(("id" = String, Path, description = "The order id")),
    request_body = UpdateStatusBody,
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The order, moved", body = OrderEnvelope),
        (status = 400, description = "A malformed id or body, or an unknown status", body = ErrorEnvelope),
        (status = 401, description = "No token, or a bad or expired one", body = ErrorEnvelope),
        (status = 403, description = "Not an admin", body = ErrorEnvelope),
        (status = 404, description = "No such order", body = ErrorEnvelope),
        (status = 409, description = "Not a forward move from the current status", body = ErrorEnvelope),
    )
)]
pub async fn update_order_status(
    State(services): State<Services>,
    principal: Principal,
    Path(id): Path<String>,
    AppJson(body): AppJson<UpdateStatusBody>,
) -> Result<impl IntoResponse, AppError> {
    let id = OrderId::parse(&id).map_err(|e| e.on("id"))?;
    let status = OrderStatus::parse(&body.status).map_err(|e| e.on("status"))?;
    let order = services
        .orders
        .update_status(&principal, &id, status)
        .await?;
    Ok(Json(envelope::success(OrderBody::from(&order))))
}
