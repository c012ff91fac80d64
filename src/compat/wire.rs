//! The JSON shapes of products, orders and users on the legacy doors (REST
//! bodies and Socket.IO payloads), in one place so both doors agree. Field
//! names are camelCase, money is a decimal number, times are RFC 3339.
//!
//! Each shape also derives `utoipa::ToSchema`: the OpenAPI and AsyncAPI
//! documents (`openapi.rs`, `asyncapi.rs`) describe these very structs, so a
//! field added here appears in both.

use serde::Serialize;
use utoipa::ToSchema;

use super::envelope::timestamp;
use super::schemas::{order_status_schema, role_schema};
use crate::domain::{Message, Order, Product, User};
use crate::services::Session;

/// A product.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductBody {
    id: String,
    name: String,
    /// A decimal amount with at most two decimals, from 0 to 1,000,000,000.
    price: f64,
    /// Units in stock.
    stock: i64,
    /// Empty when none was given.
    description: String,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

impl From<&Product> for ProductBody {
    fn from(product: &Product) -> Self {
        ProductBody {
            id: product.id.to_string(),
            name: product.name.as_str().to_owned(),
            price: product.price.as_decimal(),
            stock: product.stock.units(),
            description: product.description.as_str().to_owned(),
            created_at: timestamp(product.created_at),
            updated_at: timestamp(product.updated_at),
        }
    }
}

/// An order.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderBody {
    id: String,
    /// The account that placed it.
    user_id: String,
    /// The product ordered (which may since have been deleted).
    product_id: String,
    quantity: i64,
    /// The product's price when the order was placed.
    unit_price: f64,
    /// `unitPrice × quantity`, computed by the server.
    total: f64,
    #[schema(schema_with = order_status_schema)]
    status: &'static str,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

impl From<&Order> for OrderBody {
    fn from(order: &Order) -> Self {
        OrderBody {
            id: order.id.to_string(),
            user_id: order.user_id.to_string(),
            product_id: order.product_id.to_string(),
            quantity: order.quantity.units(),
            unit_price: order.unit_price.as_decimal(),
            total: order.total.as_decimal(),
            status: order.status.as_str(),
            created_at: timestamp(order.created_at),
            updated_at: timestamp(order.updated_at),
        }
    }
}

/// A user as the REST door shows an account to itself (or to an admin).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserBody {
    id: String,
    name: String,
    #[schema(format = Email)]
    email: String,
    #[schema(schema_with = role_schema)]
    role: &'static str,
    #[schema(format = DateTime)]
    created_at: String,
    /// When the account was last seen; null if never.
    #[schema(format = DateTime, required = true)]
    last_active: Option<String>,
    /// False once an admin deactivated the account.
    active: bool,
}

impl From<&User> for UserBody {
    fn from(user: &User) -> Self {
        UserBody {
            id: user.id.to_string(),
            name: user.name.as_str().to_owned(),
            email: user.email.as_str().to_owned(),
            role: user.role.as_str(),
            created_at: timestamp(user.created_at),
            last_active: user.last_active.map(timestamp),
            active: user.active,
        }
    }
}

/// A chat message. `created_at` mirrors `createdAt` because the original
/// clients read the snake-case name.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageBody {
    id: String,
    /// The sender's user id.
    from: String,
    /// The recipient's user id.
    to: String,
    text: String,
    /// Whether the recipient has seen it.
    seen: bool,
    /// When the recipient saw it; null until then.
    #[schema(format = DateTime, required = true)]
    seen_at: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    /// The same instant as `createdAt`.
    #[serde(rename = "created_at")]
    #[schema(format = DateTime)]
    created_at_snake: String,
}

impl From<&Message> for MessageBody {
    fn from(message: &Message) -> Self {
        let created_at = timestamp(message.created_at);
        MessageBody {
            id: message.id.to_string(),
            from: message.from.to_string(),
            to: message.to.to_string(),
            text: message.text.as_str().to_owned(),
            seen: message.seen(),
            seen_at: message.seen_at.map(timestamp),
            created_at_snake: created_at.clone(),
            created_at,
        }
    }
}

/// A signed-in session: the `data` of register, login and refresh.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionBody {
    /// The access token (a JWT), for `Authorization: Bearer` and the
    /// Socket.IO handshake `auth.token`.
    token: String,
    /// Single-use: `POST /auth/refresh` exchanges it for a new session.
    refresh_token: String,
    /// Seconds until the access token expires.
    expires_in: u64,
    user: UserBody,
}

impl From<&Session> for SessionBody {
    fn from(session: &Session) -> Self {
        SessionBody {
            token: session.access.token.clone(),
            refresh_token: session.refresh.expose().to_owned(),
            expires_in: session.access.expires_in,
            user: UserBody::from(&session.user),
        }
    }
}
