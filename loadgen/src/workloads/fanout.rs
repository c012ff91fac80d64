//! W2 (Socket.IO `new_product` to every socket) and W6 (`newProduct` to
//! every `graphql-ws` subscriber): an admin creates products; each one's
//! latency is from just before the create request to its arrival at each
//! connection.
//!
//! W6 runs the same way against our server and against the Apollo reference
//! (`--flavor apollo`): both take the token in the `connection_init` payload
//! as `{ "token": … }`, both publish `newProduct` when the admin's
//! `POST /products` succeeds, and both answer the same subscription
//! (`newProduct { id name price }`), whose `name` carries the send time (see
//! `stamp`). What differs is behind the door: ours writes the product to its
//! store before publishing it, the reference keeps it in memory; that is one
//! write per created product, not per delivery.
//!
//! With `--also-url` (W7), the connections alternate between two processes
//! of one cluster and the admin creates the products through `--url`: half
//! the deliveries cross between the processes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use super::{OPEN_CONCURRENCY, counter, describe_shortfall, open_many, open_sockets, wait_for};
use crate::accounts::{self, Session};
use crate::gqlws::GqlWsClient;
use crate::probe;
use crate::report::{Latencies, Report};
use crate::sio::{self, Incoming};
use crate::stamp;
use crate::target::{Target, TargetArgs};

/// How long after the last create the run waits for stragglers.
const DRAIN_PATIENCE: Duration = Duration::from_secs(10);
/// Quiet time after the sockets open and before the measured phase, so
/// presence announcements of the set-up are not measured.
const SETTLE: Duration = Duration::from_secs(2);

/// Parameters of W2 and W6 alike.
#[derive(Debug, Clone, clap::Args)]
pub struct FanoutArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Connections held: Socket.IO for W2, `graphql-transport-ws` with one
    /// `newProduct` subscription each for W6.
    #[arg(long, default_value_t = 10_000)]
    pub connections: usize,
    /// Products created during the measured phase.
    #[arg(long, default_value_t = 20)]
    pub events: usize,
    /// Pause between creates, in milliseconds.
    #[arg(long, default_value_t = 250)]
    pub interval_ms: u64,
}

/// What the connections of a fan-out run share.
#[derive(Clone)]
struct Tally {
    delivered: Arc<AtomicU64>,
    latencies: Latencies,
}

impl Tally {
    fn arrived(&self, frame: &str) {
        if let Some(age) = stamp::age(frame) {
            self.latencies.record(age);
            self.delivered.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// W2.
pub async fn fanout(target: Target, args: FanoutArgs) -> anyhow::Result<Report> {
    target.require_socketio("W2 fan-out")?;
    let (wanted, budget_note) = target.connection_budget(args.connections);
    let sessions = accounts::register_users(&target, target.users.min(wanted.max(1))).await?;
    let opened = open_sockets(&target, wanted, OPEN_CONCURRENCY, &sessions, None).await;
    let shortfall = describe_shortfall(&opened, wanted, budget_note);
    let run = Run {
        target: &target,
        args: &args,
        users: sessions.len(),
        shortfall,
    };
    run.measure(
        "W2 fan-out",
        opened.clients,
        |mut client, tally| async move {
            while let Some(incoming) = client.next().await {
                if let Incoming::Event(frame) = incoming
                    && sio::event_name(&frame) == Some("new_product")
                {
                    tally.arrived(&frame);
                }
            }
        },
    )
    .await
}

/// The W6 subscription: fields both servers' `Product` has, `name` among
/// them for the send time.
const NEW_PRODUCT: &str = "subscription { newProduct { id name price } }";

/// W6, against our GraphQL door or the Apollo reference.
pub async fn subscriptions(target: Target, args: FanoutArgs) -> anyhow::Result<Report> {
    target.require_graphql("W6 subscriptions")?;
    let (wanted, budget_note) = target.connection_budget(args.connections);
    let sessions = accounts::register_users(&target, target.users.min(wanted.max(1))).await?;
    let opened = open_many(
        wanted,
        OPEN_CONCURRENCY,
        &sessions,
        None,
        |n, session: Session| {
            let target = &target;
            async move {
                let process = target.process_for(n);
                let mut client =
                    GqlWsClient::connect(process, &session.token, target.source_for(n)).await?;
                client
                    .subscribe("1", NEW_PRODUCT)
                    .await
                    .map_err(crate::transport::OpenError::Handshake)?;
                Ok(client)
            }
        },
    )
    .await;
    let shortfall = describe_shortfall(&opened, wanted, budget_note);
    let run = Run {
        target: &target,
        args: &args,
        users: sessions.len(),
        shortfall,
    };
    run.measure(
        "W6 subscriptions",
        opened.clients,
        |mut client, tally| async move {
            while let Some(frame) = client.next().await {
                tally.arrived(&frame);
            }
        },
    )
    .await
}

/// One fan-out run, its connections open.
struct Run<'a> {
    target: &'a Target,
    args: &'a FanoutArgs,
    users: usize,
    shortfall: (Option<String>, Vec<String>),
}

impl Run<'_> {
    /// The measured phase shared by W2 and W6: a reader per connection,
    /// products created on a schedule, and a wait for every connection to
    /// have seen every one.
    async fn measure<C, R, Fut>(
        self,
        workload: &'static str,
        clients: Vec<C>,
        read: R,
    ) -> anyhow::Result<Report>
    where
        R: Fn(C, Tally) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (target, args) = (self.target, self.args);
        let tally = Tally {
            delivered: counter(),
            latencies: Latencies::new(),
        };
        let connected = clients.len();
        let readers: Vec<_> = clients
            .into_iter()
            .map(|client| tokio::spawn(read(client, tally.clone())))
            .collect();
        let http = accounts::http_client(None)?;
        let admin = accounts::admin_session(target, &http).await?;
        tokio::time::sleep(SETTLE).await;
        let expected = (connected * args.events) as u64;
        let phase = probe::start(target.probe.as_ref());
        let started = Instant::now();
        let mut create_errors = 0u64;
        for n in 0..args.events {
            let name = stamp::stamp(&format!("product-{n}"));
            if accounts::create_product(target, &http, &admin, &name)
                .await
                .is_err()
            {
                create_errors += 1;
            }
            tokio::time::sleep(Duration::from_millis(args.interval_ms)).await;
        }
        let finished = wait_for(&tally.delivered, expected, DRAIN_PATIENCE).await;
        let usage = phase.map(probe::Phase::finish);
        for reader in readers {
            reader.abort();
        }
        let params = json!({
            "connections": connected,
            "requested_connections": args.connections,
            "events": args.events,
            "interval_ms": args.interval_ms,
            "users": self.users,
        });
        let mut report = Report::new(workload, target, params);
        report.unit = "deliveries";
        report.expected = expected;
        report.delivered = tally.delivered.load(Ordering::Relaxed);
        report.errors = create_errors;
        report.latency = tally.latencies.summary();
        (report.limited_by, report.notes) = self.shortfall;
        let delivered = report.delivered;
        Ok(report.finish(finished.duration_since(started), delivered, usage))
    }
}
