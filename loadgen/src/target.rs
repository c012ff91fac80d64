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
}

impl Target {
    /// Checks that the URL is loopback and raises the open-file limit.
    ///
    /// # Errors
    /// A URL that is not `http://<loopback>:<port>`, or a pid with no /proc entry.
    pub fn new(args: &TargetArgs) -> anyhow::Result<Self> {
        let url = reqwest::Url::parse(&args.url).context("--url is not a URL")?;
        if url.scheme() != "http" {
            bail!("--url must be http:// (the load generator speaks plain HTTP on loopback)");
        }
        let host = url.host_str().unwrap_or_default();
        let ip = match host.trim_start_matches('[').trim_end_matches(']') {
            "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
            literal => literal
                .parse::<IpAddr>()
                .context("--url must name a loopback address such as 127.0.0.1")?,
        };
        if !ip.is_loopback() {
            bail!("--url must name a loopback address, not {ip}: load stays on this machine");
        }
        let port = url.port_or_known_default().context("--url has no port")?;
        let probe = args.server_pid.map(Probe::new).transpose()?;
        let run_seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let descriptor_limit =
            rlimit::increase_nofile_limit(u64::MAX).context("reading the open-file limit")?;
        Ok(Target {
            base: format!("http://{}", SocketAddr::new(ip, port)),
            address: SocketAddr::new(ip, port),
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
        })
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
            let server_allowed =
                usize::try_from(server.saturating_sub(RESERVED_DESCRIPTORS)).unwrap_or(usize::MAX);
            if wanted.min(allowed) > server_allowed {
                allowed = server_allowed;
                why = Some(format!(
                    "the server's open-file limit ({server} descriptors) allows about \
                     {server_allowed} connections, not {wanted}"
                ));
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
