//! Batch loaders behind references (`order.user`, `order.product`, …): every
//! reference resolved in one execution step becomes one store query, so a
//! page of 50 orders costs a constant number of queries, not 100.
//!
//! Loaders are created per HTTP request and per WebSocket connection and
//! keep no cache between batches, so they never serve stale rows.

use std::collections::HashMap;
use std::sync::Arc;

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

/// Adds fresh loaders to request or connection data.
pub fn install(data: &mut Data, services: &Services) {
    data.insert(DataLoader::new(UserLoader(services.clone()), tokio::spawn));
    data.insert(DataLoader::new(
        ProductLoader(services.clone()),
        tokio::spawn,
    ));
}
