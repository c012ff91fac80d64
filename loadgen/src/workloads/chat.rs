//! W1: pairs of users chat over Socket.IO at a fixed offered rate; every
//! message is sent with an ack and must reach its recipient.
//!
//! With `--also-url` (W7), each pair's two users sit on different processes
//! of one cluster: the first of each pair on `--url`, its partner on
//! `--also-url`. Both send, so every message crosses between the processes,
//! half of them one way and half the other.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::json;

use super::{OPEN_CONCURRENCY, counter, describe_shortfall, open_many, wait_for};
use crate::accounts;
use crate::probe;
use crate::report::{Latencies, Report};
use crate::sio::{self, Incoming, SioClient};
use crate::stamp;
use crate::target::{Target, TargetArgs};

/// How long after the last send the run waits for stragglers.
const DRAIN_PATIENCE: Duration = Duration::from_secs(5);
/// Quiet time after the sockets open (presence announcements) and before
/// the measured phase.
const SETTLE: Duration = Duration::from_secs(4);

#[derive(Debug, Clone, clap::Args)]
pub struct ChatArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Pairs of users; each user has one socket and talks to its partner.
    #[arg(long, default_value_t = 50)]
    pub pairs: usize,
    /// Messages per second offered by all senders together. Ours allows a
    /// user 10 a second, so keep `rate / (2 × pairs)` at or under that.
    #[arg(long, default_value_t = 500)]
    pub rate: u64,
    /// Length of the sending, in seconds.
    #[arg(long, default_value_t = 20)]
    pub duration: u64,
}

#[derive(Clone)]
struct Tally {
    sent: Arc<AtomicU64>,
    acked: Arc<AtomicU64>,
    ack_errors: Arc<AtomicU64>,
    received: Arc<AtomicU64>,
    latencies: Latencies,
    first_error: Arc<Mutex<Option<String>>>,
}

/// W1.
pub async fn chat(target: Target, args: ChatArgs) -> anyhow::Result<Report> {
    target.require_socketio("W1 chat")?;
    if args.pairs == 0 || args.rate == 0 {
        bail!("--pairs and --rate must be positive");
    }
    let senders = args.pairs * 2;
    let (wanted, budget_note) = target.connection_budget(senders);
    if wanted < senders {
        bail!("{}", budget_note.unwrap_or_default());
    }
    // One user per socket: each pair is two distinct users.
    let sessions = accounts::register_users(&target, senders).await?;
    let opened = open_many(senders, OPEN_CONCURRENCY, &sessions, None, |n, session| {
        let target = &target;
        async move {
            // Pair members are n and n ^ 1: one even, one odd, so with two
            // processes they land on different ones.
            let process = target.process_for(n);
            let client = SioClient::connect(process, &session.token, target.source_for(n)).await?;
            Ok((n, client))
        }
    })
    .await;
    let (limited_by, notes) = describe_shortfall(&opened, senders, budget_note);
    if opened.clients.len() < senders {
        bail!(
            "only {} of {senders} sockets opened: {notes:?}",
            opened.clients.len()
        );
    }
    let total = args.rate * args.duration;
    let per_sender = total.div_ceil(senders as u64);
    let period = Duration::from_secs_f64(senders as f64 / args.rate as f64);
    let tally = Tally {
        sent: counter(),
        acked: counter(),
        ack_errors: counter(),
        received: counter(),
        latencies: Latencies::new(),
        first_error: Arc::new(Mutex::new(None)),
    };
    tokio::time::sleep(SETTLE).await;
    let phase = probe::start(target.probe.as_ref());
    let started = Instant::now();
    let tasks: Vec<_> = opened
        .clients
        .into_iter()
        .enumerate()
        .map(|(n, (index, client))| {
            let peer = sessions[index ^ 1].user_id.clone();
            let first_tick =
                tokio::time::Instant::now() + period.mul_f64(n as f64 / senders as f64);
            let tally = tally.clone();
            tokio::spawn(converse(
                client, peer, first_tick, period, per_sender, tally,
            ))
        })
        .collect();
    let expected_sent = per_sender * senders as u64;
    let finished = wait_for(&tally.received, expected_sent, DRAIN_PATIENCE).await;
    let usage = phase.map(probe::Phase::finish);
    for task in tasks {
        task.abort();
    }
    let sent = tally.sent.load(Ordering::Relaxed);
    let received = tally.received.load(Ordering::Relaxed);
    let acked = tally.acked.load(Ordering::Relaxed);
    let ack_errors = tally.ack_errors.load(Ordering::Relaxed);
    let mut report = Report::new(
        "W1 chat",
        &target,
        json!({
            "pairs": args.pairs,
            "offered_rate": args.rate,
            "duration_s": args.duration,
            "per_user_rate": args.rate as f64 / senders as f64,
        }),
    );
    report.unit = "messages";
    report.expected = sent;
    report.delivered = received;
    report.errors = ack_errors + sent.saturating_sub(acked + ack_errors);
    report.latency = tally.latencies.summary();
    report.limited_by = limited_by;
    report.notes = notes;
    report.notes.push(format!(
        "{acked} acks succeeded, {ack_errors} error acks, {sent} sent"
    ));
    if let Some(error) = tally
        .first_error
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
    {
        report.notes.push(format!("first error ack: {error}"));
    }
    Ok(report.finish(finished.duration_since(started), received, usage))
}

/// One user's socket: sends `count` messages to `peer`, one per `period`,
/// while counting what arrives.
async fn converse(
    mut client: SioClient,
    peer: String,
    first_tick: tokio::time::Instant,
    period: Duration,
    count: u64,
    tally: Tally,
) {
    let mut ticks = tokio::time::interval_at(first_tick, period);
    let mut sent = 0u64;
    loop {
        tokio::select! {
            _ = ticks.tick(), if sent < count => {
                let message = json!({ "to": peer, "text": stamp::stamp(&sent.to_string()) });
                if client.emit("send_message", &message, true).await.is_err() {
                    return;
                }
                sent += 1;
                tally.sent.fetch_add(1, Ordering::Relaxed);
            }
            incoming = client.next() => match incoming {
                None => return,
                Some(Incoming::Event(frame)) => {
                    if sio::event_name(&frame) == Some("receive_message")
                        && let Some(age) = stamp::age(&frame)
                    {
                        tally.latencies.record(age);
                        tally.received.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Some(Incoming::Ack(frame)) => {
                    if sio::ack_succeeded(&frame) {
                        tally.acked.fetch_add(1, Ordering::Relaxed);
                    } else {
                        tally.ack_errors.fetch_add(1, Ordering::Relaxed);
                        tally
                            .first_error
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .get_or_insert_with(|| frame.to_string());
                    }
                }
            }
        }
    }
}
