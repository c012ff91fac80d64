//! Batch loaders behind references (`order.user`, `order.product`, …): every
//! reference resolved in one execution step becomes one store query, so a
//! page of 50 orders costs a constant number of queries, not 100.
//!
//! Loaders are created per HTTP request and per WebSocket connection and
//! keep no cache between batches, so they never serve stale rows.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::Data;
use async_graphql::dataloader::{DataLoader, Loader};

use crate::domain::{Product, ProductId, User, UserId};
use crate::error::AppError;
use crate::services::Services;

/// Loads users by id.
pub struct UserLoader(Services);

/// Loads products by id.
pub struct ProductLoader(Services);

impl Loader<UserId> for UserLoader {
    type Value = User;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[UserId]) -> Result<HashMap<UserId, User>, Self::Error> {
        let users = self.0.accounts.users(keys).await.map_err(Arc::new)?;
        Ok(users
            .into_iter()
            .map(|user| (user.id.clone(), user))
            .collect())
    }
}

impl Loader<ProductId> for ProductLoader {
    type Value = Product;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[ProductId]) -> Result<HashMap<ProductId, Product>, Self::Error> {
        let products = self.0.catalog.products(keys).await.map_err(Arc::new)?;
        Ok(products
            .into_iter()
            .map(|product| (product.id.clone(), product))
            .collect())
    }
}

/// How long a loader collects keys before querying. Every reference
/// requested within this window (normally a whole execution level) becomes
/// one query; on a saturated machine a level can take longer than the window
/// and is then split into a few batches.
pub const BATCH_WINDOW: Duration = Duration::from_millis(2);

/// Adds fresh loaders to request or connection data.
pub fn install(data: &mut Data, services: &Services) {
    install_with_window(data, services, BATCH_WINDOW);
}

/// Like [`install`] with a chosen batch window.
pub fn install_with_window(data: &mut Data, services: &Services, window: Duration) {
    data.insert(DataLoader::new(UserLoader(services.clone()), tokio::spawn).delay(window));
    data.insert(DataLoader::new(ProductLoader(services.clone()), tokio::spawn).delay(window));
}

#[cfg(test)]
mod tests {

    use async_graphql::Request;

    use super::install_with_window;
    use crate::auth::Principal;

    use crate::domain::{NewProduct, Quantity, Role, UserId};
    use crate::graphql::{Caller, engine};

    use crate::store::UserStore;

    #[tokio::test]
    async fn a_page_of_fifty_orders_costs_three_store_calls() {
        // Arrange: 50 orders by 50 users over 10 products, on a real SQLite store.
        let (services, counting, _dir) = crate::services::testing::counted_services().await;
        let admin = Principal {
            user_id: UserId::generate(),
            role: Role::Admin,
        };
        let mut products = Vec::new();
        for n in 0..10 {
            let new = NewProduct::parse(&format!("Product {n}"), 10.0, Some(100), None).unwrap();
            products.push(services.catalog.create(&admin, new, None).await.unwrap());
        }
        for n in 0..50 {
            let user = crate::store::contract::new_user(&format!("buyer{n}@example.test"));
            counting.insert_user(&user).await.unwrap();
            let buyer = Principal {
                user_id: user.id.clone(),
                role: Role::User,
            };
            let product = &products[n % products.len()];
            services
                .orders
                .place(&buyer, &product.id, Quantity::parse(1).unwrap(), None)
                .await
                .unwrap();
        }
        let schema = engine(services.clone());
        counting.reset();

        // Act
        let mut request =
            Request::new("{ orders(first: 50) { nodes { id user { name } product { name } } } }")
                .data(Caller::Signed(admin));
        // A window wide enough that a busy test machine (many tests in
        // parallel on two cores) cannot split the level into two batches;
        // what is proven is that one level costs one query per loader.
        install_with_window(
            &mut request.data,
            &services,
            std::time::Duration::from_millis(100),
        );
        let response = schema.execute(request).await;

        // Assert
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        let data = response.data.into_json().unwrap();
        let nodes = data["orders"]["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), 50);
        assert!(nodes.iter().all(|node| node["user"]["name"].is_string() && node["product"]["name"].is_string()));
        let calls = counting.calls();
        assert_eq!(calls.get("list_orders"), Some(&1), "{calls:?}");
        assert_eq!(calls.get("users_by_ids"), Some(&1), "{calls:?}");
        assert_eq!(calls.get("products_by_ids"), Some(&1), "{calls:?}");
        assert_eq!(calls.values().sum::<usize>(), 3, "{calls:?}");
    }
}
