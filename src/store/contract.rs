//! The store contract: behaviour every adapter must have, written once.
//!
//! Each function takes any [`Store`] and asserts; `sqlite.rs` and `mongo.rs`
//! instantiate every one of them through [`for_each_contract_test!`], so
//! adding a function here and to that list runs it on both stores.

use chrono::Duration;

use super::{NewRefreshToken, RefreshUse, Store, StoreError, now};
use crate::auth::RefreshToken;
use crate::domain::{Email, NewUser, Role, UserId, UserName};

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
