//! Workflow routes under `/tasks…` (and the project-scoped mount): bulk
//! create, claim-next, subtasks and handoffs.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::bodies::{
    BadRequest, Conflict, NotFound, PayloadTooLarge, Reply, TaskBody, Unprocessable,
};
use super::extract::{TaskRef, TaskScope};
use crate::app::AppState;
use crate::app::{ApiJson, CurrentViewer};
use crate::error::{Error, Result};
use crate::service::views::TaskView;
use crate::service::{ClaimNext, HandoffView, NO_CLAIMABLE_TASK, NewHandoff, NewTask};

/// Body of `POST /tasks/bulk`.
#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct BulkBody {
    /// 1 to 1 000 tasks, created all or nothing.
    #[schema(required = true)]
    tasks: Option<Vec<NewTask>>,
}

/// `{"tasks": […], "count": n}`
#[derive(Serialize, ToSchema)]
pub struct BulkCreated {
    pub tasks: Vec<TaskView>,
    pub count: usize,
}

/// `{"tasks": […]}`
#[derive(Serialize, ToSchema)]
pub struct TaskList {
    pub tasks: Vec<TaskView>,
}

/// `{"handoff": …}`
#[derive(Serialize, ToSchema)]
pub struct HandoffBody {
    pub handoff: HandoffView,
}

/// `{"handoffs": […]}`
#[derive(Serialize, ToSchema)]
pub struct HandoffList {
    pub handoffs: Vec<HandoffView>,
}

/// Creates up to 1 000 tasks at once: all or nothing; an error names the bad item's index.
#[utoipa::path(
    post, path = "/tasks/bulk", tag = "tasks", operation_id = "create_tasks",
    params(CurrentViewer),
    request_body = BulkBody,
    responses(
        (status = 201, description = "The new tasks", body = BulkCreated),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
    )
)]
pub(super) async fn bulk(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    TaskScope(scope): TaskScope,
    ApiJson(body): ApiJson<BulkBody>,
) -> Result<(StatusCode, Reply<BulkCreated>)> {
    let tasks = s
        .ats
        .create_tasks(&viewer, &scope, body.tasks.unwrap_or_default())
        .await?;
    let count = tasks.len();
    Ok((StatusCode::CREATED, Reply(BulkCreated { tasks, count })))
}

/// Claims the most urgent claimable task matching the filter (highest priority, then oldest).
#[utoipa::path(
    post, path = "/tasks/claim-next", tag = "lifecycle", operation_id = "claim_next_task",
    params(CurrentViewer),
    request_body(content = ClaimNext, description = "May be empty: no body reads as `{}`"),
    responses(
        (status = 200, description = "The claimed task", body = TaskBody),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
    )
)]
pub(super) async fn claim_next(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    TaskScope(scope): TaskScope,
    ApiJson(body): ApiJson<ClaimNext>,
) -> Result<Reply<TaskBody>> {
    let task = s
        .ats
        .claim_next(&viewer, &scope, body)
        .await?
        .ok_or_else(|| Error::not_found(NO_CLAIMABLE_TASK))?;
    Ok(Reply(TaskBody { task }))
}

/// A task's subtasks.
#[utoipa::path(
    get, path = "/tasks/{id}/subtasks", tag = "tasks", operation_id = "list_subtasks",
    params(TaskRef, CurrentViewer),
    responses(
        (status = 200, description = "The subtasks", body = TaskList),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
pub(super) async fn list_subtasks(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    task: TaskRef,
) -> Result<Reply<TaskList>> {
    let tasks = s.ats.list_subtasks(&viewer, &task.scope, task.id).await?;
    Ok(Reply(TaskList { tasks }))
}

/// Creates a subtask in the parent's project.
#[utoipa::path(
    post, path = "/tasks/{id}/subtasks", tag = "tasks", operation_id = "create_subtask",
    params(TaskRef, CurrentViewer),
    request_body = NewTask,
    responses(
        (status = 201, description = "The new subtask", body = TaskBody),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
    )
)]
pub(super) async fn create_subtask(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    task: TaskRef,
    ApiJson(input): ApiJson<NewTask>,
) -> Result<(StatusCode, Reply<TaskBody>)> {
    let created = s
        .ats
        .create_subtask(&viewer, &task.scope, task.id, input)
        .await?;
    Ok((StatusCode::CREATED, Reply(TaskBody { task: created })))
}

/// A task's handoffs, oldest first.
#[utoipa::path(
    get, path = "/tasks/{id}/handoffs", tag = "tasks", operation_id = "list_handoffs",
    params(TaskRef, CurrentViewer),
    responses(
        (status = 200, description = "The handoffs", body = HandoffList),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
pub(super) async fn list_handoffs(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    task: TaskRef,
) -> Result<Reply<HandoffList>> {
    let handoffs = s.ats.list_handoffs(&viewer, &task.scope, task.id).await?;
    Ok(Reply(HandoffList { handoffs }))
}

/// Posts a handoff: what was done and what the next session should do.
#[utoipa::path(
    post, path = "/tasks/{id}/handoffs", tag = "tasks", operation_id = "add_handoff",
    params(TaskRef, CurrentViewer),
    request_body = NewHandoff,
    responses(
        (status = 201, description = "The handoff", body = HandoffBody),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
    )
)]
pub(super) async fn add_handoff(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    task: TaskRef,
    ApiJson(input): ApiJson<NewHandoff>,
) -> Result<(StatusCode, Reply<HandoffBody>)> {
    let handoff = s
        .ats
        .add_handoff(&viewer, &task.scope, task.id, input)
        .await?;
    Ok((StatusCode::CREATED, Reply(HandoffBody { handoff })))
}

/// `{"actions": […]}`: what the caller may do to the task now.
#[derive(Serialize, ToSchema)]
pub struct ActionList {
    /// Among `claim`, `complete`, `fail`, `reject`, `cancel`, `reopen`,
    /// `update`, `delete`, `add_message`, `add_handoff`, `create_subtask`.
    pub actions: Vec<String>,
}

/// The actions the caller may take on the task now, by the same rules the
/// actions apply (access, status, assignee, blockers, subtasks). Empty for a
/// caller who may only read.
#[utoipa::path(
    get, path = "/tasks/{id}/actions", tag = "lifecycle", operation_id = "task_actions",
    params(TaskRef, CurrentViewer),
    responses(
        (status = 200, description = "The allowed actions", body = ActionList),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
pub(super) async fn actions(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    task: TaskRef,
) -> Result<Reply<ActionList>> {
    let actions = s
        .ats
        .viewer_actions(&viewer, &task.scope, task.id)
        .await?
        .into_iter()
        .map(|a| a.as_str().to_owned())
        .collect();
    Ok(Reply(ActionList { actions }))
}

/// The tasks that depend on this one (that it blocks until it completes), oldest first.
#[utoipa::path(
    get, path = "/tasks/{id}/dependents", tag = "tasks", operation_id = "list_dependents",
    params(TaskRef, CurrentViewer),
    responses(
        (status = 200, description = "The dependent tasks", body = TaskList),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
pub(super) async fn dependents(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    task: TaskRef,
) -> Result<Reply<TaskList>> {
    let tasks = s.ats.dependents(&viewer, &task.scope, task.id).await?;
    Ok(Reply(TaskList { tasks }))
}
