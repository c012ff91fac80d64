//! Real JavaScript clients (socket.io-client, graphql-ws) run as child processes.
//!
//! The drivers live in `tests/js` (`sio-driver.mjs`, `gqlws-driver.mjs`); each prints
//! one JSON object per line on stdout for everything that happens and reads one JSON
//! command per line on stdin. See the header of each script for the line formats.
//! Their npm dependencies must be installed first: `npm ci --prefix tests/js`.
//! `JS_DRIVERS_DIR` overrides where the scripts are looked for.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Extra time, on top of an ack's own timeout, for the driver to report it.
const ACK_SLACK: Duration = Duration::from_secs(2);

/// A running `node <driver>.mjs` process.
pub struct NodeClient {
    script: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
    /// Lines read but not yet consumed by an `expect`, in arrival order.
    buffer: VecDeque<Value>,
    /// Every line read so far, for panic messages.
    seen: Vec<String>,
    stdout_closed: bool,
    next_tag: u64,
}

fn drivers_dir() -> PathBuf {
    match std::env::var_os("JS_DRIVERS_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/js")),
    }
}

impl NodeClient {
    /// Spawns `node <script>` with the JSON options as argv[2], in the drivers
    /// directory (`tests/js`), stdin/stdout piped, stderr inherited, killed on drop.
    pub async fn spawn(script: &str, options: Value) -> NodeClient {
        let dir = drivers_dir();
        if !dir.join("node_modules").is_dir() {
            panic!(
                "the JavaScript test drivers are not installed: {} is missing.\n\
                 Run `npm ci --prefix tests/js` (Node.js >= 20) from the repository root first.",
                dir.join("node_modules").display()
            );
        }
        if !dir.join(script).is_file() {
            panic!("no JavaScript driver {script:?} in {}", dir.display());
        }
        let mut child = Command::new("node")
            .arg(script)
            .arg(options.to_string())
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start `node {script}` (is Node.js >= 20 on PATH?): {e}")
            });
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("child stdout is piped");
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        NodeClient {
            script: script.to_string(),
            child,
            stdin,
            lines,
            buffer: VecDeque::new(),
            seen: Vec::new(),
            stdout_closed: false,
            next_tag: 0,
        }
    }

    /// `sio-driver.mjs` connecting to `url` (e.g. `http://127.0.0.1:PORT`) with the
    /// handshake `auth` object (`Value::Null` for none).
    pub async fn socketio(url: &str, auth: Value) -> NodeClient {
        Self::spawn("sio-driver.mjs", json!({ "url": url, "auth": auth })).await
    }

    /// `gqlws-driver.mjs` connecting to `url` (e.g. `ws://127.0.0.1:PORT/graphql`) with
    /// the `connection_init` payload `connection_params` (`Value::Null` for none).
    pub async fn graphql_ws(url: &str, connection_params: Value) -> NodeClient {
        Self::spawn(
            "gqlws-driver.mjs",
            json!({ "url": url, "connectionParams": connection_params }),
        )
        .await
    }

    /// Writes one command line to the driver's stdin.
    pub async fn send(&mut self, command: Value) {
        let mut line = command.to_string();
        line.push('\n');
        let result = match self.stdin.as_mut() {
            Some(stdin) => match stdin.write_all(line.as_bytes()).await {
                Ok(()) => stdin.flush().await,
                Err(e) => Err(e),
            },
            None => Err(std::io::Error::other("stdin already closed")),
        };
        if let Err(e) = result {
            let report = self.report();
            panic!("cannot send {command} to the driver: {e}\n{report}");
        }
    }

    /// Socket.IO: emits `event` without an ack. `args` is the argument list when it
    /// is a JSON array, otherwise the single argument.
    pub async fn emit(&mut self, event: &str, args: Value) {
        let args = as_arg_list(args);
        self.send(json!({ "cmd": "emit", "event": event, "args": args, "ack": false }))
            .await;
    }

    /// Socket.IO: emits `event` with an ack callback (`args` as for [`emit`]) and
    /// returns the ack's argument array. Panics if no ack arrives within `timeout`.
    pub async fn emit_with_ack(&mut self, event: &str, args: Value, timeout: Duration) -> Value {
        self.next_tag += 1;
        let tag = format!("ack-{}", self.next_tag);
        let args = as_arg_list(args);
        self.send(json!({
            "cmd": "emit",
            "event": event,
            "args": args,
            "ack": true,
            "tag": tag,
            "timeoutMs": timeout.as_millis() as u64,
        }))
        .await;
        let what = format!("ack for {event:?} (tag {tag})");
        let line = self
            .expect(&what, timeout + ACK_SLACK, |v| {
                v["tag"] == tag.as_str() && (v["kind"] == "ack" || v["kind"] == "ack_timeout")
            })
            .await;
        if line["kind"] == "ack_timeout" {
            let report = self.report();
            panic!("no {what} within {timeout:?} (the server never acknowledged)\n{report}");
        }
        line["args"].clone()
    }

    /// Returns the first line (buffered or arriving within `timeout`) whose JSON
    /// satisfies `predicate`, removing it from the buffer. Lines that do not match
    /// stay buffered for later calls. Panics, listing every line seen, on time-out or
    /// when the driver's stdout closes first.
    pub async fn expect(
        &mut self,
        what: &str,
        timeout: Duration,
        predicate: impl Fn(&Value) -> bool,
    ) -> Value {
        if let Some(pos) = self.buffer.iter().position(&predicate) {
            return self.buffer.remove(pos).expect("position is in range");
        }
        let deadline = Instant::now() + timeout;
        loop {
            match self.next_line(deadline).await {
                Some(value) if predicate(&value) => return value,
                Some(value) => self.buffer.push_back(value),
                None => {
                    let why = if self.stdout_closed {
                        "the driver's stdout closed (process exited?) before"
                    } else {
                        "timed out after"
                    };
                    let report = self.report();
                    panic!("expected {what}, but {why} {timeout:?}\n{report}");
                }
            }
        }
    }

    /// True if no buffered line and no line arriving within `window` satisfies
    /// `predicate` (to assert that something is NOT delivered). Nothing is consumed:
    /// every line read stays buffered.
    pub async fn receives_none_within(
        &mut self,
        window: Duration,
        predicate: impl Fn(&Value) -> bool,
    ) -> bool {
        if self.buffer.iter().any(&predicate) {
            return false;
        }
        let deadline = Instant::now() + window;
        while let Some(value) = self.next_line(deadline).await {
            let matched = predicate(&value);
            self.buffer.push_back(value);
            if matched {
                return false;
            }
        }
        true
    }

    /// Every stdout line of the driver read so far (for custom diagnostics).
    pub fn seen(&self) -> &[String] {
        &self.seen
    }

    /// Next line before `deadline`, parsed as JSON (a non-JSON line becomes
    /// `{"kind":"non_json","line":...}`); `None` on time-out or closed stdout.
    async fn next_line(&mut self, deadline: Instant) -> Option<Value> {
        if self.stdout_closed {
            return None;
        }
        match tokio::time::timeout_at(deadline, self.lines.recv()).await {
            Ok(Some(line)) => Some(self.record(line)),
            Ok(None) => {
                self.stdout_closed = true;
                None
            }
            Err(_) => None,
        }
    }

    fn record(&mut self, line: String) -> Value {
        let value = serde_json::from_str(&line)
            .unwrap_or_else(|_| json!({ "kind": "non_json", "line": line }));
        self.seen.push(line);
        value
    }

    /// Moves lines that already arrived into the buffer (for panic messages).
    fn drain_ready(&mut self) {
        while let Ok(line) = self.lines.try_recv() {
            let value = self.record(line);
            self.buffer.push_back(value);
        }
    }

    fn report(&mut self) -> String {
        self.drain_ready();
        let status = match self.child.try_wait() {
            Ok(Some(status)) => format!("exited with {status}"),
            Ok(None) => "still running".to_string(),
            Err(e) => format!("status unknown: {e}"),
        };
        let mut out = format!(
            "driver `node {}` {status}; {} line(s) seen so far:",
            self.script,
            self.seen.len()
        );
        if self.seen.is_empty() {
            out.push_str("\n  (none)");
        }
        for (i, line) in self.seen.iter().enumerate() {
            out.push_str(&format!("\n  {i:>3}: {line}"));
        }
        out
    }
}

fn as_arg_list(args: Value) -> Value {
    match args {
        Value::Array(_) => args,
        other => Value::Array(vec![other]),
    }
}
