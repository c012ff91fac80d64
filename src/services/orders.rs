//! Orders: users place them (taking stock atomically), admins move them
//! along; owners and admins hear about every move.

use std::sync::Arc;

use tracing::instrument;

use super::{Created, EventLog, Idempotency, Snapshot};
use crate::auth::Principal;
use crate::domain::{
    IdempotencyKey, NewOrder, Order, OrderId, OrderListing, OrderStatus, Page, ProductId, Quantity,
};
use crate::error::AppError;
use crate::hub::{Audience, Event, Hub, Subscription};
use crate::store::{MoveOrder, OrderFilter, OrderQuery, PlaceOrder, Store, now};

/// The orders service. Cheap to clone.
#[derive(Clone)]
pub struct Orders {
    store: Arc<dyn Store>,
    hub: Hub,
    events: EventLog,
    idempotency: Idempotency,
    /// The catalogue's kept listings: an order takes stock, which they show.
    snapshot: Snapshot,
}

impl Orders {
    /// Wires the service.
    pub fn new(store: Arc<dyn Store>, hub: Hub, events: EventLog, snapshot: Snapshot) -> Self {
        let idempotency = Idempotency::new(store.clone());
        Orders {
            store,
            hub,
            events,
            idempotency,
            snapshot,
        }
    }

    /// Places an order for the caller: the stock is taken and the order
    /// written in one atomic store step, the total computed here on the
    /// server; admins are told. With an idempotency `key`, a retry returns
    /// the order the first request placed instead of placing another.
    ///
    /// # Errors
    /// `NOT_FOUND` for an unknown product; `CONFLICT` when the stock does not
    /// cover the quantity or the key was used for another request;
    /// `UNAVAILABLE` when the store is down.
    #[instrument(skip_all, fields(user.id = %principal.user_id, product.id = %product_id))]
    pub async fn place(
        &self,
        principal: &Principal,
        product_id: &ProductId,
        quantity: Quantity,
        key: Option<&IdempotencyKey>,
    ) -> Result<Order, AppError> {
        let request = format!("place_order\n{product_id}\n{}", quantity.units());
        let created = self
            .idempotency
            .create(
                &principal.user_id,
                key,
                &request,
                |id: OrderId| async move { self.store.order_by_id(&id).await },
                |id: OrderId| async move {
                    let new_order = NewOrder {
                        id,
                        user_id: principal.user_id.clone(),
                        product_id: product_id.clone(),
                        quantity,
                        created_at: now(),
                    };
                    Ok(match self.store.place_order(&new_order).await? {
                        PlaceOrder::Placed(order) => Ok(order),
                        PlaceOrder::OutOfStock => Err(AppError::Conflict(
                            "not enough stock for this quantity".into(),
                        )),
                        PlaceOrder::UnknownProduct => Err(AppError::NotFound("product")),
                    })
                },
            )
            .await;
        self.snapshot.invalidate_after(&created);
        let created = created?;
        if let Created::New(order) = &created {
            tracing::info!(order.id = %order.id, "order placed");
            self.events
                .record(Audience::Admins, Event::OrderPlaced(order.clone()))
                .await;
        }
        Ok(created.into_inner())
    }

    /// Moves an order forward (admins only); the owner and admins are told.
    ///
    /// # Errors
    /// `FORBIDDEN` for non-admins; `NOT_FOUND` for an unknown order;
    /// `CONFLICT` for a move that is not forward; `UNAVAILABLE` when the
    /// store is down.
    #[instrument(skip_all, fields(user.id = %principal.user_id, order.id = %id, status = to.as_str()))]
    pub async fn update_status(
        &self,
        principal: &Principal,
        id: &OrderId,
        to: OrderStatus,
    ) -> Result<Order, AppError> {
        principal.require_admin()?;
        let from = OrderStatus::predecessors(to);
        match self.store.move_order(id, &from, to, now()).await? {
            MoveOrder::Moved(order) => {
                tracing::info!("order status changed");
                self.events
                    .record(
                        Audience::UsersAndAdmins(vec![order.user_id.clone()]),
                        Event::OrderStatusChanged(order.clone()),
                    )
                    .await;
                Ok(order)
            }
            MoveOrder::NotAllowed(order) => Err(AppError::Conflict(format!(
                "an order that is {} cannot move to {}; status only moves forward",
                order.status.as_str(),
                to.as_str()
            ))),
            MoveOrder::UnknownOrder => Err(AppError::NotFound("order")),
        }
    }

