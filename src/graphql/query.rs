//! Query root.

use async_graphql::{Context, Object};

use super::context::ContextExt as _;
use super::error::IntoGraphql as _;
use super::types::User;

/// Read operations.
#[derive(Default)]
pub struct QueryRoot;

#[Object(name = "Query")]
impl QueryRoot {
    /// The signed-in account.
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
