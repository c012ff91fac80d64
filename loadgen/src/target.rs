//! The server under test: where it is, what kind it is, and what this
//! process may open against it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::probe::Probe;

/// Descriptors kept back for the HTTP client, stdio and the runtime.
const RESERVED_DESCRIPTORS: u64 = 128;

/// Which server a run talks to; decides how tokens are obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    /// Realtime Dashboard.
    Ours,
    /// The Express + Socket.IO reference (`shared/peers/node-socketio-reference`).
    Node,
    /// `loadgen limit-server`: no accounts, no authentication.
    Limit,
    /// The Apollo Server 4 + `graphql-ws` reference
    /// (`shared/peers/node-graphql-reference`), the peer of our GraphQL door
    /// for W5 over GraphQL and W6. It speaks no Socket.IO, and its `Product`
    /// has no `createdAt`/`updatedAt` (see `workloads::reads`).
    Apollo,
}

impl Flavor {
    /// Whether the server has a Socket.IO endpoint (W1 to W4 need one).
    pub fn speaks_socketio(self) -> bool {
        matches!(self, Flavor::Ours | Flavor::Node | Flavor::Limit)
    }

    /// Whether the server has a GraphQL door, over HTTP and
    /// `graphql-transport-ws` (W5 over GraphQL and W6 need one).
    pub fn speaks_graphql(self) -> bool {
        matches!(self, Flavor::Ours | Flavor::Apollo)
    }
}

/// Where and what to measure, shared by every workload.
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    /// Base URL of the server under test; a loopback address only.
    #[arg(long, default_value = "http://127.0.0.1:4000")]
    pub url: String,
    /// Which server this is.
    #[arg(long, value_enum, default_value = "ours")]
    pub flavor: Flavor,
    /// Name of the server in the report (default: the flavor).
    #[arg(long)]
    pub label: Option<String>,
    /// The server's process id, to read its CPU time and RSS from /proc.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// An admin account on the server (created by the server's bootstrap).
    #[arg(long, env = "LOADGEN_ADMIN_EMAIL", default_value = "admin@example.com")]
    pub admin_email: String,
    /// Its password.
    #[arg(
        long,
        env = "LOADGEN_ADMIN_PASSWORD",
        default_value = "admin-password-1"
    )]
    pub admin_password: String,
    /// Distinct users registered for the run; connections share their tokens
    /// round-robin (one user may hold many connections, as with many tabs).
    #[arg(long, default_value_t = 100)]
    pub users: usize,
    /// Hard limit on the whole run, in seconds.
    #[arg(long, default_value_t = 300)]
    pub time_limit: u64,
    /// Base URL of a second process of the same cluster (the same MongoDB
    /// database and Redis as `--url`'s); a loopback address only. Sockets are
    /// then spread over both processes: in W1 each pair's two users sit on
    /// different processes, in W2 to W4 and W6 connections alternate between
    /// them. Accounts are registered and the admin signs in through `--url`
    /// only. `--flavor ours` only.
    #[arg(long)]
    pub also_url: Option<String>,
    /// The second process's id: server CPU and RSS are then the sums over
    /// both processes. Needed with `--also-url` when `--server-pid` is given.
    #[arg(long, requires_all = ["also_url", "server_pid"])]
    pub also_server_pid: Option<u32>,
    /// Name of the workload in the report (default: the workload's own, e.g.
    /// "W1 chat"); benches/side-by-side.sh names its cluster runs "W7 …".
    #[arg(long)]
    pub workload_name: Option<String>,
}

/// A checked target.
#[derive(Debug, Clone)]
pub struct Target {
    /// `http://host:port`, no trailing slash.
    pub base: String,
    /// The server's socket address (loopback).
    pub address: SocketAddr,
    pub flavor: Flavor,
    pub label: String,
    pub admin_email: String,
    pub admin_password: String,
    pub users: usize,
    pub time_limit: Duration,
    /// The server process, when its pid was given.
    pub probe: Option<Probe>,
    /// This process's open-file limit after raising it.
    pub descriptor_limit: u64,
    /// Distinguishes this run's accounts from earlier runs' on the same server.
    pub run_id: String,
    /// The same, as a number.
    pub run_seed: u64,
    /// The second process of the cluster (`--also-url`): the same target
    /// with its own address, no probe (the first one's watches both pids)
    /// and no further process.
    pub also: Option<Box<Target>>,
    /// `--workload-name`, when given.
    pub workload_name: Option<String>,
}

