//! The JSON shapes of products, orders and users on the legacy doors (REST
//! bodies and Socket.IO payloads), in one place so both doors agree. Field
//! names are camelCase, money is a decimal number, times are RFC 3339.

use serde::Serialize;

use super::envelope::timestamp;
use crate::domain::{Message, Order, Product, User};

/// A product.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductBody {
    id: String,
    name: String,
    price: f64,
    stock: i64,
    description: String,
    created_at: String,
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
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderBody {
    id: String,
    user_id: String,
    product_id: String,
    quantity: i64,
    unit_price: f64,
    total: f64,
    status: &'static str,
    created_at: String,
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
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserBody {
    id: String,
    name: String,
    email: String,
    role: &'static str,
    created_at: String,
    last_active: Option<String>,
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
        }
    }
}

/// A chat message. `created_at` mirrors `createdAt` because the original
/// clients read the snake-case name.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageBody {
    id: String,
    from: String,
    to: String,
    text: String,
    seen: bool,
    seen_at: Option<String>,
    created_at: String,
    #[serde(rename = "created_at")]
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
