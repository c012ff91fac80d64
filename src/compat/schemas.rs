//! JSON schemas of the values both legacy doors carry (an order's status,
//! an account's role), and the collector of named schemas the Socket.IO
//! event table refers to. Shared by the wire bodies (`wire.rs`), the
//! OpenAPI document (`openapi.rs`) and the AsyncAPI document
//! (`asyncapi.rs`), so a value is described once and no document module
//! needs another.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

use crate::domain::OrderStatus;

/// The roles an account can have, as the wire spells them.
pub const ROLES: [&str; 2] = ["user", "admin"];

/// A string schema with a fixed set of values.
pub fn string_enum<const N: usize>(values: [&str; N], description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .description(Some(description))
        .build()
}

/// `status` of an order: the four statuses, in flow order.
pub fn order_status_schema() -> Object {
    string_enum(
        OrderStatus::ALL.map(OrderStatus::as_str),
        "pending → processing → shipped → delivered; only forward, skipping allowed",
    )
}

/// `role` of an account.
pub fn role_schema() -> Object {
    string_enum(ROLES, "What the account may do")
}

/// Named JSON schemas that payloads refer to, gathered while the payloads
/// are rendered; they become `components.schemas`.
#[derive(Default)]
pub struct Schemas(BTreeMap<String, Value>);

impl Schemas {
    /// A `$ref` to `T`'s schema, with `T` and every schema it refers to
    /// added to the components.
    pub fn reference<T: ToSchema>(&mut self) -> Value {
        let mut referenced = Vec::new();
        T::schemas(&mut referenced);
        referenced.push((T::name().into_owned(), T::schema()));
        for (name, schema) in referenced {
            self.0.entry(name).or_insert_with(|| json!(schema));
        }
        json!({ "$ref": format!("#/components/schemas/{}", T::name()) })
    }

    /// Every schema referred to, by name: the document's
    /// `components.schemas`.
    pub fn into_components(self) -> BTreeMap<String, Value> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;

    #[test]
    fn the_documented_roles_are_the_roles() {
        for role in ROLES {
            assert_eq!(Role::parse(role).map(Role::as_str), Ok(role));
        }
        for role in [Role::User, Role::Admin] {
            assert!(ROLES.contains(&role.as_str()), "{role:?}");
        }
    }
}
