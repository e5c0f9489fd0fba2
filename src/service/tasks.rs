//! Tasks: create, read, list, update, delete.

use std::collections::HashMap;

use sea_orm::sea_query::{Expr, Func, LikeExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, ExprTrait,
    Order, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::access::Access;
use super::counts::CountFilter;
use super::event_log::{NewEvent, numbered_events_insert, record, record_change};
use super::idempotency::{self, Idempotency};
use super::lifecycle::{Action, compare_and_set, effective_status, lapse, plan};
use super::paging::{SortKey, TaskCursor};
use super::viewer::{Rights, Viewer};
use super::views::{Location, MessageView, TaskView, task_json_sql};
use super::{Ats, validate};
use crate::entity::task::TaskStatus;
use crate::entity::{message, org, project, task};
use crate::error::{Error, Result};
use crate::time;

/// Where an operation looks for tasks: anywhere, or one project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every project (unscoped `/tasks` routes); creates go to `default/main`.
    Any,
    /// One project, by org and project slug.
    Project {
        /// Org slug.
        org: String,
        /// Project slug.
        project: String,
    },
}

impl Scope {
    /// The scope an `org` and `project` pair names: both or neither.
    pub fn from_slugs(org: Option<String>, project: Option<String>) -> Result<Self> {
        match (org, project) {
            (Some(org), Some(project)) => Ok(Self::Project { org, project }),
            (None, None) => Ok(Self::Any),
            _ => Err(Error::bad_request("org and project go together")),
        }
    }
}

/// The org and project new unscoped tasks go to.
pub const DEFAULT_ORG: &str = "default";
/// The project new unscoped tasks go to.
pub const DEFAULT_PROJECT: &str = "main";

/// Fields of a new task.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct NewTask {
    /// Required: 1 to 500 characters, not blank (trimmed).
    #[schema(required = true, value_type = String, min_length = 1, max_length = 500, pattern = r"\S")]
    pub title: Option<String>,
    /// At most 64 KiB (UTF-8); blank means none.
    #[schema(max_length = 65536)]
    pub description: Option<String>,
    /// 1 to 100 characters, not blank (default `task`).
    #[serde(rename = "type")]
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub task_type: Option<String>,
    /// 1 to 100 characters, not blank (default `default`).
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub channel: Option<String>,
    /// 1 (least urgent) to 10 (default 5).
    #[schema(minimum = 1, maximum = 10)]
    pub priority: Option<i64>,
    /// A JSON object of at most 256 KiB, serialized (default `{}`).
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Value>,
    /// A task of the same project, whose subtask this becomes.
    #[schema(minimum = 1)]
    pub parent_id: Option<i64>,
    /// Claims allowed before the task fails for good (1 to 1000; default: no cap).
    #[schema(minimum = 1, maximum = 1000)]
    pub max_attempts: Option<i64>,
    /// Ids of tasks (same org) that must complete before this one can be
    /// claimed; at most 100.
    #[schema(max_items = 100)]
    pub depends_on: Option<Vec<i64>>,
    /// When the task may first be claimed (RFC 3339); until then it is
    /// `pending` but not claimable, and `task.ready` marks the moment.
    /// Default: at once.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub run_at: Option<String>,
    /// How a failed attempt is retried: `fail` with `retry` (or an expired
    /// lease) puts the task back to `pending` after a backoff while attempts
    /// are left (`max_attempts` caps them). Fields default to exponential,
    /// 10 s, 1 h and jitter.
    #[schema(value_type = Option<crate::service::RetryInput>)]
    pub retry: Option<Value>,
    /// When it is due (RFC 3339): still pending or in progress then, it
    /// becomes overdue (`task.overdue`) and escalates to the guardians of
    /// its assignee or creator, or to the org's owners and admins.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub due_at: Option<String>,
    /// Once overdue this long (ms, 1 to 2 592 000 000), it escalates further
    /// to the org's owners and admins (`task.escalated`).
    #[schema(minimum = 1)]
    pub escalate_after_ms: Option<i64>,
}

/// Tasks under their attempt cap with every blocker completed.
fn unblocked_under_cap() -> Condition {
    Condition::all().add(task::Column::OpenBlockers.eq(0)).add(
        Condition::any()
            .add(task::Column::MaxAttempts.is_null())
            .add(Expr::col(task::Column::Attempts).lt(Expr::col(task::Column::MaxAttempts))),
    )
}

/// Tasks that can be claimed at `now` (the `claimable` list filter):
/// pending, or holding an expired lease, unblocked and under their cap.
pub(crate) fn claimable_condition(now: chrono::DateTime<chrono::Utc>) -> Condition {
    Condition::all()
        .add(
            Condition::any()
                .add(task::Column::Waiting.eq(false))
                .add(task::Column::RunAt.lte(now)),
        )
        .add(
            Condition::any()
                .add(task::Column::Status.eq(TaskStatus::Pending))
                .add(
                    Condition::all()
                        .add(task::Column::Status.eq(TaskStatus::InProgress))
                        .add(task::Column::LeaseExpires.lte(now))
                        // With a retry policy, an expired lease waits for its retry.
                        .add(task::Column::Retry.is_null()),
                ),
        )
        .add(unblocked_under_cap())
}

/// Open tasks whose deadline passed (the `overdue` list filter).
pub(crate) fn overdue_condition() -> Condition {
    Condition::all()
        .add(task::Column::OverdueAt.is_not_null())
        .add(task::Column::Status.is_in([TaskStatus::Pending, TaskStatus::InProgress]))
}

