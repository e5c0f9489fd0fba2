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

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, DatabaseTransaction, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait,
};
use tokio::sync::watch;

use super::Ats;
use super::event_log::{NewEvent, record};
use super::views::{Location, TaskView};
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

/// One timer: the rows it takes, and what it writes on each.
struct Timer {
    /// The predicate of the timer's partial index (inlined so the planner
    /// uses it), checked again on each row as it is when updated.
    index: &'static str,
    /// The task's time for this timer.
    at: task::Column,
    /// The column the change sets, and its value.
    stamp: (task::Column, sea_orm::sea_query::SimpleExpr),
    /// Any further condition on the rows, in the pick and in the update.
    also: sea_orm::Condition,
}

/// The escalations rows of one pass, and the events' extra data.
#[derive(Default)]
struct Granted {
    rows: Vec<escalation::ActiveModel>,
    extras: Vec<serde_json::Value>,
}

impl Granted {
    fn add(
        &mut self,
        task_id: i64,
        targets: &[super::escalations::Target],
        now: DateTime<Utc>,
        extra: serde_json::Value,
    ) {
        for target in targets {
            self.rows.push(escalation::ActiveModel {
                task_id: sea_orm::Set(task_id),
                actor_type: sea_orm::Set(target.actor_type.clone()),
                actor_id: sea_orm::Set(target.actor_id.clone()),
                via: sea_orm::Set(target.via.to_owned()),
                created_at: sea_orm::Set(now),
            });
        }
        self.extras.push(extra);
    }

