//! The load generator's smoke run: every workload, a few connections and a
//! few messages, against a real server (and W2 against the limit server, W5
//! over GraphQL and W6 against the Apollo reference when it is installed).
//! It asserts delivery counts only; speed is for BENCHMARKS.md, never for
//! a test.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use serde_json::Value;
use tokio::process::Command;

use crate::support::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp};

/// The loadgen binary. It is its own workspace member (`loadgen/`), not a
/// binary of this package, so cargo does not build it for these tests:
/// tests/run.sh builds it first (`cargo build -p loadgen --locked`). It is
/// looked for in the target directory and profile of this test executable
/// (`<target>/<profile>/deps/e2e-<hash>`), or at `LOADGEN_BIN` when set; a
/// missing binary, or one older than the loadgen sources, fails the test.
fn loadgen_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let build = "build it first with `cargo build -p loadgen --locked` (tests/run.sh does)";
        let path = match std::env::var_os("LOADGEN_BIN") {
            Some(path) => PathBuf::from(path),
            None => {
                let exe = std::env::current_exe().expect("the test executable's path");
                let profile_dir = exe
                    .parent()
                    .and_then(Path::parent)
                    .expect("the test executable is in <target>/<profile>/deps");
                profile_dir.join(format!("loadgen{}", std::env::consts::EXE_SUFFIX))
            }
        };
        let built = std::fs::metadata(&path)
            .and_then(|metadata| metadata.modified())
            .unwrap_or_else(|_| {
                panic!(
                    "no loadgen binary at {}: {build}, or set LOADGEN_BIN",
                    path.display()
                )
            });
        if std::env::var_os("LOADGEN_BIN").is_none() {
            let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("loadgen");
            if let Some(newer) = newer_than(&sources, built) {
                panic!(
                    "the loadgen binary at {} is older than {}: {build}",
                    path.display(),
                    newer.display()
                );
            }
        }
        path
    })
}

/// A file under `dir` modified after `time`, if any.
fn newer_than(dir: &Path, time: SystemTime) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let Ok(metadata) = entry.metadata() else {
            continue;
        };
        let newer = if metadata.is_dir() {
            newer_than(&path, time)
        } else if metadata.modified().is_ok_and(|modified| modified > time) {
            Some(path)
        } else {
            None
        };
        if newer.is_some() {
            return newer;
        }
    }
    None
}

/// Runs one workload against `url`, a server inside this test process, and
/// returns its JSON report.
async fn loadgen(url: &str, flavor: &str, workload: &[&str]) -> Value {
    loadgen_against(url, flavor, std::process::id(), workload).await
}