/// Tasks in the ready queue: pending, unblocked and under their cap — the
/// rows the partial indexes `ix_tasks_ready*` hold, so claim-next reads the
/// first one at any queue depth. Expired leases reach it through the reaper.
/// Written as the index predicate itself, with no bound parameters, so the
/// planner can match it to the indexes even in a generic plan.
pub(crate) fn ready_condition() -> Condition {
    Condition::all().add(Expr::cust(migration::READY_TASKS))
}

/// The row of a new pending task created by `actor` in `project`.
fn new_row(
    actor: &crate::actor::Actor,
    project: &project::Model,
    f: ValidTask,
    now: chrono::DateTime<chrono::Utc>,
) -> task::ActiveModel {
    task::ActiveModel {
        project_id: Set(project.id),
        title: Set(f.title),
        description: Set(f.description),
        task_type: Set(f.task_type),
        channel: Set(f.channel),
        priority: Set(f.priority),
        status: Set(TaskStatus::Pending),
        payload: Set(f.payload),
        outputs: Set(json!([])),
        source_type: Set(actor.actor_type.as_str().to_owned()),
        source_id: Set(actor.id.clone()),
        source_name: Set(actor.name.clone()),
        assignee_type: Set(None),
        assignee_id: Set(None),
        assignee_name: Set(None),
        lease_expires: Set(None),
        reason: Set(None),
        parent_id: Set(f.parent_id),
        attempts: Set(0),
        max_attempts: Set(f.max_attempts),
        waiting: Set(f.run_at.is_some_and(|r| r > now)),
        run_at: Set(f.run_at),
        retry: Set(f.retry),
        due_at: Set(f.due_at),
        escalate_after_ms: Set(f.escalate_after_ms),
        version: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        claimed_at: Set(None),
        completed_at: Set(None),
        ..Default::default()
    }
}

/// Inserts new tasks and their `task.created` events on PostgreSQL with one
/// statement whose one JSON parameter holds what differs between the tasks
/// (27 bind parameters a task would cost tens of milliseconds per thousand
/// tasks to bind and plan). The tasks have no blocker.
async fn insert_bulk<C: ConnectionTrait>(
    db: &C,
    actor: &crate::actor::Actor,
    loc: &Location,
    fields: Vec<ValidTask>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<task::Model>> {
    use sea_orm::FromQueryResult;
    let rows: Vec<Value> = fields
        .into_iter()
        .map(|f| {
            json!({
                "title": f.title,
                "description": f.description,
                "task_type": f.task_type,
                "channel": f.channel,
                "priority": f.priority,
                "payload": f.payload,
                "max_attempts": f.max_attempts,
                "run_at": f.run_at.as_ref().map(time::format),
                "waiting": f.run_at.is_some_and(|r| r > now),
                "retry": f.retry,
                "due_at": f.due_at.as_ref().map(time::format),
                "escalate_after_ms": f.escalate_after_ms,
            })
        })
        .collect();
    let insert = "INSERT INTO tasks (project_id, title, description, task_type, channel, \
               priority, status, payload, outputs, source_type, source_id, source_name, \
               attempts, max_attempts, run_at, waiting, retry, due_at, escalate_after_ms, \
               version, created_at, updated_at) \
               SELECT $2, x.title, x.description, x.task_type, x.channel, x.priority, \
               'pending', x.payload, '[]'::jsonb, $3, $4, $5, 0, x.max_attempts, x.run_at, \
               x.waiting, x.retry, x.due_at, x.escalate_after_ms, 0, $6, $6 \
               FROM jsonb_to_recordset($1::jsonb) AS x(title text, description text, \
               task_type text, channel text, priority integer, payload jsonb, \
               max_attempts integer, run_at timestamptz, waiting boolean, retry jsonb, \
               due_at timestamptz, escalate_after_ms bigint) \
               RETURNING *";
    // Each task's `task.created` event is made by PostgreSQL from the row
    // inserted, in the same statement, in id order.
    let task = task_json_sql("t", "$8::text", "$9::text");
    let events = numbered_events_insert(&format!(
        "SELECT 'task.created', t.id, $7, t.project_id, $8, $9, t.channel, t.task_type, \
         $3, $4, $5, jsonb_build_object('task', {task}), $6::timestamptz FROM t ORDER BY t.id"
    ));
    let sql = format!("WITH t AS ({insert}), e AS ({events}) SELECT * FROM t");
    let stmt = sea_orm::Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        [
            Value::Array(rows).into(),
            loc.project_id.into(),
            actor.actor_type.as_str().into(),
            actor.id.clone().into(),
            actor.name.clone().into(),
            now.into(),
            loc.org_id.into(),
            loc.org.clone().into(),
            loc.project.clone().into(),
        ],
    );
    Ok(task::Model::find_by_statement(stmt).all(db).await?)
}

/// The caller's access to `t` (at `loc`) within `scope`: 404 when it may
/// not read it or it is outside `scope`, 403 without `need`.
fn task_access(
    rights: &Rights,
    scope: &Scope,
    t: &task::Model,
    loc: &Location,
    need: Access,
) -> Result<Access> {
    let missing = || Error::not_found(format!("task {} not found", t.id));
    let access = rights.task(t.id, t.project_id);
    if access < Access::Read {
        return Err(missing());
    }
    if let Scope::Project { org, project } = scope
        && (&loc.org != org || &loc.project != project)
    {
        return Err(missing());
    }
    if access < need {
        return Err(Error::forbidden(format!(
            "you may read but not change the tasks of {}/{}",
            loc.org, loc.project
        )));
    }
    Ok(access)
}