    /// All orders, newest first (admins only).
    ///
    /// # Errors
    /// `FORBIDDEN` for non-admins; `UNAVAILABLE` when the store is down.
    pub async fn list(
        &self,
        principal: &Principal,
        listing: OrderListing,
    ) -> Result<Page<Order>, AppError> {
        principal.require_admin()?;
        self.page(
            OrderQuery {
                status: listing.status,
                user_id: None,
                after: listing.after,
                limit: listing.first + 1,
            },
            listing.first,
        )
        .await
    }

    /// The caller's own orders, newest first.
    ///
    /// # Errors
    /// `UNAVAILABLE` when the store is down.
    pub async fn mine(
        &self,
        principal: &Principal,
        listing: OrderListing,
    ) -> Result<Page<Order>, AppError> {
        self.page(
            OrderQuery {
                status: listing.status,
                user_id: Some(principal.user_id.clone()),
                after: listing.after,
                limit: listing.first + 1,
            },
            listing.first,
        )
        .await
    }

    /// How many orders [`list`](Self::list) holds with this status filter,
    /// whatever its cursor and page size (counted by the store; admins only).
    ///
    /// # Errors
    /// `FORBIDDEN` for non-admins; `UNAVAILABLE` when the store is down.
    pub async fn count(
        &self,
        principal: &Principal,
        listing: &OrderListing,
    ) -> Result<u64, AppError> {
        principal.require_admin()?;
        let filter = OrderFilter {
            status: listing.status,
            user_id: None,
        };
        Ok(self.store.count_orders(&filter).await?)
    }

    /// How many of the caller's own orders [`mine`](Self::mine) holds,
    /// whatever its cursor and page size (counted by the store).
    ///
    /// # Errors
    /// `UNAVAILABLE` when the store is down.
    pub async fn count_mine(
        &self,
        principal: &Principal,
        listing: &OrderListing,
    ) -> Result<u64, AppError> {
        let filter = OrderFilter {
            status: listing.status,
            user_id: Some(principal.user_id.clone()),
        };
        Ok(self.store.count_orders(&filter).await?)
    }

    /// One order, for its owner or an admin. Anyone else is told it does not
    /// exist, so ids of other people's orders cannot be probed.
    ///
    /// # Errors
    /// `NOT_FOUND` for an unknown or foreign order; `UNAVAILABLE` when the
    /// store is down.
    pub async fn order(&self, principal: &Principal, id: &OrderId) -> Result<Order, AppError> {
        match self.store.order_by_id(id).await? {
            Some(order) if Self::readable(principal, &order) => Ok(order),
            _ => Err(AppError::NotFound("order")),
        }
    }

    /// Who may read an order by its id, whichever way they ask (`order`,
    /// `node`): its owner and admins.
    pub fn readable(principal: &Principal, order: &Order) -> bool {
        principal.is_admin() || order.user_id == principal.user_id
    }

    /// The live feed of new orders (admins only).
    ///
    /// # Errors
    /// `FORBIDDEN` for non-admins.
    pub fn watch_new_orders(&self, principal: &Principal) -> Result<Subscription, AppError> {
        principal.require_admin()?;
        Ok(self.hub.subscribe(principal))
    }

    async fn page(&self, query: OrderQuery, size: usize) -> Result<Page<Order>, AppError> {
        let rows = self.store.list_orders(&query).await?;
        Ok(Page::from_rows(rows, size, Order::cursor))
    }
}

#[cfg(test)]
mod tests {
    use futures::{FutureExt as _, StreamExt as _};
    use tempfile::TempDir;

    use super::*;
    use crate::domain::{Email, NewProduct, NewUser, Price, Product, Role, UserId, UserName};
    use crate::hub::{HubItem, Published};
    use crate::services::Catalog;
    use crate::services::testing::fresh_store;

