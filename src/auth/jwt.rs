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
    /// This token's id: a logout puts it on the deny-list until `exp`.
    #[serde(default)]
    pub jti: String,
    /// The identity's token epoch when issued: a password change or reset
    /// raises the epoch, ending every token of an earlier one.
    #[serde(default)]
    pub tep: i32,
}

/// Whom a token is for.
pub struct Subject<'a> {
    /// Identity id.
    pub identity_id: i64,
    /// Actor type.
    pub actor_type: &'a str,
    /// Actor id.
    pub actor_id: &'a str,
    /// The identity's token epoch.
    pub epoch: i32,
}

/// Signs a token for the identity; returns it with its expiry.
pub fn issue(
    keys: &JwtKeys,
    subject: Subject<'_>,
    now: DateTime<Utc>,
) -> Result<(String, DateTime<Utc>)> {
    let expires = now + TOKEN_TTL;
    let claims = Claims {
        sub: subject.identity_id.to_string(),
        atp: subject.actor_type.to_owned(),
        aid: subject.actor_id.to_owned(),
        iat: now.timestamp(),
        exp: expires.timestamp(),
        jti: super::token::generate("")[..32].to_owned(),
        tep: subject.epoch,
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