/// Most tasks one bulk create may hold.
pub const MAX_BULK: usize = 1000;

/// The org and project slugs of a scope (unscoped: `default/main`).
fn scope_slugs(scope: &Scope) -> (&str, &str) {
    match scope {
        Scope::Any => (DEFAULT_ORG, DEFAULT_PROJECT),
        Scope::Project { org, project } => (org.as_str(), project.as_str()),
    }
}

/// Prefixes a validation error with the bulk item it is about.
fn at_index(i: usize, e: Error) -> Error {
    match e {
        Error::Validation(m) => Error::Validation(format!("tasks[{i}]: {m}")),
        Error::BadRequest(m) => Error::BadRequest(format!("tasks[{i}]: {m}")),
        other => other,
    }
}

/// A new task's fields, checked.
struct ValidTask {
    title: String,
    description: Option<String>,
    task_type: String,
    channel: String,
    priority: i32,
    payload: Value,
    parent_id: Option<i64>,
    max_attempts: Option<i32>,
    depends_on: Vec<i64>,
    run_at: Option<chrono::DateTime<chrono::Utc>>,
    retry: Option<Value>,
    due_at: Option<chrono::DateTime<chrono::Utc>>,
    escalate_after_ms: Option<i64>,
}

impl ValidTask {
    fn check(input: NewTask) -> Result<Self> {
        Ok(Self {
            title: validate::title(
                input
                    .title
                    .as_deref()
                    .ok_or_else(|| Error::validation("title is required"))?,
            )?,
            description: validate::description(input.description)?,
            task_type: validate::label("type", input.task_type.as_deref().unwrap_or("task"))?,
            channel: validate::label("channel", input.channel.as_deref().unwrap_or("default"))?,
            priority: validate::priority(input.priority.unwrap_or(5))?,
            payload: validate::payload(input.payload.unwrap_or_else(|| json!({})))?,
            parent_id: input.parent_id,
            max_attempts: input.max_attempts.map(validate::max_attempts).transpose()?,
            depends_on: input.depends_on.unwrap_or_default(),
            run_at: input
                .run_at
                .as_deref()
                .map(|r| validate::instant("run_at", r))
                .transpose()?,
            retry: input
                .retry
                .map(|r| super::RetryPolicy::from_json(r).map(|p| p.to_json()))
                .transpose()?,
            due_at: input
                .due_at
                .as_deref()
                .map(|d| validate::instant("due_at", d))
                .transpose()?,
            escalate_after_ms: input
                .escalate_after_ms
                .map(validate::escalate_after_ms)
                .transpose()?,
        })
    }
}

/// Fields an update may change; `status` goes through the lifecycle.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct TaskPatch {
    /// 1 to 500 characters, not blank (trimmed).
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    pub title: Option<String>,
    /// At most 64 KiB (UTF-8); blank or `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 65536)]
    pub description: Option<Option<String>>,
    /// 1 (least urgent) to 10.
    #[schema(minimum = 1, maximum = 10)]
    pub priority: Option<i64>,
    /// 1 to 100 characters, not blank.
    #[serde(rename = "type")]
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub task_type: Option<String>,
    /// 1 to 100 characters, not blank.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub channel: Option<String>,
    /// A JSON object of at most 256 KiB, serialized.
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Value>,
    /// A new status, reached by the lifecycle's rules (409 when they do not allow it).
    #[schema(value_type = Option<crate::entity::task::TaskStatus>)]
    pub status: Option<String>,
    /// 1 to 1000; `null` removes the cap.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    pub max_attempts: Option<Option<i64>>,
    /// Replaces the task's blockers (same org; no cycles); at most 100.
    #[schema(max_items = 100)]
    pub depends_on: Option<Vec<i64>>,
    /// When the task may be claimed (RFC 3339); `null` means at once. A
    /// pending task waits for it, out of reach of claims.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub run_at: Option<Option<String>>,
    /// A new retry policy (see create); `null` removes it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<crate::service::RetryInput>)]
    pub retry: Option<Option<Value>>,
    /// A new deadline (RFC 3339; it may pass, and escalate, again); `null`
    /// removes it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub due_at: Option<Option<String>>,
    /// See create; `null` removes it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>, minimum = 1)]
    pub escalate_after_ms: Option<Option<i64>>,
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn double_option<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// Sort keys of a task list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortBy {
    /// Newest or oldest first (default).
    #[default]
    CreatedAt,
    /// By last change.
    UpdatedAt,
    /// By priority.
    Priority,
    /// Alphabetically.
    Title,
}

/// Filters, order and page of a task list.
#[derive(Clone, Debug, Default)]
pub struct TaskQuery {
    pub statuses: Vec<TaskStatus>,
    pub types: Vec<String>,
    pub channels: Vec<String>,
    pub assignee_id: Option<String>,
    pub priority: Option<i32>,
    pub min_priority: Option<i32>,
    pub max_priority: Option<i32>,
    pub search: Option<String>,
    pub created_after: Option<chrono::DateTime<chrono::Utc>>,
    pub updated_after: Option<chrono::DateTime<chrono::Utc>>,
    pub project_id: Option<i32>,
    pub parent_id: Option<i64>,
    /// Only tasks of this org (by slug).
    pub org: Option<String>,
    /// Only tasks that can be claimed now (true) or that cannot (false).
    pub claimable: Option<bool>,
    /// Only open tasks past their deadline (true) or the others (false).
    pub overdue: Option<bool>,
    pub sort_by: SortBy,
    /// Ascending when true; newest/highest first by default.
    pub ascending: bool,
    pub limit: u64,
    pub offset: u64,
    /// Only tasks after this position of the list (keyset paging).
    pub after: Option<TaskCursor>,
    /// Only tasks before this position of the list.
    pub before: Option<TaskCursor>,
    /// The page is the last `limit` tasks (of those between the cursors)
    /// rather than the first: Relay's `last`.
    pub from_end: bool,
    /// Count every task that matches (`count`, `totalCount`).
    pub count: bool,
}

