//! The schema as both transports run it: persisted and parsed documents
//! looked up before async-graphql sees the request, the contract's error
//! codes added to what comes back.
//!
//! These are the jobs async-graphql's extensions would do, done around the
//! schema instead of inside it. A schema with any extension sends every
//! field it resolves through the extension chain (a registry lookup and one
//! boxed future per extension, per field), even when no extension looks at
//! fields; without one, async-graphql resolves a field directly. On a page
//! of 20 products that chain was about half of a GraphQL read's CPU, and it
//! was paid again by every subscriber for every event.
//!
//! - **Persisted queries** (Apollo's automatic persisted queries:
//!   `extensions.persistedQuery.sha256Hash`), with async-graphql's own
//!   messages, which Apollo clients match: [`PERSISTED_QUERY_NOT_FOUND`] for
//!   a hash the server does not hold, "provided sha does not match query"
//!   when the hash is not the query's. At most [`PERSISTED_QUERIES`]
//!   documents are held, least recently used first out.
//! - **Parsed documents**: a client sends the same few documents over and
//!   over, so a document's text is parsed once and later requests get a
//!   copy of the parsed tree (at most [`PARSED_DOCUMENTS`] texts of at most
//!   [`PARSED_DOCUMENT_BYTES`] each). A text that does not parse is never
//!   kept: async-graphql parses it again and answers its own syntax error.
//!   Validation still runs for every request (its outcome depends on the
//!   variables), as do the depth and complexity limits.
//! - **Error codes** ([`super::error::add_default_codes`]) on every
//!   response, and on every item of a subscription.
//!
//! For the HTTP door, [`Engine::execute_http`] also tells whether the
//! request reached execution ([`Stage`]: the GraphQL over HTTP
//! specification answers one refused before it with 4xx) and refuses a
//! mutation over GET. That check looks at the document that would run,
//! after the persisted-query lookup: a mutation registered over POST must
//! not run when its hash alone comes over GET.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Data, Request, Response, ServerError, Value};
use futures::StreamExt as _;
use futures::stream::BoxStream;
use sha2::{Digest as _, Sha256};

use super::error::{PERSISTED_QUERY_NOT_FOUND, add_default_codes};
use super::shared::Renderers;
use super::{AppSchema, PERSISTED_QUERIES};

/// How many parsed documents are kept by their text.
pub const PARSED_DOCUMENTS: usize = 256;
/// Longest document text kept parsed; longer ones are parsed every time.
/// With [`PARSED_DOCUMENTS`] this bounds what the cache can hold (a parsed
/// tree takes several times its text) to a few tens of MiB at worst.
pub const PARSED_DOCUMENT_BYTES: usize = 4096;

/// The schema with the jobs above around it; cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct Engine(Arc<Inner>);

struct Inner {
    schema: AppSchema,
    /// Persisted documents by their SHA-256 (lowercase hex).
    persisted: Documents,
    /// Parsed documents by their text.
    parsed: Documents,
    /// The shared subscriptions running (`shared.rs`).
    renderers: Renderers,
}

/// A bounded map from a key to a parsed document. The lock is held only
/// to look up or insert, never across an await.
struct Documents(Mutex<lru::LruCache<String, Arc<ExecutableDocument>>>);

impl Documents {
    fn new(capacity: usize) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        Self(Mutex::new(lru::LruCache::new(capacity)))
    }

    fn get(&self, key: &str) -> Option<Arc<ExecutableDocument>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    fn put(&self, key: String, document: Arc<ExecutableDocument>) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .put(key, document);
    }
}

/// How an HTTP request went, for the status its answer gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Execution began: 200, whatever the errors.
    Executed,
    /// Refused before execution: a syntax or validation error, an unknown
    /// `operationName`, a persisted-query hash that does not match.
    Refused,
    /// A persisted-query hash the server does not hold: the client sends
    /// the query again.
    PersistedQueryMiss,
    /// A mutation asked for over GET.
    MutationOverGet,
}

/// How the HTTP door asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Any operation may run.
    Post,
    /// Queries only: a mutation is refused before it runs.
    Get,
}

impl Engine {
    /// The engine for `schema`.
    pub fn new(schema: AppSchema) -> Self {
        Self(Arc::new(Inner {
            schema,
            persisted: Documents::new(PERSISTED_QUERIES),
            parsed: Documents::new(PARSED_DOCUMENTS),
            renderers: Renderers::default(),
        }))
    }

    /// Runs one query or mutation.
    pub async fn execute(&self, request: Request) -> Response {
        match self.prepare(request) {
            Ok(request) => with_codes(self.0.schema.execute(request).await),
            Err(error) => refusal(error),
        }
    }

