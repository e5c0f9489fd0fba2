//! Credentials: password hashing, API keys and one-time tokens, JWTs, and the auth mode.

pub mod caller;
pub mod jwt;
pub mod limits;
pub mod password;
pub mod token;

use std::net::SocketAddr;

/// How requests without credentials are treated (`--auth` / `ATS_AUTH`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// Requests without credentials act as the actor their `X-Actor-*` headers name.
    Open,
    /// Every request but health, register and login needs credentials.
    Required,
    /// `open` when listening on loopback only, `required` otherwise.
    Auto,
}

impl AuthMode {
    /// The effective mode for a server listening on `addr` (resolves `auto`).
    pub fn resolve(self, addr: SocketAddr) -> Self {
        match self {
            Self::Auto if addr.ip().is_loopback() => Self::Open,
            Self::Auto => Self::Required,
            other => other,
        }
    }

    /// `open` or `required`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Required => "required",
            Self::Auto => "auto",
        }
    }
}

/// Who may register (`--registration` / `ATS_REGISTRATION`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum RegistrationMode {
    /// Anyone may register.
    #[default]
    Open,
    /// Only with a pending invitation's token (`invitation`), which the new
    /// identity accepts as it registers.
    Invite,
    /// Nobody may register over the API.
    Closed,
}

/// Everything the service needs to check credentials.
#[derive(Clone)]
pub struct AuthSettings {
    /// The effective mode (never `Auto`).
    pub mode: AuthMode,
    /// Keys for signing and verifying JWTs.
    pub jwt: jwt::JwtKeys,
    /// The bearer token `/metrics` needs in required mode (`ATS_METRICS_TOKEN`).
    pub metrics_token: Option<String>,
    /// Who may register.
    pub registration: RegistrationMode,
    /// How many sign-in attempts an address or an account may make.
    pub sign_in: limits::SignInRates,
}
