//! Extractors shared by the adapters: JSON bodies and query strings that
//! fail in the API's error shape, and the caller's [`Viewer`].

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::{AppState, ClientIp};
use crate::auth::caller::Caller;
use crate::error::Error;
use crate::service::{Idempotency, Viewer};

/// A JSON body. Unreadable JSON is 400, well-formed JSON of the wrong shape
/// is 422, too large is 413. An empty body reads as `{}`.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (_, value) = read_json(req, state).await?;
        Ok(Self(value))
    }
}

/// Reads a JSON body as [`ApiJson`] does: the bytes it counts as the body
/// (an empty body reads as `{}`) and their value.
async fn read_json<S: Send + Sync, T: DeserializeOwned>(
    req: Request,
    state: &S,
) -> Result<(Bytes, T), Error> {
    let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            Error::PayloadTooLarge("request body is too large".to_owned())
        } else {
            Error::bad_request(format!("cannot read request body: {rejection}"))
        }
    })?;
    let bytes = if bytes.iter().all(u8::is_ascii_whitespace) {
        Bytes::from_static(b"{}")
    } else {
        bytes
    };
    crate::service::validate::no_nul_escape(&bytes)?;
    match serde_json::from_slice(&bytes) {
        Ok(v) => Ok((bytes, v)),
        Err(e) if e.is_data() => Err(Error::validation(format!("invalid request body: {e}"))),
        Err(e) => Err(Error::bad_request(format!("malformed JSON: {e}"))),
    }
}

/// A JSON body (as [`ApiJson`]) with the request's `Idempotency-Key`, if
/// sent: the key (400 when not 1 to 255 printable ASCII characters) and the
/// fingerprint of the request (method, path and body).
pub struct KeyedJson<T>(pub Option<Idempotency>, pub T);

/// The header of an idempotent write.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for KeyedJson<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let key = match req.headers().get(IDEMPOTENCY_KEY) {
            None => None,
            Some(value) => Some(
                value
                    .to_str()
                    .map_err(|_| Error::bad_request("Idempotency-Key must be printable ASCII"))?
                    .to_owned(),
            ),
        };
        let method = req.method().as_str().to_owned();
        let path = req.uri().path().to_owned();
        let (bytes, value) = read_json(req, state).await?;
        let idem = key
            .map(|key| Idempotency::new(&key, &[method.as_bytes(), path.as_bytes(), &bytes]))
            .transpose()?;
        Ok(Self(idem, value))
    }
}

/// Query parameters; a value of the wrong type is 400.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Self(v))
            .map_err(|e| Error::bad_request(format!("invalid query string: {}", e.body_text())))
    }
}

/// The caller of a request as the service sees it: credentials checked when
/// sent; in open mode without them, the actor the `X-Actor-*` headers name;
/// in required mode without them, 401.
pub struct CurrentViewer(pub Viewer);

impl FromRequestParts<AppState> for CurrentViewer {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_headers(&parts.headers)?;
        let viewer = state.ats.viewer(&caller).await?;
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|never| match never {});
        viewer.set_origin(request_id(&parts.headers), Some(ip.to_string()));
        Ok(Self(viewer))
    }
}

/// The request's id: its `X-Request-Id` header when that is a short token
/// of visible ASCII, else a new random one.
pub fn request_id(headers: &axum::http::HeaderMap) -> Option<String> {
    let given = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()));
    Some(match given {
        Some(v) => v.to_owned(),
        None => format!("{:016x}", rand::random::<u64>()),
    })
}
