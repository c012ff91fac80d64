//! Sign-in throttling, per client address and per account; shared by the
//! cluster when there is a backplane.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::backplane::{Backplane, SharedLimit};
use crate::domain::Email;
use crate::error::AppError;

/// Two throttles. Per client address, every attempt counts (governor's
/// keyed GCRA), so one machine cannot spray passwords over many accounts.
/// Per account, only failed attempts count ([`FailedAttempts`]), so many
/// machines cannot hammer one account, while its owner signing in from a few
/// devices in a minute is never locked out. Each allows a burst of its limit
/// and refills it over a minute.
///
/// With a backplane the same two limits live in Redis, so the processes of
/// a cluster allow together what one allows. While Redis does not answer,
/// each process falls back to its own limits (N processes then allow N
/// times as much, for as long as the outage lasts, rather than refusing
/// every sign-in).
#[derive(Clone)]
pub struct LoginThrottle {
    per_address: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    per_account: Arc<FailedAttempts>,
    clock: DefaultClock,
    shared: Option<Shared>,
}

/// The cluster's copies of the two limits.
#[derive(Clone)]
struct Shared {
    per_address: SharedLimit,
    per_account: SharedLimit,
}

impl LoginThrottle {
    /// Limits are attempts per minute; zero is treated as one. With a
    /// backplane, they are the cluster's.
    pub fn new(
        per_address_per_minute: u32,
        per_account_per_minute: u32,
        backplane: Option<&Backplane>,
    ) -> Self {
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        LoginThrottle {
            per_address: Arc::new(RateLimiter::keyed(quota(per_address_per_minute))),
            per_account: Arc::new(FailedAttempts::per_minute(per_account_per_minute)),
            clock: DefaultClock::default(),
            shared: backplane.map(|backplane| Shared {
                per_address: SharedLimit::per_minute(
                    backplane.clone(),
                    "sign_in_address",
                    per_address_per_minute,
                ),
                per_account: SharedLimit::per_minute(
                    backplane.clone(),
                    "sign_in_account",
                    per_account_per_minute,
                ),
            }),
        }
    }

    /// Counts one attempt from `address` (any attempt that costs a hash:
    /// sign-in and registration).
    ///
    /// # Errors
    /// [`AppError::RateLimited`] with the time until the next attempt is allowed.
    pub async fn check_address(&self, address: IpAddr) -> Result<(), AppError> {
        if let Some(shared) = &self.shared {
            match shared.per_address.take(&address.to_string()).await {
                Ok(wait) => return refused("address", wait),
                Err(error) => {
                    tracing::debug!(%error, "shared sign-in limit unavailable; limiting here")
                }
            }
        }
        self.per_address.check_key(&address).map_err(|not_until| {
            crate::metrics::throttle_hit("address");
            AppError::RateLimited {
                retry_after: not_until.wait_time_from(self.clock.now()),
            }
        })
    }

    /// Whether the account named by `email` may try to sign in now (whether
    /// or not it exists: the answer must not tell). Counts nothing: only
    /// [`failed`](Self::failed) does.
    ///
    /// # Errors
    /// [`AppError::RateLimited`] with the time until the next attempt is allowed.
    pub async fn check_account(&self, email: &Email) -> Result<(), AppError> {
        if let Some(shared) = &self.shared {
            match shared.per_account.peek(email.as_str()).await {
                Ok(wait) => return refused("account", wait),
                Err(error) => {
                    tracing::debug!(%error, "shared sign-in limit unavailable; limiting here")
                }
            }
        }
        match self
            .per_account
            .wait_before_next(email.as_str(), Instant::now())
        {
            None => Ok(()),
            Some(retry_after) => {
                crate::metrics::throttle_hit("account");
                Err(AppError::RateLimited { retry_after })
            }
        }
    }

    /// Counts one failed sign-in on the account named by `email`.
    pub async fn failed(&self, email: &Email) {
        if let Some(shared) = &self.shared
            && shared.per_account.count(email.as_str()).await.is_ok()
        {
            return;
        }
        self.per_account.record(email.as_str(), Instant::now());
    }

    /// Forgets keys whose buckets are full again, so memory follows the
    /// recent attackers, not every address ever seen. Run periodically.
    pub fn forget_idle(&self) {
        self.per_address.retain_recent();
        self.per_address.shrink_to_fit();
        self.per_account.forget_recovered(Instant::now());
    }
}

