//! The caller as the service sees it: a [`Viewer`], handed out only by
//! [`Ats::viewer`], and the [`Rights`] it carries.
//!
//! Every read and write of tenant data takes a `Viewer`, and a `Viewer` can
//! only be made from a checked [`Caller`], so a query that forgets whose
//! rights it runs under cannot be written:
//!
//! ```compile_fail
//! // A Viewer has private fields and no public constructor.
//! let v = ats::service::Viewer { actor: ats::actor::Actor::anonymous() };
//! ```
//!
//! ```compile_fail
//! // Task reads take a Viewer, not an actor.
//! async fn read(ats: &ats::service::Ats) {
//!     let _ = ats.get_task(&ats::actor::Actor::anonymous(), &ats::service::Scope::Any, 1).await;
//! }
//! ```
//!
//! The rights (which orgs and projects the caller may read, write or manage)
//! are read from the access tables once, on first use, and kept until an
//! access change anywhere (a member added or removed, a grant, a project, a
//! revoked key — announced across replicas) makes them stale; then the next
//! use reads them again. Long-lived subscriptions hold their `Viewer`, so a
//! revocation reaches them too.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::Ats;
use super::access::{Access, Standing, grant_access, role_access};
use super::identities::Principal;
use super::sessions::KeyScope;
use super::tasks::DEFAULT_ORG;
use super::views::Location;
use crate::actor::Actor;
use crate::auth::AuthMode;
use crate::auth::caller::Caller;
use crate::entity::{api_key, identity, org, org_member, permission, project, revoked_token};
use crate::error::{Error, Result};
use crate::time;

/// Who is calling, with the credential that proved it. Cheap to clone.
#[derive(Clone)]
pub struct Viewer {
    inner: Arc<Inner>,
}

struct Inner {
    actor: Actor,
    principal: Option<Principal>,
    credential: Credential,
    rights: Mutex<Option<Arc<Rights>>>,
    /// The request's id and client address, for the audit log.
    origin: std::sync::OnceLock<(Option<String>, Option<String>)>,
}

/// What proved the caller's identity, re-checked when access changes.
#[derive(Clone, Debug)]
pub(crate) enum Credential {
    /// Open mode without credentials: the actor is whoever the request named.
    None,
    /// An API key (by row id), with its expiry and what it is limited to.
    ApiKey {
        id: i64,
        expires: Option<DateTime<Utc>>,
        scope: KeyScope,
    },
    /// A login token, valid until `expires` unless logged out (`jti`) or
    /// its identity's token epoch moves past `epoch`.
    Jwt {
        expires: DateTime<Utc>,
        jti: String,
        epoch: i32,
    },
}

impl std::fmt::Debug for Viewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Viewer")
            .field("actor", &self.inner.actor.label())
            .finish_non_exhaustive()
    }
}

impl Viewer {
    pub(crate) fn new(actor: Actor, principal: Option<Principal>, credential: Credential) -> Self {
        Self {
            inner: Arc::new(Inner {
                actor,
                principal,
                credential,
                rights: Mutex::new(None),
                origin: std::sync::OnceLock::new(),
            }),
        }
    }

    /// The acting actor.
    pub fn actor(&self) -> &Actor {
        &self.inner.actor
    }

    /// Records where the request came from (its id and client address),
    /// which audit records carry; the first call wins.
    pub fn set_origin(&self, request_id: Option<String>, client_ip: Option<String>) {
        let _ = self.inner.origin.set((request_id, client_ip));
    }

    /// The request's id and client address, when the adapter told them.
    pub(crate) fn request_origin(&self) -> (Option<String>, Option<String>) {
        self.inner.origin.get().cloned().unwrap_or_default()
    }

    /// The registered identity behind the request, if credentials were sent.
    pub fn principal(&self) -> Option<&Principal> {
        self.inner.principal.as_ref()
    }

