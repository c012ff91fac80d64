//! The catalogue: products, their names, prices, stock and descriptions.

use chrono::{DateTime, Utc};

use super::{Cursor, KeyKind, ProductId, SortKey, ValidationError};
use crate::error::{AppError, FieldErrors};

/// A product name: 1 to 200 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductName(String);

impl ProductName {
    /// # Errors
    /// A [`ValidationError`] when empty, too long or containing control characters.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let name = raw.trim();
        if name.is_empty() {
            Err(ValidationError("is required"))
        } else if name.chars().count() > 200 {
            Err(ValidationError("must be at most 200 characters"))
        } else if name.chars().any(char::is_control) {
            Err(ValidationError("must not contain control characters"))
        } else {
            Ok(ProductName(name.to_owned()))
        }
    }

    /// The trimmed name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The lower-cased name: what sorting by name compares.
    pub fn sort_key(&self) -> String {
        self.0.to_lowercase()
    }

    /// The lower-cased words of the name: what search matches, by prefix.
    pub fn search_terms(&self) -> Vec<String> {
        let mut terms = words(&self.0);
        terms.sort();
        terms.dedup();
        terms
    }
}

/// Lower-cased alphanumeric words of a text, in order.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// What a catalogue search asks for: every word must begin some word of the
/// product's name, case-insensitively ("red sh" finds "Red Shoes").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchTerms(Vec<String>);

impl SearchTerms {
    /// At most this many words are used; more would only slow the query.
    pub const MAX_WORDS: usize = 5;

    /// `None` for a blank search (no filter).
    ///
    /// # Errors
    /// A [`ValidationError`] for a search longer than 200 characters.
    pub fn parse(raw: &str) -> Result<Option<Self>, ValidationError> {
        if raw.chars().count() > 200 {
            return Err(ValidationError("must be at most 200 characters"));
        }
        let mut terms = words(raw);
        terms.truncate(Self::MAX_WORDS);
        Ok((!terms.is_empty()).then_some(SearchTerms(terms)))
    }

    /// The lower-cased prefixes.
    pub fn prefixes(&self) -> &[String] {
        &self.0
    }
}

/// An amount of money in minor units (cents), never negative: unit prices
/// and order totals.
///
/// Clients send and read prices as decimal numbers (`19.99`), as the original
/// API did; inside, money is an integer so that sums and totals are exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Price(i64);

impl Price {
    /// The largest accepted price: 1,000,000,000.00.
    pub const MAX_CENTS: i64 = 100_000_000_000;

    /// From a decimal amount with at most two decimal places.
    ///
    /// # Errors
    /// A [`ValidationError`] for NaN, infinities, negative amounts, amounts
    /// above the maximum, and sub-cent precision.
    pub fn from_decimal(amount: f64) -> Result<Self, ValidationError> {
        if !amount.is_finite() {
            return Err(ValidationError("must be a finite number"));
        }
        if amount < 0.0 {
            return Err(ValidationError("must not be negative"));
        }
        let cents = (amount * 100.0).round();
        if cents > Self::MAX_CENTS as f64 {
            return Err(ValidationError("must be at most 1000000000"));
        }
        if (amount * 100.0 - cents).abs() > 1e-6 {
            return Err(ValidationError("must have at most two decimal places"));
        }
        Ok(Price(cents as i64))
    }

    /// From stored minor units. Only sign is checked: an order total may
    /// exceed the largest unit price (price × quantity).
    ///
    /// # Errors
    /// A [`ValidationError`] for negative values.
    pub fn from_cents(cents: i64) -> Result<Self, ValidationError> {
        if cents >= 0 {
            Ok(Price(cents))
        } else {
            Err(ValidationError("must not be negative"))
        }
    }

    /// Minor units.
    pub fn cents(self) -> i64 {
        self.0
    }

    /// The decimal amount clients see.
    pub fn as_decimal(self) -> f64 {
        self.0 as f64 / 100.0
    }
}

/// Units in stock: a non-negative integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stock(u32);

impl Stock {
    /// The largest accepted stock.
    pub const MAX: i64 = 1_000_000_000;
    /// A new product's stock when the client gives none (every door).
    pub const INITIAL: i64 = 0;

    /// # Errors
    /// A [`ValidationError`] for negative values or values above [`Stock::MAX`].
    pub fn parse(units: i64) -> Result<Self, ValidationError> {
        if (0..=Self::MAX).contains(&units) {
            Ok(Stock(units as u32))
        } else if units < 0 {
            Err(ValidationError("must not be negative"))
        } else {
            Err(ValidationError("must be at most 1000000000"))
        }
    }

