//! Access tokens revoked before they expire: after a role change, a sign-out
//! or a refresh-token reuse, every access token the user held until then
//! stops working, at every door, at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::domain::UserId;

/// Per user, the instant (ms since the epoch) before which their access
/// tokens are no longer accepted. Cheap to clone.
///
/// Kept in memory: entries only matter for one access-token lifetime (15
/// minutes), after which the tokens they cut off have expired anyway. With
/// several server processes this moves to the shared store or backplane; a
/// restart forgets it, so tokens cut off in the last 15 minutes before a
/// restart work again until they expire.
#[derive(Clone, Default)]
pub struct Revocations {
    cutoffs: Arc<Mutex<HashMap<UserId, i64>>>,
}

impl Revocations {
    /// Refuses the user's access tokens issued before `at_ms` from now on.
    pub fn revoke_before(&self, user: &UserId, at_ms: i64) {
        let mut cutoffs = self.cutoffs.lock().unwrap_or_else(|p| p.into_inner());
        let cutoff = cutoffs.entry(user.clone()).or_insert(at_ms);
        *cutoff = (*cutoff).max(at_ms);
    }

    /// True when a token of `user` issued at `issued_ms` was revoked.
    pub fn is_revoked(&self, user: &UserId, issued_ms: i64) -> bool {
        let cutoffs = self.cutoffs.lock().unwrap_or_else(|p| p.into_inner());
        cutoffs.get(user).is_some_and(|cutoff| issued_ms < *cutoff)
    }

    /// Forgets cut-offs older than `older_than_ms` (tokens issued before them
    /// have expired by now).
    pub fn forget_before(&self, older_than_ms: i64) {
        let mut cutoffs = self.cutoffs.lock().unwrap_or_else(|p| p.into_inner());
        cutoffs.retain(|_, cutoff| *cutoff >= older_than_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_issued_before_the_cutoff_are_revoked_and_later_ones_are_not() {
        let revocations = Revocations::default();
        let user = UserId::generate();
        let other = UserId::generate();
        revocations.revoke_before(&user, 1_000);
        assert!(revocations.is_revoked(&user, 999));
        assert!(!revocations.is_revoked(&user, 1_000));
        assert!(!revocations.is_revoked(&other, 0));
        revocations.revoke_before(&user, 500); // never moves back
        assert!(revocations.is_revoked(&user, 999));
        revocations.forget_before(2_000);
        assert!(!revocations.is_revoked(&user, 999));
    }
}
