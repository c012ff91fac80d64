//! List requests, valid: what each list of the API takes (filters, a page
//! size, a cursor to continue from), parsed from the raw arguments every
//! door receives. Each reports every bad argument at once, under the
//! argument's own name (a door renames where its clients call it
//! otherwise), and checks its cursor against the list's ordering with
//! [`Cursor::continuing`].

use super::{
    CONVERSATIONS_NEWEST, Cursor, KeyKind, MESSAGES_NEWEST, ORDERS_NEWEST, OrderStatus, Price,
    ProductSort, SearchTerms, USERS_OLDEST, page_size,
};
use crate::error::{AppError, FieldErrors};

/// A catalogue list request, valid.
#[derive(Debug, Clone, Default)]
pub struct ProductListing {
    /// Word prefixes the name must match.
    pub search: Option<SearchTerms>,
    /// Lowest price, inclusive.
    pub min_price: Option<Price>,
    /// Highest price, inclusive.
    pub max_price: Option<Price>,
    /// The ordering.
    pub sort: ProductSort,
    /// Page size (clamped).
    pub first: usize,
    /// Continue after this cursor.
    pub after: Option<Cursor>,
}

impl ProductListing {
    /// Parses the raw list arguments every door receives, reporting every bad
    /// one at once (`search`, `minPrice`, `maxPrice`, `sort`, `after`).
    ///
    /// # Errors
    /// `BAD_USER_INPUT` with per-field details.
    pub fn parse(
        search: Option<&str>,
        min_price: Option<f64>,
        max_price: Option<f64>,
        sort: Option<&str>,
        first: Option<i64>,
        after: Option<&str>,
    ) -> Result<Self, AppError> {
        let mut problems = FieldErrors::new();
        let mut note = |field: &str, problem: &str| {
            problems.insert(field.to_owned(), problem.to_owned());
        };
        let search = match search.map(SearchTerms::parse).transpose() {
            Ok(terms) => terms.flatten(),
            Err(e) => {
                note("search", e.0);
                None
            }
        };
        let mut price =
            |field: &str, raw: Option<f64>| match raw.map(Price::from_decimal).transpose() {
                Ok(price) => price,
                Err(e) => {
                    note(field, e.0);
                    None
                }
            };
        let min_price = price("minPrice", min_price);
        let max_price = price("maxPrice", max_price);
        let sort = match sort.map(ProductSort::parse).transpose() {
            Ok(sort) => sort.unwrap_or_default(),
            Err(e) => {
                problems.insert("sort".into(), e.0.into());
                ProductSort::default()
            }
        };
        if let (Some(min), Some(max)) = (min_price, max_price)
            && min > max
        {
            problems.insert("minPrice".into(), "must not be above maxPrice".into());
        }
        let after = Cursor::continuing(after, sort.as_str(), sort.key_kind())
            .map_err(|e| problems.insert("after".into(), e.0.into()))
            .ok()
            .flatten();
        if !problems.is_empty() {
            return Err(AppError::invalid_fields(problems));
        }
        Ok(ProductListing {
            search,
            min_price,
            max_price,
            sort,
            first: page_size(first),
            after,
        })
    }
}

/// A page request on an order list, valid.
#[derive(Debug, Clone, Default)]
pub struct OrderListing {
    /// Only orders in this status.
    pub status: Option<OrderStatus>,
    /// Page size (clamped).
    pub first: usize,
    /// Continue after this cursor.
    pub after: Option<Cursor>,
}

impl OrderListing {
    /// Parses raw list arguments (`status`, `after`).
    ///
    /// # Errors
    /// `BAD_USER_INPUT` with per-field details.
    pub fn parse(
        status: Option<&str>,
        first: Option<i64>,
        after: Option<&str>,
    ) -> Result<Self, AppError> {
        let mut problems = FieldErrors::new();
        let status = status
            .map(OrderStatus::parse)
            .transpose()
            .map_err(|e| problems.insert("status".into(), e.0.into()))
            .ok()
            .flatten();
        let after = Cursor::continuing(after, ORDERS_NEWEST, KeyKind::Time)
            .map_err(|e| problems.insert("after".into(), e.0.into()))
            .ok()
            .flatten();
        if !problems.is_empty() {
            return Err(AppError::invalid_fields(problems));
        }
        Ok(OrderListing {
            status,
            first: page_size(first),
            after,
        })
    }
}

