//! Durability of the chat write path (issue 12's promise for group commit):
//! an acknowledged message survives `kill -9`, on SQLite and on MongoDB.
//!
//! One real server process (the built binary, no Redis) on its own store;
//! four pairs of users chat as fast as the answers come back, each pair in
//! both directions through two doors: the first of the pair over Socket.IO
//! (`send_message` with an ack), the second over GraphQL `sendMessage` on
//! HTTP. Once enough sends are acknowledged the process gets SIGKILL in the
//! middle of the traffic, is started again on the same data and read back:
//!
//! - every acknowledged message is stored exactly once, as it was sent, and
//!   REST (`GET /chat/messages/:peer`) and GraphQL (`messages`) agree;
//! - a send whose answer never came (the kill cut it off) is unknown: it
//!   may be stored or not, but only intact and never twice;
//! - the event log resumes: each second user's socket, reconnecting with
//!   the last position it was given before the kill, gets no
//!   `resync_required` and is replayed, in order, exactly the acknowledged
//!   messages of its thread it had not received live. One of them closed
//!   its socket halfway through the traffic, so its replay is never empty
//!   and crosses the kill.
//!
//! A server that answered a send before its message was durably stored
//! fails the first check (try it: spawn the insert in `ChatService::send`
//! instead of awaiting it, delayed a little as a commit batch would be).

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::support::cluster::Process;
use crate::support::node::NodeClient;
use crate::support::steps::{id_of, is_event, is_kind};
use crate::support::{Account, Backend, Endpoint, on_both_stores, unique_email};

/// Pairs of users chatting at once (each pair: one Socket.IO sender and
/// one GraphQL sender, in opposite directions).
const PAIRS: usize = 4;
/// Sends acknowledged (all senders together) before the kill.
const KILL_AFTER: usize = 60;
/// Sends acknowledged, at least, by every sender before the kill: each of
/// them is mid-traffic when it comes.
const EACH_BEFORE_KILL: usize = 3;
/// The away receiver closes its socket once this many sends are acknowledged.
const AWAY_AFTER: usize = KILL_AFTER / 2;
/// Most sends per sender: the kill comes long before (asserted), this only
/// bounds a run whose kill never came.
const MOST_PER_SENDER: usize = 60;
/// How long to wait for something that must happen (a loaded 2-core machine).
const WAIT: Duration = Duration::from_secs(15);
/// How long one send may wait for its answer before it counts as unanswered.
const ANSWER_WAIT: Duration = Duration::from_secs(5);
/// Limits out of the way: every sign-up comes from 127.0.0.1, and each
/// sender goes faster than the default 10 messages a second.
const RELAXED: &[(&str, &str)] = &[
    ("LOGIN_LIMIT_PER_ADDRESS", "1000"),
    ("MESSAGES_PER_SECOND", "1000"),
];

const SEND_MESSAGE: &str = "mutation($to: ID!, $text: String!) { \
     sendMessage(to: $to, text: $text) { id text from { id } to { id } } }";
const THREAD_PAGE: &str = "query($with: ID!, $before: String) { \
     messages(with: $with, last: 100, before: $before) { \
       pageInfo { hasPreviousPage startCursor } \
       edges { node { id text from { id } to { id } } } } }";

/// One send, and what came of it.
#[derive(Debug, Clone)]
struct Attempt {
    from: String,
    to: String,
    /// Unique across the run, so a stored message names its attempt.
    text: String,
    /// The stored id when the send was acknowledged with success; `None`
    /// when its answer never came (unknown: stored or not).
    acked: Option<String>,
}

/// A message as read back (or as an event carried it).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stored {
    id: String,
    from: String,
    to: String,
    text: String,
}

impl Stored {
    /// From a REST or Socket.IO message body (`from` and `to` are ids).
    fn from_body(body: &Value) -> Stored {
        let field = |name: &str| {
            body[name]
                .as_str()
                .unwrap_or_else(|| panic!("{name} in the message {body}"))
                .to_owned()
        };
        Stored {
            id: field("id"),
            from: field("from"),
            to: field("to"),
            text: field("text"),
        }
    }

