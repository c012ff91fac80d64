//! Orders on GraphQL: placing, moving along, lists, the dashboard figures,
//! and live order news.

use async_graphql::connection::{Connection, Edge};
use async_graphql::dataloader::DataLoader;
use async_graphql::{ComplexObject, Context, Enum, ID, Object, SimpleObject, Subscription};
use futures::Stream;

use super::accounts::{User, linked_user};
use super::catalog::Product;
use super::context::idempotency_key_arg;
use super::context::{ContextExt as _, id_arg};
use super::error::IntoGraphql as _;
use super::live::events;
use super::loaders::ProductLoader;
use super::scalars::DateTime;
use super::totals::{Counted, Total};
use crate::domain::{self, OrderListing, Page, Quantity};
use crate::hub::Event;
use crate::services::DashboardStats as Stats;

/// Where an order is. Only moves forward; skipping is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(name = "OrderStatus")]
pub enum OrderStatus {
    /// Placed, not yet handled.
    Pending,
    /// Being prepared.
    Processing,
    /// Handed to the carrier.
    Shipped,
    /// Arrived.
    Delivered,
}

impl From<domain::OrderStatus> for OrderStatus {
    fn from(status: domain::OrderStatus) -> Self {
        match status {
            domain::OrderStatus::Pending => OrderStatus::Pending,
            domain::OrderStatus::Processing => OrderStatus::Processing,
            domain::OrderStatus::Shipped => OrderStatus::Shipped,
            domain::OrderStatus::Delivered => OrderStatus::Delivered,
        }
    }
}

impl From<OrderStatus> for domain::OrderStatus {
    fn from(status: OrderStatus) -> Self {
        match status {
            OrderStatus::Pending => domain::OrderStatus::Pending,
            OrderStatus::Processing => domain::OrderStatus::Processing,
            OrderStatus::Shipped => domain::OrderStatus::Shipped,
            OrderStatus::Delivered => domain::OrderStatus::Delivered,
        }
    }
}

/// An order. `user` and `product` are batch-loaded.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(complex, name = "Order")]
pub struct Order {
    /// Stable id.
    pub id: ID,
    /// Units ordered.
    pub quantity: i64,
    /// Unit price when it was placed.
    pub unit_price: f64,
    /// Unit price × quantity, computed by the server.
    pub total: f64,
    /// Where it is in the flow.
    pub status: OrderStatus,
    /// When it was placed.
    pub created_at: DateTime,
    /// When its status last changed.
    pub updated_at: DateTime,
    #[graphql(skip)]
    user_id: domain::UserId,
    #[graphql(skip)]
    product_id: domain::ProductId,
}

#[ComplexObject]
impl Order {
    /// Who placed it.
    ///
    /// Errors: `UNAVAILABLE` when the store is down.
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        linked_user(ctx, &self.user_id).await
    }

    /// What was ordered; null once the product has been deleted.
    ///
    /// Errors: `UNAVAILABLE` when the store is down.
    async fn product(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Product>> {
        let loader = ctx.data::<DataLoader<ProductLoader>>()?;
        let product = loader.load_one(self.product_id.clone()).await.graphql()?;
        Ok(product.map(Product::from))
    }
}

impl From<domain::Order> for Order {
    fn from(order: domain::Order) -> Self {
        Order {
            id: ID(order.id.to_string()),
            quantity: order.quantity.units(),
            unit_price: order.unit_price.as_decimal(),
            total: order.total.as_decimal(),
            status: order.status.into(),
            created_at: order.created_at.into(),
            updated_at: order.updated_at.into(),
            user_id: order.user_id,
            product_id: order.product_id,
        }
    }
}

/// How many orders are in one status.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(name = "StatusCount")]
pub struct StatusCount {
    /// The status.
    pub status: OrderStatus,
    /// Orders in it.
    pub count: u64,
}