    /// The number of units.
    pub fn units(self) -> i64 {
        i64::from(self.0)
    }
}

/// A product description: up to 5,000 characters (may be empty).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Description(String);

impl Description {
    /// # Errors
    /// A [`ValidationError`] above 5,000 characters.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        if raw.chars().count() > 5000 {
            Err(ValidationError("must be at most 5000 characters"))
        } else {
            Ok(Description(raw.trim().to_owned()))
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A product in the catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    /// Stable id.
    pub id: ProductId,
    /// Display name.
    pub name: ProductName,
    /// Unit price.
    pub price: Price,
    /// Units available to order.
    pub stock: Stock,
    /// Free text.
    pub description: Description,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// When it last changed (including stock taken by orders).
    pub updated_at: DateTime<Utc>,
}

/// A product about to be added: every field valid.
#[derive(Debug, Clone)]
pub struct NewProduct {
    /// Display name.
    pub name: ProductName,
    /// Unit price.
    pub price: Price,
    /// Initial stock.
    pub stock: Stock,
    /// Free text.
    pub description: Description,
}

/// A partial update: `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProductPatch {
    /// New name.
    pub name: Option<ProductName>,
    /// New price.
    pub price: Option<Price>,
    /// New stock.
    pub stock: Option<Stock>,
    /// New description.
    pub description: Option<Description>,
}

impl NewProduct {
    /// Parses the raw fields of a new product (`name`, `price`, `stock`,
    /// `description`), reporting every bad one at once. Stock defaults to
    /// [`Stock::INITIAL`] and the description to empty.
    ///
    /// # Errors
    /// `BAD_USER_INPUT` with per-field details.
    pub fn parse(
        name: &str,
        price: f64,
        stock: Option<i64>,
        description: Option<&str>,
    ) -> Result<Self, AppError> {
        let mut problems = FieldErrors::new();
        let name = ProductName::parse(name).map_err(|e| problems.insert("name".into(), e.0.into()));
        let price =
            Price::from_decimal(price).map_err(|e| problems.insert("price".into(), e.0.into()));
        let stock = Stock::parse(stock.unwrap_or(Stock::INITIAL))
            .map_err(|e| problems.insert("stock".into(), e.0.into()));
        let description = Description::parse(description.unwrap_or(""))
            .map_err(|e| problems.insert("description".into(), e.0.into()));
        match (name, price, stock, description) {
            (Ok(name), Ok(price), Ok(stock), Ok(description)) => Ok(NewProduct {
                name,
                price,
                stock,
                description,
            }),
            _ => Err(AppError::invalid_fields(problems)),
        }
    }
}

impl ProductPatch {
    /// Parses the raw fields of a partial update; absent fields stay as they
    /// are, but at least one must be given.
    ///
    /// # Errors
    /// `BAD_USER_INPUT` with per-field details.
    pub fn parse(
        name: Option<&str>,
        price: Option<f64>,
        stock: Option<i64>,
        description: Option<&str>,
    ) -> Result<Self, AppError> {
        let mut problems = FieldErrors::new();
        let mut patch = ProductPatch::default();
        match name.map(ProductName::parse).transpose() {
            Ok(name) => patch.name = name,
            Err(e) => {
                problems.insert("name".into(), e.0.into());
            }
        }
        match price.map(Price::from_decimal).transpose() {
            Ok(price) => patch.price = price,
            Err(e) => {
                problems.insert("price".into(), e.0.into());
            }
        }
        match stock.map(Stock::parse).transpose() {
            Ok(stock) => patch.stock = stock,
            Err(e) => {
                problems.insert("stock".into(), e.0.into());
            }
        }
        match description.map(Description::parse).transpose() {
            Ok(description) => patch.description = description,
            Err(e) => {
                problems.insert("description".into(), e.0.into());
            }
        }
        if !problems.is_empty() {
            return Err(AppError::invalid_fields(problems));
        }
        if patch.is_empty() {
            return Err(AppError::invalid(
                "input",
                "give at least one of name, price, stock, description",
            ));
        }
        Ok(patch)
    }

    /// True when the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.price.is_none()
            && self.stock.is_none()
            && self.description.is_none()
    }
}

/// The orders a catalogue list can be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProductSort {
    /// Most recently added first (the default).
    #[default]
    Newest,
    /// Cheapest first.
    PriceAsc,
    /// Dearest first.
    PriceDesc,
    /// Alphabetical, case-insensitive.
    NameAsc,
}