    /// Runs one operation for the HTTP door, and says how far it got.
    pub async fn execute_http(&self, request: Request, method: Method) -> (Response, Stage) {
        let mut request = match self.prepare(request) {
            Ok(request) => request,
            Err(error) => {
                let stage = if error.message == PERSISTED_QUERY_NOT_FOUND {
                    Stage::PersistedQueryMiss
                } else {
                    Stage::Refused
                };
                return (refusal(error), stage);
            }
        };
        if method == Method::Get {
            let operation_name = request.operation_name.clone();
            // A document that does not parse is refused by async-graphql.
            let mutation = request.parsed_query().is_ok_and(|document| {
                selected_operation_is_mutation(document, operation_name.as_deref())
            });
            if mutation {
                return (
                    refusal(ServerError::new(MUTATION_OVER_GET, None)),
                    Stage::MutationOverGet,
                );
            }
        }
        let response = with_codes(self.0.schema.execute(request).await);
        let stage = if refused_before_execution(&response) {
            Stage::Refused
        } else {
            Stage::Executed
        };
        (response, stage)
    }

    /// The request with its document parsed (or found), or the error that
    /// refuses it before async-graphql sees it.
    fn prepare(&self, mut request: Request) -> Result<Request, ServerError> {
        if let Some(persisted) = request.extensions.remove("persistedQuery") {
            return self.persisted(request, persisted);
        }
        if let Some(document) = self.parsed(&request.query) {
            request.set_parsed_query(document);
        }
        Ok(request)
    }

    /// Apollo's automatic persisted queries, as async-graphql's extension
    /// answers them.
    fn persisted(&self, mut request: Request, persisted: Value) -> Result<Request, ServerError> {
        #[derive(serde::Deserialize)]
        struct PersistedQuery {
            version: i32,
            #[serde(rename = "sha256Hash")]
            sha256_hash: String,
        }
        let persisted: PersistedQuery = async_graphql::from_value(persisted).map_err(|_| {
            ServerError::new("Invalid \"PersistedQuery\" extension configuration.", None)
        })?;
        if persisted.version != 1 {
            return Err(ServerError::new(
                format!(
                    "Only the \"PersistedQuery\" extension of version \"1\" is supported, and the current version is \"{}\".",
                    persisted.version
                ),
                None,
            ));
        }
        if request.query.is_empty() {
            let document = self
                .0
                .persisted
                .get(&persisted.sha256_hash)
                .ok_or_else(|| ServerError::new(PERSISTED_QUERY_NOT_FOUND, None))?;
            request.set_parsed_query(ExecutableDocument::clone(&document));
            return Ok(request);
        }
        let hash = format!("{:x}", Sha256::digest(request.query.as_bytes()));
        if persisted.sha256_hash != hash {
            return Err(ServerError::new("provided sha does not match query", None));
        }
        let document = match self.0.parsed.get(&request.query) {
            Some(document) => document,
            None => Arc::new(async_graphql::parser::parse_query(&request.query)?),
        };
        request.set_parsed_query(ExecutableDocument::clone(&document));
        self.0.persisted.put(hash, document);
        Ok(request)
    }

    /// The parsed `query`: a copy of the kept tree, or parsed now (and
    /// kept if it is short enough). `None` when it does not parse, which
    /// leaves the parsing, and its error, to async-graphql.
    fn parsed(&self, query: &str) -> Option<ExecutableDocument> {
        self.parsed_document(query)
            .map(|document| ExecutableDocument::clone(&document))
    }

    /// The parsed `query` as kept (parsed now, and kept if it is short
    /// enough, when it is not); `None` when it does not parse.
    pub(super) fn parsed_document(&self, query: &str) -> Option<Arc<ExecutableDocument>> {
        let kept = !query.is_empty() && query.len() <= PARSED_DOCUMENT_BYTES;
        if kept && let Some(document) = self.0.parsed.get(query) {
            return Some(document);
        }
        let document = Arc::new(async_graphql::parser::parse_query(query).ok()?);
        if kept {
            self.0.parsed.put(query.to_owned(), document.clone());
        }
        Some(document)
    }

    /// The shared subscriptions running.
    pub(super) fn renderers(&self) -> &Renderers {
        &self.0.renderers
    }
}

/// The WebSocket door runs every operation (queries and mutations too, as
/// one-item streams) through here.
impl async_graphql::Executor for Engine {
    async fn execute(&self, request: Request) -> Response {
        Engine::execute(self, request).await
    }

    fn execute_stream(
        &self,
        request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        match self.prepare(request) {
            Ok(request) => self
                .0
                .schema
                .execute_stream_with_session_data(request, session_data.unwrap_or_default())
                .map(with_codes)
                .boxed(),
            Err(error) => futures::stream::once(std::future::ready(refusal(error))).boxed(),
        }
    }
}

