//! The contract of [`IdempotencyStore`](crate::store::IdempotencyStore): the
//! first claim of a key holds until it expires, and concurrent claims agree.

use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;

use crate::domain::{OrderId, UserId};
use crate::store::{IdempotencyClaim, Store, now};

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
