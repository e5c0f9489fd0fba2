//! The JSON shapes of the API: what a client sees of each record.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::entity::task::TaskStatus;
use crate::entity::{event, message, org, project, task};
use crate::time::rfc3339;

/// A task as REST returns it (`{"task": …}`) and as events carry it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TaskView {
    pub id: i64,
    pub org: String,
    pub project: String,
    pub project_id: i32,
    pub title: String,
    pub description: Option<String>,
    #[serde(rename = "type")]
    pub task_type: String,
    pub channel: String,
    pub priority: i32,
    #[schema(value_type = String)]
    pub status: TaskStatus,
    pub payload: Value,
    pub outputs: Value,
    pub source_type: String,
    pub source_id: String,
    pub source_name: Option<String>,
    pub assignee_type: Option<String>,
    pub assignee_id: Option<String>,
    pub assignee_name: Option<String>,
    #[serde(with = "rfc3339::option")]
    pub lease_expires: Option<DateTime<Utc>>,
    pub reason: Option<String>,
    pub parent_id: Option<i64>,
    pub depends_on: Vec<i64>,
    /// Blockers not yet completed: the task cannot be claimed while non-empty.
    pub blocked_by: Vec<i64>,
    pub attempts: i32,
    pub max_attempts: Option<i32>,
    /// When it may first be claimed: a pending task is not claimable before.
    #[serde(with = "rfc3339::option")]
    pub run_at: Option<DateTime<Utc>>,
    /// How a failed attempt is retried; `null`: it is not.
    #[schema(value_type = Option<crate::service::RetryPolicy>)]
    pub retry: Option<Value>,
    /// When it is due: a task still open then is overdue and escalates.
    #[serde(with = "rfc3339::option")]
    pub due_at: Option<DateTime<Utc>>,
    /// Its deadline passed while it was open (`task.overdue` was emitted).
    pub overdue: bool,
    /// How long after becoming overdue it escalates to the org's owners and
    /// admins too (`task.escalated`).
    pub escalate_after_ms: Option<i64>,
    #[serde(with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "rfc3339")]
    pub updated_at: DateTime<Utc>,
    #[serde(with = "rfc3339::option")]
    pub claimed_at: Option<DateTime<Utc>>,
    #[serde(with = "rfc3339::option")]
    pub completed_at: Option<DateTime<Utc>>,
    /// The thread, on single-task reads only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<MessageView>>,
    /// How many blockers are still open (whether `blocked_by` needs a read).
    #[serde(skip)]
    pub(crate) open_blockers: i32,
}

/// Where a task lives, by slug.
#[derive(Clone, Debug)]
pub struct Location {
    pub org_id: i32,
    pub org: String,
    pub project_id: i32,
    pub project: String,
}

impl Location {
    /// The location of `project` in `org`.
    pub fn of(org: &org::Model, project: &project::Model) -> Self {
        Self {
            org_id: org.id,
            org: org.slug.clone(),
            project_id: project.id,
            project: project.slug.clone(),
        }
    }
}

impl TaskView {
    /// The view of `t`, located by `loc`.
    pub fn new(t: task::Model, loc: &Location) -> Self {
        Self {
            id: t.id,
            org: loc.org.clone(),
            project: loc.project.clone(),
            project_id: t.project_id,
            title: t.title,
            description: t.description,
            task_type: t.task_type,
            channel: t.channel,
            priority: t.priority,
            status: t.status,
            payload: t.payload,
            outputs: t.outputs,
            source_type: t.source_type,
            source_id: t.source_id,
            source_name: t.source_name,
            assignee_type: t.assignee_type,
            assignee_id: t.assignee_id,
            assignee_name: t.assignee_name,
            lease_expires: t.lease_expires,
            reason: t.reason,
            parent_id: t.parent_id,
            depends_on: serde_json::from_value(t.depends_on).unwrap_or_default(),
            blocked_by: Vec::new(),
            attempts: t.attempts,
            max_attempts: t.max_attempts,
            run_at: t.run_at,
            retry: t.retry,
            due_at: t.due_at,
            overdue: t.overdue_at.is_some() && t.status.is_open(),
            escalate_after_ms: t.escalate_after_ms,
            created_at: t.created_at,
            updated_at: t.updated_at,
            claimed_at: t.claimed_at,
            completed_at: t.completed_at,
            messages: None,
            open_blockers: t.open_blockers,
        }
    }
}