    /// From a GraphQL `Message { id text from { id } to { id } }`.
    fn from_graphql(node: &Value) -> Stored {
        Stored {
            id: id_of(node),
            from: id_of(&node["from"]),
            to: id_of(&node["to"]),
            text: node["text"]
                .as_str()
                .unwrap_or_else(|| panic!("text in the message {node}"))
                .to_owned(),
        }
    }
}

/// Counts shared by the senders and the killer (one task: `Cell` will do).
struct Progress {
    /// Acknowledged sends, per sender (Socket.IO senders first).
    acked: Vec<Cell<usize>>,
    /// Set once the kill was sent: a failure after it is the kill's doing.
    killed: Cell<bool>,
}

impl Progress {
    fn total(&self) -> usize {
        self.acked.iter().map(Cell::get).sum()
    }

    fn ack(&self, sender: usize) {
        self.acked[sender].set(self.acked[sender].get() + 1);
    }
}

/// Sends `to` one message after another over Socket.IO, each after the
/// previous ack, until the socket drops (or `MOST_PER_SENDER`). Every send
/// is recorded; one without its ack is unknown.
async fn socketio_sender(
    sender: usize,
    socket: &mut NodeClient,
    from: &str,
    to: &str,
    progress: &Progress,
) -> Vec<Attempt> {
    let mut attempts = Vec::new();
    for n in 0..MOST_PER_SENDER {
        let text = format!("sio sender {sender} #{n}");
        let tag = format!("send-{n}");
        socket
            .send(json!({
                "cmd": "emit",
                "event": "send_message",
                "args": [{ "to": to, "text": text }],
                "ack": true,
                "tag": tag,
                "timeoutMs": ANSWER_WAIT.as_millis() as u64,
            }))
            .await;
        let line = socket
            .expect(
                &format!("the ack of {text:?} or a disconnect"),
                ANSWER_WAIT + WAIT,
                |line| {
                    (line["tag"] == tag.as_str()
                        && (line["kind"] == "ack" || line["kind"] == "ack_timeout"))
                        || line["kind"] == "disconnect"
                },
            )
            .await;
        let answer = &line["args"][0];
        let acked = match line["kind"].as_str() {
            Some("ack") if answer["status"] == "success" => {
                let message = Stored::from_body(&answer["data"]);
                assert_eq!(
                    (
                        message.from.as_str(),
                        message.to.as_str(),
                        message.text.as_str()
                    ),
                    (from, to, text.as_str()),
                    "the ack of {text:?}: {answer}"
                );
                progress.ack(sender);
                Some(message.id)
            }
            Some("ack") => panic!("send {text:?} refused: {answer}"),
            _ => None,
        };
        let answered = acked.is_some();
        attempts.push(Attempt {
            from: from.to_owned(),
            to: to.to_owned(),
            text,
            acked,
        });
        if !answered {
            assert!(
                progress.killed.get(),
                "sio sender {sender}: no ack before the kill: {line}"
            );
            break;
        }
    }
    attempts
}

/// Sends `to` one message after another with GraphQL `sendMessage` over
/// HTTP, each after the previous answer, until the server is gone (or
/// `MOST_PER_SENDER`). A request that fails on the way is unknown.
async fn graphql_sender(
    sender: usize,
    endpoint: &Endpoint,
    who: &Account,
    to: &str,
    progress: &Progress,
) -> Vec<Attempt> {
    let mut attempts = Vec::new();
    for n in 0..MOST_PER_SENDER {
        let text = format!("graphql sender {sender} #{n}");
        let answer = endpoint
            .http
            .post(endpoint.url("/graphql"))
            .bearer_auth(&who.token)
            .timeout(ANSWER_WAIT)
            .json(&json!({ "query": SEND_MESSAGE, "variables": { "to": to, "text": text } }))
            .send()
            .await;
        let body: Result<Value, String> = match answer {
            Ok(response) => response.json().await.map_err(|e| e.to_string()),
            Err(error) => Err(error.to_string()),
        };
        let acked = match body {
            Ok(body) if body["errors"].is_null() => {
                let message = Stored::from_graphql(&body["data"]["sendMessage"]);
                assert_eq!(
                    (
                        message.from.as_str(),
                        message.to.as_str(),
                        message.text.as_str()
                    ),
                    (who.id.as_str(), to, text.as_str()),
                    "the answer to {text:?}: {body}"
                );
                progress.ack(sender);
                Some(message.id)
            }
            Ok(body) => panic!("send {text:?} refused: {body}"),
            Err(error) => {
                assert!(
                    progress.killed.get(),
                    "graphql sender {sender}: {text:?} failed before the kill: {error}"
                );
                None
            }
        };
        let answered = acked.is_some();
        attempts.push(Attempt {
            from: who.id.clone(),
            to: to.to_owned(),
            text,
            acked,
        });
        if !answered {
            break;
        }
    }
    attempts
}

