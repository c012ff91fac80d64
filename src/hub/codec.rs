//! How an event is written as JSON and read back: into the event log (the
//! events a client can miss), and between server processes (every event,
//! through the backplane).
//!
//! The store keeps each logged event's payload as an opaque JSON string; this
//! is its schema. The shapes below are written out field by field rather than
//! derived from the domain types, so renaming a domain field cannot silently
//! change what is stored (a log outlives a deployment: a newer server reads
//! what an older one wrote). Values read back go through the domain's own
//! parsing, so a corrupt row is an error, never an invalid value.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{
    Description, Id, Message, MessageText, Order, OrderStatus, Price, Product, ProductName,
    Quantity, Role, Stock, ValidationError,
};
use crate::hub::{Audience, ConnectionId, Event};
use crate::store::EventScope;

/// Why a stored event could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Malformed JSON or a missing field.
    #[error("stored event is not valid JSON of its kind: {0}")]
    Json(#[from] serde_json::Error),
    /// A value the domain refuses.
    #[error("stored event holds an invalid value: {0}")]
    Invalid(#[from] ValidationError),
    /// A kind this server does not know (written by a newer one).
    #[error("unknown event kind {0:?}")]
    UnknownKind(String),
}

/// The audience in the store's filterable form.
pub fn scope(audience: &Audience) -> EventScope {
    match audience {
        Audience::Everyone => EventScope {
            everyone: true,
            ..EventScope::default()
        },
        Audience::Admins => EventScope {
            admins: true,
            ..EventScope::default()
        },
        Audience::User(user) => EventScope {
            users: vec![user.clone()],
            ..EventScope::default()
        },
        Audience::Users(users) => EventScope {
            users: users.clone(),
            ..EventScope::default()
        },
        Audience::UsersAndAdmins(users) => EventScope {
            admins: true,
            users: users.clone(),
            ..EventScope::default()
        },
    }
}

/// The audience a stored scope stands for.
pub fn audience(scope: &EventScope) -> Audience {
    match (scope.everyone, scope.admins, scope.users.as_slice()) {
        (true, _, _) => Audience::Everyone,
        (false, true, []) => Audience::Admins,
        (false, true, users) => Audience::UsersAndAdmins(users.to_vec()),
        (false, false, [user]) => Audience::User(user.clone()),
        (false, false, users) => Audience::Users(users.to_vec()),
    }
}

/// The payload of a logged event; `None` for live-only events (typing,
/// presence, session ends), which is what keeps them out of the log.
pub fn encode(event: &Event) -> Option<String> {
    let stored = match event {
        Event::ProductAdded(product) | Event::ProductChanged(product) => {
            serde_json::to_string(&StoredProduct::from(product))
        }
        Event::ProductRemoved(id) => serde_json::to_string(&StoredRemoval { id: id.to_string() }),
        Event::OrderPlaced(order) | Event::OrderStatusChanged(order) => {
            serde_json::to_string(&StoredOrder::from(order))
        }
        Event::MessageSent { message, origin } => serde_json::to_string(&StoredMessageSent {
            message: StoredMessage::from(message),
            origin: origin.as_ref().map(|origin| origin.0.clone()),
        }),
        Event::MessagesSeen {
            by,
            sender,
            ids,
            at,
        } => serde_json::to_string(&StoredSeen {
            by: by.to_string(),
            sender: sender.to_string(),
            ids: ids.iter().map(ToString::to_string).collect(),
            at: *at,
        }),
        _ => return None,
    };
    // Serialising these plain structs cannot fail.
    stored.ok()
}

/// The payload of a live-only event (typing, presence, session ends), for
/// the backplane: never stored, so its shape may change with a release (all
/// processes of a cluster run one). `None` for a logged event: [`encode`]
/// writes those.
pub fn encode_live(event: &Event) -> Option<String> {
    let live = match event {
        Event::RoleChanged { user_id, role } => LiveEvent::RoleChanged {
            user_id: user_id.to_string(),
            role: role.as_str().to_owned(),
        },
        Event::SignedOut { user_id } => LiveEvent::SignedOut {
            user_id: user_id.to_string(),
        },
        Event::Deactivated { user_id } => LiveEvent::Deactivated {
            user_id: user_id.to_string(),
        },
        Event::UserTyping { from, to, typing } => LiveEvent::UserTyping {
            from: from.to_string(),
            to: to.to_string(),
            typing: *typing,
        },
        Event::PresenceChanged {
            user_id,
            online,
            last_active,
        } => LiveEvent::PresenceChanged {
            user_id: user_id.to_string(),
            online: *online,
            last_active: *last_active,
        },
        _ => return None,
    };
    serde_json::to_string(&live).ok()
}

/// The event a stored kind and payload stand for.
///
/// # Errors
/// A [`DecodeError`] for an unknown kind or a corrupt payload.
pub fn decode(kind: &str, payload: &str) -> Result<Event, DecodeError> {
    Ok(match kind {
        "product_added" => {
            Event::ProductAdded(serde_json::from_str::<StoredProduct>(payload)?.into_domain()?)
        }
        "product_changed" => {
            Event::ProductChanged(serde_json::from_str::<StoredProduct>(payload)?.into_domain()?)
        }
        "product_removed" => Event::ProductRemoved(Id::parse(
            &serde_json::from_str::<StoredRemoval>(payload)?.id,
        )?),
        "order_placed" => {
            Event::OrderPlaced(serde_json::from_str::<StoredOrder>(payload)?.into_domain()?)
        }
        "order_status_changed" => {
            Event::OrderStatusChanged(serde_json::from_str::<StoredOrder>(payload)?.into_domain()?)
        }
        "message_sent" => {
            let sent: StoredMessageSent = serde_json::from_str(payload)?;
            Event::MessageSent {
                message: sent.message.into_domain()?,
                origin: sent.origin.map(ConnectionId),
            }
        }
        "messages_seen" => {
            let seen: StoredSeen = serde_json::from_str(payload)?;
            Event::MessagesSeen {
                by: Id::parse(&seen.by)?,
                sender: Id::parse(&seen.sender)?,
                ids: seen
                    .ids
                    .iter()
                    .map(|id| Id::parse(id))
                    .collect::<Result<_, _>>()?,
                at: seen.at,
            }
        }
        "role_changed" | "signed_out" | "deactivated" | "user_typing" | "presence_changed" => {
            let event = serde_json::from_str::<LiveEvent>(payload)?.into_domain()?;
            if event.kind() != kind {
                return Err(DecodeError::UnknownKind(format!(
                    "{kind} holding {}",
                    event.kind()
                )));
            }
            event
        }
        other => return Err(DecodeError::UnknownKind(other.to_owned())),
    })
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredProduct {
    id: String,
    name: String,
    price_cents: i64,
    stock: i64,
    description: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<&Product> for StoredProduct {
    fn from(product: &Product) -> Self {
        StoredProduct {
            id: product.id.to_string(),
            name: product.name.as_str().to_owned(),
            price_cents: product.price.cents(),
            stock: product.stock.units(),
            description: product.description.as_str().to_owned(),
            created_at: product.created_at,
            updated_at: product.updated_at,
        }
    }
}

impl StoredProduct {
    fn into_domain(self) -> Result<Product, DecodeError> {
        Ok(Product {
            id: Id::parse(&self.id)?,
            name: ProductName::parse(&self.name)?,
            price: Price::from_cents(self.price_cents)?,
            stock: Stock::parse(self.stock)?,
            description: Description::parse(&self.description)?,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct StoredRemoval {
    id: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredOrder {
    id: String,
    user_id: String,
    product_id: String,
    quantity: i64,
    unit_price_cents: i64,
    total_cents: i64,
    status: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<&Order> for StoredOrder {
    fn from(order: &Order) -> Self {
        StoredOrder {
            id: order.id.to_string(),
            user_id: order.user_id.to_string(),
            product_id: order.product_id.to_string(),
            quantity: order.quantity.units(),
            unit_price_cents: order.unit_price.cents(),
            total_cents: order.total.cents(),
            status: order.status.as_str().to_owned(),
            created_at: order.created_at,
            updated_at: order.updated_at,
        }
    }
}

impl StoredOrder {
    fn into_domain(self) -> Result<Order, DecodeError> {
        Ok(Order {
            id: Id::parse(&self.id)?,
            user_id: Id::parse(&self.user_id)?,
            product_id: Id::parse(&self.product_id)?,
            quantity: Quantity::parse(self.quantity)?,
            unit_price: Price::from_cents(self.unit_price_cents)?,
            total: Price::from_cents(self.total_cents)?,
            status: OrderStatus::parse(&self.status)?,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredMessage {
    id: String,
    from: String,
    to: String,
    text: String,
    seen_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl From<&Message> for StoredMessage {
    fn from(message: &Message) -> Self {
        StoredMessage {
            id: message.id.to_string(),
            from: message.from.to_string(),
            to: message.to.to_string(),
            text: message.text.as_str().to_owned(),
            seen_at: message.seen_at,
            created_at: message.created_at,
        }
    }
}

impl StoredMessage {
    fn into_domain(self) -> Result<Message, DecodeError> {
        Ok(Message {
            id: Id::parse(&self.id)?,
            from: Id::parse(&self.from)?,
            to: Id::parse(&self.to)?,
            text: MessageText::parse(&self.text)?,
            seen_at: self.seen_at,
            // As sent: delivery is tracked on the message itself, not here.
            delivered: false,
            created_at: self.created_at,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct StoredMessageSent {
    message: StoredMessage,
    origin: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct StoredSeen {
    by: String,
    sender: String,
    ids: Vec<String>,
    at: DateTime<Utc>,
}

/// A live-only event as it travels between processes; the tag repeats
/// the kind, so a payload read under the wrong kind is an error.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum LiveEvent {
    RoleChanged {
        user_id: String,
        role: String,
    },
    SignedOut {
        user_id: String,
    },
    Deactivated {
        user_id: String,
    },
    UserTyping {
        from: String,
        to: String,
        typing: bool,
    },
    PresenceChanged {
        user_id: String,
        online: bool,
        last_active: DateTime<Utc>,
    },
}

impl LiveEvent {
    fn into_domain(self) -> Result<Event, DecodeError> {
        Ok(match self {
            LiveEvent::RoleChanged { user_id, role } => Event::RoleChanged {
                user_id: Id::parse(&user_id)?,
                role: Role::parse(&role)?,
            },
            LiveEvent::SignedOut { user_id } => Event::SignedOut {
                user_id: Id::parse(&user_id)?,
            },
            LiveEvent::Deactivated { user_id } => Event::Deactivated {
                user_id: Id::parse(&user_id)?,
            },
            LiveEvent::UserTyping { from, to, typing } => Event::UserTyping {
                from: Id::parse(&from)?,
                to: Id::parse(&to)?,
                typing,
            },
            LiveEvent::PresenceChanged {
                user_id,
                online,
                last_active,
            } => Event::PresenceChanged {
                user_id: Id::parse(&user_id)?,
                online,
                last_active,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{MessageId, ProductId, UserId};
    use crate::store::now;

    fn product() -> Product {
        Product {
            id: ProductId::generate(),
            name: ProductName::parse("Red Shoes").unwrap(),
            price: Price::from_cents(1999).unwrap(),
            stock: Stock::parse(3).unwrap(),
            description: Description::parse("comfortable").unwrap(),
            created_at: now(),
            updated_at: now(),
        }
    }

    #[test]
    fn every_logged_event_reads_back_as_written() {
        let product = product();
        let order = Order {
            id: Id::generate(),
            user_id: UserId::generate(),
            product_id: product.id.clone(),
            quantity: Quantity::parse(2).unwrap(),
            unit_price: product.price,
            total: Price::from_cents(3998).unwrap(),
            status: OrderStatus::Processing,
            created_at: now(),
            updated_at: now(),
        };
        let message = Message {
            id: MessageId::generate(),
            from: UserId::generate(),
            to: UserId::generate(),
            text: MessageText::parse("hello").unwrap(),
            seen_at: None,
            delivered: false,
            created_at: now(),
        };
        let events = [
            Event::ProductAdded(product.clone()),
            Event::ProductChanged(product.clone()),
            Event::ProductRemoved(product.id.clone()),
            Event::OrderPlaced(order.clone()),
            Event::OrderStatusChanged(order),
            Event::MessageSent {
                message: message.clone(),
                origin: Some(ConnectionId("sio:abc".into())),
            },
            Event::MessagesSeen {
                by: message.to.clone(),
                sender: message.from.clone(),
                ids: vec![message.id.clone()],
                at: now(),
            },
        ];
        for event in events {
            let payload = encode(&event).expect("a missable event is logged");
            assert_eq!(decode(event.kind(), &payload).unwrap(), event);
        }
    }

    #[test]
    fn live_only_events_are_not_logged_and_corrupt_rows_are_errors() {
        let typing = Event::UserTyping {
            from: UserId::generate(),
            to: UserId::generate(),
            typing: true,
        };
        assert!(encode(&typing).is_none(), "typing is live only");
        let user_id = UserId::generate();
        for live in [
            typing,
            Event::RoleChanged {
                user_id: user_id.clone(),
                role: Role::Admin,
            },
            Event::SignedOut {
                user_id: user_id.clone(),
            },
            Event::Deactivated {
                user_id: user_id.clone(),
            },
            Event::PresenceChanged {
                user_id,
                online: true,
                last_active: now(),
            },
        ] {
            let payload = encode_live(&live).expect("a live event crosses processes");
            assert_eq!(decode(live.kind(), &payload).unwrap(), live);
            let other_kind = if live.kind() == "signed_out" {
                "deactivated"
            } else {
                "signed_out"
            };
            assert!(
                decode(other_kind, &payload).is_err(),
                "a payload read as another kind"
            );
        }
        assert!(encode_live(&Event::ProductRemoved(ProductId::generate())).is_none());
        assert!(matches!(
            decode("product_removed", r#"{"id":"nope"}"#),
            Err(DecodeError::Invalid(_))
        ));
        assert!(matches!(
            decode("order_placed", "{"),
            Err(DecodeError::Json(_))
        ));
        assert!(matches!(
            decode("from_the_future", "{}"),
            Err(DecodeError::UnknownKind(_))
        ));
    }

    #[test]
    fn audiences_survive_the_store_form() {
        let ada = UserId::generate();
        let bob = UserId::generate();
        for audience in [
            Audience::Everyone,
            Audience::Admins,
            Audience::User(ada.clone()),
            Audience::Users(vec![ada.clone(), bob.clone()]),
            Audience::UsersAndAdmins(vec![ada]),
        ] {
            assert_eq!(self::audience(&scope(&audience)), audience);
        }
    }
}