impl ProductSort {
    /// The name clients use (`sort=price_asc`), also the cursor's ordering tag.
    pub fn as_str(self) -> &'static str {
        match self {
            ProductSort::Newest => "newest",
            ProductSort::PriceAsc => "price_asc",
            ProductSort::PriceDesc => "price_desc",
            ProductSort::NameAsc => "name_asc",
        }
    }

    /// Accepts the names above and the common short forms `price`, `-price`,
    /// `name`, `createdAt` and `-createdAt`.
    ///
    /// # Errors
    /// A [`ValidationError`] for anything else.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        match raw.trim() {
            "newest" | "-createdAt" | "createdAt" | "" => Ok(ProductSort::Newest),
            "price_asc" | "price" => Ok(ProductSort::PriceAsc),
            "price_desc" | "-price" => Ok(ProductSort::PriceDesc),
            "name_asc" | "name" => Ok(ProductSort::NameAsc),
            _ => Err(ValidationError(
                "must be newest, price_asc, price_desc or name_asc",
            )),
        }
    }

    /// The kind of key this ordering's cursors hold.
    pub fn key_kind(self) -> KeyKind {
        match self {
            ProductSort::Newest => KeyKind::Time,
            ProductSort::PriceAsc | ProductSort::PriceDesc => KeyKind::Cents,
            ProductSort::NameAsc => KeyKind::Text,
        }
    }

    /// Where `product` stands in this ordering: the cursor after it.
    pub fn cursor_after(self, product: &Product) -> Cursor {
        let key = match self {
            ProductSort::Newest => SortKey::Time(product.created_at),
            ProductSort::PriceAsc | ProductSort::PriceDesc => SortKey::Cents(product.price.cents()),
            ProductSort::NameAsc => SortKey::Text(product.name.sort_key()),
        };
        Cursor {
            ordering: self.as_str(),
            key,
            id: product.id.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_exact_cents() {
        assert_eq!(Price::from_decimal(19.99).unwrap().cents(), 1999);
        assert_eq!(Price::from_decimal(0.0).unwrap().cents(), 0);
        assert_eq!(Price::from_decimal(0.1 + 0.2).unwrap().cents(), 30);
        assert_eq!(
            Price::from_decimal(1_000_000_000.0).unwrap().cents(),
            Price::MAX_CENTS
        );
        assert_eq!(Price::from_cents(1999).unwrap().as_decimal(), 19.99);
    }

    #[test]
    fn bad_prices_are_refused() {
        for amount in [
            f64::NAN,
            f64::INFINITY,
            -0.01,
            -1.0,
            1e10,
            1e300,
            1.001,
            19.999,
        ] {
            assert!(Price::from_decimal(amount).is_err(), "{amount} accepted");
        }
        assert!(Price::from_cents(-1).is_err());
    }

    #[test]
    fn stock_is_a_bounded_non_negative_count() {
        assert!(Stock::parse(0).is_ok());
        assert!(Stock::parse(Stock::MAX).is_ok());
        assert!(Stock::parse(-1).is_err());
        assert!(Stock::parse(Stock::MAX + 1).is_err());
    }

    #[test]
    fn names_and_descriptions_are_bounded() {
        assert!(ProductName::parse("  ").is_err());
        assert!(ProductName::parse(&"n".repeat(200)).is_ok());
        assert!(ProductName::parse(&"n".repeat(201)).is_err());
        assert!(Description::parse(&"d".repeat(5000)).is_ok());
        assert!(Description::parse(&"d".repeat(5001)).is_err());
    }

    #[test]
    fn search_matches_word_prefixes_case_insensitively() {
        let name = ProductName::parse("Red Running-Shoes 2").unwrap();
        assert_eq!(name.search_terms(), ["2", "red", "running", "shoes"]);
        let search = SearchTerms::parse("  RED sh ").unwrap().unwrap();
        assert_eq!(search.prefixes(), ["red", "sh"]);
        assert_eq!(SearchTerms::parse(" -- ").unwrap(), None);
    }

    #[test]
    fn an_empty_patch_is_refused() {
        assert!(ProductPatch::parse(None, None, None, None).is_err());
        assert!(ProductPatch::parse(None, Some(2.5), None, None).is_ok());
    }

    #[test]
    fn new_products_default_their_stock_and_description() {
        let product = NewProduct::parse("Lamp", 12.5, None, None).unwrap();
        assert_eq!(product.stock.units(), 0);
        assert_eq!(product.description.as_str(), "");
    }
}