/// Runs one workload against `url`, served by process `server_pid`, and
/// returns its JSON report.
async fn loadgen_against(url: &str, flavor: &str, server_pid: u32, workload: &[&str]) -> Value {
    let output = Command::new(loadgen_binary())
        .args(workload)
        .args([
            "--url",
            url,
            "--flavor",
            flavor,
            "--users",
            "4",
            "--time-limit",
            "60",
        ])
        .args([
            "--admin-email",
            ADMIN_EMAIL,
            "--admin-password",
            ADMIN_PASSWORD,
        ])
        .args(["--server-pid", &server_pid.to_string()])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(90), output)
        .await
        .expect("loadgen finishes within its time limit")
        .expect("loadgen runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "loadgen {workload:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .rfind(|line| line.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON line in:\n{stdout}"));
    serde_json::from_str(line).expect("the JSON line parses")
}

fn assert_complete(report: &Value, expected: u64) {
    assert_eq!(report["expected"], expected, "{report}");
    assert_eq!(report["delivered"], expected, "{report}");
    assert_eq!(report["lost"], 0, "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    assert!(report["server"]["cpu_ms"].is_number(), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_delivers_every_acked_message_once() {
    let app = TestApp::spawn().await;
    let report = loadgen(
        &app.address,
        "ours",
        &["chat", "--pairs", "2", "--rate", "8", "--duration", "2"],
    )
    .await;
    // 8 a second for 2 s, spread over 4 senders.
    assert_complete(&report, 16);
    assert_eq!(report["latency"]["samples"], 16, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_reaches_every_socket_with_every_product() {
    let app = TestApp::spawn().await;
    let report = loadgen(
        &app.address,
        "ours",
        &[
            "fanout",
            "--connections",
            "12",
            "--events",
            "3",
            "--interval-ms",
            "20",
        ],
    )
    .await;
    assert_complete(&report, 36);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_reach_every_subscriber_with_every_product() {
    let app = TestApp::spawn().await;
    let report = loadgen(
        &app.address,
        "ours",
        &[
            "subscriptions",
            "--connections",
            "8",
            "--events",
            "3",
            "--interval-ms",
            "20",
        ],
    )
    .await;
    assert_complete(&report, 24);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_connect_hold_every_socket() {
    let app = TestApp::spawn().await;
    let idle = loadgen(
        &app.address,
        "ours",
        &["idle", "--connections", "16", "--hold", "1"],
    )
    .await;
    assert_complete(&idle, 16);
    assert!(idle["server_bytes_per_connection"].is_number(), "{idle}");
    let connect = loadgen(&app.address, "ours", &["connect", "--connections", "16"]).await;
    assert_complete(&connect, 16);
    assert_eq!(connect["latency"]["samples"], 16, "{connect}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_are_answered_on_both_doors() {
    let app = TestApp::spawn().await;
    for door in ["rest", "graphql"] {
        let report = loadgen(
            &app.address,
            "ours",
            &[
                "reads",
                "--door",
                door,
                "--concurrency",
                "2",
                "--duration",
                "1",
            ],
        )
        .await;
        assert!(report["delivered"].as_u64().unwrap() > 0, "{report}");
        assert_eq!(report["errors"], 0, "{report}");
        assert_eq!(report["delivered"], report["expected"], "{report}");
    }
}

/// One workload against the limit server at `url`; its report.
async fn against_limit(url: &str, workload: &[&str]) -> Value {
    let output = Command::new(loadgen_binary())
        .args(workload)
        .args(["--url", url, "--flavor", "limit"])
        .stdin(Stdio::null())
        .output()
        .await
        .expect("loadgen runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    serde_json::from_str(stdout.lines().rfind(|l| l.starts_with('{')).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limit_server_fans_out_and_relays_chat_like_a_socketio_server() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut limit = Command::new(loadgen_binary())
        .args(["limit-server", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the limit server starts");
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if http.get(format!("{url}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let fanout = against_limit(
        &url,
        &[
            "fanout",
            "--connections",
            "10",
            "--events",
            "2",
            "--interval-ms",
            "20",
        ],
    )
    .await;
    assert_eq!(fanout["delivered"], 20, "{fanout}");
    assert_eq!(fanout["lost"], 0, "{fanout}");

    // W1's floor: every message reaches its addressee and is acked.
    let chat = against_limit(
        &url,
        &["chat", "--pairs", "3", "--rate", "30", "--duration", "1"],
    )
    .await;
    assert_eq!(chat["expected"], 30, "{chat}");
    assert_eq!(chat["delivered"], 30, "{chat}");
    assert_eq!(chat["errors"], 0, "{chat}");
    let _ = limit.kill().await;
}

/// The GraphQL reference the `apollo` flavor drives (Apollo Server 4 +
/// graphql-ws, `../shared/peers/node-graphql-reference`): not part of this
/// repository, so tests/run.sh installs a copy into `.test-env/graphql-ref`
/// when it finds one beside the checkout and names it in
/// `LOADGEN_GRAPHQL_REF`. Without it the test below says so and passes: a
/// clone without the peer still tests everything it holds.
fn graphql_reference() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("LOADGEN_GRAPHQL_REF")?);
    assert!(
        dir.join("server.js").is_file() && dir.join("node_modules").is_dir(),
        "LOADGEN_GRAPHQL_REF={} holds no installed reference (server.js and node_modules)",
        dir.display()
    );
    Some(dir)
}

/// Ignored by default, so that it is reported as not run (never as passed)
/// where the reference is missing: it lives outside the repository.
/// `tests/run.sh` runs it with `--ignored` when the reference sits beside
/// the checkout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the GraphQL reference beside the checkout; tests/run.sh runs it when it is there"]
async fn the_apollo_flavor_reads_and_subscribes_on_the_graphql_reference() {
    let dir = graphql_reference().expect(
        "LOADGEN_GRAPHQL_REF names the installed GraphQL reference (tests/run.sh sets it \
         when the reference sits beside the checkout)",
    );
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    // Any secret but the reference's built-in default.
    let secret = format!(
        "{:x}{:x}",
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
        std::process::id()
    );
    let mut server = Command::new("node")
        .arg("server.js")
        .current_dir(&dir)
        .env("PORT", port.to_string())
        .env("JWT_SECRET", secret)
        .env("ADMIN_EMAIL", ADMIN_EMAIL)
        .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs the reference (is Node.js >= 20 on PATH?)");
    let pid = server.id().expect("the reference is running");
    let mut listening = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            listening = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(listening, "the GraphQL reference did not listen on {port}");
    let url = format!("http://127.0.0.1:{port}");
    // Reads first: they need the catalogue to hold only their own products.
    let reads = loadgen_against(
        &url,
        "apollo",
        pid,
        &[
            "reads",
            "--door",
            "graphql",
            "--concurrency",
            "2",
            "--duration",
            "1",
        ],
    )
    .await;
    assert!(reads["delivered"].as_u64().unwrap() > 0, "{reads}");
    assert_eq!(reads["errors"], 0, "{reads}");
    assert_eq!(reads["delivered"], reads["expected"], "{reads}");
    assert!(
        reads["notes"][0].as_str().unwrap().contains("createdAt"),
        "{reads}"
    );
    let subscriptions = loadgen_against(
        &url,
        "apollo",
        pid,
        &[
            "subscriptions",
            "--connections",
            "8",
            "--events",
            "3",
            "--interval-ms",
            "20",
        ],
    )
    .await;
    assert_complete(&subscriptions, 24);
    // No Socket.IO there: a Socket.IO workload is refused before it starts.
    let fanout = Command::new(loadgen_binary())
        .args(["fanout", "--url", &url, "--flavor", "apollo"])
        .stdin(Stdio::null())
        .output()
        .await
        .expect("loadgen runs");
    assert!(!fanout.status.success());
    let stderr = String::from_utf8_lossy(&fanout.stderr);
    assert!(stderr.contains("Socket.IO"), "{stderr}");
    let _ = server.kill().await;
}

#[tokio::test]
async fn loadgen_refuses_a_target_off_loopback() {
    let output = Command::new(loadgen_binary())
        .args([
            "connect",
            "--url",
            "http://192.0.2.1:4000",
            "--connections",
            "1",
        ])
        .output()
        .await
        .expect("loadgen runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("loopback"), "{stderr}");
}
