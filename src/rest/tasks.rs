//! `/tasks…` and `/orgs/:org/projects/:project/tasks…`: task CRUD. The lifecycle
//! actions, thread and history are in `task_actions`. Routes, statuses and
//! documentation of every handler are declared in `operations.rs`.

use axum::extract::State;

use super::bodies::{Reply, TaskBody, TaskDeleted, TaskPage};
use super::extract::{TaskRef, TaskScope};
use super::task_query::ListParams;
use crate::app::AppState;
use crate::app::{ApiJson, ApiQuery, CurrentViewer, KeyedJson};
use crate::error::Result;
use crate::service::{NewTask, TaskPatch};

pub(super) async fn create(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    TaskScope(scope): TaskScope,
    KeyedJson(idem, input): KeyedJson<NewTask>,
) -> Result<Reply<TaskBody>> {
    let task = s
        .ats
        .create_task_keyed(&viewer, &scope, input, idem.as_ref())
        .await?;
    Ok(Reply(TaskBody { task }))
}

pub(super) async fn list(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    TaskScope(scope): TaskScope,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Reply<TaskPage>> {
    let query = params.into_query()?;
    let sort_by = query.sort_by;
    let page = s.ats.list_tasks(&viewer, &scope, query).await?;
    let next_cursor = page
        .more
        .then(|| page.tasks.last().map(|t| sort_by.cursor(t).encode()))
        .flatten();
    Ok(Reply(TaskPage {
        tasks: page.tasks,
        count: page.count.unwrap_or_default(),
        limit: page.limit,
        offset: page.offset,
        next_cursor,
    }))
}

pub(super) async fn read(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    task: TaskRef,
) -> Result<Reply<TaskBody>> {
    let task = s.ats.get_task(&viewer, &task.scope, task.id).await?;
    Ok(Reply(TaskBody { task }))
}

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
