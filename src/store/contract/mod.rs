//! The store contract: behaviour every adapter must have, written once.
//!
//! Each function takes any [`Store`] and asserts; `sqlite/` and `mongo/`
//! instantiate every one of them through [`for_each_contract_test!`], so
//! adding a function here and to that list runs it on both stores.

use std::slice;

use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;

use super::{
    EventScope, IdempotencyClaim, LogBounds, LogEntry, LogQuery, LogReader, MessageQuery,
    MoveOrder, NewLogEntry, NewRefreshToken, OrderQuery, OrderStats, PlaceOrder, ProductQuery,
    RefreshUse, Store, StoreError, now,
};
use crate::auth::RefreshToken;
use crate::domain::{
    AccountStatus, Conversation, Description, Email, Message, MessageId, MessageText, NewOrder,
    NewUser, Order, OrderId, OrderStatus, Position, Price, Product, ProductId, ProductName,
    ProductPatch, ProductSort, Quantity, Role, SearchTerms, Stock, User, UserId, UserName,
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
            a_new_account_is_active_with_no_session_cut_off,
            role_changes_deactivation_and_sign_outs_move_the_session_cut_off_forward_only,
            deactivation_is_kept_and_can_be_undone,
            revoking_an_accounts_refresh_tokens_spares_other_accounts,
            the_first_claim_of_an_idempotency_key_holds_until_it_expires,
            concurrent_claims_of_one_key_agree_on_one_result,
            a_message_is_found_by_id,
            users_are_counted,
            last_activity_is_recorded_and_never_moves_backwards,
            users_are_listed_in_registration_order_with_the_id_breaking_ties,
            user_pages_walk_every_user_exactly_once_even_while_others_register,
            a_message_reads_back_as_written,
            a_thread_holds_both_directions_of_one_pair_newest_first,
            message_pages_walk_every_message_exactly_once,
            messages_sent_while_paging_neither_appear_in_later_pages_nor_shift_them,
            marking_seen_touches_only_the_peers_unseen_messages_to_the_reader,
            concurrent_mark_seen_calls_report_each_message_once,
            undelivered_messages_come_oldest_first_until_marked_delivered,
            conversations_show_each_peer_once_with_the_latest_message_and_unread_count,
            conversation_peers_list_everyone_written_to_or_heard_from_once,
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
            the_event_log_hands_out_consecutive_positions_in_order,
            a_replay_shows_a_reader_only_what_it_may_see,
            trimming_keeps_the_newest_event_and_never_reuses_a_position,
            concurrent_appends_take_distinct_consecutive_positions,
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
        .set_user_role(&new.id, Role::Admin, now())
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
            .set_user_role(&UserId::generate(), Role::Admin, now())
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn a_new_account_is_active_with_no_session_cut_off(store: &dyn Store) {
    let new = new_user("fresh@example.com");
    let user = store.insert_user(&new).await.unwrap();
    assert!(user.active);
    assert!(store.user_by_id(&new.id).await.unwrap().unwrap().active);
    assert_eq!(
        store.account_status(&new.id).await.unwrap(),
        Some(AccountStatus {
            role: Role::User,
            active: true,
            sessions_valid_from: DateTime::UNIX_EPOCH,
        })
    );
    assert_eq!(
        store.account_status(&UserId::generate()).await.unwrap(),
        None
    );
}

async fn cut_off(store: &dyn Store, id: &UserId) -> DateTime<Utc> {
    store
        .account_status(id)
        .await
        .unwrap()
        .expect("the account")
        .sessions_valid_from
}

pub async fn role_changes_deactivation_and_sign_outs_move_the_session_cut_off_forward_only(
    store: &dyn Store,
) {
    let new = new_user("cutoff@example.com");
    store.insert_user(&new).await.unwrap();
    let t1 = now();
    let t2 = t1 + Duration::seconds(10);
    assert!(store.end_user_sessions(&new.id, t2).await.unwrap());
    assert_eq!(cut_off(store, &new.id).await, t2);
    assert!(
        store.end_user_sessions(&new.id, t1).await.unwrap(),
        "an older sign-out still finds the account"
    );
    assert_eq!(
        cut_off(store, &new.id).await,
        t2,
        "the cut-off never moves back"
    );
    store
        .set_user_role(&new.id, Role::Admin, t1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cut_off(store, &new.id).await, t2);
    let t3 = t2 + Duration::seconds(10);
    store
        .set_user_role(&new.id, Role::User, t3)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cut_off(store, &new.id).await, t3);
    let t4 = t3 + Duration::seconds(10);
    store
        .set_user_active(&new.id, false, t4)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cut_off(store, &new.id).await, t4);
    assert!(
        !store
            .end_user_sessions(&UserId::generate(), t4)
            .await
            .unwrap()
    );
}

