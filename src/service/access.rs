//! Who may do what: org roles, namespace permissions, and the open `default` org.
//!
//! Every service operation asks here before reading or writing. Something a
//! caller may not read answers 404 (so ids don't leak); something it may read
//! but not change answers 403.

use std::collections::{HashMap, HashSet};

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::Ats;
use super::tasks::DEFAULT_ORG;
use crate::actor::Actor;
use crate::entity::{org, org_member, permission, project};
use crate::error::{Error, Result};

/// Levels of access, from none to owner.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Access {
    /// Not visible.
    #[default]
    None,
    /// Read tasks.
    Read,
    /// Read and write tasks.
    Write,
    /// Manage members, invitations, permissions and projects; force any transition.
    Admin,
    /// Everything, including deleting the org and transferring ownership.
    Owner,
}

/// Org roles.
pub mod role {
    /// Everything.
    pub const OWNER: &str = "owner";
    /// Manage the org; force transitions.
    pub const ADMIN: &str = "admin";
    /// Read and write tasks.
    pub const MEMBER: &str = "member";
    /// Read only.
    pub const VIEWER: &str = "viewer";
    /// Every role, most powerful first.
    pub const ALL: [&str; 4] = [OWNER, ADMIN, MEMBER, VIEWER];
}

/// The access a role gives.
pub fn role_access(r: &str) -> Access {
    match r {
        role::OWNER => Access::Owner,
        role::ADMIN => Access::Admin,
        role::MEMBER => Access::Write,
        role::VIEWER => Access::Read,
        _ => Access::None,
    }
}

fn grant_access(a: &str) -> Access {
    match a {
        "rw" => Access::Write,
        "r" => Access::Read,
        _ => Access::None,
    }
}

/// An actor's standing in one org: its role and its namespace grants.
#[derive(Clone, Debug, Default)]
pub struct Standing {
    /// Access from the org role (or the open default org).
    pub base: Access,
    /// Grants by project slug (`*` for all).
    pub grants: HashMap<String, Access>,
}

impl Standing {
    /// Access to the project `slug`.
    pub fn project(&self, slug: &str) -> Access {
        let grant = self
            .grants
            .get(slug)
            .copied()
            .unwrap_or(Access::None)
            .max(self.grants.get("*").copied().unwrap_or(Access::None));
        self.base.max(grant)
    }

    /// Whether the org itself is visible (a role, a grant, or the default org).
    pub fn sees_org(&self) -> bool {
        self.base > Access::None || self.grants.values().any(|a| *a > Access::None)
    }
}

impl Ats {
    /// The actor's standing in `org`.
    pub(crate) async fn standing<C: ConnectionTrait>(
        &self,
        db: &C,
        actor: &Actor,
        org: &org::Model,
    ) -> Result<Standing> {
        let mut base = if org.slug == DEFAULT_ORG {
            Access::Write
        } else {
            Access::None
        };
        let member = org_member::Entity::find()
            .filter(org_member::Column::OrgId.eq(org.id))
            .filter(org_member::Column::ActorType.eq(actor.actor_type.as_str()))
            .filter(org_member::Column::ActorId.eq(actor.id.clone()))
            .one(db)
            .await?;
        if let Some(m) = member {
            base = base.max(role_access(&m.role));
        }
        let grants = permission::Entity::find()
            .filter(permission::Column::OrgId.eq(org.id))
            .filter(permission::Column::ActorType.eq(actor.actor_type.as_str()))
            .filter(permission::Column::ActorId.eq(actor.id.clone()))
            .all(db)
            .await?
            .into_iter()
            .fold(HashMap::new(), |mut acc: HashMap<String, Access>, p| {
                let a = grant_access(&p.access);
                let e = acc.entry(p.namespace).or_insert(Access::None);
                *e = (*e).max(a);
                acc
            });
        Ok(Standing { base, grants })
    }

    /// The org `slug` if the actor may see it (404 otherwise), with its standing.
    pub(crate) async fn visible_org<C: ConnectionTrait>(
        &self,
        db: &C,
        actor: &Actor,
        slug: &str,
    ) -> Result<(org::Model, Standing)> {
        let o = self.org_by_slug(db, slug).await?;
        let standing = self.standing(db, actor, &o).await?;
        if !standing.sees_org() {
            return Err(Error::not_found(format!("organization '{slug}' not found")));
        }
        Ok((o, standing))
    }

    /// Requires at least `need` on the org (already visible), else 403.
    pub(crate) fn require_org(&self, standing: &Standing, need: Access, what: &str) -> Result<()> {
        if standing.base >= need {
            Ok(())
        } else {
            Err(Error::forbidden(format!(
                "you may not {what} in this organization"
            )))
        }
    }

    /// The actor's access to a project (`None` means invisible).
    pub(crate) async fn project_access<C: ConnectionTrait>(
        &self,
        db: &C,
        actor: &Actor,
        org: &org::Model,
        project: &project::Model,
    ) -> Result<Access> {
        Ok(self.standing(db, actor, org).await?.project(&project.slug))
    }

    /// Every project id the actor may read.
    pub(crate) async fn readable_project_ids<C: ConnectionTrait>(
        &self,
        db: &C,
        actor: &Actor,
    ) -> Result<HashSet<i32>> {
        self.project_ids_with(db, actor, Access::Read).await
    }

    /// Every project id the actor may read (for adapters).
    pub async fn readable_projects(&self, actor: &Actor) -> Result<HashSet<i32>> {
        self.readable_project_ids(self.store.conn(), actor).await
    }

    /// Every project id on which the actor has at least `need`.
    pub(crate) async fn project_ids_with<C: ConnectionTrait>(
        &self,
        db: &C,
        actor: &Actor,
        need: Access,
    ) -> Result<HashSet<i32>> {
        let orgs = org::Entity::find().all(db).await?;
        let memberships: HashMap<i32, String> = org_member::Entity::find()
            .filter(org_member::Column::ActorType.eq(actor.actor_type.as_str()))
            .filter(org_member::Column::ActorId.eq(actor.id.clone()))
            .all(db)
            .await?
            .into_iter()
            .map(|m| (m.org_id, m.role))
            .collect();
        let grants = permission::Entity::find()
            .filter(permission::Column::ActorType.eq(actor.actor_type.as_str()))
            .filter(permission::Column::ActorId.eq(actor.id.clone()))
            .all(db)
            .await?;
        let mut whole_orgs: HashSet<i32> = orgs
            .iter()
            .filter(|o| {
                o.slug == DEFAULT_ORG
                    || memberships
                        .get(&o.id)
                        .is_some_and(|r| role_access(r) >= need)
            })
            .map(|o| o.id)
            .collect();
        let mut named: HashSet<(i32, String)> = HashSet::new();
        for g in grants.iter().filter(|g| grant_access(&g.access) >= need) {
            if g.namespace == "*" {
                whole_orgs.insert(g.org_id);
            } else {
                named.insert((g.org_id, g.namespace.clone()));
            }
        }
        let projects = project::Entity::find().all(db).await?;
        Ok(projects
            .into_iter()
            .filter(|p| {
                whole_orgs.contains(&p.org_id) || named.contains(&(p.org_id, p.slug.clone()))
            })
            .map(|p| p.id)
            .collect())
    }
}
