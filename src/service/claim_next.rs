//! Claim-next and claim-batch: atomically claim the most urgent ready tasks
//! matching a filter, waiting for work when asked to.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, Statement,
};
use serde::Deserialize;
use tokio::sync::broadcast;
use tokio::time::{Duration, Instant};

use super::access::Access;
use super::event_log::{NewEvent, numbered_events_insert, record};
use super::lifecycle::claim_columns;
use super::tasks::{Scope, ready_condition};
use super::viewer::{Rights, Viewer};
use super::views::{Location, TaskView, task_json_sql};
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
    #[schema(minimum = 1, maximum = 10)]
    pub min_priority: Option<i64>,
    /// Lease length in ms (1 000 to 86 400 000, default 60 000).
    #[schema(minimum = 1000, maximum = 86400000)]
    pub lease_duration: Option<i64>,
    /// With nothing claimable, wait up to this many ms (0–30 000, default 0)
    /// for work to arrive instead of answering at once.
    #[schema(minimum = 0, maximum = 30000)]
    pub wait_ms: Option<i64>,
}

/// What `claim-batch` may take: claim-next's filters and a batch size.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ClaimBatch {
    /// The filters, lease and wait of claim-next.
    #[serde(flatten)]
    pub next: ClaimNext,
    /// How many tasks to claim at most (1–100, default 10).
    #[schema(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

/// The JSON of a claimed task `c` in its event, located by project `p` and org `o`.
static CLAIMED_TASK: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| task_json_sql("c", "o.slug", "p.slug"));

/// What REST answers (404) when nothing is claimable.
pub const NO_CLAIMABLE_TASK: &str = "no claimable task matches";

impl Ats {
    /// Claims the most urgent claimable task (highest priority, then oldest)
    /// in the projects the caller may write; `None` when nothing matches
    /// (after waiting up to `wait_ms` for work). No two callers get the same
    /// task: PostgreSQL skips rows another transaction has locked; SQLite has
    /// one writer.
    pub async fn claim_next(
        &self,
        viewer: &Viewer,
        scope: &Scope,
        req: ClaimNext,
    ) -> Result<Option<TaskView>> {
        Ok(self
            .claim_ready(viewer, scope, &req, 1)
            .await?
            .into_iter()
            .next())
    }

    /// Claims up to `limit` tasks, most urgent first, in one transaction,
    /// each with its own lease and `task.claimed` event; empty when nothing
    /// matches (after waiting up to `wait_ms` for work).
    pub async fn claim_batch(
        &self,
        viewer: &Viewer,
        scope: &Scope,
        req: ClaimBatch,
    ) -> Result<Vec<TaskView>> {
        let limit = validate::claim_limit(req.limit)?;
        self.claim_ready(viewer, scope, &req.next, limit).await
    }

