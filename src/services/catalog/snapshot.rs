//! The catalogue snapshot: the pages of the catalogue clients ask for most,
//! answered from memory, and each page's serialisation made once.
//!
//! A catalogue read is one store query today, and on SQLite every query
//! hops to sqlx's worker thread and back: most of what a read costs is that
//! hop (context switches), not the query. The catalogue changes rarely and is
//! read often, so the snapshot keeps the pages it served, keyed by the whole
//! valid listing ([`ListingKey`]: filters, sort, page size, cursor), and
//! serves them again until something changes the catalogue.
//!
//! # Staying current
//!
//! One counter, the **version**, names the state of the catalogue the kept
//! pages show. It moves, and every kept page is dropped, when:
//! - this process's services wrote something that changes a listing (a
//!   product added, changed or removed, an order that took stock): they call
//!   [`Snapshot::invalidate`] right after the store call returns, whatever
//!   it returned (an error may still have written), and before the write is
//!   acknowledged or announced;
//! - the hub carries an event that changes a listing
//!   ([`ProductAdded`](Event::ProductAdded), [`ProductChanged`](Event::ProductChanged),
//!   [`ProductRemoved`](Event::ProductRemoved), [`OrderPlaced`](Event::OrderPlaced)),
//!   whoever published it: the snapshot is a hub [`Observer`], called
//!   synchronously when the event enters the hub and before any subscriber
//!   can read it. So a client that hears of a change and reads the
//!   catalogue again never gets the page from before the change, and the
//!   snapshot cannot lag behind the hub (it has no channel to overflow).
//!
//! A page is filled lazily, on a miss, from the store. The miss hands out a
//! [`Ticket`] holding the version it saw; the page read with it is kept only
//! if the version is still the same when the read returns
//! ([`Snapshot::keep`], one lock for the check and the insert). A read that
//! began before a write and returned after it may hold either state of the
//! catalogue: it answers its own request (which raced the write) but is never
//! kept, so no request that starts after the write is acknowledged sees it.
//!
//! # Other processes
//!
//! Several processes share a catalogue only on MongoDB (the SQLite store
//! belongs to one process). A write made by another process reaches this
//! one's hub like any event of the event log: every product change and every
//! order is logged with a position, and this process's event log publishes
//! what others wrote, in position order, as soon as the backplane (Redis,
//! `REDIS_URL`) brings it, or when it reads the log from the store (every
//! 500 ms, which it does with or without Redis). Either way the event enters
//! this process's hub, and the snapshot moves on before anyone here hears of
//! it. Without `REDIS_URL`, several processes on one MongoDB therefore serve
//! a write made elsewhere within about half a second (the event log's store
//! read), instead of at once.
//!
//! What could still be missed is an event that never reaches any log or
//! backplane: a process that dies between its product write and the log
//! append, a log append that failed (published live only, and lost when
//! there is no Redis), or positions the event log gives up on. For those, a
//! kept page is also only served for [`MAX_AGE`] after it was read; then it
//! is read again. That bounds how long a page can be stale in the worst
//! case, at the cost of one store query per listing and [`MAX_AGE`].
//!
//! # Memory
//!
//! At most [`CAPACITY`] pages are kept; a new one replaces the least
//! recently used, so a client asking for ever new searches or cursors
//! cannot push out the pages everyone reads for long. A page holds at most
//! 100 products (the largest page size) and its serialisation: a page of
//! 20 products of the benchmark's kind is about 6 KB, and the worst case
//! (100 products with 5,000-character descriptions, kept twice) about 1 MB,
//! so 32 MB for the whole snapshot.
//!
//! A miss is not coalesced: after a change, requests in flight each read
//! the store once, as before the snapshot, until one of them keeps a page.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use crate::domain::{Page, Product, ProductListing};
use crate::error::AppError;
use crate::hub::{Event, Observer, Published};
use crate::services::Created;

/// How many listings are kept at most.
pub const CAPACITY: usize = 32;

/// How long a kept page is served at most, in case an event that changed
/// the catalogue never reached this process (see the module's doc).
pub const MAX_AGE: Duration = Duration::from_secs(2);

/// Which listing a page answers: a [`ProductListing`] in a form that can be
/// compared and hashed (the cursor in its canonical encoding).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListingKey {
    search: Option<Vec<String>>,
    min_cents: Option<i64>,
    max_cents: Option<i64>,
    sort: &'static str,
    first: usize,
    after: Option<String>,
}