/// A socket on `endpoint` with the handshake `auth`, once it has been given
/// its `resume_position`; returns it with the events before that (a
/// replay, when `auth` has an `offset`).
async fn socket_with(endpoint: &Endpoint, auth: Value) -> (NodeClient, Vec<Value>) {
    let mut socket = NodeClient::socketio(&endpoint.address, auth).await;
    let outcome = socket
        .expect("the handshake outcome", WAIT, |line| {
            line["kind"] == "connect" || line["kind"] == "connect_error"
        })
        .await;
    assert_eq!(outcome["kind"], "connect", "the handshake: {outcome}");
    let mut before = Vec::new();
    loop {
        let line = socket
            .expect("resume_position", WAIT, is_kind("event"))
            .await;
        if line["event"] == "resume_position" {
            assert!(line["args"][0]["position"].is_string(), "{line}");
            return (socket, before);
        }
        before.push(line);
    }
}

/// Every line the client printed so far, parsed.
fn lines_of(client: &NodeClient) -> Vec<Value> {
    client
        .seen()
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .collect()
}

/// The position an event line carries, as a number.
fn position_of(line: &Value) -> Option<u64> {
    line["args"][0]["position"].as_str()?.parse().ok()
}

/// The last position a socket was given (by any event carrying one,
/// `resume_position` included), as the client would keep it.
fn last_position(client: &NodeClient) -> String {
    lines_of(client)
        .iter()
        .rev()
        .filter(|line| line["kind"] == "event")
        .find_map(|line| line["args"][0]["position"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("no position seen: {:#?}", client.seen()))
}

/// The messages among `lines` (`receive_message` events), in order.
fn received(lines: &[Value]) -> Vec<Stored> {
    lines
        .iter()
        .filter(|line| is_event("receive_message")(line))
        .map(|line| Stored::from_body(&line["args"][0]))
        .collect()
}

/// The thread with `peer` as `who` reads it over REST, oldest first,
/// following `meta.nextCursor` back to the start.
async fn rest_thread(endpoint: &Endpoint, who: &Account, peer: &str) -> Vec<Stored> {
    let path = format!("/chat/messages/{peer}");
    let mut pages: Vec<Vec<Stored>> = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let mut query = vec![("limit", "100")];
        if let Some(cursor) = &before {
            query.push(("before", cursor));
        }
        let response = endpoint.get_with(&path, &query, Some(&who.token)).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 200, "GET {path}: {body}");
        let page = body["data"]
            .as_array()
            .unwrap_or_else(|| panic!("GET {path}: data is a list: {body}"));
        pages.push(page.iter().map(Stored::from_body).collect());
        assert!(pages.len() <= 20, "GET {path}: the cursor walk never ends");
        match body["meta"]["nextCursor"].as_str() {
            Some(cursor) => before = Some(cursor.to_owned()),
            None => break,
        }
    }
    pages.into_iter().rev().flatten().collect()
}

