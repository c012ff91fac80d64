//! Pages of lists and the opaque cursors that continue them.
//!
//! Lists are keyset-paginated: a cursor names the sort key and id of the last
//! item seen, and the next page starts strictly after it. Rows inserted while
//! a client walks the pages therefore never shift an item into a page twice
//! or out of every page (offsets would do both).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

use super::ValidationError;

/// Default page size of every list.
pub const DEFAULT_PAGE_SIZE: usize = 20;
/// Largest page size; larger requests are clamped.
pub const MAX_PAGE_SIZE: usize = 100;

/// How many items a client asks for, clamped to `1..=100` (default 20).
pub fn page_size(requested: Option<i64>) -> usize {
    match requested {
        None => DEFAULT_PAGE_SIZE,
        Some(n) if n < 1 => 1,
        Some(n) => (n as usize).min(MAX_PAGE_SIZE),
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items, in list order.
    pub items: Vec<T>,
    /// The cursor of the last item, when more follow.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `size + 1` rows fetched by the store: the
    /// extra row only says that more follow.
    pub fn from_rows(mut rows: Vec<T>, size: usize, cursor_of: impl Fn(&T) -> Cursor) -> Page<T> {
        let has_more = rows.len() > size;
        rows.truncate(size);
        let next_cursor = if has_more {
            rows.last().map(|last| cursor_of(last).encode())
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }

    /// The same page with its items converted.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

/// The ordering tag of order lists' cursors (newest first).
pub const ORDERS_NEWEST: &str = "orders_newest";
/// The ordering tag of message lists' cursors (newest first).
pub const MESSAGES_NEWEST: &str = "messages_newest";
/// The ordering tag of conversation lists' cursors (newest latest message
/// first; the key and id are those of a conversation's latest message).
pub const CONVERSATIONS_NEWEST: &str = "conversations_newest";
/// The ordering tag of user lists' cursors (registration order).
pub const USERS_OLDEST: &str = "users_oldest";

/// Which kind of sort key a list's cursors hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// [`SortKey::Time`].
    Time,
    /// [`SortKey::Cents`].
    Cents,
    /// [`SortKey::Text`].
    Text,
}

/// The sort key of a cursor.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum SortKey {
    /// A time (newest-first lists).
    Time(DateTime<Utc>),
    /// An amount in minor units (price order).
    Cents(i64),
    /// A text (name order).
    Text(String),
}

/// What a client is told about a cursor that does not continue the list.
const NOT_A_CURSOR: ValidationError = ValidationError("is not a cursor of this list");

/// A position in a list: which ordering, the sort key and the id of the last
/// item seen. Clients see it only as an opaque string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// Which ordering the cursor belongs to (a cursor of one ordering is
    /// refused by another).
    pub ordering: &'static str,
    /// The last item's sort key.
    pub key: SortKey,
    /// The last item's id (ties on the key are broken by id).
    pub id: String,
}

impl SortKey {
    /// Which kind of key this is.
    pub fn kind(&self) -> KeyKind {
        match self {
            SortKey::Time(_) => KeyKind::Time,
            SortKey::Cents(_) => KeyKind::Cents,
            SortKey::Text(_) => KeyKind::Text,
        }
    }
}

impl Cursor {
    /// The cursor a client sent back to continue a list, if any: the one
    /// check every list makes. It must come from this `ordering` and hold
    /// the `kind` of key the list sorts by (a forged cursor of the right
    /// ordering with another kind of key is refused here, not by a store).
    ///
    /// # Errors
    /// A [`ValidationError`] for anything else.
    pub fn continuing(
        raw: Option<&str>,
        ordering: &'static str,
        kind: KeyKind,
    ) -> Result<Option<Cursor>, ValidationError> {
        let Some(raw) = raw else {
            return Ok(None);
        };
        let cursor = Cursor::decode(raw, ordering)?;
        if cursor.key.kind() != kind {
            return Err(NOT_A_CURSOR);
        }
        Ok(Some(cursor))
    }