/// A page request on a message list, valid.
#[derive(Debug, Clone, Default)]
pub struct MessageListing {
    /// Page size (clamped).
    pub first: usize,
    /// Messages strictly older than this cursor.
    pub before: Option<Cursor>,
}

impl MessageListing {
    /// Parses raw page arguments (`before`).
    ///
    /// # Errors
    /// `BAD_USER_INPUT` naming `before`.
    pub fn parse(first: Option<i64>, before: Option<&str>) -> Result<Self, AppError> {
        let before = Cursor::continuing(before, MESSAGES_NEWEST, KeyKind::Time)
            .map_err(|e| e.on("before"))?;
        Ok(MessageListing {
            first: page_size(first),
            before,
        })
    }

    /// Parses Relay's backward page arguments: `last` messages `before` a
    /// cursor (the newest when there is none). `first` is the older name of
    /// `last` on this list and means the same; the two together are refused.
    ///
    /// # Errors
    /// `BAD_USER_INPUT` naming `first` and `last` when both are given, or
    /// `before` for a cursor of another list.
    pub fn parse_backward(
        first: Option<i64>,
        last: Option<i64>,
        before: Option<&str>,
    ) -> Result<Self, AppError> {
        if first.is_some() && last.is_some() {
            let mut problems = FieldErrors::new();
            problems.insert("first".into(), "cannot be combined with last".into());
            problems.insert("last".into(), "cannot be combined with first".into());
            return Err(AppError::invalid_fields(problems));
        }
        Self::parse(last.or(first), before)
    }
}

/// A page request on the conversation list, valid.
#[derive(Debug, Clone, Default)]
pub struct ConversationListing {
    /// Page size (clamped).
    pub first: usize,
    /// Continue after this cursor.
    pub after: Option<Cursor>,
}

impl ConversationListing {
    /// Parses raw page arguments (`after`).
    ///
    /// # Errors
    /// `BAD_USER_INPUT` naming `after`.
    pub fn parse(first: Option<i64>, after: Option<&str>) -> Result<Self, AppError> {
        let after = Cursor::continuing(after, CONVERSATIONS_NEWEST, KeyKind::Time)
            .map_err(|e| e.on("after"))?;
        Ok(ConversationListing {
            first: page_size(first),
            after,
        })
    }
}

/// A page request on the presence list, valid.
#[derive(Debug, Clone, Default)]
pub struct UserListing {
    /// Only online (`Some(true)`) or only not online (`Some(false)`) users.
    pub online: Option<bool>,
    /// Page size (clamped).
    pub first: usize,
    /// Continue after this cursor.
    pub after: Option<Cursor>,
}

impl UserListing {
    /// Parses raw page arguments (`after`).
    ///
    /// # Errors
    /// `BAD_USER_INPUT` naming `after`.
    pub fn parse(
        online: Option<bool>,
        first: Option<i64>,
        after: Option<&str>,
    ) -> Result<Self, AppError> {
        let after =
            Cursor::continuing(after, USERS_OLDEST, KeyKind::Time).map_err(|e| e.on("after"))?;
        Ok(UserListing {
            online,
            first: page_size(first),
            after,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_arguments_report_every_problem() {
        let error = ProductListing::parse(
            Some(&"x".repeat(201)),
            Some(-1.0),
            Some(f64::NAN),
            Some("random"),
            None,
            Some("nope"),
        )
        .unwrap_err();
        let details = error.details().unwrap();
        for field in ["search", "minPrice", "maxPrice", "sort", "after"] {
            assert!(
                details.contains_key(field),
                "{field} missing from {details:?}"
            );
        }
    }

    #[test]
    fn first_and_last_together_are_refused_naming_both() {
        let error = MessageListing::parse_backward(Some(5), Some(5), None).unwrap_err();
        let details = error.details().unwrap();
        assert!(details.contains_key("first") && details.contains_key("last"));
        assert_eq!(
            MessageListing::parse_backward(None, Some(7), None)
                .unwrap()
                .first,
            7
        );
        assert_eq!(
            MessageListing::parse_backward(Some(7), None, None)
                .unwrap()
                .first,
            7
        );
    }

    #[test]
    fn a_min_price_above_the_max_is_refused() {
        let error =
            ProductListing::parse(None, Some(10.0), Some(5.0), None, None, None).unwrap_err();
        assert!(error.details().unwrap().contains_key("minPrice"));
    }
}
