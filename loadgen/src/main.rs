//! `loadgen`: drives a running server over its real protocols (Socket.IO v4
//! over WebSocket, `graphql-transport-ws`, HTTP) and reports what it measured.
//!
//! It is an instrument, not a test: it prints a human summary and one JSON
//! line per run, and leaves judging to whoever reads them (BENCHMARKS.md, or
//! the CI smoke test, which checks delivery counts only).
//!
//! Ground rules, enforced here rather than trusted to the caller:
//! - loopback only: the target URL must name a loopback address;
//! - tokens are obtained honestly, by registering and signing in over HTTP;
//! - every loop is bounded in count and in time, under one hard time limit;
//! - the open-file limit is raised as far as allowed, and a run that needs
//!   more descriptors than that is cut down and says so.
//!
//! The servers it knows (`--flavor`): ours; the Express + Socket.IO
//! reference (`node`, W1 to W5 over REST); the "limit" baseline (`limit`, W2
//! to W4); and the Apollo Server 4 + `graphql-ws` reference (`apollo`, W5
//! over GraphQL and W6), which has no Socket.IO and whose `Product` lacks
//! `createdAt` and `updatedAt`, so its W5 read selects five fields where
//! ours selects seven (`workloads::reads`). Every flavor is measured the same
//! way: tokens from its own sign-up and sign-in, registrations spread over
//! the same source addresses, latency from the same instants, server CPU
//! from `/proc/<pid>` over the same phase.
//!
//! The same binary also serves the "limit" baseline (`loadgen limit-server`):
//! the least per-connection work a Socket.IO server can do.

mod accounts;
mod gqlws;
mod limit;
mod probe;
mod report;
mod sio;
mod stamp;
mod target;
mod transport;
mod workloads;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::target::Target;
use crate::workloads::{ChatArgs, ConnectArgs, FanoutArgs, IdleArgs, ReadsArgs};

/// Load generator for Realtime Dashboard and its baselines.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// W1: pairs of users exchange `send_message` at a fixed offered rate.
    Chat(ChatArgs),
    /// W2: Socket.IO connections held while an admin creates products.
    Fanout(FanoutArgs),
    /// W3: Socket.IO connections held idle; server memory per connection.
    Idle(IdleArgs),
    /// W4: Socket.IO handshake and authentication rate with pre-issued tokens.
    Connect(ConnectArgs),
    /// W5: catalogue reads over REST or GraphQL at a fixed concurrency.
    Reads(ReadsArgs),
    /// W6: `graphql-transport-ws` subscribers to `newProduct`.
    Subscriptions(FanoutArgs),
    /// Serve the "limit" baseline: accept WebSockets, fake the Engine.IO and
    /// Socket.IO handshakes, and write one frame per connection per event.
    LimitServer(limit::LimitArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("loadgen: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async move {
        match cli.command {
            Command::LimitServer(args) => limit::serve(args).await,
            Command::Chat(args) => run(&args.target.clone(), |t| workloads::chat(t, args)).await,
            Command::Fanout(args) => {
                run(&args.target.clone(), |t| workloads::fanout(t, args)).await
            }
            Command::Idle(args) => run(&args.target.clone(), |t| workloads::idle(t, args)).await,
            Command::Connect(args) => {
                run(&args.target.clone(), |t| workloads::connect(t, args)).await
            }
            Command::Reads(args) => run(&args.target.clone(), |t| workloads::reads(t, args)).await,
            Command::Subscriptions(args) => {
                run(&args.target.clone(), |t| workloads::subscriptions(t, args)).await
            }
        }
    });
    // Thousands of sockets may still be open; do not wait for their tasks.
    runtime.shutdown_timeout(Duration::from_millis(200));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("loadgen: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Checks the target, then runs one workload under the hard time limit and
/// prints its report.
async fn run<F, Fut>(args: &target::TargetArgs, workload: F) -> anyhow::Result<()>
where
    F: FnOnce(Target) -> Fut,
    Fut: Future<Output = anyhow::Result<report::Report>>,
{
    let target = Target::new(args)?;
    let limit = target.time_limit;
    let report = tokio::time::timeout(limit, workload(target))
        .await
        .map_err(|_| anyhow::anyhow!("hard time limit of {limit:?} reached"))??;
    report.print();
    Ok(())
}
