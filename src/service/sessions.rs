//! Credentials and sessions: checking a bearer (cached until any access
//! change), logging out, changing a password, and one-time reset tokens
//! an operator issues.
//!
//! A login token (JWT) ends at its expiry, at a logout (its `jti` goes on
//! a deny-list until the expiry), or when the identity's token epoch moves
//! past the one it carries (a password change or reset). Every such change
//! is announced as an access change, so the credential cache of every
//! replica forgets what it knew before the token's next use.

use std::collections::HashMap;
use std::sync::Mutex;

use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::identities::LoggedIn;
use super::viewer::{Credential, Viewer};
use super::{Ats, Principal};
use crate::auth::limits::{AccountKey, Refusal};
use crate::auth::{jwt, password, token};
use crate::entity::{api_key, identity, password_reset, revoked_token};
use crate::error::{Error, Result};
use crate::time::{self, rfc3339};

/// How long a password-reset token stays usable.
pub const RESET_TTL: Duration = Duration::hours(1);

/// The most bearers whose check is remembered; past it the cache starts over.
const CACHE_ENTRIES: usize = 10_000;

/// What an API key may do beyond its identity's rights: all of them, only
/// reading, or only the named projects.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KeyScope {
    /// The key may read but not change anything.
    #[serde(default)]
    pub read_only: bool,
    /// `org/project` names the key is limited to (every project when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projects: Option<Vec<String>>,
}

impl KeyScope {
    /// True for a key with all of its identity's rights.
    pub fn is_full(&self) -> bool {
        !self.read_only && self.projects.is_none()
    }

    /// In words, for refusals.
    pub(crate) fn describe(&self) -> String {
        match (&self.projects, self.read_only) {
            (None, true) => "read-only".to_owned(),
            (Some(p), false) => format!("to {}", p.join(", ")),
            (Some(p), true) => format!("read-only, to {}", p.join(", ")),
            (None, false) => "not limited".to_owned(),
        }
    }

    pub(crate) fn of(key: &api_key::Model) -> Self {
        Self {
            read_only: key.read_only,
            projects: key
                .projects
                .as_deref()
                .and_then(|p| serde_json::from_str(p).ok()),
        }
    }
}

/// `POST /auth/password`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct PasswordChange {
    /// Required: the password now.
    #[schema(required = true, value_type = String)]
    pub current_password: Option<String>,
    /// Required: 8 to 1024 characters.
    #[schema(required = true, value_type = String, min_length = 8, max_length = 1024)]
    pub new_password: Option<String>,
}

/// `POST /auth/password/reset`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct PasswordReset {
    /// Required: the reset token `ats-server password-reset` printed.
    #[schema(required = true, value_type = String)]
    pub token: Option<String>,
    /// Required: 8 to 1024 characters.
    #[schema(required = true, value_type = String, min_length = 8, max_length = 1024)]
    pub new_password: Option<String>,
}

/// A reset token as issued to an operator; the token is shown only here.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ResetIssued {
    pub actor_type: String,
    pub actor_id: String,
    pub token: String,
    #[serde(with = "rfc3339")]
    pub expires_at: DateTime<Utc>,
}

#[derive(Clone)]
struct Checked {
    epoch: u64,
    principal: Principal,
    credential: Credential,
    /// An API key's last recorded use (written at most once a minute).
    last_used: Option<DateTime<Utc>>,
}

/// Checked bearers by digest, valid until the next access change.
#[derive(Default)]
pub(crate) struct CredentialCache {
    entries: Mutex<HashMap<String, Checked>>,
}

impl CredentialCache {
    fn get(&self, digest: &str, epoch: u64) -> Option<Checked> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.get(digest).filter(|c| c.epoch == epoch).cloned()
    }

    fn put(&self, digest: String, checked: Checked) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CACHE_ENTRIES {
            entries.clear();
        }
        entries.insert(digest, checked);
    }
}

fn refused() -> Error {
    Error::Unauthenticated("invalid, expired or revoked credentials".to_owned())
}

fn new_password(p: Option<String>) -> Result<String> {
    let p = p.ok_or_else(|| Error::validation("new_password is required"))?;
    password::validate(&p)?;
    Ok(p)
}

