//! Scalars whose wire form matches the REST API's.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::Utc;

/// A point in time. Written as in REST (RFC 3339, UTC, milliseconds,
/// `2026-01-02T03:04:05.678Z`); read from any RFC 3339 time with an offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DateTime(pub chrono::DateTime<Utc>);

/// An RFC 3339 time: written in UTC with milliseconds (`2026-01-02T03:04:05.678Z`);
/// any offset is accepted as input.
#[Scalar(
    name = "DateTime",
    specified_by_url = "https://www.rfc-editor.org/rfc/rfc3339"
)]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => crate::time::parse(s).map(DateTime).ok_or_else(|| {
                InputValueError::custom(format!(
                    "'{s}' is not an RFC 3339 time such as 2026-01-02T03:04:05Z"
                ))
            }),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(crate::time::format(&self.0))
    }
}

impl From<chrono::DateTime<Utc>> for DateTime {
    fn from(t: chrono::DateTime<Utc>) -> Self {
        DateTime(t)
    }
}
