//! Opaque ids in the 24-hex ObjectId form, on every store.
//!
//! Both stores use the same generator, so a client cannot tell which store is
//! behind the server. The layout is a MongoDB ObjectId's: four bytes of
//! creation second, five random bytes chosen once per process, three bytes of
//! a counter. Ids made later by one process therefore sort after earlier
//! ones, which keeps (time, id) orderings stable when rows share a
//! millisecond.

use std::fmt;
use std::marker::PhantomData;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use rand::RngCore;

use super::ValidationError;

/// An id of an entity of kind `K`. The kind is a marker type, so a `UserId`
/// cannot be passed where a product id is expected.
pub struct Id<K> {
    hex: String,
    kind: PhantomData<fn() -> K>,
}

/// Marker for user ids.
#[derive(Debug)]
pub enum UserKind {}

/// The id of a user account.
pub type UserId = Id<UserKind>;

/// Marker for product ids.
#[derive(Debug)]
pub enum ProductKind {}

/// The id of a product.
pub type ProductId = Id<ProductKind>;

/// Marker for order ids.
#[derive(Debug)]
pub enum OrderKind {}

/// The id of an order.
pub type OrderId = Id<OrderKind>;

/// Marker for message ids.
#[derive(Debug)]
pub enum MessageKind {}

/// The id of a chat message.
pub type MessageId = Id<MessageKind>;

/// Marker for an id whose kind the client does not say (Relay's
/// `node(id:)`): every kind shares one generator, so the id still names at
/// most one object, of some kind to be found out.
#[derive(Debug)]
pub enum AnyKind {}

/// An id of an object of any kind.
pub type AnyId = Id<AnyKind>;

impl AnyId {
    /// The same id, read as the id of a `K`: what a lookup in `K`'s store
    /// takes. Whether such an object exists is the store's answer.
    pub fn as_kind<K>(&self) -> Id<K> {
        Id {
            hex: self.hex.clone(),
            kind: PhantomData,
        }
    }
}

impl<K> Id<K> {
    /// A fresh id: creation second, process identity, counter.
    pub fn generate() -> Self {
        static PROCESS: OnceLock<[u8; 5]> = OnceLock::new();
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let process = PROCESS.get_or_init(|| {
            let mut bytes = [0u8; 5];
            rand::thread_rng().fill_bytes(&mut bytes);
            bytes
        });
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut bytes = [0u8; 12];
        let seconds = chrono::Utc::now().timestamp() as u32;
        bytes[..4].copy_from_slice(&seconds.to_be_bytes());
        bytes[4..9].copy_from_slice(process);
        bytes[9..].copy_from_slice(&count.to_be_bytes()[1..]);
        Id {
            hex: hex::encode(bytes),
            kind: PhantomData,
        }
    }

    /// Accepts exactly 24 hex digits (any case; kept lower-case).
    ///
    /// # Errors
    /// A [`ValidationError`] for anything else: such an id cannot exist, so
    /// it is a malformed request, not a missing entity.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        if raw.len() == 24 && raw.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Id {
                hex: raw.to_ascii_lowercase(),
                kind: PhantomData,
            })
        } else {
            Err(ValidationError("must be a 24-character hexadecimal id"))
        }
    }

    /// The id as it appears on the wire and in the stores.
    pub fn as_str(&self) -> &str {
        &self.hex
    }
}

impl<K> Clone for Id<K> {
    fn clone(&self) -> Self {
        Id {
            hex: self.hex.clone(),
            kind: PhantomData,
        }
    }
}

impl<K> PartialEq for Id<K> {
    fn eq(&self, other: &Self) -> bool {
        self.hex == other.hex
    }
}

impl<K> Eq for Id<K> {}

impl<K> std::hash::Hash for Id<K> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.hex.hash(state);
    }
}

impl<K> PartialOrd for Id<K> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<K> Ord for Id<K> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.hex.cmp(&other.hex)
    }
}

impl<K> fmt::Display for Id<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex)
    }
}

impl<K> fmt::Debug for Id<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.hex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_24_hex_and_distinct() {
        let a = UserId::generate();
        let b = UserId::generate();
        assert_eq!(a.as_str().len(), 24);
        assert!(UserId::parse(a.as_str()).is_ok());
        assert_ne!(a, b);
    }

    #[test]
    fn ids_made_later_sort_later() {
        let ids: Vec<UserId> = (0..1000).map(|_| UserId::generate()).collect();
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn malformed_ids_are_refused() {
        for raw in [
            "",
            "abc",
            "zzzzzzzzzzzzzzzzzzzzzzzz",
            "0123456789abcdef012345678",
            "{\"$ne\":null}",
        ] {
            assert!(UserId::parse(raw).is_err(), "{raw:?} accepted");
        }
    }

    #[test]
    fn ids_are_normalised_to_lower_case() {
        let id = UserId::parse("0123456789ABCDEF01234567").unwrap();
        assert_eq!(id.as_str(), "0123456789abcdef01234567");
    }
}