    async fn claim_ready(
        &self,
        viewer: &Viewer,
        scope: &Scope,
        req: &ClaimNext,
        limit: u64,
    ) -> Result<Vec<TaskView>> {
        let min_priority = req.min_priority.map(validate::priority).transpose()?;
        let lease = chrono::Duration::milliseconds(validate::lease_ms(req.lease_duration)?);
        let wait = Duration::from_millis(validate::wait_ms(req.wait_ms)?);
        let deadline = Instant::now() + wait;
        // Listening before looking: work committed after the look wakes us.
        let mut arrivals = self.bus.subscribe();
        loop {
            // The rights are taken afresh at every look (cached until an
            // access change): a member removed while waiting claims nothing.
            let rights = self.rights(viewer).await?;
            let cond = ready_filter(&rights, scope, req, min_priority)?;
            let claimed = self.claim_now(&rights, &cond, lease, limit).await?;
            if !claimed.is_empty() {
                return Ok(claimed);
            }
            loop {
                let arrival = tokio::select! {
                    arrival = tokio::time::timeout_at(deadline, arrivals.recv()) => arrival,
                    // A server shutting down answers now rather than at the deadline.
                    () = self.shutting_down() => return Ok(claimed),
                };
                match arrival {
                    Err(_) | Ok(Err(broadcast::error::RecvError::Closed)) => return Ok(claimed),
                    Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                        arrivals = arrivals.resubscribe();
                        break;
                    }
                    Ok(Ok(e)) if wakes_claimers(&e.event_type) => break,
                    Ok(Ok(_)) => {}
                }
            }
        }
    }

    /// One look at the ready queue: claims what it finds with an `UPDATE …
    /// RETURNING` whose subquery picks the most urgent ready rows (skipping
    /// rows another claim has locked, on PostgreSQL) and the events'
    /// `INSERT`: one statement on PostgreSQL, a transaction of two on SQLite.
    async fn claim_now(
        &self,
        rights: &Rights,
        cond: &Condition,
        lease: chrono::Duration,
        limit: u64,
    ) -> Result<Vec<TaskView>> {
        let actor = rights.actor();
        let now = time::now();
        let lease = now + lease;
        let pick = task::Entity::find()
            .select_only()
            .column(task::Column::Id)
            .filter(cond.clone())
            .order_by_desc(task::Column::Priority)
            .order_by_asc(task::Column::CreatedAt)
            .order_by_asc(task::Column::Id)
            .into_query();
        // The limit is written into the statement, not bound: PostgreSQL
        // cannot cost a plan for an unknown `LIMIT $n`, so it would plan the
        // claim afresh at every call (planning then cost more than running
        // it); with a literal, the prepared statement keeps a generic plan.
        let backend = self.store.backend();
        let pick = backend.build(&pick);
        let lock = if backend == DbBackend::Postgres {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let picked = Expr::cust_with_values(
            format!("\"tasks\".\"id\" IN ({} LIMIT {limit}{lock})", pick.sql),
            pick.values.map(|v| v.0).unwrap_or_default(),
        );
        let mut update = task::Entity::update_many().filter(picked);
        for (column, value) in claim_columns(actor, lease, now) {
            update = update.col_expr(column, value);
        }
        if self.store.chains_writes() {
            return self.claim_in_one_statement(rights, update, now).await;
        }
        let w = self.store.begin_write().await?;
        let mut stored = update.exec_with_returning(&w.txn).await?;
        if stored.is_empty() {
            return Ok(Vec::new());
        }
        stored.sort_by(claim_order);
        let mut claimed = Vec::with_capacity(stored.len());
        let rows = stored.clone();
        for row in stored {
            let loc = rights
                .location(row.project_id)
                .cloned()
                .ok_or_else(|| Error::Internal(format!("task {} lost its project", row.id)))?;
            claimed.push((TaskView::new(row, &loc), loc));
        }
        let mut views: Vec<TaskView> = claimed.iter().map(|(v, _)| v.clone()).collect();
        self.decorate(&w.txn, &mut views).await?;
        let events: Vec<NewEvent> = claimed
            .iter()
            .zip(&views)
            .map(|((_, loc), view)| NewEvent {
                event_type: "task.claimed",
                actor,
                task: view,
                loc,
                extra: None,
            })
            .collect();
        record(&w.txn, &events).await?;
        w.commit().await?;
        for row in &rows {
            self.recent.remember(row);
        }
        self.bus.committed();
        Ok(views)
    }

    /// [`Ats::claim_now`] where the store chains writes: the claiming
    /// `UPDATE` and the events' `INSERT` in one statement (its own
    /// transaction), each event's task made by PostgreSQL from the row the
    /// update returned ([`task_json_sql`]), in the order the tasks are
    /// answered.
    async fn claim_in_one_statement(
        &self,
        rights: &Rights,
        update: sea_orm::UpdateMany<task::Entity>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<TaskView>> {
        let actor = rights.actor();
        let mut update = update.into_query();
        update.returning_all();
        let write = self.store.backend().build(&update);
        let mut values = write.values.map(|v| v.0).unwrap_or_default();
        let n = values.len();
        let task = &*CLAIMED_TASK;
        let events = numbered_events_insert(&format!(
            "SELECT 'task.claimed', c.id, o.id, c.project_id, o.slug, p.slug, c.channel, \
             c.task_type, ${}, ${}, ${}, jsonb_build_object('task', {task}), ${}::timestamptz \
             FROM c JOIN projects p ON p.id = c.project_id JOIN orgs o ON o.id = p.org_id \
             ORDER BY c.priority DESC, c.created_at, c.id",
            n + 1,
            n + 2,
            n + 3,
            n + 4
        ));
        let sql = format!(
            "WITH c AS ({}), e AS ({events}) \
             SELECT c.*, o.id AS loc_org_id, o.slug AS loc_org, p.slug AS loc_project \
             FROM c JOIN projects p ON p.id = c.project_id JOIN orgs o ON o.id = p.org_id",
            write.sql,
        );
        values.push(actor.actor_type.as_str().into());
        values.push(actor.id.clone().into());
        values.push(actor.name.clone().into());
        values.push(now.into());
        let statement = Statement::from_sql_and_values(DbBackend::Postgres, sql, values);
        // Located as the events are, by the same join: the answer and the
        // events name the same org and project.
        let mut claimed = Vec::new();
        for row in self.store.conn().query_all_raw(statement).await? {
            let task = task::Model::from_query_result(&row, "")?;
            let loc = Location {
                org_id: row.try_get("", "loc_org_id")?,
                org: row.try_get("", "loc_org")?,
                project_id: task.project_id,
                project: row.try_get("", "loc_project")?,
            };
            claimed.push((task, loc));
        }
        claimed.sort_by(|(a, _), (b, _)| claim_order(a, b));
        let mut views = Vec::with_capacity(claimed.len());
        for (row, loc) in claimed {
            self.recent.remember(&row);
            views.push(TaskView::new(row, &loc));
        }
        if !views.is_empty() {
            self.bus.committed();
        }
        Ok(views)
    }
}

/// The order claimed tasks are answered in: most urgent, then oldest.
fn claim_order(a: &task::Model, b: &task::Model) -> std::cmp::Ordering {
    b.priority
        .cmp(&a.priority)
        .then(a.created_at.cmp(&b.created_at))
        .then(a.id.cmp(&b.id))
}

/// The ready tasks a claim may take: in the projects `rights` may write
/// (only `scope`'s, when scoped), matching the claim's filters.
fn ready_filter(
    rights: &Rights,
    scope: &Scope,
    req: &ClaimNext,
    min_priority: Option<i32>,
) -> Result<Condition> {
    let mut projects = rights.projects_with(Access::Write);
    if let Scope::Project { org, project } = scope {
        let id = rights.writable_project(org, project)?;
        projects.retain(|p| *p == id);
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
    Ok(cond)
}

/// Events after which a waiting claimer looks again: work that may have
/// become ready.
fn wakes_claimers(event_type: &str) -> bool {
    matches!(
        event_type,
        "task.created"
            | "task.unblocked"
            | "task.lease_expired"
            | "task.reopened"
            | "task.updated"
            | "task.ready"
    )
}
