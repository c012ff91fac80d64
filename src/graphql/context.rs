//! Who is calling, as seen from a resolver.

use std::net::IpAddr;

use async_graphql::Context;

use super::error::IntoGraphql as _;
use crate::auth::{INVALID_TOKEN, Principal};
use crate::client_addr::ClientIp;
use crate::error::AppError;
use crate::services::Services;

/// The caller of one GraphQL request or WebSocket connection.
///
/// A bad token does not fail the whole request: operations that need no
/// caller (`login`, `refreshToken`, public queries) still work, which is what
/// lets a client with an expired token refresh it. Operations that need a
/// caller answer `UNAUTHENTICATED`.
#[derive(Debug, Clone)]
pub enum Caller {
    /// No token was sent.
    Anonymous,
    /// A valid token.
    Signed(Principal),
    /// A token was sent and refused.
    Rejected,
}

/// Resolver helpers on the context.
pub trait ContextExt {
    /// The signed-in caller, or `UNAUTHENTICATED`.
    fn principal(&self) -> async_graphql::Result<&Principal>;
    /// The signed-in caller, if any.
    fn principal_opt(&self) -> Option<&Principal>;
    /// The services.
    fn services(&self) -> &Services;
    /// The client's address (loopback when the transport does not say).
    fn client_addr(&self) -> IpAddr;
}

impl ContextExt for Context<'_> {
    fn principal(&self) -> async_graphql::Result<&Principal> {
        match self.data_opt::<Caller>() {
            Some(Caller::Signed(principal)) => Ok(principal),
            _ => Err(AppError::Unauthenticated(INVALID_TOKEN)).graphql(),
        }
    }

    fn principal_opt(&self) -> Option<&Principal> {
        match self.data_opt::<Caller>() {
            Some(Caller::Signed(principal)) => Some(principal),
            _ => None,
        }
    }

    fn services(&self) -> &Services {
        self.data::<Services>()
            .expect("BUG: the schema is always built with its services")
    }

    fn client_addr(&self) -> IpAddr {
        self.data_opt::<ClientIp>()
            .map_or(IpAddr::from([127, 0, 0, 1]), |addr| addr.0)
    }
}

/// Parses an `idempotencyKey` argument; a malformed one is `BAD_USER_INPUT`
/// naming it.
pub fn idempotency_key_arg(
    raw: Option<&str>,
) -> async_graphql::Result<Option<crate::domain::IdempotencyKey>> {
    raw.map(crate::domain::IdempotencyKey::parse)
        .transpose()
        .map_err(|e| e.on("idempotencyKey"))
        .graphql()
}

/// Parses an `ID` argument into a typed id; a malformed one is
/// `BAD_USER_INPUT` naming the argument.
pub fn id_arg<K>(
    id: &async_graphql::ID,
    argument: &str,
) -> async_graphql::Result<crate::domain::Id<K>> {
    crate::domain::Id::parse(id)
        .map_err(|e| e.on(argument))
        .graphql()
}
