//! Cluster-wide presence in Redis: which processes hold each user's
//! connections.
//!
//! Each process counts its own connections (the presence service does) and
//! tells Redis only when a user arrives on it or leaves it. Redis keeps, per
//! user, the set of processes holding them, and the set of users online
//! anywhere; a user is announced online when the first process takes them
//! and offline when the last lets go, each decided by one atomic script, so
//! two processes never both announce. A process proves it is alive with a
//! key that expires after [`HEARTBEAT_TTL`]; any process's sweep takes a
//! dead process's users away (again atomically: one sweeper announces each).
//! A process that finds itself swept (Redis was away from it longer than
//! the TTL) registers again and rejoins its users.

use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;

use super::Backplane;
use crate::domain::UserId;
use crate::error::AppError;

/// How long a process counts as alive after its last heartbeat.
pub const HEARTBEAT_TTL: Duration = Duration::from_secs(15);

/// How often each process beats, and sweeps for dead ones: a killed
/// process's users are offline everywhere within TTL + this.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);

/// ARGV: prefix, node, user, ttl in ms. Registers the node as alive too (a
/// process may take users before its first heartbeat, and must be swept if
/// it dies then). Returns {1 when the user was online nowhere, 1 when the
/// node was not registered}.
static JOIN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local prefix, node, user, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
        local registered = redis.call('SADD', prefix .. 'presence:nodes', node)
        if registered == 1 then
            redis.call('SET', prefix .. 'presence:alive:' .. node, '1', 'PX', ttl)
        end
        redis.call('SADD', prefix .. 'presence:node:' .. node, user)
        redis.call('SADD', prefix .. 'presence:user:' .. user, node)
        return {redis.call('SADD', prefix .. 'presence:online', user), registered}
        ",
    )
});

/// ARGV: prefix, node, user. Returns 1 when no process holds the user now.
static LEAVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local prefix, node, user = ARGV[1], ARGV[2], ARGV[3]
        redis.call('SREM', prefix .. 'presence:node:' .. node, user)
        local holders = prefix .. 'presence:user:' .. user
        redis.call('SREM', holders, node)
        if redis.call('SCARD', holders) == 0 then
            return redis.call('SREM', prefix .. 'presence:online', user)
        end
        return 0
        ",
    )
});

/// ARGV: prefix, node, ttl in ms. Returns 1 when the node was not
/// registered (first beat, or swept while Redis was away from it).
static HEARTBEAT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local prefix, node, ttl = ARGV[1], ARGV[2], ARGV[3]
        redis.call('SET', prefix .. 'presence:alive:' .. node, '1', 'PX', ttl)
        return redis.call('SADD', prefix .. 'presence:nodes', node)
        ",
    )
});

/// ARGV: prefix. Removes every node whose heartbeat expired; returns the
/// users no process holds any more.
static SWEEP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local prefix = ARGV[1]
        local gone = {}
        for _, node in ipairs(redis.call('SMEMBERS', prefix .. 'presence:nodes')) do
            if redis.call('EXISTS', prefix .. 'presence:alive:' .. node) == 0 then
                redis.call('SREM', prefix .. 'presence:nodes', node)
                local held = prefix .. 'presence:node:' .. node
                for _, user in ipairs(redis.call('SMEMBERS', held)) do
                    local holders = prefix .. 'presence:user:' .. user
                    redis.call('SREM', holders, node)
                    if redis.call('SCARD', holders) == 0 then
                        redis.call('SREM', prefix .. 'presence:online', user)
                        table.insert(gone, user)
                    end
                end
                redis.call('DEL', held)
            end
        end
        return gone
        ",
    )
});

/// What taking a user told.
#[derive(Debug, Clone, Copy)]
pub struct Joined {
    /// The user was online on no process before.
    pub first: bool,
    /// This process was not registered (never beat, or swept).
    pub registered_anew: bool,
}

/// The cluster's presence registry. Cheap to clone.
#[derive(Clone)]
pub struct SharedPresence {
    backplane: Backplane,
}

impl SharedPresence {
    /// The registry of the backplane's cluster.
    pub fn new(backplane: Backplane) -> Self {
        SharedPresence { backplane }
    }

    /// This process took `user`: whether they were online nowhere before
    /// (announce them), and whether this process was not registered (it
    /// is now, but the users it held before may be missing: resync).
    ///
    /// # Errors
    /// `UNAVAILABLE` when Redis does not answer.
    pub async fn join(&self, user: &UserId) -> Result<Joined, AppError> {
        let mut invocation = JOIN.prepare_invoke();
        invocation
            .arg(&self.backplane.inner.prefix)
            .arg(&self.backplane.inner.node)
            .arg(user.to_string())
            .arg(HEARTBEAT_TTL.as_millis() as u64);
        let (first, registered): (i64, i64) = self.backplane.invoke(&invocation).await?;
        Ok(Joined {
            first: first == 1,
            registered_anew: registered == 1,
        })
    }

    /// This process let go of `user`: `true` when no process holds them now
    /// (announce them offline).
    ///
    /// # Errors
    /// `UNAVAILABLE` when Redis does not answer.
    pub async fn leave(&self, user: &UserId) -> Result<bool, AppError> {
        let mut invocation = LEAVE.prepare_invoke();
        invocation
            .arg(&self.backplane.inner.prefix)
            .arg(&self.backplane.inner.node)
            .arg(user.to_string());
        Ok(self.backplane.invoke::<i64>(&invocation).await? == 1)
    }

    /// Proves this process alive for [`HEARTBEAT_TTL`]. `true` when it was
    /// not registered: its users must be joined again.
    ///
    /// # Errors
    /// `UNAVAILABLE` when Redis does not answer.
    pub async fn heartbeat(&self) -> Result<bool, AppError> {
        let mut invocation = HEARTBEAT.prepare_invoke();
        invocation
            .arg(&self.backplane.inner.prefix)
            .arg(&self.backplane.inner.node)
            .arg(HEARTBEAT_TTL.as_millis() as u64);
        Ok(self.backplane.invoke::<i64>(&invocation).await? == 1)
    }

    /// Takes the users of processes whose heartbeat expired away; returns
    /// those now online nowhere (this caller announces them, no other).
    ///
    /// # Errors
    /// `UNAVAILABLE` when Redis does not answer.
    pub async fn sweep(&self) -> Result<Vec<UserId>, AppError> {
        let mut invocation = SWEEP.prepare_invoke();
        invocation.arg(&self.backplane.inner.prefix);
        let gone: Vec<String> = self.backplane.invoke(&invocation).await?;
        Ok(gone
            .iter()
            .filter_map(|user| UserId::parse(user).ok())
            .collect())
    }

    /// The users the registry holds for this process.
    ///
    /// # Errors
    /// `UNAVAILABLE` when Redis does not answer.
    pub async fn held_here(&self) -> Result<Vec<UserId>, AppError> {
        let node = format!("presence:node:{}", self.backplane.inner.node);
        self.members(&node).await
    }

    /// Everyone online on any process.
    ///
    /// # Errors
    /// `UNAVAILABLE` when Redis does not answer.
    pub async fn online(&self) -> Result<Vec<UserId>, AppError> {
        self.members("presence:online").await
    }

    async fn members(&self, set: &str) -> Result<Vec<UserId>, AppError> {
        let users: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.backplane.key(set))
            .query_async(&mut self.backplane.connected()?)
            .await
            .map_err(super::redis_error)?;
        Ok(users
            .iter()
            .filter_map(|user| UserId::parse(user).ok())
            .collect())
    }
}
