//! GraphQL output types over the service views.

use super::scalars::DateTime;
use async_graphql::{Context, Enum, ID, Json, Object, SimpleObject};
use serde_json::Value;
use std::sync::Arc;

use super::GqlResult;
use super::loaders::{
    Cached, EventsLoader, HandoffsLoader, MessagesLoader, SubtasksLoader, TaskLoader, ThreadPage,
};
use crate::service::paging::HISTORY_PAGE;
use crate::service::paging::Overflow;
use crate::service::views::{EventView, MessageView, OrgView, ProjectView, TaskView};
use crate::service::{StatsScope, TaskStats as StatsView};

/// Where a task is in its lifecycle.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::service::TaskStatus")]
pub enum TaskStatus {
    /// Waiting for a worker.
    Pending,
    /// Claimed under a lease.
    InProgress,
    /// Done.
    Completed,
    /// Withdrawn.
    Cancelled,
    /// The worker gave up.
    Failed,
    /// Declined.
    Rejected,
}

/// Something a caller may do to a task (`Task.viewerActions`).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::service::TaskAction")]
pub enum TaskAction {
    /// `claimTask` (renews the lease when the caller holds it).
    Claim,
    /// `completeTask`.
    Complete,
    /// `failTask`.
    Fail,
    /// `rejectTask`.
    Reject,
    /// `cancelTask`.
    Cancel,
    /// `reopenTask`.
    Reopen,
    /// `updateTask`.
    Update,
    /// `deleteTask`.
    Delete,
    /// `addMessage`.
    AddMessage,
    /// `addHandoff`.
    AddHandoff,
    /// `createSubtask`.
    CreateSubtask,
}

/// Kinds of actor.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::actor::ActorType")]
pub enum ActorType {
    /// A person.
    Human,
    /// An AI agent.
    Agent,
    /// The service or another automated system.
    System,
}

/// Who did something.
#[derive(SimpleObject, Clone, Debug)]
pub struct Actor {
    /// human, agent or system.
    #[graphql(name = "type")]
    pub actor_type: ActorType,
    /// Unique per type.
    pub id: String,
    /// Display name, when known.
    pub name: Option<String>,
}

impl Actor {
    /// The actor stored as `(type, id, name)`; a type outside the enum is
    /// an internal error, never a silent default.
    fn from_parts(t: &str, id: &str, name: Option<&String>) -> GqlResult<Self> {
        let actor_type = crate::actor::ActorType::parse(t).map_err(|_| {
            super::error::to_gql(crate::error::Error::Internal(format!(
                "unknown actor type '{t}' in the store"
            )))
        })?;
        Ok(Self {
            actor_type: actor_type.into(),
            id: id.to_owned(),
            name: name.cloned(),
        })
    }
}

/// A unit of work handed between actors.
pub struct Task(pub Arc<TaskView>);

/// A task's retry policy.
#[derive(SimpleObject)]
pub struct RetryPolicy {
    pub backoff: super::inputs::Backoff,
    /// The first delay in ms.
    pub initial_ms: i64,
    /// The longest delay in ms.
    pub max_ms: i64,
    /// Each delay is drawn between half and all of itself.
    pub jitter: bool,
}

impl From<Arc<TaskView>> for Task {
    fn from(view: Arc<TaskView>) -> Self {
        Self(view)
    }
}

impl From<TaskView> for Task {
    fn from(view: TaskView) -> Self {
        Self(Arc::new(view))
    }
}

