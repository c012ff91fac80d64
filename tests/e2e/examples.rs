//! The client examples in `frontend-examples/` run, each with its one
//! documented command, against a real server started here with the bootstrap
//! admin in `ADMIN_EMAIL`/`ADMIN_PASSWORD`, and must exit 0.
//!
//! The Node examples need their npm dependencies installed first:
//! `npm ci --prefix frontend-examples/socketio-client`,
//! `npm ci --prefix frontend-examples/graphql-client` and
//! `npm ci --prefix frontend-examples/apollo-typed-client`.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::task::JoinHandle;

use crate::support::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp};

/// The repository root: the examples' documented commands run from there.
const REPO_ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Longer than the examples' own 60 s limit, so that they report first.
const EXAMPLE_TIMEOUT: Duration = Duration::from_secs(90);

/// What an example did.
struct Run {
    command: String,
    /// `None` when it was killed at `EXAMPLE_TIMEOUT`.
    status: Option<ExitStatus>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn describe(&self) -> String {
        let status = match self.status {
            Some(status) => status.to_string(),
            None => format!(
                "killed after {} s without finishing",
                EXAMPLE_TIMEOUT.as_secs()
            ),
        };
        format!(
            "`{}` (from {REPO_ROOT}): {status}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command, self.stdout, self.stderr
        )
    }

    fn assert_success(&self) {
        assert!(
            self.status.is_some_and(|status| status.success()),
            "the example failed: {}",
            self.describe()
        );
    }
}

/// Fails, with the command to run, when a Node example's dependencies are
/// not installed.
fn require_npm_install(example: &str) {
    let modules = Path::new(REPO_ROOT)
        .join("frontend-examples")
        .join(example)
        .join("node_modules");
    assert!(
        modules.is_dir(),
        "{} is missing: the example's npm dependencies are not installed.\n\
         Run from the repository root (Node.js >= 20):\n  \
         npm ci --prefix frontend-examples/socketio-client\n  \
         npm ci --prefix frontend-examples/graphql-client\n  \
         npm ci --prefix frontend-examples/apollo-typed-client",
        modules.display()
    );
}

