//! The catalogue on MongoDB: [`ProductStore`] for [`MongoStore`], the
//! `products` document (with its lower-cased name key and name words for
//! search), its queries and its indexes.

use async_trait::async_trait;
use bson::oid::ObjectId;
use bson::{Bson, Document, doc};
use chrono::{DateTime, Utc};
use mongodb::IndexModel;
use mongodb::options::ReturnDocument;
use serde::{Deserialize, Serialize};

use super::{
    MongoStore, after_position, all_of, by_ids, chrono, classify, collect, cursor_id,
    cursor_mismatch, date, domain_id, object_id, stored,
};
use crate::domain::{
    Description, Price, Product, ProductId, ProductName, ProductPatch, ProductSort, SortKey, Stock,
};
use crate::store::{ProductFilter, ProductQuery, ProductStore, StoreResult};

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ProductDoc {
    #[serde(rename = "_id")]
    id: ObjectId,
    name: String,
    /// Lower-cased name, for name order.
    name_key: String,
    /// Lower-cased words of the name, for word-prefix search.
    terms: Vec<String>,
    /// Read by placing an order, which takes the price with the stock.
    pub(super) price_cents: i64,
    stock: i64,
    description: String,
    created_at: bson::DateTime,
    updated_at: bson::DateTime,
}

impl ProductDoc {
    fn from_product(product: &Product) -> Self {
        ProductDoc {
            id: object_id(&product.id),
            name: product.name.as_str().to_owned(),
            name_key: product.name.sort_key(),
            terms: product.name.search_terms(),
            price_cents: product.price.cents(),
            stock: product.stock.units(),
            description: product.description.as_str().to_owned(),
            created_at: date(product.created_at),
            updated_at: date(product.updated_at),
        }
    }

    fn into_product(self) -> StoreResult<Product> {
        Ok(Product {
            id: domain_id(&self.id),
            name: stored(ProductName::parse(&self.name), "product name")?,
            price: stored(Price::from_cents(self.price_cents), "price")?,
            stock: stored(Stock::parse(self.stock), "stock")?,
            description: stored(Description::parse(&self.description), "description")?,
            created_at: chrono(self.created_at),
            updated_at: chrono(self.updated_at),
        })
    }
}

/// The smallest text above every text that starts with `prefix`.
fn prefix_upper_bound(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

impl MongoStore {
    /// The indexes product queries need (created at start-up, idempotently).
    pub(super) async fn create_product_indexes(&self) -> StoreResult<()> {
        let product_indexes = [
            doc! { "createdAt": -1, "_id": -1 },
            doc! { "priceCents": 1, "_id": 1 },
            doc! { "nameKey": 1, "_id": 1 },
            doc! { "terms": 1 },
            doc! { "stock": 1 },
        ];
        for keys in product_indexes {
            self.products
                .create_index(IndexModel::builder().keys(keys).build())
                .await
                .map_err(classify)?;
        }
        Ok(())
    }
}

/// The conditions of a catalogue list's filters: what its page reads and its
/// count counts.
fn filter_conditions(filter: &ProductFilter) -> Vec<Document> {
    let mut conditions: Vec<Document> = Vec::new();
    if let Some(search) = &filter.search {
        for prefix in search.prefixes() {
            conditions.push(doc! {
                "terms": { "$elemMatch": { "$gte": prefix.as_str(), "$lt": prefix_upper_bound(prefix) } }
            });
        }
    }
    let mut price = Document::new();
    if let Some(min) = filter.min_price {
        price.insert("$gte", min.cents());
    }
    if let Some(max) = filter.max_price {
        price.insert("$lte", max.cents());
    }
    if !price.is_empty() {
        conditions.push(doc! { "priceCents": price });
    }
    conditions
}

#[async_trait]
impl ProductStore for MongoStore {
    async fn insert_product(&self, product: &Product) -> StoreResult<()> {
        self.products
            .insert_one(ProductDoc::from_product(product))
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn update_product(
        &self,
        id: &ProductId,
        patch: &ProductPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Product>> {
        let mut set = doc! { "updatedAt": date(now) };
        if let Some(name) = &patch.name {
            set.insert("name", name.as_str());
            set.insert("nameKey", name.sort_key());
            set.insert("terms", name.search_terms());
        }
        if let Some(price) = patch.price {
            set.insert("priceCents", price.cents());
        }
        if let Some(stock) = patch.stock {
            set.insert("stock", stock.units());
        }
        if let Some(description) = &patch.description {
            set.insert("description", description.as_str());
        }
        self.products
            .find_one_and_update(doc! { "_id": object_id(id) }, doc! { "$set": set })
            .return_document(ReturnDocument::After)
            .await
            .map_err(classify)?
            .map(ProductDoc::into_product)
            .transpose()
    }

    async fn delete_product(&self, id: &ProductId) -> StoreResult<bool> {
        let result = self
            .products
            .delete_one(doc! { "_id": object_id(id) })
            .await
            .map_err(classify)?;
        Ok(result.deleted_count > 0)
    }

    async fn product_by_id(&self, id: &ProductId) -> StoreResult<Option<Product>> {
        self.products
            .find_one(doc! { "_id": object_id(id) })
            .await
            .map_err(classify)?
            .map(ProductDoc::into_product)
            .transpose()
    }

    async fn products_by_ids(&self, ids: &[ProductId]) -> StoreResult<Vec<Product>> {
        by_ids(&self.products, ids, ProductDoc::into_product).await
    }

    async fn list_products(&self, query: &ProductQuery) -> StoreResult<Vec<Product>> {
        let mut conditions = filter_conditions(&query.filter());
        let (field, comparison, direction) = match query.sort {
            ProductSort::Newest => ("createdAt", "$lt", -1),
            ProductSort::PriceAsc => ("priceCents", "$gt", 1),
            ProductSort::PriceDesc => ("priceCents", "$lt", -1),
            ProductSort::NameAsc => ("nameKey", "$gt", 1),
        };
        if let Some(cursor) = &query.after {
            let key = match (query.sort, &cursor.key) {
                (ProductSort::Newest, SortKey::Time(at)) => Bson::DateTime(date(*at)),
                (ProductSort::PriceAsc | ProductSort::PriceDesc, SortKey::Cents(cents)) => {
                    Bson::Int64(*cents)
                }
                (ProductSort::NameAsc, SortKey::Text(name)) => Bson::String(name.clone()),
                _ => return Err(cursor_mismatch()),
            };
            conditions.push(after_position(
                field,
                comparison,
                key,
                cursor_id(&cursor.id)?,
            ));
        }
        let documents: Vec<ProductDoc> = collect(
            self.products
                .find(all_of(conditions))
                .sort(doc! { field: direction, "_id": direction })
                .limit(query.limit as i64),
        )
        .await?;
        documents
            .into_iter()
            .map(ProductDoc::into_product)
            .collect()
    }

    async fn count_products(&self) -> StoreResult<u64> {
        self.products
            .count_documents(doc! {})
            .await
            .map_err(classify)
    }

    async fn count_matching_products(&self, filter: &ProductFilter) -> StoreResult<u64> {
        self.products
            .count_documents(all_of(filter_conditions(filter)))
            .await
            .map_err(classify)
    }

    async fn low_stock_products(&self, below: Stock, limit: usize) -> StoreResult<Vec<Product>> {
        let documents: Vec<ProductDoc> = collect(
            self.products
                .find(doc! { "stock": { "$lt": below.units() } })
                .sort(doc! { "stock": 1, "_id": 1 })
                .limit(limit as i64),
        )
        .await?;
        documents
            .into_iter()
            .map(ProductDoc::into_product)
            .collect()
    }
}
