//! Organizations.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
};
use serde::Deserialize;

use super::access::Access;
use super::audit::{AuditRecord, Target};
use super::tasks::DEFAULT_ORG;
use super::viewer::Viewer;
use super::views::OrgView;
use super::{Ats, validate};
use crate::actor::Actor;
use crate::entity::{event, org, org_member, permission, project};
use crate::error::{Error, Result};
use crate::time;

/// Fields of a new organization.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct NewOrg {
    /// Required: 1 to 63 lowercase letters, digits or dashes, starting with
    /// a letter or digit.
    #[schema(required = true, value_type = String, min_length = 1, max_length = 63, pattern = "^[a-z0-9][a-z0-9-]{0,62}$")]
    pub slug: Option<String>,
    /// 1 to 200 characters, not blank (default: the slug).
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: Option<String>,
    /// At most 64 KiB (UTF-8); blank means none.
    #[schema(max_length = 65536)]
    pub description: Option<String>,
}

/// Fields an organization update may change.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct OrgPatch {
    /// A new slug: 1 to 63 lowercase letters, digits or dashes, starting
    /// with a letter or digit.
    #[schema(min_length = 1, max_length = 63, pattern = "^[a-z0-9][a-z0-9-]{0,62}$")]
    pub slug: Option<String>,
    /// 1 to 200 characters, not blank.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: Option<String>,
    /// At most 64 KiB (UTF-8).
    #[schema(max_length = 65536)]
    pub description: Option<String>,
}

impl Ats {
    pub(crate) async fn org_by_slug<C: sea_orm::ConnectionTrait>(
        &self,
        db: &C,
        slug: &str,
    ) -> Result<org::Model> {
        org::Entity::find()
            .filter(org::Column::Slug.eq(slug))
            .one(db)
            .await?
            .ok_or_else(|| Error::not_found(format!("organization '{slug}' not found")))
    }

    async fn role_in(&self, org_id: i32, actor: &Actor) -> Result<Option<String>> {
        Ok(org_member::Entity::find()
            .filter(org_member::Column::OrgId.eq(org_id))
            .filter(org_member::Column::ActorType.eq(actor.actor_type.as_str()))
            .filter(org_member::Column::ActorId.eq(actor.id.clone()))
            .one(self.store.conn())
            .await?
            .map(|m| m.role))
    }

    /// Every organization, with the caller's role in each.
    pub async fn list_orgs(&self, viewer: &Viewer) -> Result<Vec<OrgView>> {
        let rights = self.rights(viewer).await?;
        let actor = rights.actor();
        let db = self.store.conn();
        let orgs = org::Entity::find()
            .order_by_asc(org::Column::Slug)
            .all(db)
            .await?;
        let roles: std::collections::HashMap<i32, String> = org_member::Entity::find()
            .filter(org_member::Column::ActorType.eq(actor.actor_type.as_str()))
            .filter(org_member::Column::ActorId.eq(actor.id.clone()))
            .all(db)
            .await?
            .into_iter()
            .map(|m| (m.org_id, m.role))
            .collect();
        let granted: std::collections::HashSet<i32> = permission::Entity::find()
            .filter(permission::Column::ActorType.eq(actor.actor_type.as_str()))
            .filter(permission::Column::ActorId.eq(actor.id.clone()))
            .all(db)
            .await?
            .into_iter()
            .map(|p| p.org_id)
            .collect();
        Ok(orgs
            .into_iter()
            .filter(|o| {
                o.slug == DEFAULT_ORG || roles.contains_key(&o.id) || granted.contains(&o.id)
            })
            // What the credential may open: a key limited to some projects
            // sees only their orgs (neither `default` nor the identity's
            // other orgs, which answer 404 to it).
            .filter(|o| rights.org(o.id).sees_org())
            .map(|o| {
                let role = roles.get(&o.id).cloned();
                OrgView::new(o, role)
            })
            .collect())
    }

    /// One organization.
    pub async fn get_org(&self, viewer: &Viewer, slug: &str) -> Result<OrgView> {
        let rights = self.rights(viewer).await?;
        let actor = rights.actor();
        let (o, _) = self.visible_org(self.store.conn(), &rights, slug).await?;
        let role = self.role_in(o.id, actor).await?;
        Ok(OrgView::new(o, role))
    }

