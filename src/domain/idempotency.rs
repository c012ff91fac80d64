//! Idempotency keys: a client's name for one write, so that its retry after
//! a lost answer is recognised instead of doing the write twice.

use super::ValidationError;

/// Longest accepted key; UUIDs and ULIDs fit many times over.
const MAX_KEY_CHARS: usize = 200;

/// A client-chosen key for one write: 1 to 200 visible ASCII characters
/// (what HTTP headers carry safely).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// # Errors
    /// A [`ValidationError`] when empty, too long, or not visible ASCII.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let key = raw.trim();
        if key.is_empty() {
            Err(ValidationError("must not be empty"))
        } else if key.len() > MAX_KEY_CHARS {
            Err(ValidationError("must be at most 200 characters"))
        } else if !key.bytes().all(|byte| byte.is_ascii_graphic()) {
            Err(ValidationError("must be visible ASCII characters"))
        } else {
            Ok(IdempotencyKey(key.to_owned()))
        }
    }

    /// The key as the client sent it (trimmed).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_of_bounded_length() {
        assert_eq!(
            IdempotencyKey::parse(" 3f2b-order-1 ").unwrap().as_str(),
            "3f2b-order-1"
        );
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("with space").is_err());
        assert!(IdempotencyKey::parse("ünïcode").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(201)).is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(200)).is_ok());
    }
}
