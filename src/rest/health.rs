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
    let db_ok = s.ats.store().conn().ping().await.is_ok();
    let status = if db_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Reply(HealthBody {
            status: if db_ok { "ok" } else { "degraded" },
            timestamp: time::format(&time::now()),
            version: env!("CARGO_PKG_VERSION"),
            database: if db_ok { "ok" } else { "unreachable" },
        }),
    )
}
