//! Identities: register, log in, authenticate, profile, API keys.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::audit::{AuditRecord, Target};
use super::sessions::KeyScope;
use super::viewer::Viewer;
use super::{Ats, validate};
use crate::actor::{Actor, ActorType};
use crate::auth::limits::{AccountKey, Refusal};
use crate::auth::{AuthMode, RegistrationMode, password, token};
use crate::entity::{api_key, identity};
use crate::error::{Error, Result};
use crate::time::{self, rfc3339};

/// An authenticated caller: an identity and the actor it acts as. Made only
/// by checking credentials.
#[derive(Clone, Debug)]
pub struct Principal {
    identity_id: i64,
    actor: Actor,
}

impl Principal {
    /// The identity's id.
    pub fn identity_id(&self) -> i64 {
        self.identity_id
    }

    /// The actor the identity acts as.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }
}

/// An identity as its owner sees it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct IdentityView {
    pub id: i64,
    pub actor_type: String,
    pub actor_id: String,
    pub display_name: String,
    pub email: Option<String>,
    #[schema(value_type = Object)]
    pub profile: Value,
    #[serde(with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "rfc3339")]
    pub updated_at: DateTime<Utc>,
}

impl From<identity::Model> for IdentityView {
    fn from(i: identity::Model) -> Self {
        Self {
            id: i.id,
            actor_type: i.actor_type,
            actor_id: i.actor_id,
            display_name: i.display_name,
            email: i.email,
            profile: i.profile,
            created_at: i.created_at,
            updated_at: i.updated_at,
        }
    }
}

/// What anyone may see of an identity.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PublicIdentityView {
    pub actor_type: String,
    pub actor_id: String,
    pub display_name: String,
    #[serde(with = "rfc3339")]
    pub created_at: DateTime<Utc>,
}

impl From<identity::Model> for PublicIdentityView {
    fn from(i: identity::Model) -> Self {
        Self {
            actor_type: i.actor_type,
            actor_id: i.actor_id,
            display_name: i.display_name,
            created_at: i.created_at,
        }
    }
}

/// An API key as listed (never the key itself).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    #[serde(with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "rfc3339::option")]
    pub last_used_at: Option<DateTime<Utc>>,
    #[serde(with = "rfc3339::option")]
    pub expires_at: Option<DateTime<Utc>>,
    /// The key may only read.
    pub read_only: bool,
    /// The `org/project` names the key is limited to (absent: all).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub projects: Option<Vec<String>>,
    /// The key, present only in the response that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl From<api_key::Model> for ApiKeyView {
    fn from(k: api_key::Model) -> Self {
        let scope = KeyScope::of(&k);
        Self {
            read_only: scope.read_only,
            projects: scope.projects,
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            expires_at: k.expires_at,
            key: None,
        }
    }
}

/// `POST /auth/register`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct Registration {
    /// `human` (the default) or `agent`.
    #[schema(value_type = Option<super::documented::RegistrableActorType>)]
    pub actor_type: Option<String>,
    /// Required: 1 to 200 characters, not blank (trimmed).
    #[schema(required = true, value_type = String, min_length = 1, max_length = 200, pattern = r"\S")]
    pub actor_id: Option<String>,
    /// 1 to 200 characters, not blank (default: the actor id).
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub display_name: Option<String>,
    /// An email address to sign in with.
    #[schema(schema_with = super::documented::email)]
    pub email: Option<String>,
    /// 8 to 1024 characters; without one the identity signs in with API keys only.
    #[schema(min_length = 8, max_length = 1024)]
    pub password: Option<String>,
    /// A pending invitation's token: required when registration is by
    /// invitation (`ATS_REGISTRATION=invite`), and accepted as the identity
    /// is made.
    pub invitation: Option<String>,
}

/// What registering returns: the identity, a first API key and a token.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Registered {
    pub identity: IdentityView,
    pub api_key: String,
    pub token: String,
}

/// `POST /auth/login`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct Login {
    /// The identity's email (this or `actor_id`).
    pub email: Option<String>,
    /// The identity's actor id (this or `email`).
    pub actor_id: Option<String>,
    /// Narrows `actor_id` to one actor type.
    #[schema(value_type = Option<crate::actor::ActorType>)]
    pub actor_type: Option<String>,
    /// Required.
    #[schema(required = true, value_type = String)]
    pub password: Option<String>,
}

