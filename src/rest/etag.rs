//! Validators for REST reads: every successful JSON answer to a `GET`
//! carries a strong `ETag` (a digest of its body) and `Cache-Control:
//! private, no-cache` (a browser or client may keep it but must ask again;
//! no shared cache may, since answers depend on the caller), and a request
//! whose `If-None-Match` names that tag gets `304 Not Modified` without the
//! body. A dashboard polling a task pays for the read, not for the
//! transfer and its parsing.

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::error::Error;

/// Adds the validator to a `GET`'s JSON answer; 304 when the client has it.
pub async fn etag(req: Request, next: Next) -> Response {
    if req.method() != Method::GET {
        return next.run(req).await;
    }
    let if_none_match = req.headers().get(IF_NONE_MATCH).cloned();
    let resp = next.run(req).await;
    let json = resp
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
    if resp.status() != StatusCode::OK || !json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            return Error::Internal(format!("cannot read a response body: {e}")).into_response();
        }
    };
    let tag = format!("\"{}\"", hex::encode(&Sha256::digest(&bytes)[..16]));
    let matched = if_none_match.is_some_and(|v| names(&v, &tag));
    if let Ok(value) = HeaderValue::from_str(&tag) {
        parts.headers.insert(ETAG, value);
    }
    parts
        .headers
        .insert(CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    if matched {
        parts.status = StatusCode::NOT_MODIFIED;
        parts.headers.remove(CONTENT_LENGTH);
        parts.headers.remove(CONTENT_TYPE);
        return Response::from_parts(parts, Body::empty());
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// Whether an `If-None-Match` value names `tag` (weak comparison, as the
/// header asks: `W/` prefixes are ignored; `*` names any).
fn names(header: &HeaderValue, tag: &str) -> bool {
    let Ok(text) = header.to_str() else {
        return false;
    };
    text.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == tag
    })
}

#[cfg(test)]
mod tests {
    use super::names;
    use axum::http::HeaderValue;

    #[test]
    fn if_none_match_lists_and_weak_tags() {
        let tag = "\"abc\"";
        for yes in ["\"abc\"", "W/\"abc\"", "\"x\", \"abc\"", "*"] {
            assert!(names(&HeaderValue::from_static(yes), tag), "{yes}");
        }
        for no in ["\"abd\"", "abc", ""] {
            assert!(!names(&HeaderValue::from_static(no), tag), "{no}");
        }
    }
}
