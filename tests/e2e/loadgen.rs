//! The load generator's smoke run: every workload, a few connections and a
//! few messages, against a real server (and W2 against the limit server).
//! It asserts delivery counts only; speed is for BENCHMARKS.md, never for
//! a test.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;

use crate::support::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp};

const LOADGEN: &str = env!("CARGO_BIN_EXE_loadgen");

/// Runs one workload against `url` and returns its JSON report.
async fn loadgen(url: &str, flavor: &str, workload: &[&str]) -> Value {
    let output = Command::new(LOADGEN)
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
        // The server runs inside this test process.
        .args(["--server-pid", &std::process::id().to_string()])
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limit_server_fans_out_like_a_socketio_server() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut limit = Command::new(LOADGEN)
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
    let output = Command::new(LOADGEN)
        .args(["fanout", "--url", &url, "--flavor", "limit"])
        .args([
            "--connections",
            "10",
            "--events",
            "2",
            "--interval-ms",
            "20",
        ])
        .stdin(Stdio::null())
        .output()
        .await
        .expect("loadgen runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let report: Value =
        serde_json::from_str(stdout.lines().rfind(|l| l.starts_with('{')).unwrap()).unwrap();
    assert_eq!(report["delivered"], 20, "{report}");
    assert_eq!(report["lost"], 0, "{report}");
    let _ = limit.kill().await;
}

#[tokio::test]
async fn loadgen_refuses_a_target_off_loopback() {
    let output = Command::new(LOADGEN)
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
