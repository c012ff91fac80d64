//! The MongoDB adapter, through the official `mongodb` driver.
//!
//! Documents use the seed's camelCase field names and `ObjectId` `_id`s, so the
//! 24-hex ids of the domain are the ObjectIds' hex form. Indexes are created
//! at start-up (idempotently); each feature adds the ones its queries need.
//!
//! This file holds what every aggregate shares: the client and collections,
//! connecting, error classification, id, date and keyset helpers, and the
//! contract tests. Each aggregate's trait impl, document, queries and
//! indexes are in its own file (`users.rs`, `products.rs`, `orders.rs`,
//! `messages.rs`, `tokens.rs`, `idempotency.rs`, `event_log.rs`).

use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use bson::oid::ObjectId;
use bson::{Bson, Document, doc};
use chrono::{DateTime, Utc};
use futures::TryStreamExt as _;
use mongodb::options::ClientOptions;
use mongodb::{Client, Collection, Database};
use secrecy::{ExposeSecret, SecretString};

use super::{Store, StoreError, StoreResult};
use crate::domain::{Cursor, SortKey, UserId};

mod event_log;
mod idempotency;
mod messages;
mod orders;
mod products;
mod tokens;
mod users;

use event_log::EventDoc;
use idempotency::IdempotencyDoc;
use messages::MessageDoc;
use orders::OrderDoc;
use products::ProductDoc;
use tokens::RefreshTokenDoc;
use users::UserDoc;

/// How long the driver looks for a usable server before an operation fails
/// as `UNAVAILABLE`, unless the URI sets `serverSelectionTimeoutMS`. The
/// driver's own default (30 s) would hold requests far past any client timeout.
const SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(5);

/// The MongoDB store. Cheap to clone (the driver's client is a handle).
#[derive(Clone)]
pub struct MongoStore {
    db: Database,
    users: Collection<UserDoc>,
    refresh_tokens: Collection<RefreshTokenDoc>,
    products: Collection<ProductDoc>,
    orders: Collection<OrderDoc>,
    messages: Collection<MessageDoc>,
    idempotency_keys: Collection<IdempotencyDoc>,
    events: Collection<EventDoc>,
    /// The position this process expects to append next (0: not known yet,
    /// read the head first). Another process may have taken it meanwhile:
    /// the unique `_id` refuses the insert and the head is read again.
    next_position: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl MongoStore {
    /// Connects to the database named in the URI and creates the indexes.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the server cannot be reached or the
    /// URI names no database.
    pub async fn connect(uri: &SecretString) -> StoreResult<Self> {
        let mut options = ClientOptions::parse(uri.expose_secret())
            .await
            .context("parsing MONGODB_URI")
            .map_err(StoreError::Unavailable)?;
        options
            .server_selection_timeout
            .get_or_insert(SERVER_SELECTION_TIMEOUT);
        options
            .connect_timeout
            .get_or_insert(SERVER_SELECTION_TIMEOUT);
        options
            .app_name
            .get_or_insert_with(|| "realtime-dashboard".into());
        let client = Client::with_options(options)
            .context("configuring the MongoDB client")
            .map_err(StoreError::Unavailable)?;
        let db = client
            .default_database()
            .context("MONGODB_URI must name a database, e.g. mongodb://host:27017/dashboard")
            .map_err(StoreError::Unavailable)?;
        let store = MongoStore {
            users: db.collection("users"),
            refresh_tokens: db.collection("refreshTokens"),
            products: db.collection("products"),
            orders: db.collection("orders"),
            messages: db.collection("messages"),
            idempotency_keys: db.collection("idempotencyKeys"),
            events: db.collection("events"),
            next_position: std::sync::Arc::default(),
            db,
        };
        store.create_indexes().await?;
        Ok(store)
    }

    /// Every aggregate's indexes; each file below creates the ones its
    /// queries need.
    async fn create_indexes(&self) -> StoreResult<()> {
        self.create_user_indexes().await?;
        self.create_token_indexes().await?;
        self.create_event_indexes().await?;
        self.create_idempotency_indexes().await?;
        self.create_product_indexes().await?;
        self.create_message_indexes().await?;
        self.create_order_indexes().await?;
        Ok(())
    }
}

/// Driver errors, classified: duplicate keys are duplicates; selection,
/// network and pool failures mean the store is unavailable; the rest is a bug.
fn classify(error: mongodb::error::Error) -> StoreError {
    use mongodb::error::{ErrorKind, WriteFailure};
    const DUPLICATE_KEY: i32 = 11000;
    let duplicate = match error.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(e)) => e.code == DUPLICATE_KEY,
        ErrorKind::Command(e) => e.code == DUPLICATE_KEY,
        _ => false,
    };
    if duplicate {
        return StoreError::Duplicate;
    }
    let unavailable = matches!(
        error.kind.as_ref(),
        ErrorKind::ServerSelection { .. }
            | ErrorKind::Io(_)
            | ErrorKind::ConnectionPoolCleared { .. }
            | ErrorKind::DnsResolve { .. }
            | ErrorKind::Shutdown
    ) || error.contains_label("RetryableWriteError")
        || error.contains_label("TransientTransactionError");
    if unavailable {
        StoreError::Unavailable(error.into())
    } else {
        StoreError::Internal(error.into())
    }
}

