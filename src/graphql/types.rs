//! GraphQL object and input types, with `From` conversions from the domain.
//! Domain types carry no GraphQL derives; these are the schema's own shapes.

use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, SimpleObject};

use super::context::ContextExt as _;
use super::scalars::DateTime;
use crate::domain;
use crate::services::Session;

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(name = "Role")]
pub enum Role {
    /// Places orders and chats.
    User,
    /// Manages the catalogue and orders.
    Admin,
}

impl From<domain::Role> for Role {
    fn from(role: domain::Role) -> Self {
        match role {
            domain::Role::User => Role::User,
            domain::Role::Admin => Role::Admin,
        }
    }
}

impl From<Role> for domain::Role {
    fn from(role: Role) -> Self {
        match role {
            Role::User => domain::Role::User,
            Role::Admin => domain::Role::Admin,
        }
    }
}

/// An account as others see it; the email only to the account itself and admins.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(complex, name = "User")]
pub struct User {
    /// Stable id.
    pub id: ID,
    /// Display name.
    pub name: String,
    /// What the account may do.
    pub role: Role,
    /// When the account was created.
    pub created_at: DateTime,
    /// Last time the account was seen active, if ever.
    pub last_active: Option<DateTime>,
    #[graphql(skip)]
    email: String,
}

#[ComplexObject]
impl User {
    /// Sign-in address; null unless the caller is this user or an admin.
    async fn email(&self, ctx: &Context<'_>) -> Option<&str> {
        let principal = ctx.principal_opt()?;
        let visible = principal.is_admin() || principal.user_id.as_str() == self.id.as_str();
        visible.then_some(self.email.as_str())
    }
}

impl From<domain::User> for User {
    fn from(user: domain::User) -> Self {
        User {
            id: ID(user.id.to_string()),
            name: user.name.as_str().to_owned(),
            role: user.role.into(),
            created_at: user.created_at.into(),
            last_active: user.last_active.map(DateTime),
            email: user.email.as_str().to_owned(),
        }
    }
}

/// A signed-in session: what `register`, `login` and `refreshToken` return.
#[derive(Debug, Clone, SimpleObject)]
#[graphql(name = "AuthPayload")]
pub struct AuthPayload {
    /// Access token (JWT), sent as `Authorization: Bearer …`.
    pub token: String,
    /// Single-use token for `refreshToken`; rotated on every use.
    pub refresh_token: String,
    /// Seconds until `token` expires.
    pub expires_in: u64,
    /// The signed-in account.
    pub user: User,
}

impl From<Session> for AuthPayload {
    fn from(session: Session) -> Self {
        AuthPayload {
            token: session.access.token,
            refresh_token: session.refresh.expose().to_owned(),
            expires_in: session.access.expires_in,
            user: session.user.into(),
        }
    }
}

/// A new account. There is no role: registration always makes a user.
#[derive(Debug, Clone, InputObject)]
#[graphql(name = "RegisterInput")]
pub struct RegisterInput {
    /// Display name, 1 to 100 characters.
    pub name: String,
    /// Sign-in address.
    pub email: String,
    /// At least 8 characters.
    pub password: String,
}
