//! Request extractors whose failures answer in the API's error shape.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, RawPathParams, Request};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::AppState;
use crate::actor::Actor;
use crate::auth::AuthMode;
use crate::error::Error;
use crate::service::{Principal, Scope};

/// A JSON body. Unreadable JSON is 400, well-formed JSON of the wrong shape
/// is 422, too large is 413. An empty body reads as `{}`.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                Error::PayloadTooLarge("request body is too large".to_owned())
            } else {
                Error::bad_request(format!("cannot read request body: {rejection}"))
            }
        })?;
        let body: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        match serde_json::from_slice(body) {
            Ok(v) => Ok(Self(v)),
            Err(e) if e.is_data() => Err(Error::validation(format!("invalid request body: {e}"))),
            Err(e) => Err(Error::bad_request(format!("malformed JSON: {e}"))),
        }
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

/// The bearer token of a request, if any (`Authorization: Bearer …`).
pub fn bearer(headers: &HeaderMap) -> Result<Option<String>, Error> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| Error::Unauthenticated("malformed Authorization header".to_owned()))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim().to_owned()))
        }
        _ => Err(Error::Unauthenticated(
            "the Authorization header must be 'Bearer <token>'".to_owned(),
        )),
    }
}

/// The actor named by `X-Actor-Type`, `X-Actor-ID` and `X-Actor-Name`
/// (`human:anonymous` when none is given).
pub fn header_actor(headers: &HeaderMap) -> Result<Actor, Error> {
    let header = |name: &str| -> Result<Option<&str>, Error> {
        headers
            .get(name)
            .map(|v| {
                v.to_str()
                    .map_err(|_| Error::bad_request(format!("header {name} must be visible ASCII")))
            })
            .transpose()
    };
    let actor_type = header("x-actor-type")?;
    let actor_id = header("x-actor-id")?;
    let actor_name = header("x-actor-name")?;
    if actor_type.is_none() && actor_id.is_none() {
        return Ok(Actor::anonymous());
    }
    let id =
        actor_id.ok_or_else(|| Error::bad_request("X-Actor-ID is required with X-Actor-Type"))?;
    Actor::new(actor_type.unwrap_or("human"), id, actor_name)
}

/// Who is calling: the actor, and the identity when credentials were sent.
/// Credentials, when sent, must be valid; without them, `open` mode takes the
/// `X-Actor-*` headers and `required` mode answers 401.
pub async fn caller(
    headers: &HeaderMap,
    state: &AppState,
) -> Result<(Actor, Option<Principal>), Error> {
    if let Some(token) = bearer(headers)? {
        let p = state.ats.authenticate(&token).await?;
        return Ok((p.actor.clone(), Some(p)));
    }
    match state.ats.auth_mode() {
        AuthMode::Required => Err(Error::Unauthenticated(
            "credentials required: send Authorization: Bearer <api key or token>".to_owned(),
        )),
        _ => Ok((header_actor(headers)?, None)),
    }
}

/// The acting actor: from credentials when sent (they must be valid); in
/// `open` mode without credentials, from the `X-Actor-*` headers; in
/// `required` mode without credentials, 401.
pub struct CurrentActor(pub Actor);

impl FromRequestParts<AppState> for CurrentActor {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(caller(&parts.headers, state).await?.0))
    }
}

/// A caller with valid credentials, in every mode (identity endpoints).
pub struct Authenticated(pub Principal);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match bearer(&parts.headers)? {
            Some(token) => Ok(Self(state.ats.authenticate(&token).await?)),
            None => Err(Error::Unauthenticated(
                "credentials required: send Authorization: Bearer <api key or token>".to_owned(),
            )),
        }
    }
}

async fn raw_params<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
) -> Result<HashMap<String, String>, Error> {
    let raw = RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|e| Error::bad_request(e.body_text()))?;
    Ok(raw
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect())
}

fn scope_of(params: &HashMap<String, String>) -> Scope {
    match (params.get("org"), params.get("project")) {
        (Some(org), Some(project)) => Scope::Project {
            org: org.clone(),
            project: project.clone(),
        },
        _ => Scope::Any,
    }
}

/// The project scope of a task route: `/tasks…` (any) or `/orgs/:org/projects/:project/tasks…`.
pub struct TaskScope(pub Scope);

impl<S: Send + Sync> FromRequestParts<S> for TaskScope {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(scope_of(&raw_params(parts, state).await?)))
    }
}

/// A task route's scope and task id (`:id`).
pub struct TaskRef {
    /// Where the task must live.
    pub scope: Scope,
    /// The task id.
    pub id: i64,
}

impl<S: Send + Sync> FromRequestParts<S> for TaskRef {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = raw_params(parts, state).await?;
        let raw = params.get("id").map(String::as_str).unwrap_or_default();
        let id = raw
            .parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .ok_or_else(|| {
                Error::bad_request(format!(
                    "invalid task id '{raw}': expected a positive integer"
                ))
            })?;
        Ok(Self {
            scope: scope_of(&params),
            id,
        })
    }
}

/// Path segments by name, for org and project routes.
pub struct Slugs(pub HashMap<String, String>);

impl Slugs {
    /// The segment `name` (always present on the routes that use it).
    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).map(String::as_str).unwrap_or_default()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Slugs {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(raw_params(parts, state).await?))
    }
}
