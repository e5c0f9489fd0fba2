//! Time (issue 18): scheduled tasks (`run_at`, `task.ready`), retries with
//! backoff, and deadlines that escalate. Timers come from the database, so
//! each scenario runs on a server whose timer worker looks often, with
//! delays of a second or two, and waits for conditions with generous
//! timeouts.

mod cli;
mod deadlines;
mod escalated_events;
mod retries;
mod scheduled;
