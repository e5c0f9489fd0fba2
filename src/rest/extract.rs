//! REST-only extractors: the task scope and ids of a route's path.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;

use crate::error::Error;
use crate::service::Scope;

async fn raw_params<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
) -> Result<HashMap<String, String>, Error> {
    let raw = RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|e| Error::bad_request(e.body_text()))?;
    Ok(raw
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect())
}

fn scope_of(params: &HashMap<String, String>) -> Scope {
    match (params.get("org"), params.get("project")) {
        (Some(org), Some(project)) => Scope::Project {
            org: org.clone(),
            project: project.clone(),
        },
        _ => Scope::Any,
    }
}

/// The project scope of a task route: `/tasks…` (any) or `/orgs/:org/projects/:project/tasks…`.
pub struct TaskScope(pub Scope);

impl<S: Send + Sync> FromRequestParts<S> for TaskScope {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(scope_of(&raw_params(parts, state).await?)))
    }
}

/// A task route's scope and task id (`:id`).
pub struct TaskRef {
    /// Where the task must live.
    pub scope: Scope,
    /// The task id.
    pub id: i64,
}

impl<S: Send + Sync> FromRequestParts<S> for TaskRef {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = raw_params(parts, state).await?;
        let raw = params.get("id").map(String::as_str).unwrap_or_default();
        let id = raw
            .parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .ok_or_else(|| {
                Error::bad_request(format!(
                    "invalid task id '{raw}': expected a positive integer"
                ))
            })?;
        Ok(Self {
            scope: scope_of(&params),
            id,
        })
    }
}

/// Path segments by name, for org and project routes.
pub struct Slugs(pub HashMap<String, String>);

impl Slugs {
    /// The segment `name` (always present on the routes that use it).
    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).map(String::as_str).unwrap_or_default()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Slugs {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(raw_params(parts, state).await?))
    }
}