pub async fn deactivation_is_kept_and_can_be_undone(store: &dyn Store) {
    let new = new_user("leaver@example.com");
    store.insert_user(&new).await.unwrap();
    let gone = store
        .set_user_active(&new.id, false, now())
        .await
        .unwrap()
        .unwrap();
    assert!(!gone.active);
    assert!(!store.user_by_id(&new.id).await.unwrap().unwrap().active);
    let email = Email::parse("leaver@example.com").unwrap();
    let credentials = store.credentials_by_email(&email).await.unwrap().unwrap();
    assert!(!credentials.user.active, "sign-in sees the deactivation");
    assert!(!store.account_status(&new.id).await.unwrap().unwrap().active);
    let back = store
        .set_user_active(&new.id, true, now())
        .await
        .unwrap()
        .unwrap();
    assert!(back.active);
    assert!(store.account_status(&new.id).await.unwrap().unwrap().active);
    assert!(
        store
            .set_user_active(&UserId::generate(), false, now())
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn revoking_an_accounts_refresh_tokens_spares_other_accounts(store: &dyn Store) {
    let leaver = new_user("leaver-tokens@example.com");
    let stayer = new_user("stayer-tokens@example.com");
    store.insert_user(&leaver).await.unwrap();
    store.insert_user(&stayer).await.unwrap();
    let (first, first_record) = refresh_token(&leaver.id, "leaver-1", Duration::days(1));
    let (second, second_record) = refresh_token(&leaver.id, "leaver-2", Duration::days(1));
    let (kept, kept_record) = refresh_token(&stayer.id, "stayer-1", Duration::days(1));
    for record in [&first_record, &second_record, &kept_record] {
        store.insert_refresh_token(record).await.unwrap();
    }
    assert_eq!(
        store
            .revoke_user_refresh_tokens(&leaver.id, now())
            .await
            .unwrap(),
        2
    );
    for token in [&first, &second] {
        assert_eq!(
            store.use_refresh_token(&token.hash(), now()).await.unwrap(),
            RefreshUse::Invalid
        );
    }
    assert!(matches!(
        store.use_refresh_token(&kept.hash(), now()).await.unwrap(),
        RefreshUse::Fresh { .. }
    ));
    assert_eq!(
        store
            .revoke_user_refresh_tokens(&leaver.id, now())
            .await
            .unwrap(),
        0
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

/// A new account registered at `at`.
fn registered_at(email: &str, at: DateTime<Utc>) -> NewUser {
    NewUser {
        created_at: at,
        ..new_user(email)
    }
}

async fn last_active(store: &dyn Store, id: &UserId) -> Option<DateTime<Utc>> {
    store
        .user_by_id(id)
        .await
        .unwrap()
        .expect("the user")
        .last_active
}

pub async fn last_activity_is_recorded_and_never_moves_backwards(store: &dyn Store) {
    let ada = customer(store, "ada@example.com").await;
    let bob = customer(store, "bob@example.com").await;
    let at = now();

    store.touch_last_active(&ada, at).await.unwrap();
    assert_eq!(last_active(store, &ada).await, Some(at));
    assert_eq!(last_active(store, &bob).await, None, "only the given user");

    store
        .touch_last_active(&ada, at - Duration::minutes(5))
        .await
        .unwrap();
    assert_eq!(
        last_active(store, &ada).await,
        Some(at),
        "an older time is ignored"
    );
    store.touch_last_active(&ada, at).await.unwrap();
    assert_eq!(last_active(store, &ada).await, Some(at), "the same time");

    let later = at + Duration::milliseconds(1_500);
    store.touch_last_active(&ada, later).await.unwrap();
    assert_eq!(last_active(store, &ada).await, Some(later));

    let times: Vec<DateTime<Utc>> = [7, 3, 9, 1, 8, 2]
        .into_iter()
        .map(|minutes| later + Duration::minutes(minutes))
        .collect();
    join_all(times.iter().map(|at| store.touch_last_active(&bob, *at)))
        .await
        .into_iter()
        .for_each(|touched| touched.unwrap());
    assert_eq!(
        last_active(store, &bob).await,
        Some(later + Duration::minutes(9)),
        "concurrent touches leave the latest"
    );

    store
        .touch_last_active(&UserId::generate(), later)
        .await
        .unwrap();
    assert_eq!(
        store.count_users().await.unwrap(),
        2,
        "touching an unknown user creates nothing"
    );
}

/// Seven accounts registered out of insertion order, several at one instant.
async fn registrations_with_ties(store: &dyn Store) -> Vec<User> {
    let base = now() - Duration::hours(1);
    let mut users = Vec::new();
    for (n, second) in [2, 0, 2, 1, 0, 3, 2].into_iter().enumerate() {
        let new = registered_at(
            &format!("u{n}@example.com"),
            base + Duration::seconds(second),
        );
        users.push(store.insert_user(&new).await.unwrap());
    }
    users
}

/// `users` in registration order: the time, then the id.
fn oldest_first(mut users: Vec<User>) -> Vec<User> {
    users.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    users
}

/// Reads the directory in pages of `limit`, each starting after the last user
/// of the one before, calling `between_pages` after each full page.
async fn walk_users(
    store: &dyn Store,
    limit: usize,
    mut between_pages: impl AsyncFnMut(),
) -> Vec<User> {
    let mut seen: Vec<User> = Vec::new();
    let mut after = None;
    for _ in 0..100 {
        let page = store.list_users(after.as_ref(), limit).await.unwrap();
        assert!(page.len() <= limit, "a page longer than its limit");
        let Some(last) = page.last() else {
            return seen;
        };
        after = Some(last.cursor());
        let full = page.len() == limit;
        seen.extend(page);
        if !full {
            return seen;
        }
        between_pages().await;
    }
    panic!("the walk never ended: {seen:?}");
}

pub async fn users_are_listed_in_registration_order_with_the_id_breaking_ties(store: &dyn Store) {
    let users = oldest_first(registrations_with_ties(store).await);

    assert_eq!(store.list_users(None, 100).await.unwrap(), users);
    assert_eq!(store.list_users(None, 3).await.unwrap(), users[..3]);
    assert_eq!(
        store.list_users(Some(&users[2].cursor()), 2).await.unwrap(),
        users[3..5],
        "strictly after the cursor"
    );
    assert!(
        store
            .list_users(Some(&users[6].cursor()), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn user_pages_walk_every_user_exactly_once_even_while_others_register(store: &dyn Store) {
    let users = oldest_first(registrations_with_ties(store).await);
    for page_size in [1, 2, 3, 7, 10] {
        let walked = walk_users(store, page_size, async || {}).await;
        assert_eq!(walked, users, "pages of {page_size}");
    }

    let long_ago = now() - Duration::days(30);
    let soon = now();
    let mut newcomers = Vec::new();
    let walked = walk_users(store, 2, async || {
        let n = newcomers.len();
        // After every cursor so far, so listed later in this walk.
        let at = soon + Duration::seconds(n as i64);
        let new = registered_at(&format!("new{n}@example.com"), at);
        newcomers.push(store.insert_user(&new).await.unwrap());
        // Behind every cursor: never listed by this walk, never shifts it.
        let old = registered_at(&format!("old{n}@example.com"), long_ago);
        store.insert_user(&old).await.unwrap();
    })
    .await;
    assert!(!newcomers.is_empty(), "the walk had a single page");
    let mut expected = users;
    expected.extend(oldest_first(newcomers));
    assert_eq!(walked, expected);
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

// --- messages ---

/// `from` writes to `to` at `at`: neither seen nor delivered yet.
fn message_at(from: &UserId, to: &UserId, at: DateTime<Utc>) -> Message {
    Message {
        id: MessageId::generate(),
        from: from.clone(),
        to: to.clone(),
        text: MessageText::parse(&format!("{from} to {to}")).unwrap(),
        seen_at: None,
        delivered: false,
        created_at: at,
    }
}

/// Stores a message from `from` to `to` written at `at`.
async fn send(store: &dyn Store, from: &UserId, to: &UserId, at: DateTime<Utc>) -> Message {
    let message = message_at(from, to, at);
    store.insert_message(&message).await.unwrap();
    message
}

/// Everything of `participant`'s (with `peer` only, if given), in one page.
fn thread(participant: &UserId, peer: Option<&UserId>) -> MessageQuery {
    MessageQuery {
        participant: participant.clone(),
        peer: peer.cloned(),
        before: None,
        limit: 1000,
    }
}

async fn page(store: &dyn Store, query: &MessageQuery) -> Vec<Message> {
    store.message_page(query).await.unwrap()
}

/// Thread order: the time, then the id, both descending.
fn newest_messages_first(mut messages: Vec<Message>) -> Vec<Message> {
    messages.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    messages
}

/// Delivery order: the time, then the id, both ascending.
fn oldest_messages_first(mut messages: Vec<Message>) -> Vec<Message> {
    messages.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    messages
}

fn message_ids(messages: &[Message]) -> Vec<MessageId> {
    messages.iter().map(|message| message.id.clone()).collect()
}

fn sorted_ids(messages: &[Message]) -> Vec<MessageId> {
    let mut ids = message_ids(messages);
    ids.sort();
    ids
}

/// The messages between `a` and `b`, either way, newest first.
fn between(messages: &[Message], a: &UserId, b: &UserId) -> Vec<Message> {
    newest_messages_first(
        messages
            .iter()
            .filter(|message| message.involves(a) && message.involves(b))
            .cloned()
            .collect(),
    )
}

/// Every message `user` sent or received, newest first.
fn involving(messages: &[Message], user: &UserId) -> Vec<Message> {
    newest_messages_first(
        messages
            .iter()
            .filter(|message| message.involves(user))
            .cloned()
            .collect(),
    )
}

/// Reads `query` page by page, each page ending before the last message of
/// the one before, calling `between_pages` after each full page.
async fn walk_messages(
    store: &dyn Store,
    mut query: MessageQuery,
    mut between_pages: impl AsyncFnMut(),
) -> Vec<Message> {
    let mut seen = Vec::new();
    for _ in 0..100 {
        let page = page(store, &query).await;
        assert!(page.len() <= query.limit, "a page longer than its limit");
        let Some(last) = page.last() else {
            return seen;
        };
        query.before = Some(last.cursor());
        let full = page.len() == query.limit;
        seen.extend(page);
        if !full {
            return seen;
        }
        between_pages().await;
    }
    panic!("the walk never ended: {:?}", message_ids(&seen));
}

/// Ada, Bob and Cleo writing to each other, several messages at one instant.
async fn three_people_chatting(store: &dyn Store) -> (UserId, UserId, UserId, Vec<Message>) {
    let ada = customer(store, "ada@example.com").await;
    let bob = customer(store, "bob@example.com").await;
    let cleo = customer(store, "cleo@example.com").await;
    let base = now() - Duration::hours(1);
    let mut messages = Vec::new();
    for (from, to, second) in [
        (&ada, &bob, 0),
        (&bob, &ada, 0),
        (&ada, &bob, 1),
        (&ada, &cleo, 1),
        (&bob, &ada, 2),
        (&cleo, &ada, 2),
        (&bob, &cleo, 2),
        (&ada, &bob, 2),
        (&bob, &ada, 3),
        (&cleo, &bob, 3),
        (&ada, &bob, 4),
    ] {
        messages.push(send(store, from, to, base + Duration::seconds(second)).await);
    }
    (ada, bob, cleo, messages)
}

pub async fn a_message_reads_back_as_written(store: &dyn Store) {
    let ada = customer(store, "ada@example.com").await;
    let bob = customer(store, "bob@example.com").await;
    let written = Message {
        text: MessageText::parse("  Café at 10?\nBring the map 🗺️ ").unwrap(),
        ..message_at(&ada, &bob, now())
    };

    store.insert_message(&written).await.unwrap();

    let read = page(store, &thread(&ada, Some(&bob))).await;
    assert_eq!(read, slice::from_ref(&written));
    let read = &read[0];
    assert_eq!(read.id, written.id);
    assert_eq!((&read.from, &read.to), (&ada, &bob));
    assert_eq!(read.text.as_str(), "  Café at 10?\nBring the map 🗺️ ");
    assert_eq!(read.created_at, written.created_at);
    assert_eq!(read.seen_at, None);
    assert!(!read.delivered);
    assert_eq!(
        page(store, &thread(&bob, Some(&ada))).await,
        slice::from_ref(&written),
        "the recipient reads the same message"
    );
    assert_eq!(
        store.undelivered_messages(&bob, 10).await.unwrap(),
        slice::from_ref(&written)
    );

    let again = store.insert_message(&written).await;
    assert!(matches!(again, Err(StoreError::Duplicate)), "{again:?}");
    assert_eq!(page(store, &thread(&ada, None)).await, [written]);
}

pub async fn a_thread_holds_both_directions_of_one_pair_newest_first(store: &dyn Store) {
    let (ada, bob, cleo, messages) = three_people_chatting(store).await;
    let dan = customer(store, "dan@example.com").await;

    let ada_and_bob = between(&messages, &ada, &bob);
    assert_eq!(ada_and_bob.len(), 7);
    assert_eq!(page(store, &thread(&ada, Some(&bob))).await, ada_and_bob);
    assert_eq!(page(store, &thread(&bob, Some(&ada))).await, ada_and_bob);
    assert_eq!(
        page(store, &thread(&ada, None)).await,
        involving(&messages, &ada),
        "without a peer: all of a participant's messages"
    );

    let cleos = page(store, &thread(&cleo, None)).await;
    assert_eq!(cleos, involving(&messages, &cleo));
    assert!(
        cleos.iter().all(|message| !ada_and_bob.contains(message)),
        "a third user sees nothing of the pair's thread"
    );
    assert_eq!(
        page(store, &thread(&cleo, Some(&ada))).await,
        between(&messages, &cleo, &ada)
    );
    assert_eq!(
        page(store, &thread(&cleo, Some(&bob))).await,
        between(&messages, &cleo, &bob)
    );
    assert!(page(store, &thread(&dan, None)).await.is_empty());
    assert!(page(store, &thread(&dan, Some(&ada))).await.is_empty());

    let newest_three = MessageQuery {
        limit: 3,
        ..thread(&ada, Some(&bob))
    };
    assert_eq!(page(store, &newest_three).await, ada_and_bob[..3]);
}

pub async fn message_pages_walk_every_message_exactly_once(store: &dyn Store) {
    let (ada, bob, cleo, messages) = three_people_chatting(store).await;
    for (query, expected) in [
        (thread(&ada, Some(&bob)), between(&messages, &ada, &bob)),
        (thread(&cleo, Some(&ada)), between(&messages, &cleo, &ada)),
        (thread(&ada, None), involving(&messages, &ada)),
        (thread(&cleo, None), involving(&messages, &cleo)),
    ] {
        for page_size in [1, 2, 3, 100] {
            let query = MessageQuery {
                limit: page_size,
                ..query.clone()
            };
            let walked = walk_messages(store, query.clone(), async || {}).await;
            assert_eq!(walked, expected, "{query:?}");
        }
    }
}

pub async fn messages_sent_while_paging_neither_appear_in_later_pages_nor_shift_them(
    store: &dyn Store,
) {
    let (ada, bob, cleo, messages) = three_people_chatting(store).await;
    let mut sent = 0;
    for peer in [Some(&bob), None] {
        let expected = page(store, &thread(&ada, peer)).await;
        let sent_before = sent;
        let query = MessageQuery {
            limit: 2,
            ..thread(&ada, peer)
        };
        let walked = walk_messages(store, query, async || {
            sent += 3;
            send(store, &ada, &bob, now()).await;
            send(store, &bob, &ada, now()).await;
            send(store, &cleo, &ada, now()).await;
        })
        .await;
        assert!(sent > sent_before, "the walk had a single page");
        assert_eq!(walked, expected, "peer {peer:?}");
    }
    assert_eq!(
        page(store, &thread(&ada, None)).await.len(),
        involving(&messages, &ada).len() + sent,
        "the messages sent while paging were stored"
    );
}

pub async fn marking_seen_touches_only_the_peers_unseen_messages_to_the_reader(store: &dyn Store) {
    let ada = customer(store, "ada@example.com").await;
    let bob = customer(store, "bob@example.com").await;
    let cleo = customer(store, "cleo@example.com").await;
    let base = now() - Duration::hours(1);
    let first_look = base + Duration::seconds(30);
    let mut already_seen = send(store, &bob, &ada, base).await;
    assert_eq!(
        store.mark_seen(&ada, &bob, first_look).await.unwrap(),
        [already_seen.id.clone()]
    );
    already_seen.seen_at = Some(first_look);
    let mut unseen = Vec::new();
    for second in [60, 61, 61, 62, 63] {
        unseen.push(send(store, &bob, &ada, base + Duration::seconds(second)).await);
    }
    let at_62 = base + Duration::seconds(62);
    let adas_own = send(store, &ada, &bob, at_62).await;
    let from_cleo = send(store, &cleo, &ada, at_62).await;
    let bob_to_cleo = send(store, &bob, &cleo, at_62).await;

    let at = base + Duration::seconds(120);
    let marked = store.mark_seen(&ada, &bob, at).await.unwrap();

    assert_eq!(
        marked,
        sorted_ids(&unseen),
        "the peer's unseen ones, sorted"
    );
    let again = store
        .mark_seen(&ada, &bob, at + Duration::seconds(1))
        .await
        .unwrap();
    assert!(again.is_empty(), "a second call marks nothing: {again:?}");
    for message in &mut unseen {
        message.seen_at = Some(at);
    }
    let mut adas = unseen;
    adas.extend([already_seen, adas_own.clone(), from_cleo]);
    assert_eq!(
        page(store, &thread(&ada, None)).await,
        newest_messages_first(adas),
        "seen_at set on those only, the earlier sighting kept"
    );
    assert_eq!(
        page(store, &thread(&cleo, Some(&bob))).await,
        [bob_to_cleo],
        "other threads untouched"
    );

    assert!(
        store
            .mark_seen(&ada, &UserId::generate(), at)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.mark_seen(&bob, &ada, at).await.unwrap(),
        [adas_own.id],
        "the other way round: ada's message to bob"
    );
}

pub async fn concurrent_mark_seen_calls_report_each_message_once(store: &dyn Store) {
    let ada = customer(store, "ada@example.com").await;
    let bob = customer(store, "bob@example.com").await;
    let mut unseen = Vec::new();
    for _ in 0..10 {
        unseen.push(send(store, &bob, &ada, now()).await);
    }

    let at = now();
    let calls = (0..4).map(|_| store.mark_seen(&ada, &bob, at));
    let outcomes = join_all(calls).await;

    let mut reported: Vec<MessageId> = outcomes
        .into_iter()
        .flat_map(|outcome| outcome.unwrap())
        .collect();
    reported.sort();
    assert_eq!(
        reported,
        sorted_ids(&unseen),
        "every message newly marked by exactly one call"
    );
}

pub async fn undelivered_messages_come_oldest_first_until_marked_delivered(store: &dyn Store) {
    let ada = customer(store, "ada@example.com").await;
    let bob = customer(store, "bob@example.com").await;
    let cleo = customer(store, "cleo@example.com").await;
    let base = now() - Duration::hours(1);
    let at = |second: i64| base + Duration::seconds(second);
    let mut to_bob = Vec::new();
    for (from, second) in [(&ada, 2), (&cleo, 0), (&ada, 1), (&cleo, 1), (&ada, 3)] {
        to_bob.push(send(store, from, &bob, at(second)).await);
    }
    let to_ada = send(store, &bob, &ada, at(0)).await;
    send(store, &ada, &cleo, at(0)).await;
    let to_bob = oldest_messages_first(to_bob);
    let undelivered =
        async |to: &UserId, limit: usize| store.undelivered_messages(to, limit).await.unwrap();

    assert_eq!(undelivered(&bob, 100).await, to_bob);
    assert_eq!(undelivered(&bob, 2).await, to_bob[..2], "the limit");
    assert_eq!(undelivered(&ada, 100).await, slice::from_ref(&to_ada));

    let handed = message_ids(&to_bob[..2]);
    store.mark_delivered(&handed).await.unwrap();
    assert_eq!(undelivered(&bob, 100).await, to_bob[2..]);
    store.mark_delivered(&handed).await.unwrap();
    store.mark_delivered(&[]).await.unwrap();
    store
        .mark_delivered(&[MessageId::generate()])
        .await
        .unwrap();
    assert_eq!(
        undelivered(&bob, 100).await,
        to_bob[2..],
        "marking again changes nothing"
    );
    assert_eq!(undelivered(&ada, 100).await, [to_ada], "only the given ids");
    for message in page(store, &thread(&bob, None)).await {
        assert_eq!(
            message.delivered,
            handed.contains(&message.id),
            "{message:?}"
        );
        assert_eq!(message.seen_at, None, "delivered is not seen");
    }

    store.mark_delivered(&message_ids(&to_bob)).await.unwrap();
    assert!(undelivered(&bob, 100).await.is_empty());
}

pub async fn conversations_show_each_peer_once_with_the_latest_message_and_unread_count(
    store: &dyn Store,
) {
    let ada = customer(store, "ada@example.com").await;
    let bob = customer(store, "bob@example.com").await;
    let cleo = customer(store, "cleo@example.com").await;
    let dan = customer(store, "dan@example.com").await;
    let eve = customer(store, "eve@example.com").await;
    let base = now() - Duration::hours(1);
    let at = |second: i64| base + Duration::seconds(second);
    send(store, &bob, &ada, at(0)).await;
    send(store, &bob, &ada, at(1)).await;
    let adas_reply = send(store, &ada, &bob, at(3)).await;
    send(store, &ada, &cleo, at(0)).await;
    let cleos_latest = send(store, &cleo, &ada, at(4)).await;
    let dans = [
        send(store, &dan, &ada, at(2)).await,
        send(store, &dan, &ada, at(2)).await,
    ];
    // At one instant the id decides which is latest, as in the thread.
    let dans_latest = newest_messages_first(dans.to_vec()).remove(0);
    let cleo_to_bob = send(store, &cleo, &bob, at(5)).await;
    let conversation = |peer: &UserId, last_message: &Message, unread: u64| Conversation {
        peer: peer.clone(),
        last_message: last_message.clone(),
        unread,
    };

    let adas = vec![
        conversation(&cleo, &cleos_latest, 1),
        conversation(&bob, &adas_reply, 2),
        conversation(&dan, &dans_latest, 2),
    ];
    assert_eq!(store.conversations(&ada, 10).await.unwrap(), adas);
    assert_eq!(
        store.conversations(&ada, 2).await.unwrap(),
        adas[..2],
        "the limit"
    );
    assert_eq!(
        store.conversations(&bob, 10).await.unwrap(),
        [
            conversation(&cleo, &cleo_to_bob, 1),
            conversation(&ada, &adas_reply, 1),
        ],
        "unread counts only the peer's messages"
    );
    assert!(store.conversations(&eve, 10).await.unwrap().is_empty());
    for listed in &adas {
        let newest = MessageQuery {
            limit: 1,
            ..thread(&ada, Some(&listed.peer))
        };
        assert_eq!(
            page(store, &newest).await,
            slice::from_ref(&listed.last_message),
            "the last message is the thread's first"
        );
    }

    store.mark_seen(&ada, &bob, now()).await.unwrap();
    let seen_at = now();
    store.mark_seen(&ada, &dan, seen_at).await.unwrap();

    let dans_latest = Message {
        seen_at: Some(seen_at),
        ..dans_latest
    };
    assert_eq!(
        store.conversations(&ada, 10).await.unwrap(),
        [
            conversation(&cleo, &cleos_latest, 1),
            conversation(&bob, &adas_reply, 0),
            conversation(&dan, &dans_latest, 0),
        ]
    );
}

pub async fn conversation_peers_list_everyone_written_to_or_heard_from_once(store: &dyn Store) {
    let ada = customer(store, "ada@example.com").await;
    let bob = customer(store, "bob@example.com").await;
    let cleo = customer(store, "cleo@example.com").await;
    let dan = customer(store, "dan@example.com").await;
    let eve = customer(store, "eve@example.com").await;
    let fred = customer(store, "fred@example.com").await;
    for (from, to) in [
        (&ada, &bob),
        (&ada, &bob),
        (&bob, &ada),
        (&cleo, &ada),
        (&cleo, &ada),
        (&ada, &dan),
        (&eve, &bob),
    ] {
        send(store, from, to, now()).await;
    }
    let peers = async |user: &UserId| {
        let mut peers = store.conversation_peers(user).await.unwrap();
        peers.sort();
        peers
    };
    let sorted = |mut ids: Vec<UserId>| {
        ids.sort();
        ids
    };

    assert_eq!(
        peers(&ada).await,
        sorted(vec![bob.clone(), cleo.clone(), dan.clone()])
    );
    assert_eq!(peers(&bob).await, sorted(vec![ada.clone(), eve.clone()]));
    assert_eq!(peers(&cleo).await, slice::from_ref(&ada));
    assert_eq!(peers(&dan).await, [ada]);
    assert!(peers(&fred).await.is_empty());
}

fn claim(user: &UserId, key: &str, fingerprint: &str, at: DateTime<Utc>) -> IdempotencyClaim {
    IdempotencyClaim {
        user_id: user.clone(),
        key: key.to_owned(),
        fingerprint: fingerprint.to_owned(),
        result_id: OrderId::generate().to_string(),
        created_at: at,
    }
}

pub async fn the_first_claim_of_an_idempotency_key_holds_until_it_expires(store: &dyn Store) {
    let ada = UserId::generate();
    let bob = UserId::generate();
    let t0 = now();
    let expired_before = t0 - Duration::hours(24);
    let first = claim(&ada, "key-1", "fp-a", t0);
    assert_eq!(
        store
            .claim_idempotency_key(&first, expired_before)
            .await
            .unwrap(),
        first
    );
    let retry = claim(&ada, "key-1", "fp-b", t0 + Duration::seconds(1));
    assert_eq!(
        store
            .claim_idempotency_key(&retry, expired_before)
            .await
            .unwrap(),
        first,
        "the earlier claim holds, whatever the retry asks"
    );
    let other_user = claim(&bob, "key-1", "fp-b", t0);
    assert_eq!(
        store
            .claim_idempotency_key(&other_user, expired_before)
            .await
            .unwrap(),
        other_user,
        "keys are per user"
    );
    let a_day_later = claim(&ada, "key-1", "fp-c", t0 + Duration::hours(25));
    assert_eq!(
        store
            .claim_idempotency_key(&a_day_later, t0 + Duration::hours(1))
            .await
            .unwrap(),
        a_day_later,
        "an expired claim is replaced"
    );
    assert_eq!(
        store
            .forget_idempotency_keys(t0 + Duration::hours(2))
            .await
            .unwrap(),
        1,
        "Bob's claim of t0 is forgotten, Ada's of t0+25h is not"
    );
    let again = claim(&bob, "key-1", "fp-d", t0 + Duration::hours(3));
    assert_eq!(
        store
            .claim_idempotency_key(&again, expired_before)
            .await
            .unwrap(),
        again
    );
}

pub async fn concurrent_claims_of_one_key_agree_on_one_result(store: &dyn Store) {
    let user = UserId::generate();
    let at = now();
    let claims: Vec<_> = (0..8).map(|_| claim(&user, "race", "fp", at)).collect();
    let outcomes = join_all(
        claims
            .iter()
            .map(|claim| store.claim_idempotency_key(claim, at - Duration::hours(24))),
    )
    .await;
    let winners: std::collections::BTreeSet<String> = outcomes
        .into_iter()
        .map(|outcome| outcome.unwrap().result_id)
        .collect();
    assert_eq!(winners.len(), 1, "{winners:?}");
}

pub async fn a_message_is_found_by_id(store: &dyn Store) {
    let ada = customer(store, "ada-by-id@example.com").await;
    let bob = customer(store, "bob-by-id@example.com").await;
    let message = Message {
        id: MessageId::generate(),
        from: ada.clone(),
        to: bob,
        text: MessageText::parse("found").unwrap(),
        seen_at: None,
        delivered: false,
        created_at: now(),
    };
    store.insert_message(&message).await.unwrap();
    assert_eq!(
        store.message_by_id(&message.id).await.unwrap(),
        Some(message)
    );
    assert_eq!(
        store.message_by_id(&MessageId::generate()).await.unwrap(),
        None
    );
}

// The event log.

/// An event for the log tests, visible to `scope`.
pub fn log_entry(payload: &str, scope: EventScope, at: DateTime<Utc>) -> NewLogEntry {
    NewLogEntry {
        at,
        kind: "test_event".into(),
        scope,
        payload: payload.into(),
    }
}

fn everyone() -> EventScope {
    EventScope {
        everyone: true,
        ..EventScope::default()
    }
}

async fn read_all(store: &dyn Store, after: Position, reader: Option<LogReader>) -> Vec<LogEntry> {
    let head = store.event_log_bounds().await.unwrap().head;
    store
        .read_events(&LogQuery {
            after,
            up_to: head,
            reader,
            limit: 1000,
        })
        .await
        .unwrap()
}

fn payloads(entries: &[LogEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.entry.payload.as_str()).collect()
}

pub async fn the_event_log_hands_out_consecutive_positions_in_order(store: &dyn Store) {
    assert_eq!(
        store.event_log_bounds().await.unwrap(),
        LogBounds {
            first: None,
            head: Position::START
        },
        "a log never written has its head at the start"
    );
    let at = now();
    let first = store
        .append_events(&[
            log_entry("a", everyone(), at),
            log_entry("b", everyone(), at),
            log_entry("c", everyone(), at),
        ])
        .await
        .unwrap();
    assert_eq!(first, [1, 2, 3].map(Position::new));
    let second = store
        .append_events(&[
            log_entry("d", everyone(), at),
            log_entry("e", everyone(), at),
        ])
        .await
        .unwrap();
    assert_eq!(second, [4, 5].map(Position::new));
    assert_eq!(
        store.event_log_bounds().await.unwrap(),
        LogBounds {
            first: Some(Position::new(1)),
            head: Position::new(5)
        }
    );
    let all = read_all(store, Position::START, None).await;
    assert_eq!(payloads(&all), ["a", "b", "c", "d", "e"]);
    assert_eq!(
        all[0].entry,
        log_entry("a", everyone(), at),
        "reads back as written"
    );
    let middle = store
        .read_events(&LogQuery {
            after: Position::new(2),
            up_to: Position::new(5),
            reader: None,
            limit: 2,
        })
        .await
        .unwrap();
    assert_eq!(
        payloads(&middle),
        ["c", "d"],
        "after is exclusive, limit holds"
    );
    let bounded = store
        .read_events(&LogQuery {
            after: Position::new(2),
            up_to: Position::new(3),
            reader: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(payloads(&bounded), ["c"], "up_to is inclusive");
}

pub async fn a_replay_shows_a_reader_only_what_it_may_see(store: &dyn Store) {
    let ada = UserId::generate();
    let bob = UserId::generate();
    let cyd = UserId::generate();
    let admin = UserId::generate();
    let at = now();
    let scope = |admins: bool, users: &[&UserId]| EventScope {
        everyone: false,
        admins,
        users: users.iter().map(|u| (*u).clone()).collect(),
    };
    store
        .append_events(&[
            log_entry("everyone", everyone(), at),
            log_entry("admins", scope(true, &[]), at),
            log_entry("ada", scope(false, &[&ada]), at),
            log_entry("ada+bob", scope(false, &[&ada, &bob]), at),
            log_entry("cyd+admins", scope(true, &[&cyd]), at),
        ])
        .await
        .unwrap();
    let reader = |user: &UserId, admin: bool| {
        Some(LogReader {
            user: user.clone(),
            admin,
        })
    };
    let seen = |entries: Vec<LogEntry>| {
        entries
            .iter()
            .map(|e| e.entry.payload.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        seen(read_all(store, Position::START, reader(&ada, false)).await),
        ["everyone", "ada", "ada+bob"]
    );
    assert_eq!(
        seen(read_all(store, Position::START, reader(&bob, false)).await),
        ["everyone", "ada+bob"]
    );
    assert_eq!(
        seen(read_all(store, Position::START, reader(&cyd, false)).await),
        ["everyone", "cyd+admins"]
    );
    assert_eq!(
        seen(read_all(store, Position::START, reader(&admin, true)).await),
        ["everyone", "admins", "cyd+admins"]
    );
    assert_eq!(read_all(store, Position::START, None).await.len(), 5);
    let ada_later = read_all(store, Position::new(3), reader(&ada, false)).await;
    assert_eq!(
        ada_later.iter().map(|e| e.position).collect::<Vec<_>>(),
        [Position::new(4)]
    );
}

pub async fn trimming_keeps_the_newest_event_and_never_reuses_a_position(store: &dyn Store) {
    let old = now() - Duration::days(2);
    store
        .append_events(&[
            log_entry("1", everyone(), old),
            log_entry("2", everyone(), old),
            log_entry("3", everyone(), old),
        ])
        .await
        .unwrap();
    let trimmed = store.trim_events(now() - Duration::days(1)).await.unwrap();
    assert_eq!(trimmed, 2, "every old event but the newest");
    assert_eq!(
        store.event_log_bounds().await.unwrap(),
        LogBounds {
            first: Some(Position::new(3)),
            head: Position::new(3)
        }
    );
    let next = store
        .append_events(&[log_entry("4", everyone(), now())])
        .await
        .unwrap();
    assert_eq!(next, [Position::new(4)]);
    assert_eq!(
        store.trim_events(now() - Duration::days(1)).await.unwrap(),
        1
    );
    assert_eq!(
        payloads(&read_all(store, Position::START, None).await),
        ["4"]
    );
}

pub async fn concurrent_appends_take_distinct_consecutive_positions(store: &dyn Store) {
    let at = now();
    let appends = (0..8).map(|batch| async move {
        let entries: Vec<NewLogEntry> = (0..3)
            .map(|n| log_entry(&format!("{batch}-{n}"), everyone(), at))
            .collect();
        store.append_events(&entries).await.unwrap()
    });
    let batches = join_all(appends).await;
    for positions in &batches {
        assert!(
            positions.windows(2).all(|w| w[1] > w[0]),
            "a batch keeps its order: {positions:?}"
        );
    }
    let mut all: Vec<u64> = batches.iter().flatten().map(|p| p.value()).collect();
    all.sort_unstable();
    assert_eq!(all, (1..=24).collect::<Vec<_>>(), "gap-free, none twice");
    let logged = read_all(store, Position::START, None).await;
    assert_eq!(logged.len(), 24);
    for positions in &batches {
        let batch: Vec<&str> = positions
            .iter()
            .map(|p| logged[p.value() as usize - 1].entry.payload.as_str())
            .collect();
        let prefix = batch[0].split('-').next().unwrap().to_owned();
        assert_eq!(
            batch,
            (0..3).map(|n| format!("{prefix}-{n}")).collect::<Vec<_>>(),
            "each position holds its own event"
        );
    }
}
