//! The binary as an operator runs it: no configuration, the CLI commands,
//! bad configuration, graceful shutdown.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BINARY: &str = env!("CARGO_BIN_EXE_realtime-dashboard");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The binary in `dir` with an empty environment plus `vars`.
fn command(dir: &Path, vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BINARY);
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(vars.iter().copied());
    command
}

struct Server {
    child: Child,
    base: String,
}

impl Server {
    async fn start(dir: &Path, vars: &[(&str, &str)]) -> Server {
        let port = free_port();
        let port_text = port.to_string();
        let mut all = vec![("PORT", port_text.as_str())];
        all.extend_from_slice(vars);
        let child = command(dir, &all)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary starts");
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(response) = reqwest::get(format!("{}/healthz", server.base)).await
                && response.status() == 200
            {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not become healthy in 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then the exit status within 15 s.
    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "no exit within 15 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn post(base: &str, path: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn with_no_configuration_it_serves_sqlite_and_keeps_a_private_secret() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;

    let (status, body) = post(
        &server.base,
        "/auth/register",
        json!({ "name": "Ops", "email": "ops@example.test", "password": "password-123" }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    let ready = reqwest::get(format!("{}/readyz", server.base))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);

    let secret = dir.path().join("data/jwt-secret");
    assert!(dir.path().join("data/realtime-dashboard.sqlite3").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(server.terminate().success(), "SIGTERM is a clean exit");

    // A restart keeps the secret: the old token is still good.
    let server = Server::start(dir.path(), &[]).await;
    let me = reqwest::Client::new()
        .post(format!("{}/graphql", server.base))
        .bearer_auth(&token)
        .json(&json!({ "query": "{ me { email } }" }))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(me["data"]["me"]["email"], "ops@example.test", "{me}");
}

#[test]
fn a_bad_value_stops_start_up_with_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("PORT", "http"),
        ("JWT_SECRET", "short"),
        ("LOG_FORMAT", "xml"),
        ("HOST", "somewhere"),
        ("BODY_LIMIT", "lots"),
        ("ACCESS_TOKEN_TTL", "15"),
        ("LOGIN_LIMIT_PER_ACCOUNT", "0"),
    ];
    for (variable, value) in cases {
        let output = command(dir.path(), &[(variable, value)]).output().unwrap();
        assert!(!output.status.success(), "{variable}={value} started");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{variable}: {stderr}");
        assert!(lines[0].contains(variable), "{variable}: {stderr}");
    }
}

#[test]
fn print_schema_writes_the_checked_in_sdl() {
    let dir = tempfile::tempdir().unwrap();
    let output = command(dir.path(), &[])
        .arg("print-schema")
        .output()
        .unwrap();
    assert!(output.status.success());
    let checked_in =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
    assert_eq!(String::from_utf8(output.stdout).unwrap(), checked_in);
}

#[tokio::test]
async fn create_admin_makes_an_account_that_signs_in_as_admin() {
    let dir = tempfile::tempdir().unwrap();
    let output = command(dir.path(), &[("ADMIN_PASSWORD", "operator-password-1")])
        .args([
            "create-admin",
            "--email",
            "Root@Example.test",
            "--name",
            "Root",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("created admin"));

    let again = command(dir.path(), &[("ADMIN_PASSWORD", "operator-password-1")])
        .args([
            "create-admin",
            "--email",
            "root@example.test",
            "--name",
            "Root",
        ])
        .output()
        .unwrap();
    assert!(
        !again.status.success(),
        "a second admin with the same email"
    );

    let server = Server::start(dir.path(), &[]).await;
    let (status, body) = post(
        &server.base,
        "/auth/login",
        json!({ "email": "root@example.test", "password": "operator-password-1" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["role"], "admin");
}

#[tokio::test]
async fn the_bootstrap_admin_comes_from_the_environment_once() {
    let dir = tempfile::tempdir().unwrap();
    let vars = [
        ("ADMIN_EMAIL", "boot@example.test"),
        ("ADMIN_PASSWORD", "bootstrap-password"),
    ];
    let server = Server::start(dir.path(), &vars).await;
    let (status, body) = post(
        &server.base,
        "/auth/login",
        json!({ "email": "boot@example.test", "password": "bootstrap-password" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["role"], "admin");
    assert!(server.terminate().success());
    // Starting again with the same variables changes nothing and does not fail.
    let _server = Server::start(dir.path(), &vars).await;
}

#[tokio::test]
async fn limits_from_the_environment_take_effect() {
    // Arrange: a 2 KiB body limit and 90-second access tokens.
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[("BODY_LIMIT", "2KiB"), ("ACCESS_TOKEN_TTL", "90s")],
    )
    .await;

    // Act
    let (status, body) = post(
        &server.base,
        "/auth/register",
        json!({ "name": "Ops", "email": "limits@example.test", "password": "password-123" }),
    )
    .await;
    let (too_large, refusal) = post(
        &server.base,
        "/auth/register",
        json!({ "name": "x".repeat(3000), "email": "big@example.test", "password": "password-123" }),
    )
    .await;

    // Assert
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["data"]["expiresIn"], 90, "{body}");
    assert_eq!(too_large, 413, "{refusal}");
    assert_eq!(refusal["code"], "BAD_USER_INPUT", "{refusal}");
}
