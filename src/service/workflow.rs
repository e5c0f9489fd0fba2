//! Workflow rules: dependencies (blocking, cycles, unblocking), subtasks
//! (a parent completes last), handoffs, and the task views' dependency fields.

use std::collections::{HashMap, HashSet};

use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::access::Access;
use super::event_log::{NewEvent, record};
use super::tasks::Scope;
use super::viewer::{Rights, Viewer};
use super::views::{Location, TaskView};
use super::{Ats, validate};
use crate::actor::Actor;
use crate::entity::task::TaskStatus;
use crate::entity::{handoff, task, task_dependency};
use crate::error::{Error, Result};
use crate::time::{self, rfc3339};

/// Most blockers one task may wait for.
pub const MAX_DEPENDENCIES: usize = 100;

/// An event on another task that a change causes (unblocked, subtasks done).
pub(crate) struct FollowUp {
    pub event_type: &'static str,
    pub task: TaskView,
    pub loc: Location,
    pub extra: Option<(&'static str, Value)>,
}

/// A handoff as the API shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct HandoffView {
    pub id: i64,
    pub task_id: i64,
    pub actor_type: String,
    pub actor_id: String,
    pub actor_name: Option<String>,
    pub summary: String,
    pub next_steps: Vec<String>,
    #[serde(with = "rfc3339")]
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<handoff::Model> for HandoffView {
    fn from(h: handoff::Model) -> Self {
        Self {
            id: h.id,
            task_id: h.task_id,
            actor_type: h.actor_type,
            actor_id: h.actor_id,
            actor_name: h.actor_name,
            summary: h.summary,
            next_steps: serde_json::from_value(h.next_steps).unwrap_or_default(),
            created_at: h.created_at,
        }
    }
}

/// `POST /tasks/:id/handoffs`.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct NewHandoff {
    /// Required: what was done and where things stand; not blank, at most
    /// 64 KiB (UTF-8).
    #[schema(required = true, value_type = String, min_length = 1, max_length = 65536, pattern = r"\S")]
    pub summary: Option<String>,
    /// What the next session should do.
    #[schema(schema_with = super::documented::next_steps)]
    pub next_steps: Option<Vec<String>>,
}

/// A task's blockers after [`Ats::set_dependencies`].
pub(crate) struct Dependencies {
    /// Their ids, ascending.
    pub ids: Vec<i64>,
    /// How many are not completed.
    pub open_blockers: i32,
}

impl Ats {
    /// Replaces the blockers of `t` (same org only; no cycles).
    pub(crate) async fn set_dependencies<C: ConnectionTrait>(
        &self,
        db: &C,
        rights: &Rights,
        t: &task::Model,
        org_id: i32,
        deps: &[i64],
    ) -> Result<Dependencies> {
        let mut wanted: Vec<i64> = deps.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        if wanted.len() > MAX_DEPENDENCIES {
            return Err(Error::validation(format!(
                "depends_on may list at most {MAX_DEPENDENCIES} tasks"
            )));
        }
        if wanted.contains(&t.id) {
            return Err(Error::validation(format!(
                "task {} cannot depend on itself",
                t.id
            )));
        }
        // Blockers are read with a share lock, so none can complete (and
        // miss this task's new edge when it counts down its dependents)
        // until this transaction commits.
        let mut blockers = task::Entity::find().filter(task::Column::Id.is_in(wanted.clone()));
        if db.get_database_backend() == sea_orm::DbBackend::Postgres {
            blockers = blockers.lock_shared();
        }
        let found: HashMap<i64, task::Model> = blockers
            .all(db)
            .await?
            .into_iter()
            .map(|b| (b.id, b))
            .collect();
        for id in &wanted {
            // A task the caller may not read, or one of another org, is "not
            // found" alike: the answer must not tell whether it exists.
            let missing = || Error::validation(format!("depends_on: task {id} not found"));
            let b = found.get(id).ok_or_else(missing)?;
            if !rights.can_read(b.project_id) || rights.org_of(b.project_id) != Some(org_id) {
                return Err(missing());
            }
        }
        // A cycle exists if the task is reachable from any of its new blockers.
        let mut seen: HashSet<i64> = HashSet::new();
        let mut frontier = wanted.clone();
        while !frontier.is_empty() {
            let edges = task_dependency::Entity::find()
                .filter(task_dependency::Column::TaskId.is_in(frontier.clone()))
                .all(db)
                .await?;
            frontier.clear();
            for e in edges {
                if e.depends_on_id == t.id {
                    return Err(Error::validation(format!(
                        "depends_on would create a cycle: task {} already depends (through task {}) on task {}",
                        e.task_id, e.task_id, t.id
                    )));
                }
                if seen.insert(e.depends_on_id) {
                    frontier.push(e.depends_on_id);
                }
            }
        }
        task_dependency::Entity::delete_many()
            .filter(task_dependency::Column::TaskId.eq(t.id))
            .exec(db)
            .await?;
        let open = wanted
            .iter()
            .filter(|id| {
                found
                    .get(id)
                    .is_some_and(|b| b.status != TaskStatus::Completed)
            })
            .count();
        if !wanted.is_empty() {
            task_dependency::Entity::insert_many(wanted.iter().map(|id| {
                task_dependency::ActiveModel {
                    task_id: Set(t.id),
                    depends_on_id: Set(*id),
                }
            }))
            .exec_without_returning(db)
            .await?;
        }
        let open = open as i32;
        let listed: Vec<i64> = serde_json::from_value(t.depends_on.clone()).unwrap_or_default();
        if open != t.open_blockers || listed != wanted {
            task::Entity::update_many()
                .col_expr(task::Column::OpenBlockers, Expr::value(open))
                .col_expr(task::Column::DependsOn, Expr::value(json!(wanted)))
                .filter(task::Column::Id.eq(t.id))
                .exec(db)
                .await?;
        }
        let unmarked: Vec<i64> = found
            .values()
            .filter(|b| !b.has_dependents)
            .map(|b| b.id)
            .collect();
        if !unmarked.is_empty() {
            task::Entity::update_many()
                .col_expr(task::Column::HasDependents, Expr::value(true))
                .filter(task::Column::Id.is_in(unmarked))
                .exec(db)
                .await?;
        }
        Ok(Dependencies {
            ids: wanted,
            open_blockers: open,
        })
    }