#[Object]
impl Task {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// Free-form kind, e.g. `approval`, `code-review`.
    #[graphql(name = "type")]
    async fn task_type(&self) -> &str {
        &self.0.task_type
    }
    async fn channel(&self) -> &str {
        &self.0.channel
    }
    /// 1–10, higher is more urgent.
    async fn priority(&self) -> i32 {
        self.0.priority
    }
    async fn status(&self) -> TaskStatus {
        self.0.status.into()
    }
    async fn payload(&self) -> Json<&Value> {
        Json(&self.0.payload)
    }
    /// Everything `complete` appended, oldest first.
    async fn outputs(&self) -> Json<&Value> {
        Json(&self.0.outputs)
    }
    /// The creator.
    async fn source(&self) -> GqlResult<Actor> {
        Actor::from_parts(
            &self.0.source_type,
            &self.0.source_id,
            self.0.source_name.as_ref(),
        )
    }
    /// The current or last claimer.
    async fn assignee(&self) -> GqlResult<Option<Actor>> {
        match (&self.0.assignee_type, &self.0.assignee_id) {
            (Some(t), Some(id)) => {
                Actor::from_parts(t, id, self.0.assignee_name.as_ref()).map(Some)
            }
            _ => Ok(None),
        }
    }
    async fn lease_expires(&self) -> Option<DateTime> {
        self.0.lease_expires.map(Into::into)
    }
    /// Text of the last fail, reject, cancel or reopen.
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }
    async fn org(&self) -> &str {
        &self.0.org
    }
    async fn project(&self) -> &str {
        &self.0.project
    }
    /// The parent of a subtask.
    #[graphql(complexity = "1 + child_complexity")]
    async fn parent(&self, ctx: &Context<'_>) -> GqlResult<Option<Task>> {
        let Some(parent) = self.0.parent_id else {
            return Ok(None);
        };
        let loader = ctx.data_unchecked::<Cached<TaskLoader>>();
        Ok(loader
            .load_one(parent)
            .await
            .map_err(|e| (*e).clone())?
            .map(Task::from))
    }
    /// How many times it has been claimed.
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }
    async fn max_attempts(&self) -> Option<i32> {
        self.0.max_attempts
    }
    /// When it may first be claimed: a pending task is not claimable before.
    async fn run_at(&self) -> Option<DateTime> {
        self.0.run_at.map(Into::into)
    }
    /// When it is due: still open then, it is overdue and escalates.
    async fn due_at(&self) -> Option<DateTime> {
        self.0.due_at.map(Into::into)
    }
    /// Its deadline passed while it was open.
    async fn overdue(&self) -> bool {
        self.0.overdue
    }
    /// Once overdue this long (ms), it escalates to the org's owners and admins.
    async fn escalate_after_ms(&self) -> Option<i64> {
        self.0.escalate_after_ms
    }
    /// How failed attempts are retried; `null`: they are not.
    async fn retry(&self) -> Option<RetryPolicy> {
        crate::service::RetryPolicy::of(self.0.retry.as_ref()).map(|p| RetryPolicy {
            backoff: match p.backoff {
                crate::service::Backoff::Exponential => super::inputs::Backoff::Exponential,
                crate::service::Backoff::Fixed => super::inputs::Backoff::Fixed,
            },
            initial_ms: p.initial_ms,
            max_ms: p.max_ms,
            jitter: p.jitter,
        })
    }
    /// The message thread, oldest first: `first` messages (1–1000, default
    /// 100) after the message id `after`.
    #[graphql(complexity = "super::history_cost(first, child_complexity)")]
    async fn messages(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<ID>,
    ) -> GqlResult<Vec<Message>> {
        let loader = ctx.data_unchecked::<Cached<MessagesLoader>>();
        let page = thread_page(
            self.0.id,
            first.map(i64::from),
            after.as_ref().map(|a| a.as_str()),
        )?;
        let page = loader
            .load_one(page)
            .await
            .map_err(|e| (*e).clone())?
            .unwrap_or_default();
        Ok(page.into_iter().map(Message).collect())
    }
    /// Its subtasks, oldest first.
    #[graphql(complexity = "super::list_cost(child_complexity)")]
    async fn subtasks(&self, ctx: &Context<'_>) -> GqlResult<Vec<Task>> {
        let loader = ctx.data_unchecked::<Cached<SubtasksLoader>>();
        let all = loader
            .load_one(self.0.id)
            .await
            .map_err(|e| (*e).clone())?
            .unwrap_or_default();
        Ok(all.into_iter().map(Task::from).collect())
    }
    /// The tasks that must complete before this one can be claimed (those the caller may read).
    #[graphql(complexity = "super::list_cost(child_complexity)")]
    async fn depends_on(&self, ctx: &Context<'_>) -> GqlResult<Vec<Task>> {
        visible_tasks(ctx, &self.0.depends_on).await
    }
    /// Blockers not yet completed: while any remain the task cannot be claimed.
    #[graphql(complexity = "super::list_cost(child_complexity)")]
    async fn blocked_by(&self, ctx: &Context<'_>) -> GqlResult<Vec<Task>> {
        visible_tasks(ctx, &self.0.blocked_by).await
    }
    /// The tasks that depend on this one: it blocks them until it completes
    /// (those the caller may read), oldest first.
    #[graphql(complexity = "super::READ_COST + super::list_cost(child_complexity)")]
    async fn blocks(&self, ctx: &Context<'_>) -> GqlResult<Vec<Task>> {
        use super::OrGql;
        let ids = super::ats(ctx)
            .dependents_of_tasks(super::viewer(ctx)?, &[self.0.id])
            .await
            .gql()?
            .remove(&self.0.id)
            .unwrap_or_default();
        visible_tasks(ctx, &ids).await
    }
    /// What the caller may do to this task now, by the rules the actions
    /// themselves apply (access, status, assignee, blockers, subtasks). Empty
    /// for a caller who may only read.
    #[graphql(complexity = "super::READ_COST + super::list_cost(child_complexity)")]
    async fn viewer_actions(&self, ctx: &Context<'_>) -> GqlResult<Vec<TaskAction>> {
        use super::OrGql;
        let actions = super::ats(ctx)
            .viewer_actions(super::viewer(ctx)?, &crate::service::Scope::Any, self.0.id)
            .await
            .gql()?;
        Ok(actions.into_iter().map(TaskAction::from).collect())
    }
    /// Context passed between worker sessions, oldest first.
    #[graphql(complexity = "super::list_cost(child_complexity)")]
    async fn handoffs(&self, ctx: &Context<'_>) -> GqlResult<Vec<Handoff>> {
        let loader = ctx.data_unchecked::<Cached<HandoffsLoader>>();
        let all = loader
            .load_one(self.0.id)
            .await
            .map_err(|e| (*e).clone())?
            .unwrap_or_default();
        Ok(all.into_iter().map(Handoff).collect())
    }
    /// The task's history, oldest first: what is kept of it (events older
    /// than the retention period are pruned).
    #[graphql(complexity = "super::history_cost(None, child_complexity)")]
    async fn events(&self, ctx: &Context<'_>) -> GqlResult<Vec<TaskEvent>> {
        let loader = ctx.data_unchecked::<Cached<EventsLoader>>();
        let all = loader
            .load_one(self.0.id)
            .await
            .map_err(|e| (*e).clone())?
            .unwrap_or_default();
        Ok(all.into_iter().map(TaskEvent::from).collect())
    }
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
    async fn updated_at(&self) -> DateTime {
        self.0.updated_at.into()
    }
    async fn claimed_at(&self) -> Option<DateTime> {
        self.0.claimed_at.map(Into::into)
    }
    async fn completed_at(&self) -> Option<DateTime> {
        self.0.completed_at.map(Into::into)
    }
}