/// A response refusing the request with `error`, its code added.
fn refusal(error: ServerError) -> Response {
    with_codes(Response::from_errors(vec![error]))
}

fn with_codes(mut response: Response) -> Response {
    add_default_codes(&mut response);
    response
}

/// Whether async-graphql refused the request before running any resolver:
/// it then answers `data: null` with errors that have no `path` (syntax,
/// validation, limits, an unknown `operationName`). Once a resolver ran,
/// `data` is an object, or null because a non-null root field failed, and
/// that error has the field's path.
fn refused_before_execution(response: &Response) -> bool {
    response.data == Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|error| error.path.is_empty())
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

#[cfg(test)]
mod tests {
    use async_graphql::Request;
    use serde_json::json;

    use super::{Engine, Method, PARSED_DOCUMENT_BYTES, Stage};
    use crate::graphql::{Caller, engine};
    use crate::services::testing::{fresh_store, services_on};

    async fn fresh_engine() -> (Engine, tempfile::TempDir) {
        let (store, dir) = fresh_store().await;
        (engine(services_on(store)), dir)
    }

    fn anonymous(query: &str) -> Request {
        Request::new(query).data(Caller::Anonymous)
    }

    fn kept(engine: &Engine) -> usize {
        engine.0.parsed.0.lock().unwrap().len()
    }

    fn code(response: &async_graphql::Response) -> serde_json::Value {
        serde_json::to_value(&response.errors).unwrap()[0]["extensions"]["code"].clone()
    }

    #[tokio::test]
    async fn a_document_is_parsed_once_and_answers_alike_every_time() {
        let (engine, _dir) = fresh_engine().await;
        let query = "{ __typename a: __typename }";
        let first = engine.execute(anonymous(query)).await;
        let second = engine.execute(anonymous(query)).await;
        assert_eq!(kept(&engine), 1);
        assert_eq!(first.data, second.data);
        let json = second.data.into_json().unwrap();
        assert_eq!(json, json!({ "__typename": "Query", "a": "Query" }));
    }

    #[tokio::test]
    async fn a_long_document_or_one_that_does_not_parse_is_not_kept() {
        let (engine, _dir) = fresh_engine().await;
        let padding = " ".repeat(PARSED_DOCUMENT_BYTES);
        let long = format!("{{ __typename{padding} }}");
        assert!(engine.execute(anonymous(&long)).await.is_ok());
        let broken = engine.execute(anonymous("{ __typename ")).await;
        assert_eq!(kept(&engine), 0);
        assert_eq!(code(&broken), "BAD_USER_INPUT");
    }

    #[tokio::test]
    async fn the_stage_tells_a_refusal_from_an_executed_request_that_failed() {
        let (engine, _dir) = fresh_engine().await;
        let cases = [
            ("{ __typename ", Stage::Refused),
            ("{ nope }", Stage::Refused),
            (
                "query A { __typename } query B { __typename }",
                Stage::Refused,
            ),
            // `me` is non-null: its failure leaves `data` null, with a path.
            ("{ me { id } }", Stage::Executed),
            ("{ __typename }", Stage::Executed),
        ];
        for (query, expected) in cases {
            let (response, stage) = engine.execute_http(anonymous(query), Method::Post).await;
            assert_eq!(stage, expected, "{query}: {:?}", response.errors);
        }
    }

    #[tokio::test]
    async fn a_mutation_over_get_is_refused_also_when_it_comes_as_a_hash() {
        let (engine, _dir) = fresh_engine().await;
        let mutation = "mutation { logout(refreshToken: \"none\") }";
        let hash = format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(mutation));
        let persisted = || {
            let persisted = json!({ "version": 1, "sha256Hash": hash });
            let value = async_graphql::Value::from_json(persisted).unwrap();
            async_graphql::Extensions([("persistedQuery".to_owned(), value)].into())
        };

        let (_, stage) = engine.execute_http(anonymous(mutation), Method::Get).await;
        assert_eq!(stage, Stage::MutationOverGet);

        let mut unknown = anonymous("");
        unknown.extensions = persisted();
        let (miss, stage) = engine.execute_http(unknown, Method::Get).await;
        assert_eq!(stage, Stage::PersistedQueryMiss);
        assert_eq!(code(&miss), "PERSISTED_QUERY_NOT_FOUND");

        let mut registered = anonymous(mutation);
        registered.extensions = persisted();
        let (_, stage) = engine.execute_http(registered, Method::Post).await;
        assert_eq!(stage, Stage::Executed);

        let mut by_hash = anonymous("");
        by_hash.extensions = persisted();
        let (_, stage) = engine.execute_http(by_hash, Method::Get).await;
        assert_eq!(stage, Stage::MutationOverGet);
    }
}