impl Target {
    /// Checks that the URL is loopback and raises the open-file limit.
    ///
    /// # Errors
    /// A URL that is not `http://<loopback>:<port>`, or a pid with no /proc entry.
    pub fn new(args: &TargetArgs) -> anyhow::Result<Self> {
        let address = loopback_address(&args.url, "--url")?;
        let also = match &args.also_url {
            None => None,
            Some(url) => {
                let also = loopback_address(url, "--also-url")?;
                if also == address {
                    bail!("--also-url must name another process than --url ({address})");
                }
                if args.flavor != Flavor::Ours {
                    bail!("--also-url drives a second process of one cluster: --flavor ours only");
                }
                if args.server_pid.is_some() && args.also_server_pid.is_none() {
                    bail!(
                        "--also-url with --server-pid needs --also-server-pid too: server CPU \
                         and memory are summed over both processes"
                    );
                }
                Some(also)
            }
        };
        let probe = args.server_pid.map(Probe::new).transpose()?;
        let probe = match (probe, args.also_server_pid) {
            (Some(probe), Some(pid)) => Some(probe.also(pid)?),
            (probe, _) => probe,
        };
        let run_seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let descriptor_limit =
            rlimit::increase_nofile_limit(u64::MAX).context("reading the open-file limit")?;
        let target = Target {
            base: format!("http://{address}"),
            address,
            flavor: args.flavor,
            label: args
                .label
                .clone()
                .unwrap_or_else(|| format!("{:?}", args.flavor).to_lowercase()),
            admin_email: args.admin_email.clone(),
            admin_password: args.admin_password.clone(),
            users: args.users.max(1),
            time_limit: Duration::from_secs(args.time_limit.max(1)),
            probe,
            descriptor_limit,
            run_id: format!("{run_seed:x}{:x}", std::process::id()),
            run_seed,
            also: None,
            workload_name: args.workload_name.clone(),
        };
        let also = also.map(|address| {
            Box::new(Target {
                base: format!("http://{address}"),
                address,
                probe: None,
                ..target.clone()
            })
        });
        Ok(Target { also, ..target })
    }

    /// Refuses a Socket.IO workload against a server without Socket.IO, so
    /// that a mistaken flavor fails at once rather than after registering
    /// users, with a message naming what to run instead.
    ///
    /// # Errors
    /// `--flavor apollo`.
    pub fn require_socketio(&self, workload: &str) -> anyhow::Result<()> {
        if !self.flavor.speaks_socketio() {
            bail!(
                "{workload} speaks Socket.IO, which the {:?} reference does not: it is the \
                 GraphQL peer (reads --door graphql, subscriptions)",
                self.flavor
            );
        }
        Ok(())
    }

    /// Refuses a GraphQL workload against a server without a GraphQL door.
    ///
    /// # Errors
    /// `--flavor node` or `--flavor limit`.
    pub fn require_graphql(&self, workload: &str) -> anyhow::Result<()> {
        if !self.flavor.speaks_graphql() {
            bail!(
                "{workload} needs a GraphQL server: run it against --flavor ours or --flavor \
                 apollo, not --flavor {}",
                format!("{:?}", self.flavor).to_lowercase()
            );
        }
        Ok(())
    }

    /// How many server processes this run drives: 1, or 2 with `--also-url`.
    pub fn processes(&self) -> usize {
        1 + usize::from(self.also.is_some())
    }

    /// The process the `n`th connection goes to: this one, or with
    /// `--also-url` this one for even `n` and the other for odd `n`.
    pub fn process_for(&self, n: usize) -> &Target {
        match &self.also {
            Some(also) if n % 2 == 1 => also,
            _ => self,
        }
    }

    /// How many of `wanted` connections this process can hold, and, when that
    /// is fewer, a sentence naming the limit that stopped the run.
    pub fn connection_budget(&self, wanted: usize) -> (usize, Option<String>) {
        let ours = self.descriptor_limit.saturating_sub(RESERVED_DESCRIPTORS);
        let server = self.probe.as_ref().and_then(Probe::descriptor_limit);
        let mut allowed = usize::try_from(ours).unwrap_or(usize::MAX);
        let mut why = None;
        if wanted > allowed {
            why = Some(format!(
                "the load generator's open-file limit ({} descriptors per process, the \
                 machine's hard limit) allows {allowed} connections, not {wanted}",
                self.descriptor_limit
            ));
        }
        if let Some(server) = server {
            // Each process holds its share of the connections.
            let server_allowed = usize::try_from(server.saturating_sub(RESERVED_DESCRIPTORS))
                .unwrap_or(usize::MAX)
                .saturating_mul(self.processes());
            if wanted.min(allowed) > server_allowed {
                allowed = server_allowed;
                why = Some(if self.processes() == 1 {
                    format!(
                        "the server's open-file limit ({server} descriptors) allows about \
                         {server_allowed} connections, not {wanted}"
                    )
                } else {
                    format!(
                        "the server processes' open-file limit ({server} descriptors each) \
                         allows about {server_allowed} connections over {} processes, not \
                         {wanted}",
                        self.processes()
                    )
                });
            }
        }
        (wanted.min(allowed), why)
    }