/// `Ok` when a shared limit allowed the attempt (`wait` is `None`), else
/// `RATE_LIMITED` with the wait.
fn refused(limit: &'static str, wait: Option<Duration>) -> Result<(), AppError> {
    match wait {
        None => Ok(()),
        Some(retry_after) => {
            crate::metrics::throttle_hit(limit);
            Err(AppError::RateLimited { retry_after })
        }
    }
}

/// Failed attempts per key, as a GCRA (the generic cell rate algorithm, the
/// one governor implements): each failure pushes the key's theoretical
/// arrival time one emission interval further; a key may try again while
/// that time is within the burst tolerance. Written by hand because a
/// governor limiter cannot be asked without being charged, and only
/// failures may be charged. One instant per key: the same state a shared
/// store can hold when several processes share the limit.
struct FailedAttempts {
    /// Time one failure takes to be forgiven (a minute over the limit).
    interval: Duration,
    /// How far ahead the arrival time may run before the key is refused:
    /// `limit - 1` intervals, so `limit` failures in a row are allowed.
    tolerance: Duration,
    arrivals: Mutex<HashMap<String, Instant>>,
}

impl FailedAttempts {
    fn per_minute(limit: u32) -> Self {
        let limit = limit.max(1);
        let interval = Duration::from_secs(60) / limit;
        FailedAttempts {
            interval,
            tolerance: interval * (limit - 1),
            arrivals: Mutex::new(HashMap::new()),
        }
    }

    fn arrivals(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.arrivals.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `None` when the key may try now, else how long until it may.
    fn wait_before_next(&self, key: &str, now: Instant) -> Option<Duration> {
        let arrival = *self.arrivals().get(key)?;
        let allowed_from = arrival.checked_sub(self.tolerance).unwrap_or(now);
        (allowed_from > now).then(|| allowed_from - now)
    }

    fn record(&self, key: &str, now: Instant) {
        let mut arrivals = self.arrivals();
        let arrival = arrivals.entry(key.to_owned()).or_insert(now);
        *arrival = (*arrival).max(now) + self.interval;
    }

    /// Drops keys whose failures are all forgiven.
    fn forget_recovered(&self, now: Instant) {
        let mut arrivals = self.arrivals();
        arrivals.retain(|_, arrival| *arrival > now);
        arrivals.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_address_is_limited_after_its_burst() {
        let throttle = LoginThrottle::new(3, 100, None);
        let address: IpAddr = [127, 0, 0, 1].into();
        for _ in 0..3 {
            throttle.check_address(address).await.unwrap();
        }
        match throttle.check_address(address).await {
            Err(AppError::RateLimited { retry_after }) => {
                assert!(
                    retry_after.as_secs() <= 20 && !retry_after.is_zero(),
                    "{retry_after:?}"
                );
            }
            other => panic!("expected rate limited, got {other:?}"),
        }
        // Another address is unaffected.
        throttle.check_address([127, 0, 0, 2].into()).await.unwrap();
    }

    #[tokio::test]
    async fn an_account_is_limited_after_its_failures_only() {
        let throttle = LoginThrottle::new(100, 2, None);
        let email = Email::parse("target@example.com").unwrap();
        for _ in 0..10 {
            throttle.check_account(&email).await.unwrap(); // successes cost nothing
        }
        throttle.failed(&email).await;
        throttle.check_account(&email).await.unwrap();
        throttle.failed(&email).await;
        match throttle.check_account(&email).await {
            Err(AppError::RateLimited { retry_after }) => {
                assert!(
                    retry_after > Duration::from_secs(25) && retry_after <= Duration::from_secs(30),
                    "{retry_after:?}"
                );
            }
            other => panic!("expected rate limited, got {other:?}"),
        }
        throttle
            .check_account(&Email::parse("other@example.com").unwrap())
            .await
            .unwrap();
    }

    #[test]
    fn failures_are_forgiven_one_interval_at_a_time() {
        let attempts = FailedAttempts::per_minute(5);
        let start = Instant::now();
        for _ in 0..5 {
            assert_eq!(attempts.wait_before_next("k", start), None);
            attempts.record("k", start);
        }
        assert_eq!(
            attempts.wait_before_next("k", start),
            Some(Duration::from_secs(12))
        );
        let later = start + Duration::from_secs(12);
        assert_eq!(attempts.wait_before_next("k", later), None);
        attempts.record("k", later);
        assert!(attempts.wait_before_next("k", later).is_some());
        attempts.forget_recovered(start + Duration::from_secs(120));
        assert!(attempts.arrivals().is_empty());
    }
}
