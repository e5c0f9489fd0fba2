//! `GET /tasks/stats` and `GET /orgs/:org/projects/:project/stats`.

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use super::bodies::{Reply, StatsBody};
use super::extract::{Slugs, TaskScope};
use crate::app::AppState;
use crate::app::{ApiQuery, CurrentViewer};
use crate::error::Result;
use crate::service::{Scope, StatsScope};

/// Query string of `GET /tasks/stats`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct StatsParams {
    /// Only tasks of this organization (slug).
    org: Option<String>,
    /// Only tasks of this project (slug; needs `org`, 400 without it).
    project: Option<String>,
}

pub(super) async fn scoped(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    TaskScope(scope): TaskScope,
    ApiQuery(params): ApiQuery<StatsParams>,
) -> Result<Reply<StatsBody>> {
    let scope = match scope {
        Scope::Project { org, project } => StatsScope {
            org: Some(org),
            project: Some(project),
        },
        Scope::Any => StatsScope {
            org: params.org,
            project: params.project,
        },
    };
    let stats = s.ats.stats(&viewer, &scope).await?;
    Ok(Reply(StatsBody { stats }))
}

pub(super) async fn project(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
) -> Result<Reply<StatsBody>> {
    let scope = StatsScope {
        org: Some(slugs.get("org").to_owned()),
        project: Some(slugs.get("project").to_owned()),
    };
    let stats = s.ats.stats(&viewer, &scope).await?;
    Ok(Reply(StatsBody { stats }))
}
