//! Positions in the event log: what a client resumes from.

use std::fmt;

use super::ValidationError;

/// Where an event stands in the event log of the whole deployment (every
/// server process writes to the one log). Positions are consecutive: the
/// event after position `n` is at `n + 1`, so a reader can tell "nothing
/// more" from "not there yet". Clients see them as opaque strings; inside
/// they are numbers, which is what makes "after" a cheap indexed range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position(u64);

impl Position {
    /// Before the first event: a log that never had an event has this head.
    pub const START: Position = Position(0);

    /// From a stored number.
    pub fn new(value: u64) -> Self {
        Position(value)
    }

    /// The number behind it (stores and metrics).
    pub fn value(self) -> u64 {
        self.0
    }

    /// The position right after this one.
    pub fn next(self) -> Position {
        Position(self.0 + 1)
    }

    /// Reads a position a client sent back.
    ///
    /// # Errors
    /// A [`ValidationError`] for anything this server never handed out as a
    /// position (the caller answers "resync required", never a guess).
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > 20 || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ValidationError("is not a position this server handed out"));
        }
        raw.parse()
            .map(Position)
            .map_err(|_| ValidationError("is not a position this server handed out"))
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_read_back_what_they_print_and_refuse_anything_else() {
        let position = Position::new(42);
        assert_eq!(Position::parse(&position.to_string()), Ok(position));
        assert_eq!(position.next(), Position::new(43));
        for forged in ["", "-1", "abc", "1.5", "0x10", "99999999999999999999999"] {
            assert!(Position::parse(forged).is_err(), "{forged:?} was accepted");
        }
    }
}
