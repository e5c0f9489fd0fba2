//! The timer worker: changes that happen when a time stored on a task comes.
//! Every timer is a column of the task row with an index the worker scans
//! (never an in-memory timer a restart would forget), so a server started
//! after a long stop catches up on its first pass. Each change is a
//! conditional update (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so with
//! several replicas exactly one writes it and records its event.
//!
//! - `run_at`: a scheduled task (or a retry) waits out of the ready queue
//!   until its time; the worker then makes it ready (`task.ready`).
//! - `due_at`: a task still open at its deadline becomes overdue, once
//!   (`overdue_at`), with `task.overdue` naming who it escalates to; each of
//!   them gets a per-task right (an `escalations` row).

use std::time::Duration;

use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};
use tokio::sync::watch;

use super::Ats;
use super::event_log::{NewEvent, record};
use super::views::TaskView;
use crate::actor::Actor;
use crate::entity::escalation;
use crate::entity::task::{self, TaskStatus};
use crate::error::{Error, Result};
use crate::time;

/// Most tasks one pass changes per timer.
const BATCH: u64 = 200;

/// Runs the timers every `interval` until shutdown.
pub struct TimerWorker;

impl TimerWorker {
    /// Spawns the loop; its first pass runs at once (catching up on what
    /// came due while no server ran).
    pub fn spawn(ats: Ats, interval: Duration, mut shutdown: watch::Receiver<bool>) {
        tokio::spawn(async move {
            loop {
                match ats.fire_timers().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(changed = n, "timer worker changed tasks"),
                    Err(err) => tracing::warn!(error = %err, "timer worker pass failed"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = shutdown.changed() => return,
                }
            }
        });
    }
}

impl Ats {
    /// One pass of every timer; returns how many tasks it changed.
    pub async fn fire_timers(&self) -> Result<usize> {
        let mut changed = 0;
        loop {
            let n = self.release_scheduled().await?;
            changed += n;
            if n < BATCH as usize {
                break;
            }
        }
        loop {
            let n = self.mark_overdue().await?;
            changed += n;
            if n < BATCH as usize {
                break;
            }
        }
        loop {
            let n = self.escalate_further().await?;
            changed += n;
            if n < BATCH as usize {
                break;
            }
        }
        Ok(changed)
    }

