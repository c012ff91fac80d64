//! Objects by id, whatever their kind: what Relay's `node(id:)` and
//! `nodes(ids:)` ask for, so a client can refetch anything it holds by its
//! id alone.
//!
//! Every kind's ids come from one generator (`domain/id.rs`), so an id names
//! at most one object. A lookup asks each kind's store once for the whole
//! batch (four queries however many ids) and keeps only what the caller may
//! read through that kind's own queries: products for anyone, an account
//! for itself and admins, an order for its owner and admins, a message for
//! the two people of its thread. Anything else reads as absent, exactly
//! like an id that names nothing, so `node` cannot be used to probe ids.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Accounts, Chat, Orders};
use crate::auth::Principal;
use crate::domain::{AnyId, MAX_PAGE_SIZE, Message, Order, Product, User};
use crate::error::AppError;
use crate::store::Store;

/// An object found by its id.
#[derive(Debug, Clone)]
pub enum Found {
    /// An account.
    User(User),
    /// A product (still in the catalogue).
    Product(Product),
    /// An order.
    Order(Order),
    /// A chat message.
    Message(Message),
}

/// The lookup service. Cheap to clone.
#[derive(Clone)]
pub struct Lookup {
    store: Arc<dyn Store>,
}

impl Lookup {
    /// Wires the service.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Lookup { store }
    }

    /// The object each id names, if the caller may read it, in the order of
    /// `ids` (`None` for an id that names nothing the caller may read).
    /// Anonymous callers see products only. At most [`MAX_PAGE_SIZE`] ids,
    /// like any page.
    ///
    /// # Errors
    /// `BAD_USER_INPUT` (naming `ids`) for more ids than that;
    /// `UNAVAILABLE` when the store is down.
    pub async fn by_ids(
        &self,
        principal: Option<&Principal>,
        ids: &[AnyId],
    ) -> Result<Vec<Option<Found>>, AppError> {
        if ids.len() > MAX_PAGE_SIZE {
            return Err(AppError::invalid("ids", "at most 100 ids"));
        }
        let (product_ids, user_ids, order_ids, message_ids) =
            (kind(ids), kind(ids), kind(ids), kind(ids));
        let mut found: HashMap<String, Found> = HashMap::new();
        let Some(principal) = principal else {
            let products = self.store.products_by_ids(&product_ids).await?;
            found.extend(products.into_iter().map(Found::product));
            return Ok(in_order(ids, &found));
        };
        let (products, users, orders, messages) = futures::try_join!(
            self.store.products_by_ids(&product_ids),
            self.store.users_by_ids(&user_ids),
            self.store.orders_by_ids(&order_ids),
            self.store.messages_by_ids(&message_ids),
        )?;
        let users = users
            .into_iter()
            .filter(|user| Accounts::readable(principal, user))
            .map(|user| (user.id.to_string(), Found::User(user)));
        let orders = orders
            .into_iter()
            .filter(|order| Orders::readable(principal, order))
            .map(|order| (order.id.to_string(), Found::Order(order)));
        let messages = messages
            .into_iter()
            .filter(|message| Chat::readable(principal, message))
            .map(|message| (message.id.to_string(), Found::Message(message)));
        found.extend(products.into_iter().map(Found::product));
        found.extend(users.chain(orders).chain(messages));
        Ok(in_order(ids, &found))
    }
}

impl Found {
    fn product(product: Product) -> (String, Found) {
        (product.id.to_string(), Found::Product(product))
    }
}

/// What each id found, in the order of `ids`.
fn in_order(ids: &[AnyId], found: &HashMap<String, Found>) -> Vec<Option<Found>> {
    ids.iter()
        .map(|id| found.get(id.as_str()).cloned())
        .collect()
}

/// The ids, read as ids of one kind.
fn kind<K>(ids: &[AnyId]) -> Vec<crate::domain::Id<K>> {
    ids.iter().map(AnyId::as_kind).collect()
}