/// The page of task `task`'s thread that `messages(first, after)` asks for.
pub(super) fn thread_page(
    task: i64,
    first: Option<i64>,
    after: Option<&str>,
) -> GqlResult<ThreadPage> {
    use super::OrGql;
    let first = HISTORY_PAGE.size("first", first, Overflow::Refuse).gql()?;
    let after = match after {
        Some(id) => Some(
            id.parse()
                .map_err(|_| super::error::bad_request("after must be a message id"))?,
        ),
        None => None,
    };
    let after = crate::service::paging::cursor(after).gql()?;
    Ok(ThreadPage { task, after, first })
}

/// A message on a task thread.
pub struct Message(pub MessageView);

#[Object]
impl Message {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn task_id(&self) -> ID {
        ID(self.0.task_id.to_string())
    }
    async fn actor(&self) -> GqlResult<Actor> {
        Actor::from_parts(
            &self.0.actor_type,
            &self.0.actor_id,
            self.0.actor_name.as_ref(),
        )
    }
    /// `[{type, content, url?, mime?}]`.
    async fn parts(&self) -> Json<&Value> {
        Json(&self.0.parts)
    }
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
}

/// One recorded change.
pub struct TaskEvent(pub Arc<EventView>);

impl From<EventView> for TaskEvent {
    fn from(view: EventView) -> Self {
        Self(Arc::new(view))
    }
}

#[Object]
impl TaskEvent {
    /// Monotonic; the resume cursor.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// e.g. `task.created`.
    #[graphql(name = "type")]
    async fn event_type(&self) -> &str {
        &self.0.event_type
    }
    async fn task_id(&self) -> Option<ID> {
        Some(ID(self.0.task_id.to_string()))
    }
    /// The task as it is now (null once deleted; on a subscription, as read
    /// when this event was first delivered, shared by every subscriber);
    /// `data.task` holds it as it was after this change.
    async fn task(&self, ctx: &Context<'_>) -> GqlResult<Option<Task>> {
        if ctx.data_opt::<super::loaders::LiveConnection>().is_some() {
            use super::OrGql;
            // Read once per event for every live subscriber of this process.
            let task = super::ats(ctx)
                .live_event_task(super::viewer(ctx)?, self.0.id, self.0.task_id)
                .await
                .gql()?;
            return Ok(task.map(Task::from));
        }
        let loader = ctx.data_unchecked::<Cached<TaskLoader>>();
        Ok(loader
            .load_one(self.0.task_id)
            .await
            .map_err(|e| (*e).clone())?
            .map(Task::from))
    }
    async fn actor(&self) -> GqlResult<Actor> {
        Actor::from_parts(
            &self.0.actor_type,
            &self.0.actor_id,
            self.0.actor_name.as_ref(),
        )
    }
    async fn channel(&self) -> Option<&str> {
        Some(&self.0.channel)
    }
    async fn task_type(&self) -> &str {
        &self.0.task_type
    }
    async fn org(&self) -> &str {
        &self.0.org
    }
    async fn project(&self) -> &str {
        &self.0.project
    }
    /// `{task, …}` as stored with the event.
    async fn data(&self) -> Json<&Value> {
        Json(&self.0.data)
    }
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
}

