//! The task state machine (SPEC §3): which action is allowed from which
//! status, by whom, and what it changes. `plan` is pure; `Ats::transition`
//! applies a plan as one compare-and-set write plus its events.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, Iterable, ModelTrait,
    QueryFilter, QueryTrait,
};
use serde_json::{Value, json};

use super::access::Access;
use super::event_log::{record_change, write_with_events};
use super::idempotency::{self, Idempotency};
use super::retry::RetryPolicy;
use super::tasks::Scope;
use super::viewer::{Rights, Viewer};
use super::views::{Location, TaskView};
use super::{Ats, validate};
use crate::actor::Actor;
use crate::entity::task::{self, TaskStatus};
use crate::error::{Error, Result};
use crate::time;

/// A lifecycle action.
#[derive(Clone, Debug)]
pub enum Action {
    /// Take the task (or renew the lease when already holding it).
    Claim {
        /// Lease length in ms (default 60 000).
        lease_ms: Option<i64>,
    },
    /// Finish successfully, appending outputs.
    Complete {
        /// An object (one output) or an array of outputs.
        outputs: Option<Value>,
    },
    /// Give up, or (with `retry`, for a task with a retry policy) give the
    /// task back for a later attempt.
    Fail {
        /// Why.
        reason: Option<String>,
        /// Ask for a retry instead of failing for good.
        retry: Option<RetryAsk>,
    },
    /// Decline.
    Reject {
        /// Why.
        reason: Option<String>,
    },
    /// Withdraw.
    Cancel {
        /// Why.
        reason: Option<String>,
    },
    /// Back to pending from a terminal status.
    Reopen {
        /// Why.
        reason: Option<String>,
    },
    /// Give a claimed task back: `in_progress` to `pending`, clearing the
    /// assignee and lease (the attempt stays used).
    Release {
        /// Why.
        reason: Option<String>,
    },
}

impl Action {
    fn verb(&self) -> &'static str {
        match self {
            Self::Claim { .. } => "claim",
            Self::Complete { .. } => "complete",
            Self::Fail { .. } => "fail",
            Self::Reject { .. } => "reject",
            Self::Cancel { .. } => "cancel",
            Self::Reopen { .. } => "reopen",
            Self::Release { .. } => "release",
        }
    }

    /// The action that an update's `status` field asks for, if any.
    pub fn for_status(target: TaskStatus, current: TaskStatus) -> Result<Option<Self>> {
        if target == current {
            return Ok(None);
        }
        Ok(Some(match target {
            TaskStatus::InProgress => Self::Claim { lease_ms: None },
            TaskStatus::Completed => Self::Complete { outputs: None },
            TaskStatus::Failed => Self::Fail {
                reason: None,
                retry: None,
            },
            TaskStatus::Rejected => Self::Reject { reason: None },
            TaskStatus::Cancelled => Self::Cancel { reason: None },
            TaskStatus::Pending if current.is_terminal() => Self::Reopen { reason: None },
            TaskStatus::Pending => {
                return Err(Error::conflict(format!(
                    "cannot set status to pending: the task is {current}; possible actions: {}",
                    possible_actions(current)
                )));
            }
        }))
    }
}

/// What a worker that fails a task asks of its retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryAsk {
    /// After the policy's backoff.
    Backoff,
    /// At this time (at most the policy's `max_ms` from now).
    At(DateTime<Utc>),
    /// After this many ms (at most the policy's `max_ms`).
    In(i64),
}

impl RetryAsk {
    /// The ask of a `fail` request's `retry`, `retry_at` and `retry_in_ms`
    /// (422 when they contradict each other); `None`: fail for good.
    pub fn from_parts(
        retry: Option<bool>,
        retry_at: Option<&str>,
        retry_in_ms: Option<i64>,
    ) -> Result<Option<Self>> {
        let ask = match (retry_at, retry_in_ms) {
            (Some(_), Some(_)) => {
                return Err(Error::validation("give retry_at or retry_in_ms, not both"));
            }
            (Some(at), None) => Some(Self::At(validate::instant("retry_at", at)?)),
            (None, Some(ms)) if ms < 0 => {
                return Err(Error::validation(format!(
                    "retry_in_ms must not be negative, got {ms}"
                )));
            }
            (None, Some(ms)) => Some(Self::In(ms.min(super::retry::MAX_DELAY_MS))),
            (None, None) => retry.unwrap_or(false).then_some(Self::Backoff),
        };
        if ask.is_some() && retry == Some(false) {
            return Err(Error::validation(
                "retry_at and retry_in_ms ask for a retry: they cannot go with retry: false",
            ));
        }
        Ok(ask)
    }
}