impl ListingKey {
    /// The key of a valid listing: two requests that ask for the same page
    /// in different words (a cursor with spaces around it, search words in
    /// other case) share it.
    pub fn of(listing: &ProductListing) -> Self {
        ListingKey {
            search: listing
                .search
                .as_ref()
                .map(|terms| terms.prefixes().to_vec()),
            min_cents: listing.min_price.map(|price| price.cents()),
            max_cents: listing.max_price.map(|price| price.cents()),
            sort: listing.sort.as_str(),
            first: listing.first,
            after: listing.after.as_ref().map(|cursor| cursor.encode()),
        }
    }
}

/// One page of the catalogue as the snapshot keeps it: the page, and the
/// one serialisation a door makes of it.
#[derive(Debug)]
pub struct Listed {
    page: Page<Product>,
    read_at: Instant,
    rendered: OnceLock<Bytes>,
}

impl Listed {
    fn new(page: Page<Product>) -> Self {
        Listed {
            page,
            read_at: Instant::now(),
            rendered: OnceLock::new(),
        }
    }

    /// The page.
    pub fn page(&self) -> &Page<Product> {
        &self.page
    }

    /// The page serialised by `render` the first time it is asked for, the
    /// same bytes (shared, not copied) every time after: one serialisation
    /// per page and version. The REST door keeps its JSON envelope here;
    /// a second door would need a place of its own.
    pub fn rendered(&self, render: impl FnOnce(&Page<Product>) -> Bytes) -> Bytes {
        self.rendered.get_or_init(|| render(&self.page)).clone()
    }
}

/// What a miss hands out: the version the page must still be current at
/// when it is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    version: u64,
}

/// The kept pages of the catalogue. Cheap to clone (one shared state).
#[derive(Clone)]
pub struct Snapshot {
    inner: Arc<Mutex<State>>,
}

struct State {
    version: u64,
    /// Counts uses, to find the least recently used page.
    clock: u64,
    pages: HashMap<ListingKey, Kept>,
}

struct Kept {
    listed: Arc<Listed>,
    used: u64,
}

impl Default for Snapshot {
    fn default() -> Self {
        Snapshot::new()
    }
}

impl Snapshot {
    /// An empty snapshot.
    pub fn new() -> Self {
        Snapshot {
            inner: Arc::new(Mutex::new(State {
                version: 0,
                clock: 0,
                pages: HashMap::new(),
            })),
        }
    }

    /// The kept page of `key`, or, on a miss (never read, dropped, or older
    /// than [`MAX_AGE`]), the ticket to [`keep`](Self::keep) the page read
    /// from the store with.
    pub fn get(&self, key: &ListingKey) -> Result<Arc<Listed>, Ticket> {
        let mut state = self.state();
        state.clock += 1;
        let clock = state.clock;
        let ticket = Ticket {
            version: state.version,
        };
        match state.pages.get_mut(key) {
            Some(kept) if kept.listed.read_at.elapsed() <= MAX_AGE => {
                kept.used = clock;
                Ok(kept.listed.clone())
            }
            Some(_) => {
                state.pages.remove(key);
                Err(ticket)
            }
            None => Err(ticket),
        }
    }

    /// Keeps a page read from the store after the miss that gave `ticket`,
    /// unless the catalogue changed meanwhile (then it is only returned:
    /// it answers the request that read it, and no later one).
    pub fn keep(&self, key: ListingKey, ticket: Ticket, page: Page<Product>) -> Arc<Listed> {
        let listed = Arc::new(Listed::new(page));
        let mut state = self.state();
        if state.version != ticket.version {
            return listed;
        }
        if state.pages.len() >= CAPACITY && !state.pages.contains_key(&key) {
            let oldest = state
                .pages
                .iter()
                .min_by_key(|(_, kept)| kept.used)
                .map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                state.pages.remove(&oldest);
            }
        }
        state.clock += 1;
        let used = state.clock;
        state.pages.insert(
            key,
            Kept {
                listed: listed.clone(),
                used,
            },
        );
        listed
    }

    /// The catalogue changed, or may have: a new version, and no page of
    /// the old one is served again.
    pub fn invalidate(&self) {
        let mut state = self.state();
        state.version += 1;
        state.pages.clear();
    }

    /// After an idempotent creating write that may change listings (a
    /// product added, an order that took stock): invalidates unless the
    /// answer was an earlier request's (nothing written now). An error may
    /// come after the write, so it invalidates too.
    pub fn invalidate_after<T>(&self, created: &Result<Created<T>, AppError>) {
        if !matches!(created, Ok(Created::Earlier(_))) {
            self.invalidate();
        }
    }

    /// How many pages are kept (for tests).
    pub fn len(&self) -> usize {
        self.state().pages.len()
    }

    /// Whether no page is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Only short, non-panicking sections hold the lock; a poisoned one
        // still holds a consistent state.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Whether an event changes what a catalogue listing shows.
