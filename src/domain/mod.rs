//! Plain types and the newtypes that make bad values unrepresentable.
//!
//! Parsing happens once, at a door: past it, a value of one of these types is
//! valid. Nothing here does I/O or knows about GraphQL, HTTP or a driver; each
//! store and each door maps these types to its own shapes.

mod email;
mod id;
mod idempotency;
mod listing;
mod message;
mod order;
mod page;
mod password;
mod position;
mod product;
mod user;

pub use email::Email;
pub use id::{AnyId, Id, MessageId, OrderId, ProductId, UserId, UserKind};
pub use idempotency::IdempotencyKey;
pub use listing::{ConversationListing, MessageListing, OrderListing, ProductListing, UserListing};
pub use message::{Conversation, Message, MessageText, Outgoing};
pub use order::{NewOrder, Order, OrderStatus, Quantity};
pub use page::{
    CONVERSATIONS_NEWEST, Cursor, DEFAULT_PAGE_SIZE, KeyKind, MAX_PAGE_SIZE, MESSAGES_NEWEST,
    ORDERS_NEWEST, Page, SortKey, USERS_OLDEST, page_size,
};
pub use password::Password;
pub use position::Position;
pub use product::{
    Description, NewProduct, Price, Product, ProductName, ProductPatch, ProductSort, SearchTerms,
    Stock,
};
pub use user::{AccountStatus, NewUser, Role, User, UserName};

/// Why a raw value was refused by a domain type: a message a person can read,
/// without the offending value (it may be a password).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValidationError(pub &'static str);

impl ValidationError {
    /// Turns the refusal into the validation error class, about one field.
    pub fn on(self, field: &str) -> crate::error::AppError {
        crate::error::AppError::invalid(field, self.0)
    }
}
