//! The catalogue: admins add, change and remove products; anyone lists them.
//! Every change is announced to everyone connected.

use std::sync::Arc;

use tracing::instrument;

use super::{Created, EventLog, Idempotency};
use crate::auth::Principal;
use crate::domain::{
    IdempotencyKey, NewProduct, Page, Product, ProductId, ProductListing, ProductPatch,
};
use crate::error::AppError;
use crate::hub::{Audience, Event};
use crate::store::{ProductFilter, ProductQuery, Store, now};

/// The catalogue service. Cheap to clone.
#[derive(Clone)]
pub struct Catalog {
    store: Arc<dyn Store>,
    events: EventLog,
    idempotency: Idempotency,
}

impl Catalog {
    /// Wires the service.
    pub fn new(store: Arc<dyn Store>, events: EventLog) -> Self {
        let idempotency = Idempotency::new(store.clone());
        Catalog {
            store,
            events,
            idempotency,
        }
    }

    /// Adds a product and tells everyone. With an idempotency `key`, a
    /// retry returns the product the first request added.
    ///
    /// # Errors
    /// `FORBIDDEN` for non-admins; `CONFLICT` for a key used for another
    /// request; `UNAVAILABLE` when the store is down.
    #[instrument(skip_all, fields(user.id = %principal.user_id))]
    pub async fn create(
        &self,
        principal: &Principal,
        new: NewProduct,
        key: Option<&IdempotencyKey>,
    ) -> Result<Product, AppError> {
        principal.require_admin()?;
        let request = format!(
            "create_product\n{}\n{}\n{}\n{}",
            new.name.as_str(),
            new.price.cents(),
            new.stock.units(),
            new.description.as_str()
        );
        let created = self
            .idempotency
            .create(
                &principal.user_id,
                key,
                &request,
                |id: ProductId| async move { self.store.product_by_id(&id).await },
                |id: ProductId| async move {
                    let at = now();
                    let product = Product {
                        id,
                        name: new.name,
                        price: new.price,
                        stock: new.stock,
                        description: new.description,
                        created_at: at,
                        updated_at: at,
                    };
                    self.store.insert_product(&product).await?;
                    Ok(Ok(product))
                },
            )
            .await?;
        if let Created::New(product) = &created {
            tracing::info!(product.id = %product.id, "product created");
            self.events
                .record(Audience::Everyone, Event::ProductAdded(product.clone()))
                .await;
        }
        Ok(created.into_inner())
    }

    /// Changes the given fields of a product and tells everyone.
    ///
    /// # Errors
    /// `FORBIDDEN` for non-admins; `NOT_FOUND` for an unknown product;
    /// `UNAVAILABLE` when the store is down.
    #[instrument(skip_all, fields(user.id = %principal.user_id, product.id = %id))]
    pub async fn update(
        &self,
        principal: &Principal,
        id: &ProductId,
        patch: ProductPatch,
    ) -> Result<Product, AppError> {
        principal.require_admin()?;
        let product = self
            .store
            .update_product(id, &patch, now())
            .await?
            .ok_or(AppError::NotFound("product"))?;
        self.events
            .record(Audience::Everyone, Event::ProductChanged(product.clone()))
            .await;
        Ok(product)
    }

    /// Removes a product and tells everyone. Orders of it stay.
    ///
    /// # Errors
    /// `FORBIDDEN` for non-admins; `NOT_FOUND` for an unknown product;
    /// `UNAVAILABLE` when the store is down.
    #[instrument(skip_all, fields(user.id = %principal.user_id, product.id = %id))]
    pub async fn delete(
        &self,
        principal: &Principal,
        id: &ProductId,
    ) -> Result<ProductId, AppError> {
        principal.require_admin()?;
        if !self.store.delete_product(id).await? {
            return Err(AppError::NotFound("product"));
        }
        self.events
            .record(Audience::Everyone, Event::ProductRemoved(id.clone()))
            .await;
        Ok(id.clone())
    }

    /// One product; anyone may look.
    ///
    /// # Errors
    /// `NOT_FOUND` for an unknown product; `UNAVAILABLE` when the store is down.
    pub async fn product(&self, id: &ProductId) -> Result<Product, AppError> {
        self.store
            .product_by_id(id)
            .await?
            .ok_or(AppError::NotFound("product"))
    }

    /// Products by id, for batch loaders; unknown ids are skipped.
    ///
    /// # Errors
    /// `UNAVAILABLE` when the store is down.
    pub async fn products(&self, ids: &[ProductId]) -> Result<Vec<Product>, AppError> {
        Ok(self.store.products_by_ids(ids).await?)
    }

    /// One page of the catalogue; anyone may look.
    ///
    /// # Errors
    /// `UNAVAILABLE` when the store is down.
    pub async fn list(&self, listing: ProductListing) -> Result<Page<Product>, AppError> {
        let sort = listing.sort;
        let rows = self
            .store
            .list_products(&ProductQuery {
                search: listing.search,
                min_price: listing.min_price,
                max_price: listing.max_price,
                sort,
                after: listing.after,
                limit: listing.first + 1,
            })
            .await?;
        Ok(Page::from_rows(rows, listing.first, |product| {
            sort.cursor_after(product)
        }))
    }

    /// How many products the list with these filters holds, whatever its
    /// cursor and page size (counted by the store); anyone may look.
    ///
    /// # Errors
    /// `UNAVAILABLE` when the store is down.
    pub async fn count(&self, listing: &ProductListing) -> Result<u64, AppError> {
        let filter = ProductFilter {
            search: listing.search.clone(),
            min_price: listing.min_price,
            max_price: listing.max_price,
        };
        Ok(self.store.count_matching_products(&filter).await?)
    }
}
