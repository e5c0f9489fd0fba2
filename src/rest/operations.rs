//! Every REST operation, declared once (SPEC §6). Each entry gives the route,
//! its handler, the GraphQL field that offers the same service call, and what
//! `/openapi.json` says about it; the router, the document and the table
//! `tests/it/parity.rs` checks against GraphQL are all made from
//! [`OPERATIONS`]. The vocabulary is explained at `operation::operations!`.
//!
//! A `/tasks…` route is also served, and documented, under
//! `/orgs/{org}/projects/{project}` (see [`Operation::rest_routes`](super::operation::Operation::rest_routes)). The
//! errors the extractors answer (401, and 400/413/422 of a body, …) are added
//! by rule ([`Operation::failures`](super::operation::Operation::failures));
//! `errors` lists the service's.
//!
//! Adding an operation: write the service function, its handler, one entry
//! here and its GraphQL resolver; then regenerate `openapi.json` (see the
//! README).

use super::access_bodies::{
    ApiKeyBody, ApiKeyList, Deleted, GuardianList, GuardianshipBody, IdentityBody, InvitationBody,
    InvitationCreated, InvitationList, LoggedOut, MemberBody, MemberList, PermissionBody,
    PermissionList, PublicIdentityBody, Removed,
};
use super::auth::IdentityQuery;
use super::bodies::{
    EventList, HealthBody, MessageBody, MessageList, OrgBody, OrgDeleted, OrgList, ProjectBody,
    ProjectDeleted, ProjectList, StatsBody, TaskBody, TaskDeleted, TaskPage,
};
use super::members::RoleBody;
use super::operation::operations;
use super::orgs::ProjectListParams;
use super::stats::StatsParams;
use super::task_actions::{ClaimBody, CompleteBody, CursorParams, FailBody, ReasonBody};
use super::task_query::ListParams;
use super::task_workflow::{
    ActionList, BulkBody, BulkCreated, ClaimedTasks, HandoffBody, HandoffList, TaskList,
};
use super::webhooks::{
    AuditList, AuditParams, DeliveryBody, DeliveryList, DeliveryParams, WebhookBody,
    WebhookCreated, WebhookDeleted, WebhookList,
};
use super::{auth, health, members, orgs, stats, task_actions, task_workflow, tasks, webhooks};
use crate::service::{
    ClaimBatch, ClaimNext, GuardianLink, IdentityPatch, LoggedIn, Login, NewApiKey, NewHandoff,
    NewInvitation, NewMember, NewMessage, NewOrg, NewPermission, NewProject, NewTask, NewWebhook,
    OrgPatch, PasswordChange, PasswordReset, ProjectPatch, Registered, Registration, TaskPatch,
    WebhookPatch,
};