/// The thread with `peer` as `who` reads it over GraphQL, oldest first,
/// paging back with `last` + `before` while `hasPreviousPage`.
async fn graphql_thread(endpoint: &Endpoint, who: &Account, peer: &str) -> Vec<Stored> {
    let mut pages: Vec<Vec<Stored>> = Vec::new();
    let mut before = Value::Null;
    loop {
        let data = endpoint
            .graphql_ok(
                THREAD_PAGE,
                json!({ "with": peer, "before": before }),
                Some(&who.token),
            )
            .await;
        let connection = &data["messages"];
        let edges = connection["edges"]
            .as_array()
            .unwrap_or_else(|| panic!("messages.edges is a list: {data}"));
        pages.push(
            edges
                .iter()
                .map(|edge| Stored::from_graphql(&edge["node"]))
                .collect(),
        );
        assert!(pages.len() <= 20, "messages: the paging never ends");
        if connection["pageInfo"]["hasPreviousPage"] != true {
            break;
        }
        before = connection["pageInfo"]["startCursor"].clone();
    }
    pages.into_iter().rev().flatten().collect()
}

/// Checks a thread as read back against what was sent in it: every
/// acknowledged message exactly once and as sent; nothing twice (by id or
/// by text); nothing that was not sent; an unanswered send intact if
/// present. Returns how many unanswered sends were stored.
fn assert_thread_holds(what: &str, stored: &[Stored], attempts: &[Attempt]) -> usize {
    let by_text: BTreeMap<&str, &Attempt> = attempts.iter().map(|a| (a.text.as_str(), a)).collect();
    let mut ids = BTreeMap::<&str, usize>::new();
    let mut texts = BTreeMap::<&str, usize>::new();
    for message in stored {
        *ids.entry(&message.id).or_default() += 1;
        *texts.entry(&message.text).or_default() += 1;
        let attempt = by_text.get(message.text.as_str()).unwrap_or_else(|| {
            panic!("{what}: a stored message nobody sent (or a damaged text): {message:?}")
        });
        assert_eq!(
            (&message.from, &message.to),
            (&attempt.from, &attempt.to),
            "{what}: {message:?} stored with the wrong people"
        );
        if let Some(id) = &attempt.acked {
            assert_eq!(
                &message.id, id,
                "{what}: {:?} stored under another id than acknowledged",
                attempt.text
            );
        }
    }
    let twice: Vec<_> = ids.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "{what}: ids stored more than once: {twice:?}"
    );
    let twice: Vec<_> = texts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "{what}: one send stored more than once: {twice:?}"
    );
    let missing: Vec<&str> = attempts
        .iter()
        .filter(|a| a.acked.as_deref().is_some_and(|id| !ids.contains_key(id)))
        .map(|a| a.text.as_str())
        .collect();
    assert!(
        missing.is_empty(),
        "{what}: {} of {} acknowledged messages lost by the kill: {missing:?}",
        missing.len(),
        attempts.iter().filter(|a| a.acked.is_some()).count()
    );
    attempts
        .iter()
        .filter(|a| a.acked.is_none() && texts.contains_key(a.text.as_str()))
        .count()
}

