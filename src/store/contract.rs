//! The store contract: behaviour every adapter must have, written once.
//!
//! Each function takes any [`Store`] and asserts; `sqlite.rs` and `mongo.rs`
//! instantiate every one of them through [`for_each_contract_test!`], so
//! adding a function here and to that list runs it on both stores.

use std::slice;

use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;

use super::{
    MoveOrder, NewRefreshToken, ORDERS_NEWEST, OrderQuery, OrderStats, PlaceOrder, ProductQuery,
    RefreshUse, Store, StoreError, now,
};
use crate::auth::RefreshToken;
use crate::domain::{
    Cursor, Description, Email, NewOrder, NewUser, Order, OrderId, OrderStatus, Price, Product,
    ProductId, ProductName, ProductPatch, ProductSort, Quantity, Role, SearchTerms, SortKey, Stock,
    UserId, UserName,
};

/// Calls `$callback!` with the name of every contract test.
macro_rules! for_each_contract_test {
    ($callback:ident) => {
        $callback!(
            a_user_reads_back_as_written,
            a_taken_email_is_a_duplicate,
            emails_are_looked_up_with_their_credentials,
            users_are_fetched_in_batches,
            roles_change_and_unknown_users_are_none,
            users_are_counted,
            a_refresh_token_is_fresh_once_then_reused,
            concurrent_uses_of_one_refresh_token_yield_one_fresh,
            revoking_a_family_invalidates_every_member,
            expired_and_unknown_refresh_tokens_are_invalid,
            the_owner_of_a_refresh_token_is_known,
            a_product_reads_back_as_written,
            a_partial_update_changes_only_the_given_fields,
            renaming_a_product_changes_what_search_and_name_order_find,
            a_deleted_product_is_gone_everywhere,
            search_matches_every_word_as_a_case_insensitive_prefix,
            price_filters_include_their_bounds,
            each_sort_orders_the_catalogue_with_the_id_breaking_ties,
            pages_walk_every_product_exactly_once_in_each_sort,
            products_added_between_pages_neither_repeat_nor_hide_earlier_ones,
            products_are_counted,
            low_stock_products_are_those_below_the_threshold_fewest_first,
            placing_an_order_takes_stock_and_prices_it,
            an_order_beyond_the_stock_is_out_of_stock_and_writes_nothing,
            an_order_for_an_unknown_product_writes_nothing,
            an_order_outlives_its_product,
            concurrent_orders_never_oversell,
            orders_move_forward_and_may_skip,
            backward_and_same_status_moves_are_not_allowed,
            moving_an_unknown_order_is_unknown,
            concurrent_moves_never_leave_an_order_behind_the_furthest_move,
            orders_are_listed_newest_first_and_filtered,
            order_pages_walk_every_order_exactly_once,
            order_stats_count_every_status_and_sum_revenue,
        );
    };
}
pub(crate) use for_each_contract_test;

/// A valid new account with the given email.
pub fn new_user(email: &str) -> NewUser {
    NewUser {
        id: UserId::generate(),
        name: UserName::parse("Contract Tester").unwrap(),
        email: Email::parse(email).unwrap(),
        role: Role::User,
        password_hash: "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
        created_at: now(),
    }
}

fn refresh_token(
    user_id: &UserId,
    family: &str,
    lifetime: Duration,
) -> (RefreshToken, NewRefreshToken) {
    let token = RefreshToken::generate();
    let issued_at = now();
    let record = NewRefreshToken {
        hash: token.hash(),
        user_id: user_id.clone(),
        family: family.to_owned(),
        issued_at,
        expires_at: issued_at + lifetime,
    };
    (token, record)
}

