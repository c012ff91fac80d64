//! The contract of [`OrderStore`](crate::store::OrderStore): placing
//! (never overselling), status moves (never backwards), lists and figures.

use std::slice;

use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;

use super::customer;
use super::products::{add_product, price, product_added_at, stock};
use crate::domain::{NewOrder, Order, OrderId, OrderStatus, Product, Quantity, Stock, UserId};
use crate::store::{MoveOrder, OrderQuery, OrderStats, PlaceOrder, Store, now};

/// `buyer` orders `units` of `product` at `at`.
fn order_at(buyer: &UserId, product: &Product, units: i64, at: DateTime<Utc>) -> NewOrder {
    NewOrder {
        id: OrderId::generate(),
        user_id: buyer.clone(),
        product_id: product.id.clone(),
        quantity: Quantity::parse(units).unwrap(),
        created_at: at,
    }
}

/// `buyer` orders `units` of `product` now.
fn order_for(buyer: &UserId, product: &Product, units: i64) -> NewOrder {
    order_at(buyer, product, units, now())
}

/// Places an order that must go through.
async fn placed(store: &dyn Store, order: &NewOrder) -> Order {
    match store.place_order(order).await.unwrap() {
        PlaceOrder::Placed(placed) => placed,
        refused => panic!("the order was refused: {refused:?}"),
    }
}

/// Moves an order to `to` from wherever the flow allows.
async fn move_to(store: &dyn Store, id: &OrderId, to: OrderStatus, at: DateTime<Utc>) -> MoveOrder {
    store
        .move_order(id, &OrderStatus::predecessors(to), to, at)
        .await
        .unwrap()
}

async fn stock_of(store: &dyn Store, product: &Product) -> Stock {
    store
        .product_by_id(&product.id)
        .await
        .unwrap()
        .expect("the product")
        .stock
}

fn every_order() -> OrderQuery {
    OrderQuery {
        limit: 1000,
        ..OrderQuery::default()
    }
}

fn newest_first(mut orders: Vec<Order>) -> Vec<Order> {
    orders.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    orders
}

async fn walk_orders(store: &dyn Store, mut query: OrderQuery) -> Vec<Order> {
    let mut seen = Vec::new();
    for _ in 0..100 {
        let page = store.list_orders(&query).await.unwrap();
        assert!(page.len() <= query.limit, "a page longer than its limit");
        let Some(last) = page.last() else {
            return seen;
        };
        query.after = Some(last.cursor());
        let full = page.len() == query.limit;
        seen.extend(page);
        if !full {
            return seen;
        }
    }
    panic!("the walk never ended: {seen:?}");
}

/// Two customers' orders, with several placed at the same instant and some
/// moved on; returns them as they are now.
async fn orders_of_two_customers(store: &dyn Store) -> (UserId, UserId, Vec<Order>) {
    let ada = customer(store, "ada@example.com").await;
    let bob = customer(store, "bob@example.com").await;
    let lamp = add_product(store, "Desk Lamp", 2500, 100).await;
    let base = now() - Duration::hours(1);
    let mut orders = Vec::new();
    for (buyer, second) in [
        (&ada, 0),
        (&bob, 1),
        (&ada, 1),
        (&ada, 2),
        (&bob, 2),
        (&bob, 3),
        (&ada, 3),
        (&ada, 3),
    ] {
        let order = order_at(buyer, &lamp, 1, base + Duration::seconds(second));
        orders.push(placed(store, &order).await);
    }
    for (index, to) in [
        (1, OrderStatus::Shipped),
        (3, OrderStatus::Shipped),
        (4, OrderStatus::Processing),
        (6, OrderStatus::Shipped),
    ] {
        let MoveOrder::Moved(moved) = move_to(store, &orders[index].id, to, now()).await else {
            panic!("a pending order must move to {to:?}");
        };
        orders[index] = moved;
    }
    (ada, bob, orders)
}

