//! The MongoDB adapter, through the official `mongodb` driver.
//!
//! Documents use the seed's camelCase field names and `ObjectId` `_id`s, so the
//! 24-hex ids of the domain are the ObjectIds' hex form. Indexes are created
//! at start-up (idempotently); each feature adds the ones its queries need.

use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use bson::oid::ObjectId;
use bson::{Bson, Document, doc};
use chrono::{DateTime, Utc};
use futures::TryStreamExt as _;
use mongodb::options::{ClientOptions, IndexOptions, ReturnDocument};
use mongodb::{Client, Collection, Database, IndexModel};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::{
    Credentials, EventScope, IdempotencyClaim, LogBounds, LogEntry, LogQuery, MessageQuery,
    MoveOrder, NewLogEntry, NewRefreshToken, OrderQuery, OrderStats, PlaceOrder, ProductQuery,
    RefreshUse, Store, StoreError, StoreResult,
};
use crate::auth::RefreshTokenHash;
use crate::domain::{
    AccountStatus, Conversation, Cursor, Description, Email, Message, MessageId, MessageText,
    NewOrder, NewUser, Order, OrderId, OrderStatus, Position, Price, Product, ProductId,
    ProductName, ProductPatch, ProductSort, Quantity, Role, SortKey, Stock, User, UserId, UserName,
};

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

/// A logged event; `_id` is its position.
#[derive(Debug, Serialize, Deserialize)]
struct EventDoc {
    #[serde(rename = "_id")]
    position: i64,
    at: bson::DateTime,
    kind: String,
    everyone: bool,
    admins: bool,
    users: Vec<ObjectId>,
    payload: String,
}

impl EventDoc {
    fn into_entry(self) -> StoreResult<LogEntry> {
        Ok(LogEntry {
            position: Position::new(stored(u64::try_from(self.position), "position")?),
            entry: NewLogEntry {
                at: chrono(self.at),
                kind: self.kind,
                scope: EventScope {
                    everyone: self.everyone,
                    admins: self.admins,
                    users: self.users.iter().map(user_id).collect(),
                },
                payload: self.payload,
            },
        })
    }
}

/// A position as stored (BSON has signed integers only).
fn position_number(position: Position) -> i64 {
    i64::try_from(position.value()).unwrap_or(i64::MAX)
}

/// An idempotency claim; `_id` is `<user id>:<key>`, unique by construction.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdempotencyDoc {
    #[serde(rename = "_id")]
    id: String,
    fingerprint: String,
    result_id: String,
    created_at: bson::DateTime,
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

    async fn create_indexes(&self) -> StoreResult<()> {
        let unique = IndexOptions::builder().unique(true).build();
        self.users
            .create_index(
                IndexModel::builder()
                    .keys(doc! { "email": 1 })
                    .options(unique)
                    .build(),
            )
            .await
            .map_err(classify)?;
        self.refresh_tokens
            .create_index(IndexModel::builder().keys(doc! { "family": 1 }).build())
            .await
            .map_err(classify)?;
        self.refresh_tokens
            .create_index(IndexModel::builder().keys(doc! { "userId": 1 }).build())
            .await
            .map_err(classify)?;
        self.events
            .create_index(IndexModel::builder().keys(doc! { "at": 1 }).build())
            .await
            .map_err(classify)?;
        self.idempotency_keys
            .create_index(IndexModel::builder().keys(doc! { "createdAt": 1 }).build())
            .await
            .map_err(classify)?;
        let product_indexes = [
            doc! { "createdAt": -1, "_id": -1 },
            doc! { "priceCents": 1, "_id": 1 },
            doc! { "nameKey": 1, "_id": 1 },
            doc! { "terms": 1 },
            doc! { "stock": 1 },
        ];
        for keys in product_indexes {
            self.products
                .create_index(IndexModel::builder().keys(keys).build())
                .await
                .map_err(classify)?;
        }
        let order_indexes = [
            doc! { "createdAt": -1, "_id": -1 },
            doc! { "userId": 1, "createdAt": -1, "_id": -1 },
            doc! { "status": 1, "createdAt": -1, "_id": -1 },
        ];
        self.users
            .create_index(
                IndexModel::builder()
                    .keys(doc! { "createdAt": 1, "_id": 1 })
                    .build(),
            )
            .await
            .map_err(classify)?;
        let message_indexes = [
            doc! { "from": 1, "to": 1, "createdAt": -1, "_id": -1 },
            doc! { "to": 1, "from": 1, "createdAt": -1, "_id": -1 },
            doc! { "createdAt": -1, "_id": -1 },
            doc! { "to": 1, "delivered": 1, "createdAt": 1, "_id": 1 },
            doc! { "seenMark": 1 },
        ];
        for keys in message_indexes {
            self.messages
                .create_index(IndexModel::builder().keys(keys).build())
                .await
                .map_err(classify)?;
        }
        for keys in order_indexes {
            self.orders
                .create_index(IndexModel::builder().keys(keys).build())
                .await
                .map_err(classify)?;
        }
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

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserDoc {
    #[serde(rename = "_id")]
    id: ObjectId,
    name: String,
    email: String,
    role: String,
    password_hash: String,
    created_at: bson::DateTime,
    #[serde(default)]
    last_active: Option<bson::DateTime>,
    /// Absent on accounts written before deactivation existed: active.
    #[serde(default = "active_by_default")]
    active: bool,
    /// Access tokens issued before this instant are void; absent: none are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sessions_valid_from: Option<bson::DateTime>,
}

fn active_by_default() -> bool {
    true
}

/// The fields of a user document that decide whether its tokens are accepted.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountStatusDoc {
    role: String,
    #[serde(default = "active_by_default")]
    active: bool,
    #[serde(default)]
    sessions_valid_from: Option<bson::DateTime>,
}

