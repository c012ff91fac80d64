//! Mutation root.

use async_graphql::{Context, ID, Object};

use super::context::ContextExt as _;
use super::error::IntoGraphql as _;
use super::types::{AuthPayload, RegisterInput, Role, User};
use crate::auth::RefreshToken;
use crate::domain::UserId;
use crate::services::{Registration, SignIn};

/// Write operations.
#[derive(Default)]
pub struct MutationRoot;

#[Object(name = "Mutation")]
impl MutationRoot {
    /// Creates a user account and signs it in. Never creates an admin.
    async fn register(
        &self,
        ctx: &Context<'_>,
        input: RegisterInput,
    ) -> async_graphql::Result<AuthPayload> {
        let registration =
            Registration::parse(&input.name, &input.email, &input.password).graphql()?;
        let services = ctx.services();
        services
            .accounts
            .register(registration, ctx.client_addr())
            .await
            .map(AuthPayload::from)
            .graphql()
    }

    /// Signs in. One error for an unknown email and a wrong password;
    /// throttled per client address and per account.
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

    /// Changes another account's role (admins only).
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
