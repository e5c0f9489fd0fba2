//! `/orgs…`: organizations and their projects.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::extract::{ApiJson, ApiQuery, CurrentActor, Slugs};
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
            get(super::stats::scoped),
        )
}

async fn list_orgs(
    State(s): State<AppState>,
    CurrentActor(actor): CurrentActor,
) -> Result<Json<Value>> {
    Ok(Json(
        json!({ "organizations": s.ats.list_orgs(&actor).await? }),
    ))
}

async fn create_org(
    State(s): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiJson(input): ApiJson<NewOrg>,
) -> Result<(StatusCode, Json<Value>)> {
    let org = s.ats.create_org(&actor, input).await?;
    Ok((StatusCode::CREATED, Json(json!({ "organization": org }))))
}

async fn read_org(
    State(s): State<AppState>,
    CurrentActor(actor): CurrentActor,
    slugs: Slugs,
) -> Result<Json<Value>> {
    Ok(Json(
        json!({ "organization": s.ats.get_org(&actor, slugs.get("org")).await? }),
    ))
}

async fn update_org(
    State(s): State<AppState>,
    CurrentActor(actor): CurrentActor,
    slugs: Slugs,
    ApiJson(patch): ApiJson<OrgPatch>,
) -> Result<Json<Value>> {
    let org = s.ats.update_org(&actor, slugs.get("org"), patch).await?;
    Ok(Json(json!({ "organization": org })))
}

async fn delete_org(
    State(s): State<AppState>,
    CurrentActor(actor): CurrentActor,
    slugs: Slugs,
) -> Result<Json<Value>> {
    s.ats.delete_org(&actor, slugs.get("org")).await?;
    Ok(Json(json!({ "deleted": true, "slug": slugs.get("org") })))
}

/// Query string of `GET /orgs/:org/projects`.
#[derive(Debug, Deserialize)]
struct ProjectListParams {
    counts: Option<bool>,
}

async fn list_projects(
    State(s): State<AppState>,
    CurrentActor(actor): CurrentActor,
    slugs: Slugs,
    ApiQuery(params): ApiQuery<ProjectListParams>,
) -> Result<Json<Value>> {
    let projects = s
        .ats
        .list_projects(&actor, slugs.get("org"), params.counts.unwrap_or(false))
        .await?;
    Ok(Json(json!({ "projects": projects })))
}

async fn create_project(
    State(s): State<AppState>,
    CurrentActor(actor): CurrentActor,
    slugs: Slugs,
    ApiJson(input): ApiJson<NewProject>,
) -> Result<(StatusCode, Json<Value>)> {
    let project = s
        .ats
        .create_project(&actor, slugs.get("org"), input)
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "project": project }))))
}

async fn read_project(
    State(s): State<AppState>,
    CurrentActor(actor): CurrentActor,
    slugs: Slugs,
) -> Result<Json<Value>> {
    let project = s
        .ats
        .get_project(&actor, slugs.get("org"), slugs.get("project"))
        .await?;
    Ok(Json(json!({ "project": project })))
}

async fn update_project(
    State(s): State<AppState>,
    CurrentActor(actor): CurrentActor,
    slugs: Slugs,
    ApiJson(patch): ApiJson<ProjectPatch>,
) -> Result<Json<Value>> {
    let project = s
        .ats
        .update_project(&actor, slugs.get("org"), slugs.get("project"), patch)
        .await?;
    Ok(Json(json!({ "project": project })))
}

async fn delete_project(
    State(s): State<AppState>,
    CurrentActor(actor): CurrentActor,
    slugs: Slugs,
) -> Result<Json<Value>> {
    s.ats
        .delete_project(&actor, slugs.get("org"), slugs.get("project"))
        .await?;
    Ok(Json(
        json!({ "deleted": true, "org": slugs.get("org"), "slug": slugs.get("project") }),
    ))
}
