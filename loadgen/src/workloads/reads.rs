//! W5: catalogue reads at a fixed concurrency, over REST (`GET /products`)
//! or GraphQL (`products`), against a catalogue of the default page size.
//!
//! Over GraphQL the peer is the Apollo reference (`--flavor apollo`), read
//! the same way: `products(first: 20) { nodes { … } }` by POST, 32 in
//! flight, the whole answer read. One difference it imposes: its `Product`
//! has no `createdAt` and `updatedAt`, so it is asked for the five fields it
//! has while ours is asked for all seven its REST answer carries (the
//! selection W5 has always measured). Ours thus resolves and serialises two
//! fields more per product; the ratio leans against ours, not for it. Both
//! catalogues are filled through `POST /products` by the admin before the
//! measured phase; the reference keeps them in memory, ours in its store.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::json;

use super::counter;
use crate::accounts;
use crate::probe;
use crate::report::{Latencies, Report};
use crate::target::{Flavor, Target, TargetArgs};

/// Products in the catalogue during the run: one default page, so both
/// servers answer with the same 20 products (the reference has no paging).
const CATALOGUE: usize = 20;

/// The GraphQL read against ours: the same fields the REST answer carries.
const PRODUCTS_QUERY: &str =
    "{ products(first: 20) { nodes { id name price stock description createdAt updatedAt } } }";

/// The GraphQL read against the Apollo reference: the same, less the two
/// timestamps its schema lacks.
const APOLLO_PRODUCTS_QUERY: &str =
    "{ products(first: 20) { nodes { id name price stock description } } }";

/// What a run against the Apollo reference reports about the selection.
const APOLLO_SELECTION_NOTE: &str = "the Apollo reference's Product has no createdAt or \
    updatedAt: it was asked for 5 fields per product (id name price stock description), ours \
    for 7";

/// Which door the reads go through.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Door {
    Rest,
    Graphql,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ReadsArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Which door to read through.
    #[arg(long, value_enum, default_value = "rest")]
    pub door: Door,
    /// Requests in flight at once (each on its own keep-alive connection).
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Length of the measured phase, in seconds.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
}

/// W5.
pub async fn reads(target: Target, args: ReadsArgs) -> anyhow::Result<Report> {
    match (target.flavor, args.door) {
        (Flavor::Limit, _) => bail!("W5 reads a catalogue; the limit server has none"),
        (Flavor::Node, Door::Graphql) => bail!("the Node reference has no GraphQL door"),
        (Flavor::Apollo, Door::Rest) => {
            bail!("the Apollo reference is the GraphQL peer: compare REST reads with --flavor node")
        }
        _ => {}
    }
    if target.also.is_some() {
        bail!(
            "W5 reads through one process: --also-url is for the socket workloads (chat, \
             fanout, idle, connect, subscriptions)"
        );
    }
    let http = accounts::http_client(None)?;
    let admin = accounts::admin_session(&target, &http).await?;
    for n in 0..CATALOGUE {
        accounts::create_product(&target, &http, &admin, &format!("Catalogue item {n}")).await?;
    }
    let query = graphql_query(target.flavor);
    let check = read_once(&http, &target, args.door, query).await?;
    if check != CATALOGUE {
        bail!(
            "the catalogue read returned {check} products, not {CATALOGUE}: is the server fresh?"
        );
    }
    let latencies = Latencies::new();
    let ok = counter();
    let failed = counter();
    let deadline = Instant::now() + Duration::from_secs(args.duration);
    let phase = probe::start(target.probe.as_ref());
    let started = Instant::now();
    let workers: Vec<_> = (0..args.concurrency.max(1))
        .map(|_| {
            let (http, target) = (http.clone(), target.clone());
            let (latencies, ok, failed) = (latencies.clone(), ok.clone(), failed.clone());
            let door = args.door;
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    match request(&http, &target, door, query).await {
                        Ok(true) => {
                            latencies.record(sent.elapsed());
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.await;
    }
    let elapsed = started.elapsed();
    let usage = phase.map(probe::Phase::finish);
    let ok = ok.load(Ordering::Relaxed);
    let failed = failed.load(Ordering::Relaxed);
    let door = match args.door {
        Door::Rest => "REST GET /products",
        Door::Graphql => "GraphQL products",
    };
    let mut report = Report::new(
        "W5 reads",
        &target,
        json!({
            "door": door,
            "concurrency": args.concurrency,
            "duration_s": args.duration,
            "catalogue": CATALOGUE,
        }),
    );
    report.unit = "requests";
    report.expected = ok + failed;
    report.delivered = ok;
    report.errors = failed;
    report.latency = latencies.summary();
    if matches!((target.flavor, args.door), (Flavor::Apollo, Door::Graphql)) {
        report.notes.push(APOLLO_SELECTION_NOTE.to_owned());
    }
    Ok(report.finish(elapsed, ok, usage))
}

/// The GraphQL read for `flavor`: as many of the REST answer's fields as
/// its schema has.
fn graphql_query(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::Apollo => APOLLO_PRODUCTS_QUERY,
        _ => PRODUCTS_QUERY,
    }
}

/// One read; `Ok(true)` when the server answered 200.
async fn request(
    http: &reqwest::Client,
    target: &Target,
    door: Door,
    query: &str,
) -> reqwest::Result<bool> {
    let response = match door {
        Door::Rest => http.get(format!("{}/products", target.base)).send().await?,
        Door::Graphql => {
            http.post(format!("{}/graphql", target.base))
                .json(&json!({ "query": query }))
                .send()
                .await?
        }
    };
    let ok = response.status().is_success();
    // Read the whole body: a benchmark that skips it measures less work.
    let _ = response.bytes().await?;
    Ok(ok)
}

/// The number of products one read returns.
async fn read_once(
    http: &reqwest::Client,
    target: &Target,
    door: Door,
    query: &str,
) -> anyhow::Result<usize> {
    let body: serde_json::Value = match door {
        Door::Rest => {
            http.get(format!("{}/products", target.base))
                .send()
                .await?
                .json()
                .await?
        }
        Door::Graphql => {
            http.post(format!("{}/graphql", target.base))
                .json(&json!({ "query": query }))
                .send()
                .await?
                .json()
                .await?
        }
    };
    let list = match door {
        Door::Rest => &body["data"],
        Door::Graphql => &body["data"]["products"]["nodes"],
    };
    list.as_array()
        .map(Vec::len)
        .with_context(|| format!("unexpected catalogue answer: {body}"))
}