/// An organization.
pub struct Organization(pub OrgView);

#[Object]
impl Organization {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn slug(&self) -> &str {
        &self.0.slug
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// The caller's role, if a member.
    async fn role(&self) -> Option<&str> {
        self.0.role.as_deref()
    }
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
    async fn updated_at(&self) -> DateTime {
        self.0.updated_at.into()
    }
    /// Its projects, with task counts.
    #[graphql(complexity = "super::list_cost(child_complexity)")]
    async fn projects(&self, ctx: &Context<'_>) -> GqlResult<Vec<Project>> {
        use super::OrGql;
        let projects = super::ats(ctx)
            .list_projects(super::viewer(ctx)?, &self.0.slug, true)
            .await
            .gql()?;
        Ok(projects.into_iter().map(Project).collect())
    }
    /// Its members (any reader of the org may list them).
    #[graphql(complexity = "super::list_cost(child_complexity)")]
    async fn members(&self, ctx: &Context<'_>) -> GqlResult<Vec<super::access::Member>> {
        use super::OrGql;
        let m = super::ats(ctx)
            .list_members(super::viewer(ctx)?, &self.0.slug)
            .await
            .gql()?;
        Ok(m.into_iter().map(Into::into).collect())
    }
    /// Its invitations (admins).
    #[graphql(complexity = "super::list_cost(child_complexity)")]
    async fn invitations(&self, ctx: &Context<'_>) -> GqlResult<Vec<super::access::Invitation>> {
        use super::OrGql;
        let i = super::ats(ctx)
            .list_invitations(super::viewer(ctx)?, &self.0.slug)
            .await
            .gql()?;
        Ok(i.into_iter().map(Into::into).collect())
    }
    /// Its audit log, newest first (admins and owners): filtered by
    /// `action` and `actor` (`type:id` or an id), paged by `after`.
    #[graphql(complexity = "super::list_cost(child_complexity)")]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        action: Option<String>,
        actor: Option<String>,
        after: Option<String>,
        first: Option<i32>,
    ) -> GqlResult<super::webhooks::AuditPage> {
        use super::OrGql;
        let page = super::ats(ctx)
            .audit_log(
                super::viewer(ctx)?,
                &self.0.slug,
                crate::service::AuditQuery {
                    action,
                    actor,
                    after,
                    first: first.map(i64::from),
                },
            )
            .await
            .gql()?;
        Ok(super::webhooks::AuditPage {
            entries: page.items.into_iter().map(Into::into).collect(),
            next_cursor: page.next_cursor,
        })
    }
    /// Its namespace permissions (admins).
    #[graphql(complexity = "super::list_cost(child_complexity)")]
    async fn permissions(&self, ctx: &Context<'_>) -> GqlResult<Vec<super::access::Permission>> {
        use super::OrGql;
        let p = super::ats(ctx)
            .list_permissions(super::viewer(ctx)?, &self.0.slug)
            .await
            .gql()?;
        Ok(p.into_iter().map(Into::into).collect())
    }
}

/// A project; tasks live in projects.
pub struct Project(pub ProjectView);

