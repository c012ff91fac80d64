//! Order events from Socket.IO clients.

use serde::Deserialize;
use serde_json::Value;
use socketioxide::extract::{AckSender, Extension, State, TryData};
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::compat::envelope;
use crate::compat::rest::parse_value;
use crate::compat::wire::OrderBody;
use crate::domain::{OrderId, OrderStatus};
use crate::services::Services;

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
/// `updateOrderStatus` mutation calls; the ack is the envelope.
pub async fn update_order_status(
    Extension(principal): Extension<Principal>,
    State(services): State<Services>,
    TryData(payload): TryData<Value>,
    ack: AckSender,
) {
    let result = async {
        let payload: UpdateOrderStatusPayload = parse_value(payload.unwrap_or(Value::Null))?;
        let id = OrderId::parse(&payload.order_id).map_err(|e| e.on("orderId"))?;
        let status = OrderStatus::parse(&payload.status).map_err(|e| e.on("status"))?;
        services.orders.update_status(&principal, &id, status).await
    }
    .await;
    let body = match result {
        Ok(order) => envelope::success(OrderBody::from(&order)),
        Err(error) => envelope::error_body(&error),
    };
    if let Err(error) = ack.send(&body) {
        tracing::debug!(%error, "update_order_status ack not delivered");
    }
}
