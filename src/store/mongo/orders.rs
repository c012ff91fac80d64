//! Orders on MongoDB: [`OrderStore`] for [`MongoStore`], the `orders`
//! document, its queries and its indexes. Placing an order is a conditional
//! stock decrement on the product, then the order; a failed order write gives
//! the stock back (a standalone server has no multi-document transactions).

use async_trait::async_trait;
use bson::oid::ObjectId;
use bson::{Document, doc};
use chrono::{DateTime, Utc};
use mongodb::IndexModel;
use mongodb::options::ReturnDocument;
use serde::{Deserialize, Serialize};

use super::{
    MongoStore, all_of, by_ids, chrono, classify, collect, date, domain_id, number, object_id,
    stored, time_position,
};
use crate::domain::{NewOrder, Order, OrderId, OrderStatus, Price, Quantity};
use crate::store::{
    MoveOrder, OrderFilter, OrderQuery, OrderStats, OrderStore, PlaceOrder, StoreError, StoreResult,
};

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OrderDoc {
    #[serde(rename = "_id")]
    id: ObjectId,
    user_id: ObjectId,
    product_id: ObjectId,
    quantity: i64,
    unit_price_cents: i64,
    total_cents: i64,
    status: String,
    created_at: bson::DateTime,
    updated_at: bson::DateTime,
}

impl OrderDoc {
    fn into_order(self) -> StoreResult<Order> {
        Ok(Order {
            id: domain_id(&self.id),
            user_id: domain_id(&self.user_id),
            product_id: domain_id(&self.product_id),
            quantity: stored(Quantity::parse(self.quantity), "quantity")?,
            unit_price: stored(Price::from_cents(self.unit_price_cents), "unit price")?,
            total: stored(Price::from_cents(self.total_cents), "total")?,
            status: stored(OrderStatus::parse(&self.status), "status")?,
            created_at: chrono(self.created_at),
            updated_at: chrono(self.updated_at),
        })
    }
}

impl MongoStore {
    async fn order_doc(&self, id: &OrderId) -> StoreResult<Option<Order>> {
        self.orders
            .find_one(doc! { "_id": object_id(id) })
            .await
            .map_err(classify)?
            .map(OrderDoc::into_order)
            .transpose()
    }

    /// The indexes order queries need (created at start-up, idempotently).
    pub(super) async fn create_order_indexes(&self) -> StoreResult<()> {
        let order_indexes = [
            doc! { "createdAt": -1, "_id": -1 },
            doc! { "userId": 1, "createdAt": -1, "_id": -1 },
            doc! { "status": 1, "createdAt": -1, "_id": -1 },
        ];
        for keys in order_indexes {
            self.orders
                .create_index(IndexModel::builder().keys(keys).build())
                .await
                .map_err(classify)?;
        }
        Ok(())
    }
}

/// The conditions of an order list's filters: what its page reads and its
/// count counts.
fn filter_conditions(filter: &OrderFilter) -> Vec<Document> {
    let mut conditions: Vec<Document> = Vec::new();
    if let Some(status) = filter.status {
        conditions.push(doc! { "status": status.as_str() });
    }
    if let Some(user_id) = &filter.user_id {
        conditions.push(doc! { "userId": object_id(user_id) });
    }
    conditions
}

