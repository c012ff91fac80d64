//! Micro-benchmarks of the hot paths: hub publish (to one subscriber and to
//! 10,000), event payload serialisation, access-token verification.
//!
//! `cargo bench --bench hot_paths`. Benchmarks, not tests: nothing here
//! asserts a time.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use realtime_dashboard::auth::{Principal, TokenIssuer};
use realtime_dashboard::compat::wire::{MessageBody, ProductBody};
use realtime_dashboard::domain::{
    Description, Message, MessageId, MessageText, Price, Product, ProductId, ProductName, Role,
    Stock, UserId,
};
use realtime_dashboard::hub::{Audience, Event, Hub};

fn product() -> Product {
    let now = chrono::Utc::now();
    Product {
        id: ProductId::generate(),
        name: ProductName::parse("Desk lamp with a long enough name").unwrap(),
        price: Price::from_decimal(19.99).unwrap(),
        stock: Stock::parse(42).unwrap(),
        description: Description::parse("Warm light, dimmable, USB-C.").unwrap(),
        created_at: now,
        updated_at: now,
    }
}

fn message() -> Message {
    Message {
        id: MessageId::generate(),
        from: UserId::generate(),
        to: UserId::generate(),
        text: MessageText::parse("Hello, where is my lamp? It should have shipped by now.")
            .unwrap(),
        seen_at: None,
        delivered: false,
        created_at: chrono::Utc::now(),
    }
}

fn principal(role: Role) -> Principal {
    Principal {
        user_id: UserId::generate(),
        role,
    }
}

/// Publishing one user's event with that user's subscriber draining it.
fn publish_to_one(c: &mut Criterion) {
    let hub = Hub::default();
    let user = principal(Role::User);
    let mut subscription = hub.subscribe(&user);
    let event = Event::ProductAdded(product());
    c.bench_function("hub: publish to 1 subscriber and receive", |b| {
        b.iter(|| {
            hub.publish(
                Audience::User(user.user_id.clone()),
                black_box(event.clone()),
            );
            black_box(futures::FutureExt::now_or_never(futures::StreamExt::next(
                &mut subscription,
            )));
        });
    });
}

/// Publishing to everyone with 10,000 subscribers, each receiving it.
fn publish_to_ten_thousand(c: &mut Criterion) {
    let hub = Hub::default();
    let mut subscriptions: Vec<_> = (0..10_000)
        .map(|_| hub.subscribe(&principal(Role::User)))
        .collect();
    let event = Event::ProductAdded(product());
    let mut group = c.benchmark_group("hub");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("publish to 10,000 subscribers and receive at each", |b| {
        b.iter(|| {
            hub.publish(Audience::Everyone, black_box(event.clone()));
            for subscription in &mut subscriptions {
                black_box(futures::FutureExt::now_or_never(futures::StreamExt::next(
                    subscription,
                )));
            }
        });
    });
    group.finish();
}

fn serialise_payloads(c: &mut Criterion) {
    let product = product();
    let message = message();
    c.bench_function("serialise: new_product payload", |b| {
        b.iter(|| serde_json::to_vec(&ProductBody::from(black_box(&product))).unwrap());
    });
    c.bench_function("serialise: receive_message payload", |b| {
        b.iter(|| serde_json::to_vec(&MessageBody::from(black_box(&message))).unwrap());
    });
}

fn verify_tokens(c: &mut Criterion) {
    let issuer = TokenIssuer::new(
        b"bench-secret-bench-secret-bench-secret!!",
        Duration::from_secs(900),
    );
    let token = issuer
        .issue_for(&UserId::generate(), Role::Admin, Duration::from_secs(900))
        .unwrap()
        .token;
    c.bench_function("auth: verify an access token", |b| {
        b.iter(|| issuer.verify(black_box(&token)).unwrap());
    });
}

criterion_group!(
    hot_paths,
    publish_to_one,
    publish_to_ten_thousand,
    serialise_payloads,
    verify_tokens
);
criterion_main!(hot_paths);
