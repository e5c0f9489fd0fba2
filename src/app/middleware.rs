//! Layers and fallbacks shared by every route.

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::error::Error;

/// The most of an oversize body read (and dropped) before answering 413.
const OVERSIZE_DRAIN_BYTES: u64 = 64 * 1024 * 1024;

/// Answers 413 to a body whose declared length is over the limit. A body of
/// reasonable size is read to its end first: closing the connection while the
/// client is still sending makes many clients (hyper, Node) report a broken
/// pipe instead of the 413.
pub async fn refuse_oversize(
    State(s): State<AppState>,
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

/// 422 for a URL that spells a NUL character (`%00`) in its path or query:
/// no route stores or looks up such text.
pub async fn refuse_nul_in_url(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let url = req.uri().path_and_query().map_or("", |pq| pq.as_str());
    match crate::service::validate::no_nul_in_url(url) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// Every answer carries `X-Content-Type-Options: nosniff`; every HTML page
/// that sets no policy of its own (the Swagger UI at `/docs`, GraphiQL)
/// also forbids framing (`X-Frame-Options: DENY`, CSP `frame-ancestors
/// 'none'`). The dashboard sets a stricter policy itself, kept as it is.
pub async fn security_headers(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use axum::http::HeaderValue;
    use axum::http::header::{
        CONTENT_SECURITY_POLICY, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
    };
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.entry(X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    let html = h
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/html"));
    if html {
        h.entry(X_FRAME_OPTIONS)
            .or_insert(HeaderValue::from_static("DENY"));
        h.entry(CONTENT_SECURITY_POLICY)
            .or_insert(HeaderValue::from_static("frame-ancestors 'none'"));
    }
    res
}

/// A request path as logs show it: the tokens some paths carry (an
/// invitation's, a guardian link's) replaced by `***`.
pub fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    let segments: Vec<&str> = path.split('/').collect();
    let secret_at = match segments.as_slice() {
        ["", "auth", "invitations", token, ..] if !token.is_empty() => 3,
        ["", "auth", "guardian-confirm", token, ..] if !token.is_empty() => 3,
        _ => return std::borrow::Cow::Borrowed(path),
    };
    let mut shown = segments;
    shown[secret_at] = "***";
    std::borrow::Cow::Owned(shown.join("/"))
}

/// 404 for a path no route serves.
pub async fn not_found(uri: Uri) -> Error {
    Error::not_found(format!("no route for {}", uri.path()))
}

/// 405 for a method a route does not serve.
pub async fn method_not_allowed() -> Response {
    let body = serde_json::json!({ "error": "method not allowed on this route", "code": "METHOD_NOT_ALLOWED" });
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}

/// 500 in the API's error shape when a handler panics.
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    Error::Internal("handler panicked".to_owned()).into_response()
}
