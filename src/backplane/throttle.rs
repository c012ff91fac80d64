//! Rate limits shared by the cluster: one GCRA (generic cell rate
//! algorithm) state per key in Redis, the theoretical arrival time, read
//! and moved by one atomic script on Redis's own clock, so N processes
//! allow together what one allows and their clocks do not matter.

use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;

use super::Backplane;
use crate::error::AppError;

/// KEYS[1]: the key. ARGV: emission interval (µs), burst tolerance (µs),
/// mode (`take`: count the attempt if allowed; `peek`: only ask; `count`:
/// count it whatever the answer). Returns 0 when allowed, else the wait in µs.
static GCRA: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local clock = redis.call('TIME')
        local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
        local interval, tolerance, mode = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
        local arrival = tonumber(redis.call('GET', KEYS[1]) or '0')
        if arrival < now then arrival = now end
        local wait = arrival - tolerance - now
        if mode == 'count' or (mode == 'take' and wait <= 0) then
            local next_arrival = arrival + interval
            redis.call('SET', KEYS[1], string.format('%.0f', next_arrival),
                'PX', math.ceil((next_arrival - now) / 1000) + 1)
        end
        if wait > 0 then return math.ceil(wait) end
        return 0
        ",
    )
});

/// One limit, `limit` a minute per key, shared by the cluster.
#[derive(Clone)]
pub struct SharedLimit {
    backplane: Backplane,
    name: &'static str,
    interval: Duration,
    tolerance: Duration,
}

impl SharedLimit {
    /// A burst of `limit`, refilled over a minute; `name` keeps limits apart.
    pub fn per_minute(backplane: Backplane, name: &'static str, limit: u32) -> Self {
        let limit = limit.max(1);
        let interval = Duration::from_secs(60) / limit;
        SharedLimit {
            backplane,
            name,
            interval,
            tolerance: interval * (limit - 1),
        }
    }

    /// Counts an attempt on `key` if it is allowed now. `None` when it was;
    /// else how long until it would be.
    ///
    /// # Errors
    /// `UNAVAILABLE` when Redis does not answer.
    pub async fn take(&self, key: &str) -> Result<Option<Duration>, AppError> {
        self.run(key, "take").await
    }

    /// Whether `key` may try now, counting nothing.
    ///
    /// # Errors
    /// `UNAVAILABLE` when Redis does not answer.
    pub async fn peek(&self, key: &str) -> Result<Option<Duration>, AppError> {
        self.run(key, "peek").await
    }

    /// Counts an attempt on `key` whatever the limit says (failures do).
    ///
    /// # Errors
    /// `UNAVAILABLE` when Redis does not answer.
    pub async fn count(&self, key: &str) -> Result<(), AppError> {
        self.run(key, "count").await.map(|_| ())
    }

    async fn run(&self, key: &str, mode: &str) -> Result<Option<Duration>, AppError> {
        let mut invocation = GCRA.key(self.backplane.key(&format!("limit:{}:{key}", self.name)));
        invocation
            .arg(self.interval.as_micros() as u64)
            .arg(self.tolerance.as_micros() as u64)
            .arg(mode);
        let wait: u64 = self.backplane.invoke(&invocation).await?;
        Ok((wait > 0).then(|| Duration::from_micros(wait)))
    }
}
