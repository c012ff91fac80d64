//! The catalogue port: [`ProductStore`] and the [`ProductQuery`] it lists
//! with.
//!
//! Its own trait (and its own file in each adapter) so a change to the
//! catalogue touches catalogue code only; [`Store`](super::Store) gathers
//! every aggregate. Taking stock for an order is the order port's
//! ([`OrderStore::place_order`](super::OrderStore::place_order)): it must be
//! one atomic step with writing the order.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::domain::{
    Cursor, Price, Product, ProductId, ProductPatch, ProductSort, SearchTerms, Stock,
};

/// A catalogue list request, already valid.
#[derive(Debug, Clone, Default)]
pub struct ProductQuery {
    /// Word prefixes the name must match (all of them).
    pub search: Option<SearchTerms>,
    /// Lowest price, inclusive.
    pub min_price: Option<Price>,
    /// Highest price, inclusive.
    pub max_price: Option<Price>,
    /// The ordering.
    pub sort: ProductSort,
    /// Start strictly after this position (its ordering is `sort`'s).
    pub after: Option<Cursor>,
    /// How many rows to return at most (the service asks one more than a
    /// page to know whether more follow).
    pub limit: usize,
}

/// What a catalogue list is filtered by: a [`ProductQuery`] without its
/// ordering and page, which is what its total counts.
#[derive(Debug, Clone, Default)]
pub struct ProductFilter {
    /// Word prefixes the name must match (all of them).
    pub search: Option<SearchTerms>,
    /// Lowest price, inclusive.
    pub min_price: Option<Price>,
    /// Highest price, inclusive.
    pub max_price: Option<Price>,
}

impl ProductQuery {
    /// The filters of this list, without the ordering and the page.
    pub fn filter(&self) -> ProductFilter {
        ProductFilter {
            search: self.search.clone(),
            min_price: self.min_price,
            max_price: self.max_price,
        }
    }
}

/// The product catalogue: writes, lookups, the filtered list and low stock.
#[async_trait]
pub trait ProductStore: Send + Sync {
    /// Writes a new product (with its search terms).
    async fn insert_product(&self, product: &Product) -> StoreResult<()>;
    /// Applies a partial update; `None` when the product does not exist.
    async fn update_product(
        &self,
        id: &ProductId,
        patch: &ProductPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Product>>;
    /// Removes a product; false when it did not exist. Orders keep their
    /// product id (history stays), the product just resolves to nothing.
    async fn delete_product(&self, id: &ProductId) -> StoreResult<bool>;
    /// One product.
    async fn product_by_id(&self, id: &ProductId) -> StoreResult<Option<Product>>;
    /// Several products, any order, unknown ids skipped.
    async fn products_by_ids(&self, ids: &[ProductId]) -> StoreResult<Vec<Product>>;
    /// A keyset-paginated, filtered catalogue list.
    async fn list_products(&self, query: &ProductQuery) -> StoreResult<Vec<Product>>;
    /// Number of products.
    async fn count_products(&self) -> StoreResult<u64>;
    /// Number of products a list with these filters holds, whatever its
    /// cursor and page size: one count on the store, no rows read.
    async fn count_matching_products(&self, filter: &ProductFilter) -> StoreResult<u64>;
    /// Products with fewer than `below` units, fewest first.
    async fn low_stock_products(&self, below: Stock, limit: usize) -> StoreResult<Vec<Product>>;
}
