//! `GET /health`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::AppState;
use crate::time;

/// `200 {"status":"ok",…}`, or `503 {"status":"degraded",…}` when the store does not answer.
pub async fn health(State(s): State<AppState>) -> (StatusCode, Json<Value>) {
    let db_ok = s.ats.store().conn().ping().await.is_ok();
    let status = if db_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if db_ok { "ok" } else { "degraded" },
            "timestamp": time::format(&time::now()),
            "version": env!("CARGO_PKG_VERSION"),
            "database": if db_ok { "ok" } else { "unreachable" },
        })),
    )
}
