//! `/orgs…`: organizations and their projects.

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use super::bodies::{
    OrgBody, OrgDeleted, OrgList, ProjectBody, ProjectDeleted, ProjectList, Reply,
};
use super::extract::Slugs;
use crate::app::AppState;
use crate::app::{ApiJson, ApiQuery, CurrentViewer};
use crate::error::Result;
use crate::service::{NewOrg, NewProject, OrgPatch, ProjectPatch};

pub(super) async fn list_orgs(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
) -> Result<Reply<OrgList>> {
    let organizations = s.ats.list_orgs(&viewer).await?;
    Ok(Reply(OrgList { organizations }))
}

pub(super) async fn create_org(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    ApiJson(input): ApiJson<NewOrg>,
) -> Result<Reply<OrgBody>> {
    let organization = s.ats.create_org(&viewer, input).await?;
    Ok(Reply(OrgBody { organization }))
}

pub(super) async fn read_org(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
) -> Result<Reply<OrgBody>> {
    let organization = s.ats.get_org(&viewer, slugs.get("org")).await?;
    Ok(Reply(OrgBody { organization }))
}

pub(super) async fn update_org(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
    ApiJson(patch): ApiJson<OrgPatch>,
) -> Result<Reply<OrgBody>> {
    let organization = s.ats.update_org(&viewer, slugs.get("org"), patch).await?;
    Ok(Reply(OrgBody { organization }))
}

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

pub(super) async fn create_project(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
    ApiJson(input): ApiJson<NewProject>,
) -> Result<Reply<ProjectBody>> {
    let project = s
        .ats
        .create_project(&viewer, slugs.get("org"), input)
        .await?;
    Ok(Reply(ProjectBody { project }))
}

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