/// The JSON of [`TaskView::new`] as PostgreSQL computes it, for events
/// written in the same statement as their change: `t` names a `tasks` row
/// with no open blocker (its `blocked_by` is empty), `org` and `project`
/// are SQL expressions for its slugs. A test compares the two on a task
/// with every field set.
pub(crate) fn task_json_sql(t: &str, org: &str, project: &str) -> String {
    let time = |c: &str| {
        format!("to_char({t}.{c} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")
    };
    let fields: [(&str, String); 34] = [
        ("id", format!("{t}.id")),
        ("org", org.to_owned()),
        ("project", project.to_owned()),
        ("project_id", format!("{t}.project_id")),
        ("title", format!("{t}.title")),
        ("description", format!("{t}.description")),
        ("type", format!("{t}.task_type")),
        ("channel", format!("{t}.channel")),
        ("priority", format!("{t}.priority")),
        ("status", format!("{t}.status")),
        ("payload", format!("{t}.payload")),
        ("outputs", format!("{t}.outputs")),
        ("source_type", format!("{t}.source_type")),
        ("source_id", format!("{t}.source_id")),
        ("source_name", format!("{t}.source_name")),
        ("assignee_type", format!("{t}.assignee_type")),
        ("assignee_id", format!("{t}.assignee_id")),
        ("assignee_name", format!("{t}.assignee_name")),
        ("lease_expires", time("lease_expires")),
        ("reason", format!("{t}.reason")),
        ("parent_id", format!("{t}.parent_id")),
        (
            "depends_on",
            format!(
                "CASE WHEN jsonb_typeof({t}.depends_on) = 'array' THEN {t}.depends_on \
                 ELSE '[]'::jsonb END"
            ),
        ),
        ("blocked_by", "'[]'::jsonb".to_owned()),
        ("attempts", format!("{t}.attempts")),
        ("max_attempts", format!("{t}.max_attempts")),
        ("run_at", time("run_at")),
        ("retry", format!("{t}.retry")),
        ("due_at", time("due_at")),
        (
            "overdue",
            format!("({t}.overdue_at IS NOT NULL AND {t}.status IN ('pending', 'in_progress'))"),
        ),
        ("escalate_after_ms", format!("{t}.escalate_after_ms")),
        ("created_at", time("created_at")),
        ("updated_at", time("updated_at")),
        ("claimed_at", time("claimed_at")),
        ("completed_at", time("completed_at")),
    ];
    let pairs: Vec<String> = fields
        .iter()
        .map(|(key, sql)| format!("'{key}', {sql}"))
        .collect();
    format!("jsonb_build_object({})", pairs.join(", "))
}

/// A message on a task thread.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct MessageView {
    pub id: i64,
    pub task_id: i64,
    pub actor_type: String,
    pub actor_id: String,
    pub actor_name: Option<String>,
    pub parts: Value,
    #[serde(with = "rfc3339")]
    pub created_at: DateTime<Utc>,
}

impl From<message::Model> for MessageView {
    fn from(m: message::Model) -> Self {
        Self {
            id: m.id,
            task_id: m.task_id,
            actor_type: m.actor_type,
            actor_id: m.actor_id,
            actor_name: m.actor_name,
            parts: m.parts,
            created_at: m.created_at,
        }
    }
}

/// A stored event.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EventView {
    pub id: i64,
    #[serde(rename = "type")]
    pub event_type: String,
    pub task_id: i64,
    pub org: String,
    pub project: String,
    pub channel: String,
    pub task_type: String,
    pub actor_type: String,
    pub actor_id: String,
    pub actor_name: Option<String>,
    #[serde(with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    pub data: Value,
}

impl From<&event::Model> for EventView {
    /// The view of a stamped event: its id is its log position.
    fn from(e: &event::Model) -> Self {
        Self {
            id: e.position.unwrap_or(e.id),
            event_type: e.event_type.clone(),
            task_id: e.task_id,
            org: e.org.clone(),
            project: e.project.clone(),
            channel: e.channel.clone(),
            task_type: e.task_type.clone(),
            actor_type: e.actor_type.clone(),
            actor_id: e.actor_id.clone(),
            actor_name: e.actor_name.clone(),
            created_at: e.created_at,
            data: e.data.clone(),
        }
    }
}

/// An organization, with the caller's role in it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct OrgView {
    pub id: i32,
    pub slug: String,
    pub name: String,
    pub description: Option<String>,
    #[serde(with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "rfc3339")]
    pub updated_at: DateTime<Utc>,
    pub role: Option<String>,
}

impl OrgView {
    /// The view of `o` for a caller holding `role`.
    pub fn new(o: org::Model, role: Option<String>) -> Self {
        Self {
            id: o.id,
            slug: o.slug,
            name: o.name,
            description: o.description,
            created_at: o.created_at,
            updated_at: o.updated_at,
            role,
        }
    }
}

/// Task counts of a project, present only with `counts=true`.
#[derive(Clone, Copy, Debug, Default, Serialize, ToSchema)]
pub struct ProjectCounts {
    #[schema(required = false)]
    pub pending_count: u64,
    #[schema(required = false)]
    pub in_progress_count: u64,
    #[schema(required = false)]
    pub total_count: u64,
}

/// A project.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ProjectView {
    pub id: i32,
    pub org: String,
    pub org_id: i32,
    pub slug: String,
    pub name: String,
    pub description: Option<String>,
    #[serde(with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "rfc3339")]
    pub updated_at: DateTime<Utc>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = ProjectCounts)]
    pub counts: Option<ProjectCounts>,
}

impl ProjectView {
    /// The view of `p`, which belongs to the org `org_slug`.
    pub fn new(p: project::Model, org_slug: &str) -> Self {
        Self {
            id: p.id,
            org: org_slug.to_owned(),
            org_id: p.org_id,
            slug: p.slug,
            name: p.name,
            description: p.description,
            created_at: p.created_at,
            updated_at: p.updated_at,
            counts: None,
        }
    }
}
