//! The GraphQL door: the async-graphql schema (query, mutation, subscription
//! roots merged from one module per area), its types, batch loaders, and the
//! axum handlers that mount it.
//!
//! Resolvers are thin: the caller from the context, input parsed into domain
//! types, one service call, the result mapped to a GraphQL type. Rules live in
//! `services`. The schema is independent of HTTP; `routes.rs` mounts it.

mod accounts;
mod catalog;
mod chat;
mod context;
mod error;
mod live;
pub mod loaders;
mod orders;
pub mod routes;
mod scalars;

use async_graphql::{MergedObject, MergedSubscription, Schema, SchemaBuilder};

pub use context::Caller;

use crate::services::Services;

/// Every query, by area.
#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    accounts::AccountQuery,
    accounts::DirectoryQuery,
    catalog::CatalogQuery,
    chat::ChatQuery,
    orders::OrderQuery,
);

/// Every mutation, by area.
#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    accounts::AccountMutation,
    catalog::CatalogMutation,
    orders::OrderMutation,
    chat::ChatMutation,
);

/// Every subscription, by area.
#[derive(MergedSubscription, Default)]
#[graphql(name = "Subscription")]
pub struct SubscriptionRoot(
    catalog::CatalogSubscription,
    orders::OrderSubscription,
    chat::ChatSubscription,
);

/// The schema type served at `/graphql`.
pub type AppSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Deepest selection accepted; deeper documents are refused before execution.
pub const MAX_DEPTH: usize = 12;
/// Largest summed field cost accepted; bounds the work one document can ask for.
pub const MAX_COMPLEXITY: usize = 2000;

fn builder() -> SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot::default(),
    )
    .limit_depth(MAX_DEPTH)
    .limit_complexity(MAX_COMPLEXITY)
    .extension(error::ErrorCodes)
}

/// The schema with the services every resolver reaches through the context.
pub fn schema(services: Services) -> AppSchema {
    builder().data(services).finish()
}

/// The SDL as checked in at `schema.graphql` (`print-schema` writes it).
pub fn sdl() -> String {
    builder().finish().sdl()
}
