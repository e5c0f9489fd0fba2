//! What a task view needs beyond the task itself: the actions the caller may
//! take on it now, and the tasks that wait for it. Both are answered by the
//! same rules the actions themselves apply (access, the state machine in
//! `lifecycle::plan`, and the workflow guard), so no client has to copy them.

use std::collections::HashMap;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::Ats;
use super::access::Access;
use super::lifecycle::{Action, plan};
use super::tasks::Scope;
use super::viewer::Viewer;
use super::views::TaskView;
use crate::entity::{task, task_dependency};
use crate::error::{Error, Result};
use crate::time;

/// Something a caller may do to a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskAction {
    /// Claim it (or renew the lease when holding it).
    Claim,
    /// Complete it.
    Complete,
    /// Fail it.
    Fail,
    /// Reject it.
    Reject,
    /// Cancel it.
    Cancel,
    /// Reopen it.
    Reopen,
    /// Change its fields (title, priority, …).
    Update,
    /// Delete it.
    Delete,
    /// Post a message on its thread.
    AddMessage,
    /// Post a handoff.
    AddHandoff,
    /// Create a subtask under it.
    CreateSubtask,
}

impl TaskAction {
    /// Every action, in the order they are listed.
    pub const ALL: [Self; 11] = [
        Self::Claim,
        Self::Complete,
        Self::Fail,
        Self::Reject,
        Self::Cancel,
        Self::Reopen,
        Self::Update,
        Self::Delete,
        Self::AddMessage,
        Self::AddHandoff,
        Self::CreateSubtask,
    ];

    /// The REST name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Claim => "claim",
            Self::Complete => "complete",
            Self::Fail => "fail",
            Self::Reject => "reject",
            Self::Cancel => "cancel",
            Self::Reopen => "reopen",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::AddMessage => "add_message",
            Self::AddHandoff => "add_handoff",
            Self::CreateSubtask => "create_subtask",
        }
    }

    /// The lifecycle action this is, if it is one (with no optional arguments).
    fn lifecycle(self) -> Option<Action> {
        Some(match self {
            Self::Claim => Action::Claim { lease_ms: None },
            Self::Complete => Action::Complete { outputs: None },
            Self::Fail => Action::Fail {
                reason: None,
                retry: None,
            },
            Self::Reject => Action::Reject { reason: None },
            Self::Cancel => Action::Cancel { reason: None },
            Self::Reopen => Action::Reopen { reason: None },
            _ => return None,
        })
    }
}

impl Ats {
    /// The actions `actor` may take on task `id` now: none for a reader
    /// without write access; otherwise each lifecycle action that the state
    /// machine and the workflow guard would let through (the same checks the
    /// action runs), plus the edits any writer may make.
    pub async fn viewer_actions(
        &self,
        viewer: &Viewer,
        scope: &Scope,
        id: i64,
    ) -> Result<Vec<TaskAction>> {
        let rights = self.rights(viewer).await?;
        let actor = rights.actor();
        let db = self.store.conn();
        let (t, _, access) = self
            .find_task_in(db, &rights, scope, id, Access::Read)
            .await?;
        if access < Access::Write {
            return Ok(Vec::new());
        }
        let admin = access >= Access::Admin;
        let now = time::now();
        let mut out = Vec::new();
        for a in TaskAction::ALL {
            let Some(action) = a.lifecycle() else {
                out.push(a);
                continue;
            };
            let planned = match plan(&t, &action, actor, admin, now) {
                Ok(p) => p,
                Err(Error::Conflict(_) | Error::Forbidden(_) | Error::Validation(_)) => continue,
                Err(e) => return Err(e),
            };
            match self.guard(db, &t, &planned.task).await {
                Ok(()) => out.push(a),
                Err(Error::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Ids of the tasks the viewer may read that depend on each of `ids`.
    pub async fn dependents_of_tasks(
        &self,
        viewer: &Viewer,
        ids: &[i64],
    ) -> Result<HashMap<i64, Vec<i64>>> {
        let rights = self.rights(viewer).await?;
        let readable_dependents = sea_orm::sea_query::Query::select()
            .column(task::Column::Id)
            .from(task::Entity)
            .and_where(task::Column::ProjectId.is_in(rights.readable()))
            .to_owned();
        let edges = task_dependency::Entity::find()
            .filter(task_dependency::Column::DependsOnId.is_in(ids.iter().copied()))
            .filter(task_dependency::Column::TaskId.in_subquery(readable_dependents))
            .order_by_asc(task_dependency::Column::TaskId)
            .all(self.store.conn())
            .await?;
        let mut out: HashMap<i64, Vec<i64>> = HashMap::new();
        for e in edges {
            out.entry(e.depends_on_id).or_default().push(e.task_id);
        }
        Ok(out)
    }

    /// The tasks that depend on task `id` (those the caller may read), oldest first.
    pub async fn dependents(
        &self,
        viewer: &Viewer,
        scope: &Scope,
        id: i64,
    ) -> Result<Vec<TaskView>> {
        self.find_task(viewer, scope, id).await?;
        let ids = self
            .dependents_of_tasks(viewer, &[id])
            .await?
            .remove(&id)
            .unwrap_or_default();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut found = self.tasks_by_ids(viewer, &ids).await?;
        Ok(ids.iter().filter_map(|i| found.remove(i)).collect())
    }
}
