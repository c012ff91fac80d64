//! The backplane: with `REDIS_URL`, the server processes that share one
//! Redis and one MongoDB database act as one.
//!
//! It carries four things between processes, and owns none of the rules:
//! - **events**: every event a process's hub publishes goes out on one
//!   Redis pub/sub channel, and every process delivers what the others
//!   publish to its own connections ([`Hub::deliver`](crate::hub::Hub::deliver);
//!   logged events through the event log, which keeps position order);
//! - **presence** ([`SharedPresence`]): which process holds which user's
//!   connections, with a heartbeat per process, so a process that dies takes
//!   its users offline after a bounded expiry;
//! - **session ends**: they are hub events like any other, so sign-out,
//!   role change and deactivation end connections everywhere, and each
//!   process drops its cached account status when it hears of one;
//! - **throttle counters** ([`SharedLimit`]): the sign-in limits as one GCRA
//!   per key in Redis, so N processes allow what one allows.
//!
//! Redis holds nothing that cannot be lost: the event log stays in the store,
//! and every process also reads the log for what other processes wrote (see
//! the event log), so a dropped message is late, never lost. When Redis goes
//! away, each process keeps serving its own connections, answers not ready
//! on `/readyz`, drops what it would relay, and reconnects with backoff.
//!
//! Keys and the channel are named after the cluster (the MongoDB database),
//! so several deployments can share one Redis.
//!
//! Socket.IO needs no adapter of its own (socketioxide-redis): this server
//! has no Socket.IO rooms or cross-socket operations; every socket is fed by
//! its connection from the hub, which this backplane already spans.

mod presence;
mod throttle;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use redis::aio::MultiplexedConnection;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use presence::{HEARTBEAT_EVERY, HEARTBEAT_TTL, SharedPresence};
pub use throttle::SharedLimit;

use crate::domain::{Position, UserId};
use crate::error::AppError;
use crate::hub::{Event, Published, Relay, codec};
use crate::store::EventScope;

/// Longest wait for Redis to connect or answer one command.
const TIMEOUT: Duration = Duration::from_secs(2);

/// How often the connection is pinged: a Redis that stopped answering is
/// noticed within this plus [`TIMEOUT`].
const PING_EVERY: Duration = Duration::from_secs(2);

/// First and longest wait between reconnection attempts.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Events waiting to be published before new ones are dropped.
const OUTBOX: usize = 8192;

/// Most events published in one round trip.
const PUBLISH_BATCH: usize = 256;

/// Events received and not yet delivered before new ones are dropped.
const INBOX: usize = 8192;

/// Session ends kept while Redis is away, for the other processes once it
/// is back.
const HELD_SESSION_ENDS: usize = 1024;