    /// Moves the count of open subtasks of `parent` by `delta` (a subtask was
    /// created, finished or reopened); returns the parent as it now is.
    pub(crate) async fn count_open_subtasks<C: ConnectionTrait>(
        &self,
        db: &C,
        parent: i64,
        delta: i32,
    ) -> Result<Option<task::Model>> {
        let changed = task::Entity::update_many()
            .col_expr(
                task::Column::OpenSubtasks,
                Expr::col(task::Column::OpenSubtasks).add(delta),
            )
            .filter(task::Column::Id.eq(parent))
            .exec_with_returning(db)
            .await?;
        Ok(changed.into_iter().next())
    }

    /// Counts the dependents of `blocker` down (it completed) or up (it was
    /// reopened); returns the dependents counted down to no open blocker.
    pub(crate) async fn count_dependents<C: ConnectionTrait>(
        &self,
        db: &C,
        blocker: i64,
        completed: bool,
    ) -> Result<Vec<task::Model>> {
        let dependents = Query::select()
            .column(task_dependency::Column::TaskId)
            .from(task_dependency::Entity)
            .and_where(task_dependency::Column::DependsOnId.eq(blocker))
            .to_owned();
        let step = if completed {
            Expr::col(task::Column::OpenBlockers).sub(1)
        } else {
            Expr::col(task::Column::OpenBlockers).add(1)
        };
        let changed = task::Entity::update_many()
            .col_expr(task::Column::OpenBlockers, step)
            .filter(task::Column::Id.in_subquery(dependents))
            .exec_with_returning(db)
            .await?;
        Ok(changed
            .into_iter()
            .filter(|t| completed && t.open_blockers == 0)
            .collect())
    }

    /// Blockers of `task_id` that are not completed.
    pub(crate) async fn blockers<C: ConnectionTrait>(
        &self,
        db: &C,
        task_id: i64,
    ) -> Result<Vec<i64>> {
        let deps: Vec<i64> = task_dependency::Entity::find()
            .filter(task_dependency::Column::TaskId.eq(task_id))
            .all(db)
            .await?
            .into_iter()
            .map(|d| d.depends_on_id)
            .collect();
        if deps.is_empty() {
            return Ok(deps);
        }
        let mut open: Vec<i64> = task::Entity::find()
            .filter(task::Column::Id.is_in(deps))
            .filter(task::Column::Status.ne(TaskStatus::Completed))
            .all(db)
            .await?
            .into_iter()
            .map(|b| b.id)
            .collect();
        open.sort_unstable();
        Ok(open)
    }

    /// Fills `blocked_by` of the views that still have open blockers (one
    /// query, none when no view is blocked; `depends_on` comes with the row).
    pub(crate) async fn decorate<C: ConnectionTrait>(
        &self,
        db: &C,
        views: &mut [TaskView],
    ) -> Result<()> {
        let blocker_ids: Vec<i64> = views
            .iter()
            .filter(|v| v.open_blockers > 0)
            .flat_map(|v| v.depends_on.iter().copied())
            .collect();
        if blocker_ids.is_empty() {
            return Ok(());
        }
        let done: HashSet<i64> = task::Entity::find()
            .select_only()
            .column(task::Column::Id)
            .filter(task::Column::Id.is_in(blocker_ids))
            .filter(task::Column::Status.eq(TaskStatus::Completed))
            .into_tuple::<i64>()
            .all(db)
            .await?
            .into_iter()
            .collect();
        for v in views.iter_mut().filter(|v| v.open_blockers > 0) {
            v.blocked_by = v
                .depends_on
                .iter()
                .copied()
                .filter(|d| !done.contains(d))
                .collect();
        }
        Ok(())
    }

