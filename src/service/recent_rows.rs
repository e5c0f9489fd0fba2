//! Task rows this process wrote last, so the next transition of the same
//! task (a worker completing what it claimed) can plan without reading it.
//!
//! A remembered row is only ever a guess: a transition planned on one
//! writes with a compare-and-set on the version and the counters other
//! tasks keep, so a row changed since (by another request or replica) makes
//! the write refuse, and the transition reads the row and plans again. An
//! answer other than success (not found, forbidden, a refused action) is
//! never given from a remembered row. Losing the memory costs a read.

use std::num::NonZeroUsize;
use std::sync::Mutex;

use lru::LruCache;

use crate::entity::task;

/// Rows remembered at most.
const CAPACITY: usize = 4096;
/// Rows heavier than this (text and JSON, roughly, in bytes) are not
/// remembered, so the memory stays below `CAPACITY` × this (32 MiB).
const MAX_WEIGHT: usize = 8 * 1024;

/// The last rows written by this process, by task id, least recent evicted.
pub(crate) struct RecentRows(Mutex<LruCache<i64, task::Model>>);

impl Default for RecentRows {
    fn default() -> Self {
        let capacity = NonZeroUsize::new(CAPACITY).unwrap_or(NonZeroUsize::MIN);
        Self(Mutex::new(LruCache::new(capacity)))
    }
}

impl RecentRows {
    /// Remembers `row` as this process just wrote or read it.
    pub(crate) fn remember(&self, row: &task::Model) {
        let heavy = weight(row) > MAX_WEIGHT;
        let mut rows = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if heavy {
            rows.pop(&row.id);
        } else {
            rows.put(row.id, row.clone());
        }
    }

    /// The row last remembered for task `id`, if any.
    pub(crate) fn recall(&self, id: i64) -> Option<task::Model> {
        let mut rows = self.0.lock().unwrap_or_else(|e| e.into_inner());
        rows.get(&id).cloned()
    }

    /// Forgets task `id` (its remembered row proved stale).
    pub(crate) fn forget(&self, id: i64) {
        let mut rows = self.0.lock().unwrap_or_else(|e| e.into_inner());
        rows.pop(&id);
    }
}

/// About how many bytes `row` holds beyond its fixed fields; stops counting
/// once past [`MAX_WEIGHT`].
fn weight(row: &task::Model) -> usize {
    let text = row.title.len()
        + row.description.as_ref().map_or(0, String::len)
        + row.reason.as_ref().map_or(0, String::len);
    let mut total = text;
    for value in [&row.payload, &row.outputs, &row.depends_on] {
        total += json_weight(value, MAX_WEIGHT.saturating_sub(total) + 1);
        if total > MAX_WEIGHT {
            break;
        }
    }
    total
}

/// About how many bytes `v` takes as JSON, counted up to `limit`.
fn json_weight(v: &serde_json::Value, limit: usize) -> usize {
    use serde_json::Value;
    match v {
        Value::Null | Value::Bool(_) | Value::Number(_) => 8,
        Value::String(s) => s.len() + 2,
        Value::Array(items) => {
            let mut n = 2;
            for item in items {
                n += json_weight(item, limit.saturating_sub(n)) + 1;
                if n > limit {
                    break;
                }
            }
            n
        }
        Value::Object(map) => {
            let mut n = 2;
            for (k, item) in map {
                n += k.len() + 4 + json_weight(item, limit.saturating_sub(n));
                if n > limit {
                    break;
                }
            }
            n
        }
    }
}
