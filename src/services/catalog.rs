//! The catalogue: admins add, change and remove products; anyone lists them.
//! Every change is announced to everyone connected.

use std::sync::Arc;

use tracing::instrument;

use super::{Created, EventLog, Idempotency};
use crate::auth::Principal;
use crate::domain::{
    Cursor, IdempotencyKey, NewProduct, Page, Price, Product, ProductId, ProductPatch, ProductSort,
    SearchTerms, page_size,
};
use crate::error::{AppError, FieldErrors};
use crate::hub::{Audience, Event};
use crate::store::{ProductQuery, Store, now};

/// A catalogue list request, valid.
#[derive(Debug, Clone, Default)]
pub struct ProductListing {
    /// Word prefixes the name must match.
    pub search: Option<SearchTerms>,
    /// Lowest price, inclusive.
    pub min_price: Option<Price>,
    /// Highest price, inclusive.
    pub max_price: Option<Price>,
    /// The ordering.
    pub sort: ProductSort,
    /// Page size (clamped).
    pub first: usize,
    /// Continue after this cursor.
    pub after: Option<Cursor>,
}

impl ProductListing {
    /// Parses the raw list arguments every door receives, reporting every bad
    /// one at once (`search`, `minPrice`, `maxPrice`, `sort`, `after`).
    ///
    /// # Errors
    /// `BAD_USER_INPUT` with per-field details.
    pub fn parse(
        search: Option<&str>,
        min_price: Option<f64>,
        max_price: Option<f64>,
        sort: Option<&str>,
        first: Option<i64>,
        after: Option<&str>,
    ) -> Result<Self, AppError> {
        let mut problems = FieldErrors::new();
        let mut note = |field: &str, problem: &str| {
            problems.insert(field.to_owned(), problem.to_owned());
        };
        let search = match search.map(SearchTerms::parse).transpose() {
            Ok(terms) => terms.flatten(),
            Err(e) => {
                note("search", e.0);
                None
            }
        };
        let mut price =
            |field: &str, raw: Option<f64>| match raw.map(Price::from_decimal).transpose() {
                Ok(price) => price,
                Err(e) => {
                    note(field, e.0);
                    None
                }
            };
        let min_price = price("minPrice", min_price);
        let max_price = price("maxPrice", max_price);
        let sort = match sort.map(ProductSort::parse).transpose() {
            Ok(sort) => sort.unwrap_or_default(),
            Err(e) => {
                problems.insert("sort".into(), e.0.into());
                ProductSort::default()
            }
        };
        if let (Some(min), Some(max)) = (min_price, max_price)
            && min > max
        {
            problems.insert("minPrice".into(), "must not be above maxPrice".into());
        }
        let after = Cursor::continuing(after, sort.as_str(), sort.key_kind())
            .map_err(|e| problems.insert("after".into(), e.0.into()))
            .ok()
            .flatten();
        if !problems.is_empty() {
            return Err(AppError::invalid_fields(problems));
        }
        Ok(ProductListing {
            search,
            min_price,
            max_price,
            sort,
            first: page_size(first),
            after,
        })
    }
}

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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_arguments_report_every_problem() {
        let error = ProductListing::parse(
            Some(&"x".repeat(201)),
            Some(-1.0),
            Some(f64::NAN),
            Some("random"),
            None,
            Some("nope"),
        )
        .unwrap_err();
        let details = error.details().unwrap();
        for field in ["search", "minPrice", "maxPrice", "sort", "after"] {
            assert!(
                details.contains_key(field),
                "{field} missing from {details:?}"
            );
        }
    }

    #[test]
    fn a_min_price_above_the_max_is_refused() {
        let error =
            ProductListing::parse(None, Some(10.0), Some(5.0), None, None, None).unwrap_err();
        assert!(error.details().unwrap().contains_key("minPrice"));
    }

    #[test]
    fn an_empty_patch_is_refused() {
        assert!(ProductPatch::parse(None, None, None, None).is_err());
        assert!(ProductPatch::parse(None, Some(2.5), None, None).is_ok());
    }

    #[test]
    fn new_products_default_their_stock_and_description() {
        let product = NewProduct::parse("Lamp", 12.5, None, None).unwrap();
        assert_eq!(product.stock.units(), 0);
        assert_eq!(product.description.as_str(), "");
    }
}