    /// The orders service on a fresh SQLite store, its event log started so
    /// that what it records reaches the hub, and an admin to act as.
    struct Fixture {
        orders: Orders,
        catalog: Catalog,
        store: Arc<dyn Store>,
        hub: Hub,
        admin: Principal,
        _dir: TempDir,
    }

    impl Fixture {
        async fn new() -> Fixture {
            let (store, dir) = fresh_store().await;
            let hub = Hub::default();
            let events = EventLog::new(store.clone(), hub.clone());
            let _appender = events.start().await.unwrap();
            let snapshot = Snapshot::new();
            hub.observe_with(Arc::new(snapshot.clone()));
            Fixture {
                orders: Orders::new(store.clone(), hub.clone(), events.clone(), snapshot.clone()),
                catalog: Catalog::new(store.clone(), events, snapshot),
                admin: Principal {
                    user_id: UserId::generate(),
                    role: Role::Admin,
                },
                store,
                hub,
                _dir: dir,
            }
        }

        /// A registered user (orders name their owner, who must exist).
        async fn customer(&self) -> Principal {
            let id = UserId::generate();
            let user = NewUser {
                name: UserName::parse("Order Tester").unwrap(),
                email: Email::parse(&format!("{id}@example.test")).unwrap(),
                id,
                role: Role::User,
                password_hash: "not checked here".into(),
                created_at: now(),
            };
            self.store.insert_user(&user).await.unwrap();
            Principal {
                user_id: user.id,
                role: Role::User,
            }
        }

        /// A product at 12.50 with `stock` units, added by the admin.
        async fn product(&self, stock: i64) -> Product {
            let new = NewProduct::parse("Desk lamp", 12.5, Some(stock), None).unwrap();
            self.catalog.create(&self.admin, new, None).await.unwrap()
        }

        async fn stock_of(&self, product: &Product) -> i64 {
            let product = self.store.product_by_id(&product.id).await.unwrap();
            product.expect("the product is still there").stock.units()
        }

        /// `buyer` orders `units` of `product`, which must go through.
        async fn placed(&self, buyer: &Principal, product: &Product, units: i64) -> Order {
            let quantity = Quantity::parse(units).unwrap();
            self.orders
                .place(buyer, &product.id, quantity, None)
                .await
                .expect("the order is placed")
        }

        /// Every order, as the admin lists them.
        async fn all_orders(&self) -> Vec<Order> {
            let page = self.orders.list(&self.admin, listing()).await.unwrap();
            page.items
        }
    }

    /// The default first page.
    fn listing() -> OrderListing {
        OrderListing::parse(None, None, None).unwrap()
    }

    /// Everything a subscription has been handed so far (published events
    /// reach it before `record` returns, so nothing is still on its way).
    fn heard(subscription: &mut Subscription) -> Vec<Arc<Published>> {
        let mut heard = Vec::new();
        while let Some(Some(item)) = subscription.next().now_or_never() {
            match item {
                HubItem::Event(published) => heard.push(published),
                HubItem::Lagged(missed) => panic!("the subscriber lagged by {missed}"),
            }
        }
        heard
    }

    fn ids(orders: &[Order]) -> Vec<String> {
        orders.iter().map(|order| order.id.to_string()).collect()
    }

    #[tokio::test]
    async fn placing_an_order_takes_the_stock_prices_it_and_tells_only_admins() {
        // Arrange
        let app = Fixture::new().await;
        let buyer = app.customer().await;
        let product = app.product(5).await;
        let mut admins = app.hub.subscribe(&app.admin);
        let mut buyers = app.hub.subscribe(&buyer);

        // Act
        let order = app.placed(&buyer, &product, 2).await;

        // Assert
        assert_eq!(order.user_id, buyer.user_id);
        assert_eq!(order.product_id, product.id);
        assert_eq!(order.quantity.units(), 2);
        assert_eq!(order.unit_price, Price::from_cents(1250).unwrap());
        assert_eq!(order.total, Price::from_cents(2500).unwrap());
        assert_eq!(order.status, OrderStatus::Pending);
        assert_eq!(app.stock_of(&product).await, 3);
        assert_eq!(ids(&app.all_orders().await), [order.id.to_string()]);
        let told = heard(&mut admins);
        assert_eq!(told.len(), 1, "{told:?}");
        assert_eq!(told[0].audience, Audience::Admins);
        assert_eq!(told[0].event, Event::OrderPlaced(order));
        assert!(told[0].position.is_some(), "a missable event is logged");
        assert!(heard(&mut buyers).is_empty(), "the buyer is not an admin");
    }

