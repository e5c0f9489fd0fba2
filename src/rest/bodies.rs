//! The typed REST response bodies: each wraps its object in a named key
//! (SPEC §6), and doubles as the OpenAPI schema of that response.

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::service::TaskStats;
use crate::service::views::{EventView, MessageView, OrgView, ProjectView, TaskView};

/// A JSON reply, serialized once, straight from the typed body to bytes.
pub struct Reply<T>(pub T);

impl<T: Serialize> IntoResponse for Reply<T> {
    fn into_response(self) -> Response {
        Json(self.0).into_response()
    }
}

// The body of every error response of the document (`operation::Failure`).
/// Every error: a sentence for people and a code for programs.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, in words.
    #[schema(examples("task 42 not found"))]
    pub error: String,
    /// `BAD_REQUEST`, `UNAUTHENTICATED`, `FORBIDDEN`, `NOT_FOUND`, `CONFLICT`,
    /// `IDEMPOTENCY_KEY_REUSED`, `IDEMPOTENCY_KEY_IN_FLIGHT`, `CURSOR_EXPIRED`,
    /// `PAYLOAD_TOO_LARGE`, `METHOD_NOT_ALLOWED` or `INTERNAL`.
    #[schema(examples("NOT_FOUND"))]
    pub code: String,
}

/// The 410 answer to a cursor before the retained event log.
#[derive(Serialize, ToSchema)]
pub struct CursorExpiredBody {
    /// What went wrong, and what to do.
    #[schema(examples(
        "cursor 5 is before the retained event log: events up to id 120 were pruned (retention); read the current state again and resume with after = 120 or later, or subscribe without after"
    ))]
    pub error: String,
    /// `CURSOR_EXPIRED`.
    #[schema(examples("CURSOR_EXPIRED"))]
    pub code: String,
    /// The first id the retained log may hold (`pruned_through` + 1).
    pub oldest_id: i64,
    /// Every event up to this id was pruned: the oldest cursor still accepted.
    pub pruned_through: i64,
}

/// `{"task": …}`
#[derive(Serialize, ToSchema)]
pub struct TaskBody {
    pub task: TaskView,
}

/// `{"tasks": […], "count", "limit", "offset"}`
#[derive(Serialize, ToSchema)]
pub struct TaskPage {
    pub tasks: Vec<TaskView>,
    /// How many tasks match, over all pages.
    pub count: u64,
    pub limit: u64,
    pub offset: u64,
    /// The `after` of the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// `{"deleted": true, "id": …}`
#[derive(Serialize, ToSchema)]
pub struct TaskDeleted {
    pub deleted: bool,
    pub id: i64,
}

/// `{"message": …}`
#[derive(Serialize, ToSchema)]
pub struct MessageBody {
    pub message: MessageView,
}

/// `{"messages": […]}`, oldest first.
#[derive(Serialize, ToSchema)]
pub struct MessageList {
    pub messages: Vec<MessageView>,
}

/// `{"events": […]}`: a task's history, oldest first.
#[derive(Serialize, ToSchema)]
pub struct EventList {
    pub events: Vec<EventView>,
}

/// `{"stats": …}`
#[derive(Serialize, ToSchema)]
pub struct StatsBody {
    pub stats: TaskStats,
}

/// `{"organization": …}`
#[derive(Serialize, ToSchema)]
pub struct OrgBody {
    pub organization: OrgView,
}

/// `{"organizations": […]}`
#[derive(Serialize, ToSchema)]
pub struct OrgList {
    pub organizations: Vec<OrgView>,
}

/// `{"deleted": true, "slug": …}`
#[derive(Serialize, ToSchema)]
pub struct OrgDeleted {
    pub deleted: bool,
    pub slug: String,
}

/// `{"project": …}`
#[derive(Serialize, ToSchema)]
pub struct ProjectBody {
    pub project: ProjectView,
}

/// `{"projects": […]}`
#[derive(Serialize, ToSchema)]
pub struct ProjectList {
    pub projects: Vec<ProjectView>,
}

/// `{"deleted": true, "org": …, "slug": …}`
#[derive(Serialize, ToSchema)]
pub struct ProjectDeleted {
    pub deleted: bool,
    pub org: String,
    pub slug: String,
}

/// `GET /health`.
#[derive(Serialize, ToSchema)]
pub struct HealthBody {
    /// `ok`, or `degraded` when the store does not answer.
    pub status: &'static str,
    /// The server's clock, RFC 3339.
    pub timestamp: String,
    /// The server version.
    pub version: &'static str,
    /// `ok` or `unreachable`.
    pub database: &'static str,
}
