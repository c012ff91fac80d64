//! Orders: users place them (taking stock atomically), admins move them
//! along; owners and admins hear about every move.

use std::sync::Arc;

use tracing::instrument;

use super::{Created, EventLog, Idempotency};
use crate::auth::Principal;
use crate::domain::{
    IdempotencyKey, NewOrder, Order, OrderId, OrderListing, OrderStatus, Page, ProductId, Quantity,
};
use crate::error::AppError;
use crate::hub::{Audience, Event, Hub, Subscription};
use crate::store::{MoveOrder, OrderQuery, PlaceOrder, Store, now};

/// The orders service. Cheap to clone.
#[derive(Clone)]
pub struct Orders {
    store: Arc<dyn Store>,
    hub: Hub,
    events: EventLog,
    idempotency: Idempotency,
}

impl Orders {
    /// Wires the service.
    pub fn new(store: Arc<dyn Store>, hub: Hub, events: EventLog) -> Self {
        let idempotency = Idempotency::new(store.clone());
        Orders {
            store,
            hub,
            events,
            idempotency,
        }
    }

    /// Places an order for the caller: the stock is taken and the order
    /// written in one atomic store step, the total computed here on the
    /// server; admins are told. With an idempotency `key`, a retry returns
    /// the order the first request placed instead of placing another.
    ///
    /// # Errors
    /// `NOT_FOUND` for an unknown product; `CONFLICT` when the stock does not
    /// cover the quantity or the key was used for another request;
    /// `UNAVAILABLE` when the store is down.
    #[instrument(skip_all, fields(user.id = %principal.user_id, product.id = %product_id))]
    pub async fn place(
        &self,
        principal: &Principal,
        product_id: &ProductId,
        quantity: Quantity,
        key: Option<&IdempotencyKey>,
    ) -> Result<Order, AppError> {
        let request = format!("place_order\n{product_id}\n{}", quantity.units());
        let created = self
            .idempotency
            .create(
                &principal.user_id,
                key,
                &request,
                |id: OrderId| async move { self.store.order_by_id(&id).await },
                |id: OrderId| async move {
                    let new_order = NewOrder {
                        id,
                        user_id: principal.user_id.clone(),
                        product_id: product_id.clone(),
                        quantity,
                        created_at: now(),
                    };
                    Ok(match self.store.place_order(&new_order).await? {
                        PlaceOrder::Placed(order) => Ok(order),
                        PlaceOrder::OutOfStock => Err(AppError::Conflict(
                            "not enough stock for this quantity".into(),
                        )),
                        PlaceOrder::UnknownProduct => Err(AppError::NotFound("product")),
                    })
                },
            )
            .await?;
        if let Created::New(order) = &created {
            tracing::info!(order.id = %order.id, "order placed");
            self.events
                .record(Audience::Admins, Event::OrderPlaced(order.clone()))
                .await;
        }
        Ok(created.into_inner())
    }

    /// Moves an order forward (admins only); the owner and admins are told.
    ///
    /// # Errors
    /// `FORBIDDEN` for non-admins; `NOT_FOUND` for an unknown order;
    /// `CONFLICT` for a move that is not forward; `UNAVAILABLE` when the
    /// store is down.
    #[instrument(skip_all, fields(user.id = %principal.user_id, order.id = %id, status = to.as_str()))]
    pub async fn update_status(
        &self,
        principal: &Principal,
        id: &OrderId,
        to: OrderStatus,
    ) -> Result<Order, AppError> {
        principal.require_admin()?;
        let from = OrderStatus::predecessors(to);
        match self.store.move_order(id, &from, to, now()).await? {
            MoveOrder::Moved(order) => {
                tracing::info!("order status changed");
                self.events
                    .record(
                        Audience::UsersAndAdmins(vec![order.user_id.clone()]),
                        Event::OrderStatusChanged(order.clone()),
                    )
                    .await;
                Ok(order)
            }
            MoveOrder::NotAllowed(order) => Err(AppError::Conflict(format!(
                "an order that is {} cannot move to {}; status only moves forward",
                order.status.as_str(),
                to.as_str()
            ))),
            MoveOrder::UnknownOrder => Err(AppError::NotFound("order")),
        }
    }

    /// All orders, newest first (admins only).
    ///
    /// # Errors
    /// `FORBIDDEN` for non-admins; `UNAVAILABLE` when the store is down.
    pub async fn list(
        &self,
        principal: &Principal,
        listing: OrderListing,
    ) -> Result<Page<Order>, AppError> {
        principal.require_admin()?;
        self.page(
            OrderQuery {
                status: listing.status,
                user_id: None,
                after: listing.after,
                limit: listing.first + 1,
            },
            listing.first,
        )
        .await
    }

    /// The caller's own orders, newest first.
    ///
    /// # Errors
    /// `UNAVAILABLE` when the store is down.
    pub async fn mine(
        &self,
        principal: &Principal,
        listing: OrderListing,
    ) -> Result<Page<Order>, AppError> {
        self.page(
            OrderQuery {
                status: listing.status,
                user_id: Some(principal.user_id.clone()),
                after: listing.after,
                limit: listing.first + 1,
            },
            listing.first,
        )
        .await
    }

    /// One order, for its owner or an admin. Anyone else is told it does not
    /// exist, so ids of other people's orders cannot be probed.
    ///
    /// # Errors
    /// `NOT_FOUND` for an unknown or foreign order; `UNAVAILABLE` when the
    /// store is down.
    pub async fn order(&self, principal: &Principal, id: &OrderId) -> Result<Order, AppError> {
        match self.store.order_by_id(id).await? {
            Some(order) if principal.is_admin() || order.user_id == principal.user_id => Ok(order),
            _ => Err(AppError::NotFound("order")),
        }
    }

    /// The live feed of new orders (admins only).
    ///
    /// # Errors
    /// `FORBIDDEN` for non-admins.
    pub fn watch_new_orders(&self, principal: &Principal) -> Result<Subscription, AppError> {
        principal.require_admin()?;
        Ok(self.hub.subscribe(principal))
    }

    async fn page(&self, query: OrderQuery, size: usize) -> Result<Page<Order>, AppError> {
        let rows = self.store.list_orders(&query).await?;
        Ok(Page::from_rows(rows, size, Order::cursor))
    }
}
