//! The REST API (SPEC §6): thin handlers over the service, one module per
//! domain, and the table that declares every operation once
//! ([`operations::OPERATIONS`]). The router below and the OpenAPI document
//! (`openapi`) are both built from that table.
//!
//! A handler answers with its body; the route sends it with the status its
//! declaration names (`ok 201 …`), and errors through `crate::error::Error`.

mod access_bodies;
mod auth;
mod bodies;
mod etag;
mod extract;
mod health;
mod members;
pub mod openapi;
pub mod operation;
pub mod operations;
mod orgs;
mod stats;
mod task_actions;
mod task_query;
mod task_workflow;
mod tasks;
mod webhooks;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware::map_response_with_state;
use axum::response::Response;

use crate::app::AppState;
use operations::OPERATIONS;

/// Every REST route (each task route also under its project), `/openapi.json`
/// and the `/docs` UI; their `GET` answers carry an `ETag` ([`etag`]).
pub fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for op in OPERATIONS {
        let status = StatusCode::from_u16(op.ok.status).expect("a valid status");
        for (path, _) in op.rest_routes() {
            let mut route = (op.handler)();
            if status != StatusCode::OK {
                route = route.layer(map_response_with_state(status, success_status));
            }
            router = router.route(&path, route);
        }
    }
    router
        .merge(openapi::routes())
        .layer(axum::middleware::from_fn(etag::etag))
}

/// Sends a handler's `200` with the status its declaration names.
async fn success_status(State(status): State<StatusCode>, mut response: Response) -> Response {
    if response.status() == StatusCode::OK {
        *response.status_mut() = status;
    }
    response
}
