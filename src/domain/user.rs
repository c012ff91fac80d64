//! User accounts.

use chrono::{DateTime, Utc};

use super::{Cursor, Email, SortKey, USERS_OLDEST, UserId, ValidationError};

/// What an account may do. Registration always gives [`Role::User`]; only an
/// admin (or the operator through configuration or the CLI) makes admins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Places orders and chats.
    User,
    /// Manages the catalogue and orders, sees everyone.
    Admin,
}

impl Role {
    /// The wire and storage spelling (`user`, `admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }

    /// # Errors
    /// A [`ValidationError`] for anything but `user` or `admin`.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        match raw {
            "user" => Ok(Role::User),
            "admin" => Ok(Role::Admin),
            _ => Err(ValidationError("must be user or admin")),
        }
    }
}

/// A display name: 1 to 100 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

impl UserName {
    /// # Errors
    /// A [`ValidationError`] when empty, too long or containing control characters.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let name = raw.trim();
        if name.is_empty() {
            Err(ValidationError("is required"))
        } else if name.chars().count() > 100 {
            Err(ValidationError("must be at most 100 characters"))
        } else if name.chars().any(char::is_control) {
            Err(ValidationError("must not contain control characters"))
        } else {
            Ok(UserName(name.to_owned()))
        }
    }

    /// The trimmed name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A stored account, without its password hash (that never leaves the
/// accounts service and the store).
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// Stable id.
    pub id: UserId,
    /// Display name.
    pub name: UserName,
    /// Sign-in address, unique across accounts.
    pub email: Email,
    /// What the account may do.
    pub role: Role,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    /// Last time the account was seen doing something (throttled writes).
    pub last_active: Option<DateTime<Utc>>,
    /// False once an admin deactivated the account: it cannot sign in and
    /// its tokens are refused, but its data stays.
    pub active: bool,
}

impl User {
    /// Where the account stands in the registration-order user list.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            ordering: USERS_OLDEST,
            key: SortKey::Time(self.created_at),
            id: self.id.to_string(),
        }
    }
}

/// What decides, at every door, whether a validly signed access token still
/// speaks for its account. Kept with the account in the store, so a
/// sign-out, a role change or a deactivation holds across restarts and on
/// every server process, not only in the memory of the one that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountStatus {
    /// The account's current role; a token carrying another one is stale.
    pub role: Role,
    /// False for a deactivated account.
    pub active: bool,
    /// Tokens issued before this instant are void (sign-out, refresh-token
    /// reuse, role change, deactivation). Only ever moves forward.
    pub sessions_valid_from: DateTime<Utc>,
}

impl AccountStatus {
    /// True when a token claiming `role`, issued at `issued_at`, may act
    /// for this account now.
    pub fn admits(&self, role: Role, issued_at: DateTime<Utc>) -> bool {
        self.active && self.role == role && issued_at >= self.sessions_valid_from
    }
}

/// An account about to be written: everything already valid and hashed.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Id chosen by the service, so both stores agree on the id form.
    pub id: UserId,
    /// Display name.
    pub name: UserName,
    /// Sign-in address.
    pub email: Email,
    /// Initial role.
    pub role: Role,
    /// The argon2id PHC string.
    pub password_hash: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_their_wire_names() {
        for role in [Role::User, Role::Admin] {
            assert_eq!(Role::parse(role.as_str()), Ok(role));
        }
        assert!(Role::parse("root").is_err());
        assert!(Role::parse("Admin").is_err());
    }

    #[test]
    fn a_status_admits_only_current_tokens_of_an_active_account() {
        let cutoff = DateTime::from_timestamp_millis(1_000_000).unwrap();
        let status = AccountStatus {
            role: Role::Admin,
            active: true,
            sessions_valid_from: cutoff,
        };
        let before = cutoff - chrono::Duration::milliseconds(1);
        assert!(status.admits(Role::Admin, cutoff));
        assert!(
            !status.admits(Role::Admin, before),
            "issued before the cut-off"
        );
        assert!(!status.admits(Role::User, cutoff), "a stale role");
        let deactivated = AccountStatus {
            active: false,
            ..status
        };
        assert!(!deactivated.admits(Role::Admin, cutoff));
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(UserName::parse("  Ada ").unwrap().as_str(), "Ada");
        assert!(UserName::parse("   ").is_err());
        assert!(UserName::parse(&"n".repeat(101)).is_err());
        assert!(UserName::parse("a\u{0}b").is_err());
    }
}
