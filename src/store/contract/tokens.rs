//! The contract of [`TokenStore`](crate::store::TokenStore): refresh tokens
//! used once, reuse detected, revoked by family or by account.

use chrono::Duration;

use super::new_user;
use crate::auth::RefreshToken;
use crate::domain::UserId;
use crate::store::{NewRefreshToken, RefreshUse, Store, now};

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