/// The admin dashboard's figures.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(name = "DashboardStats")]
pub struct DashboardStats {
    /// Orders in each status (every status, zeros included).
    pub orders_by_status: Vec<StatusCount>,
    /// Sum of all order totals.
    pub revenue: f64,
    /// Orders placed in the last 24 hours.
    pub orders_last_24h: u64,
    /// Products in the catalogue.
    pub product_count: u64,
    /// Registered accounts.
    pub user_count: u64,
    /// Accounts with a live connection now.
    pub users_online: u64,
    /// Products with fewer than 5 units, fewest first (at most 10).
    pub low_stock_products: Vec<Product>,
}

impl From<Stats> for DashboardStats {
    fn from(stats: Stats) -> Self {
        DashboardStats {
            orders_by_status: stats
                .orders_by_status
                .into_iter()
                .map(|(status, count)| StatusCount {
                    status: status.into(),
                    count,
                })
                .collect(),
            revenue: stats.revenue.as_decimal(),
            orders_last_24h: stats.orders_last_24h,
            product_count: stats.product_count,
            user_count: stats.user_count,
            users_online: stats.users_online,
            low_stock_products: stats.low_stock.into_iter().map(Product::from).collect(),
        }
    }
}

fn connection(page: Page<domain::Order>, total: Total) -> Connection<String, Order, Total> {
    let mut connection =
        Connection::with_additional_fields(false, page.next_cursor.is_some(), total);
    connection.edges.extend(
        page.items
            .into_iter()
            .map(|order| Edge::new(order.cursor().encode(), Order::from(order))),
    );
    connection
}

/// Order queries.
#[derive(Default)]
pub struct OrderQuery;

#[Object]
impl OrderQuery {
    /// All orders, newest first (admins); `totalCount` counts those in
    /// `status` (all without it).
    /// Errors: `UNAUTHENTICATED`, `FORBIDDEN` (not an admin),
    /// `BAD_USER_INPUT` (a cursor of another list), `UNAVAILABLE`.
    #[graphql(complexity = "super::page_cost(first, child_complexity)")]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        status: Option<OrderStatus>,
        #[graphql(desc = "Page size: 20 by default, at most 100.")] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Order, Total>> {
        let principal = ctx.principal()?;
        let status = status.map(|s| domain::OrderStatus::from(s).as_str());
        let listing =
            OrderListing::parse(status, first.map(i64::from), after.as_deref()).graphql()?;
        let total = Total::of(Counted::Orders(listing.clone()));
        ctx.services()
            .orders
            .list(principal, listing)
            .await
            .map(|page| connection(page, total))
            .graphql()
    }

    /// The caller's own orders, newest first; `totalCount` counts them all.
    /// Errors: `UNAUTHENTICATED`, `BAD_USER_INPUT` (a cursor of another
    /// list), `UNAVAILABLE`.
    #[graphql(complexity = "super::page_cost(first, child_complexity)")]
    async fn my_orders(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size: 20 by default, at most 100.")] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Order, Total>> {
        let principal = ctx.principal()?;
        let listing =
            OrderListing::parse(None, first.map(i64::from), after.as_deref()).graphql()?;
        let total = Total::of(Counted::MyOrders(listing.clone()));
        ctx.services()
            .orders
            .mine(principal, listing)
            .await
            .map(|page| connection(page, total))
            .graphql()
    }

    /// One order, for its owner or an admin (anyone else: `NOT_FOUND`).
    ///
    /// Errors: `UNAUTHENTICATED`; `BAD_USER_INPUT` for a malformed id;
    /// `NOT_FOUND` for an unknown order or another user's; `UNAVAILABLE` when
    /// the store is down.
    async fn order(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Order>> {
        let principal = ctx.principal()?;
        let id = id_arg(&id, "id")?;
        ctx.services()
            .orders
            .order(principal, &id)
            .await
            .map(|o| Some(o.into()))
            .graphql()
    }

    /// The dashboard's figures (admins).
    ///
    /// Errors: `UNAUTHENTICATED`; `FORBIDDEN` for non-admins; `UNAVAILABLE`
    /// when the store is down.
    async fn dashboard_stats(&self, ctx: &Context<'_>) -> async_graphql::Result<DashboardStats> {
        let principal = ctx.principal()?;
        ctx.services()
            .dashboard
            .stats(principal)
            .await
            .map(DashboardStats::from)
            .graphql()
    }
}

