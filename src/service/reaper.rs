//! The lease reaper: returns `in_progress` tasks whose lease ran out to `pending`.

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio::sync::watch;

use super::Ats;
use super::event_log::record_change;
use super::lifecycle::{compare_and_set, lapse};
use super::views::TaskView;
use crate::actor::Actor;
use crate::entity::task;
use crate::entity::task::TaskStatus;
use crate::error::Result;
use crate::time;

/// Most tasks one reaper pass looks at.
const BATCH: u64 = 200;

/// Runs the reaper every `interval` until shutdown.
pub struct LeaseReaper;

/// The counters a reaper moves.
#[derive(Clone, Default)]
pub struct ReaperCounters {
    /// Reaper passes.
    pub runs: Counter,
    /// Leases returned to pending.
    pub expired: Counter,
}

impl LeaseReaper {
    /// Spawns the loop. Safe with any number of replicas: each expiry is a
    /// compare-and-set, so only one replica's write (and event) lands.
    pub fn spawn(
        ats: Ats,
        interval: Duration,
        mut shutdown: watch::Receiver<bool>,
        counters: ReaperCounters,
    ) {
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = shutdown.changed() => return,
                }
                counters.runs.inc();
                match ats.reap_expired_leases().await {
                    Ok(0) => {}
                    Ok(n) => {
                        counters.expired.inc_by(n as u64);
                        tracing::info!(expired = n, "lease reaper returned tasks to pending");
                    }
                    Err(err) => tracing::warn!(error = %err, "lease reaper pass failed"),
                }
            }
        });
    }
}

impl Ats {
    /// One reaper pass; returns how many tasks went back to `pending`.
    pub async fn reap_expired_leases(&self) -> Result<usize> {
        let now = time::now();
        let expired = task::Entity::find()
            // Inlined, not a parameter: the lease index holds these rows only.
            .filter(sea_orm::sea_query::Expr::cust(migration::LEASED))
            .filter(task::Column::LeaseExpires.lte(now))
            .order_by_asc(task::Column::LeaseExpires)
            .limit(BATCH)
            .all(self.store.conn())
            .await?;
        let system = Actor::system();
        let mut reaped = 0;
        for stale in expired {
            let w = self.store.begin_write().await?;
            let Some(current) = task::Entity::find_by_id(stale.id).one(&w.txn).await? else {
                continue;
            };
            if current.status != TaskStatus::InProgress
                || current.lease_expires.is_none_or(|l| l > now)
            {
                continue;
            }
            // Back to pending, or, for a task with a retry policy, to its
            // scheduled retry (or failed, at its cap).
            let mut t = current.clone();
            let mut events = Vec::new();
            let at = time::now();
            if !lapse(&mut t, &mut events, at) {
                continue;
            }
            t.updated_at = at;
            t.version += 1;
            let Some(t) = compare_and_set(&w.txn, &current, &t).await? else {
                continue;
            };
            let follow = self.follow_ups(&w.txn, &current, &t).await?;
            let loc = self
                .locations(&w.txn, vec![t.project_id])
                .await?
                .remove(&t.project_id);
            let Some(loc) = loc else { continue };
            let view = TaskView::new(t, &loc);
            record_change(&w.txn, &system, &view, &loc, events).await?;
            self.record_follow_ups(&w.txn, &system, follow).await?;
            w.commit().await?;
            reaped += 1;
        }
        if reaped > 0 {
            self.bus.committed();
        }
        Ok(reaped)
    }
}
