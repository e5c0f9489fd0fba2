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
use std::sync::{Arc, Mutex};

use lru::LruCache;

use crate::entity::task;

/// Rows remembered at most.
const CAPACITY: usize = 4096;
/// Rows heavier than this (their text and parsed JSON, about, in bytes) are
/// not remembered, so the memory stays near `CAPACITY` × this (32 MiB).
const MAX_WEIGHT: usize = 8 * 1024;

/// The last rows written by this process, by task id, least recent evicted.
pub(crate) struct RecentRows(Mutex<LruCache<i64, Arc<task::Model>>>);

impl Default for RecentRows {
    fn default() -> Self {
        let capacity = NonZeroUsize::new(CAPACITY).unwrap_or(NonZeroUsize::MIN);
        Self(Mutex::new(LruCache::new(capacity)))
    }
}

impl RecentRows {
    /// Remembers `row` as this process just wrote it, unless a newer
    /// version of it is remembered.
    pub(crate) fn remember(&self, row: &task::Model) {
        let heavy = weight(row) > MAX_WEIGHT;
        let kept = (!heavy).then(|| Arc::new(row.clone()));
        let mut rows = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if rows.peek(&row.id).is_some_and(|r| r.version > row.version) {
            return;
        }
        match kept {
            Some(kept) => {
                rows.put(row.id, kept);
            }
            None => {
                rows.pop(&row.id);
            }
        }
    }

    /// The row last remembered for task `id`, if any.
    pub(crate) fn recall(&self, id: i64) -> Option<Arc<task::Model>> {
        let mut rows = self.0.lock().unwrap_or_else(|e| e.into_inner());
        rows.get(&id).cloned()
    }

    /// Forgets task `id` (its remembered row proved stale).
    pub(crate) fn forget(&self, id: i64) {
        let mut rows = self.0.lock().unwrap_or_else(|e| e.into_inner());
        rows.pop(&id);
    }
}

/// About how many bytes of memory `row` holds beyond its fixed fields;
/// stops counting once past [`MAX_WEIGHT`].
fn weight(row: &task::Model) -> usize {
    let strings = [
        Some(&row.title),
        row.description.as_ref(),
        Some(&row.task_type),
        Some(&row.channel),
        Some(&row.source_type),
        Some(&row.source_id),
        row.source_name.as_ref(),
        row.assignee_type.as_ref(),
        row.assignee_id.as_ref(),
        row.assignee_name.as_ref(),
        row.reason.as_ref(),
    ];
    let mut total: usize = strings.iter().flatten().map(|s| s.len()).sum();
    for value in [
        Some(&row.payload),
        Some(&row.outputs),
        Some(&row.depends_on),
        row.retry.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        total += json_weight(value, MAX_WEIGHT.saturating_sub(total) + 1);
        if total > MAX_WEIGHT {
            break;
        }
    }
    total
}

/// Bytes a parsed JSON value takes, about: a value's own slot, a string's
/// text, an array's slots, and an object's map nodes (up to eleven entries
/// each) with their keys; counted up to `limit`.
fn json_weight(v: &serde_json::Value, limit: usize) -> usize {
    use serde_json::Value;
    const SLOT: usize = 32;
    const MAP_NODE: usize = 640;
    match v {
        Value::Null | Value::Bool(_) | Value::Number(_) => SLOT,
        Value::String(s) => SLOT + s.len(),
        Value::Array(items) => {
            let mut n = SLOT;
            for item in items {
                n += json_weight(item, limit.saturating_sub(n));
                if n > limit {
                    break;
                }
            }
            n
        }
        Value::Object(map) => {
            let mut n = SLOT + MAP_NODE * map.len().div_ceil(11);
            for (k, item) in map {
                if n > limit {
                    break;
                }
                n += k.len() + json_weight(item, limit.saturating_sub(n));
            }
            n
        }
    }
}
