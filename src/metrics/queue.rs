//! Queue metrics: pending depth and oldest pending age per org, project and
//! channel (read at scrape time from the counters), task events per series
//! and type (counted from the event log), event delivery lag and reaper lag.
//!
//! Every replica's fanout reads the whole log, so the event counters of each
//! replica count the whole service's events (since that replica started):
//! aggregate them across replicas with `max`, not `sum`.

use std::collections::HashSet;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::entity::event;
use crate::service::QueueSnapshot;

/// The label value of series beyond the cap.
pub const OTHER: &str = "_other";

/// Labels of a queue series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabels {
    org: String,
    project: String,
    channel: String,
}

impl QueueLabels {
    fn other() -> Self {
        Self {
            org: OTHER.to_owned(),
            project: OTHER.to_owned(),
            channel: OTHER.to_owned(),
        }
    }
}

/// Labels of the task-event counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    org: String,
    project: String,
    channel: String,
    event: String,
}

/// The queue metrics; cheap to clone (the fanout keeps a clone).
#[derive(Clone)]
pub struct QueueMetrics {
    pending: Family<QueueLabels, Gauge>,
    oldest_pending: Family<QueueLabels, Gauge<f64, AtomicU64>>,
    events: Family<EventLabels, Counter>,
    delivery_lag: Histogram,
    reaper_lag: Gauge<f64, AtomicU64>,
    /// The series the event counter names; later ones count as `_other`.
    named: Arc<Mutex<HashSet<(String, String, String)>>>,
    cap: usize,
}

impl QueueMetrics {
    /// Registers the queue metrics in `registry`, keeping at most `cap`
    /// named series per family.
    pub fn register(registry: &mut Registry, cap: usize) -> Self {
        let m = Self {
            pending: Family::default(),
            oldest_pending: Family::default(),
            events: Family::default(),
            delivery_lag: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
            reaper_lag: Gauge::default(),
            named: Arc::default(),
            cap,
        };
        registry.register(
            "queue_pending",
            "Pending tasks per org, project and channel",
            m.pending.clone(),
        );
        registry.register(
            "queue_oldest_pending_age_seconds",
            "Age of the oldest pending task per org, project and channel",
            m.oldest_pending.clone(),
        );
        registry.register(
            "task_events",
            "Task events per org, project, channel and type, counted from the event log \
             (each replica counts the whole service: aggregate with max)",
            m.events.clone(),
        );
        registry.register(
            "event_delivery_lag_seconds",
            "From an event's write to its delivery to this replica's subscribers",
            m.delivery_lag.clone(),
        );
        registry.register(
            "reaper_lag_seconds",
            "How long the oldest expired lease has waited for the reaper",
            m.reaper_lag.clone(),
        );
        m
    }

    /// Counts one event of the log as this replica delivers it.
    pub fn observe(&self, e: &event::Model) {
        let labels = self.named(&e.org, &e.project, &e.channel);
        self.events
            .get_or_create(&EventLabels {
                org: labels.org,
                project: labels.project,
                channel: labels.channel,
                event: e.event_type.clone(),
            })
            .inc();
        let lag = (crate::time::now() - e.created_at).num_microseconds();
        self.delivery_lag
            .observe(lag.unwrap_or(0).max(0) as f64 / 1_000_000.0);
    }

    /// The labels of a series, or `_other` once `cap` others have names.
    fn named(&self, org: &str, project: &str, channel: &str) -> QueueLabels {
        let key = (org.to_owned(), project.to_owned(), channel.to_owned());
        let mut named = self.named.lock().unwrap_or_else(|p| p.into_inner());
        if named.contains(&key) || named.len() < self.cap {
            named.insert(key.clone());
            QueueLabels {
                org: key.0,
                project: key.1,
                channel: key.2,
            }
        } else {
            QueueLabels::other()
        }
    }

    /// Replaces the scrape-time gauges with `snapshot` (series that emptied
    /// disappear).
    pub fn set(&self, snapshot: &QueueSnapshot) {
        self.pending.clear();
        self.oldest_pending.clear();
        let now = crate::time::now();
        for s in &snapshot.series {
            let labels = QueueLabels {
                org: s.org.clone(),
                project: s.project.clone(),
                channel: s.channel.clone(),
            };
            self.pending
                .get_or_create(&labels)
                .set(i64::try_from(s.pending).unwrap_or(i64::MAX));
            if let Some(oldest) = s.oldest_pending {
                let age = (now - oldest).num_milliseconds().max(0) as f64 / 1000.0;
                self.oldest_pending.get_or_create(&labels).set(age);
            }
        }
        if snapshot.other_pending > 0 {
            self.pending
                .get_or_create(&QueueLabels::other())
                .set(i64::try_from(snapshot.other_pending).unwrap_or(i64::MAX));
        }
        self.reaper_lag.set(snapshot.reaper_lag_seconds);
    }

    /// How many series the scrape-time gauges keep.
    pub fn cap(&self) -> usize {
        self.cap
    }
}