/// One page of tasks and the total that matched.
#[derive(Clone, Debug)]
pub struct TaskList {
    pub tasks: Vec<TaskView>,
    /// How many tasks match over all pages, when asked for.
    pub count: Option<u64>,
    /// More tasks follow the page in the direction it was read (after it,
    /// or before it when read `from_end`).
    pub more: bool,
    pub limit: u64,
    pub offset: u64,
}

impl SortBy {
    /// What a list in this order is sorted by (then by id). The priority
    /// order sorts by `priority + 0`, which only the list index
    /// `ix_tasks_status_priority` holds: an index on the plain column would
    /// draw claim-next (which orders by `priority`) away from the ready
    /// queue whenever the planner lacks statistics.
    fn sort_expr(self) -> sea_orm::sea_query::SimpleExpr {
        match self {
            SortBy::CreatedAt => Expr::col(task::Column::CreatedAt),
            SortBy::UpdatedAt => Expr::col(task::Column::UpdatedAt),
            SortBy::Priority => Expr::cust("(\"priority\" + 0)"),
            SortBy::Title => Expr::col(task::Column::Title),
        }
    }

    /// The position of `task` in a list in this order.
    pub fn cursor(self, task: &TaskView) -> TaskCursor {
        let key = match self {
            SortBy::CreatedAt => SortKey::CreatedAt(task.created_at),
            SortBy::UpdatedAt => SortKey::UpdatedAt(task.updated_at),
            SortBy::Priority => SortKey::Priority(task.priority),
            SortBy::Title => SortKey::Title(task.title.clone()),
        };
        TaskCursor { key, id: task.id }
    }

    /// The tasks strictly past `cursor` in ascending order (`later`) or
    /// before it; 400 when the cursor is of a list in another order.
    fn seek(self, name: &str, cursor: &TaskCursor, later: bool) -> Result<Condition> {
        let key: sea_orm::Value = match (&cursor.key, self) {
            (SortKey::CreatedAt(t), SortBy::CreatedAt)
            | (SortKey::UpdatedAt(t), SortBy::UpdatedAt) => (*t).into(),
            (SortKey::Priority(p), SortBy::Priority) => (*p).into(),
            (SortKey::Title(t), SortBy::Title) => t.clone().into(),
            _ => {
                return Err(Error::bad_request(format!(
                    "{name} is a cursor of a list in another order"
                )));
            }
        };
        // A row comparison, which both backends use as an index bound.
        let here = Expr::tuple([self.sort_expr(), Expr::col(task::Column::Id)]);
        let there = Expr::tuple([Expr::val(key), Expr::val(cursor.id)]);
        Ok(Condition::all().add(if later {
            here.gt(there)
        } else {
            here.lt(there)
        }))
    }
}

impl Ats {
    async fn locate<C: ConnectionTrait>(
        &self,
        db: &C,
        project_id: i32,
    ) -> Result<(org::Model, project::Model)> {
        let project = project::Entity::find_by_id(project_id)
            .one(db)
            .await?
            .ok_or_else(|| Error::Internal(format!("project {project_id} vanished")))?;
        let org = org::Entity::find_by_id(project.org_id)
            .one(db)
            .await?
            .ok_or_else(|| Error::Internal(format!("org {} vanished", project.org_id)))?;
        Ok((org, project))
    }

