//! Retry policies: how long a task that failed (or whose lease ran out)
//! waits before its next attempt.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use rand::RngExt;

/// Longest delay a policy may name: one week, in milliseconds.
pub const MAX_DELAY_MS: i64 = 7 * 24 * 3_600_000;

/// How the delay grows with each attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Backoff {
    /// `initial_ms`, then twice that, four times, … up to `max_ms`.
    Exponential,
    /// `initial_ms` every time.
    Fixed,
}

/// A task's retry policy, as stored and shown (defaults filled in).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RetryPolicy {
    /// `exponential` (default) or `fixed`.
    pub backoff: Backoff,
    /// The first delay in ms (default 10 000).
    pub initial_ms: i64,
    /// The longest delay in ms (default 3 600 000); also bounds a worker's
    /// `retry_at` / `retry_in_ms`.
    pub max_ms: i64,
    /// Each delay is drawn between half and all of itself (default true),
    /// so tasks that failed together do not retry together.
    pub jitter: bool,
}

/// A retry policy as a client writes it: every field optional.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryInput {
    /// `exponential` (default) or `fixed`.
    pub backoff: Option<Backoff>,
    /// The first delay in ms, 1 to 604 800 000 (default 10 000).
    #[schema(minimum = 1, maximum = 604800000)]
    pub initial_ms: Option<i64>,
    /// The longest delay in ms, `initial_ms` to 604 800 000 (default 3 600 000).
    #[schema(minimum = 1, maximum = 604800000)]
    pub max_ms: Option<i64>,
    /// Spread each delay between half and all of itself (default true).
    pub jitter: Option<bool>,
}

impl RetryPolicy {
    /// The policy `input` describes (a JSON object of [`RetryInput`]), checked.
    pub fn from_json(input: Value) -> Result<Self> {
        let input: RetryInput = serde_json::from_value(input).map_err(|e| {
            Error::validation(format!(
                "retry must be an object of backoff (exponential or fixed), initial_ms, max_ms and jitter: {e}"
            ))
        })?;
        Self::from_input(input)
    }

    /// The policy `input` describes, with defaults, checked.
    pub fn from_input(input: RetryInput) -> Result<Self> {
        let initial_ms = input.initial_ms.unwrap_or(10_000);
        let max_ms = input.max_ms.unwrap_or(3_600_000.max(initial_ms));
        if !(1..=MAX_DELAY_MS).contains(&initial_ms) {
            return Err(Error::validation(format!(
                "retry.initial_ms must be between 1 and {MAX_DELAY_MS}, got {initial_ms}"
            )));
        }
        if !(initial_ms..=MAX_DELAY_MS).contains(&max_ms) {
            return Err(Error::validation(format!(
                "retry.max_ms must be between initial_ms ({initial_ms}) and {MAX_DELAY_MS}, got {max_ms}"
            )));
        }
        Ok(Self {
            backoff: input.backoff.unwrap_or(Backoff::Exponential),
            initial_ms,
            max_ms,
            jitter: input.jitter.unwrap_or(true),
        })
    }

    /// The policy stored on a task row, if it has one.
    pub fn of(stored: Option<&Value>) -> Option<Self> {
        stored.and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    /// As stored.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The delay before the attempt after `attempts` claims.
    pub fn delay(&self, attempts: i32) -> Duration {
        let base = match self.backoff {
            Backoff::Fixed => self.initial_ms,
            Backoff::Exponential => {
                let doublings = attempts.saturating_sub(1).clamp(0, 40) as u32;
                self.initial_ms.saturating_mul(1_i64 << doublings)
            }
        }
        .min(self.max_ms);
        let ms = if self.jitter {
            let half = base / 2;
            half + rand::rng().random_range(0..=base - half)
        } else {
            base
        };
        Duration::milliseconds(ms)
    }

    /// When a worker's own ask (`retry_at` or `retry_in_ms`) lands, at most
    /// `max_ms` from `now` and never before it.
    pub fn bounded(&self, at: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
        at.clamp(now, now + Duration::milliseconds(self.max_ms))
    }
}
