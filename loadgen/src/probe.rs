//! The server's own cost, read from `/proc/<pid>`: CPU time (user + system,
//! all threads) and resident memory, over the measured phase only.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;

/// How often resident memory is sampled during a phase.
const RSS_SAMPLE_EVERY: Duration = Duration::from_millis(20);

/// A server process to watch.
#[derive(Debug, Clone)]
pub struct Probe {
    pid: u32,
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
}

impl Probe {
    /// # Errors
    /// When the process does not exist or /proc cannot be read.
    pub fn new(pid: u32) -> anyhow::Result<Self> {
        let probe = Probe {
            pid,
            // The kernel's USER_HZ; 100 on every Linux this runs on.
            ticks_per_second: 100.0,
        };
        probe
            .cpu_ms()
            .with_context(|| format!("reading /proc/{pid}/stat (is --server-pid right?)"))?;
        Ok(probe)
    }

    /// The server's soft open-file limit, from /proc/<pid>/limits.
    pub fn descriptor_limit(&self) -> Option<u64> {
        let limits = std::fs::read_to_string(format!("/proc/{}/limits", self.pid)).ok()?;
        let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
        line.split_whitespace().nth(3)?.parse().ok()
    }

    fn cpu_ms(&self) -> anyhow::Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid))?;
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

    fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .ok()
            .and_then(|status| {
                let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
                line.split_whitespace().nth(1)?.parse().ok()
            })
            .unwrap_or(0)
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
        Phase {
            probe: self.clone(),
            cpu_start_ms: self.cpu_ms().unwrap_or(0.0),
            rss_start_kib: self.rss_kib(),
            peak,
            sampler,
        }
    }
}

/// A measured phase in progress.
pub struct Phase {
    probe: Probe,
    cpu_start_ms: f64,
    rss_start_kib: u64,
    peak: Arc<AtomicU64>,
    sampler: tokio::task::JoinHandle<()>,
}

impl Phase {
    /// Ends the phase.
    pub fn finish(self) -> ServerUsage {
        self.sampler.abort();
        let rss_end_kib = self.probe.rss_kib();
        let cpu_end = self.probe.cpu_ms().unwrap_or(self.cpu_start_ms);
        ServerUsage {
            cpu_ms: cpu_end - self.cpu_start_ms,
            rss_start_kib: self.rss_start_kib,
            rss_peak_kib: self.peak.load(Ordering::Relaxed).max(rss_end_kib),
            rss_end_kib,
        }
    }
}

/// A phase on a server that may or may not be watched.
pub fn start(probe: Option<&Probe>) -> Option<Phase> {
    probe.map(Probe::start)
}