    /// The loopback source address for the `n`th connection or client.
    ///
    /// Spreading connections over 127.0.0.2 to 127.0.0.17 gives each its own
    /// ephemeral port range, so back-to-back runs of 10,000 connections do not
    /// run out of ports while earlier ones sit in TIME_WAIT.
    pub fn source_for(&self, n: usize) -> IpAddr {
        if self.address.is_ipv6() {
            return self.address.ip();
        }
        let last = u8::try_from(2 + n % 16).unwrap_or(2);
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
    }
}

/// Checks that `url` is `http://<loopback>:<port>` and returns that address;
/// `flag` names the option in errors.
fn loopback_address(url: &str, flag: &str) -> anyhow::Result<SocketAddr> {
    let url = reqwest::Url::parse(url).with_context(|| format!("{flag} is not a URL"))?;
    if url.scheme() != "http" {
        bail!("{flag} must be http:// (the load generator speaks plain HTTP on loopback)");
    }
    let host = url.host_str().unwrap_or_default();
    let ip = match host.trim_start_matches('[').trim_end_matches(']') {
        "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        literal => literal
            .parse::<IpAddr>()
            .with_context(|| format!("{flag} must name a loopback address such as 127.0.0.1"))?,
    };
    if !ip.is_loopback() {
        bail!("{flag} must name a loopback address, not {ip}: load stays on this machine");
    }
    let port = url
        .port_or_known_default()
        .with_context(|| format!("{flag} has no port"))?;
    Ok(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        target: TargetArgs,
    }

    fn target(args: &[&str]) -> anyhow::Result<Target> {
        let cli = Cli::try_parse_from(std::iter::once("loadgen").chain(args.iter().copied()))?;
        Target::new(&cli.target)
    }

    #[test]
    fn only_loopback_http_urls_are_targets() {
        let ok = loopback_address("http://localhost:4000", "--url").expect("localhost");
        assert_eq!(ok, "127.0.0.1:4000".parse().unwrap());
        assert!(loopback_address("http://[::1]:4000/", "--url").is_ok());
        let far = loopback_address("http://10.0.0.1:4000", "--also-url").unwrap_err();
        assert!(
            far.to_string()
                .starts_with("--also-url must name a loopback")
        );
        assert!(loopback_address("https://127.0.0.1:4000", "--url").is_err());
    }

    #[test]
    fn a_second_process_takes_every_odd_connection() {
        let one = target(&["--url", "http://127.0.0.1:4400"]).expect("one process");
        assert_eq!(one.processes(), 1);
        assert_eq!(one.process_for(1).address, one.address);
        let two = target(&[
            "--url",
            "http://127.0.0.1:4400",
            "--also-url",
            "http://127.0.0.1:4403",
        ])
        .expect("two processes");
        assert_eq!(two.processes(), 2);
        assert_eq!(two.process_for(0).address, two.address);
        let other = two.process_for(1);
        assert_eq!(other.address, "127.0.0.1:4403".parse().unwrap());
        assert_eq!(other.base, "http://127.0.0.1:4403");
        assert_eq!(other.run_id, two.run_id);
        assert!(other.also.is_none() && other.probe.is_none());
    }

    #[test]
    fn a_second_process_must_be_another_one_of_ours() {
        let same = target(&[
            "--url",
            "http://127.0.0.1:4400",
            "--also-url",
            "http://localhost:4400",
        ]);
        assert!(same.is_err());
        let node = target(&[
            "--url",
            "http://127.0.0.1:4400",
            "--also-url",
            "http://127.0.0.1:4403",
            "--flavor",
            "node",
        ]);
        assert!(node.is_err());
        // Its pid only with --also-url and --server-pid.
        assert!(target(&["--also-server-pid", "1"]).is_err());
    }

    #[test]
    fn each_flavor_runs_only_the_workloads_its_protocols_allow() {
        let apollo = target(&["--flavor", "apollo"]).expect("the Apollo reference");
        assert_eq!(apollo.label, "apollo");
        assert!(apollo.require_graphql("W6 subscriptions").is_ok());
        let refused = apollo.require_socketio("W2 fan-out").unwrap_err();
        assert!(refused.to_string().contains("GraphQL peer"), "{refused}");
        for flavor in ["node", "limit"] {
            let other = target(&["--flavor", flavor]).expect(flavor);
            assert!(other.require_socketio("W2 fan-out").is_ok());
            let refused = other.require_graphql("W6 subscriptions").unwrap_err();
            assert!(
                refused
                    .to_string()
                    .contains(&format!("not --flavor {flavor}"))
            );
        }
        let ours = target(&[]).expect("ours");
        assert!(ours.require_socketio("W1 chat").is_ok() && ours.require_graphql("W6").is_ok());
    }
}
