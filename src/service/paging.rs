//! Page sizes and cursors: one rule per kind of list, the same for every
//! adapter (REST `limit`/`after`, GraphQL `first`/`after`, `/ws` `after`).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};

use crate::error::{Error, Result};

/// How many items a list returns when asked for `Some(n)` or nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRule {
    /// The page size when none is asked for.
    pub default: u64,
    /// The largest page; a larger request is served this many.
    pub max: u64,
}

/// Task lists (`GET /tasks`, `Query.tasks`, project task lists).
pub const TASK_PAGE: PageRule = PageRule {
    default: 50,
    max: 500,
};

/// Threads and histories: messages, a task's events, the event log.
pub const HISTORY_PAGE: PageRule = PageRule {
    default: 100,
    max: 1000,
};

/// What a request for more than the maximum gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overflow {
    /// Served the maximum: REST's `limit`, which the original CLI relies on.
    Clamp,
    /// Refused with 400: GraphQL's `first`, whose clients expect the page
    /// size they asked for.
    Refuse,
}

impl PageRule {
    /// The page size for a request of `asked` items (the argument is named
    /// `name` in errors): the default when absent, at least 1, at most `max`.
    pub fn size(&self, name: &str, asked: Option<i64>, overflow: Overflow) -> Result<u64> {
        match asked {
            None => Ok(self.default),
            Some(n) if n < 1 => Err(Error::bad_request(format!(
                "{name} must be at least 1, got {n}"
            ))),
            Some(n) if n as u64 > self.max && overflow == Overflow::Refuse => Err(
                Error::bad_request(format!("{name} must be at most {}, got {n}", self.max)),
            ),
            Some(n) => Ok((n as u64).min(self.max)),
        }
    }
}

impl PageRule {
    /// A Relay page size (`first`/`last`): 0 to `max` (an empty page is a
    /// valid Relay request), refused outside.
    pub fn relay_size(&self, name: &str, asked: i64) -> Result<u64> {
        if (0..=self.max as i64).contains(&asked) {
            Ok(asked as u64)
        } else {
            Err(Error::bad_request(format!(
                "{name} must be between 0 and {}, got {asked}",
                self.max
            )))
        }
    }
}

/// A cursor (`after`): a record id; only records with a larger id follow.
/// Absent means from the start.
pub fn cursor(asked: Option<i64>) -> Result<i64> {
    match asked {
        Some(n) if n < 0 => Err(Error::bad_request(format!(
            "after must not be negative, got {n}"
        ))),
        other => Ok(other.unwrap_or(0)),
    }
}

/// An offset into a list: not negative.
pub fn offset(asked: Option<i64>) -> Result<u64> {
    match asked {
        Some(n) if n < 0 => Err(Error::bad_request(format!(
            "offset must not be negative, got {n}"
        ))),
        other => Ok(other.unwrap_or(0) as u64),
    }
}

/// The value a task list is ordered by, at one task: the key of a keyset
/// cursor (the list continues after or before `(key, id)`).
#[derive(Clone, Debug, PartialEq)]
pub enum SortKey {
    /// `created_at`.
    CreatedAt(DateTime<Utc>),
    /// `updated_at`.
    UpdatedAt(DateTime<Utc>),
    /// `priority`.
    Priority(i32),
    /// `title`.
    Title(String),
}

/// A position in a task list: the sort key and id of the task it points at.
/// Clients see it as an opaque string ([`TaskCursor::encode`]); a page
/// continues from it with an index seek, at any depth.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskCursor {
    /// The task's value of the list's order.
    pub key: SortKey,
    /// The task's id (ties of `key` are ordered by id).
    pub id: i64,
}

impl TaskCursor {
    /// The opaque form: URL-safe base64 of `["c", "<RFC 3339>", id]` (or
    /// `"u"`, `"p"`, `"t"` with the updated time, priority or title).
    pub fn encode(&self) -> String {
        let key = match &self.key {
            SortKey::CreatedAt(t) => serde_json::json!(["c", t.to_rfc3339()]),
            SortKey::UpdatedAt(t) => serde_json::json!(["u", t.to_rfc3339()]),
            SortKey::Priority(p) => serde_json::json!(["p", p]),
            SortKey::Title(t) => serde_json::json!(["t", t]),
        };
        let text = serde_json::json!([key[0], key[1], self.id]).to_string();
        URL_SAFE_NO_PAD.encode(text)
    }

    /// Reads a cursor of [`TaskCursor::encode`]; 400 (`name` in the message)
    /// for anything else.
    pub fn decode(name: &str, s: &str) -> Result<TaskCursor> {
        let bad = || Error::bad_request(format!("{name} is not a cursor of this list: '{s}'"));
        let bytes = URL_SAFE_NO_PAD.decode(s.as_bytes()).map_err(|_| bad())?;
        let parts: (String, serde_json::Value, i64) =
            serde_json::from_slice(&bytes).map_err(|_| bad())?;
        let time = |v: &serde_json::Value| v.as_str().and_then(crate::time::parse).ok_or_else(bad);
        let key = match parts.0.as_str() {
            "c" => SortKey::CreatedAt(time(&parts.1)?),
            "u" => SortKey::UpdatedAt(time(&parts.1)?),
            "p" => SortKey::Priority(
                parts
                    .1
                    .as_i64()
                    .and_then(|p| i32::try_from(p).ok())
                    .ok_or_else(bad)?,
            ),
            "t" => SortKey::Title(parts.1.as_str().ok_or_else(bad)?.to_owned()),
            _ => return Err(bad()),
        };
        Ok(TaskCursor { key, id: parts.2 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_default_clamp_and_refuse_below_one() {
        let clamp = Overflow::Clamp;
        assert_eq!(TASK_PAGE.size("limit", None, clamp).unwrap(), 50);
        assert_eq!(TASK_PAGE.size("limit", Some(7), clamp).unwrap(), 7);
        assert_eq!(TASK_PAGE.size("limit", Some(100_000), clamp).unwrap(), 500);
        assert_eq!(
            HISTORY_PAGE
                .size("first", Some(1000), Overflow::Refuse)
                .unwrap(),
            1000
        );
        assert!(
            HISTORY_PAGE
                .size("first", Some(1001), Overflow::Refuse)
                .is_err()
        );
        let err = HISTORY_PAGE.size("first", Some(0), clamp).unwrap_err();
        assert_eq!(err.code(), "BAD_REQUEST");
        assert!(err.public_message().contains("first must be at least 1"));
    }

    #[test]
    fn cursors_and_offsets_are_not_negative() {
        assert_eq!(cursor(None).unwrap(), 0);
        assert_eq!(cursor(Some(9)).unwrap(), 9);
        assert!(cursor(Some(-1)).is_err());
        assert!(offset(Some(-1)).is_err());
        assert_eq!(offset(Some(3)).unwrap(), 3);
    }

    #[test]
    fn task_cursors_round_trip_and_refuse_garbage() {
        let t = crate::time::parse("2026-12-01T21:18:55.123Z").unwrap();
        for key in [
            SortKey::CreatedAt(t),
            SortKey::UpdatedAt(t),
            SortKey::Priority(7),
            SortKey::Title("a \"quoted\" title, ünïcode".into()),
        ] {
            let c = TaskCursor { key, id: 42 };
            assert_eq!(TaskCursor::decode("after", &c.encode()).unwrap(), c);
        }
        for bad in ["", "garbage", "WyJ4IiwxLDJd", "WyJwIiwiYSIsMl0"] {
            let err = TaskCursor::decode("after", bad).unwrap_err();
            assert_eq!(err.code(), "BAD_REQUEST", "{bad}");
        }
    }
}