/// Why the backplane cannot be set up.
#[derive(Debug, thiserror::Error)]
#[error("REDIS_URL is not a usable Redis URL: {0}")]
pub struct BadRedisUrl(#[source] redis::RedisError);

/// A handle on the backplane; cheap to clone.
#[derive(Clone)]
pub struct Backplane {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    /// This process, among the cluster's (random per start).
    node: String,
    /// Every key and the channel start with this.
    prefix: String,
    channel: String,
    /// The command connection while Redis answers.
    connection: RwLock<Option<MultiplexedConnection>>,
    up: AtomicBool,
    outbox: mpsc::Sender<Vec<u8>>,
    /// Session ends published while Redis was away: sent first when it is
    /// back, so a sign-out made meanwhile still ends the account's
    /// connections on the other processes (late rather than never).
    held: Mutex<Vec<Vec<u8>>>,
    /// The supervisor's ends, taken by [`Backplane::start`].
    pending: Mutex<Option<mpsc::Receiver<Vec<u8>>>>,
}

/// The hub relays what this process publishes through the backplane.
impl Relay for Backplane {
    /// Queues an event this process published for the other processes.
    /// Never waits: while Redis is down, or when the queue is full, the
    /// event is dropped (logged events still reach the others through
    /// the store; live ones, such as typing, are gone), except session ends,
    /// which are held until Redis is back.
    fn relay(&self, published: &Published) {
        let session_end = matches!(
            published.event,
            Event::SignedOut { .. } | Event::RoleChanged { .. } | Event::Deactivated { .. }
        );
        if !self.is_up() && !session_end {
            crate::metrics::backplane_dropped("outbox");
            return;
        }
        let Some(wire) = self.encode(published) else {
            return;
        };
        if !self.is_up() {
            let mut held = lock(&self.inner.held);
            if held.len() < HELD_SESSION_ENDS {
                held.push(wire);
            }
            return;
        }
        if self.inner.outbox.try_send(wire).is_err() {
            crate::metrics::backplane_dropped("outbox");
        }
    }
}

/// A published event as it crosses the backplane.
#[derive(Serialize, Deserialize)]
struct Wire {
    /// The process that published it (which skips it on the way back).
    node: String,
    kind: String,
    payload: String,
    position: Option<u64>,
    at: DateTime<Utc>,
    everyone: bool,
    admins: bool,
    users: Vec<String>,
}

impl Backplane {
    /// A backplane for the cluster named `cluster` (the MongoDB database);
    /// nothing connects before [`start`](Self::start).
    ///
    /// # Errors
    /// When `url` is not a Redis URL.
    pub fn new(url: &str, cluster: &str) -> Result<Self, BadRedisUrl> {
        let client = redis::Client::open(url).map_err(BadRedisUrl)?;
        let prefix = format!("rtd:{cluster}:");
        let (outbox, pending) = mpsc::channel(OUTBOX);
        Ok(Backplane {
            inner: Arc::new(Inner {
                client,
                node: format!("{:016x}", rand::random::<u64>()),
                channel: format!("{prefix}events"),
                prefix,
                connection: RwLock::new(None),
                up: AtomicBool::new(false),
                outbox,
                held: Mutex::new(Vec::new()),
                pending: Mutex::new(Some(pending)),
            }),
        })
    }

    /// Starts the task that keeps the connection to Redis, publishes what
    /// [`relay`](Self::relay) queues and receives what the other processes
    /// publish. Returns the task and the events received (each once,
    /// never this process's own); `None` when started before.
    pub fn start(&self) -> Option<(JoinHandle<()>, mpsc::Receiver<Published>)> {
        let outbox = lock(&self.inner.pending).take()?;
        let (inbox, received) = mpsc::channel(INBOX);
        let supervisor = Supervisor {
            backplane: self.clone(),
            outbox,
            inbox,
        };
        Some((tokio::spawn(supervisor.run()), received))
    }

    /// Whether Redis answered the last ping.
    pub fn is_up(&self) -> bool {
        self.inner.up.load(Ordering::Acquire)
    }

    /// Readiness: Redis answers a ping now.
    ///
    /// # Errors
    /// `UNAVAILABLE` when it does not.
    pub async fn ready(&self) -> Result<(), AppError> {
        let mut connection = self.connected()?;
        match tokio::time::timeout(
            TIMEOUT,
            redis::cmd("PING").query_async::<()>(&mut connection),
        )
        .await
        {
            Ok(answered) => answered.map_err(redis_error),
            Err(_) => Err(redis_error(timed_out("answering a ping"))),
        }
    }

    /// Runs a script of the presence registry or the rate limits.
    ///
    /// # Errors
    /// `UNAVAILABLE` when Redis is not connected or does not answer.
    async fn invoke<T: redis::FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, AppError> {
        invocation
            .invoke_async(&mut self.connected()?)
            .await
            .map_err(redis_error)
    }

    /// The command connection, or `UNAVAILABLE` while Redis is away.
    fn connected(&self) -> Result<MultiplexedConnection, AppError> {
        self.connection()
            .ok_or_else(|| AppError::Unavailable(anyhow::anyhow!("redis is not connected")))
    }

    /// The command connection, while Redis is reachable.
    fn connection(&self) -> Option<MultiplexedConnection> {
        self.inner
            .connection
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// A key of this cluster.
    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.inner.prefix)
    }

    fn encode(&self, published: &Published) -> Option<Vec<u8>> {
        let payload =
            codec::encode(&published.event).or_else(|| codec::encode_live(&published.event))?;
        let EventScope {
            everyone,
            admins,
            users,
        } = codec::scope(&published.audience);
        let wire = Wire {
            node: self.inner.node.clone(),
            kind: published.event.kind().to_owned(),
            payload,
            position: published.position.map(Position::value),
            at: published.at,
            everyone,
            admins,
            users: users.iter().map(ToString::to_string).collect(),
        };
        serde_json::to_vec(&wire).ok()
    }

    /// The event another process published; `None` for this process's
    /// own and for what cannot be read (logged: a newer server's kind).
    fn decode(&self, bytes: &[u8]) -> Option<Published> {
        let wire: Wire = match serde_json::from_slice(bytes) {
            Ok(wire) => wire,
            Err(error) => {
                tracing::warn!(%error, "backplane: unreadable message skipped");
                return None;
            }
        };
        if wire.node == self.inner.node {
            return None;
        }
        let event = match codec::decode(&wire.kind, &wire.payload) {
            Ok(event) => event,
            Err(error) => {
                tracing::warn!(%error, kind = wire.kind, "backplane: unreadable event skipped");
                return None;
            }
        };
        let users = wire
            .users
            .iter()
            .map(|user| UserId::parse(user))
            .collect::<Result<Vec<_>, _>>()
            .ok()?;
        let audience = codec::audience(&EventScope {
            everyone: wire.everyone,
            admins: wire.admins,
            users,
        });
        Some(Published::new(
            wire.position.map(Position::new),
            wire.at,
            audience,
            event,
        ))
    }
}

