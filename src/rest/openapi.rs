//! `GET /openapi.json` (OpenAPI 3.1, generated from the REST handlers'
//! annotations and types) and the Swagger UI at `GET /docs`, whose assets are
//! compiled into the binary.

use axum::Router;
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::{OpenApi as Document, RefOr, Required};
use utoipa::{IntoParams, OpenApi, PartialSchema};
use utoipa_swagger_ui::{Config, SwaggerUi};

use super::bodies::{
    BadRequest, Conflict, ErrorBody, Forbidden, NotFound, PayloadTooLarge, Unauthorized,
    Unprocessable,
};
use super::extract::TaskRef;
use super::{auth, health, members, orgs, stats, task_actions, task_workflow, tasks};
use crate::app::AppState;
use crate::app::CurrentViewer;
use crate::service::operations::{PROJECT_SCOPE, SCOPED_SUFFIX};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ATS REST API",
        description = "Agent Task Service: tasks handed between AI agents and humans, with \
            leases and live events. Every task route also exists under \
            `/orgs/{org}/projects/{project}`, where a task of another project is 404. \
            Errors are `{\"error\": \"<sentence>\", \"code\": \"<CODE>\"}`."
    ),
    paths(
        health::health,
        tasks::create,
        tasks::list,
        tasks::read,
        tasks::update,
        tasks::remove,
        task_actions::claim,
        task_actions::complete,
        task_actions::fail,
        task_actions::reject,
        task_actions::cancel,
        task_actions::reopen,
        task_actions::add_message,
        task_actions::list_messages,
        task_actions::events,
        task_workflow::bulk,
        task_workflow::claim_next,
        task_workflow::list_subtasks,
        task_workflow::create_subtask,
        task_workflow::list_handoffs,
        task_workflow::add_handoff,
        task_workflow::actions,
        task_workflow::dependents,
        stats::scoped,
        stats::project,
        orgs::list_orgs,
        orgs::create_org,
        orgs::read_org,
        orgs::update_org,
        orgs::delete_org,
        orgs::list_projects,
        orgs::create_project,
        orgs::read_project,
        orgs::update_project,
        orgs::delete_project,
        auth::register,
        auth::login,
        auth::me,
        auth::update_me,
        auth::public_identity,
        auth::list_keys,
        auth::create_key,
        auth::delete_key,
        auth::guardian_link,
        auth::guardian_confirm,
        auth::guardians,
        auth::remove_guardian,
        auth::guardian_key,
        auth::my_invitations,
        auth::accept,
        auth::decline,
        members::list_members,
        members::add_member,
        members::update_member,
        members::remove_member,
        members::list_invitations,
        members::invite,
        members::list_permissions,
        members::grant,
        members::revoke,
    ),
    components(
        schemas(ErrorBody),
        responses(BadRequest, Unauthorized, Forbidden, NotFound, Conflict, PayloadTooLarge, Unprocessable)
    ),
    tags(
        (name = "tasks", description = "Task CRUD and lists"),
        (name = "lifecycle", description = "Claim, complete, fail, reject, cancel, reopen"),
        (name = "messages", description = "A task's message thread"),
        (name = "events", description = "A task's history"),
        (name = "stats", description = "Aggregate task statistics"),
        (name = "organizations", description = "Organizations"),
        (name = "projects", description = "Projects inside organizations"),
        (name = "health", description = "Liveness and store reachability"),
        (name = "auth", description = "Registration, login, identity and API keys"),
        (name = "guardians", description = "Humans vouching for agents"),
        (name = "members", description = "Organization members and roles"),
        (name = "invitations", description = "Invitations to organizations"),
        (name = "permissions", description = "Namespace permissions (r / rw on a project)"),
    )
)]
struct ApiDoc;

/// The OpenAPI document of the REST API, with the project-scoped copy of
/// every `/tasks…` path.
pub fn document() -> Document {
    let mut doc = ApiDoc::openapi();
    let scoped: Vec<(String, PathItem)> = doc
        .paths
        .paths
        .iter()
        .filter(|(path, _)| path.starts_with("/tasks"))
        .map(|(path, item)| (format!("{PROJECT_SCOPE}{path}"), scoped_item(item)))
        .collect();
    doc.paths.paths.extend(scoped);
    doc
}

/// `item` as it reads under [`PROJECT_SCOPE`]: the org and project come from
/// the path, so the query filters of the same names go away.
fn scoped_item(item: &PathItem) -> PathItem {
    let mut item = item.clone();
    item.parameters = Some(vec![
        RefOr::T(path_param::<String>("org", "Organization slug")),
        RefOr::T(path_param::<String>("project", "Project slug")),
    ]);
    for op in operations_mut(&mut item) {
        if let Some(id) = &mut op.operation_id {
            id.push_str(SCOPED_SUFFIX);
        }
        if let Some(params) = &mut op.parameters {
            params.retain(|p| {
                !matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Query
                    && (p.name == "org" || p.name == "project"))
            });
        }
    }
    item
}

fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .flatten()
}

fn path_param<T: PartialSchema>(name: &str, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(T::schema()))
        .build()
}

fn header_param(name: &str, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(String::schema()))
        .build()
}

impl IntoParams for TaskRef {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![path_param::<i64>("id", "Task id (a positive integer)")]
    }
}

impl IntoParams for CurrentViewer {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            header_param("X-Actor-Type", "Who acts: human (default), agent or system"),
            header_param(
                "X-Actor-ID",
                "The actor's id; without actor headers the caller is human:anonymous",
            ),
            header_param("X-Actor-Name", "The actor's display name"),
        ]
    }
}

/// `GET /openapi.json` and the Swagger UI under `/docs`. The UI's online
/// spec validator is off, so the page makes no request off this server.
pub fn routes() -> Router<AppState> {
    SwaggerUi::new("/docs")
        .url("/openapi.json", document())
        .config(Config::default().validator_url("none"))
        .into()
}