    /// Stores the rights; true when there were any.
    async fn store(self, txn: &DatabaseTransaction) -> Result<(bool, Vec<serde_json::Value>)> {
        if self.rows.is_empty() {
            return Ok((false, self.extras));
        }
        escalation::Entity::insert_many(self.rows)
            .on_conflict(
                sea_orm::sea_query::OnConflict::columns([
                    escalation::Column::TaskId,
                    escalation::Column::ActorType,
                    escalation::Column::ActorId,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
        Ok((true, self.extras))
    }
}

impl Ats {
    /// One pass of every timer; returns how many tasks it changed.
    pub async fn fire_timers(&self) -> Result<usize> {
        let mut changed = 0;
        for pass in [Pass::Ready, Pass::Overdue, Pass::Escalate] {
            loop {
                let n = match pass {
                    Pass::Ready => self.release_scheduled().await?,
                    Pass::Overdue => self.mark_overdue().await?,
                    Pass::Escalate => self.escalate_further().await?,
                };
                changed += n;
                if n < BATCH as usize {
                    break;
                }
            }
        }
        Ok(changed)
    }

    /// Takes up to [`BATCH`] tasks whose `timer` came by `now` (skipping rows
    /// another replica holds), writes the timer's stamp on them with one
    /// conditional update, and returns them in time order with their
    /// locations.
    async fn take_due(
        &self,
        txn: &DatabaseTransaction,
        timer: Timer,
        now: DateTime<Utc>,
    ) -> Result<Vec<(task::Model, Location)>> {
        let mut pick = task::Entity::find()
            .select_only()
            .column(task::Column::Id)
            .filter(Expr::cust(timer.index))
            .filter(timer.at.lte(now))
            .filter(timer.also.clone())
            .order_by_asc(timer.at)
            .limit(BATCH)
            .into_query();
        if self.store.backend() == DbBackend::Postgres {
            pick.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let mut stored = task::Entity::update_many()
            .col_expr(timer.stamp.0, timer.stamp.1)
            .col_expr(task::Column::UpdatedAt, Expr::value(now))
            .col_expr(
                task::Column::Version,
                Expr::col(task::Column::Version).add(1),
            )
            .filter(task::Column::Id.in_subquery(pick))
            // Checked again on the row as it is now: another replica may
            // have changed it since.
            .filter(Expr::cust(timer.index))
            .filter(timer.at.lte(now))
            .filter(timer.also)
            .exec_with_returning(txn)
            .await?;
        if stored.is_empty() {
            return Ok(Vec::new());
        }
        let time_of = |t: &task::Model| match timer.at {
            task::Column::RunAt => t.run_at,
            task::Column::DueAt => t.due_at,
            _ => t.escalate_at,
        };
        stored.sort_by_key(|t| (time_of(t), t.id));
        let mut projects: Vec<i32> = stored.iter().map(|t| t.project_id).collect();
        projects.sort_unstable();
        projects.dedup();
        let locations = self.locations(txn, projects).await?;
        stored
            .into_iter()
            .map(|t| {
                let loc = locations
                    .get(&t.project_id)
                    .cloned()
                    .ok_or_else(|| Error::Internal(format!("task {} lost its project", t.id)))?;
                Ok((t, loc))
            })
            .collect()
    }

    /// Records one system event of `event_type` per task, with its extra data.
    async fn record_timer_events(
        txn: &DatabaseTransaction,
        event_type: &'static str,
        views: &[(TaskView, Location)],
        extras: Vec<Option<(&'static str, serde_json::Value)>>,
    ) -> Result<()> {
        let system = Actor::system();
        let events: Vec<NewEvent> = views
            .iter()
            .zip(extras)
            .map(|((view, loc), extra)| NewEvent {
                event_type,
                actor: &system,
                task: view,
                loc,
                extra,
            })
            .collect();
        record(txn, &events).await
    }

    /// Makes the waiting tasks whose `run_at` has come ready, with
    /// `task.ready` each, in one transaction of a few statements.
    async fn release_scheduled(&self) -> Result<usize> {
        let now = time::now();
        let w = self.store.begin_write().await?;
        let timer = Timer {
            index: migration::WAITING_TASKS,
            at: task::Column::RunAt,
            stamp: (task::Column::Waiting, Expr::value(false)),
            also: sea_orm::Condition::all().add(task::Column::Status.eq(TaskStatus::Pending)),
        };
        let due = self.take_due(&w.txn, timer, now).await?;
        if due.is_empty() {
            return Ok(0);
        }
        let (tasks, locs): (Vec<_>, Vec<_>) = due.into_iter().unzip();
        let mut views: Vec<TaskView> = tasks
            .into_iter()
            .zip(&locs)
            .map(|(t, loc)| TaskView::new(t, loc))
            .collect();
        self.decorate(&w.txn, &mut views).await?;
        let views: Vec<(TaskView, Location)> = views.into_iter().zip(locs).collect();
        let n = views.len();
        Self::record_timer_events(&w.txn, "task.ready", &views, vec![None; n]).await?;
        w.commit().await?;
        self.bus.committed();
        Ok(n)
    }

    /// Marks the open tasks whose deadline passed overdue, with
    /// `task.overdue` each (naming its escalation targets, who get their
    /// per-task right in the same transaction).
    async fn mark_overdue(&self) -> Result<usize> {
        let now = time::now();
        let w = self.store.begin_write().await?;
        let timer = Timer {
            index: migration::DUE_TASKS,
            at: task::Column::DueAt,
            stamp: (task::Column::OverdueAt, Expr::value(now)),
            also: sea_orm::Condition::all(),
        };
        let due = self.take_due(&w.txn, timer, now).await?;
        if due.is_empty() {
            return Ok(0);
        }
        let mut granted = Granted::default();
        let mut views = Vec::with_capacity(due.len());
        for (t, loc) in due {
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
            let extra = serde_json::json!({
                "due_at": t.due_at.as_ref().map(time::format),
                "targets": targets.iter().map(|t| t.to_json()).collect::<Vec<_>>(),
            });
            granted.add(t.id, &targets, now, extra);
            views.push((TaskView::new(t, &loc), loc));
        }
        self.finish_escalation(w, "task.overdue", views, granted)
            .await
    }

    /// Escalates the overdue tasks whose `escalate_after_ms` ran out to the
    /// org's owners and admins, with `task.escalated` each.
    async fn escalate_further(&self) -> Result<usize> {
        let now = time::now();
        let w = self.store.begin_write().await?;
        let timer = Timer {
            index: migration::ESCALATING_TASKS,
            at: task::Column::EscalateAt,
            stamp: (task::Column::EscalatedAt, Expr::value(now)),
            also: sea_orm::Condition::all(),
        };
        let due = self.take_due(&w.txn, timer, now).await?;
        if due.is_empty() {
            return Ok(0);
        }
        let mut granted = Granted::default();
        let mut views = Vec::with_capacity(due.len());
        // Every task of one org escalates to the same people: read them once.
        let mut admins = std::collections::HashMap::new();
        for (t, loc) in due {
            let targets = match admins.get(&loc.org_id) {
                Some(known) => Vec::clone(known),
                None => {
                    let read = super::escalations::org_admins(&w.txn, &loc).await?;
                    admins.insert(loc.org_id, read.clone());
                    read
                }
            };
            let extra = serde_json::json!({
                "due_at": t.due_at.as_ref().map(time::format),
                "escalate_after_ms": t.escalate_after_ms,
                "targets": targets.iter().map(|t| t.to_json()).collect::<Vec<_>>(),
            });
            granted.add(t.id, &targets, now, extra);
            views.push((TaskView::new(t, &loc), loc));
        }
        self.finish_escalation(w, "task.escalated", views, granted)
            .await
    }

    /// Stores the escalation rights, records `event_type` for each task,
    /// commits, and tells every replica the targets' rights changed.
    async fn finish_escalation(
        &self,
        w: crate::db::WriteTxn,
        event_type: &'static str,
        views: Vec<(TaskView, Location)>,
        granted: Granted,
    ) -> Result<usize> {
        let (any, extras) = granted.store(&w.txn).await?;
        let extras = extras
            .into_iter()
            .map(|e| Some(("escalation", e)))
            .collect();
        Self::record_timer_events(&w.txn, event_type, &views, extras).await?;
        w.commit().await?;
        if any {
            // The targets' cached rights now lack the new per-task rights:
            // announced before the events go out, so that this process's
            // subscribers read them again before they judge the events
            // (another replica may hear of the events first; its
            // subscriptions then read the rights again themselves, see
            // `Ats::may_receive`).
            self.access_changed().await;
        }
        self.bus.committed();
        Ok(views.len())
    }
}

/// The timers, in the order a pass fires them.
#[derive(Clone, Copy)]
enum Pass {
    Ready,
    Overdue,
    Escalate,
}