/// A successful login.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LoggedIn {
    pub token: String,
    #[serde(with = "rfc3339")]
    pub expires_at: DateTime<Utc>,
    pub identity: IdentityView,
}

/// `PATCH /auth/me`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct IdentityPatch {
    /// 1 to 200 characters, not blank.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub display_name: Option<String>,
    /// A new email address.
    #[schema(schema_with = super::documented::email)]
    pub email: Option<String>,
    /// A JSON object of at most 256 KiB, serialized.
    #[schema(value_type = Option<Object>)]
    pub profile: Option<Value>,
}

/// `POST /auth/api-keys`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct NewApiKey {
    /// 1 to 200 characters, not blank (default `api key`).
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: Option<String>,
    /// When the key stops working: an RFC 3339 time in the future (default: never).
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    /// Only reading (default false).
    pub read_only: Option<bool>,
    /// Limit the key to these `org/project` names (default: all projects).
    #[schema(schema_with = super::documented::key_projects)]
    pub projects: Option<Vec<String>>,
}

/// The most projects one key may name.
const MAX_KEY_PROJECTS: usize = 100;

impl NewApiKey {
    fn scope(&self) -> Result<KeyScope> {
        if let Some(names) = &self.projects {
            if names.is_empty() || names.len() > MAX_KEY_PROJECTS {
                return Err(Error::validation(format!(
                    "projects must name 1 to {MAX_KEY_PROJECTS} projects as org/project (or be left out for all)"
                )));
            }
            for n in names {
                let ok = n.split_once('/').is_some_and(|(o, p)| {
                    validate::slug("org", o).is_ok() && validate::slug("project", p).is_ok()
                });
                if !ok {
                    return Err(Error::validation(format!(
                        "'{n}' is not a project name of the form org/project"
                    )));
                }
            }
        }
        Ok(KeyScope {
            read_only: self.read_only.unwrap_or(false),
            projects: self.projects.clone(),
        })
    }
}

fn email(e: &str) -> Result<String> {
    let e = e.trim().to_lowercase();
    let ok = e.len() <= 254
        && e.split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.'));
    if ok {
        Ok(e)
    } else {
        Err(Error::validation(format!("'{e}' is not an email address")))
    }
}

/// A hash verified when the account is unknown, so that a wrong email and a
/// wrong password take the same time.
static DUMMY_HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

async fn dummy_hash() -> String {
    DUMMY_HASH
        .get_or_init(|| async {
            password::hash(token::generate(""))
                .await
                .unwrap_or_default()
        })
        .await
        .clone()
}

impl Ats {
    pub(super) fn principal(i: &identity::Model) -> Result<Principal> {
        Ok(Principal {
            identity_id: i.id,
            actor: Actor::new(&i.actor_type, &i.actor_id, Some(&i.display_name))?,
        })
    }

    /// The auth mode in force (`open` or `required`).
    pub fn auth_mode(&self) -> AuthMode {
        self.auth.mode
    }

    /// Who may read the cross-tenant metrics: anyone in open mode; in
    /// required mode only the bearer of `ATS_METRICS_TOKEN` (404 when none
    /// is configured, 401 for a missing or wrong token: an ordinary
    /// credential is not enough). Digests are compared, so the time taken
    /// tells nothing about the token.
    pub fn metrics_access(&self, bearer: Option<&str>) -> Result<()> {
        if self.auth.mode != AuthMode::Required {
            return Ok(());
        }
        let Some(expected) = self.auth.metrics_token.as_deref() else {
            return Err(Error::not_found("no route for /metrics"));
        };
        use sha2::{Digest, Sha256};
        let sent = bearer.unwrap_or("");
        if Sha256::digest(sent.as_bytes()) == Sha256::digest(expected.as_bytes()) {
            Ok(())
        } else {
            Err(Error::Unauthenticated(
                "/metrics needs the metrics token: Authorization: Bearer <ATS_METRICS_TOKEN>"
                    .to_owned(),
            ))
        }
    }

