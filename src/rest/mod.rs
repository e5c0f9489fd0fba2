//! The REST API (SPEC §6): one router per domain, thin handlers over the service.

mod access_bodies;
mod auth;
mod bodies;
mod extract;
mod health;
mod members;
pub mod openapi;
mod orgs;
mod stats;
mod task_actions;
mod task_query;
mod task_workflow;
mod tasks;

use axum::Router;
use axum::routing::get;

use crate::app::AppState;

/// Every REST route, `/openapi.json` and the `/docs` UI.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health::health))
        .nest("/tasks", tasks::router())
        .nest("/orgs/{org}/projects/{project}/tasks", tasks::router())
        .merge(orgs::router())
        .merge(members::router())
        .merge(auth::router())
        .merge(openapi::routes())
}
