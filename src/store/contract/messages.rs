//! The contract of [`MessageStore`](crate::store::MessageStore): threads and
//! their pages, seen and delivered marks, conversations and peers.

use std::slice;

use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;

use super::customer;
use super::event_log::log_entry;
use crate::domain::{Conversation, Message, MessageId, MessageText, UserId};
use crate::store::{EventScope, LogQuery, MessageQuery, Store, StoreError, now};

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
    assert_eq!(store.conversations(&ada, None, 10).await.unwrap(), adas);
    assert_eq!(
        store.conversations(&ada, None, 2).await.unwrap(),
        adas[..2],
        "the limit"
    );
    assert_eq!(
        store.conversations(&bob, None, 10).await.unwrap(),
        [
            conversation(&cleo, &cleo_to_bob, 1),
            conversation(&ada, &adas_reply, 1),
        ],
        "unread counts only the peer's messages"
    );
    assert!(
        store
            .conversations(&eve, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
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
        store.conversations(&ada, None, 10).await.unwrap(),
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

pub async fn a_logged_message_is_stored_with_its_entry_at_the_next_position(store: &dyn Store) {
    let ada = customer(store, "ada-logged@example.com").await;
    let bob = customer(store, "bob-logged@example.com").await;
    let before = store
        .append_events(&[log_entry("before", EventScope::default(), now())])
        .await
        .unwrap();
    let message = message_at(&ada, &bob, now());
    let entry = log_entry("sent", EventScope::default(), now());
    let position = store
        .insert_logged_message(&message, &entry)
        .await
        .unwrap()
        .expect("the log took the entry");
    assert_eq!(position, before[0].next());
    assert_eq!(
        store.message_by_id(&message.id).await.unwrap(),
        Some(message.clone())
    );
    let logged = store
        .read_events(&LogQuery {
            after: before[0],
            up_to: position,
            reader: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].entry, entry);
    assert!(
        matches!(
            store.insert_logged_message(&message, &entry).await,
            Err(StoreError::Duplicate)
        ),
        "the same message twice"
    );
    assert_eq!(
        store.event_log_bounds().await.unwrap().head,
        position,
        "a refused message leaves no entry behind"
    );
}

pub async fn messages_are_fetched_in_batches(store: &dyn Store) {
    let (_, _, _, sent) = three_people_chatting(store).await;
    let wanted = [
        sent[0].id.clone(),
        MessageId::generate(),
        sent[2].id.clone(),
    ];

    let mut found = store.messages_by_ids(&wanted).await.unwrap();

    found.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    let mut expected = vec![sent[0].clone(), sent[2].clone()];
    expected.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    assert_eq!(found, expected);
    assert!(store.messages_by_ids(&[]).await.unwrap().is_empty());
}

pub async fn messages_are_counted_per_participant_and_per_thread(store: &dyn Store) {
    let (ada, bob, cleo, messages) = three_people_chatting(store).await;
    let loner = customer(store, "loner@example.com").await;
    for (participant, peer) in [
        (&ada, None),
        (&bob, None),
        (&cleo, None),
        (&loner, None),
        (&ada, Some(&bob)),
        (&bob, Some(&ada)),
        (&ada, Some(&cleo)),
        (&bob, Some(&cleo)),
        (&ada, Some(&loner)),
    ] {
        let expected = match peer {
            Some(peer) => between(&messages, participant, peer).len(),
            None => involving(&messages, participant).len(),
        };
        let counted = store.count_messages(participant, peer).await.unwrap();
        let walked = walk_messages(
            store,
            MessageQuery {
                limit: 2,
                ..thread(participant, peer)
            },
            async || {},
        )
        .await;
        assert_eq!(counted, expected as u64, "{participant} with {peer:?}");
        assert_eq!(
            counted,
            walked.len() as u64,
            "the count is what a walk reads"
        );
    }
}

/// Reads `user`'s conversations `size` at a time, each page after the last
/// one's cursor.
async fn walk_conversations(store: &dyn Store, user: &UserId, size: usize) -> Vec<Conversation> {
    let mut seen: Vec<Conversation> = Vec::new();
    for _ in 0..100 {
        let after = seen.last().map(Conversation::cursor);
        let page = store
            .conversations(user, after.as_ref(), size)
            .await
            .unwrap();
        assert!(page.len() <= size, "a page longer than its limit");
        let full = page.len() == size;
        seen.extend(page);
        if !full {
            return seen;
        }
    }
    panic!("the conversation walk never ended");
}

pub async fn conversation_pages_walk_every_conversation_once_newest_first_and_are_counted(
    store: &dyn Store,
) {
    let ada = customer(store, "ada@example.com").await;
    let base = now() - Duration::hours(1);
    let mut peers = Vec::new();
    // Seven peers; three share one instant, so the id of their latest
    // message breaks the tie; one has several messages.
    for (n, second) in [0, 1, 2, 2, 2, 3, 4].into_iter().enumerate() {
        let peer = customer(store, &format!("peer{n}@example.com")).await;
        send(store, &peer, &ada, base + Duration::seconds(second)).await;
        peers.push(peer);
    }
    send(store, &ada, &peers[0], base + Duration::seconds(5)).await;
    send(store, &peers[0], &ada, base - Duration::seconds(5)).await;
    let everything = store.conversations(&ada, None, 100).await.unwrap();
    assert_eq!(everything.len(), peers.len());
    let latest_first = {
        let mut sorted = everything.clone();
        sorted.sort_by(|a, b| {
            (b.last_message.created_at, &b.last_message.id)
                .cmp(&(a.last_message.created_at, &a.last_message.id))
        });
        sorted
    };
    assert_eq!(everything, latest_first, "newest latest message first");
    assert_eq!(everything[0].peer, peers[0], "the newest exchange leads");
    for size in [1, 2, 3, 7, 8] {
        assert_eq!(
            walk_conversations(store, &ada, size).await,
            everything,
            "pages of {size}"
        );
    }
    assert_eq!(store.count_conversations(&ada).await.unwrap(), 7);
    assert_eq!(store.count_conversations(&peers[1]).await.unwrap(), 1);
    let loner = customer(store, "loner@example.com").await;
    assert_eq!(store.count_conversations(&loner).await.unwrap(), 0);
    assert!(walk_conversations(store, &loner, 3).await.is_empty());
}