fn collect<R: AsyncRead + Unpin + Send + 'static>(mut pipe: R) -> JoinHandle<String> {
    tokio::spawn(async move {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes).await;
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

async fn collected(output: JoinHandle<String>) -> String {
    match tokio::time::timeout(Duration::from_secs(5), output).await {
        Ok(Ok(text)) => text,
        Ok(Err(error)) => format!("<reading the output failed: {error}>"),
        Err(_) => "<the output was still open 5 s after the example ended>".to_owned(),
    }
}

/// Runs `program args…` from the repository root with `BASE_URL`,
/// `ADMIN_EMAIL`, `ADMIN_PASSWORD` (and `extra_env`) set for `app`.
async fn run_example(
    app: &TestApp,
    program: &str,
    args: &[&str],
    extra_env: &[(&str, &str)],
) -> Run {
    let command = std::iter::once(program)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    let mut child = Command::new(program)
        .args(args)
        .current_dir(REPO_ROOT)
        .env("BASE_URL", &app.address)
        .env("ADMIN_EMAIL", ADMIN_EMAIL)
        .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
        .envs(extra_env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|error| {
            panic!("cannot start `{command}` (is {program} on PATH?): {error}")
        });
    let stdout = collect(child.stdout.take().expect("stdout is piped"));
    let stderr = collect(child.stderr.take().expect("stderr is piped"));
    let status = match tokio::time::timeout(EXAMPLE_TIMEOUT, child.wait()).await {
        Ok(status) => {
            Some(status.unwrap_or_else(|error| panic!("waiting for `{command}`: {error}")))
        }
        Err(_) => {
            let _ = child.kill().await;
            None
        }
    };
    Run {
        command,
        status,
        stdout: collected(stdout).await,
        stderr: collected(stderr).await,
    }
}

#[tokio::test]
async fn socketio_client_example_orders_hears_the_move_and_chats() {
    require_npm_install("socketio-client");
    let app = TestApp::spawn().await;
    let script = "frontend-examples/socketio-client/index.mjs";

    // It creates no product: on an empty catalogue it explains and exits 2.
    let empty = run_example(&app, "node", &[script], &[]).await;
    assert_eq!(
        empty.status.and_then(|status| status.code()),
        Some(2),
        "on an empty catalogue: {}",
        empty.describe()
    );
    assert!(
        empty.stderr.contains("nothing to order"),
        "on an empty catalogue the example says why: {}",
        empty.describe()
    );

    let admin = app.login_as_admin().await;
    app.create_product(&admin.token, "Example teapot", 18.5, 10)
        .await;
    let run = run_example(&app, "node", &[script], &[]).await;
    run.assert_success();
    for expected in [
        "order_status_update",
        "receive_message from",
        "replayed on reconnect: order",
        "OK:",
    ] {
        assert!(
            run.stdout.contains(expected),
            "the example's output mentions {expected:?}: {}",
            run.describe()
        );
    }
}

#[tokio::test]
async fn graphql_client_example_sees_its_own_product() {
    require_npm_install("graphql-client");
    let app = TestApp::spawn().await;
    let run = run_example(
        &app,
        "node",
        &["frontend-examples/graphql-client/index.mjs"],
        &[],
    )
    .await;
    run.assert_success();
    for expected in ["event newProduct", "event orderStatusUpdated", "OK:"] {
        assert!(
            run.stdout.contains(expected),
            "the example's output mentions {expected:?}: {}",
            run.describe()
        );
    }
}

/// The typed client proves its normalized cache against this server: each
/// line below is printed only after the example checked it (and the client
/// sent no HTTP request where it says so).
#[tokio::test]
async fn apollo_typed_client_example_persists_queries_and_keeps_its_cache_live() {
    require_npm_install("apollo-typed-client");
    let app = TestApp::spawn().await;
    // Generates the types, type-checks them with tsc, then runs.
    let run = run_example(
        &app,
        "npm",
        &["--prefix", "frontend-examples/apollo-typed-client", "start"],
        &[],
    )
    .await;
    run.assert_success();
    for expected in [
        "GET MyOrder hash only → 200 PersistedQueryNotFound, POST MyOrder query+hash → 200, GET MyOrder hash only → 200",
        "subscription payload",
        "watched query (cache-only) sees PROCESSING",
        "is PROCESSING (readFragment)",
        // A Relay refetch by node(id:) writes over the cached order.
        "refetched by node(id:): the same normalized object Order:",
        "watched query (cache-only) sees SHIPPED",
        // Read receipts: SeenReceipt.messages updates the cached thread.
        "messagesSeen payload",
        "watched thread (cache-only): 2 of 2 seen",
        "cache: 2 of 2 messages seen (readFragment)",
        // productRemoved: evicted from the cache by its productId.
        "productRemoved payload",
        "gone from the cache (readFragment null, not in cache.extract()), with no HTTP request",
        "OK:",
    ] {
        assert!(
            run.stdout.contains(expected),
            "the example's output mentions {expected:?}: {}",
            run.describe()
        );
    }
}

/// The typed client's types come from `schema.graphql`: a document that asks
/// for a field the schema does not have fails the generation (and so the
/// example) before anything runs.
#[tokio::test]
async fn apollo_typed_client_generation_fails_when_a_document_disagrees_with_the_schema() {
    require_npm_install("apollo-typed-client");
    let app = TestApp::spawn().await;
    let scratch = tempfile::tempdir().unwrap();
    let wrong = scratch.path().join("wrong.graphql");
    std::fs::write(&wrong, "query Wrong { me { id noSuchField } }\n").unwrap();
    let out = format!("{}/gql/", scratch.path().display());
    let run = run_example(
        &app,
        "npm",
        &[
            "--prefix",
            "frontend-examples/apollo-typed-client",
            "run",
            "codegen",
        ],
        &[
            ("CODEGEN_EXTRA_DOCUMENTS", wrong.to_str().unwrap()),
            ("CODEGEN_OUT", &out),
        ],
    )
    .await;
    assert!(
        run.status.is_some_and(|status| !status.success()),
        "the generation accepted a field the schema does not have: {}",
        run.describe()
    );
    assert!(
        format!("{}{}", run.stdout, run.stderr).contains("noSuchField"),
        "the failure names the field: {}",
        run.describe()
    );
}

#[tokio::test]
async fn rest_walk_example_runs_with_jq_and_with_the_sed_fallback() {
    let app = TestApp::spawn().await;
    let script = "frontend-examples/rest-walk.sh";
    // The second run reads JSON with the sed fallback, as on a machine without jq.
    for extra_env in [&[][..], &[("REST_WALK_NO_JQ", "1")][..]] {
        let run = run_example(&app, "bash", &[script], extra_env).await;
        run.assert_success();
        assert!(
            run.stdout.contains("OK: the REST walk finished."),
            "the walk reached its end: {}",
            run.describe()
        );
    }
}

/// README's "A first walk", every command as printed (the address aside),
/// in one shell against a fresh server, and then a check that the walk's
/// sign-out really ended the session.
#[tokio::test]
async fn readme_walk_runs_as_printed() {
    let app = TestApp::spawn().await;
    let readme = std::fs::read_to_string(Path::new(REPO_ROOT).join("README.md")).unwrap();
    let walk = readme
        .split("\n## A first walk\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("README has a section \"A first walk\"");
    let blocks: Vec<&str> = walk
        .split("```sh\n")
        .skip(1)
        .map(|block| block.split("```").next().unwrap_or_default())
        .collect();
    let (start, commands) = blocks.split_first().expect("the walk has code blocks");
    assert!(
        start.contains("cargo run --release"),
        "the walk's first block starts the server: {start}"
    );
    let host = app.address.trim_start_matches("http://");
    let script = format!(
        "set -euo pipefail\n{}\n\
         echo\necho \"after sign-out: $(curl -s -o /dev/null -w '%{{http_code}}' localhost:4000/auth/refresh \
         -H 'content-type: application/json' -d \"{{\\\"refreshToken\\\":\\\"$REFRESH\\\"}}\")\"\n",
        commands.join("\n").replace("localhost:4000", host)
    )
    .replace("localhost:4000", host);

    let run = run_example(&app, "bash", &["-c", &script], &[]).await;

    run.assert_success();
    assert!(
        run.stdout.contains(r#""email":"ada@example.com""#),
        "`me` answered the signed-in user: {}",
        run.describe()
    );
    assert!(
        run.stdout.contains(r#""status":"success""#),
        "{}",
        run.describe()
    );
    assert!(
        run.stdout.contains("after sign-out: 401"),
        "the walk's logout ended the session, so its refresh token is refused: {}",
        run.describe()
    );
}
