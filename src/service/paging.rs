//! Page sizes and cursors: one rule per kind of list, the same for every
//! adapter (REST `limit`/`after`, GraphQL `first`/`after`, `/ws` `after`).

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
}
