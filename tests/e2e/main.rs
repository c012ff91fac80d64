//! End-to-end tests: the real server on port 0, driven as clients drive it.
//! One test binary; a module per area.

mod support;

mod api_specs;
mod auth_graphql;
mod auth_rest;
mod binary;
mod browser;
mod catalog;
mod chat;
mod cluster;
mod connections;
mod docs;
mod durability;
mod examples;
mod graphql_http;
mod graphql_ws;
mod hardening;
mod http_edges;
mod idempotency;
mod layout;
mod live;
mod loadgen;
mod operations;
mod orders;
mod presence;
mod relay;
mod resume;
mod revocation;
mod schema;
mod socketio;
mod store_outage;