    /// The opaque string form.
    pub fn encode(&self) -> String {
        let key = match &self.key {
            SortKey::Time(at) => format!("t{}", at.timestamp_millis()),
            SortKey::Cents(cents) => format!("c{cents}"),
            SortKey::Text(text) => format!("s{text}"),
        };
        URL_SAFE_NO_PAD.encode(format!("{}\n{}\n{key}", self.ordering, self.id))
    }

    /// Reads a cursor a client sent back, for the given ordering.
    ///
    /// # Errors
    /// A [`ValidationError`] for anything not produced by [`encode`](Self::encode)
    /// with the same ordering.
    pub fn decode(raw: &str, ordering: &'static str) -> Result<Cursor, ValidationError> {
        const INVALID: ValidationError = NOT_A_CURSOR;
        let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).map_err(|_| INVALID)?;
        let text = String::from_utf8(bytes).map_err(|_| INVALID)?;
        let mut parts = text.splitn(3, '\n');
        let (Some(tag), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(INVALID);
        };
        if tag != ordering || id.len() != 24 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(INVALID);
        }
        let key = match key.split_at_checked(1) {
            Some(("t", millis)) => {
                let millis: i64 = millis.parse().map_err(|_| INVALID)?;
                SortKey::Time(DateTime::from_timestamp_millis(millis).ok_or(INVALID)?)
            }
            Some(("c", cents)) => SortKey::Cents(cents.parse().map_err(|_| INVALID)?),
            Some(("s", text)) => SortKey::Text(text.to_owned()),
            _ => return Err(INVALID),
        };
        Ok(Cursor {
            ordering,
            key,
            id: id.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_for_their_ordering_only() {
        let id = "0123456789abcdef01234567".to_owned();
        for key in [
            SortKey::Time(DateTime::from_timestamp_millis(1_764_000_000_123).unwrap()),
            SortKey::Cents(1999),
            SortKey::Text("red\nshoes: 2".into()),
        ] {
            let cursor = Cursor {
                ordering: "newest",
                key,
                id: id.clone(),
            };
            assert_eq!(
                Cursor::decode(&cursor.encode(), "newest"),
                Ok(cursor.clone())
            );
            assert!(Cursor::decode(&cursor.encode(), "price_asc").is_err());
        }
        for raw in ["", "!!", "bmV3ZXN0", "bmV3ZXN0CnNob3J0CnQx"] {
            assert!(Cursor::decode(raw, "newest").is_err(), "{raw:?}");
        }
    }

    #[test]
    fn a_continuing_cursor_must_hold_the_key_its_list_sorts_by() {
        let by_time = Cursor {
            ordering: ORDERS_NEWEST,
            key: SortKey::Time(DateTime::from_timestamp_millis(1_764_000_000_123).unwrap()),
            id: "0123456789abcdef01234567".into(),
        };
        let forged = Cursor {
            key: SortKey::Cents(5),
            ..by_time.clone()
        };
        let read = |cursor: &Cursor| {
            Cursor::continuing(Some(&cursor.encode()), ORDERS_NEWEST, KeyKind::Time)
        };
        assert_eq!(read(&by_time), Ok(Some(by_time.clone())));
        assert!(read(&forged).is_err());
        assert_eq!(
            Cursor::continuing(None, ORDERS_NEWEST, KeyKind::Time),
            Ok(None)
        );
    }

    #[test]
    fn page_sizes_are_clamped() {
        assert_eq!(page_size(None), 20);
        assert_eq!(page_size(Some(0)), 1);
        assert_eq!(page_size(Some(-5)), 1);
        assert_eq!(page_size(Some(50)), 50);
        assert_eq!(page_size(Some(1000)), 100);
    }

    #[test]
    fn a_page_knows_whether_more_follow() {
        let cursor_of = |n: &i32| Cursor {
            ordering: "test",
            key: SortKey::Cents(i64::from(*n)),
            id: "0123456789abcdef01234567".into(),
        };
        let full = Page::from_rows(vec![1, 2, 3], 2, cursor_of);
        assert_eq!(full.items, [1, 2]);
        assert!(full.next_cursor.is_some());
        let last = Page::from_rows(vec![1, 2], 2, cursor_of);
        assert_eq!(last.next_cursor, None);
    }
}
