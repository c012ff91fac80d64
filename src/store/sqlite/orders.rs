//! Orders on SQLite: [`OrderStore`] for [`SqliteStore`], the `orders` row
//! and its SQL. Placing an order takes the product's stock in the same
//! write (one transaction on the writer) that inserts the order.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use sqlx::sqlite::Sqlite;

use super::statements::{execute, optional_row};
use super::{SqliteStore, by_ids, classify, push_time_keyset, stored, text, timestamp};
use crate::domain::{NewOrder, Order, OrderId, OrderStatus, Price, ProductId, Quantity, UserId};
use crate::store::{
    MoveOrder, OrderFilter, OrderQuery, OrderStats, OrderStore, PlaceOrder, StoreError, StoreResult,
};

const ORDER_COLUMNS: &str = "id, user_id, product_id, quantity, unit_price_cents, total_cents, status, created_at, updated_at";

sqlite_row! {
    struct OrderRow {
        id: String,
        user_id: String,
        product_id: String,
        quantity: i64,
        unit_price_cents: i64,
        total_cents: i64,
        status: String,
        created_at: String,
        updated_at: String,
    }
}

impl OrderRow {
    fn into_order(self) -> StoreResult<Order> {
        Ok(Order {
            id: stored(OrderId::parse(&self.id), "order id")?,
            user_id: stored(UserId::parse(&self.user_id), "user id")?,
            product_id: stored(ProductId::parse(&self.product_id), "product id")?,
            quantity: stored(Quantity::parse(self.quantity), "quantity")?,
            unit_price: stored(Price::from_cents(self.unit_price_cents), "unit price")?,
            total: stored(Price::from_cents(self.total_cents), "total")?,
            status: stored(OrderStatus::parse(&self.status), "status")?,
            created_at: timestamp(&self.created_at)?,
            updated_at: timestamp(&self.updated_at)?,
        })
    }
}

/// ` AND …` for each filter of an order list: what its page reads and its
/// count counts.
fn push_filter(sql: &mut QueryBuilder<Sqlite>, filter: &OrderFilter) {
    if let Some(status) = filter.status {
        sql.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(user_id) = &filter.user_id {
        sql.push(" AND user_id = ")
            .push_bind(user_id.as_str().to_owned());
    }
}

impl SqliteStore {
    async fn order_row(&self, id: &OrderId) -> StoreResult<Option<Order>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = ?"));
        sqlx::query_as::<_, OrderRow>(sql)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?
            .map(OrderRow::into_order)
            .transpose()
    }
}

