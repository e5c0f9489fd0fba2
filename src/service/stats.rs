//! Aggregate task statistics.

use std::collections::BTreeMap;

use chrono::Duration;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
};
use serde::Serialize;

use super::Ats;
use super::counts::CountFilter;
use super::viewer::Viewer;
use crate::entity::task::TaskStatus;
use crate::entity::{project, task};
use crate::error::{Error, Result};
use crate::time;

/// Which tasks to count: all, one org, or one project.
#[derive(Clone, Debug, Default)]
pub struct StatsScope {
    /// Org slug.
    pub org: Option<String>,
    /// Project slug (needs `org`).
    pub project: Option<String>,
}

/// Counts created and completed in recent windows.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct RecentStats {
    pub created_24h: u64,
    pub completed_24h: u64,
    pub created_7d: u64,
    pub completed_7d: u64,
}

/// The `stats` object.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct TaskStats {
    pub total: u64,
    pub by_status: BTreeMap<String, u64>,
    pub by_channel: BTreeMap<String, u64>,
    /// Mean seconds from creation to completion over completed tasks.
    pub avg_completion_seconds: Option<f64>,
    pub completed_count: u64,
    pub recent: RecentStats,
}

impl Ats {
    /// Statistics over the tasks in `scope` that the viewer may read.
    pub async fn stats(&self, viewer: &Viewer, scope: &StatsScope) -> Result<TaskStats> {
        let rights = self.rights(viewer).await?;
        let db = self.store.conn();
        let mut projects = rights.readable();
        match (&scope.org, &scope.project) {
            (Some(org), Some(p)) => {
                let (_, p, _) = self
                    .visible_project(db, &rights, org, p, super::Access::Read)
                    .await?;
                projects.retain(|id| *id == p.id);
            }
            (Some(org), None) => {
                let o = self.visible_org(db, &rights, org).await?.0;
                let ids = rights.readable_in_org(o.id);
                projects.retain(|id| ids.contains(id));
            }
            (None, Some(_)) => return Err(Error::bad_request("project needs org")),
            (None, None) => {}
        }
        self.stats_of(projects).await
    }

    /// Statistics over every task of every tenant: the service's own
    /// figures, for `/metrics` only (never shown to a caller).
    pub async fn system_stats(&self) -> Result<TaskStats> {
        let projects: Vec<i32> = project::Entity::find()
            .select_only()
            .column(project::Column::Id)
            .into_tuple()
            .all(self.store.conn())
            .await?;
        self.stats_of(projects).await
    }

    /// Totals by status and channel come from the counters; the completion
    /// average and the recent windows from the time indexes.
    async fn stats_of(&self, projects: Vec<i32>) -> Result<TaskStats> {
        let db = self.store.conn();
        let cond = Condition::all().add(task::Column::ProjectId.is_in(projects.clone()));
        let mut stats = TaskStats::default();
        for s in TaskStatus::ALL {
            stats.by_status.insert(s.as_str().to_owned(), 0);
        }
        let tally = self
            .tally(&CountFilter {
                projects,
                ..CountFilter::default()
            })
            .await?;
        stats.total = tally.total();
        stats.by_status.extend(tally.by_status());
        stats.by_channel = tally.by_channel();
        stats.completed_count = stats.by_status[TaskStatus::Completed.as_str()];

        let seconds = match self.store.backend() {
            DbBackend::Postgres => {
                "CAST(AVG(EXTRACT(EPOCH FROM (completed_at - created_at))) AS DOUBLE PRECISION)"
            }
            _ => "AVG((julianday(completed_at) - julianday(created_at)) * 86400.0)",
        };
        stats.avg_completion_seconds = task::Entity::find()
            .select_only()
            .column_as(Expr::cust(seconds), "avg")
            .filter(cond.clone())
            .filter(task::Column::Status.eq(TaskStatus::Completed))
            .filter(task::Column::CompletedAt.is_not_null())
            .into_tuple::<Option<f64>>()
            .one(db)
            .await?
            .flatten()
            .map(|s| (s * 1000.0).round() / 1000.0);

        let now = time::now();
        let count_since = |col: task::Column, days: i64| {
            task::Entity::find()
                .filter(cond.clone())
                .filter(col.gte(now - Duration::days(days)))
                .count(db)
        };
        stats.recent = RecentStats {
            created_24h: count_since(task::Column::CreatedAt, 1).await?,
            completed_24h: count_since(task::Column::CompletedAt, 1).await?,
            created_7d: count_since(task::Column::CreatedAt, 7).await?,
            completed_7d: count_since(task::Column::CompletedAt, 7).await?,
        };
        Ok(stats)
    }
}