    /// Equal for two viewers that see and may do exactly the same: the same
    /// actor proved by the same credential (one API key, one login). Shared
    /// subscriptions are grouped by it.
    pub fn sharing_key(&self) -> String {
        let a = &self.inner.actor;
        let credential = match &self.inner.credential {
            Credential::None => "none".to_owned(),
            Credential::ApiKey { id, .. } => format!("key:{id}"),
            Credential::Jwt { jti, .. } => format!("jwt:{jti}"),
        };
        format!(
            "{credential}\u{0}{}\u{0}{}\u{0}{}",
            a.actor_type.as_str(),
            a.id,
            a.name.as_deref().unwrap_or("")
        )
    }

    /// What proved the caller's identity.
    pub(crate) fn credential(&self) -> &Credential {
        &self.inner.credential
    }

    /// 403 for a limited API key (read-only, or to named projects): it may
    /// not manage credentials or mint broader ones.
    pub(crate) fn require_full_credential(&self, what: &str) -> Result<()> {
        match &self.inner.credential {
            Credential::ApiKey { scope, .. } if !scope.is_full() => Err(Error::forbidden(format!(
                "this API key is limited ({}): it may not {what}",
                scope.describe()
            ))),
            _ => Ok(()),
        }
    }

    /// The identity, or 401 for a caller without credentials.
    pub(crate) fn identity(&self) -> Result<&Principal> {
        self.principal().ok_or_else(Error::credentials_required)
    }

    fn cached(&self, epoch: u64) -> Option<Arc<Rights>> {
        let guard = self.inner.rights.lock().unwrap_or_else(|p| p.into_inner());
        guard.as_ref().filter(|r| r.epoch == epoch).cloned()
    }

    fn store(&self, rights: Arc<Rights>) {
        *self.inner.rights.lock().unwrap_or_else(|p| p.into_inner()) = Some(rights);
    }
}

/// Rights by actor (type, id and the name it gives, which the rights carry as
/// the acting actor), shared by the requests of this process: any access
/// change (announced in-process and by `NOTIFY` from other replicas) makes
/// every entry stale at once, so an entry is never older than the last
/// change this replica has heard of.
#[derive(Default)]
pub(crate) struct RightsCache {
    entries: Mutex<HashMap<Actor, Arc<Rights>>>,
}

/// The most actors whose rights are kept; past it the cache starts over.
const RIGHTS_CACHE_ENTRIES: usize = 10_000;

impl RightsCache {
    fn get(&self, actor: &Actor, epoch: u64) -> Option<Arc<Rights>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.get(actor).filter(|r| r.epoch == epoch).cloned()
    }

    fn put(&self, rights: Arc<Rights>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= RIGHTS_CACHE_ENTRIES {
            entries.clear();
        }
        entries.insert(rights.actor.clone(), rights);
    }
}

/// What a viewer may do, read from the access tables at one moment.
#[derive(Debug)]
pub struct Rights {
    epoch: u64,
    actor: Actor,
    orgs: HashMap<i32, Standing>,
    /// Access by project id, with where the project is.
    projects: HashMap<i32, (Location, Access)>,
    /// Per-task rights granted outside the project roles (room for escalations).
    tasks: HashMap<i64, Access>,
}

impl Rights {
    /// The acting actor.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The viewer's standing in the org `org_id` (none when invisible).
    pub(crate) fn org(&self, org_id: i32) -> Standing {
        self.orgs.get(&org_id).cloned().unwrap_or_default()
    }

    /// The viewer's access to the project `project_id`.
    pub fn project(&self, project_id: i32) -> Access {
        self.projects
            .get(&project_id)
            .map_or(Access::None, |(_, a)| *a)
    }

    /// The org of a project the viewer may see.
    pub fn org_of(&self, project_id: i32) -> Option<i32> {
        self.projects.get(&project_id).map(|(loc, _)| loc.org_id)
    }

    /// Where a project the viewer may see is (org and project slugs).
    pub fn location(&self, project_id: i32) -> Option<&Location> {
        self.projects.get(&project_id).map(|(loc, _)| loc)
    }

    /// Whether an overdue task `task_id` escalated to the viewer: it may read
    /// it and cancel, release or complete it whatever its project role.
    pub fn escalated(&self, task_id: i64) -> bool {
        self.tasks.contains_key(&task_id)
    }

