//! Relay's object identification: `interface Node { id: ID! }` on `User`,
//! `Product`, `Order` and `Message`, and `node(id:)` / `nodes(ids:)` to
//! fetch any of them by id alone, as Relay's refetchable fragments and
//! Apollo's cache redirects do.
//!
//! Ids are the objects' own (every kind shares one generator, so an id
//! names at most one object); what a caller may read this way is decided by
//! the lookup service, exactly as each kind's own queries decide it.

use async_graphql::{Context, ID, Interface, Object};

use super::accounts::User;
use super::catalog::Product;
use super::chat::Message;
use super::context::{ContextExt as _, id_arg};
use super::error::IntoGraphql as _;
use super::orders::Order;
use crate::domain::AnyId;
use crate::services::Found;

/// An object with a stable, globally unique id, which `node(id:)` fetches.
#[derive(Interface)]
#[graphql(field(
    name = "id",
    ty = "&ID",
    desc = "Globally unique: `node(id:)` fetches it."
))]
pub enum Node {
    /// An account.
    User(User),
    /// A product.
    Product(Product),
    /// An order.
    Order(Order),
    /// A chat message.
    Message(Message),
}

impl From<Found> for Node {
    fn from(found: Found) -> Self {
        match found {
            Found::User(user) => Node::User(user.into()),
            Found::Product(product) => Node::Product(product.into()),
            Found::Order(order) => Node::Order(order.into()),
            Found::Message(message) => Node::Message(message.into()),
        }
    }
}

/// `node` and `nodes`.
#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// The object with this id, or null when it does not exist or the caller
    /// may not read it (the two look alike, so ids cannot be probed).
    /// Products are anyone's; an account is its own and admins'; an order
    /// its owner's and admins'; a message its two participants'.
    ///
    /// Errors: `BAD_USER_INPUT` for a malformed id; `UNAVAILABLE` when the
    /// store is down.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Node>> {
        let id: AnyId = id_arg(&id, "id")?;
        let mut found = lookup(ctx, &[id]).await?;
        Ok(found.pop().flatten())
    }

    /// The objects with these ids, in the same order, each null like
    /// `node` would answer it. At most 100 ids.
    ///
    /// Errors: `BAD_USER_INPUT` for a malformed id or more than 100;
    /// `UNAVAILABLE` when the store is down.
    #[graphql(complexity = "super::list_cost(ids.len(), child_complexity)")]
    async fn nodes(
        &self,
        ctx: &Context<'_>,
        ids: Vec<ID>,
    ) -> async_graphql::Result<Vec<Option<Node>>> {
        let ids = ids
            .iter()
            .map(|id| id_arg(id, "ids"))
            .collect::<async_graphql::Result<Vec<AnyId>>>()?;
        lookup(ctx, &ids).await
    }
}

async fn lookup(ctx: &Context<'_>, ids: &[AnyId]) -> async_graphql::Result<Vec<Option<Node>>> {
    let found = ctx
        .services()
        .lookup
        .by_ids(ctx.principal_opt(), ids)
        .await
        .graphql()?;
    Ok(found
        .into_iter()
        .map(|found| found.map(Node::from))
        .collect())
}
