//! Who sent a client event: what every event handler is given.

use crate::auth::Principal;
use crate::hub::ConnectionId;

use super::SocketIo;

/// Who sent an event, and what handles it.
pub struct Caller {
    /// The socket's verified principal.
    pub principal: Principal,
    /// The door, whose services handle the event.
    pub door: SocketIo,
    /// The socket's connection id (chat messages it sends are not echoed
    /// back to it).
    pub origin: ConnectionId,
}

impl Caller {
    /// The services.
    pub fn services(&self) -> &crate::services::Services {
        self.door.services()
    }
}
