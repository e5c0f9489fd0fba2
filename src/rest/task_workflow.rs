//! Workflow routes under `/tasks…` (and the project-scoped mount): bulk
//! create, claim-next, subtasks and handoffs.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::bodies::{Reply, TaskBody};
use super::extract::{TaskRef, TaskScope};
use crate::app::AppState;
use crate::app::{ApiJson, CurrentViewer, KeyedJson};
use crate::error::{Error, Result};
use crate::service::views::TaskView;
use crate::service::{ClaimBatch, ClaimNext, HandoffView, NO_CLAIMABLE_TASK, NewHandoff, NewTask};

/// Body of `POST /tasks/bulk`.
#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct BulkBody {
    /// 1 to 1 000 tasks, created all or nothing.
    #[schema(required = true, value_type = Vec<NewTask>, min_items = 1, max_items = 1000)]
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

pub(super) async fn bulk(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    TaskScope(scope): TaskScope,
    KeyedJson(idem, body): KeyedJson<BulkBody>,
) -> Result<Reply<BulkCreated>> {
    let tasks = s
        .ats
        .create_tasks_keyed(
            &viewer,
            &scope,
            body.tasks.unwrap_or_default(),
            idem.as_ref(),
        )
        .await?;
    let count = tasks.len();
    Ok(Reply(BulkCreated { tasks, count }))
}

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

/// `{"tasks": […], "count": n}`: the tasks a batch claim took.
#[derive(Serialize, ToSchema)]
pub struct ClaimedTasks {
    pub tasks: Vec<TaskView>,
    pub count: usize,
}

pub(super) async fn claim_batch(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    TaskScope(scope): TaskScope,
    ApiJson(body): ApiJson<ClaimBatch>,
) -> Result<Reply<ClaimedTasks>> {
    let tasks = s.ats.claim_batch(&viewer, &scope, body).await?;
    let count = tasks.len();
    Ok(Reply(ClaimedTasks { tasks, count }))
}

pub(super) async fn list_subtasks(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    task: TaskRef,
) -> Result<Reply<TaskList>> {
    let tasks = s.ats.list_subtasks(&viewer, &task.scope, task.id).await?;
    Ok(Reply(TaskList { tasks }))
}

pub(super) async fn create_subtask(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    task: TaskRef,
    ApiJson(input): ApiJson<NewTask>,
) -> Result<Reply<TaskBody>> {
    let created = s
        .ats
        .create_subtask(&viewer, &task.scope, task.id, input)
        .await?;
    Ok(Reply(TaskBody { task: created }))
}

pub(super) async fn list_handoffs(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    task: TaskRef,
) -> Result<Reply<HandoffList>> {
    let handoffs = s.ats.list_handoffs(&viewer, &task.scope, task.id).await?;
    Ok(Reply(HandoffList { handoffs }))
}

pub(super) async fn add_handoff(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    task: TaskRef,
    ApiJson(input): ApiJson<NewHandoff>,
) -> Result<Reply<HandoffBody>> {
    let handoff = s
        .ats
        .add_handoff(&viewer, &task.scope, task.id, input)
        .await?;
    Ok(Reply(HandoffBody { handoff }))
}

/// `{"actions": […]}`: what the caller may do to the task now.
#[derive(Serialize, ToSchema)]
pub struct ActionList {
    /// Among `claim`, `complete`, `fail`, `reject`, `cancel`, `reopen`,
    /// `update`, `delete`, `add_message`, `add_handoff`, `create_subtask`.
    pub actions: Vec<String>,
}

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

pub(super) async fn dependents(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    task: TaskRef,
) -> Result<Reply<TaskList>> {
    let tasks = s.ats.dependents(&viewer, &task.scope, task.id).await?;
    Ok(Reply(TaskList { tasks }))
}
