//! The catalogue on GraphQL: products, their list, changes, and live news.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject, Subscription};
use futures::Stream;

use super::context::idempotency_key_arg;
use super::context::{ContextExt as _, id_arg};
use super::error::IntoGraphql as _;
use super::live::{events, published};
use super::scalars::DateTime;
use super::totals::{Counted, Total};
use crate::domain::ProductId;
use crate::domain::{self, NewProduct, ProductListing, ProductPatch};
use crate::hub::{Event, Published};

/// A product in the catalogue.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(name = "Product")]
pub struct Product {
    /// Stable id.
    pub id: ID,
    /// Display name.
    pub name: String,
    /// Unit price, a decimal amount.
    pub price: f64,
    /// Units available to order.
    pub stock: i64,
    /// Free text.
    pub description: String,
    /// When it was added.
    pub created_at: DateTime,
    /// When it last changed.
    pub updated_at: DateTime,
}

impl From<domain::Product> for Product {
    fn from(product: domain::Product) -> Self {
        Product::from(&product)
    }
}

impl From<&domain::Product> for Product {
    fn from(product: &domain::Product) -> Self {
        Product {
            id: ID(product.id.to_string()),
            name: product.name.as_str().to_owned(),
            price: product.price.as_decimal(),
            stock: product.stock.units(),
            description: product.description.as_str().to_owned(),
            created_at: product.created_at.into(),
            updated_at: product.updated_at.into(),
        }
    }
}

/// A product was removed (everyone).
#[derive(SimpleObject)]
pub struct ProductRemoved {
    /// Resume after this (empty for an event that has no position).
    pub position: String,
    /// When it happened.
    pub at: DateTime,
    /// The removed product's id.
    pub product_id: ID,
}

impl ProductRemoved {
    /// The payload of a published removal of `id`.
    pub fn new(published: &Published, id: &ProductId) -> Self {
        ProductRemoved {
            position: published
                .position
                .map(|position| position.to_string())
                .unwrap_or_default(),
            at: DateTime::from(published.at),
            product_id: ID(id.to_string()),
        }
    }
}

/// The orders a product list can be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Default)]
#[graphql(name = "ProductSort")]
pub enum ProductSort {
    /// Most recently added first.
    #[default]
    Newest,
    /// Cheapest first.
    PriceAsc,
    /// Dearest first.
    PriceDesc,
    /// Alphabetical, case-insensitive.
    NameAsc,
}

impl From<ProductSort> for domain::ProductSort {
    fn from(sort: ProductSort) -> Self {
        match sort {
            ProductSort::Newest => domain::ProductSort::Newest,
            ProductSort::PriceAsc => domain::ProductSort::PriceAsc,
            ProductSort::PriceDesc => domain::ProductSort::PriceDesc,
            ProductSort::NameAsc => domain::ProductSort::NameAsc,
        }
    }
}

/// A new product.
#[derive(Debug, Clone, InputObject)]
#[graphql(name = "CreateProductInput")]
pub struct CreateProductInput {
    /// 1 to 200 characters.
    pub name: String,
    /// A non-negative amount with at most two decimals.
    pub price: f64,
    /// Units in stock.
    #[graphql(default_with = "crate::domain::Stock::INITIAL")]
    pub stock: i64,
    /// Up to 5,000 characters.
    #[graphql(default)]
    pub description: String,
}

/// A partial update: absent fields stay as they are.
#[derive(Debug, Clone, InputObject)]
#[graphql(name = "UpdateProductInput")]
pub struct UpdateProductInput {
    /// 1 to 200 characters.
    pub name: Option<String>,
    /// A non-negative amount with at most two decimals.
    pub price: Option<f64>,
    /// Units in stock.
    pub stock: Option<i64>,
    /// Up to 5,000 characters.
    pub description: Option<String>,
}

/// Catalogue queries.
#[derive(Default)]
pub struct CatalogQuery;

#[Object]
impl CatalogQuery {
    /// A page of the catalogue: word-prefix search on the name
    /// (case-insensitive), an inclusive price range, an order, and cursors;
    /// `totalCount` counts the products the filters match.
    /// Errors: `BAD_USER_INPUT` (a bad search, price, or a cursor of another
    /// list or sort), `UNAVAILABLE`.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "super::page_cost(first, child_complexity)")]
    async fn products(
        &self,
        ctx: &Context<'_>,
        search: Option<String>,
        min_price: Option<f64>,
        max_price: Option<f64>,
        #[graphql(default)] sort: ProductSort,
        #[graphql(desc = "Page size: 20 by default, at most 100.")] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Product, Total>> {
        let sort: domain::ProductSort = sort.into();
        let listing = ProductListing::parse(
            search.as_deref(),
            min_price,
            max_price,
            Some(sort.as_str()),
            first.map(i64::from),
            after.as_deref(),
        )
        .graphql()?;
        let total = Total::of(Counted::Products(listing.clone()));
        let listed = ctx.services().catalog.listed(listing).await.graphql()?;
        let page = listed.page();
        let mut connection =
            Connection::with_additional_fields(false, page.next_cursor.is_some(), total);
        connection.edges.extend(
            page.items.iter().map(|product| {
                Edge::new(sort.cursor_after(product).encode(), Product::from(product))
            }),
        );
        Ok(connection)
    }