/// The actions possible from `status`, for conflict messages.
pub fn possible_actions(s: TaskStatus) -> &'static str {
    match s {
        TaskStatus::Pending => "claim, reject, cancel, update",
        TaskStatus::InProgress => {
            "claim (renews the lease, by the assignee), complete, fail, reject (by the assignee), release, cancel, update"
        }
        _ => "reopen, update",
    }
}

/// The new row and the events one action produces.
#[derive(Debug)]
pub struct Plan {
    /// The task after the action.
    pub task: task::Model,
    /// Event types to record, in order, with any extra data.
    pub events: Vec<(&'static str, Option<(&'static str, Value)>)>,
}

/// The status `t` counts as at `now`: `pending` once an `in_progress` lease has run out.
pub fn effective_status(t: &task::Model, now: DateTime<Utc>) -> TaskStatus {
    if lease_lapsed(t, now) {
        TaskStatus::Pending
    } else {
        t.status
    }
}

fn lease_lapsed(t: &task::Model, now: DateTime<Utc>) -> bool {
    t.status == TaskStatus::InProgress && t.lease_expires.is_some_and(|l| l <= now)
}

/// When `t`'s lease has run out by `now`, returns it to `pending` and adds
/// `task.lease_expired` to `events`; true if it did.
pub(crate) fn lapse(
    t: &mut task::Model,
    events: &mut Vec<(&'static str, Option<(&'static str, Value)>)>,
    now: DateTime<Utc>,
) -> bool {
    if !lease_lapsed(t, now) {
        return false;
    }
    events.push((
        "task.lease_expired",
        Some(("previous_assignee", previous_assignee(t))),
    ));
    expire_lease(t);
    if let Some(policy) = RetryPolicy::of(t.retry.as_ref()) {
        let at = now + policy.delay(t.attempts);
        let reason = t.reason.clone();
        retry_or_fail(t, at, "lease_expired", reason, now, events);
    }
    true
}

/// After a failed attempt of a task with a retry policy: back to `pending`
/// until `at` (`task.retry_scheduled`) while attempts are left; failed for
/// good (`task.failed` with `attempts_exhausted`) at its cap.
fn retry_or_fail(
    t: &mut task::Model,
    at: DateTime<Utc>,
    cause: &'static str,
    reason: Option<String>,
    now: DateTime<Utc>,
    events: &mut Vec<(&'static str, Option<(&'static str, Value)>)>,
) {
    if t.max_attempts.is_some_and(|max| t.attempts >= max) {
        finish(t, TaskStatus::Failed, reason, now);
        events.push(("task.failed", Some(("attempts_exhausted", json!(true)))));
        return;
    }
    expire_lease(t);
    t.reason = reason;
    t.run_at = Some(at);
    t.waiting = at > now;
    events.push((
        "task.retry_scheduled",
        Some((
            "retry",
            json!({
                "attempt": t.attempts,
                "next_attempt": t.attempts + 1,
                "run_at": time::format(&at),
                "cause": cause,
                "reason": t.reason,
            }),
        )),
    ));
}

fn holder(t: &task::Model) -> String {
    format!(
        "{}:{}",
        t.assignee_type.as_deref().unwrap_or("?"),
        t.assignee_id.as_deref().unwrap_or("?")
    )
}

pub(crate) fn is_assignee(t: &task::Model, actor: &Actor) -> bool {
    match (&t.assignee_type, &t.assignee_id) {
        (Some(ty), Some(id)) => actor.is(ty, id),
        _ => false,
    }
}

fn refuse(action: &Action, t: &task::Model) -> Error {
    Error::conflict(format!(
        "cannot {} task {}: it is {}; possible actions: {}",
        action.verb(),
        t.id,
        t.status,
        possible_actions(t.status)
    ))
}