    async fn issue_key(
        &self,
        txn: &impl sea_orm::ConnectionTrait,
        identity_id: i64,
        name: String,
        expires_at: Option<DateTime<Utc>>,
        issued_by: Option<i64>,
        scope: KeyScope,
    ) -> Result<ApiKeyView> {
        let key = token::generate(token::API_KEY_PREFIX);
        let row = api_key::ActiveModel {
            identity_id: Set(identity_id),
            name: Set(name),
            prefix: Set(token::shown_prefix(&key)),
            key_hash: Set(token::digest(&key)),
            created_at: Set(time::now()),
            last_used_at: Set(None),
            expires_at: Set(expires_at),
            issued_by_identity_id: Set(issued_by),
            read_only: Set(scope.read_only),
            projects: Set(scope
                .projects
                .as_ref()
                .map(|p| serde_json::to_string(p).unwrap_or_default())),
            ..Default::default()
        }
        .insert(txn)
        .await?;
        let mut view = ApiKeyView::from(row);
        view.key = Some(key);
        Ok(view)
    }

    /// Forgets sign-in limits that have fully replenished (called
    /// periodically); returns how many clients and accounts are still held.
    pub fn sweep_sign_in_limits(&self) -> usize {
        self.sign_in.sweep()
    }

    /// Registers an identity; returns it with a first API key and an access
    /// token. Counts against `client`'s sign-in limit (it hashes a password).
    pub async fn register(&self, input: Registration, client: IpAddr) -> Result<Registered> {
        if self.auth.registration == RegistrationMode::Closed {
            return Err(Error::forbidden(
                "registration is closed on this server: ask its operator for an account",
            ));
        }
        let actor_type = ActorType::parse(input.actor_type.as_deref().unwrap_or("human"))
            .map_err(|e| Error::validation(e.to_string()))?;
        if actor_type == ActorType::System {
            // The service's own actor (the lease reaper is system:ats).
            return Err(Error::validation(
                "actor_type system is reserved for the service itself: register a human or an agent",
            ));
        }
        let actor_id = input
            .actor_id
            .as_deref()
            .ok_or_else(|| Error::validation("actor_id is required"))?;
        let actor = Actor::new(actor_type.as_str(), actor_id, input.display_name.as_deref())
            .map_err(|e| Error::validation(e.to_string()))?;
        let display_name = validate::name(
            "display_name",
            input.display_name.as_deref().unwrap_or(&actor.id),
        )?;
        let email = input.email.as_deref().map(email).transpose()?;
        if let Some(p) = &input.password {
            password::validate(p)?;
        }
        self.sign_in.check_ip(client)?;
        let password_hash = match input.password {
            Some(p) => Some(password::hash(p).await?),
            None => None,
        };
        let w = self.store.begin_write().await?;
        // The invitation first: without a valid one, an invite-only server
        // tells nothing about which names and emails are taken.
        let invitation = match input.invitation.as_deref() {
            Some(secret) => Some(
                self.invitation_for_registration(&w.txn, secret, &actor)
                    .await?,
            ),
            // The first identity of an invite-only server needs none: it
            // is the operator's, and it invites the others.
            None if self.auth.registration == RegistrationMode::Invite
                && identity::Entity::find().one(&w.txn).await?.is_some() =>
            {
                return Err(Error::forbidden(
                    "registration is by invitation on this server: send the invitation's token as `invitation`",
                ));
            }
            None => None,
        };
        let taken = identity::Entity::find()
            .filter(identity::Column::ActorType.eq(actor.actor_type.as_str()))
            .filter(identity::Column::ActorId.eq(actor.id.clone()))
            .one(&w.txn)
            .await?;
        if taken.is_some() {
            return Err(Error::conflict(format!(
                "{} is already registered",
                actor.label()
            )));
        }
        if let Some(e) = &email
            && identity::Entity::find()
                .filter(identity::Column::Email.eq(e.clone()))
                .one(&w.txn)
                .await?
                .is_some()
        {
            return Err(Error::conflict("that email is already registered"));
        }
        let now = time::now();
        let i = identity::ActiveModel {
            actor_type: Set(actor.actor_type.as_str().to_owned()),
            actor_id: Set(actor.id.clone()),
            display_name: Set(display_name),
            email: Set(email),
            password_hash: Set(password_hash),
            profile: Set(json!({})),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&w.txn)
        .await?;
        let invited = invitation.is_some();
        if let Some(inv) = invitation {
            self.accept_at_registration(&w.txn, inv, &i, client).await?;
        }
        let key = self
            .issue_key(
                &w.txn,
                i.id,
                "default".to_owned(),
                None,
                None,
                KeyScope::default(),
            )
            .await?;
        w.commit().await?;
        if invited {
            self.access_changed().await;
        }
        let LoggedIn {
            token, identity, ..
        } = self.logged_in(i)?;
        Ok(Registered {
            identity,
            api_key: key.key.unwrap_or_default(),
            token,
        })
    }

