//! Claim-next: atomically claim the most urgent claimable task matching a filter.

use sea_orm::sea_query::{LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, Condition, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Deserialize;

use super::access::Access;
use super::event_log::record_change;
use super::lifecycle::{Action, compare_and_set, plan};
use super::tasks::{Scope, ready_condition};
use super::viewer::Viewer;
use super::views::TaskView;
use super::{Ats, validate};
use crate::entity::task;
use crate::error::{Error, Result};
use crate::time;

/// What `claim-next` may take.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ClaimNext {
    /// Only this channel.
    pub channel: Option<String>,
    /// Only this task type.
    #[serde(rename = "type")]
    pub task_type: Option<String>,
    /// Only tasks at least this urgent (1–10).
    pub min_priority: Option<i64>,
    /// Lease length in ms (default 60 000).
    pub lease_duration: Option<i64>,
}

/// What REST answers (404) when nothing is claimable.
pub const NO_CLAIMABLE_TASK: &str = "no claimable task matches";

/// How many times claim-next retries after another caller won its candidate.
const RETRIES: usize = 16;

impl Ats {
    /// Claims the most urgent claimable task (highest priority, then oldest)
    /// in the projects the caller may write; `None` when nothing matches. No two callers get the same task:
    /// PostgreSQL skips rows another transaction has locked; SQLite has one writer.
    pub async fn claim_next(
        &self,
        viewer: &Viewer,
        scope: &Scope,
        req: ClaimNext,
    ) -> Result<Option<TaskView>> {
        let rights = self.rights(viewer).await?;
        let actor = rights.actor();
        let min_priority = req.min_priority.map(validate::priority).transpose()?;
        validate::lease_ms(req.lease_duration)?;
        let action = Action::Claim {
            lease_ms: req.lease_duration,
        };
        for _ in 0..RETRIES {
            let w = self.store.begin_write().await?;
            let mut projects = rights.projects_with(Access::Write);
            if let Scope::Project { org, project } = scope {
                let (_, p, _) = self
                    .visible_project(&w.txn, &rights, org, project, Access::Write)
                    .await?;
                projects.retain(|id| *id == p.id);
            }
            let mut cond = Condition::all()
                .add(task::Column::ProjectId.is_in(projects))
                .add(ready_condition());
            if let Some(c) = &req.channel {
                cond = cond.add(task::Column::Channel.eq(c.clone()));
            }
            if let Some(t) = &req.task_type {
                cond = cond.add(task::Column::TaskType.eq(t.clone()));
            }
            if let Some(p) = min_priority {
                cond = cond.add(task::Column::Priority.gte(p));
            }
            let mut query = task::Entity::find()
                .filter(cond)
                .order_by_desc(task::Column::Priority)
                .order_by_asc(task::Column::CreatedAt)
                .order_by_asc(task::Column::Id)
                .limit(1);
            if self.store.backend() == DbBackend::Postgres {
                query = query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
            }
            let Some(current) = query.one(&w.txn).await? else {
                return Ok(None);
            };
            let loc = rights
                .location(current.project_id)
                .cloned()
                .ok_or_else(|| Error::Internal(format!("task {} lost its project", current.id)))?;
            let planned = plan(&current, &action, actor, false, time::now())?;
            let Some(stored) = compare_and_set(&w.txn, current.version, &planned.task).await?
            else {
                continue;
            };
            let mut view = TaskView::new(stored, &loc);
            self.decorate(&w.txn, std::slice::from_mut(&mut view))
                .await?;
            record_change(&w.txn, actor, &view, &loc, planned.events).await?;
            w.commit().await?;
            self.bus.settle().await;
            return Ok(Some(view));
        }
        Err(Error::conflict(
            "every matching task was just claimed by others; retry",
        ))
    }
}