#[async_trait]
impl OrderStore for MongoStore {
    async fn place_order(&self, order: &NewOrder) -> StoreResult<PlaceOrder> {
        let quantity = order.quantity.units();
        let product_id = object_id(&order.product_id);
        // The conditional decrement is the whole concurrency story: MongoDB
        // applies it atomically per document, so stock never goes negative.
        let taken = self
            .products
            .find_one_and_update(
                doc! { "_id": product_id, "stock": { "$gte": quantity } },
                doc! { "$inc": { "stock": -quantity }, "$set": { "updatedAt": date(order.created_at) } },
            )
            .await
            .map_err(classify)?;
        let Some(product) = taken else {
            let exists = self
                .products
                .count_documents(doc! { "_id": product_id })
                .await
                .map_err(classify)?;
            return Ok(if exists > 0 {
                PlaceOrder::OutOfStock
            } else {
                PlaceOrder::UnknownProduct
            });
        };
        let total_cents = product
            .price_cents
            .checked_mul(quantity)
            .ok_or_else(|| StoreError::Internal(anyhow::anyhow!("order total overflows")))?;
        let document = OrderDoc {
            id: object_id(&order.id),
            user_id: object_id(&order.user_id),
            product_id,
            quantity,
            unit_price_cents: product.price_cents,
            total_cents,
            status: OrderStatus::Pending.as_str().to_owned(),
            created_at: date(order.created_at),
            updated_at: date(order.created_at),
        };
        if let Err(error) = self.orders.insert_one(&document).await {
            // Without a multi-document transaction (a standalone server has
            // none), give the stock back so a failed order takes nothing.
            let restored = self
                .products
                .update_one(
                    doc! { "_id": product_id },
                    doc! { "$inc": { "stock": quantity } },
                )
                .await;
            if let Err(restore_error) = restored {
                tracing::error!(error = %restore_error, "could not return the stock of a failed order");
            }
            return Err(classify(error));
        }
        document.into_order().map(PlaceOrder::Placed)
    }

    async fn move_order(
        &self,
        id: &OrderId,
        from: &[OrderStatus],
        to: OrderStatus,
        now: DateTime<Utc>,
    ) -> StoreResult<MoveOrder> {
        if !from.is_empty() {
            let from: Vec<&str> = from.iter().map(|status| status.as_str()).collect();
            let moved = self
                .orders
                .find_one_and_update(
                    doc! { "_id": object_id(id), "status": { "$in": from } },
                    doc! { "$set": { "status": to.as_str(), "updatedAt": date(now) } },
                )
                .return_document(ReturnDocument::After)
                .await
                .map_err(classify)?;
            if let Some(document) = moved {
                return document.into_order().map(MoveOrder::Moved);
            }
        }
        Ok(MoveOrder::refused(self.order_doc(id).await?))
    }

    async fn order_by_id(&self, id: &OrderId) -> StoreResult<Option<Order>> {
        self.order_doc(id).await
    }

    async fn orders_by_ids(&self, ids: &[OrderId]) -> StoreResult<Vec<Order>> {
        by_ids(&self.orders, ids, OrderDoc::into_order).await
    }

    async fn list_orders(&self, query: &OrderQuery) -> StoreResult<Vec<Order>> {
        let mut conditions = filter_conditions(&query.filter());
        if let Some(cursor) = &query.after {
            conditions.push(time_position(cursor, "$lt")?);
        }
        let documents: Vec<OrderDoc> = collect(
            self.orders
                .find(all_of(conditions))
                .sort(doc! { "createdAt": -1, "_id": -1 })
                .limit(query.limit as i64),
        )
        .await?;
        documents.into_iter().map(OrderDoc::into_order).collect()
    }

    async fn count_orders(&self, filter: &OrderFilter) -> StoreResult<u64> {
        self.orders
            .count_documents(all_of(filter_conditions(filter)))
            .await
            .map_err(classify)
    }

    async fn order_stats(&self, since: DateTime<Utc>) -> StoreResult<OrderStats> {
        let groups: Vec<Document> = collect(self
            .orders
            .aggregate([doc! {
                "$group": { "_id": "$status", "count": { "$sum": 1 }, "revenue": { "$sum": "$totalCents" } }
            }])).await?;
        let placed_since = self
            .orders
            .count_documents(doc! { "createdAt": { "$gte": date(since) } })
            .await
            .map_err(classify)?;
        let mut stats = OrderStats {
            by_status: OrderStatus::ALL.iter().map(|status| (*status, 0)).collect(),
            revenue_cents: 0,
            placed_since,
        };
        for group in groups {
            let status = stored(
                OrderStatus::parse(group.get_str("_id").unwrap_or_default()),
                "status",
            )?;
            let count = number(group.get("count"));
            if let Some(entry) = stats.by_status.iter_mut().find(|(s, _)| *s == status) {
                entry.1 = count.max(0) as u64;
            }
            stats.revenue_cents += number(group.get("revenue"));
        }
        Ok(stats)
    }
}