    /// Locations of many projects at once (two queries).
    pub(crate) async fn locations<C: ConnectionTrait>(
        &self,
        db: &C,
        project_ids: Vec<i32>,
    ) -> Result<HashMap<i32, Location>> {
        let projects = project::Entity::find()
            .filter(project::Column::Id.is_in(project_ids))
            .all(db)
            .await?;
        let org_ids: Vec<i32> = projects.iter().map(|p| p.org_id).collect();
        let orgs: HashMap<i32, org::Model> = org::Entity::find()
            .filter(org::Column::Id.is_in(org_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|o| (o.id, o))
            .collect();
        Ok(projects
            .iter()
            .filter_map(|p| orgs.get(&p.org_id).map(|o| (p.id, Location::of(o, p))))
            .collect())
    }

    /// The project `org/project` if `actor` may read it (404 otherwise) and has
    /// `need` on it (403 otherwise).
    pub(crate) async fn visible_project<C: ConnectionTrait>(
        &self,
        db: &C,
        rights: &Rights,
        org_slug: &str,
        project_slug: &str,
        need: Access,
    ) -> Result<(org::Model, project::Model, Access)> {
        let (o, standing) = self.visible_org(db, rights, org_slug).await?;
        let p = project::Entity::find()
            .filter(project::Column::OrgId.eq(o.id))
            .filter(project::Column::Slug.eq(project_slug))
            .one(db)
            .await?;
        let access = p
            .as_ref()
            .map_or(Access::None, |p| standing.project(&p.slug));
        let Some(p) = p.filter(|_| access >= Access::Read) else {
            return Err(Error::not_found(format!(
                "project '{org_slug}/{project_slug}' not found"
            )));
        };
        if access < need {
            return Err(Error::forbidden(format!(
                "you may read but not change the tasks of {org_slug}/{project_slug}"
            )));
        }
        Ok((o, p, access))
    }

    /// The task `id` within `scope` if `actor` may read it (404 otherwise) and
    /// has `need` on it (403 otherwise), with its location and the actor's access.
    pub(crate) async fn find_task_in<C: ConnectionTrait>(
        &self,
        db: &C,
        rights: &Rights,
        scope: &Scope,
        id: i64,
        need: Access,
    ) -> Result<(task::Model, Location, Access)> {
        let missing = || Error::not_found(format!("task {id} not found"));
        let t = task::Entity::find_by_id(id)
            .one(db)
            .await?
            .ok_or_else(missing)?;
        let loc = match rights.location(t.project_id) {
            Some(loc) => loc.clone(),
            None if rights.task(t.id, t.project_id) >= Access::Read => {
                let (o, p) = self.locate(db, t.project_id).await?;
                Location::of(&o, &p)
            }
            None => return Err(missing()),
        };
        let access = task_access(rights, scope, &t, &loc, need)?;
        Ok((t, loc, access))
    }

    /// [`Ats::find_task_in`] on a row already at hand (see
    /// [`super::recent_rows`]): `None` when its location is not known
    /// without a read, or when the answer would not be the row as found.
    pub(crate) fn found_task(
        &self,
        rights: &Rights,
        scope: &Scope,
        t: task::Model,
        need: Access,
    ) -> Option<(task::Model, Location, Access)> {
        let loc = rights.location(t.project_id)?.clone();
        let access = task_access(rights, scope, &t, &loc, need).ok()?;
        Some((t, loc, access))
    }

    /// The task `id` within `scope`, if `actor` may read it.
    pub async fn find_task(
        &self,
        viewer: &Viewer,
        scope: &Scope,
        id: i64,
    ) -> Result<(task::Model, Location)> {
        let rights = self.rights(viewer).await?;
        let (t, loc, _) = self
            .find_task_in(self.store.conn(), &rights, scope, id, Access::Read)
            .await?;
        Ok((t, loc))
    }

    /// One task, without its thread.
    pub async fn task_view(&self, viewer: &Viewer, scope: &Scope, id: i64) -> Result<TaskView> {
        let (t, loc) = self.find_task(viewer, scope, id).await?;
        let mut view = TaskView::new(t, &loc);
        self.decorate(self.store.conn(), std::slice::from_mut(&mut view))
            .await?;
        Ok(view)
    }

    /// One task with its message thread.
    pub async fn get_task(&self, viewer: &Viewer, scope: &Scope, id: i64) -> Result<TaskView> {
        let mut view = self.task_view(viewer, scope, id).await?;
        let messages = message::Entity::find()
            .filter(message::Column::TaskId.eq(id))
            .order_by_asc(message::Column::Id)
            .all(self.store.conn())
            .await?;
        view.messages = Some(messages.into_iter().map(MessageView::from).collect());
        Ok(view)
    }

    /// Creates a task in `scope` (unscoped: `default/main`) with `task.created`.
    pub async fn create_task(
        &self,
        viewer: &Viewer,
        scope: &Scope,
        input: NewTask,
    ) -> Result<TaskView> {
        self.create_task_keyed(viewer, scope, input, None).await
    }

    /// [`Ats::create_task`] under an idempotency key: a repeat answers the
    /// first answer without writing again.
    pub async fn create_task_keyed(
        &self,
        viewer: &Viewer,
        scope: &Scope,
        input: NewTask,
        idem: Option<&Idempotency>,
    ) -> Result<TaskView> {
        let rights = self.rights(viewer).await?;
        let fields = ValidTask::check(input)?;
        let (org_slug, project_slug) = scope_slugs(scope);
        let w = self.store.begin_write().await?;
        if let Some(done) = idempotency::reserve(&w.txn, rights.actor(), idem).await? {
            return Ok(done);
        }
        let (org, project, _) = self
            .visible_project(&w.txn, &rights, org_slug, project_slug, Access::Write)
            .await?;
        let (view, row) = self
            .insert_task(&w.txn, &rights, &org, &project, fields)
            .await?;
        idempotency::remember(&w.txn, rights.actor(), idem, &view).await?;
        w.commit().await?;
        // A task is often acted on next by whoever made it, here.
        self.recent.remember(&row);
        self.bus.committed();
        Ok(view)
    }

    /// Creates up to 1 000 tasks in one transaction: all or nothing, one
    /// `task.created` each. A bad item is named by its index.
    pub async fn create_tasks(
        &self,
        viewer: &Viewer,
        scope: &Scope,
        inputs: Vec<NewTask>,
    ) -> Result<Vec<TaskView>> {
        self.create_tasks_keyed(viewer, scope, inputs, None).await
    }

    /// [`Ats::create_tasks`] under an idempotency key.
    pub async fn create_tasks_keyed(
        &self,
        viewer: &Viewer,
        scope: &Scope,
        inputs: Vec<NewTask>,
        idem: Option<&Idempotency>,
    ) -> Result<Vec<TaskView>> {
        let rights = self.rights(viewer).await?;
        if inputs.is_empty() || inputs.len() > MAX_BULK {
            return Err(Error::validation(format!(
                "tasks must hold 1 to {MAX_BULK} tasks"
            )));
        }
        let fields: Vec<ValidTask> = inputs
            .into_iter()
            .enumerate()
            .map(|(i, t)| ValidTask::check(t).map_err(|e| at_index(i, e)))
            .collect::<Result<_>>()?;
        let (org_slug, project_slug) = scope_slugs(scope);
        let w = self.store.begin_write().await?;
        if let Some(done) = idempotency::reserve(&w.txn, rights.actor(), idem).await? {
            return Ok(done);
        }
        let (org, project, _) = self
            .visible_project(&w.txn, &rights, org_slug, project_slug, Access::Write)
            .await?;
        let simple = fields
            .iter()
            .all(|f| f.parent_id.is_none() && f.depends_on.is_empty());
        let views = if simple {
            // No item needs another row: all tasks in one statement and
            // all their events in another (or the same, on PostgreSQL).
            let now = time::now();
            let loc = Location::of(&org, &project);
            if self.store.chains_writes() {
                let mut stored = insert_bulk(&w.txn, rights.actor(), &loc, fields, now).await?;
                stored.sort_by_key(|t| t.id);
                stored.into_iter().map(|t| TaskView::new(t, &loc)).collect()
            } else {
                let rows = fields
                    .into_iter()
                    .map(|f| new_row(rights.actor(), &project, f, now));
                let mut stored = task::Entity::insert_many(rows)
                    .exec_with_returning(&w.txn)
                    .await?;
                stored.sort_by_key(|t| t.id);
                let views: Vec<TaskView> =
                    stored.into_iter().map(|t| TaskView::new(t, &loc)).collect();
                let events: Vec<NewEvent> = views
                    .iter()
                    .map(|view| NewEvent {
                        event_type: "task.created",
                        actor: rights.actor(),
                        task: view,
                        loc: &loc,
                        extra: None,
                    })
                    .collect();
                record(&w.txn, &events).await?;
                views
            }
        } else {
            let mut views = Vec::with_capacity(fields.len());
            for (i, f) in fields.into_iter().enumerate() {
                let (view, _) = self
                    .insert_task(&w.txn, &rights, &org, &project, f)
                    .await
                    .map_err(|e| at_index(i, e))?;
                views.push(view);
            }
            views
        };
        idempotency::remember(&w.txn, rights.actor(), idem, &views).await?;
        w.commit().await?;
        self.bus.committed();
        Ok(views)
    }

    /// Inserts one task (its dependencies, its parent's count and its
    /// `task.created` event), returning its view and its row as stored.
    async fn insert_task<C: ConnectionTrait>(
        &self,
        db: &C,
        rights: &Rights,
        org: &org::Model,
        project: &project::Model,
        mut f: ValidTask,
    ) -> Result<(TaskView, task::Model)> {
        let actor = rights.actor();
        if let Some(parent) = f.parent_id {
            let p = task::Entity::find_by_id(parent).one(db).await?;
            if p.is_none_or(|p| p.project_id != project.id) {
                return Err(Error::validation(format!(
                    "parent_id {parent} is not a task of {}/{}",
                    org.slug, project.slug
                )));
            }
        }
        let depends_on = std::mem::take(&mut f.depends_on);
        let parent_id = f.parent_id;
        let model = new_row(actor, project, f, time::now()).insert(db).await?;
        let mut model = model;
        if !depends_on.is_empty() {
            let deps = self
                .set_dependencies(db, rights, &model, org.id, &depends_on)
                .await?;
            model.depends_on = json!(deps.ids);
            model.open_blockers = deps.open_blockers;
        }
        if let Some(parent) = parent_id {
            self.count_open_subtasks(db, parent, 1).await?;
        }
        let loc = Location::of(org, project);
        let mut view = TaskView::new(model.clone(), &loc);
        self.decorate(db, std::slice::from_mut(&mut view)).await?;
        record(
            db,
            &[NewEvent {
                event_type: "task.created",
                actor,
                task: &view,
                loc: &loc,
                extra: None,
            }],
        )
        .await?;
        Ok((view, model))
    }

    /// A filtered, sorted page of tasks, with the total number that matched.
    pub async fn list_tasks(
        &self,
        viewer: &Viewer,
        scope: &Scope,
        q: TaskQuery,
    ) -> Result<TaskList> {
        validate::filter_values("statuses", &q.statuses)?;
        validate::filter_values("types", &q.types)?;
        validate::filter_values("channels", &q.channels)?;
        let rights = self.rights(viewer).await?;
        let db = self.store.conn();
        // The projects the list may show: readable, narrowed by scope, org and project id.
        let mut projects = rights.readable();
        if let Scope::Project { org, project } = scope {
            let (_, p, _) = self
                .visible_project(db, &rights, org, project, Access::Read)
                .await?;
            projects.retain(|id| *id == p.id);
        }
        if let Some(org) = &q.org {
            let (o, _) = self.visible_org(db, &rights, org).await?;
            let ids = rights.readable_in_org(o.id);
            projects.retain(|id| ids.contains(id));
        }
        if let Some(p) = q.project_id {
            projects.retain(|id| *id == p);
        }
        let mut cond = Condition::all();
        cond = cond.add(task::Column::ProjectId.is_in(projects.clone()));
        if !q.statuses.is_empty() {
            cond = cond.add(task::Column::Status.is_in(q.statuses.clone()));
        }
        if !q.types.is_empty() {
            cond = cond.add(task::Column::TaskType.is_in(q.types.clone()));
        }
        if !q.channels.is_empty() {
            cond = cond.add(task::Column::Channel.is_in(q.channels.clone()));
        }
        if let Some(a) = &q.assignee_id {
            cond = cond.add(task::Column::AssigneeId.eq(a.clone()));
        }
        if let Some(p) = q.priority {
            cond = cond.add(task::Column::Priority.eq(p));
        }
        if let Some(p) = q.min_priority {
            cond = cond.add(task::Column::Priority.gte(p));
        }
        if let Some(p) = q.max_priority {
            cond = cond.add(task::Column::Priority.lte(p));
        }
        if let Some(t) = q.created_after {
            cond = cond.add(task::Column::CreatedAt.gt(t));
        }
        if let Some(t) = q.updated_after {
            cond = cond.add(task::Column::UpdatedAt.gt(t));
        }
        if let Some(p) = q.parent_id {
            cond = cond.add(task::Column::ParentId.eq(p));
        }
        if let Some(claimable) = q.claimable {
            let c = claimable_condition(time::now());
            cond = cond.add(if claimable { c } else { c.not() });
        }
        if let Some(overdue) = q.overdue {
            let c = overdue_condition();
            cond = cond.add(if overdue { c } else { c.not() });
        }
        let search = q.search.as_deref().map(str::trim).filter(|s| !s.is_empty());
        if let Some(s) = search {
            let escaped: String = s
                .to_lowercase()
                .chars()
                .flat_map(|c| match c {
                    '%' | '_' | '\\' => vec!['\\', c],
                    c => vec![c],
                })
                .collect();
            let pattern = format!("%{escaped}%");
            let like = |col: task::Column| {
                Expr::expr(Func::lower(Expr::col(col)))
                    .like(LikeExpr::new(pattern.clone()).escape('\\'))
            };
            cond = cond.add(
                Condition::any()
                    .add(like(task::Column::Title))
                    .add(like(task::Column::Description)),
            );
        }
        if projects.is_empty() {
            return Ok(TaskList {
                tasks: Vec::new(),
                count: q.count.then_some(0),
                more: false,
                limit: q.limit,
                offset: q.offset,
            });
        }
        let count = if !q.count {
            None
        } else if q.types.is_empty()
            && q.assignee_id.is_none()
            && q.priority.is_none()
            && q.min_priority.is_none()
            && q.max_priority.is_none()
            && q.created_after.is_none()
            && q.updated_after.is_none()
            && q.parent_id.is_none()
            && q.claimable.is_none()
            && q.overdue.is_none()
            && search.is_none()
        {
            let filter = CountFilter {
                projects: projects.clone(),
                statuses: q.statuses.clone(),
                channels: q.channels.clone(),
            };
            Some(self.tally(&filter).await?.total())
        } else {
            Some(task::Entity::find().filter(cond.clone()).count(db).await?)
        };
        let mut page = cond;
        // Cursors are positions in the list's order; the page is read in
        // that order, or backwards from its end for `from_end`.
        if let Some(a) = &q.after {
            page = page.add(q.sort_by.seek("after", a, q.ascending)?);
        }
        if let Some(b) = &q.before {
            page = page.add(q.sort_by.seek("before", b, !q.ascending)?);
        }
        let ascending = q.ascending != q.from_end;
        let order = if ascending { Order::Asc } else { Order::Desc };
        let mut rows = task::Entity::find()
            .filter(page)
            .order_by(q.sort_by.sort_expr(), order.clone())
            .order_by(task::Column::Id, order)
            .limit(q.limit + 1)
            .offset(q.offset)
            .all(db)
            .await?;
        let more = rows.len() as u64 > q.limit;
        rows.truncate(q.limit as usize);
        if q.from_end {
            rows.reverse();
        }
        let tasks = self.readable_views(&rights, rows).await?;
        Ok(TaskList {
            tasks,
            count,
            more,
            limit: q.limit,
            offset: q.offset,
        })
    }

    /// Changes fields of a task (`task.updated`); a `status` goes through the lifecycle.
    pub async fn update_task(
        &self,
        viewer: &Viewer,
        scope: &Scope,
        id: i64,
        patch: TaskPatch,
    ) -> Result<TaskView> {
        let rights = self.rights(viewer).await?;
        let actor = rights.actor();
        let title = patch.title.as_deref().map(validate::title).transpose()?;
        let description = patch.description.map(validate::description).transpose()?;
        let priority = patch.priority.map(validate::priority).transpose()?;
        let task_type = patch
            .task_type
            .as_deref()
            .map(|t| validate::label("type", t))
            .transpose()?;
        let channel = patch
            .channel
            .as_deref()
            .map(|c| validate::label("channel", c))
            .transpose()?;
        let payload = patch.payload.map(validate::payload).transpose()?;
        let max_attempts = patch
            .max_attempts
            .map(|m| m.map(validate::max_attempts).transpose())
            .transpose()?;
        let run_at = patch
            .run_at
            .as_ref()
            .map(|r| {
                r.as_deref()
                    .map(|r| validate::instant("run_at", r))
                    .transpose()
            })
            .transpose()?;
        let retry = patch
            .retry
            .map(|r| {
                r.map(|r| super::RetryPolicy::from_json(r).map(|p| p.to_json()))
                    .transpose()
            })
            .transpose()?;
        let due_at = patch
            .due_at
            .as_ref()
            .map(|d| {
                d.as_deref()
                    .map(|d| validate::instant("due_at", d))
                    .transpose()
            })
            .transpose()?;
        let escalate_after_ms = patch
            .escalate_after_ms
            .map(|e| e.map(validate::escalate_after_ms).transpose())
            .transpose()?;
        let target_status = patch
            .status
            .as_deref()
            .map(|s| {
                super::lifecycle::parse_status(s).map_err(|e| Error::validation(e.to_string()))
            })
            .transpose()?;

        for _ in 0..8 {
            let w = self.store.begin_write().await?;
            let (current, loc, access) = self
                .find_task_in(&w.txn, &rights, scope, id, Access::Write)
                .await?;
            let now = time::now();
            let mut t = current.clone();
            let mut changes = Vec::new();
            macro_rules! change {
                ($field:ident, $value:expr, $name:literal) => {
                    if let Some(v) = $value.clone() {
                        if t.$field != v {
                            t.$field = v;
                            changes.push($name);
                        }
                    }
                };
            }
            change!(title, title, "title");
            change!(description, description, "description");
            change!(priority, priority, "priority");
            change!(task_type, task_type, "type");
            change!(channel, channel, "channel");
            change!(payload, payload, "payload");
            change!(max_attempts, max_attempts, "max_attempts");
            change!(run_at, run_at, "run_at");
            change!(retry, retry, "retry");
            if let Some(d) = due_at
                && t.due_at != d
            {
                t.due_at = d;
                // A new deadline is reported when it passes, again.
                t.overdue_at = None;
                t.escalate_at = None;
                t.escalated_at = None;
                changes.push("due_at");
            }
            change!(escalate_after_ms, escalate_after_ms, "escalate_after_ms");
            let mut events: Vec<(&'static str, Option<(&'static str, Value)>)> = Vec::new();
            if !changes.is_empty() {
                t.updated_at = now;
                t.version += 1;
                events.push(("task.updated", Some(("changes", json!(changes)))));
            }
            if let Some(target) = target_status {
                // A lapsed lease counts as pending: `in_progress` claims it anew,
                // `pending` makes the expiry real.
                let effective = effective_status(&t, now);
                // Someone else's live claim: setting `in_progress` is a claim, and refused as one.
                let others_claim = effective == TaskStatus::InProgress
                    && target == TaskStatus::InProgress
                    && !super::lifecycle::is_assignee(&t, actor);
                let action = if others_claim {
                    Some(Action::Claim { lease_ms: None })
                } else {
                    Action::for_status(target, effective)?
                };
                match action {
                    Some(action) => {
                        let planned = plan(&t, &action, actor, access >= Access::Admin, now)?;
                        t = planned.task;
                        events.extend(planned.events);
                    }
                    None => {
                        if lapse(&mut t, &mut events, now) {
                            t.updated_at = now;
                        }
                    }
                }
            }
            if run_at.is_some() {
                // A pending task waits for a `run_at` ahead; one that stops
                // waiting becomes ready now.
                let waits = t.status == TaskStatus::Pending && t.run_at.is_some_and(|r| r > now);
                if t.waiting && !waits && t.status == TaskStatus::Pending {
                    events.push(("task.ready", None));
                    t.updated_at = now;
                }
                t.waiting = waits;
            }
            if let Some(deps) = &patch.depends_on {
                let deps = self
                    .set_dependencies(&w.txn, &rights, &current, loc.org_id, deps)
                    .await?;
                t.depends_on = json!(deps.ids);
                t.open_blockers = deps.open_blockers;
                if events.is_empty() {
                    t.updated_at = now;
                    events.push(("task.updated", Some(("changes", json!(["depends_on"])))));
                } else if let Some((_, Some((_, Value::Array(list))))) = events.first_mut() {
                    list.push(json!("depends_on"));
                }
            }
            if events.is_empty() {
                let mut view = TaskView::new(current, &loc);
                self.decorate(&w.txn, std::slice::from_mut(&mut view))
                    .await?;
                return Ok(view);
            }
            self.guard(&w.txn, &current, &t).await?;
            // One write however many steps: the row moves by a single version check.
            t.version = current.version + 1;
            let Some(stored) = compare_and_set(&w.txn, &current, &t).await? else {
                continue;
            };
            let follow = self.follow_ups(&w.txn, &current, &stored).await?;
            let mut view = TaskView::new(stored, &loc);
            self.decorate(&w.txn, std::slice::from_mut(&mut view))
                .await?;
            record_change(&w.txn, actor, &view, &loc, events).await?;
            self.record_follow_ups(&w.txn, actor, follow).await?;
            w.commit().await?;
            self.bus.committed();
            return Ok(view);
        }
        Err(Error::conflict(format!(
            "task {id} is being changed by others; retry"
        )))
    }

