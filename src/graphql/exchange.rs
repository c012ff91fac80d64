//! What the HTTP door learns of one request while the schema runs it:
//! whether execution began, and, for GET, whether the document that would
//! run is a mutation.
//!
//! The GraphQL over HTTP specification answers a request that fails before
//! execution (a syntax error, a validation error, an unknown
//! `operationName`, a persisted-query hash that does not match its query)
//! with 4xx, and one that executed with 200 whatever its errors. Telling the
//! two apart from the response alone is guesswork (a non-null root field
//! that fails also leaves `data` null), so [`Stages`] marks the
//! [`Exchange`] the route put in the request's data when async-graphql
//! reaches its `execute` hook, which it does only once parsing and
//! validation passed.
//!
//! The GET check runs here rather than in the route because the document is
//! only known once the persisted-query extension has looked its hash up: a
//! mutation registered over POST must not run when its hash alone comes over
//! GET.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Response, ServerError, ServerResult, Variables};

/// One HTTP request's passage through the schema; the route puts an
/// `Arc<Exchange>` in the request's data and reads it after execution.
#[derive(Debug, Default)]
pub struct Exchange {
    /// `Some` for GET: the `operationName` asked for (mutations refused).
    over_get: Option<Option<String>>,
    executed: AtomicBool,
    mutation_over_get: AtomicBool,
}

impl Exchange {
    /// A POST request: any operation may run.
    pub fn post() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// A GET request for `operation_name` (or the only operation): a
    /// mutation is refused before it runs.
    pub fn get(operation_name: Option<String>) -> Arc<Self> {
        Arc::new(Self {
            over_get: Some(operation_name),
            ..Self::default()
        })
    }

    /// Whether execution began: parsing, validation and the operation's
    /// selection all passed.
    pub fn executed(&self) -> bool {
        self.executed.load(Ordering::Acquire)
    }

    /// Whether the request was refused for being a mutation over GET.
    pub fn refused_mutation_over_get(&self) -> bool {
        self.mutation_over_get.load(Ordering::Acquire)
    }
}

/// The extension that keeps each request's [`Exchange`] up to date.
pub struct Stages;

impl ExtensionFactory for Stages {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Stages)
    }
}

#[async_trait::async_trait]
impl Extension for Stages {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        if let Some(exchange) = ctx.data_opt::<Arc<Exchange>>()
            && let Some(operation_name) = &exchange.over_get
            && selected_operation_is_mutation(&document, operation_name.as_deref())
        {
            exchange.mutation_over_get.store(true, Ordering::Release);
            return Err(ServerError::new(MUTATION_OVER_GET, None));
        }
        Ok(document)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        if let Some(exchange) = ctx.data_opt::<Arc<Exchange>>() {
            exchange.executed.store(true, Ordering::Release);
        }
        next.run(ctx, operation_name).await
    }
}

/// The message of a mutation refused over GET.
pub const MUTATION_OVER_GET: &str = "mutations are sent with POST; GET runs queries only";

/// Whether the operation a request would run (the named one, or the only
/// one) is a mutation.
fn selected_operation_is_mutation(
    document: &ExecutableDocument,
    operation_name: Option<&str>,
) -> bool {
    let mut operations = document.operations.iter();
    let selected = match operation_name {
        Some(wanted) => {
            operations.find(|(name, _)| name.is_some_and(|name| name.as_str() == wanted))
        }
        None => operations.next(),
    };
    selected.is_some_and(|(_, operation)| operation.node.ty == OperationType::Mutation)
}
