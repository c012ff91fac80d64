//! Plain-text passwords on their way to the hasher.

use std::fmt;

use super::ValidationError;

/// A password that meets the length policy: 8 to 128 characters.
///
/// The upper bound keeps hashing cost bounded per request. The value is never
/// printed, not even by `Debug`.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Shortest password accepted at registration.
    pub const MIN_CHARS: usize = 8;
    /// Longest password accepted anywhere.
    pub const MAX_CHARS: usize = 128;

    /// Checks a new password against the policy.
    ///
    /// # Errors
    /// A [`ValidationError`] when it is too short or too long.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            Err(ValidationError("must be at least 8 characters"))
        } else if chars > Self::MAX_CHARS {
            Err(ValidationError("must be at most 128 characters"))
        } else {
            Ok(Password(raw.to_owned()))
        }
    }

    /// A password typed at sign-in, checked only for the upper bound: a
    /// shorter-than-policy attempt is simply wrong, and saying so would tell
    /// an attacker something about the policy of old accounts.
    ///
    /// # Errors
    /// A [`ValidationError`] when it is empty or longer than the maximum.
    pub fn attempt(raw: &str) -> Result<Self, ValidationError> {
        if raw.is_empty() {
            Err(ValidationError("is required"))
        } else if raw.chars().count() > Self::MAX_CHARS {
            Err(ValidationError("must be at most 128 characters"))
        } else {
            Ok(Password(raw.to_owned()))
        }
    }

    /// The secret itself, for the hasher only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_bounds_are_inclusive() {
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse(&"x".repeat(128)).is_ok());
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse(&"x".repeat(129)).is_err());
    }

    #[test]
    fn sign_in_attempts_only_need_to_be_non_empty() {
        assert!(Password::attempt("short").is_ok());
        assert!(Password::attempt("").is_err());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let password = Password::parse("correct horse battery").unwrap();
        assert!(!format!("{password:?}").contains("horse"));
    }
}