/// Decides what `action` by `actor` does to `current` at `now`.
///
/// An `in_progress` task whose lease has run out counts as `pending` (the
/// reaper may not have run yet): acting on it first records `task.lease_expired`.
/// `admin` (an org admin or owner) may complete, fail, reject or cancel a task
/// held by someone else.
pub fn plan(
    current: &task::Model,
    action: &Action,
    actor: &Actor,
    admin: bool,
    now: DateTime<Utc>,
) -> Result<Plan> {
    let mut t = current.clone();
    let mut events = Vec::new();
    lapse(&mut t, &mut events, now);
    t.updated_at = now;
    t.version += 1;
    match action {
        Action::Claim { lease_ms } => {
            let lease = now + Duration::milliseconds(validate::lease_ms(*lease_ms)?);
            match t.status {
                TaskStatus::Pending => {
                    if t.waiting {
                        match t.run_at.filter(|r| *r > now) {
                            Some(run_at) => {
                                return Err(Error::conflict(format!(
                                    "cannot claim task {}: it is scheduled to run at {}; possible actions: wait until then, update run_at, reject, cancel",
                                    t.id,
                                    time::format(&run_at)
                                )));
                            }
                            // Its time came before the timer worker saw it.
                            None => {
                                t.waiting = false;
                                events.push(("task.ready", None));
                            }
                        }
                    }
                    if let Some(max) = t.max_attempts.filter(|max| t.attempts >= *max) {
                        return Err(Error::conflict(format!(
                            "cannot claim task {}: it reached its limit of {max} attempts; possible actions: reject, cancel, update",
                            t.id
                        )));
                    }
                    t.status = TaskStatus::InProgress;
                    t.assignee_type = Some(actor.actor_type.as_str().to_owned());
                    t.assignee_id = Some(actor.id.clone());
                    t.assignee_name = actor.name.clone();
                    t.lease_expires = Some(lease);
                    t.claimed_at = Some(now);
                    t.attempts += 1;
                    events.push(("task.claimed", None));
                }
                TaskStatus::InProgress if is_assignee(&t, actor) => {
                    t.lease_expires = Some(lease);
                    events.push(("task.lease_renewed", None));
                }
                TaskStatus::InProgress => {
                    return Err(Error::conflict(format!(
                        "cannot claim task {}: it is in_progress, claimed by {} until {}; possible actions: wait for the lease to expire",
                        t.id,
                        holder(&t),
                        t.lease_expires
                            .as_ref()
                            .map(time::format)
                            .unwrap_or_default()
                    )));
                }
                _ => return Err(refuse(action, &t)),
            }
        }
        Action::Complete { outputs } => {
            require_held(action, &t, actor, admin)?;
            let mut all = match std::mem::take(&mut t.outputs) {
                Value::Array(items) => items,
                _ => Vec::new(),
            };
            all.extend(validate::outputs(outputs.clone())?);
            let all = Value::Array(all);
            if all.to_string().len() > validate::MAX_OUTPUTS {
                return Err(Error::validation(format!(
                    "outputs must be at most {} bytes in all",
                    validate::MAX_OUTPUTS
                )));
            }
            t.outputs = all;
            finish(&mut t, TaskStatus::Completed, None, now);
            events.push(("task.completed", None));
        }
        Action::Fail { reason, retry } => {
            require_held(action, &t, actor, admin)?;
            let reason = validate::reason(reason.clone())?;
            match retry {
                None => {
                    finish(&mut t, TaskStatus::Failed, reason, now);
                    events.push(("task.failed", None));
                }
                Some(ask) => {
                    let Some(policy) = RetryPolicy::of(t.retry.as_ref()) else {
                        return Err(Error::conflict(format!(
                            "cannot retry task {}: it has no retry policy; possible actions: fail without retry, update its retry policy first",
                            t.id
                        )));
                    };
                    let at = match *ask {
                        RetryAsk::Backoff => now + policy.delay(t.attempts),
                        RetryAsk::At(at) => policy.bounded(at, now),
                        RetryAsk::In(ms) => policy.bounded(now + Duration::milliseconds(ms), now),
                    };
                    retry_or_fail(&mut t, at, "fail", reason, now, &mut events);
                }
            }
        }
        Action::Reject { reason } => {
            match t.status {
                TaskStatus::Pending => {}
                TaskStatus::InProgress => require_held(action, &t, actor, admin)?,
                _ => return Err(refuse(action, &t)),
            }
            finish(
                &mut t,
                TaskStatus::Rejected,
                validate::reason(reason.clone())?,
                now,
            );
            events.push(("task.rejected", None));
        }
        Action::Cancel { reason } => {
            if t.status != TaskStatus::Pending && t.status != TaskStatus::InProgress {
                return Err(refuse(action, &t));
            }
            let creator = actor.is(&t.source_type, &t.source_id);
            if !creator && !admin && !is_assignee(&t, actor) {
                return Err(Error::forbidden(format!(
                    "only the creator or the assignee of task {} (or an org admin) may cancel it",
                    t.id
                )));
            }
            finish(
                &mut t,
                TaskStatus::Cancelled,
                validate::reason(reason.clone())?,
                now,
            );
            events.push(("task.cancelled", None));
        }
        Action::Release { reason } => {
            require_held(action, &t, actor, admin)?;
            expire_lease(&mut t);
            t.reason = validate::reason(reason.clone())?;
            events.push(("task.released", None));
        }
        Action::Reopen { reason } => {
            if !t.status.is_terminal() {
                return Err(refuse(action, &t));
            }
            t.status = TaskStatus::Pending;
            t.waiting = t.run_at.is_some_and(|r| r > now);
            t.reason = validate::reason(reason.clone())?;
            t.assignee_type = None;
            t.assignee_id = None;
            t.assignee_name = None;
            t.lease_expires = None;
            t.completed_at = None;
            events.push(("task.reopened", None));
        }
    }
    Ok(Plan { task: t, events })
}

