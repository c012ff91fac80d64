//! The AsyncAPI 3 document of the Socket.IO door, served at
//! `GET /asyncapi.json`.
//!
//! Rendered from the event table (`socketio::events::ALL`), the same
//! entries the handlers register and emit by. The document describes the
//! server: an event a client emits is an operation the server `receive`s,
//! an event the server emits is one it `send`s (`x-direction` says the same
//! from the client's side). Acks are operation replies, on a channel of
//! their own. Payload schemas are the JSON schemas (`utoipa::ToSchema`) of
//! the types the handlers read and write.
//!
//! No Rust crate builds AsyncAPI documents, so this one is plain
//! `serde_json`.

use serde_json::{Map, Value, json};

use super::openapi::ErrorEnvelope;
use super::schemas::Schemas;
use super::socketio::events::{self, Direction, SocketEvent};

/// The AsyncAPI version of the document.
pub const ASYNCAPI_VERSION: &str = "3.0.0";

/// The channel of the events: Socket.IO's default namespace.
const EVENTS_CHANNEL: &str = "events";
/// The channel of the acks, which travel back on the emitting socket.
const ACKS_CHANNEL: &str = "acks";

/// The whole document.
pub fn document() -> Value {
    let mut schemas = Schemas::default();
    let mut channel_messages = Map::new();
    let mut ack_messages = Map::new();
    let mut messages = Map::new();
    let mut operations = Map::new();
    for event in &events::ALL {
        messages.insert(event.name.to_owned(), message(event, &mut schemas));
        channel_messages.insert(
            event.name.to_owned(),
            json!({ "$ref": format!("#/components/messages/{}", event.name) }),
        );
        let mut operation = operation(event);
        if let Some(ack) = event.ack {
            let name = ack_name(event);
            messages.insert(name.clone(), ack_message(event, ack, &mut schemas));
            ack_messages.insert(
                name.clone(),
                json!({ "$ref": format!("#/components/messages/{name}") }),
            );
            operation["reply"] = json!({
                "channel": { "$ref": format!("#/channels/{ACKS_CHANNEL}") },
                "messages": [{ "$ref": format!("#/channels/{ACKS_CHANNEL}/messages/{name}") }],
            });
        }
        operations.insert(event.name.to_owned(), operation);
    }
    schemas.reference::<ErrorEnvelope>();
    json!({
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Realtime Dashboard Socket.IO API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": DESCRIPTION,
            "license": { "name": "MIT OR Apache-2.0" },
        },
        "defaultContentType": "application/json",
        "servers": {
            "socketio": {
                "host": "{host}",
                "protocol": "ws",
                "pathname": "/socket.io/",
                "title": "Socket.IO v4 (Engine.IO v4: WebSocket, or HTTP long-polling upgraded to it)",
                "variables": {
                    "host": {
                        "default": "localhost:4000",
                        "description": "The host and port serving this document",
                    },
                },
                "security": [{ "$ref": "#/components/securitySchemes/accessToken" }],
            },
        },
        "channels": {
            EVENTS_CHANNEL: {
                "address": "/",
                "title": "The default namespace",
                "description": "Each socket hears the events of its audience: everyone's, \
                                its user's, and admins' when it is an admin's. Each event \
                                carries one argument, its payload.",
                "messages": channel_messages,
            },
            ACKS_CHANNEL: {
                "address": null,
                "title": "Acknowledgements",
                "description": "The answer to a client event emitted with an ack callback: \
                                `{status: \"success\", data}` or the error envelope. A client \
                                event without a callback gets no answer.",
                "messages": ack_messages,
            },
        },
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": schemas.into_components(),
            "securitySchemes": {
                "accessToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "An access token from the REST or GraphQL sign-in, sent in \
                                    the handshake as `auth.token` (current clients), else as \
                                    `Authorization: Bearer <token>` or the `token` query \
                                    parameter (old clients). A missing, bad or expired token \
                                    fails the handshake with `connect_error`.",
                },
            },
        },
    })
}

const DESCRIPTION: &str = "The Socket.IO events of the original Express + Socket.IO design, \
on the same services as GraphQL (`/graphql`) and REST (`/openapi.json`). This document \
describes the server: `receive` operations are events clients emit, `send` operations are \
events the server emits (`x-direction` gives the same from the client's side). Acks are the \
operations' replies. Bad payloads get an error ack (or nothing, without a callback) and never \
close the socket.";

fn direction(event: &SocketEvent) -> &'static str {
    match event.direction {
        Direction::ClientToServer => "client-to-server",
        Direction::ServerToClient => "server-to-client",
    }
}

