//! The MongoDB adapter, through the official `mongodb` driver.
//!
//! Documents use the seed's camelCase field names and `ObjectId` `_id`s, so the
//! 24-hex ids of the domain are the ObjectIds' hex form. Indexes are created
//! at start-up (idempotently); each feature adds the ones its queries need.

use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use bson::oid::ObjectId;
use bson::{Bson, doc};
use chrono::{DateTime, Utc};
use futures::TryStreamExt as _;
use mongodb::options::{ClientOptions, IndexOptions, ReturnDocument};
use mongodb::{Client, Collection, Database, IndexModel};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::{Credentials, NewRefreshToken, RefreshUse, Store, StoreError, StoreResult};
use crate::auth::RefreshTokenHash;
use crate::domain::{Email, NewUser, Role, User, UserId, UserName};

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

fn object_id<K>(id: &crate::domain::Id<K>) -> ObjectId {
    ObjectId::parse_str(id.as_str()).expect("BUG: domain ids are 24 hex digits")
}

fn user_id(oid: &ObjectId) -> UserId {
    UserId::parse(&oid.to_hex()).expect("BUG: an ObjectId's hex form is a valid id")
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
        let documents: Vec<UserDoc> = self
            .users
            .find(doc! { "_id": { "$in": ids } })
            .await
            .map_err(classify)?
            .try_collect()
            .await
            .map_err(classify)?;
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

    async fn set_user_role(&self, id: &UserId, role: Role) -> StoreResult<Option<User>> {
        self.users
            .find_one_and_update(
                doc! { "_id": object_id(id) },
                doc! { "$set": { "role": role.as_str() } },
            )
            .return_document(ReturnDocument::After)
            .await
            .map_err(classify)?
            .map(UserDoc::into_user)
            .transpose()
    }

    async fn count_users(&self) -> StoreResult<u64> {
        self.users.count_documents(doc! {}).await.map_err(classify)
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
}
