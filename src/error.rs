//! The one error type of the service layer, mapped once to HTTP (here) and to
//! GraphQL `extensions.code`.
//!
//! Use `Error::validation` for a value a client sent that breaks a rule (422),
//! `Error::bad_request` for input that cannot be read at all (400),
//! `Error::not_found` for anything missing *or not visible to the caller* (404),
//! `Error::conflict` for an action the current state does not allow (409),
//! and `Error::cursor_expired` for an `after` cursor before the retained
//! event log (410).
//! Storage failures convert from `DbErr` and are logged, never shown.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// What went wrong, in words a client can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request could not be read (malformed JSON, bad query string).
    #[error("{0}")]
    BadRequest(String),
    /// A value breaks a rule (out of range, too long, missing).
    #[error("{0}")]
    Validation(String),
    /// No valid credentials.
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller may see the thing but not do this to it.
    #[error("{0}")]
    Forbidden(String),
    /// Missing, or not visible to the caller.
    #[error("{0}")]
    NotFound(String),
    /// The current state does not allow the action.
    #[error("{0}")]
    Conflict(String),
    /// An idempotency key sent again with a different request (422
    /// `IDEMPOTENCY_KEY_REUSED`).
    #[error("{0}")]
    IdempotencyKeyReused(String),
    /// The first request with an idempotency key is still running and did
    /// not finish in time (409 `IDEMPOTENCY_KEY_IN_FLIGHT`).
    #[error("{0}")]
    IdempotencyKeyInFlight(String),
    /// The request body is larger than the server accepts.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The server is saturated (no database connection came free in time):
    /// try again shortly.
    #[error("{0}")]
    Unavailable(String),
    /// The request ran past its time budget and was stopped (503 `TIMEOUT`).
    #[error("{0}")]
    Timeout(String),
    /// Too many attempts (sign-in limits): 429 `RATE_LIMITED`, with
    /// `Retry-After` (REST) or `extensions.retryAfter` (GraphQL) in seconds.
    #[error("{message}")]
    RateLimited {
        /// What was limited.
        message: String,
        /// Whole seconds until an attempt may succeed (at least 1).
        retry_after: u64,
    },
    /// A cursor (`after`) before the retained event log: the events after
    /// it were pruned (410 `CURSOR_EXPIRED`). The client reads the current
    /// state again and resumes with `after` = `pruned_through` or later.
    #[error(
        "cursor {after} is before the retained event log: events up to id {pruned_through} were pruned (retention); read the current state again and resume with after = {pruned_through} or later, or subscribe without after"
    )]
    CursorExpired {
        /// The cursor asked for.
        after: i64,
        /// Every event up to this id is gone.
        pruned_through: i64,
    },
    /// Storage or another internal failure; the detail is logged, not returned.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Result of a service operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether this refuses a request for what the data is (not found,
    /// forbidden, a conflict, a rule broken), rather than failing to serve it.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            Self::NotFound(_) | Self::Forbidden(_) | Self::Conflict(_) | Self::Validation(_)
        )
    }

    /// 400: input that cannot be read.
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::BadRequest(msg.into())
    }
    /// 422: a value that breaks a rule.
    pub fn validation(msg: impl Into<String>) -> Self {
        Self::Validation(msg.into())
    }
    /// 401: a request that needs credentials sent none.
    pub fn credentials_required() -> Self {
        Self::Unauthenticated(
            "credentials required: send Authorization: Bearer <api key or token>".to_owned(),
        )
    }
    /// 404: missing or invisible.
    pub fn not_found(msg: impl Into<String>) -> Self {
        Self::NotFound(msg.into())
    }
    /// 409: refused by the current state.
    pub fn conflict(msg: impl Into<String>) -> Self {
        Self::Conflict(msg.into())
    }
    /// 403: visible but not allowed.
    pub fn forbidden(msg: impl Into<String>) -> Self {
        Self::Forbidden(msg.into())
    }
    /// 429: over a rate limit; `wait` is how long until an attempt may pass.
    pub fn rate_limited(msg: impl Into<String>, wait: std::time::Duration) -> Self {
        Self::RateLimited {
            message: msg.into(),
            retry_after: crate::auth::limits::seconds(wait),
        }
    }

    /// 410: a cursor before the retained log.
    pub fn cursor_expired(after: i64, pruned_through: i64) -> Self {
        Self::CursorExpired {
            after,
            pruned_through,
        }
    }

    /// Facts a client acts on, beside the sentence and the code: for
    /// `CURSOR_EXPIRED`, `oldest_id` (the first id the log may still hold)
    /// and `pruned_through` (the oldest cursor still accepted). REST adds
    /// them to the body, `/ws` to the error message, GraphQL (camelCased)
    /// to `extensions`.
    pub fn details(&self) -> Vec<(&'static str, i64)> {
        match self {
            Self::CursorExpired { pruned_through, .. } => vec![
                ("oldest_id", pruned_through + 1),
                ("pruned_through", *pruned_through),
            ],
            _ => Vec::new(),
        }
    }

    /// Seconds a client should wait before trying again, when the error says.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Unavailable(_) => Some(1),
            Self::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) | Self::IdempotencyKeyInFlight(_) => StatusCode::CONFLICT,
            Self::IdempotencyKeyReused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable(_) | Self::Timeout(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::CursorExpired { .. } => StatusCode::GONE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The machine-readable code: REST `code`, GraphQL `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) | Self::Validation(_) => "BAD_REQUEST",
            Self::Unauthenticated(_) => "UNAUTHENTICATED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::NotFound(_) => "NOT_FOUND",
            Self::Conflict(_) => "CONFLICT",
            Self::IdempotencyKeyReused(_) => "IDEMPOTENCY_KEY_REUSED",
            Self::IdempotencyKeyInFlight(_) => "IDEMPOTENCY_KEY_IN_FLIGHT",
            Self::PayloadTooLarge(_) => "PAYLOAD_TOO_LARGE",
            Self::Unavailable(_) => "UNAVAILABLE",
            Self::Timeout(_) => "TIMEOUT",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::CursorExpired { .. } => "CURSOR_EXPIRED",
            Self::Internal(_) => "INTERNAL",
        }
    }

    /// The sentence shown to the client; internal details stay in the log.
    pub fn public_message(&self) -> String {
        match self {
            Self::Internal(_) => "internal server error".to_owned(),
            other => other.to_string(),
        }
    }
}

impl From<sea_orm::DbErr> for Error {
    fn from(err: sea_orm::DbErr) -> Self {
        match err {
            sea_orm::DbErr::ConnectionAcquire(_) => {
                tracing::warn!(error = %err, "no database connection came free in time");
                Self::Unavailable("the server is busy: try again shortly".to_owned())
            }
            err => Self::Internal(err.to_string()),
        }
    }
}

impl From<sea_orm::TransactionError<Error>> for Error {
    fn from(err: sea_orm::TransactionError<Error>) -> Self {
        match err {
            sea_orm::TransactionError::Connection(e) => e.into(),
            sea_orm::TransactionError::Transaction(e) => e,
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        if let Self::Internal(detail) = &self {
            tracing::error!(error = %detail, "request failed");
        }
        let mut body = json!({ "error": self.public_message(), "code": self.code() });
        for (key, value) in self.details() {
            body[key] = json!(value);
        }
        let mut response = (self.status(), axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after() {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(seconds),
            );
        }
        response
    }
}
