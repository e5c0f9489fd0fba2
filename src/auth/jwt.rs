//! Short-lived HS256 access tokens issued by `POST /auth/login`.

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How long an access token lives.
pub const TOKEN_TTL: Duration = Duration::hours(1);

/// Signing and verification keys.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl JwtKeys {
    /// Keys from a shared secret.
    pub fn new(secret: &[u8]) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }
}

/// What a token says.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    /// Identity id.
    pub sub: String,
    /// Actor type.
    pub atp: String,
    /// Actor id.
    pub aid: String,
    /// Issued at (seconds).
    pub iat: i64,
    /// Expires at (seconds).
    pub exp: i64,
}

/// Signs a token for the identity; returns it with its expiry.
pub fn issue(
    keys: &JwtKeys,
    identity_id: i64,
    actor_type: &str,
    actor_id: &str,
    now: DateTime<Utc>,
) -> Result<(String, DateTime<Utc>)> {
    let expires = now + TOKEN_TTL;
    let claims = Claims {
        sub: identity_id.to_string(),
        atp: actor_type.to_owned(),
        aid: actor_id.to_owned(),
        iat: now.timestamp(),
        exp: expires.timestamp(),
    };
    let token = encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding)
        .map_err(|e| Error::Internal(format!("cannot sign token: {e}")))?;
    Ok((token, expires))
}

/// Verifies signature and expiry.
pub fn verify(keys: &JwtKeys, token: &str) -> Result<Claims> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 5;
    decode::<Claims>(token, &keys.decoding, &validation)
        .map(|d| d.claims)
        .map_err(|_| Error::Unauthenticated("invalid or expired token".to_owned()))
}

/// True when `token` has the shape of a JWT rather than an API key.
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3 && !token.starts_with(super::token::API_KEY_PREFIX)
}
