//! Task lifecycle actions (claim, complete, fail, reject, cancel, reopen), the
//! message thread and the task's history, on both task mounts.

use axum::extract::State;
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::bodies::{EventList, MessageBody, MessageList, Reply, TaskBody};
use super::extract::TaskRef;
use crate::app::AppState;
use crate::app::{ApiQuery, CurrentViewer, KeyedJson};
use crate::error::Result;
use crate::service::{Action, NewMessage, RetryAsk, paging};
use crate::service::{Idempotency, Viewer};

/// Body of `claim`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub(super) struct ClaimBody {
    /// Lease length in milliseconds (1 000 to 86 400 000, default 60 000).
    #[schema(minimum = 1000, maximum = 86400000)]
    lease_duration: Option<i64>,
}

/// Body of `complete`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub(super) struct CompleteBody {
    /// Results to append to the task's `outputs`: an object (one output) or
    /// an array of outputs; the task's outputs stay within 1 MiB in all.
    #[schema(schema_with = crate::service::documented::outputs)]
    outputs: Option<Value>,
}

/// Body of `fail`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub(super) struct FailBody {
    /// Why, in words (at most 10 000 characters); stored on the task.
    #[schema(max_length = 10000)]
    reason: Option<String>,
    /// For a task with a retry policy: back to `pending` after the policy's
    /// backoff while attempts are left (`task.retry_scheduled`), failed with
    /// `attempts_exhausted` otherwise. 409 for a task without a policy.
    retry: Option<bool>,
    /// Retry at this RFC 3339 time (at most the policy's `max_ms` ahead).
    #[schema(value_type = Option<String>, format = DateTime)]
    retry_at: Option<String>,
    /// Retry after this many ms (at most the policy's `max_ms`).
    #[schema(minimum = 0)]
    retry_in_ms: Option<i64>,
}

/// Body of `reject`, `cancel`, `reopen`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub(super) struct ReasonBody {
    /// Why, in words (at most 10 000 characters); stored on the task.
    #[schema(max_length = 10000)]
    reason: Option<String>,
}

async fn act(
    s: &AppState,
    viewer: &Viewer,
    task: &TaskRef,
    action: Action,
    idem: Option<Idempotency>,
) -> Result<Reply<TaskBody>> {
    let task = s
        .ats
        .transition_keyed(viewer, &task.scope, task.id, action, idem.as_ref())
        .await?;
    Ok(Reply(TaskBody { task }))
}

pub(super) async fn claim(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    task: TaskRef,
    KeyedJson(idem, body): KeyedJson<ClaimBody>,
) -> Result<Reply<TaskBody>> {
    let lease_ms = body.lease_duration;
    act(&s, &viewer, &task, Action::Claim { lease_ms }, idem).await
}

pub(super) async fn complete(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    task: TaskRef,
    KeyedJson(idem, body): KeyedJson<CompleteBody>,
) -> Result<Reply<TaskBody>> {
    let outputs = body.outputs;
    act(&s, &viewer, &task, Action::Complete { outputs }, idem).await
}

pub(super) async fn fail(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    task: TaskRef,
    KeyedJson(idem, body): KeyedJson<FailBody>,
) -> Result<Reply<TaskBody>> {
    let retry = RetryAsk::from_parts(body.retry, body.retry_at.as_deref(), body.retry_in_ms)?;
    let reason = body.reason;
    act(&s, &viewer, &task, Action::Fail { reason, retry }, idem).await
}

pub(super) async fn reject(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    task: TaskRef,
    KeyedJson(idem, body): KeyedJson<ReasonBody>,
) -> Result<Reply<TaskBody>> {
    let reason = body.reason;
    act(&s, &viewer, &task, Action::Reject { reason }, idem).await
}

pub(super) async fn cancel(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    task: TaskRef,
    KeyedJson(idem, body): KeyedJson<ReasonBody>,
) -> Result<Reply<TaskBody>> {
    let reason = body.reason;
    act(&s, &viewer, &task, Action::Cancel { reason }, idem).await
}

pub(super) async fn reopen(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    task: TaskRef,
    KeyedJson(idem, body): KeyedJson<ReasonBody>,
) -> Result<Reply<TaskBody>> {
    let reason = body.reason;
    act(&s, &viewer, &task, Action::Reopen { reason }, idem).await
}

pub(super) async fn release(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    task: TaskRef,
    KeyedJson(idem, body): KeyedJson<ReasonBody>,
) -> Result<Reply<TaskBody>> {
    let reason = body.reason;
    act(&s, &viewer, &task, Action::Release { reason }, idem).await
}

pub(super) async fn add_message(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    task: TaskRef,
    KeyedJson(idem, body): KeyedJson<NewMessage>,
) -> Result<Reply<MessageBody>> {
    let message = s
        .ats
        .add_message_keyed(&viewer, &task.scope, task.id, body, idem.as_ref())
        .await?;
    Ok(Reply(MessageBody { message }))
}

/// `after` / `limit` paging of threads and histories.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct CursorParams {
    /// Only records with an id greater than this (not negative). For events,
    /// a cursor before the retained event log (older events are pruned)
    /// answers 410 `CURSOR_EXPIRED`; without it, the history starts at the
    /// oldest event kept.
    #[param(minimum = 0)]
    after: Option<i64>,
    /// Most records to return (default 100, at most 1000).
    #[param(minimum = 1)]
    limit: Option<i64>,
}

impl CursorParams {
    fn resolve(&self) -> Result<(i64, u64)> {
        let limit = paging::HISTORY_PAGE.size("limit", self.limit, paging::Overflow::Clamp)?;
        Ok((paging::cursor(self.after)?, limit))
    }
}

pub(super) async fn list_messages(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    task: TaskRef,
    ApiQuery(params): ApiQuery<CursorParams>,
) -> Result<Reply<MessageList>> {
    let (after, limit) = params.resolve()?;
    let messages = s
        .ats
        .list_messages(&viewer, &task.scope, task.id, after, limit)
        .await?;
    Ok(Reply(MessageList { messages }))
}

pub(super) async fn events(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    task: TaskRef,
    ApiQuery(params): ApiQuery<CursorParams>,
) -> Result<Reply<EventList>> {
    let (after, limit) = params.resolve()?;
    // Only a cursor the client gave can be before the retained log.
    let after = params.after.map(|_| after);
    let events = s
        .ats
        .task_events(&viewer, &task.scope, task.id, after, limit)
        .await?;
    Ok(Reply(EventList { events }))
}