    /// The tasks escalated to the viewer (see [`Rights::escalated`]), in id order.
    pub fn escalated_tasks(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self.tasks.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// The viewer's access to one task of the project `project_id`.
    pub fn task(&self, task_id: i64, project_id: i32) -> Access {
        self.project(project_id)
            .max(self.tasks.get(&task_id).copied().unwrap_or(Access::None))
    }

    /// Every project on which the viewer has at least `need`.
    pub fn projects_with(&self, need: Access) -> Vec<i32> {
        let mut ids: Vec<i32> = self
            .projects
            .iter()
            .filter(|(_, (_, a))| *a >= need)
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// The id of the project `org/project` if the viewer may write its
    /// tasks: 404 when it may not see it, 403 when it may only read.
    pub fn writable_project(&self, org: &str, project: &str) -> Result<i32> {
        let found = self
            .projects
            .iter()
            .find(|(_, (loc, _))| loc.org == org && loc.project == project);
        match found {
            None => Err(Error::not_found(format!(
                "project '{org}/{project}' not found"
            ))),
            Some((_, (_, access))) if *access < Access::Write => Err(Error::forbidden(format!(
                "you may read but not change the tasks of {org}/{project}"
            ))),
            Some((id, _)) => Ok(*id),
        }
    }

    /// Every project of the org `org_id` the viewer may read.
    pub fn readable_in_org(&self, org_id: i32) -> Vec<i32> {
        let mut ids: Vec<i32> = self
            .projects
            .iter()
            .filter(|(_, (loc, a))| loc.org_id == org_id && *a >= Access::Read)
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Every project the viewer may read.
    pub fn readable(&self) -> Vec<i32> {
        self.projects_with(Access::Read)
    }

    /// These rights as a limited API key holds them: only the named
    /// projects (and their orgs, without managing them), at most reading
    /// for a read-only key, never more than writing tasks.
    fn limited_to(&self, scope: &KeyScope) -> Rights {
        let cap = if scope.read_only {
            Access::Read
        } else {
            Access::Write
        };
        let named = |loc: &Location| {
            scope.projects.as_ref().is_none_or(|names| {
                names
                    .iter()
                    .any(|n| n.split_once('/') == Some((loc.org.as_str(), loc.project.as_str())))
            })
        };
        let projects: HashMap<i32, (Location, Access)> = self
            .projects
            .iter()
            .filter(|(_, (loc, _))| named(loc))
            .map(|(id, (loc, a))| (*id, (loc.clone(), (*a).min(cap))))
            .collect();
        let orgs = self
            .orgs
            .iter()
            .filter(|(org_id, _)| {
                scope.projects.is_none() || projects.values().any(|(loc, _)| loc.org_id == **org_id)
            })
            .map(|(org_id, s)| {
                let standing = match scope.projects {
                    None => Standing {
                        base: s.base.min(cap),
                        grants: s
                            .grants
                            .iter()
                            .map(|(k, a)| (k.clone(), (*a).min(cap)))
                            .collect(),
                    },
                    // Only the named projects, as grants: the org's other
                    // projects stay out of sight.
                    Some(_) => Standing {
                        base: Access::None,
                        grants: projects
                            .values()
                            .filter(|(loc, _)| loc.org_id == *org_id)
                            .map(|(loc, a)| (loc.project.clone(), *a))
                            .collect(),
                    },
                };
                (*org_id, standing)
            })
            .collect();
        Rights {
            epoch: self.epoch,
            actor: self.actor.clone(),
            orgs,
            projects,
            // A limited key carries no escalation rights.
            tasks: HashMap::new(),
        }
    }

    /// Whether the viewer may read the project `project_id`.
    pub fn can_read(&self, project_id: i32) -> bool {
        self.project(project_id) >= Access::Read
    }
}

impl Ats {
    /// The viewer of a request: its credentials checked, or in open mode the
    /// actor it names; 401 in required mode without credentials.
    pub async fn viewer(&self, caller: &Caller) -> Result<Viewer> {
        match caller {
            Caller::Bearer(token) => {
                let (principal, credential) = self.authenticate_credential(token).await?;
                Ok(Viewer::new(
                    principal.actor().clone(),
                    Some(principal),
                    credential,
                ))
            }
            Caller::Named(_) if self.auth_mode() == AuthMode::Required => {
                Err(Error::credentials_required())
            }
            Caller::Named(actor) => Ok(Viewer::new(actor.clone(), None, Credential::None)),
        }
    }

    /// Announces, after the change has committed, that access changed: every
    /// cached right in this process and (by `NOTIFY`) on every other replica
    /// is read again before its next use, and open subscriptions re-check
    /// their credentials.
    pub(crate) async fn access_changed(&self) {
        self.bus.bump_access();
        if self.store.backend() == sea_orm::DbBackend::Postgres {
            let notify = sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "SELECT pg_notify($1, '')",
                [crate::events::ACCESS_CHANNEL.into()],
            );
            if let Err(err) = sea_orm::ConnectionTrait::execute_raw(self.store.conn(), notify).await
            {
                tracing::warn!(error = %err, "could not announce an access change to other replicas");
            }
        }
    }

    /// The viewer's rights, read once and reused — by this request and by
    /// later requests of the same actor — until an access change.
    pub async fn rights(&self, viewer: &Viewer) -> Result<Arc<Rights>> {
        self.rights_read(viewer, false).await
    }

    /// The viewer's rights read again from the access tables now, whatever
    /// is cached (and then cached in their place): for a change committed
    /// by another replica whose announcement may not have arrived yet.
    pub(crate) async fn fresh_rights(&self, viewer: &Viewer) -> Result<Arc<Rights>> {
        self.rights_read(viewer, true).await
    }

    async fn rights_read(&self, viewer: &Viewer, fresh: bool) -> Result<Arc<Rights>> {
        let epoch = self.bus.access_epoch();
        if !fresh && let Some(r) = viewer.cached(epoch) {
            return Ok(r);
        }
        let cached = if fresh {
            None
        } else {
            self.rights.get(viewer.actor(), epoch)
        };
        let mut rights = match cached {
            Some(r) => r,
            None => {
                let r = Arc::new(self.read_rights(viewer.actor(), epoch).await?);
                self.rights.put(r.clone());
                r
            }
        };
        if let Credential::ApiKey { scope, .. } = &viewer.inner.credential
            && !scope.is_full()
        {
            rights = Arc::new(rights.limited_to(scope));
        }
        viewer.store(rights.clone());
        Ok(rights)
    }

    /// Checks that the credential behind `viewer` still holds (the key exists
    /// and has not expired, the token has not expired, the identity exists).
    pub async fn revalidate(&self, viewer: &Viewer) -> Result<()> {
        let revoked = |why: &str| Err(Error::Unauthenticated(why.to_owned()));
        let Some(p) = viewer.principal() else {
            return Ok(());
        };
        let db = self.store.conn();
        match &viewer.inner.credential {
            Credential::None => {}
            Credential::ApiKey { id, .. } => {
                let key = api_key::Entity::find_by_id(*id).one(db).await?;
                match key {
                    None => return revoked("the API key was revoked"),
                    Some(k) if k.expires_at.is_some_and(|e| e <= time::now()) => {
                        return revoked("the API key expired");
                    }
                    Some(_) => {}
                }
            }
            Credential::Jwt { expires, jti, .. } => {
                if *expires <= time::now() {
                    return revoked("the token expired");
                }
                if revoked_token::Entity::find_by_id(jti.clone())
                    .one(db)
                    .await?
                    .is_some()
                {
                    return revoked("the session was logged out");
                }
            }
        }
        let Some(i) = identity::Entity::find_by_id(p.identity_id())
            .one(db)
            .await?
        else {
            return revoked("the identity no longer exists");
        };
        if let Credential::Jwt { epoch, .. } = &viewer.inner.credential
            && *epoch != i.token_epoch
        {
            return revoked("the password changed: sign in again");
        }
        Ok(())
    }

    /// Resolves, with the reason, when the credential behind `viewer` stops
    /// holding: its key revoked or expired, its token expired, its identity
    /// gone. Checked at every access change announced by any replica and at
    /// the token's expiry; never resolves for a viewer without credentials.
    /// Long-lived sockets wait on this to close themselves.
    pub async fn credential_revoked(&self, viewer: &Viewer) -> Error {
        if viewer.principal().is_none() {
            return std::future::pending().await;
        }
        let mut changes = self.bus.access_changes();
        loop {
            // Boxed: the check (database reads) is allocated while it runs,
            // not kept inside every idle socket's state.
            if let Err(e @ Error::Unauthenticated(_)) = Box::pin(self.revalidate(viewer)).await {
                return e;
            }
            let expiry = match &viewer.inner.credential {
                Credential::Jwt { expires, .. } => (*expires - time::now())
                    .to_std()
                    .unwrap_or_default()
                    .max(std::time::Duration::from_millis(10)),
                _ => std::time::Duration::MAX,
            };
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        return std::future::pending().await;
                    }
                }
                _ = tokio::time::sleep(expiry.min(std::time::Duration::from_secs(86_400))) => {}
            }
        }
    }

    /// Reads an actor's rights: its memberships, its grants, the orgs they
    /// name (and `default`), and those orgs' projects — one statement each.
    async fn read_rights(&self, actor: &Actor, epoch: u64) -> Result<Rights> {
        let db = self.store.conn();
        let memberships = org_member::Entity::find()
            .filter(org_member::Column::ActorType.eq(actor.actor_type.as_str()))
            .filter(org_member::Column::ActorId.eq(actor.id.clone()))
            .all(db)
            .await?;
        let grants = permission::Entity::find()
            .filter(permission::Column::ActorType.eq(actor.actor_type.as_str()))
            .filter(permission::Column::ActorId.eq(actor.id.clone()))
            .all(db)
            .await?;
        let named: HashSet<i32> = memberships
            .iter()
            .map(|m| m.org_id)
            .chain(grants.iter().map(|g| g.org_id))
            .collect();
        let orgs = org::Entity::find()
            .filter(
                sea_orm::Condition::any()
                    .add(org::Column::Slug.eq(DEFAULT_ORG))
                    .add(org::Column::Id.is_in(named)),
            )
            .all(db)
            .await?;
        let mut standings: HashMap<i32, Standing> = orgs
            .iter()
            .map(|o| {
                let base = if o.slug == DEFAULT_ORG {
                    Access::Write
                } else {
                    Access::None
                };
                (
                    o.id,
                    Standing {
                        base,
                        grants: HashMap::new(),
                    },
                )
            })
            .collect();
        for m in &memberships {
            if let Some(s) = standings.get_mut(&m.org_id) {
                s.base = s.base.max(role_access(&m.role));
            }
        }
        for g in grants {
            if let Some(s) = standings.get_mut(&g.org_id) {
                let e = s.grants.entry(g.namespace).or_insert(Access::None);
                *e = (*e).max(grant_access(&g.access));
            }
        }
        standings.retain(|_, s| s.sees_org());
        let org_rows: HashMap<i32, org::Model> = orgs.into_iter().map(|o| (o.id, o)).collect();
        let projects = project::Entity::find()
            .filter(project::Column::OrgId.is_in(standings.keys().copied().collect::<Vec<_>>()))
            .all(db)
            .await?
            .into_iter()
            .filter_map(|p| {
                let access = standings.get(&p.org_id)?.project(&p.slug);
                let loc = Location::of(org_rows.get(&p.org_id)?, &p);
                (access > Access::None).then_some((p.id, (loc, access)))
            })
            .collect();
        // Overdue tasks escalate to people (guardians, org admins): only a
        // human's rights read them, so an agent's request costs no statement more.
        let tasks = if actor.actor_type == crate::actor::ActorType::Human {
            crate::entity::escalation::Entity::find()
                .filter(crate::entity::escalation::Column::ActorType.eq(actor.actor_type.as_str()))
                .filter(crate::entity::escalation::Column::ActorId.eq(actor.id.clone()))
                .all(db)
                .await?
                .into_iter()
                .map(|e| (e.task_id, Access::Read))
                .collect()
        } else {
            HashMap::new()
        };
        Ok(Rights {
            epoch,
            actor: actor.clone(),
            orgs: standings,
            projects,
            tasks,
        })
    }
}
