//! The contract of [`EventLogStore`](crate::store::EventLogStore):
//! consecutive positions, replays filtered by reader, trimming.

use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;

use crate::domain::{Position, UserId};
use crate::store::{EventScope, LogBounds, LogEntry, LogQuery, LogReader, NewLogEntry, Store, now};

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