#[async_trait]
impl OrderStore for SqliteStore {
    async fn place_order(&self, order: &NewOrder) -> StoreResult<PlaceOrder> {
        let order = order.clone();
        // One write: the stock taken and the order row commit together
        // (the batch's transaction takes the file's write lock up front).
        self.writer
            .write(move |c| {
                let taken = optional_row(
                    c,
                    "UPDATE products SET stock = stock - ?1, updated_at = ?2 \
                     WHERE id = ?3 AND stock >= ?1 RETURNING price_cents",
                    (
                        order.quantity.units(),
                        text(order.created_at),
                        order.product_id.as_str(),
                    ),
                    |row| row.get::<_, i64>(0),
                )?;
                let Some(unit_price_cents) = taken else {
                    let exists = optional_row(
                        c,
                        "SELECT 1 FROM products WHERE id = ?",
                        [order.product_id.as_str()],
                        |_| Ok(()),
                    )?;
                    return Ok(if exists.is_some() {
                        PlaceOrder::OutOfStock
                    } else {
                        PlaceOrder::UnknownProduct
                    });
                };
                let total_cents = unit_price_cents
                    .checked_mul(order.quantity.units())
                    .ok_or_else(|| StoreError::Internal(anyhow::anyhow!("order total overflows")))?;
                execute(
                    c,
                    "INSERT INTO orders (id, user_id, product_id, quantity, unit_price_cents, total_cents, status, created_at, updated_at) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        order.id.as_str(),
                        order.user_id.as_str(),
                        order.product_id.as_str(),
                        order.quantity.units(),
                        unit_price_cents,
                        total_cents,
                        OrderStatus::Pending.as_str(),
                        text(order.created_at),
                        text(order.created_at),
                    ),
                )?;
                Ok(PlaceOrder::Placed(Order {
                    unit_price: stored(Price::from_cents(unit_price_cents), "price")?,
                    total: stored(Price::from_cents(total_cents), "order total")?,
                    id: order.id,
                    user_id: order.user_id,
                    product_id: order.product_id,
                    quantity: order.quantity,
                    status: OrderStatus::Pending,
                    created_at: order.created_at,
                    updated_at: order.created_at,
                }))
            })
            .await
    }

    async fn move_order(
        &self,
        id: &OrderId,
        from: &[OrderStatus],
        to: OrderStatus,
        now: DateTime<Utc>,
    ) -> StoreResult<MoveOrder> {
        if !from.is_empty() {
            let sql = format!(
                "UPDATE orders SET status = ?, updated_at = ? WHERE id = ? AND status IN ({}) \
                 RETURNING {ORDER_COLUMNS}",
                vec!["?"; from.len()].join(", ")
            );
            let mut params: Vec<String> =
                vec![to.as_str().to_owned(), text(now), id.as_str().to_owned()];
            params.extend(from.iter().map(|status| status.as_str().to_owned()));
            let moved = self
                .writer
                .write(move |c| {
                    optional_row(
                        c,
                        &sql,
                        rusqlite::params_from_iter(params),
                        OrderRow::from_written,
                    )
                })
                .await?;
            if let Some(row) = moved {
                return row.into_order().map(MoveOrder::Moved);
            }
        }
        Ok(MoveOrder::refused(self.order_row(id).await?))
    }

    async fn order_by_id(&self, id: &OrderId) -> StoreResult<Option<Order>> {
        self.order_row(id).await
    }

    async fn orders_by_ids(&self, ids: &[OrderId]) -> StoreResult<Vec<Order>> {
        by_ids(
            &self.pool,
            ORDER_COLUMNS,
            "orders",
            ids,
            OrderRow::into_order,
        )
        .await
    }

    async fn list_orders(&self, query: &OrderQuery) -> StoreResult<Vec<Order>> {
        let mut sql =
            QueryBuilder::<Sqlite>::new(format!("SELECT {ORDER_COLUMNS} FROM orders WHERE 1 = 1"));
        push_filter(&mut sql, &query.filter());
        if let Some(cursor) = &query.after {
            push_time_keyset(&mut sql, cursor, "<")?;
        }
        sql.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(query.limit as i64);
        sql.build_query_as::<OrderRow>()
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?
            .into_iter()
            .map(OrderRow::into_order)
            .collect()
    }

    async fn count_orders(&self, filter: &OrderFilter) -> StoreResult<u64> {
        let mut sql = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM orders WHERE 1 = 1");
        push_filter(&mut sql, filter);
        let (count,): (i64,) = sql
            .build_query_as()
            .fetch_one(&self.pool)
            .await
            .map_err(classify)?;
        Ok(count.max(0) as u64)
    }

    async fn order_stats(&self, since: DateTime<Utc>) -> StoreResult<OrderStats> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT status, COUNT(*), COALESCE(SUM(total_cents), 0) FROM orders GROUP BY status",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(classify)?;
        let (recent,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM orders WHERE created_at >= ?")
            .bind(text(since))
            .fetch_one(&self.pool)
            .await
            .map_err(classify)?;
        let mut stats = OrderStats {
            by_status: OrderStatus::ALL.iter().map(|status| (*status, 0)).collect(),
            revenue_cents: 0,
            placed_since: recent.max(0) as u64,
        };
        for (status, count, revenue) in rows {
            let status = stored(OrderStatus::parse(&status), "status")?;
            if let Some(entry) = stats.by_status.iter_mut().find(|(s, _)| *s == status) {
                entry.1 = count.max(0) as u64;
            }
            stats.revenue_cents += revenue;
        }
        Ok(stats)
    }
}