pub async fn placing_an_order_takes_stock_and_prices_it(store: &dyn Store) {
    let buyer = customer(store, "buyer@example.com").await;
    let lamp = add_product(store, "Desk Lamp", 1250, 5).await;
    let order = order_at(&buyer, &lamp, 3, now() - Duration::milliseconds(1_234));

    let outcome = store.place_order(&order).await.unwrap();

    let expected = Order {
        id: order.id.clone(),
        user_id: buyer,
        product_id: lamp.id.clone(),
        quantity: order.quantity,
        unit_price: price(1250),
        total: price(3750),
        status: OrderStatus::Pending,
        created_at: order.created_at,
        updated_at: order.created_at,
    };
    assert_eq!(outcome, PlaceOrder::Placed(expected.clone()));
    assert_eq!(stock_of(store, &lamp).await, stock(2));
    assert_eq!(
        store.order_by_id(&order.id).await.unwrap(),
        Some(expected.clone())
    );
    assert_eq!(store.order_by_id(&OrderId::generate()).await.unwrap(), None);
    assert_eq!(store.list_orders(&every_order()).await.unwrap(), [expected]);
}

pub async fn orders_are_fetched_in_batches(store: &dyn Store) {
    let (_, _, placed) = orders_of_two_customers(store).await;
    let wanted = [
        placed[0].id.clone(),
        OrderId::generate(),
        placed[1].id.clone(),
    ];

    let mut found = store.orders_by_ids(&wanted).await.unwrap();

    found.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    let mut expected = vec![placed[0].clone(), placed[1].clone()];
    expected.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    assert_eq!(found, expected);
    assert!(store.orders_by_ids(&[]).await.unwrap().is_empty());
}

pub async fn an_order_beyond_the_stock_is_out_of_stock_and_writes_nothing(store: &dyn Store) {
    let buyer = customer(store, "buyer@example.com").await;
    let lamp = add_product(store, "Desk Lamp", 1250, 2).await;

    let too_many = order_for(&buyer, &lamp, 3);
    assert_eq!(
        store.place_order(&too_many).await.unwrap(),
        PlaceOrder::OutOfStock
    );
    assert_eq!(stock_of(store, &lamp).await, stock(2));
    assert_eq!(store.order_by_id(&too_many.id).await.unwrap(), None);

    placed(store, &order_for(&buyer, &lamp, 2)).await;
    assert_eq!(stock_of(store, &lamp).await, stock(0));
    let one_more = order_for(&buyer, &lamp, 1);
    assert_eq!(
        store.place_order(&one_more).await.unwrap(),
        PlaceOrder::OutOfStock
    );
    assert_eq!(stock_of(store, &lamp).await, stock(0));
    assert_eq!(store.list_orders(&every_order()).await.unwrap().len(), 1);
}

pub async fn an_order_for_an_unknown_product_writes_nothing(store: &dyn Store) {
    let buyer = customer(store, "buyer@example.com").await;
    let never_added = product_added_at("Ghost", 100, 10, now());
    let order = order_for(&buyer, &never_added, 1);

    assert_eq!(
        store.place_order(&order).await.unwrap(),
        PlaceOrder::UnknownProduct
    );
    assert_eq!(store.order_by_id(&order.id).await.unwrap(), None);
    assert_eq!(store.count_products().await.unwrap(), 0);
    assert!(store.list_orders(&every_order()).await.unwrap().is_empty());
}

pub async fn an_order_outlives_its_product(store: &dyn Store) {
    let buyer = customer(store, "buyer@example.com").await;
    let lamp = add_product(store, "Desk Lamp", 2500, 5).await;
    let order = placed(store, &order_for(&buyer, &lamp, 2)).await;

    assert!(store.delete_product(&lamp.id).await.unwrap());

    assert_eq!(
        store.order_by_id(&order.id).await.unwrap(),
        Some(order.clone())
    );
    assert_eq!(
        store.list_orders(&every_order()).await.unwrap(),
        slice::from_ref(&order)
    );
    let MoveOrder::Moved(shipped) = move_to(store, &order.id, OrderStatus::Shipped, now()).await
    else {
        panic!("an order of a deleted product must still move");
    };
    assert_eq!(shipped.product_id, lamp.id);
    assert_eq!(store.order_stats(now()).await.unwrap().revenue_cents, 5000);
}