    /// One product.
    ///
    /// Errors: `BAD_USER_INPUT` for a malformed id; `NOT_FOUND` for an unknown
    /// product; `UNAVAILABLE` when the store is down.
    async fn product(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Product>> {
        let id = id_arg(&id, "id")?;
        ctx.services()
            .catalog
            .product(&id)
            .await
            .map(|p| Some(p.into()))
            .graphql()
    }
}

/// Catalogue mutations (admins).
#[derive(Default)]
pub struct CatalogMutation;

#[Object]
impl CatalogMutation {
    /// Adds a product; everyone connected hears `newProduct`.
    ///
    /// Errors: `UNAUTHENTICATED`; `FORBIDDEN` for non-admins; `BAD_USER_INPUT`
    /// naming each invalid field (or a malformed `idempotencyKey`); `CONFLICT`
    /// for an `idempotencyKey` used for another request; `UNAVAILABLE` when the
    /// store is down.
    async fn create_product(
        &self,
        ctx: &Context<'_>,
        input: CreateProductInput,
        #[graphql(
            desc = "Makes a retry safe: the same key from the same user within 24 hours returns the first result instead of creating again; the same key with different arguments is CONFLICT."
        )]
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<Product> {
        let principal = ctx.principal()?;
        let key = idempotency_key_arg(idempotency_key.as_deref())?;
        let new = NewProduct::parse(
            &input.name,
            input.price,
            Some(input.stock),
            Some(&input.description),
        )
        .graphql()?;
        ctx.services()
            .catalog
            .create(principal, new, key.as_ref())
            .await
            .map(Product::from)
            .graphql()
    }

    /// Changes the given fields; everyone connected hears `productUpdated`.
    ///
    /// Errors: `UNAUTHENTICATED`; `FORBIDDEN` for non-admins; `BAD_USER_INPUT`
    /// naming each invalid field, or for no field at all; `NOT_FOUND` for an
    /// unknown product; `UNAVAILABLE` when the store is down.
    async fn update_product(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateProductInput,
    ) -> async_graphql::Result<Product> {
        let principal = ctx.principal()?;
        let id = id_arg(&id, "id")?;
        let patch = ProductPatch::parse(
            input.name.as_deref(),
            input.price,
            input.stock,
            input.description.as_deref(),
        )
        .graphql()?;
        ctx.services()
            .catalog
            .update(principal, &id, patch)
            .await
            .map(Product::from)
            .graphql()
    }

    /// Removes a product (its orders stay); everyone hears `productRemoved`.
    ///
    /// Errors: `UNAUTHENTICATED`; `FORBIDDEN` for non-admins; `BAD_USER_INPUT`
    /// for a malformed id; `NOT_FOUND` for an unknown product; `UNAVAILABLE`
    /// when the store is down.
    async fn delete_product(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ID> {
        let principal = ctx.principal()?;
        let id = id_arg(&id, "id")?;
        ctx.services()
            .catalog
            .delete(principal, &id)
            .await
            .map(|id| ID(id.to_string()))
            .graphql()
    }
}

/// Catalogue news, for every connection.
#[derive(Default)]
pub struct CatalogSubscription;

#[Subscription]
impl CatalogSubscription {
    /// Products as they are added.
    ///
    /// Errors: `UNAUTHENTICATED`; `LAGGED` (an item, then the stream goes on)
    /// when this subscription fell behind.
    async fn new_product(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Product>>> {
        let principal = ctx.principal()?;
        Ok(events(
            ctx.services().connections.live(principal),
            |event| match event {
                Event::ProductAdded(product) => Some(Product::from(product.clone())),
                _ => None,
            },
        ))
    }

    /// Products as they change.
    ///
    /// Errors: `UNAUTHENTICATED`; `LAGGED` (an item, then the stream goes on)
    /// when this subscription fell behind.
    async fn product_updated(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Product>>> {
        let principal = ctx.principal()?;
        Ok(events(
            ctx.services().connections.live(principal),
            |event| match event {
                Event::ProductChanged(product) => Some(Product::from(product.clone())),
                _ => None,
            },
        ))
    }

    /// Ids of products as they are removed.
    ///
    /// Errors: `UNAUTHENTICATED`; `LAGGED` (an item, then the stream goes on)
    /// when this subscription fell behind.
    #[graphql(
        deprecation = "Use `productRemoved`: an object with the id (and the event's position and time), which clients can evict from a normalized cache by its `productId`."
    )]
    async fn product_deleted(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<ID>>> {
        let principal = ctx.principal()?;
        Ok(events(
            ctx.services().connections.live(principal),
            |event| match event {
                Event::ProductRemoved(id) => Some(ID(id.to_string())),
                _ => None,
            },
        ))
    }

    /// Products as they are removed: evict `Product:<productId>` from a
    /// normalized cache (Apollo's `cache.evict`, Relay's `@deleteRecord`).
    ///
    /// Errors: `UNAUTHENTICATED`; `LAGGED` (an item, then the stream goes
    /// on) when this subscription fell behind.
    async fn product_removed(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<ProductRemoved>>> {
        let principal = ctx.principal()?;
        Ok(published(
            ctx.services().connections.live(principal),
            |published| match &published.event {
                Event::ProductRemoved(id) => Some(ProductRemoved::new(published, id)),
                _ => None,
            },
        ))
    }
}
