//! W4: how fast the server completes Socket.IO handshakes with
//! authentication, given tokens issued beforehand.

use std::time::Instant;

use serde_json::json;

use super::{describe_shortfall, open_sockets};
use crate::accounts;
use crate::probe;
use crate::report::{Latencies, Report};
use crate::target::{Target, TargetArgs};

#[derive(Debug, Clone, clap::Args)]
pub struct ConnectArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Socket.IO connections to open (and hold until the end).
    #[arg(long, default_value_t = 10_000)]
    pub connections: usize,
    /// Handshakes in flight at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
}

/// W4. Each handshake is timed from the TCP connect to the Socket.IO
/// `CONNECT` answer (the server has verified the token by then).
pub async fn connect(target: Target, args: ConnectArgs) -> anyhow::Result<Report> {
    target.require_socketio("W4 connect")?;
    let (wanted, budget_note) = target.connection_budget(args.connections);
    let sessions = accounts::register_users(&target, target.users.min(wanted.max(1))).await?;
    let latencies = Latencies::new();
    let phase = probe::start(target.probe.as_ref());
    let started = Instant::now();
    let opened = open_sockets(
        &target,
        wanted,
        args.concurrency,
        &sessions,
        Some(&latencies),
    )
    .await;
    let elapsed = started.elapsed();
    let usage = phase.map(probe::Phase::finish);
    let (limited_by, notes) = describe_shortfall(&opened, wanted, budget_note);
    let connected = opened.clients.len() as u64;
    let mut report = Report::new(
        "W4 connect",
        &target,
        json!({
            "connections": wanted,
            "requested_connections": args.connections,
            "concurrency": args.concurrency,
            "users": sessions.len(),
        }),
    );
    report.unit = "handshakes";
    report.expected = wanted as u64;
    report.delivered = connected;
    report.errors = opened.failures;
    report.latency = latencies.summary();
    report.limited_by = limited_by;
    report.notes = notes;
    drop(opened.clients);
    Ok(report.finish(elapsed, connected, usage))
}
