//! Accounts on GraphQL: `me`, registration, sessions, roles.

use async_graphql::connection::{Connection, Edge};
use async_graphql::dataloader::DataLoader;
use async_graphql::{ComplexObject, Context, Enum, ID, InputObject, Object, SimpleObject};

use super::context::ContextExt as _;
use super::error::IntoGraphql as _;
use super::loaders::UserLoader;
use super::scalars::DateTime;
use super::totals::{Counted, Total};
use crate::auth::RefreshToken;
use crate::domain::{self, UserId, UserListing};
use crate::error::AppError;
use crate::services::{Registration, Session, SignIn};

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
    /// False once an admin deactivated the account (it cannot sign in; its
    /// data stays).
    pub active: bool,
    #[graphql(skip)]
    email: String,
    #[graphql(skip)]
    user_id: UserId,
    /// Set when the account is the one signing in (the request has no caller
    /// yet, but the address is the caller's own).
    #[graphql(skip)]
    reveal_email: bool,
}

/// Where a user is, as an admin's presence list shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(name = "PresenceStatus")]
pub enum PresenceStatus {
    /// At least one live connection.
    Online,
    /// No live connection, but active in the last 5 minutes.
    RecentlyActive,
    /// Neither.
    Offline,
}

#[ComplexObject]
impl User {
    /// True while the user has a live connection (Socket.IO or GraphQL WebSocket).
    async fn online(&self, ctx: &Context<'_>) -> bool {
        ctx.services().presence.is_online(&self.user_id)
    }

    /// Online, recently active (last 5 minutes) or offline.
    async fn presence(&self, ctx: &Context<'_>) -> PresenceStatus {
        if ctx.services().presence.is_online(&self.user_id) {
            return PresenceStatus::Online;
        }
        let recent = self
            .last_active
            .is_some_and(|at| chrono::Utc::now() - at.0 < crate::services::RECENTLY_ACTIVE);
        if recent {
            PresenceStatus::RecentlyActive
        } else {
            PresenceStatus::Offline
        }
    }

    /// Sign-in address; null unless the caller is this user or an admin.
    async fn email(&self, ctx: &Context<'_>) -> Option<&str> {
        if self.reveal_email {
            return Some(self.email.as_str());
        }
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
            active: user.active,
            email: user.email.as_str().to_owned(),
            user_id: user.id,
            reveal_email: false,
        }
    }
}