    /// Checks a password and issues an access token. Each attempt counts
    /// against `client`'s sign-in limit and then against the account's
    /// (both checked before the password, so a refused attempt costs no
    /// hashing and says nothing about the password).
    pub async fn login(&self, input: Login, client: IpAddr) -> Result<LoggedIn> {
        let refused = || Error::Unauthenticated("wrong email, actor id or password".to_owned());
        let password = input
            .password
            .ok_or_else(|| Error::validation("password is required"))?;
        let db = self.store.conn();
        let mut q = identity::Entity::find();
        let named;
        (q, named) = match (&input.email, &input.actor_id) {
            (Some(e), _) => {
                let e = e.trim().to_lowercase();
                (
                    q.filter(identity::Column::Email.eq(e.clone())),
                    format!("email {e}"),
                )
            }
            (None, Some(id)) => {
                let q = q.filter(identity::Column::ActorId.eq(id.clone()));
                match &input.actor_type {
                    Some(t) => (
                        q.filter(identity::Column::ActorType.eq(t.clone())),
                        format!("actor {t}:{id}"),
                    ),
                    None => (q, format!("actor {id}")),
                }
            }
            (None, None) => return Err(Error::validation("email or actor_id is required")),
        };
        self.sign_in.check_ip(client)?;
        let found = q.order_by_asc(identity::Column::Id).one(db).await?;
        let found = found.filter(|i| i.password_hash.is_some());
        let account = match &found {
            Some(i) => AccountKey::Identity(i.id),
            None => AccountKey::unknown(&named),
        };
        self.sign_in.check_account(&account, client)?;
        let Some(i) = found else {
            password::verify(password, dummy_hash().await).await.ok();
            self.sign_in.refused(Refusal::BadCredentials);
            return Err(refused());
        };
        let ok = password::verify(password, i.password_hash.clone().unwrap_or_default()).await?;
        // Recorded in the orgs of the identity tried (an unknown one has none).
        let (action, reason) = if ok {
            ("sign_in.succeeded", None)
        } else {
            ("sign_in.failed", Some("wrong password"))
        };
        if let Ok(actor) = Actor::new(&i.actor_type, &i.actor_id, None) {
            let w = self.store.begin_write().await?;
            self.audit_members(
                &w.txn,
                std::slice::from_ref(&actor),
                AuditRecord::by(0, action, actor.clone())
                    .target(Target::Actor(i.actor_type.clone(), i.actor_id.clone()))
                    .data(serde_json::json!({ "tried": named, "reason": reason }))
                    .origin(None, Some(client.to_string())),
            )
            .await?;
            w.commit().await?;
        }
        if !ok {
            self.sign_in.refused(Refusal::BadCredentials);
            return Err(refused());
        }
        self.logged_in(i)
    }

    pub(crate) async fn identity_of(&self, p: &Principal) -> Result<identity::Model> {
        identity::Entity::find_by_id(p.identity_id())
            .one(self.store.conn())
            .await?
            .ok_or_else(|| Error::Unauthenticated("this identity no longer exists".to_owned()))
    }

    /// The caller's identity.
    pub async fn me(&self, viewer: &Viewer) -> Result<IdentityView> {
        let p = viewer.identity()?;
        Ok(self.identity_of(p).await?.into())
    }

    /// Changes the caller's display name, email or profile.
    pub async fn update_me(&self, viewer: &Viewer, patch: IdentityPatch) -> Result<IdentityView> {
        let p = viewer.identity()?;
        viewer.require_full_credential("change the profile")?;
        let display_name = patch
            .display_name
            .as_deref()
            .map(|n| validate::name("display_name", n))
            .transpose()?;
        let email = patch.email.as_deref().map(email).transpose()?;
        if patch.profile.as_ref().is_some_and(|v| !v.is_object()) {
            return Err(Error::validation("profile must be a JSON object"));
        }
        if patch
            .profile
            .as_ref()
            .is_some_and(|v| v.to_string().len() > validate::MAX_PAYLOAD)
        {
            return Err(Error::validation("profile is too large"));
        }
        let w = self.store.begin_write().await?;
        let i = identity::Entity::find_by_id(p.identity_id())
            .one(&w.txn)
            .await?
            .ok_or_else(|| Error::Unauthenticated("this identity no longer exists".to_owned()))?;
        if let Some(e) = &email
            && i.email.as_deref() != Some(e)
            && identity::Entity::find()
                .filter(identity::Column::Email.eq(e.clone()))
                .one(&w.txn)
                .await?
                .is_some()
        {
            return Err(Error::conflict("that email is already registered"));
        }
        let mut active = i.into_active_model();
        if let Some(n) = display_name {
            active.display_name = Set(n);
        }
        if let Some(e) = email {
            active.email = Set(Some(e));
        }
        if let Some(profile) = patch.profile {
            active.profile = Set(profile);
        }
        active.updated_at = Set(time::now());
        let i = active.update(&w.txn).await?;
        w.commit().await?;
        Ok(i.into())
    }

