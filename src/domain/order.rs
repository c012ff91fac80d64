//! Orders and the order status flow.

use chrono::{DateTime, Utc};

use super::{Cursor, ORDERS_NEWEST, OrderId, Price, ProductId, SortKey, UserId, ValidationError};

/// Where an order is. Status only moves forward; skipping is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OrderStatus {
    /// Placed, not yet handled.
    Pending,
    /// Being prepared.
    Processing,
    /// Handed to the carrier.
    Shipped,
    /// Arrived.
    Delivered,
}

impl OrderStatus {
    /// Every status, in flow order.
    pub const ALL: [OrderStatus; 4] = [
        OrderStatus::Pending,
        OrderStatus::Processing,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
    ];

    /// The wire and storage spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Processing => "processing",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
        }
    }

    /// # Errors
    /// A [`ValidationError`] for anything but the four statuses (lower case).
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        OrderStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == raw)
            .ok_or(ValidationError(
                "must be pending, processing, shipped or delivered",
            ))
    }

    /// The rule of the flow: only forward, skipping allowed.
    pub fn can_move_to(self, next: OrderStatus) -> bool {
        next > self
    }

    /// The statuses an order may be in to move to `next`: what the store's
    /// conditional update checks, so two admins cannot race a status backwards.
    pub fn predecessors(next: OrderStatus) -> Vec<OrderStatus> {
        OrderStatus::ALL
            .into_iter()
            .filter(|status| status.can_move_to(next))
            .collect()
    }
}

/// How many units one order takes: 1 to 1,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity(u32);

impl Quantity {
    /// The most units one order may take.
    pub const MAX: i64 = 1000;
    /// Units ordered when the client names none (every door).
    pub const DEFAULT: i64 = 1;

    /// # Errors
    /// A [`ValidationError`] outside `1..=1000`.
    pub fn parse(units: i64) -> Result<Self, ValidationError> {
        if (1..=Self::MAX).contains(&units) {
            Ok(Quantity(units as u32))
        } else {
            Err(ValidationError("must be between 1 and 1000"))
        }
    }

    /// The number of units.
    pub fn units(self) -> i64 {
        i64::from(self.0)
    }
}

/// A stored order.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    /// Stable id.
    pub id: OrderId,
    /// Who placed it.
    pub user_id: UserId,
    /// What was ordered.
    pub product_id: ProductId,
    /// How many units.
    pub quantity: Quantity,
    /// Unit price when it was placed.
    pub unit_price: Price,
    /// `unit_price × quantity`, computed by the server.
    pub total: Price,
    /// Where it is in the flow.
    pub status: OrderStatus,
    /// When it was placed.
    pub created_at: DateTime<Utc>,
    /// When its status last changed.
    pub updated_at: DateTime<Utc>,
}

impl Order {
    /// Where it stands in the newest-first order lists.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            ordering: ORDERS_NEWEST,
            key: SortKey::Time(self.created_at),
            id: self.id.to_string(),
        }
    }
}

/// An order about to be placed; the store fills in price and total as it
/// takes the stock.
#[derive(Debug, Clone)]
pub struct NewOrder {
    /// Id chosen by the service.
    pub id: OrderId,
    /// Who places it.
    pub user_id: UserId,
    /// What is ordered.
    pub product_id: ProductId,
    /// How many units.
    pub quantity: Quantity,
    /// When.
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_only_moves_forward_and_may_skip() {
        use OrderStatus::*;
        assert!(Pending.can_move_to(Processing));
        assert!(Pending.can_move_to(Delivered));
        assert!(Shipped.can_move_to(Delivered));
        assert!(!Shipped.can_move_to(Processing));
        assert!(!Delivered.can_move_to(Delivered));
        assert!(!Processing.can_move_to(Pending));
        assert_eq!(OrderStatus::predecessors(Shipped), [Pending, Processing]);
        assert!(OrderStatus::predecessors(Pending).is_empty());
    }

    #[test]
    fn statuses_round_trip_and_unknown_ones_are_refused() {
        for status in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(status.as_str()), Ok(status));
        }
        for raw in ["", "PENDING", "cancelled", "shipped "] {
            assert!(OrderStatus::parse(raw).is_err(), "{raw:?}");
        }
    }

    #[test]
    fn quantities_are_bounded() {
        assert!(Quantity::parse(1).is_ok());
        assert!(Quantity::parse(1000).is_ok());
        assert!(Quantity::parse(0).is_err());
        assert!(Quantity::parse(-3).is_err());
        assert!(Quantity::parse(1001).is_err());
    }
}
