//! The operations of the service and where each adapter exposes them. REST and
//! GraphQL must both offer every one (SPEC §5); `tests/it/parity.rs` checks this
//! table against the router, `/openapi.json` and the GraphQL schema.

/// One service operation.
#[derive(Clone, Copy, Debug)]
pub struct Operation {
    /// Stable name; also the `operationId` of its REST route in `/openapi.json`.
    pub name: &'static str,
    /// REST method, upper case.
    pub method: &'static str,
    /// REST path template (`{id}`, `{org}`, `{project}`). A `/tasks…` path is
    /// also served under [`PROJECT_SCOPE`].
    pub path: &'static str,
    /// The GraphQL field, as `Type.field`: a `Query`/`Mutation` root field, or
    /// a field of an object type when the operation reads a part of one.
    pub graphql: &'static str,
}

/// The prefix of the project-scoped mount of the task routes.
pub const PROJECT_SCOPE: &str = "/orgs/{org}/projects/{project}";

/// Appended to the `operationId` of a task route's project-scoped copy.
pub const SCOPED_SUFFIX: &str = "_in_project";

impl Operation {
    /// Every REST route of the operation as `(path template, operationId)`:
    /// `path`, and for task routes its project-scoped copy.
    pub fn rest_routes(&self) -> Vec<(String, String)> {
        let mut routes = vec![(self.path.to_owned(), self.name.to_owned())];
        if self.path.starts_with("/tasks") {
            routes.push((
                format!("{PROJECT_SCOPE}{}", self.path),
                format!("{}{SCOPED_SUFFIX}", self.name),
            ));
        }
        routes
    }
}

const fn op(
    name: &'static str,
    method: &'static str,
    path: &'static str,
    graphql: &'static str,
) -> Operation {
    Operation {
        name,
        method,
        path,
        graphql,
    }
}

/// Every operation, REST route and GraphQL field of the service.
#[rustfmt::skip]
pub const OPERATIONS: &[Operation] = &[
    op("health", "GET", "/health", "Query.health"),
    op("create_task", "POST", "/tasks", "Mutation.createTask"),
    op("list_tasks", "GET", "/tasks", "Query.tasks"),
    op("get_task", "GET", "/tasks/{id}", "Query.task"),
    op("update_task", "PATCH", "/tasks/{id}", "Mutation.updateTask"),
    op("delete_task", "DELETE", "/tasks/{id}", "Mutation.deleteTask"),
    op("claim_task", "POST", "/tasks/{id}/claim", "Mutation.claimTask"),
    op("complete_task", "POST", "/tasks/{id}/complete", "Mutation.completeTask"),
    op("fail_task", "POST", "/tasks/{id}/fail", "Mutation.failTask"),
    op("reject_task", "POST", "/tasks/{id}/reject", "Mutation.rejectTask"),
    op("cancel_task", "POST", "/tasks/{id}/cancel", "Mutation.cancelTask"),
    op("reopen_task", "POST", "/tasks/{id}/reopen", "Mutation.reopenTask"),
    op("add_message", "POST", "/tasks/{id}/messages", "Mutation.addMessage"),
    op("list_messages", "GET", "/tasks/{id}/messages", "Task.messages"),
    op("task_events", "GET", "/tasks/{id}/events", "Task.events"),
    op("stats", "GET", "/tasks/stats", "Query.stats"),
    op("project_stats", "GET", "/orgs/{org}/projects/{project}/stats", "Project.stats"),
    op("list_orgs", "GET", "/orgs", "Query.organizations"),
    op("create_org", "POST", "/orgs", "Mutation.createOrganization"),
    op("get_org", "GET", "/orgs/{org}", "Query.organization"),
    op("update_org", "PATCH", "/orgs/{org}", "Mutation.updateOrganization"),
    op("delete_org", "DELETE", "/orgs/{org}", "Mutation.deleteOrganization"),
    op("list_projects", "GET", "/orgs/{org}/projects", "Query.projects"),
    op("create_project", "POST", "/orgs/{org}/projects", "Mutation.createProject"),
    op("get_project", "GET", "/orgs/{org}/projects/{project}", "Query.project"),
    op("update_project", "PATCH", "/orgs/{org}/projects/{project}", "Mutation.updateProject"),
    op("delete_project", "DELETE", "/orgs/{org}/projects/{project}", "Mutation.deleteProject"),
    op("register", "POST", "/auth/register", "Mutation.register"),
    op("login", "POST", "/auth/login", "Mutation.login"),
    op("get_me", "GET", "/auth/me", "Query.me"),
    op("update_me", "PATCH", "/auth/me", "Mutation.updateMe"),
    op("get_identity", "GET", "/auth/identities/{actor_id}", "Query.identity"),
    op("list_api_keys", "GET", "/auth/api-keys", "Query.apiKeys"),
    op("create_api_key", "POST", "/auth/api-keys", "Mutation.createApiKey"),
    op("delete_api_key", "DELETE", "/auth/api-keys/{id}", "Mutation.deleteApiKey"),
    op("create_guardian_link", "POST", "/auth/me/guardian-link", "Mutation.createGuardianLink"),
    op("confirm_guardian", "POST", "/auth/guardian-confirm/{token}", "Mutation.confirmGuardian"),
    op("list_guardians", "GET", "/auth/me/guardians", "Query.guardians"),
    op("remove_guardian", "DELETE", "/auth/me/guardians/{id}", "Mutation.removeGuardian"),
    op("create_agent_api_key", "POST", "/auth/guardians/{agent_id}/api-keys", "Mutation.createAgentApiKey"),
    op("list_my_invitations", "GET", "/auth/invitations", "Query.myInvitations"),
    op("accept_invitation", "POST", "/auth/invitations/{token}/accept", "Mutation.acceptInvitation"),
    op("decline_invitation", "POST", "/auth/invitations/{token}/decline", "Mutation.declineInvitation"),
    op("list_members", "GET", "/orgs/{org}/members", "Query.members"),
    op("add_member", "POST", "/orgs/{org}/members", "Mutation.addMember"),
    op("update_member", "PATCH", "/orgs/{org}/members/{actor_type}/{actor_id}", "Mutation.updateMember"),
    op("remove_member", "DELETE", "/orgs/{org}/members/{actor_type}/{actor_id}", "Mutation.removeMember"),
    op("list_invitations", "GET", "/orgs/{org}/invitations", "Query.invitations"),
    op("create_invitation", "POST", "/orgs/{org}/invitations", "Mutation.createInvitation"),
    op("list_permissions", "GET", "/orgs/{org}/permissions", "Query.permissions"),
    op("grant_permission", "POST", "/orgs/{org}/permissions", "Mutation.grantPermission"),
    op("revoke_permission", "DELETE", "/orgs/{org}/permissions/{id}", "Mutation.revokePermission"),
    op("create_tasks", "POST", "/tasks/bulk", "Mutation.createTasks"),
    op("claim_next_task", "POST", "/tasks/claim-next", "Mutation.claimNextTask"),
    op("list_subtasks", "GET", "/tasks/{id}/subtasks", "Task.subtasks"),
    op("create_subtask", "POST", "/tasks/{id}/subtasks", "Mutation.createSubtask"),
    op("list_handoffs", "GET", "/tasks/{id}/handoffs", "Task.handoffs"),
    op("add_handoff", "POST", "/tasks/{id}/handoffs", "Mutation.addHandoff"),
    op("task_actions", "GET", "/tasks/{id}/actions", "Task.viewerActions"),
    op("list_dependents", "GET", "/tasks/{id}/dependents", "Task.blocks"),
];
