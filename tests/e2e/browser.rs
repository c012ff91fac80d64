//! The admin dashboard in a real browser: Debian's headless Chromium driven
//! by `playwright-core` against the real server. `dashboard.test.mjs`: an
//! admin at work, with a real `socket.io-client` user on the other side;
//! `demo.test.mjs`: the `demo` command's dashboard moving by itself. The
//! final screenshots are kept in `test-artifacts/` (not committed).

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The Chromium to drive, after checking that it and playwright-core are
/// installed (failing with the command that installs what is missing).
fn browser_prerequisites() -> String {
    assert!(
        Path::new(ROOT).join("tests/browser/node_modules").exists(),
        "tests/browser/node_modules is missing: run `npm ci --prefix tests/browser` (tests/run.sh does)"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: install Debian's chromium package (tests/run.sh does)"
    );
    chromium
}

#[tokio::test]
async fn an_admin_watches_the_business_live_in_the_dashboard() {
    let chromium = browser_prerequisites();
    let app = TestApp::spawn().await;
    let screenshot = Path::new(ROOT).join("test-artifacts/dashboard.png");

    let run = tokio::process::Command::new("node")
        .arg("tests/browser/dashboard.test.mjs")
        .current_dir(ROOT)
        .env("BASE_URL", &app.address)
        .env("ADMIN_EMAIL", ADMIN_EMAIL)
        .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("CHROMIUM", &chromium)
        .env("SCREENSHOT", &screenshot)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(150), run)
        .await
        .expect("the browser test finishes within 150 s")
        .expect("node runs");
    assert!(
        output.status.success(),
        "browser test failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        screenshot.exists(),
        "no screenshot at {}",
        screenshot.display()
    );
}

/// The `demo` command as a newcomer runs it (no configuration but the port,
/// in a fresh directory, so its data goes to `./data-demo` there), four times
/// busier than by default so that each kind of movement shows within 30 s
/// with a wide margin. The browser signs in as the demo admin with the
/// generated password the banner printed, then only watches.
#[tokio::test]
async fn the_demo_makes_the_dashboard_move_without_a_reload() {
    let chromium = browser_prerequisites();
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let output = dir.path().join("demo.out");
    let log = std::fs::File::create(&output).unwrap();
    let _demo = tokio::process::Command::new(env!("CARGO_BIN_EXE_realtime-dashboard"))
        .args(["demo", "--rate", "120"])
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("PORT", port.to_string())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let base = format!("http://127.0.0.1:{port}");
    let said = || std::fs::read_to_string(&output).unwrap_or_default();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Ok(response) = client.get(format!("{base}/healthz")).send().await
            && response.status() == 200
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the demo did not serve within 90 s:\n{}",
            said()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let password = std::fs::read_to_string(dir.path().join("data-demo/demo-password"))
        .expect("the demo keeps its generated password in ./data-demo")
        .trim()
        .to_owned();
    let banner = said();
    assert!(
        banner.contains(&format!(
            "sign in as admin@demo.local, password: {password}"
        )),
        "the banner names the demo admin and password:\n{banner}"
    );
    let screenshot = Path::new(ROOT).join("test-artifacts/demo.png");

    let run = tokio::process::Command::new("node")
        .arg("tests/browser/demo.test.mjs")
        .current_dir(ROOT)
        .env("BASE_URL", &base)
        .env("ADMIN_EMAIL", "admin@demo.local")
        .env("ADMIN_PASSWORD", &password)
        .env("CHROMIUM", &chromium)
        .env("SCREENSHOT", &screenshot)
        .env("MOVE_WITHIN_MS", "30000")
        .kill_on_drop(true)
        .stdin(Stdio::null())
        .output();
    let run = tokio::time::timeout(Duration::from_secs(150), run)
        .await
        .expect("the browser test finishes within 150 s")
        .expect("node runs");
    assert!(
        run.status.success(),
        "demo browser test failed ({}):\n--- stdout\n{}\n--- stderr\n{}\n--- the demo's output\n{}",
        run.status,
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr),
        said()
    );
}