fn changes_listings(event: &Event) -> bool {
    match event {
        Event::ProductAdded(_)
        | Event::ProductChanged(_)
        | Event::ProductRemoved(_)
        // Placing an order takes stock (and touches `updatedAt`).
        | Event::OrderPlaced(_) => true,
        // A status move leaves the product as it is (no stock comes back).
        Event::OrderStatusChanged(_)
        | Event::RoleChanged { .. }
        | Event::SignedOut { .. }
        | Event::Deactivated { .. }
        | Event::MessageSent { .. }
        | Event::MessagesSeen { .. }
        | Event::UserTyping { .. }
        | Event::PresenceChanged { .. } => false,
    }
}

impl Observer for Snapshot {
    /// Every event the hub carries, from this process or another: one that
    /// changes a listing moves the version.
    fn observe(&self, published: &Published) {
        if changes_listings(&published.event) {
            self.invalidate();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{NewProduct, ProductId, ProductListing};

    fn listing(first: i64, sort: Option<&str>) -> ProductListing {
        ProductListing::parse(None, None, None, sort, Some(first), None).unwrap()
    }

    fn product(name: &str) -> Product {
        let new = NewProduct::parse(name, 10.0, Some(3), None).unwrap();
        let at = crate::store::now();
        Product {
            id: ProductId::generate(),
            name: new.name,
            price: new.price,
            stock: new.stock,
            description: new.description,
            created_at: at,
            updated_at: at,
        }
    }

    fn page(names: &[&str]) -> Page<Product> {
        Page {
            items: names.iter().map(|name| product(name)).collect(),
            next_cursor: None,
        }
    }

    fn names(listed: &Listed) -> Vec<String> {
        listed
            .page()
            .items
            .iter()
            .map(|product| product.name.as_str().to_owned())
            .collect()
    }

    #[test]
    fn a_kept_page_is_served_again_with_its_one_serialisation() {
        let snapshot = Snapshot::new();
        let key = ListingKey::of(&listing(20, None));

        let ticket = snapshot.get(&key).expect_err("nothing is kept yet");
        snapshot.keep(key.clone(), ticket, page(&["Lamp"]));

        let hit = snapshot.get(&key).expect("kept");
        assert_eq!(names(&hit), ["Lamp"]);
        let mut renders = 0;
        let first = hit.rendered(|_| {
            renders += 1;
            Bytes::from_static(b"[\"Lamp\"]")
        });
        let again = snapshot.get(&key).unwrap().rendered(|_| {
            renders += 1;
            Bytes::from_static(b"other")
        });
        assert_eq!(first, again);
        assert_eq!(renders, 1, "rendered once per page");
        // Another listing is another page.
        assert!(snapshot.get(&ListingKey::of(&listing(5, None))).is_err());
        assert!(
            snapshot
                .get(&ListingKey::of(&listing(20, Some("price_asc"))))
                .is_err()
        );
    }

    #[test]
    fn the_same_listing_asked_in_other_words_is_one_key() {
        let plain = ProductListing::parse(Some("Desk  LAMP"), Some(1.0), None, None, None, None);
        let other = ProductListing::parse(Some("desk lamp"), Some(1.00), None, None, None, None);
        assert_eq!(
            ListingKey::of(&plain.unwrap()),
            ListingKey::of(&other.unwrap())
        );
    }

    fn published(event: Event) -> Published {
        Published::new(
            None,
            crate::store::now(),
            crate::hub::Audience::Everyone,
            event,
        )
    }

    fn order_of(product: &Product) -> crate::domain::Order {
        let at = crate::store::now();
        crate::domain::Order {
            id: crate::domain::OrderId::generate(),
            user_id: crate::domain::UserId::generate(),
            product_id: product.id.clone(),
            quantity: crate::domain::Quantity::parse(1).unwrap(),
            unit_price: product.price,
            total: product.price,
            status: crate::domain::OrderStatus::Pending,
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn every_event_that_changes_a_listing_drops_the_kept_pages_and_no_other_does() {
        let lamp = product("Lamp");
        let changing = [
            Event::ProductAdded(lamp.clone()),
            Event::ProductChanged(lamp.clone()),
            Event::ProductRemoved(lamp.id.clone()),
            Event::OrderPlaced(order_of(&lamp)),
        ];
        let other = [
            Event::OrderStatusChanged(order_of(&lamp)),
            Event::SignedOut {
                user_id: crate::domain::UserId::generate(),
            },
        ];
        let key = ListingKey::of(&listing(20, None));
        for event in changing {
            let snapshot = Snapshot::new();
            let ticket = snapshot.get(&key).unwrap_err();
            snapshot.keep(key.clone(), ticket, page(&["Lamp"]));
            let kind = event.kind();

            snapshot.observe(&published(event));

            assert!(snapshot.get(&key).is_err(), "{kind} drops the page");
        }
        for event in other {
            let snapshot = Snapshot::new();
            let ticket = snapshot.get(&key).unwrap_err();
            snapshot.keep(key.clone(), ticket, page(&["Lamp"]));
            let kind = event.kind();

            snapshot.observe(&published(event));

            assert!(snapshot.get(&key).is_ok(), "{kind} keeps the page");
        }
    }

    #[test]
    fn a_page_read_before_a_write_and_returned_after_it_is_not_kept() {
        let snapshot = Snapshot::new();
        let key = ListingKey::of(&listing(20, None));

        // A read misses and goes to the store; the store answers with the
        // catalogue as it was, but a write lands before the answer is kept.
        let ticket = snapshot.get(&key).unwrap_err();
        snapshot.invalidate();
        let answered = snapshot.keep(key.clone(), ticket, page(&["Old lamp"]));

        // The racing request gets its answer; the next one reads again.
        assert_eq!(names(&answered), ["Old lamp"]);
        let next = snapshot.get(&key).expect_err("the old page was not kept");
        snapshot.keep(key.clone(), next, page(&["New lamp"]));
        assert_eq!(names(&snapshot.get(&key).unwrap()), ["New lamp"]);
    }

    #[test]
    fn a_write_drops_what_was_kept_before_it() {
        let snapshot = Snapshot::new();
        let key = ListingKey::of(&listing(20, None));
        let ticket = snapshot.get(&key).unwrap_err();
        snapshot.keep(key.clone(), ticket, page(&["Old lamp"]));

        snapshot.invalidate();

        assert!(snapshot.get(&key).is_err());
        assert!(snapshot.is_empty());
    }

    #[test]
    fn at_most_capacity_pages_are_kept_and_the_least_recently_used_goes() {
        let snapshot = Snapshot::new();
        let keys: Vec<ListingKey> = (1..=CAPACITY as i64 + 1)
            .map(|first| ListingKey::of(&listing(first, None)))
            .collect();
        for key in &keys[..CAPACITY] {
            let ticket = snapshot.get(key).unwrap_err();
            snapshot.keep(key.clone(), ticket, page(&["Lamp"]));
        }
        // The first page is read again: the second is now the oldest used.
        assert!(snapshot.get(&keys[0]).is_ok());

        let ticket = snapshot.get(&keys[CAPACITY]).unwrap_err();
        snapshot.keep(keys[CAPACITY].clone(), ticket, page(&["Lamp"]));

        assert_eq!(snapshot.len(), CAPACITY);
        assert!(snapshot.get(&keys[0]).is_ok(), "recently used, kept");
        assert!(snapshot.get(&keys[1]).is_err(), "least recently used, gone");
        assert!(snapshot.get(&keys[CAPACITY]).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_kept_page_is_read_again_after_the_max_age() {
        let snapshot = Snapshot::new();
        let key = ListingKey::of(&listing(20, None));
        let ticket = snapshot.get(&key).unwrap_err();
        snapshot.keep(key.clone(), ticket, page(&["Lamp"]));

        tokio::time::advance(MAX_AGE).await;
        assert!(snapshot.get(&key).is_ok(), "still served at the max age");

        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(snapshot.get(&key).is_err(), "read again after it");
        assert!(snapshot.is_empty(), "and the old page is dropped");
    }
}
