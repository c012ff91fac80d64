//! The contract of [`ProductStore`](crate::store::ProductStore): writes,
//! partial updates, search, price filters, every sort and its pages, low
//! stock.

use std::slice;

use chrono::{DateTime, Duration, Utc};

use crate::domain::{
    Description, Price, Product, ProductId, ProductName, ProductPatch, ProductSort, SearchTerms,
    Stock,
};
use crate::store::{ProductQuery, Store, now};

pub(super) fn price(cents: i64) -> Price {
    Price::from_cents(cents).unwrap()
}

pub(super) fn stock(units: i64) -> Stock {
    Stock::parse(units).unwrap()
}

/// A product named `name` at `cents`, with `units` in stock, added at `added_at`.
pub(super) fn product_added_at(
    name: &str,
    cents: i64,
    units: i64,
    added_at: DateTime<Utc>,
) -> Product {
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
pub(super) async fn add_product(store: &dyn Store, name: &str, cents: i64, units: i64) -> Product {
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

pub async fn product_counts_match_the_filters_whatever_the_page(store: &dyn Store) {
    let products = catalogue_with_ties(store).await;
    let renamed = ProductPatch {
        name: Some(ProductName::parse("Floor lamp").unwrap()),
        ..ProductPatch::default()
    };
    store
        .update_product(&products[5].id, &renamed, now())
        .await
        .unwrap();
    let filtered = |search: Option<&str>, min: Option<i64>, max: Option<i64>| ProductQuery {
        search: search.and_then(|text| SearchTerms::parse(text).unwrap()),
        min_price: min.map(price),
        max_price: max.map(price),
        ..catalogue(ProductSort::PriceAsc)
    };
    for (query, expected) in [
        (filtered(None, None, None), 9),
        (filtered(Some("lamp"), None, None), 4),
        (filtered(Some("desk LA"), None, None), 3),
        (filtered(Some("rug"), None, None), 0),
        (filtered(None, Some(1500), None), 6),
        (filtered(None, None, Some(1500)), 6),
        (filtered(None, Some(900), Some(900)), 3),
        (filtered(Some("lamp"), Some(1000), Some(2000)), 2),
        (filtered(Some("nothing"), None, None), 0),
    ] {
        let counted = store
            .count_matching_products(&query.filter())
            .await
            .unwrap();
        assert_eq!(counted, expected, "{query:?}");
        for sort in [ProductSort::Newest, ProductSort::NameAsc] {
            let walked = walk_products(
                store,
                ProductQuery {
                    sort,
                    limit: 2,
                    ..query.clone()
                },
                async || {},
            )
            .await;
            assert_eq!(
                counted,
                walked.len() as u64,
                "a walk of {query:?} by {sort:?}"
            );
        }
        let past_the_first = ProductQuery {
            after: store
                .list_products(&query)
                .await
                .unwrap()
                .first()
                .map(|first| query.sort.cursor_after(first)),
            ..query.clone()
        };
        assert_eq!(
            store
                .count_matching_products(&past_the_first.filter())
                .await
                .unwrap(),
            counted,
            "the cursor is not a filter"
        );
    }
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