    /// Deletes a task and its thread; its history stays, ending with `task.deleted`.
    pub async fn delete_task(&self, viewer: &Viewer, scope: &Scope, id: i64) -> Result<()> {
        let rights = self.rights(viewer).await?;
        let actor = rights.actor();
        let w = self.store.begin_write().await?;
        let (t, loc, _) = self
            .find_task_in(&w.txn, &rights, scope, id, Access::Write)
            .await?;
        if t.has_dependents && t.status != TaskStatus::Completed {
            // Its dependents lose a blocker that was still open.
            self.count_dependents(&w.txn, id, true).await?;
        }
        if let Some(parent) = t.parent_id
            && t.status.is_open()
        {
            self.count_open_subtasks(&w.txn, parent, -1).await?;
        }
        let res = task::Entity::delete_many()
            .filter(task::Column::Id.eq(id))
            .filter(task::Column::Version.eq(t.version))
            .exec(&w.txn)
            .await?;
        if res.rows_affected != 1 {
            return Err(Error::conflict(format!(
                "task {id} changed while being deleted; retry"
            )));
        }
        let view = TaskView::new(t, &loc);
        record(
            &w.txn,
            &[NewEvent {
                event_type: "task.deleted",
                actor,
                task: &view,
                loc: &loc,
                extra: None,
            }],
        )
        .await?;
        w.commit().await?;
        self.bus.committed();
        Ok(())
    }
}