operations! {
    /// `200 {"status":"ok",…}`, or `503 {"status":"degraded",…}` when the store does not answer.
    health: GET "/health" => health::health, tag Health, graphql "Query.health", auth Public,
        ok 200 HealthBody "The server and its store are up"
        or 503 HealthBody "The store does not answer";

    // Tasks (each also under /orgs/{org}/projects/{project}).

    /// Creates a task (on `/tasks`: in `default/main`) with status `pending`.
    create_task: POST "/tasks" => tasks::create, tag Tasks, graphql "Mutation.createTask",
        body NewTask, ok 201 TaskBody "The new task", errors [403, 404];

    /// Lists tasks matching the filters, one page at a time, with the total count.
    list_tasks: GET "/tasks" => tasks::list, tag Tasks, graphql "Query.tasks",
        query ListParams, ok 200 TaskPage "A page of tasks", errors [404];

    /// One task, with its message thread.
    get_task: GET "/tasks/{id}" => tasks::read, tag Tasks, graphql "Query.task",
        ok 200 TaskBody "The task and its `messages`", errors [404];

    /// Changes a task's fields; a new `status` goes through the lifecycle rules.
    update_task: PATCH "/tasks/{id}" => tasks::update, tag Tasks, graphql "Mutation.updateTask",
        body TaskPatch, ok 200 TaskBody "The changed task", errors [403, 404, 409];

    /// Deletes a task and its thread; its history stays.
    delete_task: DELETE "/tasks/{id}" => tasks::remove, tag Tasks, graphql "Mutation.deleteTask",
        ok 200 TaskDeleted "The task is gone", errors [403, 404, 409];

    /// Creates up to 1 000 tasks at once: all or nothing; an error names the bad item's index.
    create_tasks: POST "/tasks/bulk" => task_workflow::bulk, tag Tasks,
        graphql "Mutation.createTasks",
        body BulkBody, ok 201 BulkCreated "The new tasks", errors [403, 404];

    /// A task's subtasks.
    list_subtasks: GET "/tasks/{id}/subtasks" => task_workflow::list_subtasks, tag Tasks,
        graphql "Task.subtasks",
        ok 200 TaskList "The subtasks", errors [404];

    /// Creates a subtask in the parent's project.
    create_subtask: POST "/tasks/{id}/subtasks" => task_workflow::create_subtask, tag Tasks,
        graphql "Mutation.createSubtask",
        body NewTask, ok 201 TaskBody "The new subtask", errors [403, 404];

    /// A task's handoffs, oldest first.
    list_handoffs: GET "/tasks/{id}/handoffs" => task_workflow::list_handoffs, tag Tasks,
        graphql "Task.handoffs",
        ok 200 HandoffList "The handoffs", errors [404];

    /// Posts a handoff: what was done and what the next session should do.
    add_handoff: POST "/tasks/{id}/handoffs" => task_workflow::add_handoff, tag Tasks,
        graphql "Mutation.addHandoff",
        body NewHandoff, ok 201 HandoffBody "The handoff", errors [403, 404];

    /// The tasks that depend on this one (that it blocks until it completes), oldest first.
    list_dependents: GET "/tasks/{id}/dependents" => task_workflow::dependents, tag Tasks,
        graphql "Task.blocks",
        ok 200 TaskList "The dependent tasks", errors [404];

    /// Claims a pending task under a lease, or renews the caller's own lease.
    claim_task: POST "/tasks/{id}/claim" => task_actions::claim, tag Lifecycle,
        graphql "Mutation.claimTask",
        body ClaimBody or empty, ok 200 TaskBody "The claimed task", errors [403, 404, 409];

    /// Completes the caller's claimed task, appending `outputs`.
    complete_task: POST "/tasks/{id}/complete" => task_actions::complete, tag Lifecycle,
        graphql "Mutation.completeTask",
        body CompleteBody or empty, ok 200 TaskBody "The completed task", errors [403, 404, 409];

    /// Fails the caller's claimed task.
    fail_task: POST "/tasks/{id}/fail" => task_actions::fail, tag Lifecycle,
        graphql "Mutation.failTask",
        body FailBody or empty, ok 200 TaskBody "The failed (or retrying) task", errors [403, 404, 409];

    /// Rejects a pending or claimed task.
    reject_task: POST "/tasks/{id}/reject" => task_actions::reject, tag Lifecycle,
        graphql "Mutation.rejectTask",
        body ReasonBody or empty, ok 200 TaskBody "The rejected task", errors [403, 404, 409];

    /// Cancels a pending or claimed task.
    cancel_task: POST "/tasks/{id}/cancel" => task_actions::cancel, tag Lifecycle,
        graphql "Mutation.cancelTask",
        body ReasonBody or empty, ok 200 TaskBody "The cancelled task", errors [403, 404, 409];

    /// Returns a finished task to `pending`.
    reopen_task: POST "/tasks/{id}/reopen" => task_actions::reopen, tag Lifecycle,
        graphql "Mutation.reopenTask",
        body ReasonBody or empty, ok 200 TaskBody "The reopened task", errors [403, 404, 409];

    /// Gives a claimed task back: `in_progress` to `pending`, clearing the
    /// assignee and lease (by the assignee, an org admin, or a person an
    /// overdue task escalated to).
    release_task: POST "/tasks/{id}/release" => task_actions::release, tag Lifecycle,
        graphql "Mutation.releaseTask",
        body ReasonBody or empty, ok 200 TaskBody "The released task", errors [403, 404, 409];

    /// Claims the most urgent claimable task matching the filter (highest priority, then oldest).
    claim_next_task: POST "/tasks/claim-next" => task_workflow::claim_next, tag Lifecycle,
        graphql "Mutation.claimNextTask",
        body ClaimNext or empty, ok 200 TaskBody "The claimed task", errors [403, 404, 409];

    /// Claims up to `limit` (1–100, default 10) of the most urgent claimable tasks
    /// matching the filter in one transaction, each with its own lease and
    /// `task.claimed` event; an empty list when none matches. With `wait_ms`
    /// (up to 30 000) and nothing claimable, waits for work first.
    claim_tasks: POST "/tasks/claim-batch" => task_workflow::claim_batch, tag Lifecycle,
        graphql "Mutation.claimNextTasks",
        body ClaimBatch or empty, ok 200 ClaimedTasks "The claimed tasks", errors [403, 404, 409];

    /// The actions the caller may take on the task now, by the same rules the
    /// actions apply (access, status, assignee, blockers, subtasks). Empty for a
    /// caller who may only read.
    task_actions: GET "/tasks/{id}/actions" => task_workflow::actions, tag Lifecycle,
        graphql "Task.viewerActions",
        ok 200 ActionList "The allowed actions", errors [404];

    /// Posts a message on a task's thread.
    add_message: POST "/tasks/{id}/messages" => task_actions::add_message, tag Messages,
        graphql "Mutation.addMessage",
        body NewMessage, ok 201 MessageBody "The new message", errors [403, 404];

    /// A task's message thread, oldest first.
    list_messages: GET "/tasks/{id}/messages" => task_actions::list_messages, tag Messages,
        graphql "Task.messages",
        query CursorParams, ok 200 MessageList "The messages", errors [404];

    /// A task's history: its stored events, oldest first. Events older than
    /// the retention period are pruned; a cursor before what is kept answers 410.
    task_events: GET "/tasks/{id}/events" => task_actions::events, tag Events,
        graphql "Task.events",
        query CursorParams, ok 200 EventList "The events", errors [404, 410];

    /// Statistics over every task, or the `org`/`project` named in the query.
    /// Under a project's task routes, over that project.
    stats: GET "/tasks/stats" => stats::scoped, tag Stats, graphql "Query.stats",
        query StatsParams, ok 200 StatsBody "The statistics", errors [404];

    // Organizations and projects.

    /// Statistics over one project's tasks.
    project_stats: GET "/orgs/{org}/projects/{project}/stats" => stats::project, tag Stats,
        graphql "Project.stats",
        ok 200 StatsBody "The statistics", errors [404];

    /// Every organization, with the caller's role in each.
    list_orgs: GET "/orgs" => orgs::list_orgs, tag Organizations, graphql "Query.organizations",
        ok 200 OrgList "The organizations";

    /// Creates an organization; the caller becomes its owner.
    create_org: POST "/orgs" => orgs::create_org, tag Organizations,
        graphql "Mutation.createOrganization",
        body NewOrg, ok 201 OrgBody "The new organization", errors [403, 409];

    /// One organization.
    get_org: GET "/orgs/{org}" => orgs::read_org, tag Organizations,
        graphql "Query.organization",
        ok 200 OrgBody "The organization", errors [404];

    /// Renames or redescribes an organization.
    update_org: PATCH "/orgs/{org}" => orgs::update_org, tag Organizations,
        graphql "Mutation.updateOrganization",
        body OrgPatch, ok 200 OrgBody "The changed organization", errors [403, 404, 409];

    /// Deletes an organization with everything in it.
    delete_org: DELETE "/orgs/{org}" => orgs::delete_org, tag Organizations,
        graphql "Mutation.deleteOrganization",
        ok 200 OrgDeleted "The organization is gone", errors [403, 404, 409];

    /// The projects of an organization.
    list_projects: GET "/orgs/{org}/projects" => orgs::list_projects, tag Projects,
        graphql "Query.projects",
        query ProjectListParams, ok 200 ProjectList "The projects", errors [404];

    /// Creates a project in an organization.
    create_project: POST "/orgs/{org}/projects" => orgs::create_project, tag Projects,
        graphql "Mutation.createProject",
        body NewProject, ok 201 ProjectBody "The new project", errors [403, 404, 409];

    /// One project.
    get_project: GET "/orgs/{org}/projects/{project}" => orgs::read_project, tag Projects,
        graphql "Query.project",
        ok 200 ProjectBody "The project", errors [404];

    /// Renames or redescribes a project.
    update_project: PATCH "/orgs/{org}/projects/{project}" => orgs::update_project, tag Projects,
        graphql "Mutation.updateProject",
        body ProjectPatch, ok 200 ProjectBody "The changed project", errors [403, 404, 409];

    /// Deletes a project with its tasks.
    delete_project: DELETE "/orgs/{org}/projects/{project}" => orgs::delete_project, tag Projects,
        graphql "Mutation.deleteProject",
        ok 200 ProjectDeleted "The project is gone", errors [403, 404, 409];

    // Members, invitations and permissions of an organization.

    /// Members of an org (any reader of the org).
    list_members: GET "/orgs/{org}/members" => members::list_members, tag Members,
        graphql "Query.members",
        ok 200 MemberList "The members", errors [404];

    /// Adds a member (admins; only owners grant owner).
    add_member: POST "/orgs/{org}/members" => members::add_member, tag Members,
        graphql "Mutation.addMember",
        body NewMember, ok 201 MemberBody "The member", errors [403, 404, 409];

    /// Changes a member's role; an org always keeps an owner.
    update_member: PATCH "/orgs/{org}/members/{actor_type}/{actor_id}" => members::update_member,
        tag Members, graphql "Mutation.updateMember",
        body RoleBody, ok 200 MemberBody "The member", errors [403, 404, 409];

    /// Removes a member (admins, or the member itself); an org always keeps an owner.
    remove_member: DELETE "/orgs/{org}/members/{actor_type}/{actor_id}" => members::remove_member,
        tag Members, graphql "Mutation.removeMember",
        ok 200 Removed "Removed", errors [403, 404, 409];

    /// Invitations of an org (admins).
    list_invitations: GET "/orgs/{org}/invitations" => members::list_invitations,
        tag Invitations, graphql "Query.invitations",
        ok 200 InvitationList "The invitations", errors [403, 404];

    /// Invites an email or an actor with a role (the token is in this response only; it expires in 7 days).
    create_invitation: POST "/orgs/{org}/invitations" => members::invite, tag Invitations,
        graphql "Mutation.createInvitation",
        body NewInvitation, ok 201 InvitationCreated "The invitation and its token",
        errors [403, 404];

    /// Namespace permissions of an org (admins).
    list_permissions: GET "/orgs/{org}/permissions" => members::list_permissions,
        tag Permissions, graphql "Query.permissions",
        ok 200 PermissionList "The permissions", errors [403, 404];

    /// Grants `r` or `rw` on a project slug (or `*`) to an actor (admins).
    grant_permission: POST "/orgs/{org}/permissions" => members::grant, tag Permissions,
        graphql "Mutation.grantPermission",
        body NewPermission, ok 201 PermissionBody "The permission", errors [403, 404];

    /// Revokes a permission (admins).
    revoke_permission: DELETE "/orgs/{org}/permissions/{id}" => members::revoke,
        tag Permissions, graphql "Mutation.revokePermission", param id "Permission id",
        ok 200 Deleted "Revoked", errors [403, 404];

    // Webhooks and the audit log of an organization (admins and owners;
    // 404 to anyone else, and in `default`).

    /// Webhooks of an org.
    list_webhooks: GET "/orgs/{org}/webhooks" => webhooks::list, tag Webhooks,
        graphql "Query.webhooks",
        ok 200 WebhookList "The webhooks", errors [403, 404];

    /// Creates a webhook; its signing secret is in this response only.
    create_webhook: POST "/orgs/{org}/webhooks" => webhooks::create, tag Webhooks,
        graphql "Mutation.createWebhook",
        body NewWebhook, ok 201 WebhookCreated "The webhook and its secret",
        errors [403, 404, 409];

    /// One webhook.
    get_webhook: GET "/orgs/{org}/webhooks/{id}" => webhooks::read, tag Webhooks,
        graphql "Query.webhook", param id "Webhook id",
        ok 200 WebhookBody "The webhook", errors [403, 404];

    /// Changes a webhook's URL, events, projects, description or state.
    update_webhook: PATCH "/orgs/{org}/webhooks/{id}" => webhooks::update, tag Webhooks,
        graphql "Mutation.updateWebhook", param id "Webhook id",
        body WebhookPatch, ok 200 WebhookBody "The webhook", errors [403, 404];

    /// Deletes a webhook and its delivery log.
    delete_webhook: DELETE "/orgs/{org}/webhooks/{id}" => webhooks::remove, tag Webhooks,
        graphql "Mutation.deleteWebhook", param id "Webhook id",
        ok 200 WebhookDeleted "The webhook is gone", errors [403, 404];

    /// Issues a new secret (in this response only); for 24 h deliveries carry both signatures.
    rotate_webhook_secret: POST "/orgs/{org}/webhooks/{id}/rotate-secret" => webhooks::rotate_secret,
        tag Webhooks, graphql "Mutation.rotateWebhookSecret", param id "Webhook id",
        ok 200 WebhookCreated "The webhook and its new secret", errors [403, 404];

    /// A webhook's deliveries, newest first: attempts, last status and error, next attempt.
    list_webhook_deliveries: GET "/orgs/{org}/webhooks/{id}/deliveries" => webhooks::deliveries,
        tag Webhooks, graphql "Query.webhookDeliveries", param id "Webhook id",
        query DeliveryParams, ok 200 DeliveryList "A page of deliveries", errors [403, 404];

    /// Queues a new attempt of a delivery, due at once (same `webhook-id`).
    redeliver_webhook_delivery: POST "/orgs/{org}/webhooks/{id}/deliveries/{delivery_id}/redeliver"
        => webhooks::redeliver,
        tag Webhooks, graphql "Mutation.redeliverWebhookDelivery", param id "Webhook id",
        param delivery_id "Delivery id",
        ok 200 DeliveryBody "The delivery, pending", errors [403, 404];

    /// The org's audit log, newest first, with filters.
    get_audit_log: GET "/orgs/{org}/audit" => webhooks::audit, tag Audit,
        graphql "Organization.auditLog",
        query AuditParams, ok 200 AuditList "A page of audit records", errors [403, 404];

    // Identity: registration, login, the caller's own identity, keys,
    // guardians and invitations.

    /// Registers an identity; returns it with a first API key and a JWT (both shown once).
    register: POST "/auth/register" => auth::register, tag Auth, graphql "Mutation.register",
        auth Public,
        body Registration, ok 201 Registered "The identity, an API key and a token",
        errors [403, 404, 409, 429];

    /// Exchanges an email or actor id and a password for a JWT.
    login: POST "/auth/login" => auth::login, tag Auth, graphql "Mutation.login", auth Public,
        body Login, ok 200 LoggedIn "A token and its expiry", errors [401, 429];

    /// Ends the session of the login token sent (refused from now on, on every replica).
    logout: POST "/auth/logout" => auth::logout, tag Auth, graphql "Mutation.logout",
        auth Credentials,
        ok 200 LoggedOut "The token no longer works", errors [422];

    /// Changes the caller's password; every earlier login token ends, a new one is returned.
    change_password: POST "/auth/password" => auth::change_password, tag Auth,
        graphql "Mutation.changePassword", auth Credentials,
        body PasswordChange, ok 200 LoggedIn "A new token", errors [403, 409, 429];

    /// Sets a new password with a one-time reset token from `ats-server password-reset`.
    reset_password: POST "/auth/password/reset" => auth::reset_password, tag Auth,
        graphql "Mutation.resetPassword", auth Public,
        body PasswordReset, ok 200 LoggedIn "A new token", errors [404, 429];

    /// The caller's identity.
    get_me: GET "/auth/me" => auth::me, tag Auth, graphql "Query.me", auth Credentials,
        ok 200 IdentityBody "The identity";

    /// Changes the caller's display name, email or profile.
    update_me: PATCH "/auth/me" => auth::update_me, tag Auth, graphql "Mutation.updateMe",
        auth Credentials,
        body IdentityPatch, ok 200 IdentityBody "The identity", errors [403, 409];

    /// Public fields of an identity.
    get_identity: GET "/auth/identities/{actor_id}" => auth::public_identity, tag Auth,
        graphql "Query.identity",
        query IdentityQuery, ok 200 PublicIdentityBody "Public fields", errors [404];

    /// The caller's API keys (prefixes only).
    list_api_keys: GET "/auth/api-keys" => auth::list_keys, tag Auth, graphql "Query.apiKeys",
        auth Credentials,
        ok 200 ApiKeyList "The keys";

    /// Creates an API key (the key is in this response only).
    create_api_key: POST "/auth/api-keys" => auth::create_key, tag Auth,
        graphql "Mutation.createApiKey", auth Credentials,
        body NewApiKey, ok 201 ApiKeyBody "The key", errors [403];

    /// Revokes one of the caller's API keys.
    delete_api_key: DELETE "/auth/api-keys/{id}" => auth::delete_key, tag Auth,
        graphql "Mutation.deleteApiKey", auth Credentials, param id "API key id",
        ok 200 Deleted "Revoked", errors [403, 404];

    /// An agent creates a guardian link token for a human (valid 24 h).
    create_guardian_link: POST "/auth/me/guardian-link" => auth::guardian_link, tag Guardians,
        graphql "Mutation.createGuardianLink", auth Credentials,
        ok 201 GuardianLink "The token", errors [403];

    /// A human confirms a guardian link token.
    confirm_guardian: POST "/auth/guardian-confirm/{token}" => auth::guardian_confirm,
        tag Guardians, graphql "Mutation.confirmGuardian", auth Credentials,
        param token "Guardian link token",
        ok 201 GuardianshipBody "The guardianship", errors [403, 404, 409];

    /// The open overdue tasks escalated to the caller (as a guardian of
    /// their agent, or an owner or admin of their org), most overdue first.
    list_escalations: GET "/auth/me/escalations" => auth::escalations, tag Auth,
        graphql "Identity.escalations", auth Credentials,
        ok 200 TaskList "The tasks";

    /// The caller's guardians and guarded agents.
    list_guardians: GET "/auth/me/guardians" => auth::guardians, tag Guardians,
        graphql "Query.guardians", auth Credentials,
        ok 200 GuardianList "Both sides";

    /// Either side ends a guardian relation.
    remove_guardian: DELETE "/auth/me/guardians/{id}" => auth::remove_guardian, tag Guardians,
        graphql "Mutation.removeGuardian", auth Credentials, param id "Guardianship id",
        ok 200 Deleted "Removed", errors [403, 404];

    /// A guardian issues an API key for one of its agents.
    create_agent_api_key: POST "/auth/guardians/{agent_id}/api-keys" => auth::guardian_key,
        tag Guardians, graphql "Mutation.createAgentApiKey", auth Credentials,
        body NewApiKey, ok 201 ApiKeyBody "The agent's new key", errors [403, 404];

    /// The caller's pending invitations.
    list_my_invitations: GET "/auth/invitations" => auth::my_invitations, tag Invitations,
        graphql "Query.myInvitations", auth Credentials,
        ok 200 InvitationList "Pending invitations";

    /// Accepts an invitation addressed to the caller (joining the org).
    accept_invitation: POST "/auth/invitations/{token}/accept" => auth::accept,
        tag Invitations, graphql "Mutation.acceptInvitation", auth Credentials,
        param token "Invitation token",
        ok 200 InvitationBody "The invitation", errors [403, 404, 409];

    /// Declines an invitation addressed to the caller.
    decline_invitation: POST "/auth/invitations/{token}/decline" => auth::decline,
        tag Invitations, graphql "Mutation.declineInvitation", auth Credentials,
        param token "Invitation token",
        ok 200 InvitationBody "The invitation", errors [403, 404, 409];
}
