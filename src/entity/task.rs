//! A task: the unit of work handed between actors.

use sea_orm::entity::prelude::*;

/// A row of `tasks`. `version` is bumped by every write and is the
/// compare-and-set guard. The counters `open_blockers`, `open_subtasks` and
/// `has_dependents` are kept by the transactions of *other* tasks (blockers,
/// subtasks, dependents), so a compare-and-set never writes them.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tasks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub project_id: i32,
    pub title: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub description: Option<String>,
    pub task_type: String,
    pub channel: String,
    pub priority: i32,
    pub status: TaskStatus,
    #[sea_orm(column_type = "JsonBinary")]
    pub payload: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub outputs: Json,
    pub source_type: String,
    pub source_id: String,
    pub source_name: Option<String>,
    pub assignee_type: Option<String>,
    pub assignee_id: Option<String>,
    pub assignee_name: Option<String>,
    pub lease_expires: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text", nullable)]
    pub reason: Option<String>,
    pub parent_id: Option<i64>,
    pub attempts: i32,
    pub max_attempts: Option<i32>,
    pub version: i64,
    /// How many of its dependencies are not completed (kept by the service
    /// in the blocker's transaction; never written by a compare-and-set).
    pub open_blockers: i32,
    /// The ids of its blockers, ascending (a copy of its dependency rows).
    #[sea_orm(column_type = "JsonBinary")]
    pub depends_on: Json,
    /// Some task depends on it (set once, never cleared).
    pub has_dependents: bool,
    /// How many of its subtasks are pending or in progress.
    pub open_subtasks: i32,
    /// When the task may first be claimed (scheduled tasks and retries).
    pub run_at: Option<DateTimeUtc>,
    /// A pending task waiting for its `run_at`: out of the ready queue until
    /// the timer worker (or a claim after `run_at`) clears it.
    pub waiting: bool,
    /// The retry policy (`service::RetryPolicy` as JSON), if any.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub retry: Option<Json>,
    /// When the task is due: still open then, it is overdue and escalates.
    pub due_at: Option<DateTimeUtc>,
    /// When `task.overdue` was emitted (once per deadline).
    pub overdue_at: Option<DateTimeUtc>,
    /// How long after the deadline an overdue task escalates further, to
    /// the org's owners and admins (`task.escalated`).
    pub escalate_after_ms: Option<i64>,
    /// When that further escalation is due (set as the task becomes overdue).
    pub escalate_at: Option<DateTimeUtc>,
    /// When `task.escalated` was emitted.
    pub escalated_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub claimed_at: Option<DateTimeUtc>,
    pub completed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Where a task is in its lifecycle (SPEC §3), stored as its lowercase name.
/// A stored value outside this set is an error when the row is read, never
/// a silent default.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Waiting for a worker.
    #[sea_orm(string_value = "pending")]
    Pending,
    /// Claimed under a lease.
    #[sea_orm(string_value = "in_progress")]
    InProgress,
    /// Done.
    #[sea_orm(string_value = "completed")]
    Completed,
    /// Withdrawn by its creator, assignee or an admin.
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
    /// The worker gave up.
    #[sea_orm(string_value = "failed")]
    Failed,
    /// Declined.
    #[sea_orm(string_value = "rejected")]
    Rejected,
}

impl TaskStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [Self; 6] = [
        Self::Pending,
        Self::InProgress,
        Self::Completed,
        Self::Cancelled,
        Self::Failed,
        Self::Rejected,
    ];

    /// The lowercase name used in APIs and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
            Self::Rejected => "rejected",
        }
    }

    /// The status named `s`, if it is one.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// True for the statuses `reopen` starts from.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Cancelled | Self::Failed | Self::Rejected
        )
    }

    /// True while the task still waits for or holds a worker.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Pending | Self::InProgress)
    }
}

impl std::fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
