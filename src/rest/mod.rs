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

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::watch;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

pub use extract::{ApiJson, ApiQuery, Authenticated, CurrentActor, bearer, caller, header_actor};

use crate::config::Config;
use crate::error::Error;
use crate::service::Ats;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The service layer.
    pub ats: Ats,
    /// Server configuration.
    pub config: Arc<Config>,
    /// Flips to true when the server is shutting down.
    pub shutdown: watch::Receiver<bool>,
    /// Prometheus metrics.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The GraphQL schema over the same service.
    pub schema: crate::graphql::AtsSchema,
}

/// The whole HTTP surface: REST, `/ws`, and the error fallbacks.
pub fn router(state: AppState) -> Router {
    let max_body = state.config.max_body_bytes;
    Router::new()
        .route("/health", get(health::health))
        .route("/metrics", get(crate::metrics::render))
        .route("/ws", get(crate::ws::upgrade))
        .nest("/tasks", tasks::router())
        .nest("/orgs/{org}/projects/{project}/tasks", tasks::router())
        .merge(orgs::router())
        .merge(members::router())
        .merge(auth::router())
        .route("/_test/reset", axum::routing::post(reset))
        .merge(openapi::routes())
        .merge(crate::graphql::routes())
        .merge(crate::playground::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            refuse_oversize,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track,
        ))
        .layer(CatchPanicLayer::custom(panic_response))
        // Spans carry the path only: query strings may hold a `?token=`.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<axum::body::Body>| {
            tracing::debug_span!("request", method = %req.method(), path = %req.uri().path())
        }))
        .with_state(state)
}

/// `POST /_test/reset`: wipes all data, only under `ATS_ENV=test`.
async fn reset(
    axum::extract::State(s): axum::extract::State<AppState>,
    uri: Uri,
) -> Result<axum::Json<serde_json::Value>, Error> {
    if !s.config.is_test_env() {
        return Err(not_found(uri).await);
    }
    s.ats.reset_all().await?;
    Ok(axum::Json(serde_json::json!({ "reset": true })))
}

/// The most of an oversize body read (and dropped) before answering 413.
const OVERSIZE_DRAIN_BYTES: u64 = 64 * 1024 * 1024;

/// Answers 413 to a body whose declared length is over the limit. A body of
/// reasonable size is read to its end first: closing the connection while the
/// client is still sending makes many clients (hyper, Node) report a broken
/// pipe instead of the 413.
async fn refuse_oversize(
    axum::extract::State(s): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let max = s.config.max_body_bytes as u64;
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(len) if len > max => {
            if len <= OVERSIZE_DRAIN_BYTES {
                use futures_util::StreamExt;
                let mut body = req.into_body().into_data_stream();
                while let Some(Ok(_)) = body.next().await {}
            }
            Error::PayloadTooLarge(format!(
                "request body is too large: {len} bytes, at most {max} accepted"
            ))
            .into_response()
        }
        _ => next.run(req).await,
    }
}

async fn not_found(uri: Uri) -> Error {
    Error::not_found(format!("no route for {}", uri.path()))
}

async fn method_not_allowed() -> Response {
    let body = serde_json::json!({ "error": "method not allowed on this route", "code": "METHOD_NOT_ALLOWED" });
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    Error::Internal("handler panicked".to_owned()).into_response()
}
