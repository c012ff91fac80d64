//! `GET /events`: the event log for polling clients, the REST side of
//! "resume after a disconnect".

use axum::Json;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::number_param;
use crate::auth::Principal;
use crate::compat::envelope::{self, timestamp};
use crate::compat::openapi::ErrorEnvelope;
use crate::compat::wire::{MessageBody, OrderBody, ProductBody};
use crate::error::AppError;
use crate::hub::{Event, Published};
use crate::services::Services;

/// `GET /events` query parameters.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsParams {
    /// The last position the client processed (`meta.position` or
    /// `meta.nextCursor` of an earlier answer, or any event's `position`).
    /// Omitted: no events, only the head to continue from.
    after: Option<String>,
    /// Events per page: 20 by default, at most 100 (more is clamped).
    #[param(value_type = Option<i64>)]
    limit: Option<String>,
}

/// One event of the log.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventBody {
    /// Where it stands in the log (opaque; resume after it).
    position: String,
    /// `order_placed` and `order_status_changed` (payload: the order),
    /// `product_added` and `product_changed` (the product),
    /// `product_removed` (`{productId}`), `message_sent` (the message),
    /// `messages_seen` (`{by, ids, seenAt}`).
    kind: &'static str,
    #[schema(format = DateTime)]
    at: String,
    #[schema(value_type = Object)]
    payload: Value,
}

/// `meta` of `GET /events`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventsMeta {
    /// Set when this page is full: ask again with `after` = this.
    next_cursor: Option<String>,
    /// The head of the log when the page was read: once the pages run out,
    /// continue with `after` = this (also when `data` is empty).
    position: String,
}

/// The answer of `GET /events`.
#[derive(Serialize, ToSchema)]
pub struct EventsPage {
    #[schema(schema_with = crate::compat::openapi::success_tag)]
    status: String,
    data: Vec<EventBody>,
    meta: EventsMeta,
}

/// What the caller may see of the event log after a position.
///
/// The same events and audiences as the live doors: admins see new orders,
/// a user sees their own orders' moves and their messages, everyone sees
/// catalogue changes. A position that is unknown or older than the
/// retention window answers 410 `RESYNC_REQUIRED`: refetch, then continue
/// from `meta.position`.
#[utoipa::path(
    get,
    path = "/events",
    tag = "events",
    params(EventsParams),
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "A page of events, oldest first", body = EventsPage),
        (status = 400, description = "A bad limit", body = ErrorEnvelope),
        (status = 401, description = "No token, or a bad or expired one", body = ErrorEnvelope),
        (status = 410, description = "The position is unknown or older than the retention window", body = ErrorEnvelope),
    )
)]
pub async fn list_events(
    State(services): State<Services>,
    principal: Principal,
    Query(params): Query<EventsParams>,
) -> Result<impl IntoResponse, AppError> {
    let limit = number_param("limit", params.limit.as_deref())?.map(|n| n as i64);
    let page = services
        .event_log
        .page(&principal, params.after.as_deref(), limit)
        .await?;
    let data: Vec<EventBody> = page.events.iter().filter_map(|e| event_body(e)).collect();
    let mut body = envelope::success(data);
    body["meta"] = json!(EventsMeta {
        next_cursor: page.next_cursor.map(|p| p.to_string()),
        position: page.head.to_string(),
    });
    Ok(Json(body))
}

fn event_body(published: &Published) -> Option<EventBody> {
    let payload = match &published.event {
        Event::OrderPlaced(order) | Event::OrderStatusChanged(order) => {
            json!(OrderBody::from(order))
        }
        Event::ProductAdded(product) | Event::ProductChanged(product) => {
            json!(ProductBody::from(product))
        }
        Event::ProductRemoved(id) => json!({ "productId": id.to_string() }),
        Event::MessageSent { message, .. } => json!(MessageBody::from(message)),
        Event::MessagesSeen { by, ids, at, .. } => json!({
            "by": by.to_string(),
            "ids": ids.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "seenAt": timestamp(*at),
        }),
        _ => return None,
    };
    Some(EventBody {
        position: published.position?.to_string(),
        kind: published.event.kind(),
        at: timestamp(published.at),
        payload,
    })
}