    #[tokio::test]
    async fn a_retry_with_the_same_key_returns_the_first_order_and_takes_stock_once() {
        // Arrange
        let app = Fixture::new().await;
        let buyer = app.customer().await;
        let product = app.product(5).await;
        let key = IdempotencyKey::parse("order-retry-1").unwrap();
        let quantity = Quantity::parse(2).unwrap();
        let mut admins = app.hub.subscribe(&app.admin);

        // Act
        let first = app.orders.place(&buyer, &product.id, quantity, Some(&key));
        let first = first.await.unwrap();
        let retry = app.orders.place(&buyer, &product.id, quantity, Some(&key));
        let retry = retry.await.unwrap();

        // Assert
        assert_eq!(retry.id, first.id);
        assert_eq!(retry.quantity, first.quantity);
        assert_eq!(app.stock_of(&product).await, 3);
        assert_eq!(ids(&app.all_orders().await), [first.id.to_string()]);
        assert_eq!(heard(&mut admins).len(), 1, "admins are told once");
    }

    #[tokio::test]
    async fn an_order_beyond_the_stock_is_a_conflict_and_writes_nothing() {
        // Arrange
        let app = Fixture::new().await;
        let buyer = app.customer().await;
        let product = app.product(1).await;
        let mut admins = app.hub.subscribe(&app.admin);

        // Act
        let quantity = Quantity::parse(2).unwrap();
        let refused = app.orders.place(&buyer, &product.id, quantity, None).await;

        // Assert
        assert!(
            matches!(&refused, Err(AppError::Conflict(message)) if message.contains("stock")),
            "{refused:?}"
        );
        assert_eq!(app.stock_of(&product).await, 1);
        assert!(app.all_orders().await.is_empty());
        assert!(heard(&mut admins).is_empty(), "nothing to tell");
    }

    #[tokio::test]
    async fn an_order_for_an_unknown_product_is_not_found() {
        let app = Fixture::new().await;
        let buyer = app.customer().await;

        let quantity = Quantity::parse(1).unwrap();
        let refused = app
            .orders
            .place(&buyer, &ProductId::generate(), quantity, None)
            .await;

        assert!(
            matches!(refused, Err(AppError::NotFound("product"))),
            "{refused:?}"
        );
        assert!(app.all_orders().await.is_empty());
    }

    #[tokio::test]
    async fn only_admins_move_orders_not_even_their_owner() {
        // Arrange
        let app = Fixture::new().await;
        let buyer = app.customer().await;
        let order = app.placed(&buyer, &app.product(5).await, 1).await;
        let mut buyers = app.hub.subscribe(&buyer);

        // Act
        let refused = app
            .orders
            .update_status(&buyer, &order.id, OrderStatus::Shipped)
            .await;

        // Assert
        assert!(
            matches!(refused, Err(AppError::Forbidden(_))),
            "{refused:?}"
        );
        let unchanged = app.orders.order(&buyer, &order.id).await.unwrap();
        assert_eq!(unchanged.status, OrderStatus::Pending);
        assert!(heard(&mut buyers).is_empty(), "nothing moved, nothing told");
    }

