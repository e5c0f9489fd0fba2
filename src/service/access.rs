//! Who may do what: org roles, namespace permissions, and the open `default` org.
//!
//! Every service operation asks here, with the caller's [`Rights`], before
//! reading or writing. Something a
//! caller may not read answers 404 (so ids don't leak); something it may read
//! but not change answers 403.

use std::collections::HashMap;

use sea_orm::ConnectionTrait;

use super::Ats;
use super::viewer::Rights;
use crate::entity::org;
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

pub(crate) fn grant_access(a: &str) -> Access {
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
    pub(crate) base: Access,
    /// Grants by project slug (`*` for all).
    pub(crate) grants: HashMap<String, Access>,
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
    /// The org `slug` if the viewer may see it (404 otherwise), with its standing.
    pub(crate) async fn visible_org<C: ConnectionTrait>(
        &self,
        db: &C,
        rights: &Rights,
        slug: &str,
    ) -> Result<(org::Model, Standing)> {
        let o = self.org_by_slug(db, slug).await?;
        let standing = rights.org(o.id);
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
}
