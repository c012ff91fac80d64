//! The contract of [`UserStore`](crate::store::UserStore): accounts,
//! credentials, roles, deactivation, the session cut-off, activity and the
//! registration-order list.

use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;

use super::{customer, new_user};
use crate::domain::{AccountStatus, Email, NewUser, Role, User, UserId};
use crate::store::{Store, StoreError, now};

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
