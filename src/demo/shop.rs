//! The demo shop: its catalogue, customers and history, and the seeding
//! that puts them in an empty store through the services.
//!
//! Everything here is a call a client could make: the warehouse admin adds
//! the products, customers place orders, the warehouse moves them along,
//! customers and the admin chat. So the seeded store holds exactly what
//! real traffic would have left (and the event log has the events). One
//! consequence: every seeded order is dated at seeding time, since only the
//! store could back-date one; the simulation spreads later ones out.

use crate::domain::{NewProduct, OrderStatus, Outgoing, Product, ProductListing, Quantity};
use crate::error::AppError;
use crate::services::Services;

use super::Cast;

/// A product of the catalogue: name, price, stock, description (the
/// category first, as the dashboard has no category field).
pub(crate) const CATALOGUE: [(&str, f64, i64, &str); 20] = [
    (
        "Cast Iron Skillet 26 cm",
        39.9,
        24,
        "Kitchen. Pre-seasoned, oven-safe to 260 °C.",
    ),
    (
        "Pour-Over Coffee Kettle",
        54.0,
        12,
        "Kitchen. Gooseneck spout, 1 litre, stovetop and induction.",
    ),
    (
        "Chef's Knife 20 cm",
        79.0,
        9,
        "Kitchen. Forged stainless steel, walnut handle.",
    ),
    (
        "Bamboo Cutting Board",
        24.5,
        40,
        "Kitchen. Reversible, with a juice groove.",
    ),
    (
        "Stoneware Mug Set (4)",
        32.0,
        4,
        "Kitchen. Four 350 ml mugs, dishwasher-safe.",
    ),
    (
        "Walnut Desk Organizer",
        45.0,
        15,
        "Desk. Three trays and a phone stand.",
    ),
    (
        "Mechanical Keyboard TKL",
        129.0,
        11,
        "Desk. Hot-swap switches, USB-C, white backlight.",
    ),
    (
        "LED Desk Lamp",
        59.9,
        18,
        "Desk. Dimmable, warm to cool light, USB charging port.",
    ),
    ("Wool Felt Desk Mat", 34.0, 3, "Desk. 90 × 40 cm, charcoal."),
    (
        "Dotted Notebook A5",
        12.5,
        60,
        "Desk. 160 pages, lay-flat binding.",
    ),
    (
        "Trail Running Shoes",
        119.0,
        14,
        "Outdoor. Grippy outsole, 6 mm drop.",
    ),
    (
        "Insulated Water Bottle 750 ml",
        29.9,
        35,
        "Outdoor. Cold for 24 hours, hot for 12.",
    ),
    (
        "Ultralight Rain Jacket",
        149.0,
        8,
        "Outdoor. 180 g, packs into its own pocket.",
    ),
    (
        "Camping Hammock",
        64.0,
        10,
        "Outdoor. Parachute nylon, straps included.",
    ),
    (
        "Headlamp 400 lm",
        39.0,
        22,
        "Outdoor. Rechargeable, red night mode.",
    ),
    (
        "Wireless Earbuds",
        89.0,
        20,
        "Audio. Noise cancelling, 8 h battery.",
    ),
    (
        "Mini Bluetooth Speaker",
        49.9,
        16,
        "Audio. Waterproof, 12 h battery.",
    ),
    (
        "Studio Headphones",
        159.0,
        7,
        "Audio. Closed-back, detachable cable.",
    ),
    (
        "Vinyl Cleaning Kit",
        27.5,
        13,
        "Audio. Brush, fluid and microfibre cloth.",
    ),
    (
        "USB Microphone",
        99.0,
        9,
        "Audio. Cardioid condenser, headphone output.",
    ),
];

/// The customers: display name and sign-in address.
pub(crate) const CUSTOMERS: [(&str, &str); 8] = [
    ("Maya Chen", "maya.chen@demo.local"),
    ("Lucas Silva", "lucas.silva@demo.local"),
    ("Amara Okafor", "amara.okafor@demo.local"),
    ("Jonas Weber", "jonas.weber@demo.local"),
    ("Priya Nair", "priya.nair@demo.local"),
    ("Tom Becker", "tom.becker@demo.local"),
    ("Sofia Rossi", "sofia.rossi@demo.local"),
    ("Kenji Sato", "kenji.sato@demo.local"),
];

/// The admin who adds products and moves orders, so the person watching
/// the dashboard sees a colleague at work rather than their own account.
pub(crate) const WAREHOUSE: (&str, &str) = ("Sam Rivera (warehouse)", "warehouse@demo.local");

