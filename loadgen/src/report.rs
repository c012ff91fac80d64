//! What a run measured: a human summary and one JSON line.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::probe::ServerUsage;
use crate::target::{Flavor, Target};

/// Latencies in microseconds, shared by the tasks of a run. Recording takes
/// a short, never-awaited lock.
#[derive(Clone)]
pub struct Latencies(Arc<Mutex<Histogram<u64>>>);

impl Latencies {
    pub fn new() -> Self {
        // 1 µs to 10 minutes at 3 significant figures.
        let histogram =
            Histogram::new_with_bounds(1, 600_000_000, 3).expect("static histogram bounds");
        Latencies(Arc::new(Mutex::new(histogram)))
    }

    pub fn record(&self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .saturating_record(micros.max(1));
    }

    /// p50, p99 and max, or nothing when no sample was taken.
    pub fn summary(&self) -> Option<LatencySummary> {
        let histogram = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        (!histogram.is_empty()).then(|| LatencySummary {
            samples: histogram.len(),
            p50_us: histogram.value_at_quantile(0.50),
            p99_us: histogram.value_at_quantile(0.99),
            max_us: histogram.max(),
        })
    }
}

/// Percentiles of one latency distribution.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LatencySummary {
    pub samples: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

/// One run's result.
#[derive(Debug, Serialize)]
pub struct Report {
    pub workload: String,
    pub target: String,
    pub flavor: Flavor,
    /// Server processes driven: 2 with `--also-url` (one cluster), else 1,
    /// which the JSON line leaves out.
    #[serde(skip_serializing_if = "is_one")]
    pub processes: usize,
    /// The workload's parameters as given (after any cut to the budget).
    pub params: serde_json::Value,
    /// Length of the measured phase.
    pub measured_s: f64,
    /// What the throughput counts (messages, deliveries, handshakes, requests).
    pub unit: &'static str,
    /// Units completed in the measured phase.
    pub completed: u64,
    pub per_second: f64,
    pub latency: Option<LatencySummary>,
    /// Deliveries or answers the run should have seen.
    pub expected: u64,
    /// Deliveries or answers it did see.
    pub delivered: u64,
    /// `expected - delivered`, never negative.
    pub lost: u64,
    /// Error acks, failed connections, non-2xx answers.
    pub errors: u64,
    pub server: Option<ServerUsage>,
    /// Server CPU time per completed unit, in microseconds.
    pub server_cpu_us_per_unit: Option<f64>,
    /// Server memory growth per held connection, in bytes (W3).
    pub server_bytes_per_connection: Option<f64>,
    /// A limit of the machine that cut the run short, in words.
    pub limited_by: Option<String>,
    pub notes: Vec<String>,
}

impl Report {
    /// A report with the common fields filled in.
    pub fn new(workload: &'static str, target: &Target, params: serde_json::Value) -> Self {
        Report {
            workload: target
                .workload_name
                .clone()
                .unwrap_or_else(|| workload.to_owned()),
            target: target.label.clone(),
            flavor: target.flavor,
            processes: target.processes(),
            params,
            measured_s: 0.0,
            unit: "",
            completed: 0,
            per_second: 0.0,
            latency: None,
            expected: 0,
            delivered: 0,
            lost: 0,
            errors: 0,
            server: None,
            server_cpu_us_per_unit: None,
            server_bytes_per_connection: None,
            limited_by: None,
            notes: Vec::new(),
        }
    }

    /// Fills in throughput, loss and per-unit server cost.
    pub fn finish(
        mut self,
        measured: Duration,
        completed: u64,
        server: Option<ServerUsage>,
    ) -> Self {
        self.measured_s = measured.as_secs_f64();
        self.completed = completed;
        self.per_second = if self.measured_s > 0.0 {
            completed as f64 / self.measured_s
        } else {
            0.0
        };
        self.lost = self.expected.saturating_sub(self.delivered);
        self.server = server;
        self.server_cpu_us_per_unit = server
            .filter(|_| completed > 0)
            .map(|s| s.cpu_ms * 1000.0 / completed as f64);
        self
    }

    /// Prints the summary, then the JSON line (always the last line).
    pub fn print(&self) {
        println!(
            "{} against {}: {} {} in {:.2} s ({:.0}/s)",
            self.workload, self.target, self.completed, self.unit, self.measured_s, self.per_second
        );
        if let Some(l) = self.latency {
            println!(
                "  latency: p50 {} µs, p99 {} µs, max {} µs over {} samples",
                l.p50_us, l.p99_us, l.max_us, l.samples
            );
        }
        println!(
            "  delivered {} of {} expected, lost {}, errors {}",
            self.delivered, self.expected, self.lost, self.errors
        );
        if let Some(s) = self.server {
            println!(
                "  server: {:.0} ms CPU, RSS {} → peak {} KiB",
                s.cpu_ms, s.rss_start_kib, s.rss_peak_kib
            );
            if let Some([first, second]) = s.cpu_ms_by_process {
                println!(
                    "  server CPU and RSS are sums over {} processes: CPU {first:.0} ms + \
                     {second:.0} ms",
                    self.processes
                );
            }
        }
        if let Some(cpu) = self.server_cpu_us_per_unit {
            println!("  server CPU per unit ({}): {cpu:.1} µs", self.unit);
        }
        if let Some(bytes) = self.server_bytes_per_connection {
            println!("  server memory per connection: {bytes:.0} bytes");
        }
        if let Some(why) = &self.limited_by {
            println!("  LIMITED: {why}");
        }
        for note in &self.notes {
            println!("  note: {note}");
        }
        match serde_json::to_string(self) {
            Ok(line) => println!("{line}"),
            Err(error) => eprintln!("loadgen: cannot encode the report: {error}"),
        }
    }
}

/// serde's `skip_serializing_if` for [`Report::processes`].
fn is_one(n: &usize) -> bool {
    *n == 1
}