fn require_held(action: &Action, t: &task::Model, actor: &Actor, admin: bool) -> Result<()> {
    if t.status != TaskStatus::InProgress {
        return Err(refuse(action, t));
    }
    if !admin && !is_assignee(t, actor) {
        return Err(Error::conflict(format!(
            "cannot {} task {}: it is in_progress, claimed by {}; only the assignee (or an org admin) may {} it",
            action.verb(),
            t.id,
            holder(t),
            action.verb()
        )));
    }
    Ok(())
}

fn finish(t: &mut task::Model, to: TaskStatus, reason: Option<String>, now: DateTime<Utc>) {
    t.status = to;
    t.waiting = false;
    t.lease_expires = None;
    if to == TaskStatus::Completed {
        t.completed_at = Some(now);
    } else {
        t.reason = reason;
    }
}

fn previous_assignee(t: &task::Model) -> Value {
    json!({
        "actor_type": t.assignee_type,
        "actor_id": t.assignee_id,
        "actor_name": t.assignee_name,
        "lease_expires": t.lease_expires.as_ref().map(time::format),
    })
}

/// Returns an expired task to `pending` and clears its assignee.
pub(crate) fn expire_lease(t: &mut task::Model) {
    t.status = TaskStatus::Pending;
    t.assignee_type = None;
    t.assignee_id = None;
    t.assignee_name = None;
    t.lease_expires = None;
}