/// The account a link points at. Accounts are never deleted, so every link
/// resolves; one that does not is the server's fault (`INTERNAL`), never
/// a null the client must check for.
pub async fn linked_user(ctx: &Context<'_>, id: &UserId) -> async_graphql::Result<User> {
    let loader = ctx.data::<DataLoader<UserLoader>>()?;
    match loader.load_one(id.clone()).await.graphql()? {
        Some(user) => Ok(User::from(user)),
        None => Err(AppError::Internal(anyhow::anyhow!(
            "a link to a missing account {id}"
        )))
        .graphql(),
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
            user: User {
                reveal_email: true,
                ..session.user.into()
            },
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

/// Account queries.
#[derive(Default)]
pub struct AccountQuery;

#[Object]
impl AccountQuery {
    /// The signed-in account.
    ///
    /// Errors: `UNAUTHENTICATED` (no valid token, or the account no longer
    /// exists); `UNAVAILABLE` when the store is down.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        let principal = ctx.principal()?;
        ctx.services()
            .accounts
            .me(principal)
            .await
            .map(User::from)
            .graphql()
    }
}

/// Account queries for admins: the presence list.
#[derive(Default)]
pub struct DirectoryQuery;

#[Object]
impl DirectoryQuery {
    /// Accounts in registration order with their presence (admins).
    /// `online: true` lists who is online now; `online: false` leaves them out.
    /// `totalCount` counts the accounts in the store without `online`; with
    /// it, who is online is this server's view (its connections and, in a
    /// cluster, the shared registry as of its last heartbeat, a few seconds
    /// at most): `true` counts that set, `false` the accounts minus it.
    /// Errors: `UNAUTHENTICATED`, `FORBIDDEN` (not an admin),
    /// `BAD_USER_INPUT` (a cursor of another list), `UNAVAILABLE`.
    #[graphql(complexity = "super::page_cost(first, child_complexity)")]
    async fn users(
        &self,
        ctx: &Context<'_>,
        online: Option<bool>,
        #[graphql(desc = "Page size: 20 by default, at most 100.")] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, User, Total>> {
        let principal = ctx.principal()?;
        let listing =
            UserListing::parse(online, first.map(i64::from), after.as_deref()).graphql()?;
        let total = Total::of(Counted::Users(listing.online));
        let page = ctx
            .services()
            .presence
            .users(principal, listing)
            .await
            .graphql()?;
        let mut connection =
            Connection::with_additional_fields(false, page.next_cursor.is_some(), total);
        connection.edges.extend(
            page.items
                .into_iter()
                .map(|user| Edge::new(user.cursor().encode(), User::from(user))),
        );
        Ok(connection)
    }
}

/// Account mutations.
#[derive(Default)]
pub struct AccountMutation;

#[Object]
impl AccountMutation {
    /// Creates a user account and signs it in. Never creates an admin.
    ///
    /// Errors: `BAD_USER_INPUT` naming each invalid field; `CONFLICT` when the
    /// email is registered; `RATE_LIMITED` for too many attempts from the
    /// client's address (`retryAfter`); `UNAVAILABLE` when the store is down.
    async fn register(
        &self,
        ctx: &Context<'_>,
        input: RegisterInput,
    ) -> async_graphql::Result<AuthPayload> {
        let registration =
            Registration::parse(&input.name, &input.email, &input.password).graphql()?;
        ctx.services()
            .accounts
            .register(registration, ctx.client_addr())
            .await
            .map(AuthPayload::from)
            .graphql()
    }

    /// Signs in. One error for an unknown email and a wrong password;
    /// throttled per client address and per account.
    ///
    /// Errors: `BAD_USER_INPUT` for a malformed email or password;
    /// `UNAUTHENTICATED` with one message for an unknown email and a wrong
    /// password; `FORBIDDEN` for the right password of a deactivated account;
    /// `RATE_LIMITED` when the address or the account has had too many attempts
    /// (`retryAfter`); `UNAVAILABLE` when the store is down.
    async fn login(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
    ) -> async_graphql::Result<AuthPayload> {
        let sign_in = SignIn::parse(&email, &password).graphql()?;
        ctx.services()
            .accounts
            .login(sign_in, ctx.client_addr())
            .await
            .map(AuthPayload::from)
            .graphql()
    }

    /// Exchanges a refresh token for a new session; the old token stops
    /// working, and presenting it again revokes the session.
    ///
    /// Errors: `UNAUTHENTICATED` for an unknown, expired or revoked token;
    /// `CONFLICT` for reuse of a rotated token (the whole session is then
    /// revoked); `UNAVAILABLE`
    /// when the store is down.
    async fn refresh_token(
        &self,
        ctx: &Context<'_>,
        refresh_token: String,
    ) -> async_graphql::Result<AuthPayload> {
        let presented = RefreshToken::from_client(&refresh_token);
        ctx.services()
            .accounts
            .refresh(&presented)
            .await
            .map(AuthPayload::from)
            .graphql()
    }

    /// Ends the session of the refresh token. Always true once done.
    ///
    /// Errors: `UNAVAILABLE` when the store is down.
    async fn logout(
        &self,
        ctx: &Context<'_>,
        refresh_token: String,
    ) -> async_graphql::Result<bool> {
        let presented = RefreshToken::from_client(&refresh_token);
        ctx.services()
            .accounts
            .logout(&presented)
            .await
            .map(|()| true)
            .graphql()
    }

    /// Deactivates (`active: false`) or reactivates another account (admins
    /// only). A deactivated account cannot sign in, its refresh tokens are
    /// revoked, its access tokens are refused at every door, and its live
    /// connections end with the reason `deactivated`; its data stays.
    ///
    /// Errors: `UNAUTHENTICATED`; `FORBIDDEN` for non-admins and for an admin
    /// deactivating themselves; `BAD_USER_INPUT` for a malformed id;
    /// `NOT_FOUND` for an unknown account; `UNAVAILABLE` when the store is
    /// down.
    async fn set_user_active(
        &self,
        ctx: &Context<'_>,
        id: ID,
        active: bool,
    ) -> async_graphql::Result<User> {
        let principal = ctx.principal()?;
        let target = UserId::parse(&id).map_err(|e| e.on("id")).graphql()?;
        ctx.services()
            .accounts
            .set_active(principal, &target, active)
            .await
            .map(User::from)
            .graphql()
    }

    /// Changes another account's role (admins only).
    ///
    /// Errors: `UNAUTHENTICATED`; `FORBIDDEN` for non-admins and for an admin
    /// changing their own role; `BAD_USER_INPUT` for a malformed id;
    /// `NOT_FOUND` for an unknown account; `UNAVAILABLE` when the store is
    /// down.
    async fn set_user_role(
        &self,
        ctx: &Context<'_>,
        id: ID,
        role: Role,
    ) -> async_graphql::Result<User> {
        let principal = ctx.principal()?;
        let target = UserId::parse(&id).map_err(|e| e.on("id")).graphql()?;
        ctx.services()
            .accounts
            .set_role(principal, &target, role.into())
            .await
            .map(User::from)
            .graphql()
    }
}