    /// Public fields of the identity with `actor_id` (and `actor_type`, when given).
    pub async fn public_identity(
        &self,
        actor_id: &str,
        actor_type: Option<&str>,
    ) -> Result<PublicIdentityView> {
        let mut q = identity::Entity::find().filter(identity::Column::ActorId.eq(actor_id));
        if let Some(t) = actor_type {
            q = q.filter(identity::Column::ActorType.eq(t));
        }
        q.order_by_asc(identity::Column::Id)
            .one(self.store.conn())
            .await?
            .map(PublicIdentityView::from)
            .ok_or_else(|| Error::not_found(format!("identity '{actor_id}' not found")))
    }

    /// Creates an API key for the caller; the key is in this response only.
    pub async fn create_api_key(&self, viewer: &Viewer, input: NewApiKey) -> Result<ApiKeyView> {
        let p = viewer.identity()?;
        viewer.require_full_credential("create API keys")?;
        self.identity_of(p).await?;
        self.issue_api_key(viewer, p.identity_id(), input, None)
            .await
    }

    /// Issues a key for the identity `identity_id` (by the guardian
    /// `issued_by`, when one issues it for its agent).
    pub(crate) async fn issue_api_key(
        &self,
        viewer: &Viewer,
        identity_id: i64,
        input: NewApiKey,
        issued_by: Option<i64>,
    ) -> Result<ApiKeyView> {
        let name = validate::name("name", input.name.as_deref().unwrap_or("api key"))?;
        let scope = input.scope()?;
        let expires_at = match input.expires_at.as_deref() {
            Some(s) => {
                let t = time::parse(s)
                    .ok_or_else(|| Error::validation("expires_at must be an RFC 3339 time"))?;
                if t <= time::now() {
                    return Err(Error::validation("expires_at must be in the future"));
                }
                Some(t)
            }
            None => None,
        };
        let w = self.store.begin_write().await?;
        let key = self
            .issue_key(&w.txn, identity_id, name, expires_at, issued_by, scope)
            .await?;
        self.audit_identities(
            &w.txn,
            &[identity_id],
            AuditRecord::new(0, "api_key.created", viewer)
                .target(Target::Other("api_key", key.id.to_string()))
                .data(serde_json::json!({ "name": key.name, "prefix": key.prefix, "identity_id": identity_id })),
        )
        .await?;
        w.commit().await?;
        Ok(key)
    }

    /// The caller's API keys (prefixes only).
    pub async fn list_api_keys(&self, viewer: &Viewer) -> Result<Vec<ApiKeyView>> {
        let p = viewer.identity()?;
        Ok(api_key::Entity::find()
            .filter(api_key::Column::IdentityId.eq(p.identity_id()))
            .order_by_asc(api_key::Column::Id)
            .all(self.store.conn())
            .await?
            .into_iter()
            .map(ApiKeyView::from)
            .collect())
    }

    /// Revokes one of the caller's API keys.
    pub async fn delete_api_key(&self, viewer: &Viewer, id: i64) -> Result<()> {
        let p = viewer.identity()?;
        viewer.require_full_credential("revoke API keys")?;
        let w = self.store.begin_write().await?;
        let res = api_key::Entity::delete_many()
            .filter(api_key::Column::Id.eq(id))
            .filter(api_key::Column::IdentityId.eq(p.identity_id()))
            .exec(&w.txn)
            .await?;
        if res.rows_affected == 0 {
            return Err(Error::not_found(format!("api key {id} not found")));
        }
        self.audit_identities(
            &w.txn,
            &[p.identity_id()],
            AuditRecord::new(0, "api_key.revoked", viewer)
                .target(Target::Other("api_key", id.to_string())),
        )
        .await?;
        w.commit().await?;
        self.access_changed().await;
        Ok(())
    }
}