impl UserDoc {
    fn into_credentials(self) -> StoreResult<Credentials> {
        let user = User {
            id: user_id(&self.id),
            name: stored(UserName::parse(&self.name), "user name")?,
            email: stored(Email::parse(&self.email), "email")?,
            role: stored(Role::parse(&self.role), "role")?,
            created_at: chrono(self.created_at),
            last_active: self.last_active.map(chrono),
            active: self.active,
        };
        Ok(Credentials {
            user,
            password_hash: self.password_hash,
        })
    }

    fn into_user(self) -> StoreResult<User> {
        self.into_credentials().map(|credentials| credentials.user)
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefreshTokenDoc {
    /// The token's SHA-256: unique by construction, so it is the key.
    #[serde(rename = "_id")]
    hash: String,
    user_id: ObjectId,
    family: String,
    issued_at: bson::DateTime,
    expires_at: bson::DateTime,
    used_at: Option<bson::DateTime>,
    revoked_at: Option<bson::DateTime>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProductDoc {
    #[serde(rename = "_id")]
    id: ObjectId,
    name: String,
    /// Lower-cased name, for name order.
    name_key: String,
    /// Lower-cased words of the name, for word-prefix search.
    terms: Vec<String>,
    price_cents: i64,
    stock: i64,
    description: String,
    created_at: bson::DateTime,
    updated_at: bson::DateTime,
}

impl ProductDoc {
    fn from_product(product: &Product) -> Self {
        ProductDoc {
            id: object_id(&product.id),
            name: product.name.as_str().to_owned(),
            name_key: product.name.sort_key(),
            terms: product.name.search_terms(),
            price_cents: product.price.cents(),
            stock: product.stock.units(),
            description: product.description.as_str().to_owned(),
            created_at: date(product.created_at),
            updated_at: date(product.updated_at),
        }
    }

    fn into_product(self) -> StoreResult<Product> {
        Ok(Product {
            id: domain_id(&self.id),
            name: stored(ProductName::parse(&self.name), "product name")?,
            price: stored(Price::from_cents(self.price_cents), "price")?,
            stock: stored(Stock::parse(self.stock), "stock")?,
            description: stored(Description::parse(&self.description), "description")?,
            created_at: chrono(self.created_at),
            updated_at: chrono(self.updated_at),
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderDoc {
    #[serde(rename = "_id")]
    id: ObjectId,
    user_id: ObjectId,
    product_id: ObjectId,
    quantity: i64,
    unit_price_cents: i64,
    total_cents: i64,
    status: String,
    created_at: bson::DateTime,
    updated_at: bson::DateTime,
}

impl OrderDoc {
    fn into_order(self) -> StoreResult<Order> {
        Ok(Order {
            id: domain_id(&self.id),
            user_id: domain_id(&self.user_id),
            product_id: domain_id(&self.product_id),
            quantity: stored(Quantity::parse(self.quantity), "quantity")?,
            unit_price: stored(Price::from_cents(self.unit_price_cents), "unit price")?,
            total: stored(Price::from_cents(self.total_cents), "total")?,
            status: stored(OrderStatus::parse(&self.status), "status")?,
            created_at: chrono(self.created_at),
            updated_at: chrono(self.updated_at),
        })
    }
}

/// The smallest text above every text that starts with `prefix`.
fn prefix_upper_bound(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
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

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageDoc {
    #[serde(rename = "_id")]
    id: ObjectId,
    from: ObjectId,
    to: ObjectId,
    text: String,
    seen_at: Option<bson::DateTime>,
    delivered: bool,
    created_at: bson::DateTime,
}

impl MessageDoc {
    fn from_message(message: &Message) -> Self {
        MessageDoc {
            id: object_id(&message.id),
            from: object_id(&message.from),
            to: object_id(&message.to),
            text: message.text.as_str().to_owned(),
            seen_at: message.seen_at.map(date),
            delivered: message.delivered,
            created_at: date(message.created_at),
        }
    }

    fn into_message(self) -> StoreResult<Message> {
        Ok(Message {
            id: domain_id(&self.id),
            from: domain_id(&self.from),
            to: domain_id(&self.to),
            text: stored(MessageText::parse(&self.text), "message text")?,
            seen_at: self.seen_at.map(chrono),
            delivered: self.delivered,
            created_at: chrono(self.created_at),
        })
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

impl MongoStore {
    /// Sets `fields` of an account and raises its session cut-off, in one
    /// document update.
    async fn change_account(
        &self,
        id: &UserId,
        fields: Document,
        sessions_valid_from: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        self.users
            .find_one_and_update(
                doc! { "_id": object_id(id) },
                doc! {
                    "$set": fields,
                    "$max": { "sessionsValidFrom": date(sessions_valid_from) },
                },
            )
            .return_document(ReturnDocument::After)
            .await
            .map_err(classify)?
            .map(UserDoc::into_user)
            .transpose()
    }

    async fn order_doc(&self, id: &OrderId) -> StoreResult<Option<Order>> {
        self.orders
            .find_one(doc! { "_id": object_id(id) })
            .await
            .map_err(classify)?
            .map(OrderDoc::into_order)
            .transpose()
    }
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

    async fn insert_user(&self, user: &NewUser) -> StoreResult<User> {
        let document = UserDoc {
            id: object_id(&user.id),
            name: user.name.as_str().to_owned(),
            email: user.email.as_str().to_owned(),
            role: user.role.as_str().to_owned(),
            password_hash: user.password_hash.clone(),
            created_at: date(user.created_at),
            last_active: None,
            active: true,
            sessions_valid_from: None,
        };
        self.users.insert_one(&document).await.map_err(classify)?;
        document.into_user()
    }

    async fn user_by_id(&self, id: &UserId) -> StoreResult<Option<User>> {
        self.users
            .find_one(doc! { "_id": object_id(id) })
            .await
            .map_err(classify)?
            .map(UserDoc::into_user)
            .transpose()
    }

    async fn users_by_ids(&self, ids: &[UserId]) -> StoreResult<Vec<User>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Bson> = ids.iter().map(|id| Bson::ObjectId(object_id(id))).collect();
        let documents: Vec<UserDoc> =
            collect(self.users.find(doc! { "_id": { "$in": ids } })).await?;
        documents.into_iter().map(UserDoc::into_user).collect()
    }

    async fn credentials_by_email(&self, email: &Email) -> StoreResult<Option<Credentials>> {
        self.users
            .find_one(doc! { "email": email.as_str() })
            .await
            .map_err(classify)?
            .map(UserDoc::into_credentials)
            .transpose()
    }

    async fn set_user_role(
        &self,
        id: &UserId,
        role: Role,
        sessions_valid_from: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        self.change_account(id, doc! { "role": role.as_str() }, sessions_valid_from)
            .await
    }

    async fn set_user_active(
        &self,
        id: &UserId,
        active: bool,
        sessions_valid_from: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        self.change_account(id, doc! { "active": active }, sessions_valid_from)
            .await
    }

    async fn end_user_sessions(&self, id: &UserId, from: DateTime<Utc>) -> StoreResult<bool> {
        let result = self
            .users
            .update_one(
                doc! { "_id": object_id(id) },
                doc! { "$max": { "sessionsValidFrom": date(from) } },
            )
            .await
            .map_err(classify)?;
        Ok(result.matched_count > 0)
    }

    async fn account_status(&self, id: &UserId) -> StoreResult<Option<AccountStatus>> {
        let status = self
            .users
            .clone_with_type::<AccountStatusDoc>()
            .find_one(doc! { "_id": object_id(id) })
            .projection(doc! { "role": 1, "active": 1, "sessionsValidFrom": 1 })
            .await
            .map_err(classify)?;
        status
            .map(|status| {
                Ok(AccountStatus {
                    role: stored(Role::parse(&status.role), "role")?,
                    active: status.active,
                    sessions_valid_from: status
                        .sessions_valid_from
                        .map_or(DateTime::UNIX_EPOCH, chrono),
                })
            })
            .transpose()
    }

    async fn count_users(&self) -> StoreResult<u64> {
        self.users.count_documents(doc! {}).await.map_err(classify)
    }

    async fn touch_last_active(&self, id: &UserId, at: DateTime<Utc>) -> StoreResult<()> {
        let at = date(at);
        self.users
            .update_one(
                doc! { "_id": object_id(id), "$or": [{ "lastActive": Bson::Null }, { "lastActive": { "$lt": at } }] },
                doc! { "$set": { "lastActive": at } },
            )
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn list_users(&self, after: Option<&Cursor>, limit: usize) -> StoreResult<Vec<User>> {
        let filter = match after {
            Some(cursor) => time_position(cursor, "$gt")?,
            None => Document::new(),
        };
        let documents: Vec<UserDoc> = collect(
            self.users
                .find(filter)
                .sort(doc! { "createdAt": 1, "_id": 1 })
                .limit(limit as i64),
        )
        .await?;
        documents.into_iter().map(UserDoc::into_user).collect()
    }

    async fn insert_message(&self, message: &Message) -> StoreResult<()> {
        self.messages
            .insert_one(MessageDoc::from_message(message))
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn message_page(&self, query: &MessageQuery) -> StoreResult<Vec<Message>> {
        let me = object_id(&query.participant);
        let mut conditions = vec![match &query.peer {
            Some(peer) => {
                let peer = object_id(peer);
                doc! { "$or": [{ "from": me, "to": peer }, { "from": peer, "to": me }] }
            }
            None => doc! { "$or": [{ "from": me }, { "to": me }] },
        }];
        if let Some(cursor) = &query.before {
            conditions.push(time_position(cursor, "$lt")?);
        }
        let documents: Vec<MessageDoc> = collect(
            self.messages
                .find(doc! { "$and": conditions })
                .sort(doc! { "createdAt": -1, "_id": -1 })
                .limit(query.limit as i64),
        )
        .await?;
        documents
            .into_iter()
            .map(MessageDoc::into_message)
            .collect()
    }

    async fn mark_seen(
        &self,
        reader: &UserId,
        peer: &UserId,
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<MessageId>> {
        // MongoDB cannot return the ids an update_many changed, so each call
        // tags what it marks with its own token and reads the tag back: two
        // concurrent calls never both report one message.
        let mark = ObjectId::new();
        self.messages
            .update_many(
                doc! { "to": object_id(reader), "from": object_id(peer), "seenAt": Bson::Null },
                doc! { "$set": { "seenAt": date(at), "seenMark": mark } },
            )
            .await
            .map_err(classify)?;
        let marked: Vec<MessageDoc> =
            collect(self.messages.find(doc! { "seenMark": mark })).await?;
        let mut ids: Vec<MessageId> = marked
            .iter()
            .map(|message| domain_id(&message.id))
            .collect();
        ids.sort();
        Ok(ids)
    }

    async fn undelivered_messages(&self, to: &UserId, limit: usize) -> StoreResult<Vec<Message>> {
        let documents: Vec<MessageDoc> = collect(
            self.messages
                .find(doc! { "to": object_id(to), "delivered": false })
                .sort(doc! { "createdAt": 1, "_id": 1 })
                .limit(limit as i64),
        )
        .await?;
        documents
            .into_iter()
            .map(MessageDoc::into_message)
            .collect()
    }

    async fn message_by_id(&self, id: &MessageId) -> StoreResult<Option<Message>> {
        self.messages
            .find_one(doc! { "_id": object_id(id) })
            .await
            .map_err(classify)?
            .map(MessageDoc::into_message)
            .transpose()
    }

    async fn mark_delivered(&self, ids: &[MessageId]) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let ids: Vec<Bson> = ids.iter().map(|id| Bson::ObjectId(object_id(id))).collect();
        self.messages
            .update_many(
                doc! { "_id": { "$in": ids }, "delivered": false },
                doc! { "$set": { "delivered": true } },
            )
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn conversations(&self, user: &UserId, limit: usize) -> StoreResult<Vec<Conversation>> {
        let me = object_id(user);
        let pipeline = [
            doc! { "$match": { "$or": [{ "from": me }, { "to": me }] } },
            doc! { "$sort": { "createdAt": -1, "_id": -1 } },
            doc! { "$group": {
                "_id": { "$cond": [{ "$eq": ["$from", me] }, "$to", "$from"] },
                "last": { "$first": "$$ROOT" },
                "unread": { "$sum": { "$cond": [
                    { "$and": [{ "$eq": ["$to", me] }, { "$eq": [{ "$ifNull": ["$seenAt", Bson::Null] }, Bson::Null] }] },
                    1,
                    0,
                ] } },
            } },
            doc! { "$sort": { "last.createdAt": -1, "last._id": -1 } },
            doc! { "$limit": limit as i64 },
        ];
        let groups: Vec<Document> = collect(self.messages.aggregate(pipeline)).await?;
        groups
            .into_iter()
            .map(|group| {
                let peer = group
                    .get_object_id("_id")
                    .map_err(|e| StoreError::Internal(anyhow::anyhow!("conversation peer: {e}")))?;
                let last = group.get_document("last").map_err(|e| {
                    StoreError::Internal(anyhow::anyhow!("conversation message: {e}"))
                })?;
                let last: MessageDoc = bson::from_document(last.clone()).map_err(|e| {
                    StoreError::Internal(anyhow::anyhow!("conversation message: {e}"))
                })?;
                Ok(Conversation {
                    peer: domain_id(&peer),
                    last_message: last.into_message()?,
                    unread: number(group.get("unread")).max(0) as u64,
                })
            })
            .collect()
    }

    async fn conversation_peers(&self, user: &UserId) -> StoreResult<Vec<UserId>> {
        let me = object_id(user);
        let mut peers = Vec::new();
        for (field, other) in [("from", "to"), ("to", "from")] {
            let values = self
                .messages
                .distinct(other, doc! { field: me })
                .await
                .map_err(classify)?;
            peers.extend(values.into_iter().filter_map(|value| match value {
                Bson::ObjectId(oid) => Some(domain_id::<crate::domain::UserKind>(&oid)),
                _ => None,
            }));
        }
        peers.sort();
        peers.dedup();
        Ok(peers)
    }

    async fn insert_product(&self, product: &Product) -> StoreResult<()> {
        self.products
            .insert_one(ProductDoc::from_product(product))
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn update_product(
        &self,
        id: &ProductId,
        patch: &ProductPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Product>> {
        let mut set = doc! { "updatedAt": date(now) };
        if let Some(name) = &patch.name {
            set.insert("name", name.as_str());
            set.insert("nameKey", name.sort_key());
            set.insert("terms", name.search_terms());
        }
        if let Some(price) = patch.price {
            set.insert("priceCents", price.cents());
        }
        if let Some(stock) = patch.stock {
            set.insert("stock", stock.units());
        }
        if let Some(description) = &patch.description {
            set.insert("description", description.as_str());
        }
        self.products
            .find_one_and_update(doc! { "_id": object_id(id) }, doc! { "$set": set })
            .return_document(ReturnDocument::After)
            .await
            .map_err(classify)?
            .map(ProductDoc::into_product)
            .transpose()
    }

    async fn delete_product(&self, id: &ProductId) -> StoreResult<bool> {
        let result = self
            .products
            .delete_one(doc! { "_id": object_id(id) })
            .await
            .map_err(classify)?;
        Ok(result.deleted_count > 0)
    }

    async fn product_by_id(&self, id: &ProductId) -> StoreResult<Option<Product>> {
        self.products
            .find_one(doc! { "_id": object_id(id) })
            .await
            .map_err(classify)?
            .map(ProductDoc::into_product)
            .transpose()
    }

    async fn products_by_ids(&self, ids: &[ProductId]) -> StoreResult<Vec<Product>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Bson> = ids.iter().map(|id| Bson::ObjectId(object_id(id))).collect();
        let documents: Vec<ProductDoc> =
            collect(self.products.find(doc! { "_id": { "$in": ids } })).await?;
        documents
            .into_iter()
            .map(ProductDoc::into_product)
            .collect()
    }

    async fn list_products(&self, query: &ProductQuery) -> StoreResult<Vec<Product>> {
        let mut conditions: Vec<Document> = Vec::new();
        if let Some(search) = &query.search {
            for prefix in search.prefixes() {
                conditions.push(doc! {
                    "terms": { "$elemMatch": { "$gte": prefix.as_str(), "$lt": prefix_upper_bound(prefix) } }
                });
            }
        }
        let mut price = Document::new();
        if let Some(min) = query.min_price {
            price.insert("$gte", min.cents());
        }
        if let Some(max) = query.max_price {
            price.insert("$lte", max.cents());
        }
        if !price.is_empty() {
            conditions.push(doc! { "priceCents": price });
        }
        let (field, comparison, direction) = match query.sort {
            ProductSort::Newest => ("createdAt", "$lt", -1),
            ProductSort::PriceAsc => ("priceCents", "$gt", 1),
            ProductSort::PriceDesc => ("priceCents", "$lt", -1),
            ProductSort::NameAsc => ("nameKey", "$gt", 1),
        };
        if let Some(cursor) = &query.after {
            let key = match (query.sort, &cursor.key) {
                (ProductSort::Newest, SortKey::Time(at)) => Bson::DateTime(date(*at)),
                (ProductSort::PriceAsc | ProductSort::PriceDesc, SortKey::Cents(cents)) => {
                    Bson::Int64(*cents)
                }
                (ProductSort::NameAsc, SortKey::Text(name)) => Bson::String(name.clone()),
                _ => return Err(cursor_mismatch()),
            };
            conditions.push(after_position(
                field,
                comparison,
                key,
                cursor_id(&cursor.id)?,
            ));
        }
        let filter = if conditions.is_empty() {
            Document::new()
        } else {
            doc! { "$and": conditions }
        };
        let documents: Vec<ProductDoc> = collect(
            self.products
                .find(filter)
                .sort(doc! { field: direction, "_id": direction })
                .limit(query.limit as i64),
        )
        .await?;
        documents
            .into_iter()
            .map(ProductDoc::into_product)
            .collect()
    }

    async fn count_products(&self) -> StoreResult<u64> {
        self.products
            .count_documents(doc! {})
            .await
            .map_err(classify)
    }

    async fn low_stock_products(&self, below: Stock, limit: usize) -> StoreResult<Vec<Product>> {
        let documents: Vec<ProductDoc> = collect(
            self.products
                .find(doc! { "stock": { "$lt": below.units() } })
                .sort(doc! { "stock": 1, "_id": 1 })
                .limit(limit as i64),
        )
        .await?;
        documents
            .into_iter()
            .map(ProductDoc::into_product)
            .collect()
    }

    async fn place_order(&self, order: &NewOrder) -> StoreResult<PlaceOrder> {
        let quantity = order.quantity.units();
        let product_id = object_id(&order.product_id);
        // The conditional decrement is the whole concurrency story: MongoDB
        // applies it atomically per document, so stock never goes negative.
        let taken = self
            .products
            .find_one_and_update(
                doc! { "_id": product_id, "stock": { "$gte": quantity } },
                doc! { "$inc": { "stock": -quantity }, "$set": { "updatedAt": date(order.created_at) } },
            )
            .await
            .map_err(classify)?;
        let Some(product) = taken else {
            let exists = self
                .products
                .count_documents(doc! { "_id": product_id })
                .await
                .map_err(classify)?;
            return Ok(if exists > 0 {
                PlaceOrder::OutOfStock
            } else {
                PlaceOrder::UnknownProduct
            });
        };
        let total_cents = product
            .price_cents
            .checked_mul(quantity)
            .ok_or_else(|| StoreError::Internal(anyhow::anyhow!("order total overflows")))?;
        let document = OrderDoc {
            id: object_id(&order.id),
            user_id: object_id(&order.user_id),
            product_id,
            quantity,
            unit_price_cents: product.price_cents,
            total_cents,
            status: OrderStatus::Pending.as_str().to_owned(),
            created_at: date(order.created_at),
            updated_at: date(order.created_at),
        };
        if let Err(error) = self.orders.insert_one(&document).await {
            // Without a multi-document transaction (a standalone server has
            // none), give the stock back so a failed order takes nothing.
            let restored = self
                .products
                .update_one(
                    doc! { "_id": product_id },
                    doc! { "$inc": { "stock": quantity } },
                )
                .await;
            if let Err(restore_error) = restored {
                tracing::error!(error = %restore_error, "could not return the stock of a failed order");
            }
            return Err(classify(error));
        }
        document.into_order().map(PlaceOrder::Placed)
    }

    async fn move_order(
        &self,
        id: &OrderId,
        from: &[OrderStatus],
        to: OrderStatus,
        now: DateTime<Utc>,
    ) -> StoreResult<MoveOrder> {
        if !from.is_empty() {
            let from: Vec<&str> = from.iter().map(|status| status.as_str()).collect();
            let moved = self
                .orders
                .find_one_and_update(
                    doc! { "_id": object_id(id), "status": { "$in": from } },
                    doc! { "$set": { "status": to.as_str(), "updatedAt": date(now) } },
                )
                .return_document(ReturnDocument::After)
                .await
                .map_err(classify)?;
            if let Some(document) = moved {
                return document.into_order().map(MoveOrder::Moved);
            }
        }
        Ok(match self.order_doc(id).await? {
            Some(order) => MoveOrder::NotAllowed(order),
            None => MoveOrder::UnknownOrder,
        })
    }

    async fn order_by_id(&self, id: &OrderId) -> StoreResult<Option<Order>> {
        self.order_doc(id).await
    }

    async fn list_orders(&self, query: &OrderQuery) -> StoreResult<Vec<Order>> {
        let mut conditions: Vec<Document> = Vec::new();
        if let Some(status) = query.status {
            conditions.push(doc! { "status": status.as_str() });
        }
        if let Some(user_id) = &query.user_id {
            conditions.push(doc! { "userId": object_id(user_id) });
        }
        if let Some(cursor) = &query.after {
            conditions.push(time_position(cursor, "$lt")?);
        }
        let filter = if conditions.is_empty() {
            Document::new()
        } else {
            doc! { "$and": conditions }
        };
        let documents: Vec<OrderDoc> = collect(
            self.orders
                .find(filter)
                .sort(doc! { "createdAt": -1, "_id": -1 })
                .limit(query.limit as i64),
        )
        .await?;
        documents.into_iter().map(OrderDoc::into_order).collect()
    }

    async fn order_stats(&self, since: DateTime<Utc>) -> StoreResult<OrderStats> {
        let groups: Vec<Document> = collect(self
            .orders
            .aggregate([doc! {
                "$group": { "_id": "$status", "count": { "$sum": 1 }, "revenue": { "$sum": "$totalCents" } }
            }])).await?;
        let placed_since = self
            .orders
            .count_documents(doc! { "createdAt": { "$gte": date(since) } })
            .await
            .map_err(classify)?;
        let mut stats = OrderStats {
            by_status: OrderStatus::ALL.iter().map(|status| (*status, 0)).collect(),
            revenue_cents: 0,
            placed_since,
        };
        for group in groups {
            let status = stored(
                OrderStatus::parse(group.get_str("_id").unwrap_or_default()),
                "status",
            )?;
            let count = number(group.get("count"));
            if let Some(entry) = stats.by_status.iter_mut().find(|(s, _)| *s == status) {
                entry.1 = count.max(0) as u64;
            }
            stats.revenue_cents += number(group.get("revenue"));
        }
        Ok(stats)
    }

    async fn insert_refresh_token(&self, token: &NewRefreshToken) -> StoreResult<()> {
        let document = RefreshTokenDoc {
            hash: token.hash.as_str().to_owned(),
            user_id: object_id(&token.user_id),
            family: token.family.clone(),
            issued_at: date(token.issued_at),
            expires_at: date(token.expires_at),
            used_at: None,
            revoked_at: None,
        };
        self.refresh_tokens
            .insert_one(&document)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn use_refresh_token(
        &self,
        hash: &RefreshTokenHash,
        now: DateTime<Utc>,
    ) -> StoreResult<RefreshUse> {
        let now = date(now);
        let fresh = self
            .refresh_tokens
            .find_one_and_update(
                doc! {
                    "_id": hash.as_str(),
                    "usedAt": Bson::Null,
                    "revokedAt": Bson::Null,
                    "expiresAt": { "$gt": now },
                },
                doc! { "$set": { "usedAt": now } },
            )
            .await
            .map_err(classify)?;
        if let Some(token) = fresh {
            return Ok(RefreshUse::Fresh {
                user_id: user_id(&token.user_id),
                family: token.family,
            });
        }
        let reused = self
            .refresh_tokens
            .find_one(doc! {
                "_id": hash.as_str(),
                "usedAt": { "$ne": Bson::Null },
                "revokedAt": Bson::Null,
            })
            .await
            .map_err(classify)?;
        Ok(match reused {
            Some(token) => RefreshUse::Reused {
                user_id: user_id(&token.user_id),
                family: token.family,
            },
            None => RefreshUse::Invalid,
        })
    }

    async fn revoke_refresh_family(&self, family: &str, now: DateTime<Utc>) -> StoreResult<u64> {
        let result = self
            .refresh_tokens
            .update_many(
                doc! { "family": family, "revokedAt": Bson::Null },
                doc! { "$set": { "revokedAt": date(now) } },
            )
            .await
            .map_err(classify)?;
        Ok(result.modified_count)
    }

    async fn claim_idempotency_key(
        &self,
        claim: &IdempotencyClaim,
        expired_before: DateTime<Utc>,
    ) -> StoreResult<IdempotencyClaim> {
        let id = format!("{}:{}", claim.user_id, claim.key);
        let document = IdempotencyDoc {
            id: id.clone(),
            fingerprint: claim.fingerprint.clone(),
            result_id: claim.result_id.clone(),
            created_at: date(claim.created_at),
        };
        // The unique `_id` decides between concurrent first requests; an
        // expired claim is replaced only if it is still the expired one.
        for _ in 0..3 {
            match self.idempotency_keys.insert_one(&document).await {
                Ok(_) => return Ok(claim.clone()),
                Err(error) => match classify(error) {
                    StoreError::Duplicate => {}
                    other => return Err(other),
                },
            }
            let Some(earlier) = self
                .idempotency_keys
                .find_one(doc! { "_id": &id })
                .await
                .map_err(classify)?
            else {
                continue; // forgotten in between: try the insert again
            };
            if earlier.created_at >= date(expired_before) {
                return Ok(IdempotencyClaim {
                    user_id: claim.user_id.clone(),
                    key: claim.key.clone(),
                    fingerprint: earlier.fingerprint,
                    result_id: earlier.result_id,
                    created_at: chrono(earlier.created_at),
                });
            }
            let replaced = self
                .idempotency_keys
                .replace_one(
                    doc! { "_id": &id, "createdAt": earlier.created_at },
                    &document,
                )
                .await
                .map_err(classify)?;
            if replaced.matched_count == 1 {
                return Ok(claim.clone());
            }
        }
        Err(StoreError::Internal(anyhow::anyhow!(
            "an idempotency key kept changing under its claim"
        )))
    }

    async fn forget_idempotency_keys(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let result = self
            .idempotency_keys
            .delete_many(doc! { "createdAt": { "$lt": date(before) } })
            .await
            .map_err(classify)?;
        Ok(result.deleted_count)
    }

    async fn revoke_user_refresh_tokens(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let result = self
            .refresh_tokens
            .update_many(
                doc! { "userId": object_id(user), "revokedAt": Bson::Null },
                doc! { "$set": { "revokedAt": date(now) } },
            )
            .await
            .map_err(classify)?;
        Ok(result.modified_count)
    }

    async fn refresh_token_owner(
        &self,
        hash: &RefreshTokenHash,
    ) -> StoreResult<Option<(UserId, String)>> {
        Ok(self
            .refresh_tokens
            .find_one(doc! { "_id": hash.as_str() })
            .await
            .map_err(classify)?
            .map(|token| (user_id(&token.user_id), token.family)))
    }

    async fn append_events(&self, entries: &[NewLogEntry]) -> StoreResult<Vec<Position>> {
        use std::sync::atomic::Ordering;
        // Positions come from the log itself, not from a counter document:
        // an event is inserted at "head + 1", and the unique `_id` makes one
        // of two processes that chose the same number lose and read the head
        // again (or, after a first refusal, tries the number after the one
        // it found taken). A number is therefore only taken by an insert that lands
        // (a counter incremented before a crash would leave a gap forever),
        // and `n` is chosen only after `n - 1` was seen written, so events
        // become visible in position order. Ordered inserts keep that within
        // a batch: they stop at the first refused document.
        const ATTEMPTS: usize = 64;
        let mut positions = Vec::with_capacity(entries.len());
        for attempt in 0..ATTEMPTS {
            if positions.len() == entries.len() {
                break;
            }
            let mut next = self.next_position.load(Ordering::Acquire);
            if next == 0 {
                next = self.event_log_bounds().await?.head.value() + 1;
            }
            let remaining = &entries[positions.len()..];
            let documents: Vec<EventDoc> = remaining
                .iter()
                .enumerate()
                .map(|(offset, entry)| EventDoc {
                    position: position_number(Position::new(next + offset as u64)),
                    at: date(entry.at),
                    kind: entry.kind.clone(),
                    everyone: entry.scope.everyone,
                    admins: entry.scope.admins,
                    users: entry.scope.users.iter().map(object_id).collect(),
                    payload: entry.payload.clone(),
                })
                .collect();
            let inserted = match self.events.insert_many(&documents).ordered(true).await {
                Ok(_) => documents.len(),
                Err(error) => match taken_at(&error) {
                    Some(inserted) => inserted,
                    None => {
                        self.next_position.store(0, Ordering::Release);
                        return Err(classify(error));
                    }
                },
            };
            positions.extend((0..inserted as u64).map(|offset| Position::new(next + offset)));
            let landed = inserted == documents.len();
            let refused = next + inserted as u64;
            self.next_position.store(
                if landed {
                    refused
                } else if attempt < 8 {
                    // Another process took `refused` (seen written): the
                    // next number is the likely free one, without a read.
                    refused + 1
                } else {
                    // Taken again and again: the head ran far; read it.
                    0
                },
                Ordering::Release,
            );
        }
        if positions.len() == entries.len() {
            Ok(positions)
        } else {
            Err(StoreError::Unavailable(anyhow::anyhow!(
                "the event log head kept moving under this process's appends"
            )))
        }
    }

    fn position_taken(&self, position: Position) {
        // Written, so the next number after it is a fair first try.
        self.next_position
            .fetch_max(position.value() + 1, std::sync::atomic::Ordering::AcqRel);
    }

    async fn read_events(&self, query: &LogQuery) -> StoreResult<Vec<LogEntry>> {
        let mut filter = doc! {
            "_id": { "$gt": position_number(query.after), "$lte": position_number(query.up_to) }
        };
        if let Some(reader) = &query.reader {
            let mut visible = vec![
                doc! { "everyone": true },
                doc! { "users": object_id(&reader.user) },
            ];
            if reader.admin {
                visible.push(doc! { "admins": true });
            }
            filter.insert("$or", visible);
        }
        let documents = collect(
            self.events
                .find(filter)
                .sort(doc! { "_id": 1 })
                .limit(i64::try_from(query.limit).unwrap_or(i64::MAX)),
        )
        .await?;
        documents.into_iter().map(EventDoc::into_entry).collect()
    }

    async fn event_log_bounds(&self) -> StoreResult<LogBounds> {
        let end = |direction: i32| async move {
            let found = collect(
                self.events
                    .find(doc! {})
                    .sort(doc! { "_id": direction })
                    .limit(1),
            )
            .await?;
            found
                .first()
                .map(|document| stored(u64::try_from(document.position), "position"))
                .transpose()
                .map(|position| position.map(Position::new))
        };
        Ok(LogBounds {
            first: end(1).await?,
            head: end(-1).await?.unwrap_or(Position::START),
        })
    }

    async fn trim_events(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let head = self.event_log_bounds().await?.head;
        let result = self
            .events
            .delete_many(doc! {
                "at": { "$lt": date(before) },
                "_id": { "$lt": position_number(head) },
            })
            .await
            .map_err(classify)?;
        Ok(result.deleted_count)
    }
}

/// How many documents of an ordered insert landed before one was refused
/// because its position was taken; `None` for any other failure.
fn taken_at(error: &mongodb::error::Error) -> Option<usize> {
    use mongodb::error::ErrorKind;
    const DUPLICATE_KEY: i32 = 11000;
    match error.kind.as_ref() {
        ErrorKind::InsertMany(failure) => {
            let first = failure
                .write_errors
                .as_ref()?
                .iter()
                .min_by_key(|e| e.index)?;
            (first.code == DUPLICATE_KEY && failure.write_concern_error.is_none())
                .then_some(first.index)
        }
        _ => None,
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
    use crate::store::contract;

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
