//! `GET /health`.

use axum::extract::State;
use axum::http::StatusCode;

use super::bodies::{HealthBody, Reply};
use crate::app::AppState;
use crate::time;

/// `200 {"status":"ok",…}`, or `503 {"status":"degraded",…}` when the store does not answer.
#[utoipa::path(
    get, path = "/health", tag = "health", operation_id = "health",
    responses(
        (status = 200, description = "The server and its store are up", body = HealthBody),
        (status = 503, description = "The store does not answer", body = HealthBody),
    )
)]
pub async fn health(State(s): State<AppState>) -> (StatusCode, Reply<HealthBody>) {
    let h = s.ats.health().await;
    let status = if h.database_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Reply(HealthBody {
            status: h.status(),
            timestamp: time::format(&h.checked_at),
            version: h.version(),
            database: h.database(),
        }),
    )
}
