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

/// The server owns its SQLite store (and the chat journal's lock);
/// `create-admin` run beside it still creates the account, and the running
/// server signs it in.
#[tokio::test]
async fn create_admin_works_beside_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let output = command(dir.path(), &[("ADMIN_PASSWORD", "operator-password-2")])
        .args([
            "create-admin",
            "--email",
            "ops@example.test",
            "--name",
            "Ops",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (status, body) = post(
        &server.base,
        "/auth/login",
        json!({ "email": "ops@example.test", "password": "operator-password-2" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["role"], "admin");
}

#[test]
fn help_lists_every_configuration_variable() {
    let dir = tempfile::tempdir().unwrap();
    let output = command(dir.path(), &[]).arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for (name, _) in realtime_dashboard::config::VARIABLES {
        assert!(help.contains(name), "--help does not name {name}:\n{help}");
    }
    for command in ["serve", "create-admin", "print-schema", "demo"] {
        assert!(
            help.contains(command),
            "--help does not name {command}:\n{help}"
        );
    }
}

#[tokio::test]
async fn create_admin_reads_the_password_from_stdin() {
    use std::io::Write as _;

    let dir = tempfile::tempdir().unwrap();
    let mut child = without_terminal(command(dir.path(), &[]))
        .args([
            "create-admin",
            "--email",
            "piped@example.test",
            "--name",
            "Piped",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "piped-password-1").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let server = Server::start(dir.path(), &[]).await;
    let (status, body) = post(
        &server.base,
        "/auth/login",
        json!({ "email": "piped@example.test", "password": "piped-password-1" }),
    )
    .await;
    assert_eq!(
        status, 200,
        "the line ending is not part of the password: {body}"
    );
    assert_eq!(body["user"]["role"], "admin");
}

#[test]
fn create_admin_without_any_password_says_how_to_give_one() {
    let dir = tempfile::tempdir().unwrap();
    let output = without_terminal(command(dir.path(), &[]))
        .args(["create-admin", "--email", "a@example.test", "--name", "A"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--password-stdin") && stderr.contains("ADMIN_PASSWORD"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");

    let empty = without_terminal(command(dir.path(), &[]))
        .args([
            "create-admin",
            "--email",
            "a@example.test",
            "--name",
            "A",
            "--password-stdin",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!empty.status.success());
    assert!(
        String::from_utf8_lossy(&empty.stderr).contains("standard input held no password"),
        "{}",
        String::from_utf8_lossy(&empty.stderr)
    );
}

#[test]
fn create_admin_on_a_terminal_asks_twice_and_creates_nothing_on_a_mismatch() {
    use std::io::Write as _;

    // util-linux `script` gives the command a terminal of its own, fed from
    // our stdin: the prompts read it as a person would type.
    let dir = tempfile::tempdir().unwrap();
    let create = format!("{BINARY} create-admin --email tty@example.test --name Tty");
    let typed = |answers: &str| {
        let mut child = Command::new("script")
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .args(["-qec", &create, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("util-linux `script` runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(answers.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let mismatch = typed("first-password-1\nother-password-2\n");
    let said = String::from_utf8_lossy(&mismatch.stdout);
    assert!(!mismatch.status.success(), "{said}");
    assert!(said.contains("The same password again"), "{said}");
    assert!(said.contains("the two passwords differ"), "{said}");

    let matching = typed("typed-password-1\ntyped-password-1\n");
    let said = String::from_utf8_lossy(&matching.stdout);
    assert!(matching.status.success(), "{said}");
    assert!(said.contains("created admin"), "{said}");
}

/// Runs the command in a session of its own, so it has no controlling
/// terminal even when the tests are run from one (a prompt would block).
fn without_terminal(mut command: Command) -> Command {
    use std::os::unix::process::CommandExt as _;
    // SAFETY: setsid is async-signal-safe and touches nothing of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
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

/// Anonymous resident memory of a process, in KiB (`RssAnon` of
/// `/proc/<pid>/status`: the heap, not the mapped database file).
fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("RssAnon:"))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .expect("VmRSS in /proc/<pid>/status")
}

/// A WebSocket to the server over a TCP socket with a tiny receive buffer,
/// so that a client that stops reading fills its window at once.
async fn stalling_websocket(
    base: &str,
    path: &str,
    protocol: Option<&str>,
) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    let address: std::net::SocketAddr = base.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(address).await.unwrap();
    let mut request = format!("ws://{address}{path}")
        .into_client_request()
        .unwrap();
    if let Some(protocol) = protocol {
        request
            .headers_mut()
            .insert("sec-websocket-protocol", protocol.parse().unwrap());
    }
    let (websocket, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .unwrap();
    websocket
}

/// Reads until the first text frame satisfying `done`.
async fn read_until(
    websocket: &mut tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    done: impl Fn(&str) -> bool,
) {
    use futures::StreamExt as _;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), websocket.next())
            .await
            .expect("a frame within 10 s")
            .expect("the stream is open")
            .expect("a frame");
        if let tokio_tungstenite::tungstenite::Message::Text(text) = frame
            && done(&text)
        {
            return;
        }
    }
}

/// True when the server closed the connection (end of stream, a close
/// frame or a reset) within `within`, reading whatever was still buffered.
async fn closed_by_server(
    websocket: &mut tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    within: Duration,
) -> bool {
    use futures::StreamExt as _;
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, websocket.next()).await {
            Err(_) => return false,
            Ok(None | Some(Err(_))) => return true,
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_)))) => return true,
            Ok(Some(Ok(_))) => {}
        }
    }
}