/// The task that owns the connection to Redis.
struct Supervisor {
    backplane: Backplane,
    outbox: mpsc::Receiver<Vec<u8>>,
    inbox: mpsc::Sender<Published>,
}

impl Supervisor {
    async fn run(mut self) {
        let mut backoff = BACKOFF_MIN;
        loop {
            match self.connect().await {
                Ok((connection, pubsub)) => {
                    tracing::info!("backplane: connected to Redis");
                    backoff = BACKOFF_MIN;
                    self.serve(connection, pubsub).await;
                    tracing::warn!(
                        "backplane: lost Redis; serving this process's connections alone until it is back"
                    );
                }
                Err(error) => tracing::warn!(%error, "backplane: cannot reach Redis; retrying"),
            }
            self.set_connection(None);
            // What was queued for a Redis that went away is dropped: the
            // others read logged events from the store.
            while self.outbox.try_recv().is_ok() {
                crate::metrics::backplane_dropped("outbox");
            }
            tokio::time::sleep(jittered(backoff)).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    async fn connect(&self) -> redis::RedisResult<(MultiplexedConnection, redis::aio::PubSub)> {
        let client = &self.backplane.inner.client;
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT));
        let connection = client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        let mut pubsub = tokio::time::timeout(TIMEOUT, client.get_async_pubsub())
            .await
            .map_err(|_| timed_out("connecting for pub/sub"))??;
        tokio::time::timeout(
            TIMEOUT,
            pubsub.subscribe(self.backplane.inner.channel.as_str()),
        )
        .await
        .map_err(|_| timed_out("subscribing"))??;
        Ok((connection, pubsub))
    }

