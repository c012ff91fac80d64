//! Tokens obtained honestly, over HTTP: users register, the admin signs in.
//! Never forged: a benchmark that skips the server's own sign-in proves
//! nothing about it.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Context as _, bail};
use futures::{StreamExt as _, TryStreamExt as _};
use serde_json::{Value, json};

use crate::target::{Flavor, Target};

/// Registrations in flight at once (each costs the server a password hash).
const REGISTER_CONCURRENCY: usize = 4;

/// Registrations per source address: servers throttle sign-ups per client
/// address (ours allows 20 a minute), and the load generator stands in for
/// many clients, so it spreads them over loopback addresses, each staying
/// under that limit.
const REGISTRATIONS_PER_ADDRESS: usize = 10;

/// A signed-in account.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: String,
    pub token: String,
}

/// An HTTP client bound to a loopback source address.
pub fn http_client(source: Option<IpAddr>) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .local_address(source)
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(256)
        .tcp_nodelay(true)
        .build()
        .context("building an HTTP client")
}

/// Registers `count` users and returns their sessions. The limit server has
/// no accounts; its "sessions" carry placeholder tokens it never checks.
///
/// # Errors
/// Any registration the server refuses.
pub async fn register_users(target: &Target, count: usize) -> anyhow::Result<Vec<Session>> {
    if target.flavor == Flavor::Limit {
        // The limit server checks no token; it takes it as the user's id.
        return Ok((0..count)
            .map(|n| Session {
                user_id: format!("user-{n}"),
                token: format!("user-{n}"),
            })
            .collect());
    }
    futures::stream::iter(0..count)
        .map(|n| async move {
            let block = n / REGISTRATIONS_PER_ADDRESS;
            // A different range per run, so that runs back to back against
            // one server do not inherit each other's throttling.
            let run = target.run_seed % 200;
            let source = IpAddr::V4(std::net::Ipv4Addr::new(
                127,
                1 + u8::try_from(block / 250).unwrap_or(0),
                u8::try_from(run).unwrap_or(0),
                u8::try_from(1 + block % 250).unwrap_or(1),
            ));
            let client = http_client(target.address.is_ipv4().then_some(source))?;
            let body = json!({
                "name": format!("Load {n}"),
                "email": format!("lg-{}-{n}@example.com", target.run_id),
                "password": "load-password-1",
            });
            let answer = post_json(
                &client,
                &format!("{}/auth/register", target.base),
                &body,
                None,
            )
            .await
            .with_context(|| format!("registering user {n}"))?;
            session_from(&answer)
        })
        .buffered(REGISTER_CONCURRENCY)
        .try_collect()
        .await
}

/// Signs the admin in.
///
/// # Errors
/// Wrong credentials (the server's bootstrap admin must match
/// `--admin-email`/`--admin-password`).
pub async fn admin_session(target: &Target, client: &reqwest::Client) -> anyhow::Result<Session> {
    if target.flavor == Flavor::Limit {
        return Ok(Session {
            user_id: "admin".into(),
            token: "unchecked".into(),
        });
    }
    let body = json!({ "email": target.admin_email, "password": target.admin_password });
    let answer = post_json(client, &format!("{}/auth/login", target.base), &body, None)
        .await
        .context("signing the admin in (check --admin-email and --admin-password)")?;
    session_from(&answer)
}

/// Creates a product named `name` as the admin.
///
/// # Errors
/// Any answer but 201.
pub async fn create_product(
    target: &Target,
    client: &reqwest::Client,
    admin: &Session,
    name: &str,
) -> anyhow::Result<()> {
    let body = json!({
        "name": name,
        "price": 9.99,
        "stock": 1000,
        "description": "created by loadgen",
    });
    post_json(
        client,
        &format!("{}/products", target.base),
        &body,
        Some(&admin.token),
    )
    .await?;
    Ok(())
}

async fn post_json(
    client: &reqwest::Client,
    url: &str,
    body: &Value,
    token: Option<&str>,
) -> anyhow::Result<Value> {
    let mut request = client.post(url).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("POST {url}: {status}: {answer}");
    }
    Ok(answer)
}

/// Reads `{data: {token, user: {id}}}`, the shape every flavor's
/// `/auth/register` and `/auth/login` answer (ours, and both Node references).
fn session_from(answer: &Value) -> anyhow::Result<Session> {
    let data = &answer["data"];
    let token = data["token"]
        .as_str()
        .context("no data.token in the answer")?;
    let user_id = data["user"]["id"]
        .as_str()
        .context("no data.user.id in the answer")?;
    Ok(Session {
        user_id: user_id.to_owned(),
        token: token.to_owned(),
    })
}