#[tokio::test]
async fn clients_that_stop_reading_are_dropped_and_cost_bounded_memory_while_others_get_everything()
{
    use futures::SinkExt as _;
    use tokio_tungstenite::tungstenite::Message;

    // Arrange: a server process, a healthy client on each door, and a
    // client on each door that stops reading after subscribing.
    const EVENTS: usize = 6000;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[
            ("ADMIN_EMAIL", "ops@example.test"),
            ("ADMIN_PASSWORD", "password-123"),
            ("LOGIN_LIMIT_PER_ADDRESS", "100"),
        ],
    )
    .await;
    let (_, admin) = post(
        &server.base,
        "/auth/login",
        json!({ "email": "ops@example.test", "password": "password-123" }),
    )
    .await;
    let admin_token = admin["token"].as_str().unwrap().to_owned();
    let (_, user) = post(
        &server.base,
        "/auth/register",
        json!({ "name": "Reader", "email": "reader@example.test", "password": "password-123" }),
    )
    .await;
    let token = user["token"].as_str().unwrap().to_owned();

    let mut healthy_socket =
        crate::support::node::NodeClient::socketio(&server.base, json!({ "token": token })).await;
    healthy_socket
        .expect("connect", Duration::from_secs(10), |line| {
            line["kind"] == "connect"
        })
        .await;
    let ws_url = format!("{}/graphql", server.base.replace("http://", "ws://"));
    let mut healthy_graphql =
        crate::support::node::NodeClient::graphql_ws(&ws_url, json!({ "token": token })).await;
    healthy_graphql
        .expect("connected", Duration::from_secs(10), |line| {
            line["kind"] == "connected"
        })
        .await;
    healthy_graphql
        .send(json!({ "cmd": "subscribe", "id": "np", "query": "subscription { newProduct { id } }" }))
        .await;

    let socket_connected = tokio::time::Instant::now();
    let mut stalled_socket =
        stalling_websocket(&server.base, "/socket.io/?EIO=4&transport=websocket", None).await;
    read_until(&mut stalled_socket, |text| text.starts_with('0')).await;
    stalled_socket
        .send(Message::text(format!("40{}", json!({ "token": token }))))
        .await
        .unwrap();
    read_until(&mut stalled_socket, |text| text.starts_with("40")).await;
    let mut stalled_graphql =
        stalling_websocket(&server.base, "/graphql", Some("graphql-transport-ws")).await;
    stalled_graphql
        .send(Message::text(
            json!({ "type": "connection_init", "payload": { "token": token } }).to_string(),
        ))
        .await
        .unwrap();
    read_until(&mut stalled_graphql, |text| text.contains("connection_ack")).await;
    stalled_graphql
        .send(Message::text(
            json!({ "type": "subscribe", "id": "1", "payload": { "query": "subscription { newProduct { id name description } }" } })
                .to_string(),
        ))
        .await
        .unwrap();
    // A moment for the subscription to start, then nobody reads them.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = server.child.id();
    let before = resident_kib(pid);

    // Act: thousands of events for everyone, each about 4 KiB (more than
    // the kernel's socket buffers and the Socket.IO queue hold), then a
    // trickle that keeps a write to each stalled client pending.
    let http = reqwest::Client::new();
    let description = "d".repeat(4000);
    let create = |n: usize| {
        http.post(format!("{}/products", server.base))
            .bearer_auth(&admin_token)
            .json(&json!({ "name": format!("Item {n}"), "price": 1.0, "description": description }))
            .send()
    };
    let mut flood = futures::stream::iter(0..EVENTS)
        .map(|n| {
            let request = create(n);
            async move { request.await.map(|response| response.status().as_u16()) }
        })
        .buffer_unordered(8);
    use futures::StreamExt as _;
    while let Some(status) = flood.next().await {
        assert_eq!(status.unwrap(), 201);
    }
    drop(flood);
    let peak = resident_kib(pid);
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let trickle = async {
        let mut sent = 0;
        loop {
            tokio::select! {
                _ = &mut stopped => return sent,
                () = tokio::time::sleep(Duration::from_millis(250)) => {
                    assert_eq!(create(EVENTS + sent).await.unwrap().status(), 201);
                    sent += 1;
                }
            }
        }
    };
    // The stalled GraphQL WebSocket is dropped after its write timeout
    // (10 s); the stalled Socket.IO socket at its first heartbeat that
    // finds its queue full or goes unanswered (at most 45 s after connect).
    // Nothing is read from them before then: reading would unstall them.
    let watch = async {
        tokio::time::sleep(Duration::from_secs(15)).await;
        let graphql_closed = closed_by_server(&mut stalled_graphql, Duration::from_secs(10)).await;
        tokio::time::sleep_until(socket_connected + Duration::from_secs(46)).await;
        let socket_closed = closed_by_server(&mut stalled_socket, Duration::from_secs(10)).await;
        let _ = stop.send(());
        (graphql_closed, socket_closed)
    };
    let (trickled, (graphql_closed, socket_closed)) = tokio::join!(trickle, watch);

    // Assert
    assert!(
        graphql_closed,
        "the stalled GraphQL WebSocket is still open"
    );
    assert!(socket_closed, "the stalled Socket.IO socket is still open");
    // The healthy clients got every event.
    for n in 0..EVENTS + trickled {
        healthy_socket
            .expect(
                &format!("new_product {n}"),
                Duration::from_secs(30),
                |line| line["event"] == "new_product",
            )
            .await;
        healthy_graphql
            .expect(
                &format!("newProduct {n}"),
                Duration::from_secs(30),
                |line| line["kind"] == "next" && line["id"] == "np",
            )
            .await;
    }
    let grown_mib = peak.saturating_sub(before) / 1024;
    eprintln!("anonymous memory: {before} KiB before the flood, {peak} KiB after");
    assert!(
        grown_mib < 64,
        "the server grew by {grown_mib} MiB during the flood ({before} KiB before)"
    );
    // And it still serves.
    let ready = reqwest::get(format!("{}/readyz", server.base))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}

#[test]
fn the_start_up_line_names_the_dashboard_graphiql_and_health_urls() {
    use std::io::{BufRead as _, BufReader};

    let dir = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let mut child = command(dir.path(), &[("PORT", port.as_str())])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, seen) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let base = format!("http://127.0.0.1:{port}");
    let wanted = [
        format!("{base}/dashboard/"),
        format!("{base}/graphql"),
        format!("{base}/healthz"),
        format!("{base}/readyz"),
    ];
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut found = None;
    while found.is_none() && Instant::now() < deadline {
        if let Ok(line) = seen.recv_timeout(Duration::from_millis(200))
            && line.contains("listening on")
        {
            found = Some(line);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let line = found.expect("a start-up line within 30 s");
    for url in wanted {
        assert!(line.contains(&url), "{url} missing from {line:?}");
    }
}
