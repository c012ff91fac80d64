//! Accounts on MongoDB: [`UserStore`] for [`MongoStore`], the `users`
//! document, its queries and its indexes.
//!
//! The session cut-off (`sessionsValidFrom`) only moves forward (`$max`);
//! documents written before it or before deactivation existed read as active
//! with no cut-off.

use async_trait::async_trait;
use bson::oid::ObjectId;
use bson::{Bson, Document, doc};
use chrono::{DateTime, Utc};
use mongodb::IndexModel;
use mongodb::options::{IndexOptions, ReturnDocument};
use serde::{Deserialize, Serialize};

use super::{
    MongoStore, by_ids, chrono, classify, collect, date, object_id, stored, time_position, user_id,
};
use crate::domain::{AccountStatus, Cursor, Email, NewUser, Role, User, UserId, UserName};
use crate::store::{Credentials, StoreResult, UserStore};

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UserDoc {
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

    /// The indexes user queries need (created at start-up, idempotently).
    pub(super) async fn create_user_indexes(&self) -> StoreResult<()> {
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
        self.users
            .create_index(
                IndexModel::builder()
                    .keys(doc! { "createdAt": 1, "_id": 1 })
                    .build(),
            )
            .await
            .map_err(classify)?;
        Ok(())
    }
}

#[async_trait]
impl UserStore for MongoStore {
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
        by_ids(&self.users, ids, UserDoc::into_user).await
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
}
