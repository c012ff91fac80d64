//! The server's own cost, read from `/proc/<pid>`: CPU time (user + system,
//! all threads) and resident memory, over the measured phase only. With a
//! second process of the same cluster (`--also-server-pid`), both figures are
//! the sums over the two processes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;

/// How often resident memory is sampled during a phase.
const RSS_SAMPLE_EVERY: Duration = Duration::from_millis(20);

/// A server process to watch, or two of one cluster.
#[derive(Debug, Clone)]
pub struct Probe {
    pid: u32,
    /// The cluster's second process, when driven too.
    also: Option<u32>,
    ticks_per_second: f64,
}

/// What the server spent during one measured phase.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ServerUsage {
    /// CPU time, user plus system, in milliseconds.
    pub cpu_ms: f64,
    /// Resident memory when the phase began, in KiB.
    pub rss_start_kib: u64,
    /// Highest resident memory seen during the phase, in KiB.
    pub rss_peak_kib: u64,
    /// Resident memory when the phase ended, in KiB.
    pub rss_end_kib: u64,
    /// With two processes: each one's CPU time, in milliseconds, in the order
    /// `--server-pid`, `--also-server-pid` (`cpu_ms` is their sum).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_ms_by_process: Option<[f64; 2]>,
}

impl Probe {
    /// # Errors
    /// When the process does not exist or /proc cannot be read.
    pub fn new(pid: u32) -> anyhow::Result<Self> {
        let probe = Probe {
            pid,
            also: None,
            // The kernel's USER_HZ; 100 on every Linux this runs on.
            ticks_per_second: 100.0,
        };
        probe
            .cpu_ms()
            .with_context(|| format!("reading /proc/{pid}/stat (is --server-pid right?)"))?;
        Ok(probe)
    }

    /// Watches `pid` too, the cluster's second process.
    ///
    /// # Errors
    /// When that process does not exist or /proc cannot be read.
    pub fn also(self, pid: u32) -> anyhow::Result<Self> {
        if pid == self.pid {
            anyhow::bail!("--also-server-pid must name another process than --server-pid");
        }
        self.process_cpu_ms(pid)
            .with_context(|| format!("reading /proc/{pid}/stat (is --also-server-pid right?)"))?;
        Ok(Probe {
            also: Some(pid),
            ..self
        })
    }

    /// The server's soft open-file limit, from /proc/<pid>/limits (with two
    /// processes, the lower of their limits).
    pub fn descriptor_limit(&self) -> Option<u64> {
        let first = descriptor_limit_of(self.pid);
        match self.also.map(descriptor_limit_of) {
            Some(second) => first.into_iter().chain(second).min(),
            None => first,
        }
    }

    /// CPU time so far, summed over the watched processes.
    fn cpu_ms(&self) -> anyhow::Result<f64> {
        self.cpu_ms_each().map(total)
    }

    /// Each watched process's CPU time so far: the first's, and the
    /// second's when there is one.
    fn cpu_ms_each(&self) -> anyhow::Result<(f64, Option<f64>)> {
        let first = self.process_cpu_ms(self.pid)?;
        let second = self.also.map(|pid| self.process_cpu_ms(pid)).transpose()?;
        Ok((first, second))
    }

    fn process_cpu_ms(&self, pid: u32) -> anyhow::Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        // The command name may hold spaces; fields are counted after its ')'.
        let rest = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .context("unexpected /proc stat format")?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the whole line; the state
        // (field 3) is the first after ')'.
        let utime: f64 = fields.get(11).context("no utime")?.parse()?;
        let stime: f64 = fields.get(12).context("no stime")?.parse()?;
        Ok((utime + stime) * 1000.0 / self.ticks_per_second)
    }

    /// Resident memory now, summed over the watched processes.
    fn rss_kib(&self) -> u64 {
        rss_kib_of(self.pid) + self.also.map_or(0, rss_kib_of)
    }

    /// Starts a measured phase: notes the CPU time and samples memory until
    /// [`Phase::finish`].
    pub fn start(&self) -> Phase {
        let peak = Arc::new(AtomicU64::new(self.rss_kib()));
        let sampler = {
            let probe = self.clone();
            let peak = Arc::clone(&peak);
            tokio::spawn(async move {
                let mut every = tokio::time::interval(RSS_SAMPLE_EVERY);
                loop {
                    every.tick().await;
                    peak.fetch_max(probe.rss_kib(), Ordering::Relaxed);
                }
            })
        };
        let cpu_start_each = self.cpu_ms_each().ok();
        Phase {
            probe: self.clone(),
            cpu_start_ms: cpu_start_each.map_or(0.0, total),
            cpu_start_each,
            rss_start_kib: self.rss_kib(),
            peak,
            sampler,
        }
    }
}

/// The sum of [`Probe::cpu_ms_each`].
fn total(each: (f64, Option<f64>)) -> f64 {
    match each {
        (first, Some(second)) => first + second,
        (first, None) => first,
    }
}

/// A process's soft open-file limit, from /proc/<pid>/limits.
fn descriptor_limit_of(pid: u32) -> Option<u64> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// A process's resident memory, in KiB (0 when it cannot be read).
fn rss_kib_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

/// A measured phase in progress.
pub struct Phase {
    probe: Probe,
    cpu_start_ms: f64,
    /// Each process's CPU time at the start, when it could be read.
    cpu_start_each: Option<(f64, Option<f64>)>,
    rss_start_kib: u64,
    peak: Arc<AtomicU64>,
    sampler: tokio::task::JoinHandle<()>,
}

impl Phase {
    /// Ends the phase.
    pub fn finish(self) -> ServerUsage {
        self.sampler.abort();
        let rss_end_kib = self.probe.rss_kib();
        let cpu_end_each = self.probe.cpu_ms_each().ok();
        let cpu_end = cpu_end_each.map_or(self.cpu_start_ms, total);
        let cpu_ms_by_process = match (self.cpu_start_each, cpu_end_each) {
            (Some((a0, Some(b0))), Some((a1, Some(b1)))) => Some([a1 - a0, b1 - b0]),
            _ => None,
        };
        ServerUsage {
            cpu_ms: cpu_end - self.cpu_start_ms,
            rss_start_kib: self.rss_start_kib,
            rss_peak_kib: self.peak.load(Ordering::Relaxed).max(rss_end_kib),
            rss_end_kib,
            cpu_ms_by_process,
        }
    }
}

/// A phase on a server that may or may not be watched.
pub fn start(probe: Option<&Probe>) -> Option<Phase> {
    probe.map(Probe::start)
}
