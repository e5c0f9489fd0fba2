//! `/tasks…` and `/orgs/:org/projects/:project/tasks…`: task CRUD. The lifecycle
//! actions, thread and history are in `task_actions`.
//!
//! The OpenAPI annotations name the unscoped paths; `openapi.rs` documents the
//! project-scoped mount of the same handlers.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};

use super::bodies::{
    BadRequest, Conflict, NotFound, PayloadTooLarge, Reply, TaskBody, TaskDeleted, TaskPage,
    Unprocessable,
};
use super::extract::{TaskRef, TaskScope};
use super::task_actions::{
    add_message, cancel, claim, complete, events, fail, list_messages, reject, reopen,
};
use super::task_query::ListParams;
use crate::app::AppState;
use crate::app::{ApiJson, ApiQuery, CurrentViewer};
use crate::error::Result;
use crate::service::{NewTask, TaskPatch};

/// The task routes, mounted both unscoped and under a project.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(list).post(create))
        .route("/stats", get(super::stats::scoped))
        .route("/bulk", post(super::task_workflow::bulk))
        .route("/claim-next", post(super::task_workflow::claim_next))
        .route(
            "/{id}/subtasks",
            get(super::task_workflow::list_subtasks).post(super::task_workflow::create_subtask),
        )
        .route(
            "/{id}/handoffs",
            get(super::task_workflow::list_handoffs).post(super::task_workflow::add_handoff),
        )
        .route("/{id}/actions", get(super::task_workflow::actions))
        .route("/{id}/dependents", get(super::task_workflow::dependents))
        .route("/{id}", get(read).patch(update).delete(remove))
        .route("/{id}/claim", post(claim))
        .route("/{id}/complete", post(complete))
        .route("/{id}/fail", post(fail))
        .route("/{id}/reject", post(reject))
        .route("/{id}/cancel", post(cancel))
        .route("/{id}/reopen", post(reopen))
        .route("/{id}/messages", get(list_messages).post(add_message))
        .route("/{id}/events", get(events))
}

/// Creates a task (on `/tasks`: in `default/main`) with status `pending`.
#[utoipa::path(
    post, path = "/tasks", tag = "tasks", operation_id = "create_task",
    params(CurrentViewer),
    request_body = NewTask,
    responses(
        (status = 201, description = "The new task", body = TaskBody),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
    )
)]
pub(super) async fn create(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    TaskScope(scope): TaskScope,
    ApiJson(input): ApiJson<NewTask>,
) -> Result<(StatusCode, Reply<TaskBody>)> {
    let task = s.ats.create_task(&viewer, &scope, input).await?;
    Ok((StatusCode::CREATED, Reply(TaskBody { task })))
}

/// Lists tasks matching the filters, one page at a time, with the total count.
#[utoipa::path(
    get, path = "/tasks", tag = "tasks", operation_id = "list_tasks",
    params(ListParams),
    responses(
        (status = 200, description = "A page of tasks", body = TaskPage),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
pub(super) async fn list(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    TaskScope(scope): TaskScope,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Reply<TaskPage>> {
    let page = s
        .ats
        .list_tasks(&viewer, &scope, params.into_query()?)
        .await?;
    Ok(Reply(TaskPage {
        tasks: page.tasks,
        count: page.count,
        limit: page.limit,
        offset: page.offset,
    }))
}

/// One task, with its message thread.
#[utoipa::path(
    get, path = "/tasks/{id}", tag = "tasks", operation_id = "get_task",
    params(TaskRef),
    responses(
        (status = 200, description = "The task and its `messages`", body = TaskBody),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
pub(super) async fn read(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    task: TaskRef,
) -> Result<Reply<TaskBody>> {
    let task = s.ats.get_task(&viewer, &task.scope, task.id).await?;
    Ok(Reply(TaskBody { task }))
}

/// Changes a task's fields; a new `status` goes through the lifecycle rules.
#[utoipa::path(
    patch, path = "/tasks/{id}", tag = "tasks", operation_id = "update_task",
    params(TaskRef, CurrentViewer),
    request_body = TaskPatch,
    responses(
        (status = 200, description = "The changed task", body = TaskBody),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
    )
)]
pub(super) async fn update(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    task: TaskRef,
    ApiJson(patch): ApiJson<TaskPatch>,
) -> Result<Reply<TaskBody>> {
    let task = s
        .ats
        .update_task(&viewer, &task.scope, task.id, patch)
        .await?;
    Ok(Reply(TaskBody { task }))
}

/// Deletes a task and its thread; its history stays.
#[utoipa::path(
    delete, path = "/tasks/{id}", tag = "tasks", operation_id = "delete_task",
    params(TaskRef, CurrentViewer),
    responses(
        (status = 200, description = "The task is gone", body = TaskDeleted),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    )
)]
pub(super) async fn remove(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    task: TaskRef,
) -> Result<Reply<TaskDeleted>> {
    s.ats.delete_task(&viewer, &task.scope, task.id).await?;
    Ok(Reply(TaskDeleted {
        deleted: true,
        id: task.id,
    }))
}
