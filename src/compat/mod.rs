//! The legacy doors: the REST routes and Socket.IO events that clients of the
//! original Express + Socket.IO design call. Each handler authenticates,
//! parses into domain types, calls the service the GraphQL resolver calls, and
//! reshapes the result into the documented envelope (`envelope.rs`).

pub mod api_specs;
pub mod asyncapi;
pub mod envelope;
pub mod json_input;
pub mod openapi;
pub mod rest;
pub mod schemas;
pub mod socketio;
pub mod wire;