    #[tokio::test]
    async fn an_admin_moves_an_order_forward_and_its_owner_and_admins_are_told() {
        // Arrange
        let app = Fixture::new().await;
        let buyer = app.customer().await;
        let bystander = app.customer().await;
        let order = app.placed(&buyer, &app.product(5).await, 1).await;
        let mut admins = app.hub.subscribe(&app.admin);
        let mut buyers = app.hub.subscribe(&buyer);
        let mut bystanders = app.hub.subscribe(&bystander);

        // Act: pending to shipped, skipping processing, is forward.
        let moved = app
            .orders
            .update_status(&app.admin, &order.id, OrderStatus::Shipped)
            .await
            .unwrap();

        // Assert
        assert_eq!(moved.id, order.id);
        assert_eq!(moved.status, OrderStatus::Shipped);
        let stored = app.orders.order(&app.admin, &order.id).await.unwrap();
        assert_eq!(stored.status, OrderStatus::Shipped);
        let audience = Audience::UsersAndAdmins(vec![buyer.user_id.clone()]);
        for (who, subscription) in [("the owner", &mut buyers), ("an admin", &mut admins)] {
            let told = heard(subscription);
            assert_eq!(told.len(), 1, "{who}: {told:?}");
            assert_eq!(told[0].audience, audience, "{who}");
            assert_eq!(
                told[0].event,
                Event::OrderStatusChanged(moved.clone()),
                "{who}"
            );
        }
        assert!(
            heard(&mut bystanders).is_empty(),
            "another user hears nothing"
        );
    }

    #[tokio::test]
    async fn a_move_that_is_not_forward_is_a_conflict_naming_both_statuses() {
        // Arrange
        let app = Fixture::new().await;
        let buyer = app.customer().await;
        let order = app.placed(&buyer, &app.product(5).await, 1).await;
        app.orders
            .update_status(&app.admin, &order.id, OrderStatus::Shipped)
            .await
            .unwrap();
        let mut admins = app.hub.subscribe(&app.admin);

        for to in [OrderStatus::Processing, OrderStatus::Shipped] {
            // Act
            let refused = app.orders.update_status(&app.admin, &order.id, to).await;

            // Assert
            let Err(AppError::Conflict(message)) = &refused else {
                panic!("shipped to {}: {refused:?}", to.as_str());
            };
            let expected = format!("an order that is shipped cannot move to {}", to.as_str());
            assert!(message.contains(&expected), "{message:?}");
        }
        let stored = app.orders.order(&app.admin, &order.id).await.unwrap();
        assert_eq!(stored.status, OrderStatus::Shipped);
        assert!(heard(&mut admins).is_empty(), "refused moves tell nobody");
    }

    #[tokio::test]
    async fn a_user_sees_only_their_own_orders() {
        // Arrange
        let app = Fixture::new().await;
        let (alice, bob) = (app.customer().await, app.customer().await);
        let product = app.product(10).await;
        let alices = app.placed(&alice, &product, 1).await;
        let bobs = app.placed(&bob, &product, 2).await;

        // Act
        let alice_sees = app.orders.mine(&alice, listing()).await.unwrap();
        let bob_sees = app.orders.mine(&bob, listing()).await.unwrap();

        // Assert
        assert_eq!(ids(&alice_sees.items), [alices.id.to_string()]);
        assert_eq!(ids(&bob_sees.items), [bobs.id.to_string()]);
        let own = app.orders.order(&alice, &alices.id).await.unwrap();
        assert_eq!(own.id, alices.id);
        let foreign = app.orders.order(&alice, &bobs.id).await;
        assert!(
            matches!(foreign, Err(AppError::NotFound("order"))),
            "another user's order does not exist for alice: {foreign:?}"
        );
        let everyone = app.orders.list(&alice, listing()).await;
        assert!(
            matches!(everyone, Err(AppError::Forbidden(_))),
            "{everyone:?}"
        );
        let mut all = ids(&app.all_orders().await);
        all.sort();
        let mut both = vec![alices.id.to_string(), bobs.id.to_string()];
        both.sort();
        assert_eq!(all, both, "the admin sees every order");
    }

    #[tokio::test]
    async fn an_unknown_order_is_not_found() {
        let app = Fixture::new().await;
        let unknown = OrderId::generate();

        let read = app.orders.order(&app.admin, &unknown).await;
        let moved = app
            .orders
            .update_status(&app.admin, &unknown, OrderStatus::Shipped)
            .await;

        assert!(matches!(read, Err(AppError::NotFound("order"))), "{read:?}");
        assert!(
            matches!(moved, Err(AppError::NotFound("order"))),
            "{moved:?}"
        );
    }
}