/// Runs a find or aggregate and reads the whole cursor, with the driver's
/// errors classified.
async fn collect<T>(
    query: impl IntoFuture<Output = mongodb::error::Result<mongodb::Cursor<T>>>,
) -> StoreResult<Vec<T>>
where
    T: serde::de::DeserializeOwned + Send + Sync + Unpin,
{
    query
        .await
        .map_err(classify)?
        .try_collect()
        .await
        .map_err(classify)
}

fn object_id<K>(id: &crate::domain::Id<K>) -> ObjectId {
    ObjectId::parse_str(id.as_str()).expect("BUG: domain ids are 24 hex digits")
}

/// The documents of `collection` whose id is in `ids`, each read by `read`,
/// in no particular order; no ids, no query. The one read of several
/// documents by id (the loaders' batches).
async fn by_ids<K, D, T>(
    collection: &Collection<D>,
    ids: &[crate::domain::Id<K>],
    read: fn(D) -> StoreResult<T>,
) -> StoreResult<Vec<T>>
where
    D: serde::de::DeserializeOwned + Send + Sync + Unpin,
{
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Bson> = ids.iter().map(|id| Bson::ObjectId(object_id(id))).collect();
    let documents = collect(collection.find(doc! { "_id": { "$in": ids } })).await?;
    documents.into_iter().map(read).collect()
}

fn user_id(oid: &ObjectId) -> UserId {
    UserId::parse(&oid.to_hex()).expect("BUG: an ObjectId's hex form is a valid id")
}

fn domain_id<K>(oid: &ObjectId) -> crate::domain::Id<K> {
    crate::domain::Id::parse(&oid.to_hex()).expect("BUG: an ObjectId's hex form is a valid id")
}

fn cursor_id(raw: &str) -> StoreResult<ObjectId> {
    ObjectId::parse_str(raw).map_err(|_| {
        StoreError::Internal(anyhow::anyhow!("BUG: a cursor id that is not an ObjectId"))
    })
}

fn cursor_mismatch() -> StoreError {
    StoreError::Internal(anyhow::anyhow!(
        "BUG: a cursor whose key does not fit its ordering"
    ))
}

fn date(at: DateTime<Utc>) -> bson::DateTime {
    bson::DateTime::from_millis(at.timestamp_millis())
}

fn chrono(at: bson::DateTime) -> DateTime<Utc> {
    at.to_chrono()
}

fn stored<T, E: std::fmt::Display>(value: Result<T, E>, what: &str) -> StoreResult<T> {
    value.map_err(|e| StoreError::Internal(anyhow::anyhow!("stored {what} is invalid: {e}")))
}

/// `field cmp key OR (field = key AND _id cmp id)`: the keyset condition.
fn after_position(field: &str, comparison: &str, key: Bson, id: ObjectId) -> Document {
    doc! {
        "$or": [
            { field: { comparison: key.clone() } },
            { field: key, "_id": { comparison: id } },
        ]
    }
}

/// A filter requiring every condition (none: every document).
fn all_of(conditions: Vec<Document>) -> Document {
    if conditions.is_empty() {
        Document::new()
    } else {
        doc! { "$and": conditions }
    }
}

/// The keyset condition of a time-ordered list on (createdAt, _id):
/// `$lt` walks newest first, `$gt` oldest first.
fn time_position(cursor: &Cursor, comparison: &str) -> StoreResult<Document> {
    let SortKey::Time(at) = &cursor.key else {
        return Err(cursor_mismatch());
    };
    Ok(after_position(
        "createdAt",
        comparison,
        Bson::DateTime(date(*at)),
        cursor_id(&cursor.id)?,
    ))
}

#[async_trait]
impl Store for MongoStore {
    async fn ping(&self) -> StoreResult<()> {
        self.db
            .run_command(doc! { "ping": 1 })
            .await
            .map_err(classify)?;
        Ok(())
    }
}

