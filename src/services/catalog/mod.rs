//! The catalogue: admins add, change and remove products; anyone lists them.
//! Every change is announced to everyone connected. Listings are answered
//! from the [`Snapshot`] when it holds them (see `snapshot.rs` for how it
//! stays current).

mod snapshot;

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

pub use snapshot::{Listed, ListingKey, Snapshot};

/// The catalogue service. Cheap to clone.
#[derive(Clone)]
pub struct Catalog {
    store: Arc<dyn Store>,
    events: EventLog,
    idempotency: Idempotency,
    /// The listings served from memory; every write here moves it on.
    snapshot: Snapshot,
}

impl Catalog {
    /// Wires the service. `snapshot` must also observe the hub (the
    /// services do it), so that writes of other processes move it on.
    pub fn new(store: Arc<dyn Store>, events: EventLog, snapshot: Snapshot) -> Self {
        let idempotency = Idempotency::new(store.clone());
        Catalog {
            store,
            events,
            idempotency,
            snapshot,
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
            .await;
        self.snapshot.invalidate_after(&created);
        let created = created?;
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
        let updated = self.store.update_product(id, &patch, now()).await;
        self.snapshot.invalidate();
        let product = updated?.ok_or(AppError::NotFound("product"))?;
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
        let deleted = self.store.delete_product(id).await;
        self.snapshot.invalidate();
        if !deleted? {
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
        Ok(self.listed(listing).await?.page().clone())
    }

    /// One page of the catalogue as the snapshot keeps it (shared, with its
    /// serialisation): from memory when kept and current, otherwise read
    /// from the store and kept; anyone may look.
    ///
    /// # Errors
    /// `UNAVAILABLE` when the store is down (and the page is not kept).
    pub async fn listed(&self, listing: ProductListing) -> Result<Arc<Listed>, AppError> {
        let key = ListingKey::of(&listing);
        match self.snapshot.get(&key) {
            Ok(listed) => Ok(listed),
            Err(ticket) => {
                let page = self.read(listing).await?;
                Ok(self.snapshot.keep(key, ticket, page))
            }
        }
    }

    /// One page of the catalogue, read from the store.
    async fn read(&self, listing: ProductListing) -> Result<Page<Product>, AppError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Email, NewUser, Quantity, Role, UserId, UserName};
    use crate::hub::Published;
    use crate::services::testing::counted_services;
    use crate::store::{ProductStore as _, UserStore as _};

    fn admin() -> Principal {
        Principal {
            user_id: UserId::generate(),
            role: Role::Admin,
        }
    }

    /// The default first page (REST `GET /products`, GraphQL `products`).
    fn first_page() -> ProductListing {
        ProductListing::parse(None, None, None, None, None, None).unwrap()
    }

    fn lamp(name: &str, stock: i64) -> NewProduct {
        NewProduct::parse(name, 12.5, Some(stock), None).unwrap()
    }

    /// Name and stock of each product on the default first page.
    async fn shown(catalog: &Catalog) -> Vec<(String, i64)> {
        let page = catalog.list(first_page()).await.unwrap();
        page.items
            .iter()
            .map(|product| (product.name.as_str().to_owned(), product.stock.units()))
            .collect()
    }

    #[tokio::test]
    async fn a_listing_read_again_is_served_without_a_store_query() {
        // Arrange
        let (services, counting, _dir) = counted_services().await;
        let admin = admin();
        for n in 0..3 {
            let new = lamp(&format!("Lamp {n}"), 5);
            services.catalog.create(&admin, new, None).await.unwrap();
        }
        counting.reset();

        // Act
        let first = services.catalog.listed(first_page()).await.unwrap();
        let again = services.catalog.listed(first_page()).await.unwrap();
        let other_size = ProductListing::parse(None, None, None, None, Some(2), None).unwrap();
        let other = services.catalog.listed(other_size).await.unwrap();

        // Assert: one query per listing, the second read shares the first.
        assert_eq!(first.page().items.len(), 3);
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(other.page().items.len(), 2);
        assert_eq!(counting.calls().get("list_products"), Some(&2));
    }

    #[tokio::test]
    async fn every_write_through_the_services_shows_in_the_next_listing() {
        // Arrange: a listing kept before each write.
        let (services, counting, _dir) = counted_services().await;
        let admin = admin();
        let catalog = &services.catalog;
        assert_eq!(shown(catalog).await, []);

        // Added.
        let product = catalog.create(&admin, lamp("Lamp", 5), None).await.unwrap();
        assert_eq!(shown(catalog).await, [("Lamp".to_owned(), 5)]);

        // Changed.
        let patch = ProductPatch::parse(Some("Desk lamp"), None, None, None).unwrap();
        catalog.update(&admin, &product.id, patch).await.unwrap();
        assert_eq!(shown(catalog).await, [("Desk lamp".to_owned(), 5)]);

        // Ordered: the stock shown is what is left.
        let buyer = UserId::generate();
        let user = NewUser {
            name: UserName::parse("Buyer").unwrap(),
            email: Email::parse(&format!("{buyer}@example.test")).unwrap(),
            id: buyer.clone(),
            role: Role::User,
            password_hash: "not checked here".into(),
            created_at: now(),
        };
        counting.insert_user(&user).await.unwrap();
        let buyer = Principal {
            user_id: buyer,
            role: Role::User,
        };
        let two = Quantity::parse(2).unwrap();
        services
            .orders
            .place(&buyer, &product.id, two, None)
            .await
            .unwrap();
        assert_eq!(shown(catalog).await, [("Desk lamp".to_owned(), 3)]);

        // Removed.
        catalog.delete(&admin, &product.id).await.unwrap();
        assert_eq!(shown(catalog).await, []);
    }

    #[tokio::test]
    async fn a_write_another_process_made_shows_once_its_event_reaches_the_hub() {
        // Arrange: a kept listing, then a change written to the store by
        // someone else (another process sharing it).
        let (services, counting, _dir) = counted_services().await;
        let admin = admin();
        let product = services
            .catalog
            .create(&admin, lamp("Lamp", 5), None)
            .await
            .unwrap();
        assert_eq!(shown(&services.catalog).await, [("Lamp".to_owned(), 5)]);
        let patch = ProductPatch::parse(Some("Renamed lamp"), None, None, None).unwrap();
        let changed = counting
            .update_product(&product.id, &patch, now())
            .await
            .unwrap()
            .unwrap();
        // Not heard of yet: the kept page is still served (the max age
        // bounds this when the event never comes).
        assert_eq!(shown(&services.catalog).await, [("Lamp".to_owned(), 5)]);

        // Act: its event arrives (from the backplane or the event log's
        // read of the store; either delivers it to this process's hub).
        services.hub.deliver(Published::new(
            None,
            now(),
            Audience::Everyone,
            Event::ProductChanged(changed),
        ));

        // Assert
        assert_eq!(
            shown(&services.catalog).await,
            [("Renamed lamp".to_owned(), 5)]
        );
    }

    #[tokio::test]
    async fn a_failed_write_still_drops_the_kept_listings() {
        // An unknown product: nothing was written, but the service cannot
        // always tell (a timeout after the write): it drops them anyway.
        let (services, _counting, _dir) = counted_services().await;
        let admin = admin();
        services
            .catalog
            .create(&admin, lamp("Lamp", 5), None)
            .await
            .unwrap();
        shown(&services.catalog).await;
        assert_eq!(services.catalog.snapshot.len(), 1);

        let patch = ProductPatch::parse(Some("Nothing"), None, None, None).unwrap();
        let missing = ProductId::generate();
        let refused = services.catalog.update(&admin, &missing, patch).await;

        assert!(matches!(refused, Err(AppError::NotFound(_))));
        assert!(services.catalog.snapshot.is_empty());
    }
}
