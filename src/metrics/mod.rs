//! `GET /metrics` in Prometheus text format: requests, latencies, tasks by
//! status, the queue (see [`queue`]), open subscriptions, reaper runs,
//! retention and database queries.

pub mod queue;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::app::AppState;
use crate::service::{ReaperCounters, RetentionCounters, WebhookMetrics};
pub use queue::QueueMetrics;

/// Labels of HTTP metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    method: String,
    route: String,
    status: u16,
}

/// Labels of the tasks-by-status gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    status: String,
}

/// The process's metrics.
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_seconds: Family<HttpLabels, Histogram>,
    tasks: Family<StatusLabels, Gauge>,
    subscriptions: Gauge,
    subscription_groups: Gauge,
    websockets: Gauge,
    websockets_refused: Counter,
    db_queries: Counter,
    /// Reaper passes.
    pub reaper_runs: Counter,
    /// Leases the reaper expired.
    pub reaper_expired: Counter,
    /// The queue's depth, age and events.
    pub queue: QueueMetrics,
    /// Webhook deliveries: attempts, failures, backlog and lag.
    pub webhooks: WebhookMetrics,
    /// What the retention job deleted.
    retention: RetentionCounters,
    /// Refused sign-ins, by reason.
    sign_in_refused: crate::auth::limits::SignInRefusals,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(500)
    }
}

impl Metrics {
    /// A registry with every ATS metric; the queue metrics name at most
    /// `max_series` (org, project, channel) series.
    pub fn new(max_series: usize) -> Self {
        let mut registry = Registry::with_prefix("ats");
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_seconds = Family::<HttpLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        let tasks = Family::<StatusLabels, Gauge>::default();
        let subscriptions = Gauge::default();
        let subscription_groups = Gauge::default();
        let websockets = Gauge::default();
        let websockets_refused = Counter::default();
        let db_queries = Counter::default();
        let reaper_runs = Counter::default();
        let reaper_expired = Counter::default();
        registry.register(
            "http_requests",
            "HTTP requests served",
            http_requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            http_seconds.clone(),
        );
        registry.register("tasks", "Tasks by status", tasks.clone());
        registry.register(
            "open_subscriptions",
            "Open event subscriptions (/ws and GraphQL)",
            subscriptions.clone(),
        );
        registry.register(
            "graphql_subscription_groups",
            "Live GraphQL subscriptions executed once for all their identical subscribers",
            subscription_groups.clone(),
        );
        registry.register(
            "open_websockets",
            "Open WebSockets (/ws and /graphql/ws)",
            websockets.clone(),
        );
        registry.register(
            "websockets_refused",
            "WebSockets refused by ATS_WS_MAX_PER_IP or ATS_WS_MAX_TOTAL",
            websockets_refused.clone(),
        );
        registry.register("db_queries", "SQL statements executed", db_queries.clone());
        registry.register("reaper_runs", "Lease reaper passes", reaper_runs.clone());
        registry.register(
            "reaper_expired_leases",
            "Leases the reaper returned to pending",
            reaper_expired.clone(),
        );
        let queue = QueueMetrics::register(&mut registry, max_series);
        let webhooks = WebhookMetrics::default();
        webhooks.register(&mut registry);
        let retention = RetentionCounters::default();
        retention.register(&mut registry);
        let sign_in_refused = crate::auth::limits::SignInRefusals::default();
        sign_in_refused.register(&mut registry);
        Self {
            registry,
            http_requests,
            http_seconds,
            tasks,
            subscriptions,
            subscription_groups,
            websockets,
            websockets_refused,
            db_queries,
            reaper_runs,
            reaper_expired,
            queue,
            webhooks,
            retention,
            sign_in_refused,
        }
    }

    /// The counter of refused sign-ins, for the service to move.
    pub fn sign_in_refusals(&self) -> crate::auth::limits::SignInRefusals {
        self.sign_in_refused.clone()
    }

    /// The metrics the retention job moves.
    pub fn retention_counters(&self) -> RetentionCounters {
        self.retention.clone()
    }

    /// The counters the lease reaper moves.
    pub fn reaper_counters(&self) -> ReaperCounters {
        ReaperCounters {
            runs: self.reaper_runs.clone(),
            expired: self.reaper_expired.clone(),
        }
    }

    /// The gauge of open WebSockets and the counter of refused ones.
    pub fn socket_metrics(&self) -> (Gauge, Counter) {
        (self.websockets.clone(), self.websockets_refused.clone())
    }

    /// The counter the store increments for each SQL statement.
    pub fn db_query_counter(&self) -> Counter {
        self.db_queries.clone()
    }
}

/// Middleware recording each request's count and latency by route template.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let resp = next.run(req).await;
    let labels = HttpLabels {
        method,
        route,
        status: resp.status().as_u16(),
    };
    state.metrics.http_requests.get_or_create(&labels).inc();
    state
        .metrics
        .http_seconds
        .get_or_create(&labels)
        .observe(start.elapsed().as_secs_f64());
    resp
}

/// `GET /metrics`.
pub async fn render(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    // A malformed header counts as no token: the service decides (404 or 401).
    let bearer = crate::auth::caller::bearer(&headers).ok().flatten();
    if let Err(e) = state.ats.metrics_access(bearer.as_deref()) {
        return e.into_response();
    }
    let metrics: &Arc<Metrics> = &state.metrics;
    if let Ok(stats) = state.ats.system_stats().await {
        for (status, n) in &stats.by_status {
            metrics
                .tasks
                .get_or_create(&StatusLabels {
                    status: status.clone(),
                })
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
    }
    match state.ats.queue_snapshot(metrics.queue.cap()).await {
        Ok(snapshot) => metrics.queue.set(&snapshot),
        Err(err) => tracing::warn!(error = %err, "reading the queue for /metrics failed"),
    }
    if let Err(err) = state.ats.observe_webhooks().await {
        tracing::warn!(error = %err, "reading the webhook backlog for /metrics failed");
    }
    metrics
        .subscriptions
        .set(i64::try_from(state.ats.open_subscriptions()).unwrap_or(i64::MAX));
    metrics
        .subscription_groups
        .set(i64::try_from(state.shared_subscriptions.groups()).unwrap_or(i64::MAX));
    let mut body = String::new();
    if prometheus_client::encoding::text::encode(&mut body, &metrics.registry).is_err() {
        return crate::error::Error::Internal("metrics encoding failed".into()).into_response();
    }
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
