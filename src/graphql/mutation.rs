//! Mutation root: one mutation per REST write.

use async_graphql::{Context, ID, Json, Object, SimpleObject};
use serde_json::Value;

use super::error::bad_request;
use super::inputs::{
    CreateOrganizationInput, CreateProjectInput, CreateTaskInput, MessagePartInput,
    UpdateOrganizationInput, UpdateProjectInput, UpdateTaskInput, numeric_id,
};
use super::types::{Message, Organization, Project, Task};
use super::{GqlResult, OrGql, actor, ats};
use crate::service::{Action, NewMessage, NewOrg, NewProject, OrgPatch, ProjectPatch, Scope};

/// The task a mutation changed.
#[derive(SimpleObject)]
pub struct TaskPayload {
    pub task: Task,
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

async fn transition(ctx: &Context<'_>, id: &ID, action: Action) -> GqlResult<TaskPayload> {
    let id = numeric_id("id", id)?;
    let task = ats(ctx)
        .transition(actor(ctx), &Scope::Any, id, action)
        .await
        .gql()?;
    Ok(TaskPayload { task: Task(task) })
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
    ) -> GqlResult<TaskPayload> {
        let scope = match (&input.org, &input.project) {
            (Some(org), Some(project)) => Scope::Project {
                org: org.clone(),
                project: project.clone(),
            },
            (None, None) => Scope::Any,
            _ => return Err(bad_request("org and project go together")),
        };
        let task = ats(ctx)
            .create_task(actor(ctx), &scope, input.to_new_task()?)
            .await
            .gql()?;
        Ok(TaskPayload { task: Task(task) })
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
            .update_task(actor(ctx), &Scope::Any, id, input.to_patch())
            .await
            .gql()?;
        Ok(TaskPayload { task: Task(task) })
    }

    /// Deletes a task and its thread; its history stays.
    async fn delete_task(&self, ctx: &Context<'_>, id: ID) -> GqlResult<DeletePayload> {
        let n = numeric_id("id", &id)?;
        ats(ctx)
            .delete_task(actor(ctx), &Scope::Any, n)
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
    ) -> GqlResult<TaskPayload> {
        transition(
            ctx,
            &id,
            Action::Claim {
                lease_ms: lease_ms.map(i64::from),
            },
        )
        .await
    }

    /// Completes a claimed task, appending `outputs` (an object or an array).
    async fn complete_task(
        &self,
        ctx: &Context<'_>,
        id: ID,
        outputs: Option<Json<Value>>,
    ) -> GqlResult<TaskPayload> {
        transition(
            ctx,
            &id,
            Action::Complete {
                outputs: outputs.map(|o| o.0),
            },
        )
        .await
    }

    /// Fails a claimed task.
    async fn fail_task(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: Option<String>,
    ) -> GqlResult<TaskPayload> {
        transition(ctx, &id, Action::Fail { reason }).await
    }

    /// Rejects a pending or claimed task.
    async fn reject_task(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: Option<String>,
    ) -> GqlResult<TaskPayload> {
        transition(ctx, &id, Action::Reject { reason }).await
    }

    /// Cancels a pending or claimed task (creator or assignee).
    async fn cancel_task(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: Option<String>,
    ) -> GqlResult<TaskPayload> {
        transition(ctx, &id, Action::Cancel { reason }).await
    }

    /// Returns a finished task to pending.
    async fn reopen_task(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: Option<String>,
    ) -> GqlResult<TaskPayload> {
        transition(ctx, &id, Action::Reopen { reason }).await
    }

    /// Posts a message on a task's thread.
    async fn add_message(
        &self,
        ctx: &Context<'_>,
        task_id: ID,
        parts: Vec<MessagePartInput>,
    ) -> GqlResult<MessagePayload> {
        let task_id = numeric_id("taskId", &task_id)?;
        let input = NewMessage {
            parts: Some(parts.iter().map(MessagePartInput::to_json).collect()),
        };
        let message = ats(ctx)
            .add_message(actor(ctx), &Scope::Any, task_id, input)
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
                actor(ctx),
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
        let org = ats(ctx).update_org(actor(ctx), &slug, patch).await.gql()?;
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
        ats(ctx).delete_org(actor(ctx), &slug).await.gql()?;
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
                actor(ctx),
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
            .update_project(actor(ctx), &org, &slug, patch)
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
            .delete_project(actor(ctx), &org, &slug)
            .await
            .gql()?;
        Ok(DeletePayload {
            deleted: true,
            id: ID(format!("{org}/{slug}")),
        })
    }
}