/// What claiming a ready (pending) task writes, as column assignments for
/// an `UPDATE` that claims many rows at once: the `Pending` arm of
/// [`plan`]'s claim, with its `updated_at` and `version` bump, in SQL.
pub(crate) fn claim_columns(
    actor: &Actor,
    lease: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Vec<(task::Column, sea_orm::sea_query::SimpleExpr)> {
    use sea_orm::sea_query::{Expr, ExprTrait};
    vec![
        (task::Column::Status, Expr::value(TaskStatus::InProgress)),
        (
            task::Column::AssigneeType,
            Expr::value(actor.actor_type.as_str().to_owned()),
        ),
        (task::Column::AssigneeId, Expr::value(actor.id.clone())),
        (task::Column::AssigneeName, Expr::value(actor.name.clone())),
        (task::Column::LeaseExpires, Expr::value(lease)),
        (task::Column::ClaimedAt, Expr::value(now)),
        (
            task::Column::Attempts,
            Expr::col(task::Column::Attempts).add(1),
        ),
        (task::Column::UpdatedAt, Expr::value(now)),
        (
            task::Column::Version,
            Expr::col(task::Column::Version).add(1),
        ),
    ]
}

/// Writes the columns in which `new` differs from `current` if the row's
/// version is still `current.version`, returning the row as stored (with the
/// counters other transactions keep); `None` when someone else won. Only the
/// changed columns are written: SQLite then maintains only the indexes that
/// hold them.
pub(crate) async fn compare_and_set<C: ConnectionTrait>(
    db: &C,
    current: &task::Model,
    new: &task::Model,
) -> Result<Option<task::Model>> {
    write_if(db, current, new, Condition::all()).await
}

/// [`compare_and_set`] that also needs the blocker and subtask counters
/// (kept by other tasks' transactions, without a version bump) to be as
/// read: they decide what the workflow allows (claiming a blocked task,
/// completing a parent), so a transition planned on stale ones must not land.
async fn transition_if_unchanged<C: ConnectionTrait>(
    db: &C,
    current: &task::Model,
    new: &task::Model,
) -> Result<Option<task::Model>> {
    write_if(db, current, new, counters_as_read(current)).await
}

/// The blocker and subtask counters of the row as `current` holds them.
fn counters_as_read(current: &task::Model) -> Condition {
    Condition::all()
        .add(task::Column::OpenBlockers.eq(current.open_blockers))
        .add(task::Column::OpenSubtasks.eq(current.open_subtasks))
}

async fn write_if<C: ConnectionTrait>(
    db: &C,
    current: &task::Model,
    new: &task::Model,
    also: Condition,
) -> Result<Option<task::Model>> {
    let stored = cas_update(current, new, also)
        .exec_with_returning(db)
        .await?;
    Ok(stored.into_iter().next())
}

/// The conditional `UPDATE` of [`write_if`].
fn cas_update(
    current: &task::Model,
    new: &task::Model,
    also: Condition,
) -> sea_orm::UpdateMany<task::Entity> {
    let mut active = <task::ActiveModel as Default>::default();
    for column in task::Column::iter() {
        // Kept by other tasks' transactions, which do not bump `version`.
        if matches!(
            column,
            task::Column::Id
                | task::Column::OpenBlockers
                | task::Column::OpenSubtasks
                | task::Column::HasDependents
                | task::Column::DependsOn
        ) {
            continue;
        }
        let value = new.get(column);
        if matches!(column, task::Column::Version) || value != current.get(column) {
            active.set(column, value);
        }
    }
    task::Entity::update_many()
        .set(active)
        .filter(task::Column::Id.eq(new.id))
        .filter(task::Column::Version.eq(current.version))
        .filter(also)
}

/// [`transition_if_unchanged`] and the change's events as one statement
/// (where the store can chain writes): the update also needs
/// `has_dependents` as read, so the row it writes is exactly `plan.task`
/// and the events, made from it beforehand, describe what was stored.
/// False when someone else changed the task first (nothing is written).
async fn transition_alone<C: ConnectionTrait>(
    db: &C,
    current: &task::Model,
    plan: Plan,
    actor: &Actor,
    view: &TaskView,
    loc: &Location,
) -> Result<bool> {
    let unchanged =
        counters_as_read(current).add(task::Column::HasDependents.eq(current.has_dependents));
    let mut update = cas_update(current, &plan.task, unchanged).into_query();
    update.returning_col(task::Column::Id);
    let write = db.get_database_backend().build(&update);
    write_with_events(db, write, actor, view, loc, plan.events).await
}

/// What `action` does to `current`, read with `access` by the caller of
/// `rights`: refused when the caller may not change the task.
fn plan_for(
    rights: &Rights,
    id: i64,
    action: &Action,
    current: &task::Model,
    loc: &Location,
    access: Access,
) -> Result<Plan> {
    // An overdue task escalated to the caller: it may cancel, release or
    // complete it, whatever its role in the project.
    let escalation = rights.escalated(id)
        && access < Access::Admin
        && matches!(
            action,
            Action::Cancel { .. } | Action::Complete { .. } | Action::Release { .. }
        );
    if access < Access::Write && !escalation {
        return Err(Error::forbidden(format!(
            "you may read but not change the tasks of {}/{}",
            loc.org, loc.project
        )));
    }
    let mut plan = plan(
        current,
        action,
        rights.actor(),
        access >= Access::Admin || escalation,
        time::now(),
    )?;
    if escalation && let Some((_, extra @ None)) = plan.events.last_mut() {
        // Each use of the right is on the record.
        *extra = Some(("escalation_right", json!(true)));
    }
    Ok(plan)
}

/// How many times a transition re-reads after losing a compare-and-set.
const CAS_RETRIES: usize = 8;

impl Ats {
    /// Applies a lifecycle action as one conditional write plus its events.
    pub async fn transition(
        &self,
        viewer: &Viewer,
        scope: &Scope,
        id: i64,
        action: Action,
    ) -> Result<TaskView> {
        self.transition_keyed(viewer, scope, id, action, None).await
    }

    /// [`Ats::transition`] under an idempotency key: a repeat answers the
    /// first answer without acting again.
    pub async fn transition_keyed(
        &self,
        viewer: &Viewer,
        scope: &Scope,
        id: i64,
        action: Action,
        idem: Option<&Idempotency>,
    ) -> Result<TaskView> {
        let rights = self.rights(viewer).await?;
        let actor = rights.actor();
        for attempt in 0..CAS_RETRIES {
            // A first attempt without a key takes the row this process
            // wrote last, or reads it before any transaction; the
            // conditional update refuses a stale row, and the next attempt
            // reads inside its transaction. A change that concerns no other
            // task is then one statement where the store allows it; with
            // one writer at a time (SQLite), the writer's turn holds one
            // statement less. A refusal is never answered from memory.
            let early = if attempt == 0 && idem.is_none() {
                let recalled = self
                    .recent
                    .recall(id)
                    .and_then(|t| self.found_task(&rights, scope, (*t).clone(), Access::Read));
                let from_memory = recalled.is_some();
                let (current, loc, access) = match recalled {
                    Some(found) => found,
                    None => {
                        self.find_task_in(self.store.conn(), &rights, scope, id, Access::Read)
                            .await?
                    }
                };
                if self.store.chains_writes() {
                    let plan = match plan_for(&rights, id, &action, &current, &loc, access) {
                        Ok(plan) => plan,
                        Err(e) if from_memory && e.is_refusal() => {
                            self.recent.forget(id);
                            continue;
                        }
                        Err(e) => return Err(e),
                    };
                    if Self::stands_alone(&current, &plan.task) {
                        let view = TaskView::new(plan.task.clone(), &loc);
                        let row = plan.task.clone();
                        let conn = self.store.conn();
                        if transition_alone(conn, &current, plan, actor, &view, &loc).await? {
                            self.recent.remember(&row);
                            self.bus.committed();
                            return Ok(view);
                        }
                        self.recent.forget(id);
                        continue;
                    }
                }
                Some((current, loc, access, from_memory))
            } else {
                None
            };
            let w = self.store.begin_write().await?;
            if let Some(done) = idempotency::reserve(&w.txn, actor, idem).await? {
                return Ok(done);
            }
            let (current, loc, access, from_memory) = match early {
                Some(found) => found,
                None => {
                    let (current, loc, access) = self
                        .find_task_in(&w.txn, &rights, scope, id, Access::Read)
                        .await?;
                    (current, loc, access, false)
                }
            };
            // Planned now, in the writer's turn: its times are the write's.
            let planned = plan_for(&rights, id, &action, &current, &loc, access);
            let planned = match planned {
                Ok(plan) => self
                    .guard(&w.txn, &current, &plan.task)
                    .await
                    .map(|()| plan),
                Err(e) => Err(e),
            };
            let plan = match planned {
                Ok(plan) => plan,
                Err(e) if from_memory && e.is_refusal() => {
                    self.recent.forget(id);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let Some(stored) = transition_if_unchanged(&w.txn, &current, &plan.task).await? else {
                self.recent.forget(id);
                continue;
            };
            let row = stored.clone();
            let follow = self.follow_ups(&w.txn, &current, &stored).await?;
            let mut view = TaskView::new(stored, &loc);
            self.decorate(&w.txn, std::slice::from_mut(&mut view))
                .await?;
            record_change(&w.txn, actor, &view, &loc, plan.events).await?;
            self.record_follow_ups(&w.txn, actor, follow).await?;
            idempotency::remember(&w.txn, actor, idem, &view).await?;
            w.commit().await?;
            self.recent.remember(&row);
            self.bus.committed();
            return Ok(view);
        }
        Err(Error::conflict(format!(
            "task {id} is being changed by others; retry"
        )))
    }
}

/// The status named `s`, refusing unknown names with 400 (list filters).
pub fn parse_status(s: &str) -> Result<TaskStatus> {
    TaskStatus::from_name(s).ok_or_else(|| {
        Error::bad_request(format!(
            "unknown status '{s}': expected one of {}",
            status_names()
        ))
    })
}

/// `pending, in_progress, …`, for messages.
pub fn status_names() -> String {
    TaskStatus::ALL.map(TaskStatus::as_str).join(", ")
}
