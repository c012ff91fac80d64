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
mod engine;
mod error;
mod events;
mod live;
pub mod loaders;
mod node;
mod orders;
pub mod routes;
mod scalars;
mod shared;
mod totals;

use async_graphql::{MergedObject, MergedSubscription, Schema, SchemaBuilder};

pub use context::Caller;
pub use engine::{Engine, Method, Stage};

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
    node::NodeQuery,
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
    events::EventSubscription,
);

/// The schema type served at `/graphql`.
pub type AppSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Deepest selection accepted; deeper documents are refused before execution.
pub const MAX_DEPTH: usize = 12;
/// Largest summed field cost accepted; bounds the work one document can ask
/// for. Every field costs 1; a list costs its size times the cost of one
/// item ([`page_cost`]), so a full page of 100 orders with their user and
/// product costs about 1,500, and 500 aliases of `products(first: 100)` are
/// refused before any resolver runs.
pub const MAX_COMPLEXITY: usize = 10_000;

/// How many documents automatic persisted queries (Apollo's protocol:
/// `extensions.persistedQuery.sha256Hash`) keep, least recently used first
/// out. A client's operations are a fixed set (one per query in its code),
/// so 1,024 holds those of many client versions at once; the bound keeps a
/// caller that registers endless distinct documents from growing the
/// server's memory without end (each came in a body under `BODY_LIMIT`).
/// A document that was dropped costs its client one retry
/// with the full query, as a hash seen first does; so does a hash sent to
/// another process of a cluster, since each keeps its own.
pub const PERSISTED_QUERIES: usize = 1024;

/// The cost of a page: the number of items it may hold (`first`, clamped as
/// the services clamp it, or the default page size) times the cost of one.
pub fn page_cost(first: Option<i32>, child_complexity: usize) -> usize {
    let size = first.map_or(crate::domain::DEFAULT_PAGE_SIZE, |n| {
        usize::try_from(n)
            .unwrap_or(0)
            .clamp(1, crate::domain::MAX_PAGE_SIZE)
    });
    list_cost(size, child_complexity)
}

/// The cost of a list of at most `size` items.
pub fn list_cost(size: usize, child_complexity: usize) -> usize {
    size.saturating_mul(child_complexity).saturating_add(1)
}

fn builder() -> SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        SubscriptionRoot::default(),
    )
    .limit_depth(MAX_DEPTH)
    .limit_complexity(MAX_COMPLEXITY)
}

/// The schema with the services every resolver reaches through the context,
/// in the engine both transports run it through. The schema has no
/// extension: what extensions would do is done around it (`engine.rs`).
pub fn engine(services: Services) -> Engine {
    Engine::new(builder().data(services).finish())
}

/// The SDL as checked in at `schema.graphql` (`print-schema` writes it).
pub fn sdl() -> String {
    builder().finish().sdl()
}

#[cfg(test)]
mod tests {
    use super::builder;

    #[tokio::test]
    async fn every_root_field_names_the_error_codes_it_can_return() {
        let schema = builder().finish();
        let response = schema
            .execute(
                "{ __schema { \
                   queryType { fields(includeDeprecated: true) { name description } } \
                   mutationType { fields(includeDeprecated: true) { name description } } \
                   subscriptionType { fields(includeDeprecated: true) { name description } } } }",
            )
            .await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        let data = response.data.into_json().unwrap();
        let mut silent = Vec::new();
        for root in ["queryType", "mutationType", "subscriptionType"] {
            for field in data["__schema"][root]["fields"].as_array().unwrap() {
                let described = field["description"]
                    .as_str()
                    .is_some_and(|text| text.contains("Errors: `"));
                if !described {
                    silent.push(format!("{root}.{}", field["name"]));
                }
            }
        }
        assert!(
            silent.is_empty(),
            "fields that do not name their error codes: {silent:?}"
        );
    }
}
