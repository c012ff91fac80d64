//! Custom scalars.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{DateTime as ChronoDateTime, SecondsFormat, Utc};

/// An instant, as an RFC 3339 UTC string with milliseconds
/// (`2026-11-25T12:00:00.000Z`): the same spelling as the REST door and the
/// Socket.IO events, so a client can compare timestamps across doors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DateTime(pub ChronoDateTime<Utc>);

/// An RFC 3339 instant in UTC, with millisecond precision, e.g. `2026-11-25T12:00:00.000Z`.
#[Scalar(name = "DateTime")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(raw) => ChronoDateTime::parse_from_rfc3339(raw)
                .map(|at| DateTime(at.with_timezone(&Utc)))
                .map_err(|_| InputValueError::custom("expected an RFC 3339 timestamp")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_rfc3339_opts(SecondsFormat::Millis, true))
    }
}

impl From<ChronoDateTime<Utc>> for DateTime {
    fn from(at: ChronoDateTime<Utc>) -> Self {
        DateTime(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_written_in_utc_with_milliseconds() {
        let at = ChronoDateTime::parse_from_rfc3339("2026-11-25T13:00:00.5+01:00").unwrap();
        let value = DateTime(at.with_timezone(&Utc)).to_value();
        assert_eq!(value, Value::String("2026-11-25T12:00:00.500Z".into()));
    }
}
