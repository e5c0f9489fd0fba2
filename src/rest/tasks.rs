//! `/tasks…` and `/orgs/:org/projects/:project/tasks…`: task CRUD and lifecycle actions.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::extract::{ApiJson, ApiQuery, CurrentActor, TaskRef, TaskScope};
use crate::error::{Error, Result};
use crate::service::{
    Action, DEFAULT_LIMIT, MAX_LIMIT, NewMessage, NewTask, SortBy, TaskPatch, TaskQuery,
};
use crate::time;

/// The task routes, mounted both unscoped and under a project.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(list).post(create))
        .route("/stats", get(super::stats::scoped))
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

async fn create(
    State(s): State<AppState>,
    CurrentActor(actor): CurrentActor,
    TaskScope(scope): TaskScope,
    ApiJson(input): ApiJson<NewTask>,
) -> Result<(StatusCode, Json<Value>)> {
    let task = s.ats.create_task(&actor, &scope, input).await?;
    Ok((StatusCode::CREATED, Json(json!({ "task": task }))))
}

/// Query string of `GET /tasks`.
#[derive(Debug, Deserialize)]
struct ListParams {
    status: Option<String>,
    #[serde(rename = "type")]
    task_type: Option<String>,
    channel: Option<String>,
    assignee_id: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
    created_after: Option<String>,
    updated_after: Option<String>,
    priority: Option<i64>,
    min_priority: Option<i64>,
    max_priority: Option<i64>,
    search: Option<String>,
    sort_by: Option<String>,
    sort_dir: Option<String>,
    project_id: Option<i32>,
    parent_id: Option<i64>,
    org: Option<String>,
}