/// Past orders: customer, product (indexes), quantity, where it is now.
const PAST_ORDERS: [(usize, usize, i64, OrderStatus); 14] = [
    (0, 0, 1, OrderStatus::Delivered),
    (1, 6, 1, OrderStatus::Delivered),
    (2, 12, 1, OrderStatus::Delivered),
    (3, 17, 1, OrderStatus::Delivered),
    (4, 3, 2, OrderStatus::Delivered),
    (5, 15, 1, OrderStatus::Shipped),
    (6, 9, 3, OrderStatus::Shipped),
    (7, 10, 1, OrderStatus::Shipped),
    (0, 1, 1, OrderStatus::Processing),
    (1, 7, 1, OrderStatus::Processing),
    (2, 11, 2, OrderStatus::Processing),
    (4, 19, 1, OrderStatus::Pending),
    (6, 16, 1, OrderStatus::Pending),
    (7, 14, 2, OrderStatus::Pending),
];

/// A seeded conversation with the admin.
struct Thread {
    /// The customer (an index into [`CUSTOMERS`]).
    customer: usize,
    /// The lines in order, each `true` when the customer says it.
    lines: &'static [(bool, &'static str)],
    /// Whether the admin has read the customer's lines (unread ones show a
    /// badge in the dashboard).
    read: bool,
}

/// Conversations with the admin.
const CONVERSATIONS: [Thread; 4] = [
    Thread {
        customer: 0,
        lines: &[
            (true, "Hi! Do you ship the cast iron skillet abroad?"),
            (false, "Hi Maya, yes: 5 to 7 working days within Europe."),
            (true, "Perfect, ordering now. Thanks!"),
        ],
        read: true,
    },
    Thread {
        customer: 1,
        lines: &[
            (true, "My keyboard order still says processing, any news?"),
            (
                false,
                "It leaves the warehouse today; you will hear when it ships.",
            ),
            (true, "Great, thank you."),
        ],
        read: true,
    },
    Thread {
        customer: 2,
        lines: &[(true, "Is the rain jacket true to size? I am usually an M.")],
        read: false,
    },
    Thread {
        customer: 3,
        lines: &[
            (true, "The studio headphones arrived, they sound great!"),
            (true, "Could I get an invoice for my company?"),
        ],
        read: false,
    },
];

/// Fills an empty store: products, past orders in every status, and a few
/// conversations with the admin.
///
/// # Errors
/// The first service error (the store is down, or a product, order or
/// message was refused).
pub(crate) async fn stock(services: &Services, cast: &mut Cast) -> Result<(), AppError> {
    let warehouse = cast.warehouse.caller(services).await?.principal;
    let mut products = Vec::with_capacity(CATALOGUE.len());
    for (name, price, stock, description) in CATALOGUE {
        let new = NewProduct::parse(name, price, Some(stock), Some(description))?;
        products.push(services.catalog.create(&warehouse, new, None).await?.id);
    }
    for (customer, product, quantity, status) in PAST_ORDERS {
        let buyer = cast.customers[customer].caller(services).await?.principal;
        let quantity = Quantity::parse(quantity).map_err(|e| e.on("quantity"))?;
        let order = services
            .orders
            .place(&buyer, &products[product], quantity, None)
            .await?;
        if status != OrderStatus::Pending {
            services
                .orders
                .update_status(&warehouse, &order.id, status)
                .await?;
        }
    }
    let admin = cast.admin.caller(services).await?.principal;
    for thread in CONVERSATIONS {
        let customer = cast.customers[thread.customer]
            .caller(services)
            .await?
            .principal;
        for (from_customer, text) in thread.lines {
            let (from, to) = if *from_customer {
                (&customer, &admin)
            } else {
                (&admin, &customer)
            };
            let outgoing = Outgoing::parse(to.user_id.as_str(), text)?;
            services.chat.send(from, outgoing, None, None).await?;
        }
        services.chat.mark_seen(&customer, &admin.user_id).await?;
        if thread.read {
            services.chat.mark_seen(&admin, &customer.user_id).await?;
        }
    }
    Ok(())
}

/// The catalogue as anyone may list it (the first 100 products).
///
/// # Errors
/// `UNAVAILABLE` when the store is down.
pub(crate) async fn products(services: &Services) -> Result<Vec<Product>, AppError> {
    let listing = ProductListing {
        first: 100,
        ..ProductListing::default()
    };
    Ok(services.catalog.list(listing).await?.items)
}

/// Whether the catalogue is empty (anyone may look).
///
/// # Errors
/// `UNAVAILABLE` when the store is down.
pub(crate) async fn is_empty(services: &Services) -> Result<bool, AppError> {
    let listing = ProductListing {
        first: 1,
        ..ProductListing::default()
    };
    Ok(services.catalog.list(listing).await?.items.is_empty())
}
