//! Who a request says it is, read the same way from every transport.
//!
//! REST and `/graphql` send headers; `/ws` adds the `?token=` and
//! `?actor_type=…` query parameters; `/graphql/ws` sends a `connection_init`
//! payload. Each becomes one [`Caller`]: a bearer token to check, or (in open
//! mode) the actor the request names. The service turns a `Caller` into a
//! `Viewer` (checking the token and the auth mode); nothing here trusts
//! anything.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use serde_json::Value;

use crate::actor::Actor;
use crate::error::{Error, Result};

/// What a request claims about who sends it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// `Authorization: Bearer <token>` (or its `?token=` / `connection_init`
    /// equivalents): an API key or a JWT, still to be checked.
    Bearer(String),
    /// No credentials: the actor named by `X-Actor-*` headers (or their query
    /// and payload equivalents), `human:anonymous` when none is named.
    Named(Actor),
}

impl Caller {
    /// The caller of an HTTP request: `Authorization`, else `X-Actor-*`.
    pub fn from_headers(headers: &HeaderMap) -> Result<Self> {
        if let Some(token) = bearer(headers)? {
            return Ok(Self::Bearer(token));
        }
        let header = |name: &str| -> Result<Option<&str>> {
            headers
                .get(name)
                .map(|v| {
                    v.to_str().map_err(|_| {
                        Error::bad_request(format!("header {name} must be visible ASCII"))
                    })
                })
                .transpose()
        };
        named(
            header("x-actor-type")?,
            header("x-actor-id")?,
            header("x-actor-name")?,
        )
        .map(Self::Named)
    }

    /// The caller of a WebSocket upgrade: `Authorization`, else `?token=`,
    /// else the `actor_type`, `actor_id`, `actor_name` query parameters.
    pub fn from_socket(headers: &HeaderMap, query: &SocketQuery) -> Result<Self> {
        if let Some(token) = bearer(headers)? {
            return Ok(Self::Bearer(token));
        }
        if let Some(token) = query.token.as_deref().map(str::trim) {
            return non_empty(token).map(Self::Bearer);
        }
        named(
            query.actor_type.as_deref(),
            query.actor_id.as_deref(),
            query.actor_name.as_deref(),
        )
        .map(Self::Named)
    }

    /// The caller of a GraphQL subscription socket: the `connection_init`
    /// payload's `Authorization` (any letter case), else the upgrade's
    /// credentials (`Authorization` header or `?token=`), else the payload's
    /// actor fields (`X-Actor-Type` or `actor_type` or `actorType`, and so on).
    pub fn from_init_payload(payload: &Value, upgrade: Option<Self>) -> Result<Self> {
        let field = |names: &[&str]| -> Option<&str> {
            payload.as_object().and_then(|o| {
                o.iter()
                    .find(|(k, _)| names.iter().any(|n| k.eq_ignore_ascii_case(n)))
                    .and_then(|(_, v)| v.as_str())
            })
        };
        if let Some(value) = field(&["authorization"]) {
            return authorization(value).map(Self::Bearer);
        }
        if let Some(Self::Bearer(token)) = upgrade {
            return Ok(Self::Bearer(token));
        }
        named(
            field(&["x-actor-type", "actor_type", "actorType"]),
            field(&["x-actor-id", "actor_id", "actorId"]),
            field(&["x-actor-name", "actor_name", "actorName"]),
        )
        .map(Self::Named)
    }

    /// Whether the request carries credentials.
    pub fn has_credentials(&self) -> bool {
        matches!(self, Self::Bearer(_))
    }
}

/// The credential query parameters of a WebSocket upgrade.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct SocketQuery {
    /// A bearer token, for clients that cannot set headers.
    pub token: Option<String>,
    /// Open mode: `human`, `agent` or `system`.
    pub actor_type: Option<String>,
    /// Open mode: the actor id.
    pub actor_id: Option<String>,
    /// Open mode: the display name.
    pub actor_name: Option<String>,
}