    /// Creates an organization; its creator becomes its owner.
    pub async fn create_org(&self, viewer: &Viewer, input: NewOrg) -> Result<OrgView> {
        viewer.require_full_credential("create organizations")?;
        let rights = self.rights(viewer).await?;
        let actor = rights.actor();
        let slug = validate::slug(
            "slug",
            input
                .slug
                .as_deref()
                .ok_or_else(|| Error::validation("slug is required"))?,
        )?;
        let name = validate::name("name", input.name.as_deref().unwrap_or(&slug))?;
        let description = validate::description(input.description)?;
        let w = self.store.begin_write().await?;
        if org::Entity::find()
            .filter(org::Column::Slug.eq(slug.clone()))
            .one(&w.txn)
            .await?
            .is_some()
        {
            return Err(Error::conflict(format!(
                "organization '{slug}' already exists"
            )));
        }
        let now = time::now();
        let o = org::ActiveModel {
            slug: Set(slug),
            name: Set(name),
            description: Set(description),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&w.txn)
        .await?;
        org_member::ActiveModel {
            org_id: Set(o.id),
            actor_type: Set(actor.actor_type.as_str().to_owned()),
            actor_id: Set(actor.id.clone()),
            role: Set("owner".to_owned()),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(&w.txn)
        .await?;
        self.audit(
            &w.txn,
            AuditRecord::new(o.id, "org.created", viewer)
                .target(Target::Other("org", o.slug.clone()))
                .data(serde_json::json!({ "name": o.name })),
        )
        .await?;
        w.commit().await?;
        self.access_changed().await;
        Ok(OrgView::new(o, Some("owner".to_owned())))
    }

    /// Renames or redescribes an organization.
    pub async fn update_org(
        &self,
        viewer: &Viewer,
        slug: &str,
        patch: OrgPatch,
    ) -> Result<OrgView> {
        let rights = self.rights(viewer).await?;
        let actor = rights.actor();
        let new_slug = patch
            .slug
            .as_deref()
            .map(|s| validate::slug("slug", s))
            .transpose()?;
        let name = patch
            .name
            .as_deref()
            .map(|n| validate::name("name", n))
            .transpose()?;
        let description = validate::description(patch.description)?;
        let w = self.store.begin_write().await?;
        let (o, standing) = self.visible_org(&w.txn, &rights, slug).await?;
        self.require_org(&standing, Access::Admin, "change the organization")?;
        let mut active = o.clone().into_active_model();
        if let Some(new_slug) = new_slug.filter(|s| s != &o.slug) {
            if o.slug == DEFAULT_ORG {
                return Err(Error::conflict(
                    "the default organization cannot be renamed",
                ));
            }
            if org::Entity::find()
                .filter(org::Column::Slug.eq(new_slug.clone()))
                .one(&w.txn)
                .await?
                .is_some()
            {
                return Err(Error::conflict(format!(
                    "organization '{new_slug}' already exists"
                )));
            }
            active.slug = Set(new_slug);
        }
        if let Some(name) = name {
            active.name = Set(name);
        }
        if description.is_some() {
            active.description = Set(description);
        }
        active.updated_at = Set(time::now());
        let old_slug = o.slug.clone();
        let o = active.update(&w.txn).await?;
        self.audit(
            &w.txn,
            AuditRecord::new(o.id, "org.updated", viewer)
                .target(Target::Other("org", o.slug.clone()))
                .data(serde_json::json!({ "slug": { "from": old_slug, "to": o.slug }, "name": o.name })),
        )
        .await?;
        w.commit().await?;
        self.access_changed().await;
        let role = self.role_in(o.id, actor).await?;
        Ok(OrgView::new(o, role))
    }

    /// Deletes an organization with its projects, tasks and history.
    pub async fn delete_org(&self, viewer: &Viewer, slug: &str) -> Result<()> {
        let rights = self.rights(viewer).await?;
        let w = self.store.begin_write().await?;
        let (o, standing) = self.visible_org(&w.txn, &rights, slug).await?;
        if o.slug == DEFAULT_ORG {
            return Err(Error::conflict(
                "the default organization cannot be deleted",
            ));
        }
        self.require_org(&standing, Access::Owner, "delete the organization")?;
        // Recorded first (its deliveries go with the org's webhooks); the
        // record itself outlives the org.
        self.audit(
            &w.txn,
            AuditRecord::new(o.id, "org.deleted", viewer)
                .target(Target::Other("org", o.slug.clone())),
        )
        .await?;
        event::Entity::delete_many()
            .filter(event::Column::OrgId.eq(o.id))
            .exec(&w.txn)
            .await?;
        project::Entity::delete_many()
            .filter(project::Column::OrgId.eq(o.id))
            .exec(&w.txn)
            .await?;
        org::Entity::delete_by_id(o.id).exec(&w.txn).await?;
        w.commit().await?;
        self.access_changed().await;
        Ok(())
    }
}

impl Ats {
    /// Deletes every record and restores `default/main` (test environments only;
    /// the REST route checks `ATS_ENV=test`).
    pub async fn reset_all(&self) -> Result<()> {
        use crate::entity::{
            api_key, guardian_link, guardianship, identity, invitation, message, task,
        };
        let w = self.store.begin_write().await?;
        event::Entity::delete_many().exec(&w.txn).await?;
        crate::entity::audit_entry::Entity::delete_many()
            .exec(&w.txn)
            .await?;
        message::Entity::delete_many().exec(&w.txn).await?;
        task::Entity::delete_many().exec(&w.txn).await?;
        permission::Entity::delete_many().exec(&w.txn).await?;
        invitation::Entity::delete_many().exec(&w.txn).await?;
        org_member::Entity::delete_many().exec(&w.txn).await?;
        guardianship::Entity::delete_many().exec(&w.txn).await?;
        guardian_link::Entity::delete_many().exec(&w.txn).await?;
        api_key::Entity::delete_many().exec(&w.txn).await?;
        identity::Entity::delete_many().exec(&w.txn).await?;
        project::Entity::delete_many()
            .filter(project::Column::Slug.ne(super::tasks::DEFAULT_PROJECT))
            .exec(&w.txn)
            .await?;
        org::Entity::delete_many()
            .filter(org::Column::Slug.ne(DEFAULT_ORG))
            .exec(&w.txn)
            .await?;
        w.commit().await?;
        self.access_changed().await;
        Ok(())
    }
}