    /// Makes the waiting tasks whose `run_at` has come ready, with
    /// `task.ready` each, in one transaction of a few statements.
    async fn release_scheduled(&self) -> Result<usize> {
        let now = time::now();
        let mut pick = task::Entity::find()
            .select_only()
            .column(task::Column::Id)
            // Inlined: the waiting index holds these rows only.
            .filter(Expr::cust(migration::WAITING_TASKS))
            .filter(task::Column::RunAt.lte(now))
            .order_by_asc(task::Column::RunAt)
            .limit(BATCH)
            .into_query();
        if self.store.backend() == DbBackend::Postgres {
            pick.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let w = self.store.begin_write().await?;
        let mut stored = task::Entity::update_many()
            .col_expr(task::Column::Waiting, Expr::value(false))
            .col_expr(task::Column::UpdatedAt, Expr::value(now))
            .col_expr(
                task::Column::Version,
                Expr::col(task::Column::Version).add(1),
            )
            .filter(task::Column::Id.in_subquery(pick))
            // Checked again on the row as it is now: another replica may
            // have released it since.
            .filter(Expr::cust(migration::WAITING_TASKS))
            .filter(task::Column::Status.eq(TaskStatus::Pending))
            .exec_with_returning(&w.txn)
            .await?;
        if stored.is_empty() {
            return Ok(0);
        }
        stored.sort_by_key(|t| (t.run_at, t.id));
        let mut projects: Vec<i32> = stored.iter().map(|t| t.project_id).collect();
        projects.sort_unstable();
        projects.dedup();
        let locations = self.locations(&w.txn, projects).await?;
        let mut views = Vec::with_capacity(stored.len());
        let mut locs = Vec::with_capacity(stored.len());
        for t in stored {
            let loc = locations
                .get(&t.project_id)
                .cloned()
                .ok_or_else(|| Error::Internal(format!("task {} lost its project", t.id)))?;
            views.push(TaskView::new(t, &loc));
            locs.push(loc);
        }
        self.decorate(&w.txn, &mut views).await?;
        let system = Actor::system();
        let events: Vec<NewEvent> = views
            .iter()
            .zip(&locs)
            .map(|(view, loc)| NewEvent {
                event_type: "task.ready",
                actor: &system,
                task: view,
                loc,
                extra: None,
            })
            .collect();
        record(&w.txn, &events).await?;
        w.commit().await?;
        self.bus.settle().await;
        Ok(views.len())
    }

    /// Marks the open tasks whose deadline passed overdue, with
    /// `task.overdue` each (naming its escalation targets, who get their
    /// per-task right in the same transaction).
    async fn mark_overdue(&self) -> Result<usize> {
        let now = time::now();
        let mut pick = task::Entity::find()
            .select_only()
            .column(task::Column::Id)
            // Inlined: the deadline index holds these rows only.
            .filter(Expr::cust(migration::DUE_TASKS))
            .filter(task::Column::DueAt.lte(now))
            .order_by_asc(task::Column::DueAt)
            .limit(BATCH)
            .into_query();
        if self.store.backend() == DbBackend::Postgres {
            pick.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let w = self.store.begin_write().await?;
        let mut stored = task::Entity::update_many()
            .col_expr(task::Column::OverdueAt, Expr::value(now))
            .col_expr(task::Column::UpdatedAt, Expr::value(now))
            .col_expr(
                task::Column::Version,
                Expr::col(task::Column::Version).add(1),
            )
            .filter(task::Column::Id.in_subquery(pick))
            // Checked again on the row as it is now.
            .filter(Expr::cust(migration::DUE_TASKS))
            .filter(task::Column::DueAt.lte(now))
            .exec_with_returning(&w.txn)
            .await?;
        if stored.is_empty() {
            return Ok(0);
        }
        stored.sort_by_key(|t| (t.due_at, t.id));
        let mut projects: Vec<i32> = stored.iter().map(|t| t.project_id).collect();
        projects.sort_unstable();
        projects.dedup();
        let locations = self.locations(&w.txn, projects).await?;
        let mut views = Vec::with_capacity(stored.len());
        let mut extras = Vec::with_capacity(stored.len());
        let mut rows = Vec::new();
        for t in stored {
            let loc = locations
                .get(&t.project_id)
                .cloned()
                .ok_or_else(|| Error::Internal(format!("task {} lost its project", t.id)))?;
            if let Some(ms) = t.escalate_after_ms {
                // The second escalation's time, counted from now.
                task::Entity::update_many()
                    .col_expr(
                        task::Column::EscalateAt,
                        Expr::value(now + chrono::Duration::milliseconds(ms)),
                    )
                    .filter(task::Column::Id.eq(t.id))
                    .exec(&w.txn)
                    .await?;
            }
            let targets = super::escalations::targets(&w.txn, &t, &loc).await?;
            for target in &targets {
                rows.push(escalation::ActiveModel {
                    task_id: sea_orm::Set(t.id),
                    actor_type: sea_orm::Set(target.actor_type.clone()),
                    actor_id: sea_orm::Set(target.actor_id.clone()),
                    via: sea_orm::Set(target.via.to_owned()),
                    created_at: sea_orm::Set(now),
                });
            }
            extras.push(serde_json::json!({
                "due_at": t.due_at.as_ref().map(time::format),
                "targets": targets.iter().map(|t| t.to_json()).collect::<Vec<_>>(),
            }));
            views.push((TaskView::new(t, &loc), loc));
        }
        let granted = !rows.is_empty();
        if granted {
            escalation::Entity::insert_many(rows)
                .on_conflict(
                    sea_orm::sea_query::OnConflict::columns([
                        escalation::Column::TaskId,
                        escalation::Column::ActorType,
                        escalation::Column::ActorId,
                    ])
                    .do_nothing()
                    .to_owned(),
                )
                .exec_without_returning(&w.txn)
                .await?;
        }
        let system = Actor::system();
        let events: Vec<NewEvent> = views
            .iter()
            .zip(extras)
            .map(|((view, loc), extra)| NewEvent {
                event_type: "task.overdue",
                actor: &system,
                task: view,
                loc,
                extra: Some(("escalation", extra)),
            })
            .collect();
        record(&w.txn, &events).await?;
        w.commit().await?;
        self.bus.settle().await;
        if granted {
            // The targets' cached rights now lack the new per-task rights.
            self.access_changed().await;
        }
        Ok(views.len())
    }

    /// Escalates the overdue tasks whose `escalate_after_ms` ran out to the
    /// org's owners and admins, with `task.escalated` each.
    async fn escalate_further(&self) -> Result<usize> {
        let now = time::now();
        let mut pick = task::Entity::find()
            .select_only()
            .column(task::Column::Id)
            // Inlined: the escalation index holds these rows only.
            .filter(Expr::cust(migration::ESCALATING_TASKS))
            .filter(task::Column::EscalateAt.lte(now))
            .order_by_asc(task::Column::EscalateAt)
            .limit(BATCH)
            .into_query();
        if self.store.backend() == DbBackend::Postgres {
            pick.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let w = self.store.begin_write().await?;
        let mut stored = task::Entity::update_many()
            .col_expr(task::Column::EscalatedAt, Expr::value(now))
            .col_expr(task::Column::UpdatedAt, Expr::value(now))
            .col_expr(
                task::Column::Version,
                Expr::col(task::Column::Version).add(1),
            )
            .filter(task::Column::Id.in_subquery(pick))
            .filter(Expr::cust(migration::ESCALATING_TASKS))
            .filter(task::Column::EscalateAt.lte(now))
            .exec_with_returning(&w.txn)
            .await?;
        if stored.is_empty() {
            return Ok(0);
        }
        stored.sort_by_key(|t| (t.escalate_at, t.id));
        let mut projects: Vec<i32> = stored.iter().map(|t| t.project_id).collect();
        projects.sort_unstable();
        projects.dedup();
        let locations = self.locations(&w.txn, projects).await?;
        let mut views = Vec::with_capacity(stored.len());
        let mut extras = Vec::with_capacity(stored.len());
        let mut rows = Vec::new();
        for t in stored {
            let loc = locations
                .get(&t.project_id)
                .cloned()
                .ok_or_else(|| Error::Internal(format!("task {} lost its project", t.id)))?;
            let targets = super::escalations::org_admins(&w.txn, &loc).await?;
            for target in &targets {
                rows.push(escalation::ActiveModel {
                    task_id: sea_orm::Set(t.id),
                    actor_type: sea_orm::Set(target.actor_type.clone()),
                    actor_id: sea_orm::Set(target.actor_id.clone()),
                    via: sea_orm::Set(target.via.to_owned()),
                    created_at: sea_orm::Set(now),
                });
            }
            extras.push(serde_json::json!({
                "due_at": t.due_at.as_ref().map(time::format),
                "escalate_after_ms": t.escalate_after_ms,
                "targets": targets.iter().map(|t| t.to_json()).collect::<Vec<_>>(),
            }));
            views.push((TaskView::new(t, &loc), loc));
        }
        let granted = !rows.is_empty();
        if granted {
            escalation::Entity::insert_many(rows)
                .on_conflict(
                    sea_orm::sea_query::OnConflict::columns([
                        escalation::Column::TaskId,
                        escalation::Column::ActorType,
                        escalation::Column::ActorId,
                    ])
                    .do_nothing()
                    .to_owned(),
                )
                .exec_without_returning(&w.txn)
                .await?;
        }
        let system = Actor::system();
        let events: Vec<NewEvent> = views
            .iter()
            .zip(extras)
            .map(|((view, loc), extra)| NewEvent {
                event_type: "task.escalated",
                actor: &system,
                task: view,
                loc,
                extra: Some(("escalation", extra)),
            })
            .collect();
        record(&w.txn, &events).await?;
        w.commit().await?;
        self.bus.settle().await;
        if granted {
            self.access_changed().await;
        }
        Ok(views.len())
    }
}