/// An integer from an aggregation result, whatever numeric type the server chose.
fn number(value: Option<&Bson>) -> i64 {
    match value {
        Some(Bson::Int32(n)) => i64::from(*n),
        Some(Bson::Int64(n)) => *n,
        Some(Bson::Double(n)) => *n as i64,
        _ => 0,
    }
}

/// The URI with its database (path) replaced and its options kept; tests
/// and tooling use it to point at a fresh database on the same server.
pub fn with_database(uri: &str, name: &str) -> String {
    let (address, query) = match uri.split_once('?') {
        Some((address, query)) => (address, format!("?{query}")),
        None => (uri, String::new()),
    };
    let scheme_end = address.find("://").map_or(0, |i| i + 3);
    let host_end = address[scheme_end..]
        .find('/')
        .map_or(address.len(), |i| scheme_end + i);
    format!("{}/{name}{query}", &address[..host_end])
}

#[cfg(test)]
mod tests {
    //! The contract suite against a real server speaking the MongoDB wire
    //! protocol: `MONGODB_URI` (the test command starts `secantusd-py` and
    //! sets it; a real MongoDB works the same). Each test gets its own
    //! database, dropped at the end.
    use super::*;
    use crate::store::{EventLogStore, EventScope, contract};

    /// The server every test of this module uses; a missing URI fails the
    /// test rather than skipping it, so a green run always includes MongoDB.
    pub(crate) fn test_server_uri() -> String {
        std::env::var("MONGODB_URI").expect(
            "MONGODB_URI is not set: run the README's test command (tests/run.sh), \
             which starts a MongoDB-compatible server, or point MONGODB_URI at one",
        )
    }

    /// A URI naming a fresh database on the test server.
    pub(crate) fn fresh_database_uri() -> String {
        with_database(
            &test_server_uri(),
            &format!("rtd_test_{}", ObjectId::new().to_hex()),
        )
    }

    async fn fresh_store() -> MongoStore {
        MongoStore::connect(&SecretString::from(fresh_database_uri()))
            .await
            .expect("connecting to the MongoDB test server")
    }

    macro_rules! contract_tests {
        ($($name:ident),* $(,)?) => {$(
            #[tokio::test]
            async fn $name() {
                let store = fresh_store().await;
                contract::$name(&store).await;
                let _ = store.db.drop().await;
            }
        )*};
    }

    contract::for_each_contract_test!(contract_tests);

    #[tokio::test]
    async fn an_unreachable_server_is_unavailable_not_a_panic() {
        // A port nothing listens on (bound, then released).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let uri = format!("mongodb://127.0.0.1:{port}/nowhere?serverSelectionTimeoutMS=300");
        match MongoStore::connect(&SecretString::from(uri)).await {
            Err(StoreError::Unavailable(_)) => {}
            Err(other) => panic!("expected unavailable, got {other:?}"),
            Ok(_) => panic!("connected to a closed port"),
        }
    }

    #[test]
    fn test_database_uris_keep_the_server_and_options() {
        let cases = [
            ("mongodb://127.0.0.1:27017", "mongodb://127.0.0.1:27017/db"),
            ("mongodb://127.0.0.1:27017/", "mongodb://127.0.0.1:27017/db"),
            (
                "mongodb://h:1/old?directConnection=true",
                "mongodb://h:1/db?directConnection=true",
            ),
            ("mongodb://u:p@h1,h2/old", "mongodb://u:p@h1,h2/db"),
        ];
        for (uri, expected) in cases {
            assert_eq!(super::with_database(uri, "db"), expected);
        }
    }

    #[tokio::test]
    async fn two_processes_appending_to_one_log_share_one_gap_free_order() {
        let uri = SecretString::from(fresh_database_uri());
        let first = MongoStore::connect(&uri).await.unwrap();
        let second = MongoStore::connect(&uri).await.unwrap();
        let at = crate::store::now();
        let scope = || EventScope {
            everyone: true,
            ..EventScope::default()
        };
        let appends = (0..20).map(|n| {
            let store = if n % 2 == 0 { &first } else { &second };
            let scope = scope();
            async move {
                store
                    .append_events(&[
                        contract::log_entry(&format!("{n}-a"), scope.clone(), at),
                        contract::log_entry(&format!("{n}-b"), scope, at),
                    ])
                    .await
                    .unwrap()
            }
        });
        let batches = futures::future::join_all(appends).await;
        let mut all: Vec<u64> = batches.iter().flatten().map(|p| p.value()).collect();
        all.sort_unstable();
        assert_eq!(all, (1..=40).collect::<Vec<_>>());
        for batch in &batches {
            assert!(batch[1] > batch[0], "a batch keeps its order");
        }
        let _ = first.db.drop().await;
    }
}
