//! The GraphQL door: the async-graphql schema (query, mutation, subscription
//! roots), its types, and the axum handlers that mount it.
//!
//! Resolvers are thin: the caller from the context, input parsed into domain
//! types, one service call, the result mapped to a GraphQL type. Rules live in
//! `services`. The schema is independent of HTTP; `routes.rs` mounts it.

mod context;
mod error;
mod mutation;
mod query;
pub mod routes;
mod scalars;
mod types;

use async_graphql::{EmptySubscription, Schema, SchemaBuilder};

pub use context::Caller;
pub use mutation::MutationRoot;
pub use query::QueryRoot;

use crate::services::Services;

/// The schema type served at `/graphql`.
pub type AppSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// Deepest selection accepted; deeper documents are refused before execution.
pub const MAX_DEPTH: usize = 12;
/// Largest summed field cost accepted; bounds the work one document can ask for.
pub const MAX_COMPLEXITY: usize = 500;

fn builder() -> SchemaBuilder<QueryRoot, MutationRoot, EmptySubscription> {
    Schema::build(QueryRoot, MutationRoot, EmptySubscription)
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
