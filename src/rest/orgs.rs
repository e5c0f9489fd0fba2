//! `/orgs…`: organizations and their projects.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde::Deserialize;
use utoipa::IntoParams;

use super::bodies::{
    BadRequest, Conflict, NotFound, OrgBody, OrgDeleted, OrgList, PayloadTooLarge, ProjectBody,
    ProjectDeleted, ProjectList, Reply, Unprocessable,
};
use super::extract::Slugs;
use crate::app::AppState;
use crate::app::{ApiJson, ApiQuery, CurrentViewer};
use crate::error::Result;
use crate::service::{NewOrg, NewProject, OrgPatch, ProjectPatch};

/// Org and project routes (task routes under a project are mounted separately).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/orgs", get(list_orgs).post(create_org))
        .route(
            "/orgs/{org}",
            get(read_org).patch(update_org).delete(delete_org),
        )
        .route(
            "/orgs/{org}/projects",
            get(list_projects).post(create_project),
        )
        .route(
            "/orgs/{org}/projects/{project}",
            get(read_project)
                .patch(update_project)
                .delete(delete_project),
        )
        .route(
            "/orgs/{org}/projects/{project}/stats",
            get(super::stats::project),
        )
}

/// Every organization, with the caller's role in each.
#[utoipa::path(
    get, path = "/orgs", tag = "organizations", operation_id = "list_orgs",
    params(CurrentViewer),
    responses((status = 200, description = "The organizations", body = OrgList))
)]
pub(super) async fn list_orgs(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
) -> Result<Reply<OrgList>> {
    let organizations = s.ats.list_orgs(&viewer).await?;
    Ok(Reply(OrgList { organizations }))
}

/// Creates an organization; the caller becomes its owner.
#[utoipa::path(
    post, path = "/orgs", tag = "organizations", operation_id = "create_org",
    params(CurrentViewer),
    request_body = NewOrg,
    responses(
        (status = 201, description = "The new organization", body = OrgBody),
        (status = 400, response = BadRequest),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
    )
)]
pub(super) async fn create_org(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    ApiJson(input): ApiJson<NewOrg>,
) -> Result<(StatusCode, Reply<OrgBody>)> {
    let organization = s.ats.create_org(&viewer, input).await?;
    Ok((StatusCode::CREATED, Reply(OrgBody { organization })))
}

/// One organization.
#[utoipa::path(
    get, path = "/orgs/{org}", tag = "organizations", operation_id = "get_org",
    params(("org" = String, Path, description = "Organization slug"), CurrentViewer),
    responses(
        (status = 200, description = "The organization", body = OrgBody),
        (status = 404, response = NotFound),
    )
)]
pub(super) async fn read_org(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
) -> Result<Reply<OrgBody>> {
    let organization = s.ats.get_org(&viewer, slugs.get("org")).await?;
    Ok(Reply(OrgBody { organization }))
}

/// Renames or redescribes an organization.
#[utoipa::path(
    patch, path = "/orgs/{org}", tag = "organizations", operation_id = "update_org",
    params(("org" = String, Path, description = "Organization slug"), CurrentViewer),
    request_body = OrgPatch,
    responses(
        (status = 200, description = "The changed organization", body = OrgBody),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
    )
)]
pub(super) async fn update_org(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
    ApiJson(patch): ApiJson<OrgPatch>,
) -> Result<Reply<OrgBody>> {
    let organization = s.ats.update_org(&viewer, slugs.get("org"), patch).await?;
    Ok(Reply(OrgBody { organization }))
}

/// Deletes an organization with everything in it.
#[utoipa::path(
    delete, path = "/orgs/{org}", tag = "organizations", operation_id = "delete_org",
    params(("org" = String, Path, description = "Organization slug")),
    responses(
        (status = 200, description = "The organization is gone", body = OrgDeleted),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    )
)]
pub(super) async fn delete_org(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
) -> Result<Reply<OrgDeleted>> {
    s.ats.delete_org(&viewer, slugs.get("org")).await?;
    Ok(Reply(OrgDeleted {
        deleted: true,
        slug: slugs.get("org").to_owned(),
    }))
}

/// Query string of `GET /orgs/:org/projects`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ProjectListParams {
    /// Adds `pending_count`, `in_progress_count` and `total_count` to each project.
    counts: Option<bool>,
}

/// The projects of an organization.
#[utoipa::path(
    get, path = "/orgs/{org}/projects", tag = "projects", operation_id = "list_projects",
    params(("org" = String, Path, description = "Organization slug"), ProjectListParams),
    responses(
        (status = 200, description = "The projects", body = ProjectList),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
    )
)]
pub(super) async fn list_projects(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
    ApiQuery(params): ApiQuery<ProjectListParams>,
) -> Result<Reply<ProjectList>> {
    let projects = s
        .ats
        .list_projects(&viewer, slugs.get("org"), params.counts.unwrap_or(false))
        .await?;
    Ok(Reply(ProjectList { projects }))
}

/// Creates a project in an organization.
#[utoipa::path(
    post, path = "/orgs/{org}/projects", tag = "projects", operation_id = "create_project",
    params(("org" = String, Path, description = "Organization slug")),
    request_body = NewProject,
    responses(
        (status = 201, description = "The new project", body = ProjectBody),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
    )
)]
pub(super) async fn create_project(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
    ApiJson(input): ApiJson<NewProject>,
) -> Result<(StatusCode, Reply<ProjectBody>)> {
    let project = s
        .ats
        .create_project(&viewer, slugs.get("org"), input)
        .await?;
    Ok((StatusCode::CREATED, Reply(ProjectBody { project })))
}

/// One project.
#[utoipa::path(
    get, path = "/orgs/{org}/projects/{project}", tag = "projects", operation_id = "get_project",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("project" = String, Path, description = "Project slug"),
    ),
    responses(
        (status = 200, description = "The project", body = ProjectBody),
        (status = 404, response = NotFound),
    )
)]
pub(super) async fn read_project(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
) -> Result<Reply<ProjectBody>> {
    let project = s
        .ats
        .get_project(&viewer, slugs.get("org"), slugs.get("project"))
        .await?;
    Ok(Reply(ProjectBody { project }))
}

/// Renames or redescribes a project.
#[utoipa::path(
    patch, path = "/orgs/{org}/projects/{project}", tag = "projects",
    operation_id = "update_project",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("project" = String, Path, description = "Project slug"),
    ),
    request_body = ProjectPatch,
    responses(
        (status = 200, description = "The changed project", body = ProjectBody),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
    )
)]
pub(super) async fn update_project(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
    ApiJson(patch): ApiJson<ProjectPatch>,
) -> Result<Reply<ProjectBody>> {
    let project = s
        .ats
        .update_project(&viewer, slugs.get("org"), slugs.get("project"), patch)
        .await?;
    Ok(Reply(ProjectBody { project }))
}

/// Deletes a project with its tasks.
#[utoipa::path(
    delete, path = "/orgs/{org}/projects/{project}", tag = "projects",
    operation_id = "delete_project",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("project" = String, Path, description = "Project slug"),
    ),
    responses(
        (status = 200, description = "The project is gone", body = ProjectDeleted),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    )
)]
pub(super) async fn delete_project(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
) -> Result<Reply<ProjectDeleted>> {
    s.ats
        .delete_project(&viewer, slugs.get("org"), slugs.get("project"))
        .await?;
    Ok(Reply(ProjectDeleted {
        deleted: true,
        org: slugs.get("org").to_owned(),
        slug: slugs.get("project").to_owned(),
    }))
}
