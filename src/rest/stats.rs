//! `GET /tasks/stats` and `GET /orgs/:org/projects/:project/stats`.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::extract::{ApiQuery, CurrentActor, TaskScope};
use crate::error::Result;
use crate::service::{Scope, StatsScope};

/// Query string of `GET /tasks/stats`.
#[derive(Debug, Deserialize)]
pub(super) struct StatsParams {
    org: Option<String>,
    project: Option<String>,
}

/// Stats of the route's project, or of the `org`/`project` named in the query.
pub(super) async fn scoped(
    State(s): State<AppState>,
    CurrentActor(actor): CurrentActor,
    TaskScope(scope): TaskScope,
    ApiQuery(params): ApiQuery<StatsParams>,
) -> Result<Json<Value>> {
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
    let stats = s.ats.stats(Some(&actor), &scope).await?;
    Ok(Json(json!({ "stats": stats })))
}
