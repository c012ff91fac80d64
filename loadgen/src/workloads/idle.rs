//! W3: connections held idle; what each one costs the server in memory.

use std::time::{Duration, Instant};

use serde_json::json;

use super::{OPEN_CONCURRENCY, describe_shortfall, open_sockets};
use crate::accounts;
use crate::probe;
use crate::report::Report;
use crate::target::{Target, TargetArgs};

/// Quiet time before the baseline memory reading.
const SETTLE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, clap::Args)]
pub struct IdleArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Socket.IO connections opened and held.
    #[arg(long, default_value_t = 10_000)]
    pub connections: usize,
    /// How long they are held idle after the last one opened, in seconds.
    #[arg(long, default_value_t = 5)]
    pub hold: u64,
}

/// W3. The measured phase is opening and holding; memory per connection is
/// the growth of the server's resident set from before the first connection
/// to the end of the hold, divided by the connections held.
pub async fn idle(target: Target, args: IdleArgs) -> anyhow::Result<Report> {
    target.require_socketio("W3 idle")?;
    let (wanted, budget_note) = target.connection_budget(args.connections);
    let sessions = accounts::register_users(&target, target.users.min(wanted.max(1))).await?;
    tokio::time::sleep(SETTLE).await;
    let phase = probe::start(target.probe.as_ref());
    let started = Instant::now();
    let opened = open_sockets(&target, wanted, OPEN_CONCURRENCY, &sessions, None).await;
    let (limited_by, notes) = describe_shortfall(&opened, wanted, budget_note);
    let held = opened.clients.len();
    // Held sockets still answer heartbeats, as real idle clients do.
    let readers: Vec<_> = opened
        .clients
        .into_iter()
        .map(|mut client| tokio::spawn(async move { while client.next().await.is_some() {} }))
        .collect();
    tokio::time::sleep(Duration::from_secs(args.hold)).await;
    let still_open = readers.iter().filter(|r| !r.is_finished()).count();
    let usage = phase.map(probe::Phase::finish);
    let elapsed = started.elapsed();
    for reader in readers {
        reader.abort();
    }
    let mut report = Report::new(
        "W3 idle",
        &target,
        json!({
            "connections": held,
            "requested_connections": args.connections,
            "hold_s": args.hold,
            "users": sessions.len(),
        }),
    );
    report.unit = "connections";
    report.expected = wanted as u64;
    report.delivered = still_open as u64;
    report.errors = opened.failures;
    report.limited_by = limited_by;
    report.notes = notes;
    let mut report = report.finish(elapsed, held as u64, usage);
    if let Some(usage) = usage.filter(|_| held > 0) {
        let growth = usage.rss_end_kib.saturating_sub(usage.rss_start_kib) as f64 * 1024.0;
        report.server_bytes_per_connection = Some(growth / held as f64);
    }
    Ok(report)
}