    /// Whether a change from `before` to `after` concerns no other task:
    /// [`Ats::guard`], [`Ats::follow_ups`] and [`Ats::decorate`] then read
    /// and write nothing, so the change can be written on its own.
    pub(crate) fn stands_alone(before: &task::Model, after: &task::Model) -> bool {
        let completed = after.status == TaskStatus::Completed;
        let completes = completed && before.status != TaskStatus::Completed;
        after.open_blockers == 0
            && !(completes && after.open_subtasks > 0)
            && !(after.has_dependents && completed != (before.status == TaskStatus::Completed))
            && !(after.parent_id.is_some() && after.status.is_open() != before.status.is_open())
    }

    /// Refuses a change the workflow forbids: claiming a blocked task, or
    /// completing a parent whose subtasks are unfinished.
    pub(crate) async fn guard<C: ConnectionTrait>(
        &self,
        db: &C,
        before: &task::Model,
        after: &task::Model,
    ) -> Result<()> {
        let claimed =
            after.status == TaskStatus::InProgress && after.claimed_at != before.claimed_at;
        if claimed && after.open_blockers > 0 {
            let blockers = self.blockers(db, after.id).await?;
            if !blockers.is_empty() {
                let list: Vec<String> = blockers.iter().map(|b| format!("task {b}")).collect();
                return Err(Error::conflict(format!(
                    "cannot claim task {}: it is blocked by unfinished {}",
                    after.id,
                    list.join(", ")
                )));
            }
        }
        if after.status == TaskStatus::Completed
            && before.status != TaskStatus::Completed
            && after.open_subtasks > 0
        {
            let open: Vec<i64> = task::Entity::find()
                .filter(task::Column::ParentId.eq(after.id))
                .filter(task::Column::Status.is_in([TaskStatus::Pending, TaskStatus::InProgress]))
                .order_by_asc(task::Column::Id)
                .all(db)
                .await?
                .into_iter()
                .map(|s| s.id)
                .collect();
            if !open.is_empty() {
                let list: Vec<String> = open.iter().map(|s| s.to_string()).collect();
                return Err(Error::conflict(format!(
                    "cannot complete task {}: its subtasks {} are unfinished",
                    after.id,
                    list.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Events a change causes on other tasks: `task.unblocked` for dependents
    /// whose last blocker just completed, and `task.updated` with
    /// `subtasks_done` on a parent whose last subtask just finished.
    pub(crate) async fn follow_ups<C: ConnectionTrait>(
        &self,
        db: &C,
        before: &task::Model,
        after: &task::Model,
    ) -> Result<Vec<FollowUp>> {
        let mut out = Vec::new();
        let completed = after.status == TaskStatus::Completed;
        if after.has_dependents && completed != (before.status == TaskStatus::Completed) {
            for t in self.count_dependents(db, after.id, completed).await? {
                {
                    let loc = self
                        .locations(db, vec![t.project_id])
                        .await?
                        .remove(&t.project_id);
                    if let Some(loc) = loc {
                        let mut view = TaskView::new(t, &loc);
                        self.decorate(db, std::slice::from_mut(&mut view)).await?;
                        out.push(FollowUp {
                            event_type: "task.unblocked",
                            task: view,
                            loc,
                            extra: Some(("unblocked_by", json!(after.id))),
                        });
                    }
                }
            }
        }
        if let Some(parent_id) = after.parent_id
            && after.status.is_open() != before.status.is_open()
        {
            let delta = if after.status.is_open() { 1 } else { -1 };
            if let Some(p) = self.count_open_subtasks(db, parent_id, delta).await?
                && p.open_subtasks == 0
            {
                let loc = self
                    .locations(db, vec![p.project_id])
                    .await?
                    .remove(&p.project_id);
                if let Some(loc) = loc {
                    let mut view = TaskView::new(p, &loc);
                    self.decorate(db, std::slice::from_mut(&mut view)).await?;
                    out.push(FollowUp {
                        event_type: "task.updated",
                        task: view,
                        loc,
                        extra: Some(("subtasks_done", json!(true))),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Records `follow_ups` (in the caller's transaction), acted by `actor`.
    pub(crate) async fn record_follow_ups<C: ConnectionTrait>(
        &self,
        db: &C,
        actor: &Actor,
        follow: Vec<FollowUp>,
    ) -> Result<()> {
        let events: Vec<NewEvent> = follow
            .iter()
            .map(|f| NewEvent {
                event_type: f.event_type,
                actor,
                task: &f.task,
                loc: &f.loc,
                extra: f.extra.clone(),
            })
            .collect();
        record(db, &events).await
    }

    /// Subtasks of a task.
    pub async fn list_subtasks(
        &self,
        viewer: &Viewer,
        scope: &Scope,
        id: i64,
    ) -> Result<Vec<TaskView>> {
        let (_, loc) = self.find_task(viewer, scope, id).await?;
        let rows = task::Entity::find()
            .filter(task::Column::ParentId.eq(id))
            .order_by_asc(task::Column::Id)
            .all(self.store.conn())
            .await?;
        let mut views: Vec<TaskView> = rows.into_iter().map(|t| TaskView::new(t, &loc)).collect();
        self.decorate(self.store.conn(), &mut views).await?;
        Ok(views)
    }

    /// Creates a subtask in the parent's project.
    pub async fn create_subtask(
        &self,
        viewer: &Viewer,
        scope: &Scope,
        parent_id: i64,
        mut input: super::NewTask,
    ) -> Result<TaskView> {
        let (_, loc) = self.find_task(viewer, scope, parent_id).await?;
        input.parent_id = Some(parent_id);
        let scope = Scope::Project {
            org: loc.org,
            project: loc.project,
        };
        self.create_task(viewer, &scope, input).await
    }

    /// Posts a handoff on a task (`task.handoff`).
    pub async fn add_handoff(
        &self,
        viewer: &Viewer,
        scope: &Scope,
        id: i64,
        input: NewHandoff,
    ) -> Result<HandoffView> {
        let rights = self.rights(viewer).await?;
        let actor = rights.actor();
        let summary = input
            .summary
            .as_deref()
            .map(str::trim)
            .unwrap_or_default()
            .to_owned();
        if summary.is_empty() || summary.len() > validate::MAX_DESCRIPTION {
            return Err(Error::validation(format!(
                "summary must be 1 to {} bytes",
                validate::MAX_DESCRIPTION
            )));
        }
        let steps = input.next_steps.unwrap_or_default();
        if steps.len() > 100 || steps.iter().any(|s| s.trim().is_empty() || s.len() > 2000) {
            return Err(Error::validation(
                "next_steps must be at most 100 non-empty strings of at most 2000 bytes",
            ));
        }
        let w = self.store.begin_write().await?;
        let (t, loc, _) = self
            .find_task_in(&w.txn, &rights, scope, id, Access::Write)
            .await?;
        let h = handoff::ActiveModel {
            task_id: Set(id),
            actor_type: Set(actor.actor_type.as_str().to_owned()),
            actor_id: Set(actor.id.clone()),
            actor_name: Set(actor.name.clone()),
            summary: Set(summary),
            next_steps: Set(json!(steps)),
            created_at: Set(time::now()),
            ..Default::default()
        }
        .insert(&w.txn)
        .await?;
        let view = HandoffView::from(h);
        let mut task = TaskView::new(t, &loc);
        self.decorate(&w.txn, std::slice::from_mut(&mut task))
            .await?;
        record(
            &w.txn,
            &[NewEvent {
                event_type: "task.handoff",
                actor,
                task: &task,
                loc: &loc,
                extra: Some((
                    "handoff",
                    serde_json::to_value(&view).unwrap_or(Value::Null),
                )),
            }],
        )
        .await?;
        w.commit().await?;
        self.bus.committed();
        Ok(view)
    }

    /// A task's handoffs, oldest first.
    pub async fn list_handoffs(
        &self,
        viewer: &Viewer,
        scope: &Scope,
        id: i64,
    ) -> Result<Vec<HandoffView>> {
        self.find_task(viewer, scope, id).await?;
        Ok(handoff::Entity::find()
            .filter(handoff::Column::TaskId.eq(id))
            .order_by_asc(handoff::Column::Id)
            .all(self.store.conn())
            .await?
            .into_iter()
            .map(HandoffView::from)
            .collect())
    }

    /// Handoffs of many tasks (for GraphQL).
    pub async fn handoffs_of_tasks(
        &self,
        viewer: &Viewer,
        ids: &[i64],
    ) -> Result<HashMap<i64, Vec<HandoffView>>> {
        let rights = self.rights(viewer).await?;
        let mut out: HashMap<i64, Vec<HandoffView>> = HashMap::new();
        for h in handoff::Entity::find()
            .filter(
                handoff::Column::TaskId.in_subquery(super::batch::readable_task_ids(&rights, ids)),
            )
            .order_by_asc(handoff::Column::Id)
            .all(self.store.conn())
            .await?
        {
            out.entry(h.task_id).or_default().push(h.into());
        }
        Ok(out)
    }
}
