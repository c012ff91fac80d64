//! Who is calling: password hashing, access tokens, refresh tokens, and the
//! [`Principal`] every door produces from a token.
//!
//! A token verified here is only a claim: whether it still speaks for its
//! account (not signed out, not demoted, not deactivated) is decided against
//! stored state by `services::Authenticator`, which every door calls.
//! Authorization (role, ownership) is decided by the services, through the
//! checks on `Principal`.

mod hs256;
mod password;
mod refresh;
mod token;

pub use password::PasswordHasher;
pub use refresh::{RefreshToken, RefreshTokenHash};
pub use token::{AccessToken, Claims, TokenIssuer};

use crate::domain::{Role, UserId};
use crate::error::AppError;

/// The authenticated caller of one request or connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The account the token was issued to.
    pub user_id: UserId,
    /// The role the token carries.
    pub role: Role,
}

impl Principal {
    /// True for admins.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// The check of every admin-only operation.
    ///
    /// # Errors
    /// [`AppError::Forbidden`] for anyone but an admin.
    pub fn require_admin(&self) -> Result<(), AppError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(AppError::Forbidden("this operation is for admins"))
        }
    }
}

/// The one message of every token failure; the precise reason is logged at
/// debug level only, so a client cannot probe which check failed.
pub const INVALID_TOKEN: &str = "missing, invalid or expired token";

/// The token of an `Authorization` header value: `Bearer <token>` (scheme in
/// any case). `None` for other schemes or an empty token.
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_from_header_values() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("abc"), None);
    }
}