pub async fn a_user_reads_back_as_written(store: &dyn Store) {
    let new = new_user("ada@example.com");
    let inserted = store.insert_user(&new).await.unwrap();
    let read = store
        .user_by_id(&new.id)
        .await
        .unwrap()
        .expect("the user just written");
    assert_eq!(read, inserted);
    assert_eq!(read.email.as_str(), "ada@example.com");
    assert_eq!(read.created_at, new.created_at);
    assert_eq!(read.role, Role::User);
    assert_eq!(read.last_active, None);
    assert!(
        store
            .user_by_id(&UserId::generate())
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn a_taken_email_is_a_duplicate(store: &dyn Store) {
    store
        .insert_user(&new_user("taken@example.com"))
        .await
        .unwrap();
    let again = store.insert_user(&new_user("taken@example.com")).await;
    assert!(matches!(again, Err(StoreError::Duplicate)), "{again:?}");
    assert_eq!(
        store.count_users().await.unwrap(),
        1,
        "nothing half-written"
    );
}

pub async fn emails_are_looked_up_with_their_credentials(store: &dyn Store) {
    let new = new_user("grace@example.com");
    store.insert_user(&new).await.unwrap();
    let found = store
        .credentials_by_email(&Email::parse("grace@example.com").unwrap())
        .await
        .unwrap()
        .expect("credentials by email");
    assert_eq!(found.user.id, new.id);
    assert_eq!(found.password_hash, new.password_hash);
    let missing = store
        .credentials_by_email(&Email::parse("nobody@example.com").unwrap())
        .await
        .unwrap();
    assert!(missing.is_none());
}

pub async fn users_are_fetched_in_batches(store: &dyn Store) {
    let a = new_user("a@example.com");
    let b = new_user("b@example.com");
    store.insert_user(&a).await.unwrap();
    store.insert_user(&b).await.unwrap();
    let mut found: Vec<UserId> = store
        .users_by_ids(&[a.id.clone(), UserId::generate(), b.id.clone()])
        .await
        .unwrap()
        .into_iter()
        .map(|user| user.id)
        .collect();
    found.sort();
    let mut expected = vec![a.id, b.id];
    expected.sort();
    assert_eq!(found, expected);
    assert!(store.users_by_ids(&[]).await.unwrap().is_empty());
}

pub async fn roles_change_and_unknown_users_are_none(store: &dyn Store) {
    let new = new_user("promote@example.com");
    store.insert_user(&new).await.unwrap();
    let promoted = store
        .set_user_role(&new.id, Role::Admin)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(promoted.role, Role::Admin);
    assert_eq!(
        store.user_by_id(&new.id).await.unwrap().unwrap().role,
        Role::Admin
    );
    assert!(
        store
            .set_user_role(&UserId::generate(), Role::Admin)
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn users_are_counted(store: &dyn Store) {
    assert_eq!(store.count_users().await.unwrap(), 0);
    for n in 0..3 {
        store
            .insert_user(&new_user(&format!("u{n}@example.com")))
            .await
            .unwrap();
    }
    assert_eq!(store.count_users().await.unwrap(), 3);
}

pub async fn a_refresh_token_is_fresh_once_then_reused(store: &dyn Store) {
    let user = new_user("rotate@example.com");
    store.insert_user(&user).await.unwrap();
    let (token, record) = refresh_token(&user.id, "family-1", Duration::days(1));
    store.insert_refresh_token(&record).await.unwrap();

    let first = store.use_refresh_token(&token.hash(), now()).await.unwrap();
    assert_eq!(
        first,
        RefreshUse::Fresh {
            user_id: user.id.clone(),
            family: "family-1".into()
        }
    );
    let second = store.use_refresh_token(&token.hash(), now()).await.unwrap();
    assert_eq!(
        second,
        RefreshUse::Reused {
            user_id: user.id,
            family: "family-1".into()
        }
    );
}

pub async fn concurrent_uses_of_one_refresh_token_yield_one_fresh(store: &dyn Store) {
    let user = new_user("race@example.com");
    store.insert_user(&user).await.unwrap();
    let (token, record) = refresh_token(&user.id, "family-race", Duration::days(1));
    store.insert_refresh_token(&record).await.unwrap();

    let hash = token.hash();
    let attempts = (0..8).map(|_| store.use_refresh_token(&hash, now()));
    let outcomes = futures::future::join_all(attempts).await;
    let fresh = outcomes
        .iter()
        .filter(|outcome| matches!(outcome, Ok(RefreshUse::Fresh { .. })))
        .count();
    assert_eq!(fresh, 1, "{outcomes:?}");
    assert!(
        outcomes.iter().all(|outcome| outcome.is_ok()),
        "{outcomes:?}"
    );
}

pub async fn revoking_a_family_invalidates_every_member(store: &dyn Store) {
    let user = new_user("revoke@example.com");
    store.insert_user(&user).await.unwrap();
    let (used, used_record) = refresh_token(&user.id, "family-2", Duration::days(1));
    let (live, live_record) = refresh_token(&user.id, "family-2", Duration::days(1));
    let (other, other_record) = refresh_token(&user.id, "family-3", Duration::days(1));
    for record in [&used_record, &live_record, &other_record] {
        store.insert_refresh_token(record).await.unwrap();
    }
    store.use_refresh_token(&used.hash(), now()).await.unwrap();

    assert_eq!(
        store
            .revoke_refresh_family("family-2", now())
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store.use_refresh_token(&live.hash(), now()).await.unwrap(),
        RefreshUse::Invalid
    );
    assert_eq!(
        store.use_refresh_token(&used.hash(), now()).await.unwrap(),
        RefreshUse::Invalid
    );
    assert!(matches!(
        store.use_refresh_token(&other.hash(), now()).await.unwrap(),
        RefreshUse::Fresh { .. }
    ));
    assert_eq!(
        store
            .revoke_refresh_family("family-2", now())
            .await
            .unwrap(),
        0
    );
}

pub async fn expired_and_unknown_refresh_tokens_are_invalid(store: &dyn Store) {
    let user = new_user("expire@example.com");
    store.insert_user(&user).await.unwrap();
    let (expired, record) = refresh_token(&user.id, "family-4", Duration::seconds(-1));
    store.insert_refresh_token(&record).await.unwrap();
    assert_eq!(
        store
            .use_refresh_token(&expired.hash(), now())
            .await
            .unwrap(),
        RefreshUse::Invalid
    );
    let unknown = RefreshToken::generate();
    assert_eq!(
        store
            .use_refresh_token(&unknown.hash(), now())
            .await
            .unwrap(),
        RefreshUse::Invalid
    );
}

pub async fn the_owner_of_a_refresh_token_is_known(store: &dyn Store) {
    let user = new_user("owner@example.com");
    store.insert_user(&user).await.unwrap();
    let (token, record) = refresh_token(&user.id, "family-5", Duration::days(1));
    store.insert_refresh_token(&record).await.unwrap();
    let owner = store.refresh_token_owner(&token.hash()).await.unwrap();
    assert_eq!(owner, Some((user.id, "family-5".to_owned())));
    assert_eq!(
        store
            .refresh_token_owner(&RefreshToken::generate().hash())
            .await
            .unwrap(),
        None
    );
}

// --- products ---

fn price(cents: i64) -> Price {
    Price::from_cents(cents).unwrap()
}

fn stock(units: i64) -> Stock {
    Stock::parse(units).unwrap()
}

/// A product named `name` at `cents`, with `units` in stock, added at `added_at`.
fn product_added_at(name: &str, cents: i64, units: i64, added_at: DateTime<Utc>) -> Product {
    Product {
        id: ProductId::generate(),
        name: ProductName::parse(name).unwrap(),
        price: price(cents),
        stock: stock(units),
        description: Description::default(),
        created_at: added_at,
        updated_at: added_at,
    }
}

/// Puts `product` in the catalogue and hands it back.
async fn add(store: &dyn Store, product: Product) -> Product {
    store.insert_product(&product).await.unwrap();
    product
}

/// Adds a product now.
async fn add_product(store: &dyn Store, name: &str, cents: i64, units: i64) -> Product {
    add(store, product_added_at(name, cents, units, now())).await
}

/// The whole catalogue in one list.
fn catalogue(sort: ProductSort) -> ProductQuery {
    ProductQuery {
        sort,
        limit: 1000,
        ..ProductQuery::default()
    }
}

/// The catalogue filtered by a search.
fn searching(text: &str) -> ProductQuery {
    ProductQuery {
        search: SearchTerms::parse(text).unwrap(),
        ..catalogue(ProductSort::Newest)
    }
}

/// The names of `products`, alphabetically: what a filter found, ignoring order.
fn names_found(products: &[Product]) -> Vec<&str> {
    let mut names: Vec<&str> = products
        .iter()
        .map(|product| product.name.as_str())
        .collect();
    names.sort_unstable();
    names
}

fn ids(products: &[Product]) -> Vec<ProductId> {
    products.iter().map(|product| product.id.clone()).collect()
}

/// `products` in `sort`'s order: the key, then the id in the key's direction.
fn in_sort_order(mut products: Vec<Product>, sort: ProductSort) -> Vec<Product> {
    products.sort_by(|a, b| match sort {
        ProductSort::Newest => (b.created_at, &b.id).cmp(&(a.created_at, &a.id)),
        ProductSort::PriceAsc => (a.price, &a.id).cmp(&(b.price, &b.id)),
        ProductSort::PriceDesc => (b.price, &b.id).cmp(&(a.price, &a.id)),
        ProductSort::NameAsc => (a.name.sort_key(), &a.id).cmp(&(b.name.sort_key(), &b.id)),
    });
    products
}

/// Reads `query` page by page, each page starting after the last product of
/// the one before, calling `between_pages` after each page; returns every
/// product seen, in order.
async fn walk_products(
    store: &dyn Store,
    mut query: ProductQuery,
    mut between_pages: impl AsyncFnMut(),
) -> Vec<Product> {
    let mut seen = Vec::new();
    for _ in 0..100 {
        let page = store.list_products(&query).await.unwrap();
        assert!(page.len() <= query.limit, "a page longer than its limit");
        let Some(last) = page.last() else {
            return seen;
        };
        query.after = Some(query.sort.cursor_after(last));
        let full = page.len() == query.limit;
        seen.extend(page);
        if !full {
            return seen;
        }
        between_pages().await;
    }
    panic!("the walk never ended: {:?}", ids(&seen));
}

/// A catalogue with ties on every sort key: equal prices, names equal but
/// for case, and products added at the same instant.
async fn catalogue_with_ties(store: &dyn Store) -> Vec<Product> {
    let at = now() - Duration::hours(1);
    let later = at + Duration::seconds(1);
    let latest = at + Duration::seconds(2);
    let mut products = Vec::new();
    for (name, cents, added_at) in [
        ("Desk lamp", 1500, at),
        ("desk lamp", 1500, at),
        ("Chair", 4900, at),
        ("Table", 1500, later),
        ("chair", 900, later),
        ("Rug", 900, at),
        ("Shelf", 12000, latest),
        ("DESK LAMP", 2500, latest),
        ("Stool", 900, latest),
    ] {
        products.push(add(store, product_added_at(name, cents, 5, added_at)).await);
    }
    products
}

pub async fn a_product_reads_back_as_written(store: &dyn Store) {
    let written = Product {
        description: Description::parse("Holds 350 ml.\nDishwasher safe.").unwrap(),
        created_at: now() - Duration::milliseconds(90_061),
        ..product_added_at("Café Crème Mug", 1999, 7, now())
    };
    store.insert_product(&written).await.unwrap();
    let other = add_product(store, "Teapot", 3500, 2).await;

    assert_eq!(
        store.product_by_id(&written.id).await.unwrap(),
        Some(written.clone())
    );
    assert_eq!(
        store.product_by_id(&ProductId::generate()).await.unwrap(),
        None
    );
    let mut batch = store
        .products_by_ids(&[other.id.clone(), ProductId::generate(), written.id.clone()])
        .await
        .unwrap();
    let mut expected = vec![written, other];
    for products in [&mut batch, &mut expected] {
        products.sort_by(|a, b| a.id.cmp(&b.id));
    }
    assert_eq!(batch, expected, "unknown ids are skipped");
    assert!(store.products_by_ids(&[]).await.unwrap().is_empty());
}

pub async fn a_partial_update_changes_only_the_given_fields(store: &dyn Store) {
    let original = add(
        store,
        Product {
            description: Description::parse("Warm light").unwrap(),
            ..product_added_at("Desk Lamp", 2500, 10, now())
        },
    )
    .await;

    let repriced_at = original.updated_at + Duration::milliseconds(30_001);
    let repricing = ProductPatch {
        price: Some(price(1999)),
        ..ProductPatch::default()
    };
    let repriced = store
        .update_product(&original.id, &repricing, repriced_at)
        .await
        .unwrap();
    let expected = Product {
        price: price(1999),
        updated_at: repriced_at,
        ..original.clone()
    };
    assert_eq!(repriced, Some(expected.clone()));
    assert_eq!(
        store.product_by_id(&original.id).await.unwrap(),
        Some(expected.clone())
    );

    let restocked_at = repriced_at + Duration::seconds(30);
    let restocking = ProductPatch {
        stock: Some(stock(0)),
        description: Some(Description::parse("Cool light").unwrap()),
        ..ProductPatch::default()
    };
    let restocked = store
        .update_product(&original.id, &restocking, restocked_at)
        .await
        .unwrap();
    let expected = Product {
        stock: stock(0),
        description: Description::parse("Cool light").unwrap(),
        updated_at: restocked_at,
        ..expected
    };
    assert_eq!(restocked, Some(expected.clone()));
    assert_eq!(
        store.product_by_id(&original.id).await.unwrap(),
        Some(expected)
    );

    let unknown = store
        .update_product(&ProductId::generate(), &repricing, now())
        .await
        .unwrap();
    assert_eq!(unknown, None);
    assert_eq!(
        store.count_products().await.unwrap(),
        1,
        "an update never inserts"
    );
}

pub async fn renaming_a_product_changes_what_search_and_name_order_find(store: &dyn Store) {
    let shoes = add_product(store, "Red Running Shoes", 8900, 3).await;
    let chair = add_product(store, "Chair", 4900, 3).await;
    let by_name = catalogue(ProductSort::NameAsc);
    assert_eq!(
        ids(&store.list_products(&by_name).await.unwrap()),
        [chair.id.clone(), shoes.id.clone()]
    );

    let renaming = ProductPatch {
        name: Some(ProductName::parse("Blue Walking Boots").unwrap()),
        ..ProductPatch::default()
    };
    let renamed = store
        .update_product(&shoes.id, &renaming, now())
        .await
        .unwrap()
        .expect("the product just added");
    assert_eq!(renamed.name.as_str(), "Blue Walking Boots");

    for old_words in ["run", "red", "red running shoes"] {
        let found = store.list_products(&searching(old_words)).await.unwrap();
        assert!(
            found.is_empty(),
            "{old_words:?} still finds {:?}",
            names_found(&found)
        );
    }
    for new_words in ["walk", "BLUE boots"] {
        let found = store.list_products(&searching(new_words)).await.unwrap();
        assert_eq!(ids(&found), slice::from_ref(&shoes.id), "{new_words:?}");
    }
    assert_eq!(
        ids(&store.list_products(&by_name).await.unwrap()),
        [shoes.id, chair.id]
    );
}

pub async fn a_deleted_product_is_gone_everywhere(store: &dyn Store) {
    let lamp = add_product(store, "Desk Lamp", 2500, 10).await;
    let chair = add_product(store, "Chair", 4900, 3).await;

    assert!(store.delete_product(&lamp.id).await.unwrap());
    assert!(
        !store.delete_product(&lamp.id).await.unwrap(),
        "deleted twice"
    );
    assert!(!store.delete_product(&ProductId::generate()).await.unwrap());

    assert_eq!(store.product_by_id(&lamp.id).await.unwrap(), None);
    let batch = store
        .products_by_ids(&[lamp.id.clone(), chair.id.clone()])
        .await
        .unwrap();
    assert_eq!(batch, slice::from_ref(&chair));
    for sort in [
        ProductSort::Newest,
        ProductSort::PriceAsc,
        ProductSort::PriceDesc,
        ProductSort::NameAsc,
    ] {
        let listed = store.list_products(&catalogue(sort)).await.unwrap();
        assert_eq!(listed, slice::from_ref(&chair), "{sort:?}");
    }
    assert!(
        store
            .list_products(&searching("lamp"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.count_products().await.unwrap(), 1);
}

pub async fn search_matches_every_word_as_a_case_insensitive_prefix(store: &dyn Store) {
    for name in [
        "Red Running Shoes",
        "Blue Running-Shirt",
        "Red Wine Glass",
        "Reading Lamp",
    ] {
        add_product(store, name, 1000, 1).await;
    }
    let cases: [(&str, &[&str]); 9] = [
        ("run", &["Blue Running-Shirt", "Red Running Shoes"]),
        ("RED sh", &["Red Running Shoes"]),
        ("shoes red", &["Red Running Shoes"]),
        (
            "re",
            &["Reading Lamp", "Red Running Shoes", "Red Wine Glass"],
        ),
        ("red", &["Red Running Shoes", "Red Wine Glass"]),
        ("shirt", &["Blue Running-Shirt"]),
        ("unning", &[]),
        ("blue shoes", &[]),
        ("green", &[]),
    ];
    for (search, expected) in cases {
        let found = store.list_products(&searching(search)).await.unwrap();
        assert_eq!(names_found(&found), expected, "searching {search:?}");
    }
}

pub async fn price_filters_include_their_bounds(store: &dyn Store) {
    for (name, cents) in [
        ("Pin", 100),
        ("Mug", 500),
        ("Lamp", 1000),
        ("Chair", 1500),
        ("Mug rack", 1000),
    ] {
        add_product(store, name, cents, 1).await;
    }
    let between = |min: Option<i64>, max: Option<i64>| ProductQuery {
        min_price: min.map(price),
        max_price: max.map(price),
        ..catalogue(ProductSort::PriceAsc)
    };
    let cases: [(ProductQuery, &[&str]); 5] = [
        (
            between(Some(500), None),
            &["Chair", "Lamp", "Mug", "Mug rack"],
        ),
        (
            between(None, Some(1000)),
            &["Lamp", "Mug", "Mug rack", "Pin"],
        ),
        (between(Some(500), Some(1000)), &["Lamp", "Mug", "Mug rack"]),
        (between(Some(500), Some(500)), &["Mug"]),
        (
            ProductQuery {
                search: SearchTerms::parse("mug").unwrap(),
                ..between(Some(600), Some(1500))
            },
            &["Mug rack"],
        ),
    ];
    for (query, expected) in cases {
        let found = store.list_products(&query).await.unwrap();
        assert_eq!(names_found(&found), expected, "{query:?}");
    }
}

pub async fn each_sort_orders_the_catalogue_with_the_id_breaking_ties(store: &dyn Store) {
    let products = catalogue_with_ties(store).await;
    for sort in [
        ProductSort::Newest,
        ProductSort::PriceAsc,
        ProductSort::PriceDesc,
        ProductSort::NameAsc,
    ] {
        let listed = store.list_products(&catalogue(sort)).await.unwrap();
        assert_eq!(
            ids(&listed),
            ids(&in_sort_order(products.clone(), sort)),
            "{sort:?}"
        );
    }
}

pub async fn pages_walk_every_product_exactly_once_in_each_sort(store: &dyn Store) {
    let products = catalogue_with_ties(store).await;
    for sort in [
        ProductSort::Newest,
        ProductSort::PriceAsc,
        ProductSort::PriceDesc,
        ProductSort::NameAsc,
    ] {
        let expected = ids(&in_sort_order(products.clone(), sort));
        for page_size in [1, 2, 3, 9] {
            let query = ProductQuery {
                limit: page_size,
                ..catalogue(sort)
            };
            let walked = walk_products(store, query, async || {}).await;
            assert_eq!(ids(&walked), expected, "{sort:?} in pages of {page_size}");
        }
    }
    let cheap = ProductQuery {
        max_price: Some(price(1500)),
        limit: 2,
        ..catalogue(ProductSort::NameAsc)
    };
    let cheap_ones = products
        .iter()
        .filter(|product| product.price <= price(1500))
        .cloned()
        .collect();
    let walked = walk_products(store, cheap, async || {}).await;
    assert_eq!(
        ids(&walked),
        ids(&in_sort_order(cheap_ones, ProductSort::NameAsc)),
        "filtered walk"
    );
}

pub async fn products_added_between_pages_neither_repeat_nor_hide_earlier_ones(store: &dyn Store) {
    catalogue_with_ties(store).await;
    let long_ago = now() - Duration::days(30);
    for sort in [
        ProductSort::Newest,
        ProductSort::PriceAsc,
        ProductSort::NameAsc,
    ] {
        let originals = store.list_products(&catalogue(sort)).await.unwrap();
        let mut added = 0;
        let query = ProductQuery {
            limit: 2,
            ..catalogue(sort)
        };
        let walked = walk_products(store, query, async || {
            added += 1;
            // One product ahead of every cursor in these sorts, one behind.
            add_product(store, &format!("Aaa first {added}"), 1, 1).await;
            add(
                store,
                product_added_at(&format!("Zzz last {added}"), 999_999, 1, long_ago),
            )
            .await;
        })
        .await;
        assert!(added > 0, "{sort:?}: the walk had a single page");

        let walked_ids = ids(&walked);
        let mut distinct = walked_ids.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(
            distinct.len(),
            walked_ids.len(),
            "{sort:?}: a product came twice"
        );
        for original in &originals {
            assert!(
                walked_ids.contains(&original.id),
                "{sort:?}: {} was skipped",
                original.name.as_str()
            );
        }
        assert_eq!(
            walked_ids,
            ids(&in_sort_order(walked.clone(), sort)),
            "{sort:?}: out of order"
        );
    }
}

pub async fn products_are_counted(store: &dyn Store) {
    assert_eq!(store.count_products().await.unwrap(), 0);
    let lamp = add_product(store, "Desk Lamp", 2500, 10).await;
    add_product(store, "Chair", 4900, 0).await;
    add_product(store, "Rug", 900, 3).await;
    assert_eq!(store.count_products().await.unwrap(), 3);
    store.delete_product(&lamp.id).await.unwrap();
    assert_eq!(store.count_products().await.unwrap(), 2);
}

pub async fn low_stock_products_are_those_below_the_threshold_fewest_first(store: &dyn Store) {
    for (name, units) in [
        ("Two left", 2),
        ("Plenty", 100),
        ("Sold out", 0),
        ("Five left", 5),
        ("Three left", 3),
    ] {
        add_product(store, name, 1000, units).await;
    }
    let low = |below: i64, limit: usize| store.low_stock_products(stock(below), limit);
    let names = |products: Vec<Product>| {
        products
            .into_iter()
            .map(|p| p.name.as_str().to_owned())
            .collect::<Vec<_>>()
    };

    assert_eq!(
        names(low(5, 10).await.unwrap()),
        ["Sold out", "Two left", "Three left"]
    );
    assert_eq!(names(low(5, 2).await.unwrap()), ["Sold out", "Two left"]);
    assert_eq!(names(low(1, 10).await.unwrap()), ["Sold out"]);
    assert!(low(0, 10).await.unwrap().is_empty());
}

// --- orders ---

/// A signed-up customer.
async fn customer(store: &dyn Store, email: &str) -> UserId {
    let user = new_user(email);
    store.insert_user(&user).await.unwrap();
    user.id
}

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

fn order_cursor(order: &Order) -> Cursor {
    Cursor {
        ordering: ORDERS_NEWEST,
        key: SortKey::Time(order.created_at),
        id: order.id.to_string(),
    }
}

async fn walk_orders(store: &dyn Store, mut query: OrderQuery) -> Vec<Order> {
    let mut seen = Vec::new();
    for _ in 0..100 {
        let page = store.list_orders(&query).await.unwrap();
        assert!(page.len() <= query.limit, "a page longer than its limit");
        let Some(last) = page.last() else {
            return seen;
        };
        query.after = Some(order_cursor(last));
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
