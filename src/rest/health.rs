//! `GET /health`.

use axum::extract::State;
use axum::http::StatusCode;

use super::bodies::{HealthBody, Reply};
use crate::app::AppState;
use crate::time;

/// `200 {"status":"ok",…}`, or `503 {"status":"degraded",…}` when the store
/// does not answer (the one handler that picks its own status).
pub(super) async fn health(State(s): State<AppState>) -> (StatusCode, Reply<HealthBody>) {
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