fn message(event: &SocketEvent, schemas: &mut Schemas) -> Value {
    json!({
        "name": event.name,
        "title": event.name,
        "summary": event.summary,
        "description": format!(
            "{}: {}.",
            match event.direction {
                Direction::ClientToServer => "Sent by",
                Direction::ServerToClient => "Heard by",
            },
            event.parties,
        ),
        "contentType": "application/json",
        "payload": (event.payload)(schemas),
        "x-direction": direction(event),
    })
}

fn ack_name(event: &SocketEvent) -> String {
    format!("{}_ack", event.name)
}

fn ack_message(event: &SocketEvent, ack: events::SchemaOf, schemas: &mut Schemas) -> Value {
    json!({
        "name": ack_name(event),
        "title": format!("{} ack", event.name),
        "summary": format!("The answer to `{}`.", event.name),
        "contentType": "application/json",
        "payload": {
            "oneOf": [
                {
                    "type": "object",
                    "properties": {
                        "status": { "type": "string", "enum": ["success"] },
                        "data": ack(schemas),
                    },
                    "required": ["status", "data"],
                },
                schemas.reference::<ErrorEnvelope>(),
            ],
        },
        "x-direction": "server-to-client",
    })
}

fn operation(event: &SocketEvent) -> Value {
    let action = match event.direction {
        Direction::ClientToServer => "receive",
        Direction::ServerToClient => "send",
    };
    json!({
        "action": action,
        "channel": { "$ref": format!("#/channels/{EVENTS_CHANNEL}") },
        "messages": [{ "$ref": format!("#/channels/{EVENTS_CHANNEL}/messages/{}", event.name) }],
        "summary": event.summary,
        "x-direction": direction(event),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn the_event_table_has_no_duplicates() {
        let mut seen = HashSet::new();
        for event in &events::ALL {
            assert!(seen.insert(event.name), "{} is listed twice", event.name);
        }
    }

    #[test]
    fn every_event_constant_is_in_the_table() {
        // A constant left out of `ALL` would be served but not documented.
        let source = include_str!("socketio/events.rs");
        let declared = source.matches(": SocketEvent = SocketEvent {").count();
        assert_eq!(
            declared,
            events::ALL.len(),
            "events.rs declares {declared} events but ALL lists {}",
            events::ALL.len()
        );
    }

    #[test]
    fn the_socket_io_code_names_events_only_through_the_table() {
        let sources = [
            ("mod.rs", include_str!("socketio/mod.rs")),
            ("chat.rs", include_str!("socketio/chat.rs")),
            ("orders.rs", include_str!("socketio/orders.rs")),
            ("render.rs", include_str!("socketio/render.rs")),
            ("session.rs", include_str!("socketio/session.rs")),
            ("handlers.rs", include_str!("socketio/handlers.rs")),
            ("handshake.rs", include_str!("socketio/handshake.rs")),
            ("caller.rs", include_str!("socketio/caller.rs")),
        ];
        for (file, source) in sources {
            // `frame::event` writes an event; the handler table names those
            // it handles by their entries.
            for call in ["frame::event(", "event.name == \""] {
                for (at, _) in source.match_indices(call) {
                    let argument = source[at + call.len()..].trim_start();
                    assert!(
                        !argument.starts_with('"'),
                        "socketio/{file} passes a literal event name to `{call}`; \
                         add it to events.rs and use the constant"
                    );
                }
            }
        }
    }

    #[test]
    fn the_document_has_a_message_and_an_operation_per_event() {
        let document = document();
        for event in &events::ALL {
            let message = &document["components"]["messages"][event.name];
            assert_eq!(message["name"], event.name);
            let operation = &document["operations"][event.name];
            let expected = match event.direction {
                Direction::ClientToServer => "receive",
                Direction::ServerToClient => "send",
            };
            assert_eq!(operation["action"], expected, "{}", event.name);
            assert_eq!(
                operation["reply"].is_object(),
                event.ack.is_some(),
                "{}",
                event.name
            );
        }
    }

    #[test]
    fn every_reference_resolves() {
        let document = document();
        let mut references = Vec::new();
        collect_references(&document, &mut references);
        assert!(!references.is_empty());
        for reference in references {
            let pointer = reference
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("{reference} is not local"));
            assert!(
                document.pointer(pointer).is_some(),
                "{reference} does not resolve"
            );
        }
    }

    fn collect_references(value: &Value, into: &mut Vec<String>) {
        match value {
            Value::Object(object) => {
                if let Some(Value::String(reference)) = object.get("$ref") {
                    into.push(reference.clone());
                }
                object
                    .values()
                    .for_each(|value| collect_references(value, into));
            }
            Value::Array(items) => items
                .iter()
                .for_each(|value| collect_references(value, into)),
            _ => {}
        }
    }
}
