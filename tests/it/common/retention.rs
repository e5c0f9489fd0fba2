//! Servers for the retention tests: the retention job runs every 50 ms,
//! 100 rows per batch, so aged rows go within moments and a few hundred
//! take several batches; and the job's metrics, read on any replica.

use super::app::{METRICS_TOKEN, TestApp};
use super::db::Backend;

/// How often the tests' retention job runs.
pub const INTERVAL_MS: u64 = 50;
/// The tests' batch.
pub const BATCH: u64 = 100;

/// A server keeping events 30 days (the default) and finished tasks 90.
pub async fn pruning(backend: Backend) -> Option<TestApp> {
    TestApp::start_with(backend, |c| {
        c.retention_interval_ms = INTERVAL_MS;
        c.retention_batch = BATCH;
        c.retain_finished_tasks = ats::config::Retention::parse("90d").unwrap();
    })
    .await
}

/// A server keeping every event (`ATS_RETAIN_EVENTS=forever`).
pub async fn keeping_events(backend: Backend) -> Option<TestApp> {
    TestApp::start_with(backend, |c| {
        c.retention_interval_ms = INTERVAL_MS;
        c.retention_batch = BATCH;
        c.retain_events = ats::config::Retention::FOREVER;
    })
    .await
}

/// The value of the sample `name` (labels included, e.g.
/// `ats_retention_batches_total{table="events"}`) on the `/metrics` of the
/// server at `base`; 0 when it has none yet.
pub async fn metric_at(base: &str, name: &str) -> i64 {
    let text = reqwest::Client::new()
        .get(format!("{base}/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}