    /// Relays and receives until the connection fails.
    async fn serve(
        &mut self,
        mut connection: MultiplexedConnection,
        mut pubsub: redis::aio::PubSub,
    ) {
        // Up first, so what is relayed from now on goes to the outbox; then
        // what was held while Redis was away.
        self.set_connection(Some(connection.clone()));
        let held = std::mem::take(&mut *lock(&self.backplane.inner.held));
        if !held.is_empty() {
            let mut pipe = redis::pipe();
            for wire in &held {
                pipe.publish(self.backplane.inner.channel.as_str(), wire)
                    .ignore();
            }
            if let Err(error) = pipe.query_async::<()>(&mut connection).await {
                tracing::warn!(%error, "backplane: held session ends not delivered yet");
                lock(&self.backplane.inner.held).extend(held);
                return;
            }
        }
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut messages = pubsub.on_message();
        let mut batch = Vec::with_capacity(PUBLISH_BATCH);
        loop {
            tokio::select! {
                message = messages.next() => {
                    let Some(message) = message else { return };
                    crate::metrics::backplane_events("received", 1);
                    if let Some(published) = self.backplane.decode(message.get_payload_bytes())
                        && self.inbox.try_send(published).is_err()
                    {
                        crate::metrics::backplane_dropped("inbox");
                    }
                }
                count = self.outbox.recv_many(&mut batch, PUBLISH_BATCH) => {
                    if count == 0 {
                        return;
                    }
                    let mut pipe = redis::pipe();
                    for wire in batch.drain(..) {
                        pipe.publish(self.backplane.inner.channel.as_str(), wire).ignore();
                    }
                    if let Err(error) = pipe.query_async::<()>(&mut connection).await {
                        tracing::warn!(%error, "backplane: publishing failed");
                        return;
                    }
                    crate::metrics::backplane_events("sent", count);
                }
                _ = ping.tick() => {
                    let answered = redis::cmd("PING").query_async::<()>(&mut connection).await;
                    if let Err(error) = answered {
                        tracing::warn!(%error, "backplane: Redis did not answer a ping");
                        return;
                    }
                }
            }
        }
    }

    fn set_connection(&self, connection: Option<MultiplexedConnection>) {
        let up = connection.is_some();
        *self
            .backplane
            .inner
            .connection
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = connection;
        self.backplane.inner.up.store(up, Ordering::Release);
        crate::metrics::backplane_up(up);
    }
}

/// A command that failed: Redis is unreachable or refused it.
fn redis_error(error: redis::RedisError) -> AppError {
    AppError::Unavailable(anyhow::anyhow!("redis: {error}"))
}

fn timed_out(what: &str) -> redis::RedisError {
    redis::RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("Redis timed out {what}"),
    ))
}

/// Locks a value only touched by short, non-panicking sections.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `delay` give or take a quarter, so processes that lost Redis together
/// do not all come back in the same instant.
fn jittered(delay: Duration) -> Duration {
    use rand::Rng as _;
    delay.mul_f64(rand::thread_rng().gen_range(0.75..1.25))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ProductId, Role};
    use crate::hub::{Audience, Event};

    fn backplane() -> Backplane {
        Backplane::new("redis://127.0.0.1:1/", "tests").unwrap()
    }

    #[test]
    fn an_event_crosses_to_another_process_intact_and_not_back_to_its_own() {
        let here = backplane();
        let there = backplane();
        let user = UserId::generate();
        for published in [
            Published::new(
                Some(Position::new(7)),
                crate::store::now(),
                Audience::Everyone,
                Event::ProductRemoved(ProductId::generate()),
            ),
            Published::new(
                None,
                crate::store::now(),
                Audience::UsersAndAdmins(vec![user.clone()]),
                Event::RoleChanged {
                    user_id: user.clone(),
                    role: Role::Admin,
                },
            ),
        ] {
            let wire = here.encode(&published).expect("every event crosses");
            assert_eq!(there.decode(&wire), Some(published));
            assert_eq!(here.decode(&wire), None, "a process skips its own");
        }
        assert_eq!(there.decode(b"{not json"), None);
    }

    #[test]
    fn keys_and_the_channel_belong_to_the_cluster() {
        let one = Backplane::new("redis://127.0.0.1:1/", "shop").unwrap();
        assert_eq!(one.key("presence:online"), "rtd:shop:presence:online");
        assert_eq!(one.inner.channel, "rtd:shop:events");
        assert!(Backplane::new("http://not-redis", "shop").is_err());
    }
}