impl Ats {
    /// Checks a bearer token (JWT or API key): who it is, and what proved
    /// it. A bearer checked since the last access change costs no statement.
    pub(crate) async fn authenticate_credential(
        &self,
        bearer: &str,
    ) -> Result<(Principal, Credential)> {
        let epoch = self.bus.access_epoch();
        let digest = token::digest(bearer);
        let now = time::now();
        let checked = match self.credentials.get(&digest, epoch) {
            Some(c) => c,
            None => {
                let c = self.check_bearer(bearer, &digest, epoch).await?;
                self.credentials.put(digest.clone(), c.clone());
                c
            }
        };
        match &checked.credential {
            Credential::Jwt { expires, .. } if *expires <= now => return Err(refused()),
            Credential::ApiKey { expires, .. } if expires.is_some_and(|e| e <= now) => {
                return Err(refused());
            }
            Credential::ApiKey { id, .. }
                if checked
                    .last_used
                    .is_none_or(|t| now - t > Duration::seconds(60)) =>
            {
                api_key::Entity::update_many()
                    .col_expr(api_key::Column::LastUsedAt, Expr::value(now))
                    .filter(api_key::Column::Id.eq(*id))
                    .exec(self.store.conn())
                    .await?;
                let mut c = checked.clone();
                c.last_used = Some(now);
                self.credentials.put(digest, c);
            }
            _ => {}
        }
        Ok((checked.principal, checked.credential))
    }

    async fn check_bearer(&self, bearer: &str, digest: &str, epoch: u64) -> Result<Checked> {
        let db = self.store.conn();
        if jwt::looks_like_jwt(bearer) {
            let claims = jwt::verify(&self.auth.jwt, bearer)?;
            let id: i64 = claims.sub.parse().map_err(|_| refused())?;
            let i = identity::Entity::find_by_id(id)
                .one(db)
                .await?
                .filter(|i| i.token_epoch == claims.tep)
                .ok_or_else(refused)?;
            if revoked_token::Entity::find_by_id(claims.jti.clone())
                .one(db)
                .await?
                .is_some()
            {
                return Err(refused());
            }
            let expires = DateTime::from_timestamp(claims.exp, 0).unwrap_or_default();
            return Ok(Checked {
                epoch,
                principal: Self::principal(&i)?,
                credential: Credential::Jwt {
                    expires,
                    jti: claims.jti,
                    epoch: claims.tep,
                },
                last_used: None,
            });
        }
        let key = api_key::Entity::find()
            .filter(api_key::Column::KeyHash.eq(digest))
            .one(db)
            .await?
            .ok_or_else(refused)?;
        let i = identity::Entity::find_by_id(key.identity_id)
            .one(db)
            .await?
            .ok_or_else(refused)?;
        Ok(Checked {
            epoch,
            principal: Self::principal(&i)?,
            credential: Credential::ApiKey {
                id: key.id,
                expires: key.expires_at,
                scope: KeyScope::of(&key),
            },
            last_used: key.last_used_at,
        })
    }

    /// Ends the login session the request was made with: its token is
    /// refused on every replica from now until it would have expired.
    pub async fn logout(&self, viewer: &Viewer) -> Result<()> {
        viewer.identity()?;
        let Credential::Jwt { expires, jti, .. } = viewer.credential() else {
            return Err(Error::validation(
                "logout ends a login token's session; an API key is revoked with DELETE /auth/api-keys/{id}",
            ));
        };
        let w = self.store.begin_write().await?;
        revoked_token::Entity::delete_many()
            .filter(revoked_token::Column::ExpiresAt.lt(time::now() - Duration::minutes(1)))
            .exec(&w.txn)
            .await?;
        revoked_token::Entity::insert(revoked_token::ActiveModel {
            jti: Set(jti.clone()),
            expires_at: Set(*expires),
        })
        .on_conflict_do_nothing()
        .exec(&w.txn)
        .await?;
        w.commit().await?;
        self.access_changed().await;
        Ok(())
    }

    /// Changes the caller's password (the current one is required). Every
    /// login token issued before ends; the answer carries a new one. API
    /// keys are separate credentials and keep working. Counts against the
    /// sign-in limits of `client` and of the account, like a login: a
    /// stolen token must not become a way to guess the password.
    pub async fn change_password(
        &self,
        viewer: &Viewer,
        input: PasswordChange,
        client: IpAddr,
    ) -> Result<LoggedIn> {
        let p = viewer.identity()?;
        viewer.require_full_credential("change the password")?;
        self.sign_in.check_ip(client)?;
        self.sign_in
            .check_account(&AccountKey::Identity(p.identity_id()), client)?;
        let current = input
            .current_password
            .ok_or_else(|| Error::validation("current_password is required"))?;
        let new = new_password(input.new_password)?;
        let i = self.identity_of(p).await?;
        let Some(hash) = i.password_hash.clone() else {
            return Err(Error::conflict(
                "this identity has no password: it signs in with API keys only",
            ));
        };
        if !password::verify(current, hash).await? {
            self.sign_in.refused(Refusal::BadCredentials);
            // The session stands; only this change is refused (a 401 would
            // tell clients the session has ended).
            return Err(Error::forbidden("the current password is wrong"));
        }
        self.set_password(i, new, None).await
    }

