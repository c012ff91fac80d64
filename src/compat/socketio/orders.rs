//! Order events from Socket.IO clients.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::handlers::Caller;
use crate::compat::rest::parse_value;
use crate::compat::wire::OrderBody;
use crate::domain::{OrderId, OrderStatus};
use crate::error::AppError;

/// `update_order_status` payload. `id` is accepted for `orderId`, as the
/// original server did.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateOrderStatusPayload {
    /// The order to move (`id` is accepted instead, as the original server did).
    #[serde(alias = "id")]
    order_id: String,
    /// The next status: only forward, skipping allowed.
    #[schema(schema_with = crate::compat::openapi::order_status_schema)]
    status: String,
}

/// `update_order_status {orderId, status}` (admins): the service the
/// `updateOrderStatus` mutation calls; the ack carries the moved order.
pub async fn update_order_status(
    caller: Arc<Caller>,
    payload: Option<Value>,
) -> Result<Value, AppError> {
    let payload: UpdateOrderStatusPayload = parse_value(payload.unwrap_or(Value::Null))?;
    let id = OrderId::parse(&payload.order_id).map_err(|e| e.on("orderId"))?;
    let status = OrderStatus::parse(&payload.status).map_err(|e| e.on("status"))?;
    let order = caller
        .services()
        .orders
        .update_status(&caller.principal, &id, status)
        .await?;
    Ok(json!(OrderBody::from(&order)))
}