/// The scenario: chat, `kill -9` mid-traffic, restart on the same data,
/// read everything back and resume the receivers' sockets.
async fn an_acknowledged_message_survives_kill_9(backend: Backend) {
    let mut process = Process::alone(backend, RELAXED).await;
    let mut firsts = Vec::new();
    let mut seconds = Vec::new();
    for pair in 0..PAIRS {
        firsts.push(
            process
                .register(&unique_email(&format!("dur-first-{pair}")))
                .await,
        );
        seconds.push(
            process
                .register(&unique_email(&format!("dur-second-{pair}")))
                .await,
        );
    }
    // The first of each pair sends over Socket.IO; the second listens on
    // a socket of its own (where its own GraphQL sends show too).
    let mut senders = Vec::new();
    let mut listeners = Vec::new();
    for pair in 0..PAIRS {
        senders.push(
            socket_with(&process, json!({ "token": firsts[pair].token }))
                .await
                .0,
        );
        listeners.push(
            socket_with(&process, json!({ "token": seconds[pair].token }))
                .await
                .0,
        );
    }
    // Its own client for the GraphQL senders (the killer holds the process).
    let http = Endpoint::on_port(process.port);

    // Act: everybody sends at once; pair 0's listener goes away halfway;
    // at KILL_AFTER acknowledged sends, SIGKILL.
    let progress = Progress {
        acked: (0..2 * PAIRS).map(|_| Cell::new(0)).collect(),
        killed: Cell::new(false),
    };
    let (away, listening) = listeners.split_at_mut(1);
    let away = &mut away[0];
    let killer = async {
        let deadline = Instant::now() + WAIT + WAIT;
        let pair_0 = || progress.acked[0].get() + progress.acked[PAIRS].get();
        let mut away_at = None;
        // Pair 0's acknowledged sends when its listener was seen closed.
        let mut closed_at = None;
        loop {
            let total = progress.total();
            if away_at.is_none() && total >= AWAY_AFTER {
                // Not waiting for it to close: the kill must not wait.
                away.send(json!({ "cmd": "disconnect" })).await;
                away_at = Some(total);
            }
            if away_at.is_some()
                && closed_at.is_none()
                && !away
                    .receives_none_within(Duration::ZERO, is_kind("closed"))
                    .await
            {
                closed_at = Some(pair_0());
            }
            // Enough acknowledged, every sender under way, and pair 0 past
            // its listener's close (what it acknowledges from there on
            // only a replay can bring).
            if total >= KILL_AFTER
                && progress.acked.iter().all(|n| n.get() >= EACH_BEFORE_KILL)
                && closed_at.is_some_and(|at| pair_0() >= at + EACH_BEFORE_KILL)
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the chat did not get going: acknowledged per sender {:?}, pair 0's listener \
                 closed at {closed_at:?}; the server's output:\n{}",
                progress.acked.iter().map(Cell::get).collect::<Vec<_>>(),
                process.output_tail()
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        progress.killed.set(true);
        process.kill9();
        (away_at, progress.total())
    };
    let socketio =
        futures::future::join_all(senders.iter_mut().enumerate().map(|(i, socket)| {
            socketio_sender(i, socket, &firsts[i].id, &seconds[i].id, &progress)
        }));
    let graphql = futures::future::join_all(
        (0..PAIRS).map(|i| graphql_sender(PAIRS + i, &http, &seconds[i], &firsts[i].id, &progress)),
    );
    let (by_socketio, by_graphql, (away_at, acked_at_kill)) =
        tokio::join!(socketio, graphql, killer);
    let away_at = away_at.expect("the away listener left before the kill");
    let attempts_of = |pair: usize| -> Vec<Attempt> {
        let mut all = by_socketio[pair].clone();
        all.extend(by_graphql[pair].iter().cloned());
        all
    };
    // The kill came mid-traffic: no sender had run out of sends.
    for (sender, attempts) in by_socketio.iter().chain(&by_graphql).enumerate() {
        assert!(
            attempts.last().is_some_and(|a| a.acked.is_none()),
            "sender {sender} was done before the kill ({} sends, all answered): raise \
             MOST_PER_SENDER",
            attempts.len()
        );
    }
    // Whatever the listeners were sent before the kill is in their output
    // before their disconnect (or, for the one that left, its close).
    away.expect("the away listener closed", WAIT, is_kind("closed"))
        .await;
    for (pair, listener) in listening.iter_mut().enumerate() {
        listener
            .expect(
                &format!("listener {} sees the server go", pair + 1),
                WAIT,
                is_kind("disconnect"),
            )
            .await;
    }

    // The process comes back on the same data.
    process.restart().await;

    // Assert: every thread, read back both ways, holds every acknowledged
    // message once and as sent.
    let mut acked_total = 0;
    let mut present_total = 0;
    let mut unknown_total = 0;
    let mut unknown_present = 0;
    let mut replayed_total = 0;
    for pair in 0..PAIRS {
        let (first, second) = (&firsts[pair], &seconds[pair]);
        let attempts = attempts_of(pair);
        let by_rest = rest_thread(&process, first, &second.id).await;
        let by_graphql = graphql_thread(&process, second, &first.id).await;
        let ids = |thread: &[Stored]| thread.iter().map(|m| m.id.clone()).collect::<BTreeSet<_>>();
        assert_eq!(
            ids(&by_rest),
            ids(&by_graphql),
            "pair {pair}: REST and GraphQL read the same thread"
        );
        let stored_unknown = assert_thread_holds(&format!("pair {pair}"), &by_rest, &attempts);
        assert_thread_holds(&format!("pair {pair} (GraphQL)"), &by_graphql, &attempts);
        let acked: Vec<&Attempt> = attempts.iter().filter(|a| a.acked.is_some()).collect();
        acked_total += acked.len();
        present_total += by_rest.len();
        unknown_total += attempts.len() - acked.len();
        unknown_present += stored_unknown;

        // The listener resumes from the last position it was given: what it
        // missed of the thread, acknowledged or stored, comes in order, once.
        let listener = if pair == 0 {
            &*away
        } else {
            &listening[pair - 1]
        };
        let live = received(&lines_of(listener));
        let from = last_position(listener);
        let (mut again, replay) =
            socket_with(&process, json!({ "token": second.token, "offset": from })).await;
        assert!(
            !replay.iter().any(is_event("resync_required")),
            "pair {pair}: position {from} (given before the kill) was not resumable: {replay:#?}"
        );
        let positions: Vec<u64> = replay.iter().filter_map(position_of).collect();
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "pair {pair}: the replay is in log order: {replay:#?}"
        );
        let replayed = received(&replay);
        for message in &replayed {
            assert!(
                by_rest.contains(message),
                "pair {pair}: replayed {message:?}, which is not stored (as it was replayed)"
            );
        }
        let mut delivered: Vec<&str> = live.iter().map(|m| m.id.as_str()).collect();
        delivered.extend(replayed.iter().map(|m| m.id.as_str()));
        let mut seen = BTreeMap::<&str, usize>::new();
        for id in &delivered {
            *seen.entry(id).or_default() += 1;
        }
        let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
        assert!(
            twice.is_empty(),
            "pair {pair}: delivered more than once (live, then replayed): {twice:?}"
        );
        let not_delivered: Vec<&str> = acked
            .iter()
            .filter(|a| !seen.contains_key(a.acked.as_deref().unwrap_or_default()))
            .map(|a| a.text.as_str())
            .collect();
        assert!(
            not_delivered.is_empty(),
            "pair {pair}: acknowledged, neither received live nor replayed after {from}: \
             {not_delivered:?}"
        );
        // In order: each sender's messages come in the order they were sent.
        for sender in [&first.id, &second.id] {
            let sent: Vec<&str> = attempts
                .iter()
                .filter(|a| &a.from == sender)
                .filter_map(|a| a.acked.as_deref())
                .filter(|id| replayed.iter().any(|m| m.id == *id))
                .collect();
            let came: Vec<&str> = replayed
                .iter()
                .filter(|m| &m.from == sender && sent.contains(&m.id.as_str()))
                .map(|m| m.id.as_str())
                .collect();
            assert_eq!(came, sent, "pair {pair}: replayed in the order sent");
        }
        if pair == 0 {
            let acked_replayed = replayed
                .iter()
                .filter(|m| acked.iter().any(|a| a.acked.as_ref() == Some(&m.id)))
                .count();
            assert!(
                acked_replayed >= EACH_BEFORE_KILL,
                "pair 0: its listener left at {away_at} acknowledged sends and its pair had \
                 {EACH_BEFORE_KILL} more acknowledged after it closed, yet {acked_replayed} \
                 acknowledged messages were replayed to it: {replay:#?}"
            );
        }
        replayed_total += replayed.len();
        again.send(json!({ "cmd": "disconnect" })).await;
    }
    eprintln!(
        "kill -9 on {backend:?}: {acked_at_kill} sends acknowledged when the kill was sent, \
         {acked_total} acknowledged in all and all {acked_total} present after the restart \
         ({present_total} messages stored; {unknown_present} of {unknown_total} unanswered \
         sends stored, intact); {replayed_total} replayed to the listeners resuming (pair 0's \
         left at {away_at})"
    );
    assert!(acked_total >= KILL_AFTER, "{acked_total} acknowledged");
}

on_both_stores!(an_acknowledged_message_survives_kill_9);