/// Order mutations.
#[derive(Default)]
pub struct OrderMutation;

#[Object]
impl OrderMutation {
    /// Orders `quantity` units for the caller; stock is taken atomically
    /// (`CONFLICT` when there is not enough). Admins hear `newOrder`.
    ///
    /// Errors: `UNAUTHENTICATED`; `BAD_USER_INPUT` for a malformed product id
    /// or `idempotencyKey`, or a quantity below 1; `NOT_FOUND` for an unknown
    /// product; `CONFLICT` when the stock does not cover the quantity, or for
    /// an `idempotencyKey` used for another request; `UNAVAILABLE` when the
    /// store is down.
    async fn place_order(
        &self,
        ctx: &Context<'_>,
        product_id: ID,
        #[graphql(default_with = "crate::domain::Quantity::DEFAULT as i32")] quantity: i32,
        #[graphql(
            desc = "Makes a retry safe: the same key from the same user within 24 hours returns the first result instead of creating again; the same key with different arguments is CONFLICT."
        )]
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<Order> {
        let principal = ctx.principal()?;
        let key = idempotency_key_arg(idempotency_key.as_deref())?;
        let product_id = id_arg(&product_id, "productId")?;
        let quantity = Quantity::parse(i64::from(quantity))
            .map_err(|e| e.on("quantity"))
            .graphql()?;
        ctx.services()
            .orders
            .place(principal, &product_id, quantity, key.as_ref())
            .await
            .map(Order::from)
            .graphql()
    }

    /// Moves an order forward (admins); the owner and admins hear
    /// `orderStatusUpdated`. A move that is not forward is a `CONFLICT`.
    ///
    /// Errors: `UNAUTHENTICATED`; `FORBIDDEN` for non-admins; `BAD_USER_INPUT`
    /// for a malformed id; `NOT_FOUND` for an unknown order; `CONFLICT` for a
    /// move that is not forward; `UNAVAILABLE` when the store is down.
    async fn update_order_status(
        &self,
        ctx: &Context<'_>,
        id: ID,
        status: OrderStatus,
    ) -> async_graphql::Result<Order> {
        let principal = ctx.principal()?;
        let id = id_arg(&id, "id")?;
        ctx.services()
            .orders
            .update_status(principal, &id, status.into())
            .await
            .map(Order::from)
            .graphql()
    }
}

/// Order news.
#[derive(Default)]
pub struct OrderSubscription;

#[Subscription]
impl OrderSubscription {
    /// Orders as they are placed (admins).
    ///
    /// Errors: `UNAUTHENTICATED`; `FORBIDDEN` for non-admins; `LAGGED` (an
    /// item, then the stream goes on) when this subscription fell behind.
    async fn new_order(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Order>>> {
        let principal = ctx.principal()?;
        let subscription = ctx
            .services()
            .orders
            .watch_new_orders(principal)
            .graphql()?;
        Ok(events(subscription, |event| match event {
            Event::OrderPlaced(order) => Some(Order::from(order.clone())),
            _ => None,
        }))
    }

    /// Status moves of the caller's orders (admins: of every order).
    ///
    /// Errors: `UNAUTHENTICATED`; `LAGGED` (an item, then the stream goes on)
    /// when this subscription fell behind.
    async fn order_status_updated(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Order>>> {
        let principal = ctx.principal()?;
        Ok(events(
            ctx.services().connections.live(principal),
            |event| match event {
                Event::OrderStatusChanged(order) => Some(Order::from(order.clone())),
                _ => None,
            },
        ))
    }
}
