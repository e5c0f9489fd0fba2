//! The queue as an operator sees it, for `/metrics`: pending depth and the
//! age of the oldest pending task per org, project and channel, and how far
//! the lease reaper is behind. Read from the counters and the indexes, never
//! by a scan of `tasks`.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::Ats;
use super::counts::CountFilter;
use crate::entity::task::TaskStatus;
use crate::entity::{project, task};
use crate::error::Result;
use crate::time;

/// One (org, project, channel) of the queue.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueSeries {
    /// Org slug.
    pub org: String,
    /// Project slug.
    pub project: String,
    /// Channel.
    pub channel: String,
    /// Pending tasks.
    pub pending: u64,
    /// When the oldest pending task was created.
    pub oldest_pending: Option<DateTime<Utc>>,
}

/// What [`Ats::queue_snapshot`] reads.
#[derive(Clone, Debug, Default)]
pub struct QueueSnapshot {
    /// The deepest series first, at most the limit asked for.
    pub series: Vec<QueueSeries>,
    /// Pending tasks in the series left out (beyond the limit).
    pub other_pending: u64,
    /// How long the oldest expired lease has waited for the reaper (zero
    /// when none has).
    pub reaper_lag_seconds: f64,
}

impl Ats {
    /// The queue per (org, project, channel) with pending work, the deepest
    /// `limit` series with their oldest task's age (one index probe each),
    /// the rest summed; and the reaper's lag.
    pub async fn queue_snapshot(&self, limit: usize) -> Result<QueueSnapshot> {
        let db = self.store.conn();
        let projects: Vec<i32> = project::Entity::find()
            .select_only()
            .column(project::Column::Id)
            .into_tuple()
            .all(db)
            .await?;
        let tally = self
            .tally(&CountFilter {
                projects: projects.clone(),
                statuses: vec![TaskStatus::Pending],
                channels: Vec::new(),
            })
            .await?;
        let mut cells: Vec<((i32, String), u64)> = tally
            .cells
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|((project, _, channel), n)| ((project, channel), n))
            .collect();
        cells.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut snapshot = QueueSnapshot::default();
        let kept = cells.len().min(limit);
        snapshot.other_pending = cells[kept..].iter().map(|(_, n)| n).sum();
        cells.truncate(kept);
        let locations = self
            .locations(db, cells.iter().map(|((p, _), _)| *p).collect())
            .await?;
        for ((project_id, channel), pending) in cells {
            let Some(loc) = locations.get(&project_id) else {
                continue;
            };
            let oldest: Option<DateTime<Utc>> = task::Entity::find()
                .select_only()
                .column(task::Column::CreatedAt)
                .filter(task::Column::Channel.eq(channel.clone()))
                .filter(task::Column::Status.eq(TaskStatus::Pending))
                .filter(task::Column::ProjectId.eq(project_id))
                .order_by_asc(task::Column::CreatedAt)
                .limit(1)
                .into_tuple()
                .one(db)
                .await?;
            snapshot.series.push(QueueSeries {
                org: loc.org.clone(),
                project: loc.project.clone(),
                channel,
                pending,
                oldest_pending: oldest,
            });
        }
        let now = time::now();
        let overdue: Option<DateTime<Utc>> = task::Entity::find()
            .select_only()
            .column(task::Column::LeaseExpires)
            // Inlined, not a parameter: the lease index holds these rows only.
            .filter(Expr::cust(migration::LEASED))
            .filter(task::Column::LeaseExpires.lte(now))
            .order_by_asc(task::Column::LeaseExpires)
            .limit(1)
            .into_tuple::<Option<DateTime<Utc>>>()
            .one(db)
            .await?
            .flatten();
        snapshot.reaper_lag_seconds = overdue
            .map(|t| (now - t).num_milliseconds().max(0) as f64 / 1000.0)
            .unwrap_or(0.0);
        Ok(snapshot)
    }
}
