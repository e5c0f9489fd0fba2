//! Mutation root: one mutation per REST write.

use async_graphql::{Context, ID, InputObject, Json, Object, SimpleObject};
use serde_json::Value;

use super::error::bad_request;
use super::inputs::{
    CreateOrganizationInput, CreateProjectInput, CreateTaskInput, MessagePartInput,
    UpdateOrganizationInput, UpdateProjectInput, UpdateTaskInput, numeric_id,
};
use super::types::{Handoff, Message, Organization, Project, Task};
use super::{GqlResult, OrGql, ats, viewer};
use crate::service::{
    Action, ClaimBatch, ClaimNext, Idempotency, NewHandoff, NewMessage, NewOrg, NewProject,
    OrgPatch, ProjectPatch, RetryAsk, Scope,
};

/// The task a mutation changed.
#[derive(SimpleObject)]
pub struct TaskPayload {
    pub task: Task,
}

/// Tasks a bulk create made.
#[derive(SimpleObject)]
pub struct TasksPayload {
    pub tasks: Vec<Task>,
    pub count: usize,
}

/// What `claimNextTask` took: null when nothing matched.
#[derive(SimpleObject)]
pub struct ClaimNextPayload {
    pub task: Option<Task>,
}

/// The tasks a batch claim took (empty when nothing was claimable).
#[derive(SimpleObject)]
pub struct ClaimTasksPayload {
    pub tasks: Vec<Task>,
    pub count: i32,
}

/// The handoff a mutation posted.
#[derive(SimpleObject)]
pub struct HandoffPayload {
    pub handoff: Handoff,
}

/// What `claimNextTask` may take.
#[derive(InputObject, Default)]
pub struct ClaimFilter {
    pub channel: Option<String>,
    #[graphql(name = "type")]
    pub task_type: Option<String>,
    pub min_priority: Option<i32>,
}

/// A handoff's content.
#[derive(InputObject)]
pub struct HandoffInput {
    /// What was done and where things stand.
    pub summary: String,
    /// What the next session should do.
    #[graphql(default)]
    pub next_steps: Vec<String>,
}

fn claim_request(
    filter: Option<ClaimFilter>,
    lease_ms: Option<i32>,
    wait_ms: Option<i32>,
) -> ClaimNext {
    let f = filter.unwrap_or_default();
    ClaimNext {
        channel: f.channel,
        task_type: f.task_type,
        min_priority: f.min_priority.map(i64::from),
        lease_duration: lease_ms.map(i64::from),
        wait_ms: wait_ms.map(i64::from),
    }
}

fn scope_of(org: &Option<String>, project: &Option<String>) -> GqlResult<Scope> {
    Scope::from_slugs(org.clone(), project.clone()).gql()
}

/// The message a mutation posted.
#[derive(SimpleObject)]
pub struct MessagePayload {
    pub message: Message,
}

/// What a delete removed.
#[derive(SimpleObject)]
pub struct DeletePayload {
    pub deleted: bool,
    pub id: ID,
}

/// The organization a mutation changed.
#[derive(SimpleObject)]
pub struct OrganizationPayload {
    pub organization: Organization,
}

/// The project a mutation changed.
#[derive(SimpleObject)]
pub struct ProjectPayload {
    pub project: Project,
}

/// The idempotency key of a mutation (its `idempotencyKey` argument) and
/// the fingerprint of the call: the field and its other arguments.
fn idempotency(ctx: &Context<'_>, key: Option<String>) -> GqlResult<Option<Idempotency>> {
    let Some(key) = key else {
        return Ok(None);
    };
    let field = ctx.field();
    let args: serde_json::Map<String, Value> = field
        .arguments()?
        .into_iter()
        .filter(|(name, _)| name.as_str() != "idempotencyKey")
        .map(|(name, value)| {
            let value = serde_json::to_value(value).unwrap_or(Value::Null);
            (name.to_string(), value)
        })
        .collect();
    let args = Value::Object(args).to_string();
    Idempotency::new(
        &key,
        &[b"graphql", field.name().as_bytes(), args.as_bytes()],
    )
    .map(Some)
    .gql()
}

async fn transition(
    ctx: &Context<'_>,
    id: &ID,
    action: Action,
    idempotency_key: Option<String>,
) -> GqlResult<TaskPayload> {
    let id = numeric_id("id", id)?;
    let idem = idempotency(ctx, idempotency_key)?;
    let task = ats(ctx)
        .transition_keyed(viewer(ctx)?, &Scope::Any, id, action, idem.as_ref())
        .await
        .gql()?;
    Ok(TaskPayload {
        task: Task::from(task),
    })
}

