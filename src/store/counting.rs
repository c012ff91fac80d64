//! A store that counts the calls it forwards: tests use it to prove query
//! budgets (a page of orders costs a constant number of store calls).
//!
//! One impl per aggregate trait, all in this one file: each method only
//! counts and forwards, so split files would hold nothing to read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::*;
use crate::auth::RefreshTokenHash;
use crate::domain::{
    AccountStatus, Conversation, Cursor, Email, Message, MessageId, NewOrder, NewUser, Order,
    OrderId, OrderStatus, Position, Product, ProductId, ProductPatch, Role, Stock, User, UserId,
};

/// Wraps a real store and counts calls per method.
pub struct CountingStore {
    inner: Arc<dyn Store>,
    calls: Mutex<HashMap<&'static str, usize>>,
}

impl CountingStore {
    /// Counts the calls made to `inner`.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        CountingStore {
            inner,
            calls: Mutex::new(HashMap::new()),
        }
    }

    fn count(&self, method: &'static str) {
        *self.calls.lock().unwrap().entry(method).or_default() += 1;
    }

    /// Calls per method since the last reset.
    pub fn calls(&self) -> HashMap<&'static str, usize> {
        self.calls.lock().unwrap().clone()
    }

    /// Forgets the counts (after arranging a test's data).
    pub fn reset(&self) {
        self.calls.lock().unwrap().clear();
    }
}

#[async_trait]
impl Store for CountingStore {
    async fn ping(&self) -> StoreResult<()> {
        self.count("ping");
        self.inner.ping().await
    }
}

#[async_trait]
impl UserStore for CountingStore {
    async fn insert_user(&self, user: &NewUser) -> StoreResult<User> {
        self.count("insert_user");
        self.inner.insert_user(user).await
    }

    async fn user_by_id(&self, id: &UserId) -> StoreResult<Option<User>> {
        self.count("user_by_id");
        self.inner.user_by_id(id).await
    }

    async fn users_by_ids(&self, ids: &[UserId]) -> StoreResult<Vec<User>> {
        self.count("users_by_ids");
        self.inner.users_by_ids(ids).await
    }

    async fn credentials_by_email(&self, email: &Email) -> StoreResult<Option<Credentials>> {
        self.count("credentials_by_email");
        self.inner.credentials_by_email(email).await
    }

    async fn set_user_role(
        &self,
        id: &UserId,
        role: Role,
        sessions_valid_from: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        self.count("set_user_role");
        self.inner
            .set_user_role(id, role, sessions_valid_from)
            .await
    }

    async fn set_user_active(
        &self,
        id: &UserId,
        active: bool,
        sessions_valid_from: DateTime<Utc>,
    ) -> StoreResult<Option<User>> {
        self.count("set_user_active");
        self.inner
            .set_user_active(id, active, sessions_valid_from)
            .await
    }

    async fn end_user_sessions(&self, id: &UserId, from: DateTime<Utc>) -> StoreResult<bool> {
        self.count("end_user_sessions");
        self.inner.end_user_sessions(id, from).await
    }

    async fn account_status(&self, id: &UserId) -> StoreResult<Option<AccountStatus>> {
        self.count("account_status");
        self.inner.account_status(id).await
    }

    async fn count_users(&self) -> StoreResult<u64> {
        self.count("count_users");
        self.inner.count_users().await
    }

    async fn touch_last_active(&self, id: &UserId, at: DateTime<Utc>) -> StoreResult<()> {
        self.count("touch_last_active");
        self.inner.touch_last_active(id, at).await
    }

    async fn list_users(&self, after: Option<&Cursor>, limit: usize) -> StoreResult<Vec<User>> {
        self.count("list_users");
        self.inner.list_users(after, limit).await
    }
}

#[async_trait]
impl ProductStore for CountingStore {
    async fn insert_product(&self, product: &Product) -> StoreResult<()> {
        self.count("insert_product");
        self.inner.insert_product(product).await
    }

    async fn update_product(
        &self,
        id: &ProductId,
        patch: &ProductPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Product>> {
        self.count("update_product");
        self.inner.update_product(id, patch, now).await
    }

    async fn delete_product(&self, id: &ProductId) -> StoreResult<bool> {
        self.count("delete_product");
        self.inner.delete_product(id).await
    }

    async fn product_by_id(&self, id: &ProductId) -> StoreResult<Option<Product>> {
        self.count("product_by_id");
        self.inner.product_by_id(id).await
    }

    async fn products_by_ids(&self, ids: &[ProductId]) -> StoreResult<Vec<Product>> {
        self.count("products_by_ids");
        self.inner.products_by_ids(ids).await
    }

    async fn list_products(&self, query: &ProductQuery) -> StoreResult<Vec<Product>> {
        self.count("list_products");
        self.inner.list_products(query).await
    }

    async fn count_products(&self) -> StoreResult<u64> {
        self.count("count_products");
        self.inner.count_products().await
    }

    async fn count_matching_products(&self, filter: &ProductFilter) -> StoreResult<u64> {
        self.count("count_matching_products");
        self.inner.count_matching_products(filter).await
    }

    async fn low_stock_products(&self, below: Stock, limit: usize) -> StoreResult<Vec<Product>> {
        self.count("low_stock_products");
        self.inner.low_stock_products(below, limit).await
    }
}

#[async_trait]
impl OrderStore for CountingStore {
    async fn place_order(&self, order: &NewOrder) -> StoreResult<PlaceOrder> {
        self.count("place_order");
        self.inner.place_order(order).await
    }

    async fn move_order(
        &self,
        id: &OrderId,
        from: &[OrderStatus],
        to: OrderStatus,
        now: DateTime<Utc>,
    ) -> StoreResult<MoveOrder> {
        self.count("move_order");
        self.inner.move_order(id, from, to, now).await
    }

