//! The admin dashboard in a real browser: Debian's headless Chromium driven
//! by `playwright-core` (`tests/browser/dashboard.test.mjs`) against the real
//! server, with a real `socket.io-client` user on the other side. The final
//! screenshot is kept in `test-artifacts/` (not committed).

use std::path::Path;
use std::time::Duration;

use crate::support::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[tokio::test]
async fn an_admin_watches_the_business_live_in_the_dashboard() {
    let browser_dir = Path::new(ROOT).join("tests/browser");
    assert!(
        browser_dir.join("node_modules").exists(),
        "tests/browser/node_modules is missing: run `npm ci --prefix tests/browser` (tests/run.sh does)"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: install Debian's chromium package (tests/run.sh does)"
    );
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
