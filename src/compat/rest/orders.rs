//! `/orders`: orders over REST.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;

use super::{AppJson, number_param, page_body};
use crate::auth::Principal;
use crate::compat::envelope;
use crate::compat::wire::OrderBody;
use crate::domain::{OrderId, OrderStatus, ProductId, Quantity};
use crate::error::AppError;
use crate::http::AppState;
use crate::services::OrderListing;

/// `GET /orders` and `/orders/my` query parameters.
#[derive(Deserialize)]
pub struct OrdersParams {
    status: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// `POST /orders` body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlaceOrderBody {
    product_id: String,
    quantity: Option<i64>,
}

/// `PUT /orders/:id` body.
#[derive(Deserialize)]
pub struct UpdateStatusBody {
    status: String,
}

fn listing(params: &OrdersParams) -> Result<OrderListing, AppError> {
    let limit = number_param("limit", params.limit.as_deref())?;
    OrderListing::parse(
        params.status.as_deref(),
        limit.map(|n: f64| n as i64),
        params.cursor.as_deref(),
    )
}

pub async fn list_orders(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<OrdersParams>,
) -> Result<impl IntoResponse, AppError> {
    let page = state
        .services
        .orders
        .list(&principal, listing(&params)?)
        .await?;
    Ok(Json(page_body(page.map(|order| OrderBody::from(&order)))))
}

pub async fn my_orders(
    State(state): State<AppState>,
    principal: Principal,
    Query(params): Query<OrdersParams>,
) -> Result<impl IntoResponse, AppError> {
    let page = state
        .services
        .orders
        .mine(&principal, listing(&params)?)
        .await?;
    Ok(Json(page_body(page.map(|order| OrderBody::from(&order)))))
}

pub async fn get_order(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, AppError> {
    let id = OrderId::parse(&id).map_err(|e| e.on("id"))?;
    let order = state.services.orders.order(&principal, &id).await?;
    Ok(Json(envelope::success(OrderBody::from(&order))))
}

pub async fn place_order(
    State(state): State<AppState>,
    principal: Principal,
    AppJson(body): AppJson<PlaceOrderBody>,
) -> Result<impl IntoResponse, AppError> {
    let product_id = ProductId::parse(&body.product_id).map_err(|e| e.on("productId"))?;
    let quantity = Quantity::parse(body.quantity.unwrap_or(1)).map_err(|e| e.on("quantity"))?;
    let order = state
        .services
        .orders
        .place(&principal, &product_id, quantity)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(envelope::success(OrderBody::from(&order))),
    ))
}

pub async fn update_order_status(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    AppJson(body): AppJson<UpdateStatusBody>,
) -> Result<impl IntoResponse, AppError> {
    let id = OrderId::parse(&id).map_err(|e| e.on("id"))?;
    let status = OrderStatus::parse(&body.status).map_err(|e| e.on("status"))?;
    let order = state
        .services
        .orders
        .update_status(&principal, &id, status)
        .await?;
    Ok(Json(envelope::success(OrderBody::from(&order))))
}
