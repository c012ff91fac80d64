//! Sign-in throttling, per client address and per account.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::domain::Email;
use crate::error::AppError;

/// Two keyed token buckets (governor's GCRA): one per client address, so one
/// machine cannot spray passwords over many accounts, and one per account, so
/// many machines cannot hammer one account. Each allows a burst of its limit
/// and refills it over a minute.
#[derive(Clone)]
pub struct LoginThrottle {
    per_address: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    per_account: Arc<DefaultKeyedRateLimiter<String>>,
    clock: DefaultClock,
}

impl LoginThrottle {
    /// Limits are attempts per minute; zero is treated as one.
    pub fn new(per_address_per_minute: u32, per_account_per_minute: u32) -> Self {
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        LoginThrottle {
            per_address: Arc::new(RateLimiter::keyed(quota(per_address_per_minute))),
            per_account: Arc::new(RateLimiter::keyed(quota(per_account_per_minute))),
            clock: DefaultClock::default(),
        }
    }

    /// Counts one attempt from `address` (any attempt that costs a hash:
    /// sign-in and registration).
    ///
    /// # Errors
    /// [`AppError::RateLimited`] with the time until the next attempt is allowed.
    pub fn check_address(&self, address: IpAddr) -> Result<(), AppError> {
        self.per_address
            .check_key(&address)
            .map_err(|not_until| AppError::RateLimited {
                retry_after: not_until.wait_time_from(self.clock.now()),
            })
    }

    /// Counts one sign-in attempt on the account named by `email`, whether or
    /// not it exists (the answer must not tell).
    ///
    /// # Errors
    /// [`AppError::RateLimited`] with the time until the next attempt is allowed.
    pub fn check_account(&self, email: &Email) -> Result<(), AppError> {
        self.per_account
            .check_key(&email.as_str().to_owned())
            .map_err(|not_until| AppError::RateLimited {
                retry_after: not_until.wait_time_from(self.clock.now()),
            })
    }

    /// Forgets keys whose buckets are full again, so memory follows the
    /// recent attackers, not every address ever seen. Run periodically.
    pub fn forget_idle(&self) {
        self.per_address.retain_recent();
        self.per_account.retain_recent();
        self.per_address.shrink_to_fit();
        self.per_account.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_limited_after_its_burst() {
        let throttle = LoginThrottle::new(3, 100);
        let address: IpAddr = [127, 0, 0, 1].into();
        for _ in 0..3 {
            throttle.check_address(address).unwrap();
        }
        match throttle.check_address(address) {
            Err(AppError::RateLimited { retry_after }) => {
                assert!(
                    retry_after.as_secs() <= 20 && !retry_after.is_zero(),
                    "{retry_after:?}"
                );
            }
            other => panic!("expected rate limited, got {other:?}"),
        }
        // Another address is unaffected.
        throttle.check_address([127, 0, 0, 2].into()).unwrap();
    }

    #[test]
    fn an_account_is_limited_whatever_the_address() {
        let throttle = LoginThrottle::new(100, 2);
        let email = Email::parse("target@example.com").unwrap();
        throttle.check_account(&email).unwrap();
        throttle.check_account(&email).unwrap();
        assert!(matches!(
            throttle.check_account(&email),
            Err(AppError::RateLimited { .. })
        ));
        throttle
            .check_account(&Email::parse("other@example.com").unwrap())
            .unwrap();
    }
}
