//! Projects inside organizations.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
};
use serde::Deserialize;

use super::access::Access;
use super::audit::{AuditRecord, Target};
use super::tasks::{DEFAULT_ORG, DEFAULT_PROJECT};
use super::viewer::Viewer;
use super::views::{ProjectCounts, ProjectView};
use super::{Ats, validate};
use crate::entity::task::TaskStatus;
use crate::entity::{event, project};
use crate::error::{Error, Result};
use crate::time;

/// Fields of a new project.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct NewProject {
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

/// Fields a project update may change.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ProjectPatch {
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
    /// The projects of an org, optionally with task counts (one grouped query).
    pub async fn list_projects(
        &self,
        viewer: &Viewer,
        org_slug: &str,
        counts: bool,
    ) -> Result<Vec<ProjectView>> {
        let rights = self.rights(viewer).await?;
        let db = self.store.conn();
        let (o, standing) = self.visible_org(db, &rights, org_slug).await?;
        let projects: Vec<project::Model> = project::Entity::find()
            .filter(project::Column::OrgId.eq(o.id))
            .order_by_asc(project::Column::Slug)
            .all(db)
            .await?
            .into_iter()
            .filter(|p| standing.project(&p.slug) >= Access::Read)
            .collect();
        let mut tallies = std::collections::HashMap::<i32, ProjectCounts>::new();
        if counts && !projects.is_empty() {
            let tally = self
                .tally(&super::counts::CountFilter {
                    projects: projects.iter().map(|p| p.id).collect(),
                    ..Default::default()
                })
                .await?;
            let rows = tally
                .by_project_status()
                .into_iter()
                .filter_map(|((p, s), n)| {
                    Some((p, super::lifecycle::parse_status(&s).ok()?, n as i64))
                });
            for (project_id, st, n) in rows {
                let c = tallies.entry(project_id).or_default();
                let n = u64::try_from(n).unwrap_or(0);
                c.total_count += n;
                match st {
                    TaskStatus::Pending => c.pending_count += n,
                    TaskStatus::InProgress => c.in_progress_count += n,
                    _ => {}
                }
            }
        }
        Ok(projects
            .into_iter()
            .map(|p| {
                let id = p.id;
                let mut view = ProjectView::new(p, &o.slug);
                if counts {
                    view.counts = Some(tallies.get(&id).copied().unwrap_or_default());
                }
                view
            })
            .collect())
    }

    /// One project.
    pub async fn get_project(
        &self,
        viewer: &Viewer,
        org_slug: &str,
        slug: &str,
    ) -> Result<ProjectView> {
        let rights = self.rights(viewer).await?;
        let (o, p, _) = self
            .visible_project(self.store.conn(), &rights, org_slug, slug, Access::Read)
            .await?;
        Ok(ProjectView::new(p, &o.slug))
    }

    /// Creates a project in an org.
    pub async fn create_project(
        &self,
        viewer: &Viewer,
        org_slug: &str,
        input: NewProject,
    ) -> Result<ProjectView> {
        let rights = self.rights(viewer).await?;
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
        let (o, standing) = self.visible_org(&w.txn, &rights, org_slug).await?;
        // Anyone may add projects to the open default org; elsewhere it takes an admin.
        let need = if o.slug == DEFAULT_ORG {
            Access::Write
        } else {
            Access::Admin
        };
        self.require_org(&standing, need, "create projects")?;
        let exists = project::Entity::find()
            .filter(project::Column::OrgId.eq(o.id))
            .filter(project::Column::Slug.eq(slug.clone()))
            .one(&w.txn)
            .await?;
        if exists.is_some() {
            return Err(Error::conflict(format!(
                "project '{org_slug}/{slug}' already exists"
            )));
        }
        let now = time::now();
        let p = project::ActiveModel {
            org_id: Set(o.id),
            slug: Set(slug),
            name: Set(name),
            description: Set(description),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&w.txn)
        .await?;
        self.audit(
            &w.txn,
            AuditRecord::new(o.id, "project.created", viewer)
                .target(Target::Other("project", p.slug.clone()))
                .data(serde_json::json!({ "name": p.name })),
        )
        .await?;
        w.commit().await?;
        self.access_changed().await;
        Ok(ProjectView::new(p, &o.slug))
    }

    /// Renames or redescribes a project.
    pub async fn update_project(
        &self,
        viewer: &Viewer,
        org_slug: &str,
        slug: &str,
        patch: ProjectPatch,
    ) -> Result<ProjectView> {
        let rights = self.rights(viewer).await?;
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
        let (o, p, _) = self
            .visible_project(&w.txn, &rights, org_slug, slug, Access::Read)
            .await?;
        self.require_org(&rights.org(o.id), Access::Admin, "change projects")?;
        let mut active = p.clone().into_active_model();
        if let Some(new_slug) = new_slug.filter(|s| s != &p.slug) {
            if o.slug == DEFAULT_ORG && p.slug == DEFAULT_PROJECT {
                return Err(Error::conflict("the default project cannot be renamed"));
            }
            let taken = project::Entity::find()
                .filter(project::Column::OrgId.eq(o.id))
                .filter(project::Column::Slug.eq(new_slug.clone()))
                .one(&w.txn)
                .await?;
            if taken.is_some() {
                return Err(Error::conflict(format!(
                    "project '{org_slug}/{new_slug}' already exists"
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
        let old_slug = p.slug.clone();
        let p = active.update(&w.txn).await?;
        self.audit(
            &w.txn,
            AuditRecord::new(o.id, "project.updated", viewer)
                .target(Target::Other("project", p.slug.clone()))
                .data(serde_json::json!({ "slug": { "from": old_slug, "to": p.slug }, "name": p.name })),
        )
        .await?;
        w.commit().await?;
        self.access_changed().await;
        Ok(ProjectView::new(p, &o.slug))
    }

    /// Deletes a project with its tasks and history.
    pub async fn delete_project(&self, viewer: &Viewer, org_slug: &str, slug: &str) -> Result<()> {
        let rights = self.rights(viewer).await?;
        let w = self.store.begin_write().await?;
        let (o, p, _) = self
            .visible_project(&w.txn, &rights, org_slug, slug, Access::Read)
            .await?;
        // Before the role check, as for the default org: no one may delete it.
        if o.slug == DEFAULT_ORG && p.slug == DEFAULT_PROJECT {
            return Err(Error::conflict("the default project cannot be deleted"));
        }
        self.require_org(&rights.org(o.id), Access::Admin, "delete projects")?;
        event::Entity::delete_many()
            .filter(event::Column::ProjectId.eq(p.id))
            .exec(&w.txn)
            .await?;
        project::Entity::delete_by_id(p.id).exec(&w.txn).await?;
        self.audit(
            &w.txn,
            AuditRecord::new(o.id, "project.deleted", viewer)
                .target(Target::Other("project", p.slug.clone())),
        )
        .await?;
        w.commit().await?;
        self.access_changed().await;
        Ok(())
    }
}

impl Ats {
    /// The id of `org/project`, 404 when unknown.
    pub async fn project_id(&self, viewer: &Viewer, org_slug: &str, slug: &str) -> Result<i32> {
        let rights = self.rights(viewer).await?;
        Ok(self
            .visible_project(self.store.conn(), &rights, org_slug, slug, Access::Read)
            .await?
            .1
            .id)
    }
}
