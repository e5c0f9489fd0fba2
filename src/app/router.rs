//! The whole HTTP surface on one router.

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::Uri;
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use super::AppState;
use super::middleware::{
    method_not_allowed, not_found, panic_response, refuse_nul_in_url, refuse_oversize,
    security_headers,
};
use crate::error::Error;

/// REST, GraphQL, `/ws`, `/metrics`, the dashboard, `/_test/reset`, and the
/// error fallbacks, under the body-size, metrics, panic and tracing layers.
pub fn router(state: AppState) -> Router {
    let max_body = state.config.max_body_bytes;
    Router::new()
        .merge(crate::rest::routes())
        .merge(crate::graphql::routes())
        .route("/ws", get(crate::ws::upgrade))
        .route("/metrics", get(crate::metrics::render))
        .merge(crate::playground::routes())
        .route("/_test/reset", post(reset))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            refuse_oversize,
        ))
        .layer(axum::middleware::from_fn(refuse_nul_in_url))
        .layer(axum::middleware::from_fn(security_headers))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            super::client_ip::resolve,
        ))
        .layer(CatchPanicLayer::custom(panic_response))
        // Spans carry the path only (query strings may hold a `?token=`),
        // with the tokens of invitation and guardian-link paths redacted, and
        // the client address (`client_ip::resolve` records it).
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<axum::body::Body>| {
            tracing::debug_span!("request", method = %req.method(), path = %super::middleware::loggable_path(req.uri().path()), client_ip = tracing::field::Empty)
        }))
        .with_state(state)
}

/// `POST /_test/reset`: wipes all data, only under `ATS_ENV=test`.
async fn reset(
    State(s): State<AppState>,
    uri: Uri,
) -> Result<axum::Json<serde_json::Value>, Error> {
    if !s.config.is_test_env() {
        return Err(not_found(uri).await);
    }
    s.ats.reset_all().await?;
    Ok(axum::Json(serde_json::json!({ "reset": true })))
}