/// The token of an `Authorization` header, if one is sent.
pub fn bearer(headers: &HeaderMap) -> Result<Option<String>> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| Error::Unauthenticated("malformed Authorization header".to_owned()))?;
    authorization(value).map(Some)
}

/// The token of `Bearer <token>`; the scheme is case-insensitive (RFC 7235).
fn authorization(value: &str) -> Result<String> {
    match value.trim().split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => non_empty(token.trim()),
        _ => Err(Error::Unauthenticated(
            "the Authorization header must be 'Bearer <token>'".to_owned(),
        )),
    }
}

fn non_empty(token: &str) -> Result<String> {
    if token.is_empty() {
        Err(Error::Unauthenticated(
            "the bearer token is empty".to_owned(),
        ))
    } else {
        Ok(token.to_owned())
    }
}

/// The actor named by type, id and name (`human:anonymous` when neither type
/// nor id is given; the type defaults to `human`).
fn named(actor_type: Option<&str>, id: Option<&str>, name: Option<&str>) -> Result<Actor> {
    match (actor_type, id) {
        (None, None) => Ok(Actor::anonymous()),
        (t, Some(id)) => Actor::new(t.unwrap_or("human"), id, name),
        (Some(_), None) => Err(Error::bad_request(
            "an actor id is required with an actor type (X-Actor-ID, actor_id)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn scheme_is_case_insensitive_everywhere() {
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            let value = format!("{scheme} k1");
            let want = Caller::Bearer("k1".to_owned());
            assert_eq!(
                Caller::from_headers(&headers(&[("authorization", &value)])).unwrap(),
                want
            );
            let init = serde_json::json!({ "Authorization": value });
            assert_eq!(Caller::from_init_payload(&init, None).unwrap(), want);
        }
    }

    #[test]
    fn other_schemes_and_empty_tokens_are_refused() {
        for value in ["Basic abc", "Bearer", "Bearer   ", "token"] {
            let err = Caller::from_headers(&headers(&[("authorization", value)])).unwrap_err();
            assert_eq!(err.code(), "UNAUTHENTICATED", "{value}");
            let init = serde_json::json!({ "authorization": value });
            assert!(Caller::from_init_payload(&init, None).is_err(), "{value}");
        }
    }

    #[test]
    fn actors_are_named_the_same_way_on_every_transport() {
        let want = Caller::Named(Actor::new("agent", "w1", Some("W")).unwrap());
        let h = headers(&[
            ("x-actor-type", "agent"),
            ("x-actor-id", "w1"),
            ("x-actor-name", "W"),
        ]);
        assert_eq!(Caller::from_headers(&h).unwrap(), want);
        let q = SocketQuery {
            actor_type: Some("agent".into()),
            actor_id: Some("w1".into()),
            actor_name: Some("W".into()),
            ..Default::default()
        };
        assert_eq!(Caller::from_socket(&HeaderMap::new(), &q).unwrap(), want);
        let init =
            serde_json::json!({ "X-Actor-Type": "agent", "x-actor-id": "w1", "actorName": "W" });
        assert_eq!(Caller::from_init_payload(&init, None).unwrap(), want);
        assert_eq!(
            Caller::from_headers(&HeaderMap::new()).unwrap(),
            Caller::Named(Actor::anonymous())
        );
    }

    #[test]
    fn socket_token_comes_after_the_header() {
        let q = SocketQuery {
            token: Some("from-query".into()),
            ..Default::default()
        };
        let h = headers(&[("authorization", "Bearer from-header")]);
        assert_eq!(
            Caller::from_socket(&h, &q).unwrap(),
            Caller::Bearer("from-header".into())
        );
        assert_eq!(
            Caller::from_socket(&HeaderMap::new(), &q).unwrap(),
            Caller::Bearer("from-query".into())
        );
        let upgrade = Some(Caller::Bearer("from-query".into()));
        assert_eq!(
            Caller::from_init_payload(&serde_json::json!({}), upgrade).unwrap(),
            Caller::Bearer("from-query".into())
        );
    }
}