    async fn order_by_id(&self, id: &OrderId) -> StoreResult<Option<Order>> {
        self.count("order_by_id");
        self.inner.order_by_id(id).await
    }

    async fn orders_by_ids(&self, ids: &[OrderId]) -> StoreResult<Vec<Order>> {
        self.count("orders_by_ids");
        self.inner.orders_by_ids(ids).await
    }

    async fn list_orders(&self, query: &OrderQuery) -> StoreResult<Vec<Order>> {
        self.count("list_orders");
        self.inner.list_orders(query).await
    }

    async fn count_orders(&self, filter: &OrderFilter) -> StoreResult<u64> {
        self.count("count_orders");
        self.inner.count_orders(filter).await
    }

    async fn order_stats(&self, since: DateTime<Utc>) -> StoreResult<OrderStats> {
        self.count("order_stats");
        self.inner.order_stats(since).await
    }
}

#[async_trait]
impl MessageStore for CountingStore {
    async fn insert_message(&self, message: &Message) -> StoreResult<()> {
        self.count("insert_message");
        self.inner.insert_message(message).await
    }

    async fn insert_logged_message(
        &self,
        message: &Message,
        entry: &NewLogEntry,
    ) -> StoreResult<Option<Position>> {
        self.count("insert_logged_message");
        self.inner.insert_logged_message(message, entry).await
    }

    async fn message_page(&self, query: &MessageQuery) -> StoreResult<Vec<Message>> {
        self.count("message_page");
        self.inner.message_page(query).await
    }

    async fn count_messages(
        &self,
        participant: &UserId,
        peer: Option<&UserId>,
    ) -> StoreResult<u64> {
        self.count("count_messages");
        self.inner.count_messages(participant, peer).await
    }

    async fn mark_seen(
        &self,
        reader: &UserId,
        peer: &UserId,
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<MessageId>> {
        self.count("mark_seen");
        self.inner.mark_seen(reader, peer, at).await
    }

    async fn undelivered_messages(&self, to: &UserId, limit: usize) -> StoreResult<Vec<Message>> {
        self.count("undelivered_messages");
        self.inner.undelivered_messages(to, limit).await
    }

    async fn message_by_id(&self, id: &MessageId) -> StoreResult<Option<Message>> {
        self.count("message_by_id");
        self.inner.message_by_id(id).await
    }

    async fn messages_by_ids(&self, ids: &[MessageId]) -> StoreResult<Vec<Message>> {
        self.count("messages_by_ids");
        self.inner.messages_by_ids(ids).await
    }

    async fn mark_delivered(&self, ids: &[MessageId]) -> StoreResult<()> {
        self.count("mark_delivered");
        self.inner.mark_delivered(ids).await
    }

    async fn conversations(
        &self,
        user: &UserId,
        after: Option<&Cursor>,
        limit: usize,
    ) -> StoreResult<Vec<Conversation>> {
        self.count("conversations");
        self.inner.conversations(user, after, limit).await
    }

    async fn count_conversations(&self, user: &UserId) -> StoreResult<u64> {
        self.count("count_conversations");
        self.inner.count_conversations(user).await
    }

    async fn conversation_peers(&self, user: &UserId) -> StoreResult<Vec<UserId>> {
        self.count("conversation_peers");
        self.inner.conversation_peers(user).await
    }
}

#[async_trait]
impl TokenStore for CountingStore {
    async fn insert_refresh_token(&self, token: &NewRefreshToken) -> StoreResult<()> {
        self.count("insert_refresh_token");
        self.inner.insert_refresh_token(token).await
    }

    async fn use_refresh_token(
        &self,
        hash: &RefreshTokenHash,
        now: DateTime<Utc>,
    ) -> StoreResult<RefreshUse> {
        self.count("use_refresh_token");
        self.inner.use_refresh_token(hash, now).await
    }

    async fn revoke_refresh_family(&self, family: &str, now: DateTime<Utc>) -> StoreResult<u64> {
        self.count("revoke_refresh_family");
        self.inner.revoke_refresh_family(family, now).await
    }

    async fn revoke_user_refresh_tokens(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        self.count("revoke_user_refresh_tokens");
        self.inner.revoke_user_refresh_tokens(user, now).await
    }

    async fn refresh_token_owner(
        &self,
        hash: &RefreshTokenHash,
    ) -> StoreResult<Option<(UserId, String)>> {
        self.count("refresh_token_owner");
        self.inner.refresh_token_owner(hash).await
    }
}

#[async_trait]
impl IdempotencyStore for CountingStore {
    async fn claim_idempotency_key(
        &self,
        claim: &IdempotencyClaim,
        expired_before: DateTime<Utc>,
    ) -> StoreResult<IdempotencyClaim> {
        self.count("claim_idempotency_key");
        self.inner
            .claim_idempotency_key(claim, expired_before)
            .await
    }

    async fn forget_idempotency_keys(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.count("forget_idempotency_keys");
        self.inner.forget_idempotency_keys(before).await
    }
}

#[async_trait]
impl EventLogStore for CountingStore {
    async fn append_events(&self, entries: &[NewLogEntry]) -> StoreResult<Vec<Position>> {
        self.count("append_events");
        self.inner.append_events(entries).await
    }

    fn position_taken(&self, position: Position) {
        self.inner.position_taken(position);
    }

    async fn read_events(&self, query: &LogQuery) -> StoreResult<Vec<LogEntry>> {
        self.count("read_events");
        self.inner.read_events(query).await
    }

    async fn event_log_bounds(&self) -> StoreResult<LogBounds> {
        self.count("event_log_bounds");
        self.inner.event_log_bounds().await
    }

    async fn trim_events(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.count("trim_events");
        self.inner.trim_events(before).await
    }
}
