//! Realtime Dashboard: a live admin-dashboard backend with three doors onto
//! one core.
//!
//! Start reading here. A request enters through a door, becomes a call on a
//! service, and the service checks, writes and publishes; the hub carries the
//! event back out to whoever may see it, on every door.
//!
//! - [`domain`]: newtypes that make bad values unrepresentable; no I/O.
//! - [`auth`]: password hashing, access and refresh tokens, [`auth::Principal`].
//! - [`store`]: the persistence port and its SQLite and MongoDB adapters.
//! - [`hub`]: the in-process event bus, keyed by audience.
//! - [`backplane`]: with `REDIS_URL`, the hub, presence and rate limits
//!   spanning every server process of a cluster.
//! - [`services`]: the only place rules live.
//! - [`graphql`]: the primary door (queries, mutations, subscriptions).
//! - [`compat`]: the legacy doors, REST and Socket.IO, on the same services.
//! - [`http`]: the axum router and its layers, composing the doors (which
//!   never import it back); [`client_addr`]: who a request is from;
//!   [`admin_page`]: the embedded admin page.
//! - [`demo`]: the `demo` command's shop and simulated customers, a client
//!   of the services like any door (never run by `serve`).
//! - [`app`], [`config`], [`telemetry`], [`metrics`], [`error`]: start-up,
//!   configuration, logging, operations metrics, and the error classes of
//!   the public contract.

pub mod admin_page;
pub mod app;
pub mod auth;
pub mod backplane;
pub mod client_addr;
pub mod compat;
pub mod config;
pub mod demo;
pub mod domain;
pub mod error;
pub mod graphql;
pub mod http;
pub mod hub;
pub mod metrics;
pub mod services;
pub mod store;
pub mod telemetry;
