//! W1 to W6: what each one offers the server and what it counts.
//!
//! Every workload has a set-up (registering users, opening sockets) that is
//! not measured, and a measured phase over which throughput, latency,
//! delivery and the server's CPU and memory are taken.

mod chat;
mod connect;
mod fanout;
mod idle;
mod reads;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt as _;

pub use chat::{ChatArgs, chat};
pub use connect::{ConnectArgs, connect};
pub use fanout::{FanoutArgs, fanout, subscriptions};
pub use idle::{IdleArgs, idle};
pub use reads::{ReadsArgs, reads};

use crate::accounts::Session;
use crate::report::Latencies;
use crate::sio::SioClient;
use crate::target::Target;
use crate::transport::OpenError;

/// Socket handshakes in flight at once while a workload sets up. Enough to
/// keep both sides busy, few enough not to overflow the listen backlog.
const OPEN_CONCURRENCY: usize = 128;

/// Sockets opened, and what went wrong with the rest.
pub struct Opened<T> {
    pub clients: Vec<T>,
    pub failures: u64,
    /// The first failure's description, for the report.
    pub first_failure: Option<String>,
    /// Set when a failure was running out of descriptors.
    pub out_of_descriptors: bool,
}

/// Opens `count` connections with `open(n, session)`, `concurrency` at a
/// time, recording each one's handshake time in `latencies` when given.
pub async fn open_many<T, F, Fut>(
    count: usize,
    concurrency: usize,
    sessions: &[Session],
    latencies: Option<&Latencies>,
    open: F,
) -> Opened<T>
where
    F: Fn(usize, Session) -> Fut,
    Fut: Future<Output = Result<T, OpenError>>,
{
    let mut results = futures::stream::iter(0..count)
        .map(|n| {
            let session = sessions[n % sessions.len()].clone();
            let started = Instant::now();
            let attempt = open(n, session);
            async move { (attempt.await, started.elapsed()) }
        })
        .buffer_unordered(concurrency.max(1));
    let mut opened = Opened {
        clients: Vec::with_capacity(count),
        failures: 0,
        first_failure: None,
        out_of_descriptors: false,
    };
    while let Some((result, took)) = results.next().await {
        match result {
            Ok(client) => {
                if let Some(latencies) = latencies {
                    latencies.record(took);
                }
                opened.clients.push(client);
            }
            Err(error) => {
                opened.failures += 1;
                opened.out_of_descriptors |= matches!(error, OpenError::Descriptors(_));
                opened
                    .first_failure
                    .get_or_insert_with(|| error.to_string());
            }
        }
    }
    opened
}

/// Opens `count` Socket.IO connections for `sessions`, round-robin; with
/// `--also-url`, alternately on the two processes.
pub async fn open_sockets(
    target: &Target,
    count: usize,
    concurrency: usize,
    sessions: &[Session],
    latencies: Option<&Latencies>,
) -> Opened<SioClient> {
    open_many(
        count,
        concurrency,
        sessions,
        latencies,
        |n, session| async move {
            SioClient::connect(target.process_for(n), &session.token, target.source_for(n)).await
        },
    )
    .await
}

/// Waits until `counter` reaches `expected` or `patience` has passed since
/// the last progress; returns when that happened.
pub async fn wait_for(counter: &AtomicU64, expected: u64, patience: Duration) -> Instant {
    let mut last = counter.load(Ordering::Relaxed);
    let mut last_progress = Instant::now();
    loop {
        let now = counter.load(Ordering::Relaxed);
        if now >= expected {
            return Instant::now();
        }
        if now != last {
            last = now;
            last_progress = Instant::now();
        } else if last_progress.elapsed() >= patience {
            return last_progress;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A shared counter.
pub fn counter() -> Arc<AtomicU64> {
    Arc::new(AtomicU64::new(0))
}

/// Notes what stopped a run from opening all it wanted, if anything did.
pub fn describe_shortfall<T>(
    opened: &Opened<T>,
    wanted: usize,
    budget_note: Option<String>,
) -> (Option<String>, Vec<String>) {
    let mut notes = Vec::new();
    let mut limited_by = budget_note;
    if opened.failures > 0 {
        let first = opened.first_failure.clone().unwrap_or_default();
        notes.push(format!(
            "{} of {wanted} connections failed to open; first: {first}",
            opened.failures
        ));
        if opened.out_of_descriptors {
            limited_by
                .get_or_insert_with(|| "the load generator ran out of file descriptors".to_owned());
        }
    }
    (limited_by, notes)
}
