//! Order events from Socket.IO clients.

use std::sync::Arc;

use serde_json::{Value, json};

use super::caller::Caller;
use super::events::UpdateOrderStatusPayload;
use crate::compat::json_input::parse_value;
use crate::compat::wire::OrderBody;
use crate::domain::{OrderId, OrderStatus};
use crate::error::AppError;

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