fn list_of(v: Option<&str>) -> Vec<String> {
    v.map(|v| {
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

fn priority_param(name: &str, p: Option<i64>) -> Result<Option<i32>> {
    p.map(|p| {
        if (1..=10).contains(&p) {
            Ok(p as i32)
        } else {
            Err(Error::bad_request(format!(
                "{name} must be between 1 and 10, got {p}"
            )))
        }
    })
    .transpose()
}

fn time_param(name: &str, v: Option<&str>) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
    v.map(|s| {
        time::parse(s).ok_or_else(|| {
            Error::bad_request(format!("{name} must be an RFC 3339 time, got '{s}'"))
        })
    })
    .transpose()
}

impl ListParams {
    fn into_query(self) -> Result<TaskQuery> {
        let statuses = list_of(self.status.as_deref());
        for s in &statuses {
            crate::service::parse_status(s)?;
        }
        let sort_by = match self.sort_by.as_deref().unwrap_or("created_at") {
            "created_at" => SortBy::CreatedAt,
            "updated_at" => SortBy::UpdatedAt,
            "priority" => SortBy::Priority,
            "title" => SortBy::Title,
            other => {
                return Err(Error::bad_request(format!(
                    "unknown sort_by '{other}': expected created_at, updated_at, priority or title"
                )));
            }
        };
        let ascending = match self.sort_dir.as_deref().unwrap_or("desc") {
            "asc" => true,
            "desc" => false,
            other => {
                return Err(Error::bad_request(format!(
                    "unknown sort_dir '{other}': expected asc or desc"
                )));
            }
        };
        let limit = match self.limit {
            None => DEFAULT_LIMIT,
            Some(l) if l < 1 => {
                return Err(Error::bad_request(format!(
                    "limit must be at least 1, got {l}"
                )));
            }
            Some(l) => (l as u64).min(MAX_LIMIT),
        };
        let offset = match self.offset {
            None => 0,
            Some(o) if o < 0 => {
                return Err(Error::bad_request(format!(
                    "offset must not be negative, got {o}"
                )));
            }
            Some(o) => o as u64,
        };
        Ok(TaskQuery {
            statuses,
            types: list_of(self.task_type.as_deref()),
            channels: list_of(self.channel.as_deref()),
            assignee_id: self.assignee_id.filter(|a| !a.is_empty()),
            priority: priority_param("priority", self.priority)?,
            min_priority: priority_param("min_priority", self.min_priority)?,
            max_priority: priority_param("max_priority", self.max_priority)?,
            search: self.search,
            created_after: time_param("created_after", self.created_after.as_deref())?,
            updated_after: time_param("updated_after", self.updated_after.as_deref())?,
            project_id: self.project_id,
            parent_id: self.parent_id,
            org: self.org,
            sort_by,
            ascending,
            limit,
            offset,
        })
    }
}

async fn list(
    State(s): State<AppState>,
    CurrentActor(actor): CurrentActor,
    TaskScope(scope): TaskScope,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Value>> {
    let page = s
        .ats
        .list_tasks(&actor, &scope, params.into_query()?)
        .await?;
    Ok(Json(json!({
        "tasks": page.tasks,
        "count": page.count,
        "limit": page.limit,
        "offset": page.offset,
    })))
}

async fn read(
    State(s): State<AppState>,
    CurrentActor(actor): CurrentActor,
    task: TaskRef,
) -> Result<Json<Value>> {
    let view = s.ats.get_task(&actor, &task.scope, task.id).await?;
    Ok(Json(json!({ "task": view })))
}

async fn update(
    State(s): State<AppState>,
    CurrentActor(actor): CurrentActor,
    task: TaskRef,
    ApiJson(patch): ApiJson<TaskPatch>,
) -> Result<Json<Value>> {
    let view = s
        .ats
        .update_task(&actor, &task.scope, task.id, patch)
        .await?;
    Ok(Json(json!({ "task": view })))
}

async fn remove(
    State(s): State<AppState>,
    CurrentActor(actor): CurrentActor,
    task: TaskRef,
) -> Result<Json<Value>> {
    s.ats.delete_task(&actor, &task.scope, task.id).await?;
    Ok(Json(json!({ "deleted": true, "id": task.id })))
}

/// Body of `claim`.
#[derive(Debug, Default, Deserialize)]
struct ClaimBody {
    lease_duration: Option<i64>,
}

/// Body of `complete`.
#[derive(Debug, Default, Deserialize)]
struct CompleteBody {
    outputs: Option<Value>,
}

/// Body of `fail`, `reject`, `cancel`, `reopen`.
#[derive(Debug, Default, Deserialize)]
struct ReasonBody {
    reason: Option<String>,
}

async fn act(
    s: &AppState,
    actor: &crate::actor::Actor,
    task: &TaskRef,
    action: Action,
) -> Result<Json<Value>> {
    let view = s
        .ats
        .transition(actor, &task.scope, task.id, action)
        .await?;
    Ok(Json(json!({ "task": view })))
}

async fn claim(
    State(s): State<AppState>,
    CurrentActor(actor): CurrentActor,
    task: TaskRef,
    ApiJson(body): ApiJson<ClaimBody>,
) -> Result<Json<Value>> {
    act(
        &s,
        &actor,
        &task,
        Action::Claim {
            lease_ms: body.lease_duration,
        },
    )
    .await
}

async fn complete(
    State(s): State<AppState>,
    CurrentActor(actor): CurrentActor,
    task: TaskRef,
    ApiJson(body): ApiJson<CompleteBody>,
) -> Result<Json<Value>> {
    act(
        &s,
        &actor,
        &task,
        Action::Complete {
            outputs: body.outputs,
        },
    )
    .await
}

async fn fail(
    State(s): State<AppState>,
    CurrentActor(actor): CurrentActor,
    task: TaskRef,
    ApiJson(body): ApiJson<ReasonBody>,
) -> Result<Json<Value>> {
    act(
        &s,
        &actor,
        &task,
        Action::Fail {
            reason: body.reason,
        },
    )
    .await
}

async fn reject(
    State(s): State<AppState>,
    CurrentActor(actor): CurrentActor,
    task: TaskRef,
    ApiJson(body): ApiJson<ReasonBody>,
) -> Result<Json<Value>> {
    act(
        &s,
        &actor,
        &task,
        Action::Reject {
            reason: body.reason,
        },
    )
    .await
}

async fn cancel(
    State(s): State<AppState>,
    CurrentActor(actor): CurrentActor,
    task: TaskRef,
    ApiJson(body): ApiJson<ReasonBody>,
) -> Result<Json<Value>> {
    act(
        &s,
        &actor,
        &task,
        Action::Cancel {
            reason: body.reason,
        },
    )
    .await
}

async fn reopen(
    State(s): State<AppState>,
    CurrentActor(actor): CurrentActor,
    task: TaskRef,
    ApiJson(body): ApiJson<ReasonBody>,
) -> Result<Json<Value>> {
    act(
        &s,
        &actor,
        &task,
        Action::Reopen {
            reason: body.reason,
        },
    )
    .await
}

async fn add_message(
    State(s): State<AppState>,
    CurrentActor(actor): CurrentActor,
    task: TaskRef,
    ApiJson(body): ApiJson<NewMessage>,
) -> Result<(StatusCode, Json<Value>)> {
    let message = s
        .ats
        .add_message(&actor, &task.scope, task.id, body)
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "message": message }))))
}

/// `after` / `limit` paging of threads and histories.
#[derive(Debug, Deserialize)]
pub(super) struct CursorParams {
    after: Option<i64>,
    limit: Option<i64>,
}

impl CursorParams {
    fn resolve(&self) -> Result<(i64, u64)> {
        let limit = match self.limit {
            None => 100,
            Some(l) if l < 1 => {
                return Err(Error::bad_request(format!(
                    "limit must be at least 1, got {l}"
                )));
            }
            Some(l) => (l as u64).min(1000),
        };
        Ok((self.after.unwrap_or(0).max(0), limit))
    }
}

async fn list_messages(
    State(s): State<AppState>,
    CurrentActor(actor): CurrentActor,
    task: TaskRef,
    ApiQuery(params): ApiQuery<CursorParams>,
) -> Result<Json<Value>> {
    let (after, limit) = params.resolve()?;
    let messages = s
        .ats
        .list_messages(&actor, &task.scope, task.id, after, limit)
        .await?;
    Ok(Json(json!({ "messages": messages })))
}

async fn events(
    State(s): State<AppState>,
    CurrentActor(actor): CurrentActor,
    task: TaskRef,
    ApiQuery(params): ApiQuery<CursorParams>,
) -> Result<Json<Value>> {
    let (after, limit) = params.resolve()?;
    let events = s
        .ats
        .task_events(&actor, &task.scope, task.id, after, limit)
        .await?;
    Ok(Json(json!({ "events": events })))
}
