//! The admin dashboard's figures, gathered in one call.

use std::sync::Arc;

use chrono::Duration;

use super::Presence;
use crate::auth::Principal;
use crate::domain::{OrderStatus, Price, Product, Stock};
use crate::error::AppError;
use crate::store::{Store, now};

/// Products with fewer units than this count as low on stock.
pub const LOW_STOCK_BELOW: i64 = 5;
/// At most this many low-stock products are listed.
pub const LOW_STOCK_LISTED: usize = 10;

/// What the dashboard shows.
#[derive(Debug, Clone)]
pub struct DashboardStats {
    /// Orders in each status (every status listed, zeros included).
    pub orders_by_status: Vec<(OrderStatus, u64)>,
    /// Sum of all order totals.
    pub revenue: Price,
    /// Orders placed in the last 24 hours.
    pub orders_last_24h: u64,
    /// Products in the catalogue.
    pub product_count: u64,
    /// Registered accounts.
    pub user_count: u64,
    /// Accounts with a live connection now.
    pub users_online: u64,
    /// Products with fewer than [`LOW_STOCK_BELOW`] units, fewest first.
    pub low_stock: Vec<Product>,
}

/// The dashboard service. Cheap to clone.
#[derive(Clone)]
pub struct Dashboard {
    store: Arc<dyn Store>,
    presence: Presence,
}

impl Dashboard {
    /// Wires the service.
    pub fn new(store: Arc<dyn Store>, presence: Presence) -> Self {
        Dashboard { store, presence }
    }

    /// The figures (admins only). The store queries run concurrently.
    ///
    /// # Errors
    /// `FORBIDDEN` for non-admins; `UNAVAILABLE` when the store is down.
    pub async fn stats(&self, principal: &Principal) -> Result<DashboardStats, AppError> {
        principal.require_admin()?;
        let below = Stock::parse(LOW_STOCK_BELOW).expect("BUG: a constant valid stock");
        let since = now() - Duration::hours(24);
        let (orders, product_count, user_count, low_stock) = futures::try_join!(
            self.store.order_stats(since),
            self.store.count_products(),
            self.store.count_users(),
            self.store.low_stock_products(below, LOW_STOCK_LISTED),
        )?;
        Ok(DashboardStats {
            orders_by_status: orders.by_status,
            revenue: Price::from_cents(orders.revenue_cents)
                .map_err(|e| AppError::Internal(anyhow::anyhow!("revenue: {e}")))?,
            orders_last_24h: orders.placed_since,
            product_count,
            user_count,
            users_online: self.presence.online_users().len() as u64,
            low_stock,
        })
    }
}
