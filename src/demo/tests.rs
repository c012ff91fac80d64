//! The demo against the SQLite store: stocked once through the services,
//! reopened on restart, refused on data it did not make; the simulation's
//! actions heard live as any client's are.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;

use super::simulation::{Action, Simulation};
use super::*;
use crate::auth::{PasswordHasher, Principal};
use crate::domain::{NewProduct, OrderStatus, Position};
use crate::hub::{Event, Hub, HubItem, Subscription};
use crate::services::DashboardStats;
use crate::store::{SqliteStore, Store};

/// Services on the SQLite store in `dir` (a second call opens the same
/// store, as a restart does), with the event log started.
async fn services_on(dir: &Path) -> Services {
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.join("demo.sqlite3"))
            .await
            .expect("the store opens"),
    );
    let services = Services::new(
        &Config::for_tests(),
        store,
        Hub::new(1024),
        PasswordHasher::for_tests(),
    );
    services
        .event_log
        .start()
        .await
        .expect("the event log starts");
    services
}

fn credentials() -> Credentials {
    Credentials {
        admin_email: Email::parse(ADMIN_EMAIL).unwrap(),
        password: Password::parse("demo-password-1").unwrap(),
    }
}

async fn stats(services: &Services, cast: &mut Cast) -> DashboardStats {
    let admin = cast.admin.caller(services).await.unwrap().principal;
    services.dashboard.stats(&admin).await.unwrap()
}

fn count(stats: &DashboardStats, status: OrderStatus) -> u64 {
    stats
        .orders_by_status
        .iter()
        .find(|(s, _)| *s == status)
        .map_or(0, |(_, n)| *n)
}

/// The next event matching `wanted` on `live`, within 10 s.
async fn heard(live: &mut Subscription, wanted: impl Fn(&Event) -> bool) -> Event {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match live.next().await.expect("the hub stays open") {
                HubItem::Event(published) if wanted(&published.event) => {
                    return published.event.clone();
                }
                _ => {}
            }
        }
    })
    .await
    .expect("the event is published within 10 s")
}

#[tokio::test]
async fn an_empty_store_is_stocked_through_the_services() {
    let dir = tempfile::tempdir().unwrap();
    let services = services_on(dir.path()).await;

    let (mut cast, opened) = open(&services, &credentials()).await.unwrap();

    assert_eq!(opened, Opened::Stocked);
    assert_eq!(cast.customers.len(), shop::CUSTOMERS.len());
    let figures = stats(&services, &mut cast).await;
    assert_eq!(figures.product_count, shop::CATALOGUE.len() as u64);
    assert_eq!(figures.user_count, shop::CUSTOMERS.len() as u64 + 2);
    for status in OrderStatus::ALL {
        assert!(
            count(&figures, status) > 0,
            "no {status:?} order: {figures:?}"
        );
    }
    assert!(
        !figures.low_stock.is_empty(),
        "some products are low on stock"
    );
    let admin = cast.admin.caller(&services).await.unwrap().principal;
    let conversations = services.chat.conversations(&admin).await.unwrap();
    assert_eq!(conversations.len(), 4);
    assert!(
        conversations.iter().any(|c| c.unread > 0),
        "the admin has unread messages waiting"
    );
    // Written by the services: every write is in the event log too.
    assert!(services.event_log.head() > Position::START);
}

#[tokio::test]
async fn a_second_start_reopens_the_shop_without_stocking_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let (mut first, _) = open(&services_on(dir.path()).await, &credentials())
        .await
        .unwrap();
    let services = services_on(dir.path()).await;
    let before = stats(&services, &mut first).await;

    let (mut cast, opened) = open(&services, &credentials()).await.unwrap();

    assert_eq!(opened, Opened::Reopened);
    assert_eq!(cast.customers.len(), shop::CUSTOMERS.len());
    let after = stats(&services, &mut cast).await;
    assert_eq!(after.product_count, before.product_count);
    assert_eq!(after.user_count, before.user_count);
    assert_eq!(after.orders_by_status, before.orders_by_status);
}

#[tokio::test]
async fn a_store_with_a_catalogue_the_demo_did_not_make_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let services = services_on(dir.path()).await;
    let owner = services
        .accounts
        .create_admin(
            UserName::parse("Owner").unwrap(),
            Email::parse("owner@example.com").unwrap(),
            &Password::parse("owner-password-1").unwrap(),
        )
        .await
        .unwrap();
    let owner = Principal {
        user_id: owner.id,
        role: Role::Admin,
    };
    let lamp = NewProduct::parse("Lamp", 10.0, Some(3), None).unwrap();
    services.catalog.create(&owner, lamp, None).await.unwrap();

    let error = open(&services, &credentials())
        .await
        .err()
        .expect("refused");

    assert!(
        error.to_string().contains("not made by the demo"),
        "{error:#}"
    );
    let figures = services.dashboard.stats(&owner).await.unwrap();
    assert_eq!(figures.user_count, 1, "no demo account was created");
    assert_eq!(figures.product_count, 1);
}

#[tokio::test]
async fn each_simulated_action_is_heard_live_as_a_clients_would_be() {
    let dir = tempfile::tempdir().unwrap();
    let services = services_on(dir.path()).await;
    let (mut cast, _) = open(&services, &credentials()).await.unwrap();
    let admin = cast.admin.caller(&services).await.unwrap().principal;
    let customers: Vec<_> = cast.customers.iter().map(|c| c.user().id.clone()).collect();
    let mut live = services.connections.live(&admin);
    let mut simulation = Simulation::start(services.clone(), cast, 60).await.unwrap();

    simulation.act(Action::PlaceOrder).await.unwrap();
    match heard(&mut live, |e| matches!(e, Event::OrderPlaced(_))).await {
        Event::OrderPlaced(order) => assert!(customers.contains(&order.user_id)),
        _ => unreachable!(),
    }

    simulation.act(Action::MoveOrder).await.unwrap();
    heard(&mut live, |e| matches!(e, Event::OrderStatusChanged(_))).await;

    simulation.act(Action::ComeOrGo).await.unwrap();
    assert_eq!(simulation.online(), 1);
    match heard(&mut live, |e| matches!(e, Event::PresenceChanged { .. })).await {
        Event::PresenceChanged {
            user_id, online, ..
        } => {
            assert!(online);
            assert!(customers.contains(&user_id));
        }
        _ => unreachable!(),
    }

    simulation.act(Action::Write).await.unwrap();
    match heard(&mut live, |e| matches!(e, Event::MessageSent { .. })).await {
        Event::MessageSent { message, .. } => {
            assert_eq!(message.to, admin.user_id);
            assert!(customers.contains(&message.from));
        }
        _ => unreachable!(),
    }
}

#[test]
fn generated_passwords_meet_the_policy_and_differ() {
    let first = generate_password();
    assert!(Password::parse(&first).is_ok());
    assert_eq!(first.len(), 14);
    assert_ne!(first, generate_password());
}