pub async fn concurrent_orders_never_oversell(store: &dyn Store) {
    let buyer = customer(store, "rush@example.com").await;
    let lamp = add_product(store, "Desk Lamp", 2500, 10).await;
    let orders: Vec<NewOrder> = (0..50).map(|_| order_for(&buyer, &lamp, 1)).collect();

    let outcomes = join_all(orders.iter().map(|order| store.place_order(order))).await;

    let placed_ids: Vec<OrderId> = outcomes
        .iter()
        .filter_map(|outcome| match outcome {
            Ok(PlaceOrder::Placed(order)) => Some(order.id.clone()),
            _ => None,
        })
        .collect();
    let out_of_stock = outcomes
        .iter()
        .filter(|outcome| matches!(outcome, Ok(PlaceOrder::OutOfStock)))
        .count();
    let errors: Vec<_> = outcomes.iter().filter(|outcome| outcome.is_err()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!((placed_ids.len(), out_of_stock), (10, 40));
    assert_eq!(stock_of(store, &lamp).await, stock(0));
    let mut listed: Vec<OrderId> = store
        .list_orders(&every_order())
        .await
        .unwrap()
        .into_iter()
        .filter(|order| order.product_id == lamp.id)
        .map(|order| order.id)
        .collect();
    listed.sort();
    let mut expected = placed_ids;
    expected.sort();
    assert_eq!(listed, expected);
}

pub async fn orders_move_forward_and_may_skip(store: &dyn Store) {
    let buyer = customer(store, "buyer@example.com").await;
    let lamp = add_product(store, "Desk Lamp", 2500, 5).await;
    let order = placed(store, &order_for(&buyer, &lamp, 1)).await;

    let processing_at = order.created_at + Duration::milliseconds(5_001);
    let processing = Order {
        status: OrderStatus::Processing,
        updated_at: processing_at,
        ..order.clone()
    };
    assert_eq!(
        move_to(store, &order.id, OrderStatus::Processing, processing_at).await,
        MoveOrder::Moved(processing)
    );

    let delivered_at = processing_at + Duration::seconds(5);
    let delivered = Order {
        status: OrderStatus::Delivered,
        updated_at: delivered_at,
        ..order.clone()
    };
    assert_eq!(
        move_to(store, &order.id, OrderStatus::Delivered, delivered_at).await,
        MoveOrder::Moved(delivered.clone()),
        "skipping shipped"
    );
    assert_eq!(store.order_by_id(&order.id).await.unwrap(), Some(delivered));

    let straight_to_shipped = placed(store, &order_for(&buyer, &lamp, 1)).await;
    let MoveOrder::Moved(shipped) =
        move_to(store, &straight_to_shipped.id, OrderStatus::Shipped, now()).await
    else {
        panic!("pending may skip to shipped");
    };
    assert_eq!(shipped.status, OrderStatus::Shipped);
}

pub async fn backward_and_same_status_moves_are_not_allowed(store: &dyn Store) {
    let buyer = customer(store, "buyer@example.com").await;
    let lamp = add_product(store, "Desk Lamp", 2500, 5).await;
    let order = placed(store, &order_for(&buyer, &lamp, 1)).await;
    let MoveOrder::Moved(shipped) = move_to(
        store,
        &order.id,
        OrderStatus::Shipped,
        order.created_at + Duration::seconds(1),
    )
    .await
    else {
        panic!("pending must move to shipped");
    };

    for to in [
        OrderStatus::Pending,
        OrderStatus::Processing,
        OrderStatus::Shipped,
    ] {
        let outcome = move_to(store, &order.id, to, now() + Duration::hours(1)).await;
        assert_eq!(
            outcome,
            MoveOrder::NotAllowed(shipped.clone()),
            "shipped to {to:?}"
        );
    }
    assert_eq!(store.order_by_id(&order.id).await.unwrap(), Some(shipped));
}

pub async fn moving_an_unknown_order_is_unknown(store: &dyn Store) {
    for to in OrderStatus::ALL {
        assert_eq!(
            move_to(store, &OrderId::generate(), to, now()).await,
            MoveOrder::UnknownOrder,
            "to {to:?}"
        );
    }
}

pub async fn concurrent_moves_never_leave_an_order_behind_the_furthest_move(store: &dyn Store) {
    let buyer = customer(store, "race@example.com").await;
    let lamp = add_product(store, "Desk Lamp", 2500, 100).await;
    let mut orders = Vec::new();
    for _ in 0..20 {
        orders.push(placed(store, &order_for(&buyer, &lamp, 1)).await);
    }

    let at = now();
    let races = orders.iter().flat_map(|order| {
        [
            move_to(store, &order.id, OrderStatus::Shipped, at),
            move_to(store, &order.id, OrderStatus::Processing, at),
        ]
    });
    let outcomes = join_all(races).await;

    for (order, pair) in orders.iter().zip(outcomes.chunks(2)) {
        let furthest = pair
            .iter()
            .filter_map(|outcome| match outcome {
                MoveOrder::Moved(moved) => Some(moved.status),
                _ => None,
            })
            .max();
        assert_eq!(furthest, Some(OrderStatus::Shipped), "{pair:?}");
        if let MoveOrder::NotAllowed(current) = &pair[1] {
            assert_eq!(
                current.status,
                OrderStatus::Shipped,
                "processing refused only after shipped won"
            );
        }
        let now_stored = store.order_by_id(&order.id).await.unwrap().unwrap();
        assert_eq!(now_stored.status, OrderStatus::Shipped, "{pair:?}");
    }
}

pub async fn orders_are_listed_newest_first_and_filtered(store: &dyn Store) {
    let (ada, bob, orders) = orders_of_two_customers(store).await;
    let expected = |keep: &dyn Fn(&Order) -> bool| {
        newest_first(orders.iter().filter(|o| keep(o)).cloned().collect())
    };
    let shipped = Some(OrderStatus::Shipped);

    let cases: [(OrderQuery, Vec<Order>); 6] = [
        (every_order(), expected(&|_| true)),
        (
            OrderQuery {
                status: shipped,
                ..every_order()
            },
            expected(&|o| o.status == OrderStatus::Shipped),
        ),
        (
            OrderQuery {
                user_id: Some(ada.clone()),
                ..every_order()
            },
            expected(&|o| o.user_id == ada),
        ),
        (
            OrderQuery {
                status: shipped,
                user_id: Some(bob.clone()),
                ..every_order()
            },
            expected(&|o| o.user_id == bob && o.status == OrderStatus::Shipped),
        ),
        (
            OrderQuery {
                status: Some(OrderStatus::Delivered),
                ..every_order()
            },
            Vec::new(),
        ),
        (
            OrderQuery {
                user_id: Some(UserId::generate()),
                ..every_order()
            },
            Vec::new(),
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(
            store.list_orders(&query).await.unwrap(),
            expected,
            "{query:?}"
        );
    }
    let newest_two = OrderQuery {
        limit: 2,
        ..every_order()
    };
    assert_eq!(
        store.list_orders(&newest_two).await.unwrap(),
        newest_first(orders)[..2]
    );
}

pub async fn orders_are_counted_with_their_filters(store: &dyn Store) {
    let (ada, bob, orders) = orders_of_two_customers(store).await;
    let count_of = |keep: &dyn Fn(&Order) -> bool| orders.iter().filter(|o| keep(o)).count() as u64;
    let nobody = UserId::generate();
    let statuses = [None, Some(OrderStatus::Pending), Some(OrderStatus::Shipped)];
    for status in statuses.into_iter().chain([Some(OrderStatus::Delivered)]) {
        for user_id in [None, Some(&ada), Some(&bob), Some(&nobody)] {
            let query = OrderQuery {
                status,
                user_id: user_id.cloned(),
                limit: 3,
                ..every_order()
            };
            let expected = count_of(&|o| {
                status.is_none_or(|status| o.status == status)
                    && user_id.is_none_or(|user| &o.user_id == user)
            });
            let counted = store.count_orders(&query.filter()).await.unwrap();
            assert_eq!(counted, expected, "{query:?}");
            let walked = walk_orders(store, query.clone()).await;
            assert_eq!(counted, walked.len() as u64, "a walk of {query:?}");
            let past_the_first = OrderQuery {
                after: walked.first().map(Order::cursor),
                ..query.clone()
            };
            assert_eq!(
                store.count_orders(&past_the_first.filter()).await.unwrap(),
                counted,
                "the cursor is not a filter"
            );
        }
    }
    assert_eq!(
        store.count_orders(&every_order().filter()).await.unwrap(),
        8
    );
}

pub async fn order_pages_walk_every_order_exactly_once(store: &dyn Store) {
    let (ada, _bob, orders) = orders_of_two_customers(store).await;
    let everything = newest_first(orders.clone());
    for page_size in [1, 2, 3, 8] {
        let walked = walk_orders(
            store,
            OrderQuery {
                limit: page_size,
                ..every_order()
            },
        )
        .await;
        assert_eq!(walked, everything, "pages of {page_size}");
    }
    let adas = newest_first(
        orders
            .iter()
            .filter(|o| o.user_id == ada)
            .cloned()
            .collect(),
    );
    let walked = walk_orders(
        store,
        OrderQuery {
            user_id: Some(ada),
            limit: 2,
            ..every_order()
        },
    )
    .await;
    assert_eq!(walked, adas, "one customer's orders");
    let shipped = newest_first(
        orders
            .into_iter()
            .filter(|o| o.status == OrderStatus::Shipped)
            .collect(),
    );
    let walked = walk_orders(
        store,
        OrderQuery {
            status: Some(OrderStatus::Shipped),
            limit: 1,
            ..every_order()
        },
    )
    .await;
    assert_eq!(walked, shipped, "shipped orders");
}

/// The per-status counts, in flow order.
fn counts(stats: &OrderStats) -> Vec<(OrderStatus, u64)> {
    let mut counts = stats.by_status.clone();
    counts.sort();
    counts
}

pub async fn order_stats_count_every_status_and_sum_revenue(store: &dyn Store) {
    use OrderStatus::{Delivered, Pending, Processing, Shipped};
    let since = now();
    let empty = store.order_stats(since).await.unwrap();
    assert_eq!(
        counts(&empty),
        [(Pending, 0), (Processing, 0), (Shipped, 0), (Delivered, 0)]
    );
    assert_eq!((empty.revenue_cents, empty.placed_since), (0, 0));

    let buyer = customer(store, "buyer@example.com").await;
    let lamp = add_product(store, "Desk Lamp", 2500, 100).await;
    let chair = add_product(store, "Chair", 4900, 100).await;
    let plan = [
        (&lamp, 2, since - Duration::hours(1), Some(Delivered)),
        (&chair, 1, since - Duration::milliseconds(1), Some(Shipped)),
        (&lamp, 1, since, Some(Shipped)),
        (&chair, 3, since + Duration::minutes(1), None),
    ];
    for (product, units, at, moved_to) in plan {
        let order = placed(store, &order_at(&buyer, product, units, at)).await;
        if let Some(to) = moved_to {
            move_to(store, &order.id, to, now()).await;
        }
    }

    let stats = store.order_stats(since).await.unwrap();
    assert_eq!(
        counts(&stats),
        [(Pending, 1), (Processing, 0), (Shipped, 2), (Delivered, 1)]
    );
    assert_eq!(stats.revenue_cents, 5000 + 4900 + 2500 + 14_700);
    assert_eq!(stats.placed_since, 2, "placed at or after `since`");
    assert_eq!(
        store
            .order_stats(since + Duration::hours(1))
            .await
            .unwrap()
            .placed_since,
        0
    );
}
