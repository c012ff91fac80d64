//! The orders port: [`OrderStore`], what its calls answer ([`PlaceOrder`],
//! [`MoveOrder`], [`OrderStats`]) and the [`OrderQuery`] it lists with.
//!
//! Its own trait (and its own file in each adapter) so a change to orders
//! touches order code only; [`Store`](super::Store) gathers every aggregate.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::domain::{Cursor, NewOrder, Order, OrderId, OrderStatus, UserId};

/// An order list request, newest first.
#[derive(Debug, Clone, Default)]
pub struct OrderQuery {
    /// Only orders in this status.
    pub status: Option<OrderStatus>,
    /// Only this user's orders.
    pub user_id: Option<UserId>,
    /// Start strictly after this position (a newest-first cursor).
    pub after: Option<Cursor>,
    /// How many rows to return at most.
    pub limit: usize,
}

/// What an order list is filtered by: an [`OrderQuery`] without its page,
/// which is what its total counts.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    /// Only orders in this status.
    pub status: Option<OrderStatus>,
    /// Only this user's orders.
    pub user_id: Option<UserId>,
}

impl OrderQuery {
    /// The filters of this list, without the page.
    pub fn filter(&self) -> OrderFilter {
        OrderFilter {
            status: self.status,
            user_id: self.user_id.clone(),
        }
    }
}

/// What placing an order did.
#[derive(Debug, Clone, PartialEq)]
pub enum PlaceOrder {
    /// Stock taken and order written.
    Placed(Order),
    /// Not enough stock; nothing written.
    OutOfStock,
    /// No such product; nothing written.
    UnknownProduct,
}

/// What a status move did.
#[derive(Debug, Clone, PartialEq)]
pub enum MoveOrder {
    /// Moved; the order as it is now.
    Moved(Order),
    /// The order is in a status the move may not start from; unchanged.
    NotAllowed(Order),
    /// No such order.
    UnknownOrder,
}

impl MoveOrder {
    /// The answer to a move whose conditional update changed nothing, from
    /// the order as it is now (read after the update): not allowed when it
    /// exists, unknown when it does not. Every adapter's `move_order` ends
    /// here, so they cannot answer the same refusal differently.
    pub fn refused(order: Option<Order>) -> Self {
        match order {
            Some(order) => MoveOrder::NotAllowed(order),
            None => MoveOrder::UnknownOrder,
        }
    }
}

/// Order figures for the dashboard.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OrderStats {
    /// How many orders are in each status (every status listed).
    pub by_status: Vec<(OrderStatus, u64)>,
    /// Sum of all order totals, in minor units.
    pub revenue_cents: i64,
    /// Orders placed since the given instant.
    pub placed_since: u64,
}

/// Orders: placing (with the stock it takes), status moves, lists and
/// figures. Both writes are single atomic operations, never a
/// read-check-write in a service.
#[async_trait]
pub trait OrderStore: Send + Sync {
    /// Takes the stock and writes the order as one atomic step: a
    /// conditional decrement (`stock >= quantity`), so concurrent orders can
    /// never oversell, then the order with the server-computed total.
    async fn place_order(&self, order: &NewOrder) -> StoreResult<PlaceOrder>;
    /// Moves an order to `to` if it is in one of `from` (a conditional
    /// update, so concurrent moves cannot go backwards).
    async fn move_order(
        &self,
        id: &OrderId,
        from: &[OrderStatus],
        to: OrderStatus,
        now: DateTime<Utc>,
    ) -> StoreResult<MoveOrder>;
    /// One order.
    async fn order_by_id(&self, id: &OrderId) -> StoreResult<Option<Order>>;
    /// The orders with these ids that exist, in any order (a batch of
    /// lookups by id, such as `nodes(ids:)`).
    async fn orders_by_ids(&self, ids: &[OrderId]) -> StoreResult<Vec<Order>>;
    /// A keyset-paginated order list, newest first.
    async fn list_orders(&self, query: &OrderQuery) -> StoreResult<Vec<Order>>;
    /// Number of orders a list with these filters holds, whatever its
    /// cursor and page size: one count on the store, no rows read.
    async fn count_orders(&self, filter: &OrderFilter) -> StoreResult<u64>;
    /// Dashboard figures.
    async fn order_stats(&self, since: DateTime<Utc>) -> StoreResult<OrderStats>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Price, ProductId, Quantity};

    fn order() -> Order {
        let at = crate::store::now();
        Order {
            id: OrderId::generate(),
            user_id: UserId::generate(),
            product_id: ProductId::generate(),
            quantity: Quantity::parse(Quantity::DEFAULT).unwrap(),
            unit_price: Price::from_cents(100).unwrap(),
            total: Price::from_cents(100).unwrap(),
            status: OrderStatus::Pending,
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn a_refused_move_of_an_existing_order_is_not_allowed_and_of_a_missing_one_unknown() {
        let order = order();
        assert_eq!(
            MoveOrder::refused(Some(order.clone())),
            MoveOrder::NotAllowed(order)
        );
        assert_eq!(MoveOrder::refused(None), MoveOrder::UnknownOrder);
    }
}