    /// Issues a one-time reset token for the identity with this email or
    /// actor id (an operator's tool: `ats-server password-reset`).
    pub async fn issue_password_reset(&self, who: &str) -> Result<ResetIssued> {
        let db = self.store.conn();
        let q = identity::Entity::find();
        let q = if who.contains('@') {
            q.filter(identity::Column::Email.eq(who.trim().to_lowercase()))
        } else {
            q.filter(identity::Column::ActorId.eq(who))
        };
        let found = q.order_by_asc(identity::Column::Id).all(db).await?;
        let i = match found.len() {
            0 => return Err(Error::not_found(format!("no identity '{who}'"))),
            1 => found.into_iter().next().ok_or_else(refused)?,
            _ => {
                return Err(Error::conflict(format!(
                    "several identities are '{who}': name one by its email"
                )));
            }
        };
        let secret = token::generate("atsr_");
        let now = time::now();
        let w = self.store.begin_write().await?;
        password_reset::ActiveModel {
            identity_id: Set(i.id),
            token_hash: Set(token::digest(&secret)),
            created_at: Set(now),
            expires_at: Set(now + RESET_TTL),
            used_at: Set(None),
            ..Default::default()
        }
        .insert(&w.txn)
        .await?;
        w.commit().await?;
        Ok(ResetIssued {
            actor_type: i.actor_type,
            actor_id: i.actor_id,
            token: secret,
            expires_at: now + RESET_TTL,
        })
    }

    /// Sets a new password with a reset token (once, within its hour).
    /// Every login token issued before ends; the answer signs the user in.
    /// Counts against `client`'s sign-in limit (it hashes a password).
    pub async fn reset_password(&self, input: PasswordReset, client: IpAddr) -> Result<LoggedIn> {
        self.sign_in.check_ip(client)?;
        let secret = input
            .token
            .ok_or_else(|| Error::validation("token is required"))?;
        let new = new_password(input.new_password)?;
        let invalid = || Error::not_found("reset token not found, used or expired");
        let now = time::now();
        let reset = password_reset::Entity::find()
            .filter(password_reset::Column::TokenHash.eq(token::digest(&secret)))
            .one(self.store.conn())
            .await?
            .filter(|r| r.used_at.is_none() && r.expires_at > now)
            .ok_or_else(invalid)?;
        let i = identity::Entity::find_by_id(reset.identity_id)
            .one(self.store.conn())
            .await?
            .ok_or_else(invalid)?;
        self.set_password(i, new, Some(reset.id)).await
    }

    /// Stores a new password hash and raises the token epoch, in one
    /// transaction that also spends the reset token `reset` (exactly once).
    async fn set_password(
        &self,
        i: identity::Model,
        new: String,
        reset: Option<i64>,
    ) -> Result<LoggedIn> {
        let hash = password::hash(new).await?;
        let now = time::now();
        let w = self.store.begin_write().await?;
        if let Some(id) = reset {
            let spent = password_reset::Entity::update_many()
                .col_expr(password_reset::Column::UsedAt, Expr::value(now))
                .filter(password_reset::Column::Id.eq(id))
                .filter(password_reset::Column::UsedAt.is_null())
                .exec(&w.txn)
                .await?;
            if spent.rows_affected != 1 {
                return Err(Error::not_found("reset token not found, used or expired"));
            }
        }
        let epoch = i.token_epoch + 1;
        let mut active = i.into_active_model();
        active.password_hash = Set(Some(hash));
        active.token_epoch = Set(epoch);
        active.updated_at = Set(now);
        let i = active.update(&w.txn).await?;
        w.commit().await?;
        self.access_changed().await;
        self.logged_in(i)
    }

    /// A fresh login token for the identity.
    pub(crate) fn logged_in(&self, i: identity::Model) -> Result<LoggedIn> {
        let (token, expires_at) = jwt::issue(
            &self.auth.jwt,
            jwt::Subject {
                identity_id: i.id,
                actor_type: &i.actor_type,
                actor_id: &i.actor_id,
                epoch: i.token_epoch,
            },
            time::now(),
        )?;
        Ok(LoggedIn {
            token,
            expires_at,
            identity: i.into(),
        })
    }
}
