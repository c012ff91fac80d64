//! Refresh tokens: opaque random strings, stored only as hashes.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A refresh token as handed to the client. Not logged, not stored.
pub struct RefreshToken(String);

/// The SHA-256 of a refresh token, hex-encoded: what the store keeps. A
/// fast hash is right here (unlike passwords) because the token is 256 random
/// bits: there is nothing to guess.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenHash(String);

impl RefreshToken {
    /// 32 random bytes, base64url.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        RefreshToken(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// What the client sent back. Any string is accepted: an unknown one is
    /// simply not found by its hash.
    pub fn from_client(raw: &str) -> Self {
        RefreshToken(raw.trim().to_owned())
    }

    /// The hash to store and look up.
    pub fn hash(&self) -> RefreshTokenHash {
        RefreshTokenHash(hex::encode(Sha256::digest(self.0.as_bytes())))
    }

    /// The token, for the response that hands it out.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken(<redacted>)")
    }
}

impl RefreshTokenHash {
    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_of_a_returned_token_matches_the_issued_one() {
        let issued = RefreshToken::generate();
        let returned = RefreshToken::from_client(issued.expose());
        assert_eq!(issued.hash(), returned.hash());
        assert_eq!(issued.hash().as_str().len(), 64);
    }

    #[test]
    fn tokens_are_unique() {
        assert_ne!(
            RefreshToken::generate().hash(),
            RefreshToken::generate().hash()
        );
    }
}