/// Write operations.
#[derive(Default)]
pub struct MutationRoot;

#[Object]
impl MutationRoot {
    /// Creates a task (in `default/main` unless `org` and `project` say otherwise).
    async fn create_task(
        &self,
        ctx: &Context<'_>,
        input: CreateTaskInput,
        #[graphql(
            desc = "Sent again with the same key (and arguments) within 24 h, answers the first answer without writing again."
        )]
        idempotency_key: Option<String>,
    ) -> GqlResult<TaskPayload> {
        let scope = scope_of(&input.org, &input.project)?;
        let idem = idempotency(ctx, idempotency_key)?;
        let task = ats(ctx)
            .create_task_keyed(viewer(ctx)?, &scope, input.to_new_task()?, idem.as_ref())
            .await
            .gql()?;
        Ok(TaskPayload {
            task: Task::from(task),
        })
    }

    /// Creates up to 1 000 tasks at once (in `default/main` unless `org` and
    /// `project` say otherwise): all or nothing; an error names the bad item's index.
    async fn create_tasks(
        &self,
        ctx: &Context<'_>,
        inputs: Vec<CreateTaskInput>,
        org: Option<String>,
        project: Option<String>,
        #[graphql(
            desc = "Sent again with the same key (and arguments) within 24 h, answers the first answer without writing again."
        )]
        idempotency_key: Option<String>,
    ) -> GqlResult<TasksPayload> {
        let scope = scope_of(&org, &project)?;
        let idem = idempotency(ctx, idempotency_key)?;
        let mut items = Vec::with_capacity(inputs.len());
        for (i, input) in inputs.iter().enumerate() {
            if input.org.is_some() || input.project.is_some() {
                return Err(bad_request(format!(
                    "inputs[{i}]: give org and project once, as arguments"
                )));
            }
            items.push(input.to_new_task()?);
        }
        let tasks = ats(ctx)
            .create_tasks_keyed(viewer(ctx)?, &scope, items, idem.as_ref())
            .await
            .gql()?;
        Ok(TasksPayload {
            count: tasks.len(),
            tasks: tasks.into_iter().map(Task::from).collect(),
        })
    }

    /// Creates a subtask in the parent's project.
    async fn create_subtask(
        &self,
        ctx: &Context<'_>,
        parent_id: ID,
        input: CreateTaskInput,
    ) -> GqlResult<TaskPayload> {
        let parent = numeric_id("parentId", &parent_id)?;
        let task = ats(ctx)
            .create_subtask(viewer(ctx)?, &Scope::Any, parent, input.to_new_task()?)
            .await
            .gql()?;
        Ok(TaskPayload {
            task: Task::from(task),
        })
    }

    /// Claims the most urgent claimable task matching `filter` (highest
    /// priority, then oldest); `task` is null when none matches. With
    /// `waitMs` (up to 30 000) and nothing claimable, waits for work first.
    async fn claim_next_task(
        &self,
        ctx: &Context<'_>,
        filter: Option<ClaimFilter>,
        lease_ms: Option<i32>,
        wait_ms: Option<i32>,
        org: Option<String>,
        project: Option<String>,
    ) -> GqlResult<ClaimNextPayload> {
        let scope = scope_of(&org, &project)?;
        let req = claim_request(filter, lease_ms, wait_ms);
        let task = ats(ctx).claim_next(viewer(ctx)?, &scope, req).await.gql()?;
        Ok(ClaimNextPayload {
            task: task.map(Task::from),
        })
    }

    /// Claims up to `limit` (1–100, default 10) of the most urgent claimable
    /// tasks matching `filter` in one transaction, each with its own lease;
    /// empty when none matches. With `waitMs` (up to 30 000) and nothing
    /// claimable, waits for work first.
    #[allow(clippy::too_many_arguments)]
    async fn claim_next_tasks(
        &self,
        ctx: &Context<'_>,
        filter: Option<ClaimFilter>,
        limit: Option<i32>,
        lease_ms: Option<i32>,
        wait_ms: Option<i32>,
        org: Option<String>,
        project: Option<String>,
    ) -> GqlResult<ClaimTasksPayload> {
        let scope = scope_of(&org, &project)?;
        let req = ClaimBatch {
            next: claim_request(filter, lease_ms, wait_ms),
            limit: limit.map(i64::from),
        };
        let tasks = ats(ctx)
            .claim_batch(viewer(ctx)?, &scope, req)
            .await
            .gql()?;
        Ok(ClaimTasksPayload {
            count: tasks.len() as i32,
            tasks: tasks.into_iter().map(Task::from).collect(),
        })
    }

    /// Posts a handoff on a task.
    async fn add_handoff(
        &self,
        ctx: &Context<'_>,
        task_id: ID,
        input: HandoffInput,
    ) -> GqlResult<HandoffPayload> {
        let id = numeric_id("taskId", &task_id)?;
        let h = ats(ctx)
            .add_handoff(
                viewer(ctx)?,
                &Scope::Any,
                id,
                NewHandoff {
                    summary: Some(input.summary),
                    next_steps: Some(input.next_steps),
                },
            )
            .await
            .gql()?;
        Ok(HandoffPayload {
            handoff: Handoff(h),
        })
    }

    /// Changes a task's fields; a `status` goes through the lifecycle rules.
    async fn update_task(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateTaskInput,
    ) -> GqlResult<TaskPayload> {
        let id = numeric_id("id", &id)?;
        let task = ats(ctx)
            .update_task(viewer(ctx)?, &Scope::Any, id, input.to_patch()?)
            .await
            .gql()?;
        Ok(TaskPayload {
            task: Task::from(task),
        })
    }

    /// Deletes a task and its thread; its history stays.
    async fn delete_task(&self, ctx: &Context<'_>, id: ID) -> GqlResult<DeletePayload> {
        let n = numeric_id("id", &id)?;
        ats(ctx)
            .delete_task(viewer(ctx)?, &Scope::Any, n)
            .await
            .gql()?;
        Ok(DeletePayload { deleted: true, id })
    }

    /// Claims a task under a lease (ms, default 60 000), or renews the caller's lease.
    async fn claim_task(
        &self,
        ctx: &Context<'_>,
        id: ID,
        lease_ms: Option<i32>,
        #[graphql(
            desc = "Sent again with the same key (and arguments) within 24 h, answers the first answer without acting again."
        )]
        idempotency_key: Option<String>,
    ) -> GqlResult<TaskPayload> {
        transition(
            ctx,
            &id,
            Action::Claim {
                lease_ms: lease_ms.map(i64::from),
            },
            idempotency_key,
        )
        .await
    }

    /// Completes a claimed task, appending `outputs` (an object or an array).
    async fn complete_task(
        &self,
        ctx: &Context<'_>,
        id: ID,
        outputs: Option<Json<Value>>,
        #[graphql(
            desc = "Sent again with the same key (and arguments) within 24 h, answers the first answer without acting again."
        )]
        idempotency_key: Option<String>,
    ) -> GqlResult<TaskPayload> {
        transition(
            ctx,
            &id,
            Action::Complete {
                outputs: outputs.map(|o| o.0),
            },
            idempotency_key,
        )
        .await
    }

    /// Fails a claimed task. With `retry` (or `retryAt`, `retryInMs`), a
    /// task with a retry policy goes back to `PENDING` until its retry while
    /// attempts are left (`task.retry_scheduled`), and fails with
    /// `attempts_exhausted` at its cap.
    #[allow(clippy::too_many_arguments)]
    async fn fail_task(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: Option<String>,
        retry: Option<bool>,
        retry_at: Option<super::scalars::DateTime>,
        retry_in_ms: Option<i32>,
        #[graphql(
            desc = "Sent again with the same key (and arguments) within 24 h, answers the first answer without acting again."
        )]
        idempotency_key: Option<String>,
    ) -> GqlResult<TaskPayload> {
        let at = retry_at.map(|t| crate::time::format(&t.0));
        let retry = RetryAsk::from_parts(retry, at.as_deref(), retry_in_ms.map(i64::from)).gql()?;
        transition(ctx, &id, Action::Fail { reason, retry }, idempotency_key).await
    }

    /// Rejects a pending or claimed task.
    async fn reject_task(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: Option<String>,
        #[graphql(
            desc = "Sent again with the same key (and arguments) within 24 h, answers the first answer without acting again."
        )]
        idempotency_key: Option<String>,
    ) -> GqlResult<TaskPayload> {
        transition(ctx, &id, Action::Reject { reason }, idempotency_key).await
    }

    /// Cancels a pending or claimed task (creator or assignee).
    async fn cancel_task(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: Option<String>,
        #[graphql(
            desc = "Sent again with the same key (and arguments) within 24 h, answers the first answer without acting again."
        )]
        idempotency_key: Option<String>,
    ) -> GqlResult<TaskPayload> {
        transition(ctx, &id, Action::Cancel { reason }, idempotency_key).await
    }

    /// Returns a finished task to pending.
    async fn reopen_task(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: Option<String>,
        #[graphql(
            desc = "Sent again with the same key (and arguments) within 24 h, answers the first answer without acting again."
        )]
        idempotency_key: Option<String>,
    ) -> GqlResult<TaskPayload> {
        transition(ctx, &id, Action::Reopen { reason }, idempotency_key).await
    }

    /// Gives a claimed task back to `PENDING`, clearing its assignee and
    /// lease (the assignee, an org admin, or a person it escalated to).
    async fn release_task(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: Option<String>,
        #[graphql(
            desc = "Sent again with the same key (and arguments) within 24 h, answers the first answer without acting again."
        )]
        idempotency_key: Option<String>,
    ) -> GqlResult<TaskPayload> {
        transition(ctx, &id, Action::Release { reason }, idempotency_key).await
    }

    /// Posts a message on a task's thread.
    async fn add_message(
        &self,
        ctx: &Context<'_>,
        task_id: ID,
        parts: Vec<MessagePartInput>,
        #[graphql(
            desc = "Sent again with the same key (and arguments) within 24 h, answers the first answer without writing again."
        )]
        idempotency_key: Option<String>,
    ) -> GqlResult<MessagePayload> {
        let task_id = numeric_id("taskId", &task_id)?;
        let idem = idempotency(ctx, idempotency_key)?;
        let input = NewMessage {
            parts: Some(parts.iter().map(MessagePartInput::to_json).collect()),
        };
        let message = ats(ctx)
            .add_message_keyed(viewer(ctx)?, &Scope::Any, task_id, input, idem.as_ref())
            .await
            .gql()?;
        Ok(MessagePayload {
            message: Message(message),
        })
    }

    /// Creates an organization; the caller becomes its owner.
    async fn create_organization(
        &self,
        ctx: &Context<'_>,
        input: CreateOrganizationInput,
    ) -> GqlResult<OrganizationPayload> {
        let org = ats(ctx)
            .create_org(
                viewer(ctx)?,
                NewOrg {
                    slug: Some(input.slug),
                    name: input.name,
                    description: input.description,
                },
            )
            .await
            .gql()?;
        Ok(OrganizationPayload {
            organization: Organization(org),
        })
    }

    /// Renames or redescribes an organization.
    async fn update_organization(
        &self,
        ctx: &Context<'_>,
        slug: String,
        input: UpdateOrganizationInput,
    ) -> GqlResult<OrganizationPayload> {
        let patch = OrgPatch {
            slug: input.slug,
            name: input.name,
            description: input.description,
        };
        let org = ats(ctx)
            .update_org(viewer(ctx)?, &slug, patch)
            .await
            .gql()?;
        Ok(OrganizationPayload {
            organization: Organization(org),
        })
    }

    /// Deletes an organization with everything in it.
    async fn delete_organization(
        &self,
        ctx: &Context<'_>,
        slug: String,
    ) -> GqlResult<DeletePayload> {
        ats(ctx).delete_org(viewer(ctx)?, &slug).await.gql()?;
        Ok(DeletePayload {
            deleted: true,
            id: ID(slug),
        })
    }

    /// Creates a project in an organization.
    async fn create_project(
        &self,
        ctx: &Context<'_>,
        org: String,
        input: CreateProjectInput,
    ) -> GqlResult<ProjectPayload> {
        let project = ats(ctx)
            .create_project(
                viewer(ctx)?,
                &org,
                NewProject {
                    slug: Some(input.slug),
                    name: input.name,
                    description: input.description,
                },
            )
            .await
            .gql()?;
        Ok(ProjectPayload {
            project: Project(project),
        })
    }

    /// Renames or redescribes a project.
    async fn update_project(
        &self,
        ctx: &Context<'_>,
        org: String,
        slug: String,
        input: UpdateProjectInput,
    ) -> GqlResult<ProjectPayload> {
        let patch = ProjectPatch {
            slug: input.slug,
            name: input.name,
            description: input.description,
        };
        let project = ats(ctx)
            .update_project(viewer(ctx)?, &org, &slug, patch)
            .await
            .gql()?;
        Ok(ProjectPayload {
            project: Project(project),
        })
    }

    /// Deletes a project with its tasks.
    async fn delete_project(
        &self,
        ctx: &Context<'_>,
        org: String,
        slug: String,
    ) -> GqlResult<DeletePayload> {
        ats(ctx)
            .delete_project(viewer(ctx)?, &org, &slug)
            .await
            .gql()?;
        Ok(DeletePayload {
            deleted: true,
            id: ID(format!("{org}/{slug}")),
        })
    }
}