#[Object]
impl Project {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn org(&self) -> &str {
        &self.0.org
    }
    async fn slug(&self) -> &str {
        &self.0.slug
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
    async fn updated_at(&self) -> DateTime {
        self.0.updated_at.into()
    }
    async fn pending_count(&self) -> Option<u64> {
        self.0.counts.map(|c| c.pending_count)
    }
    async fn in_progress_count(&self) -> Option<u64> {
        self.0.counts.map(|c| c.in_progress_count)
    }
    async fn total_count(&self) -> Option<u64> {
        self.0.counts.map(|c| c.total_count)
    }
    /// Statistics of this project's tasks.
    #[graphql(complexity = "super::COUNT_COST + child_complexity")]
    async fn stats(&self, ctx: &Context<'_>) -> GqlResult<TaskStats> {
        use super::OrGql;
        let scope = StatsScope {
            org: Some(self.0.org.clone()),
            project: Some(self.0.slug.clone()),
        };
        Ok(TaskStats(
            super::ats(ctx)
                .stats(super::viewer(ctx)?, &scope)
                .await
                .gql()?,
        ))
    }
    /// This project's tasks (a Relay connection).
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "super::page_cost(first, last, child_complexity)")]
    async fn tasks(
        &self,
        ctx: &Context<'_>,
        filter: Option<super::inputs::TaskFilter>,
        order_by: Option<super::inputs::TaskOrder>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<super::query::TaskConnection> {
        let mut filter = filter.unwrap_or_default();
        filter.org = Some(self.0.org.clone());
        filter.project = Some(self.0.slug.clone());
        super::query::task_connection(ctx, filter, order_by, first, after, last, before).await
    }
}

/// A status and how many tasks have it.
#[derive(SimpleObject)]
pub struct StatusCount {
    pub status: TaskStatus,
    pub count: u64,
}

/// A channel and how many tasks are on it.
#[derive(SimpleObject)]
pub struct ChannelCount {
    pub channel: String,
    pub count: u64,
}

/// Recent activity.
#[derive(SimpleObject)]
pub struct RecentStats {
    #[graphql(name = "created24h")]
    pub created_24h: u64,
    #[graphql(name = "completed24h")]
    pub completed_24h: u64,
    #[graphql(name = "created7d")]
    pub created_7d: u64,
    #[graphql(name = "completed7d")]
    pub completed_7d: u64,
}

/// Aggregate task statistics.
pub struct TaskStats(pub StatsView);

#[Object]
impl TaskStats {
    async fn total(&self) -> u64 {
        self.0.total
    }
    async fn by_status(&self) -> GqlResult<Vec<StatusCount>> {
        self.0
            .by_status
            .iter()
            .map(|(s, n)| {
                let status = crate::service::TaskStatus::from_name(s).ok_or_else(|| {
                    super::error::to_gql(crate::error::Error::Internal(format!(
                        "unknown status '{s}' in the store"
                    )))
                })?;
                Ok(StatusCount {
                    status: status.into(),
                    count: *n,
                })
            })
            .collect()
    }
    async fn by_channel(&self) -> Vec<ChannelCount> {
        self.0
            .by_channel
            .iter()
            .map(|(c, n)| ChannelCount {
                channel: c.clone(),
                count: *n,
            })
            .collect()
    }
    /// Mean seconds from creation to completion.
    async fn avg_completion_seconds(&self) -> Option<f64> {
        self.0.avg_completion_seconds
    }
    async fn completed_count(&self) -> u64 {
        self.0.completed_count
    }
    async fn recent(&self) -> RecentStats {
        RecentStats {
            created_24h: self.0.recent.created_24h,
            completed_24h: self.0.recent.completed_24h,
            created_7d: self.0.recent.created_7d,
            completed_7d: self.0.recent.completed_7d,
        }
    }
}

/// Service health.
#[derive(SimpleObject)]
pub struct Health {
    /// `ok` or `degraded`.
    pub status: String,
    pub version: String,
    /// `ok` or `unreachable`.
    pub database: String,
    pub timestamp: DateTime,
}

async fn visible_tasks(ctx: &Context<'_>, ids: &[i64]) -> GqlResult<Vec<Task>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let loader = ctx.data_unchecked::<Cached<TaskLoader>>();
    let found = loader
        .load_many(ids.iter().copied())
        .await
        .map_err(|e| (*e).clone())?;
    Ok(ids
        .iter()
        .filter_map(|id| found.get(id))
        .cloned()
        .map(Task::from)
        .collect())
}

/// Context passed from one worker session to the next.
pub struct Handoff(pub crate::service::HandoffView);

#[Object]
impl Handoff {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn task_id(&self) -> ID {
        ID(self.0.task_id.to_string())
    }
    async fn actor(&self) -> GqlResult<Actor> {
        Actor::from_parts(
            &self.0.actor_type,
            &self.0.actor_id,
            self.0.actor_name.as_ref(),
        )
    }
    /// What was done and where things stand.
    async fn summary(&self) -> &str {
        &self.0.summary
    }
    /// What the next session should do.
    async fn next_steps(&self) -> &[String] {
        &self.0.next_steps
    }
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
}
