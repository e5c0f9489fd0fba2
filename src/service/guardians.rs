//! Guardians: a human who vouches for an agent and may issue it API keys.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, Set};
use serde::Serialize;
use utoipa::ToSchema;

use super::Ats;
use super::Viewer;
use super::audit::{AuditRecord, Target};
use super::identities::{ApiKeyView, NewApiKey, PublicIdentityView};
use crate::actor::ActorType;
use crate::auth::token;
use crate::entity::{api_key, guardian_link, guardianship, identity};
use crate::error::{Error, Result};
use crate::time::{self, rfc3339};

/// How long a guardian link token is valid.
pub const LINK_TTL: Duration = Duration::hours(24);

/// A guardian relation.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct GuardianshipView {
    pub id: i64,
    pub guardian: PublicIdentityView,
    pub agent: PublicIdentityView,
    #[serde(with = "rfc3339")]
    pub created_at: DateTime<Utc>,
}

/// A new guardian link token (shown once).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct GuardianLink {
    pub token: String,
    #[serde(with = "rfc3339")]
    pub expires_at: DateTime<Utc>,
}

impl Ats {
    async fn view_of(&self, g: guardianship::Model) -> Result<GuardianshipView> {
        let db = self.store.conn();
        let guardian = identity::Entity::find_by_id(g.guardian_identity_id)
            .one(db)
            .await?;
        let agent = identity::Entity::find_by_id(g.agent_identity_id)
            .one(db)
            .await?;
        match (guardian, agent) {
            (Some(guardian), Some(agent)) => Ok(GuardianshipView {
                id: g.id,
                guardian: guardian.into(),
                agent: agent.into(),
                created_at: g.created_at,
            }),
            _ => Err(Error::Internal(format!(
                "guardianship {} lost an identity",
                g.id
            ))),
        }
    }

    /// An agent asks for a link token to hand to a human (valid 24 h).
    pub async fn guardian_link(&self, viewer: &Viewer) -> Result<GuardianLink> {
        viewer.require_full_credential("manage guardians")?;
        let p = viewer.identity()?;
        if p.actor().actor_type != ActorType::Agent {
            return Err(Error::forbidden("only agents create guardian links"));
        }
        let secret = token::generate("atsg_");
        let now = time::now();
        let expires_at = now + LINK_TTL;
        guardian_link::ActiveModel {
            agent_identity_id: Set(p.identity_id()),
            token_hash: Set(token::digest(&secret)),
            created_at: Set(now),
            expires_at: Set(expires_at),
            used_at: Set(None),
            ..Default::default()
        }
        .insert(self.store.conn())
        .await?;
        Ok(GuardianLink {
            token: secret,
            expires_at,
        })
    }

    /// A human confirms a link token and becomes the agent's guardian.
    pub async fn confirm_guardian(
        &self,
        viewer: &Viewer,
        secret: &str,
    ) -> Result<GuardianshipView> {
        viewer.require_full_credential("manage guardians")?;
        let p = viewer.identity()?;
        if p.actor().actor_type != ActorType::Human {
            return Err(Error::forbidden("only humans can become guardians"));
        }
        let w = self.store.begin_write().await?;
        let now = time::now();
        let link = guardian_link::Entity::find()
            .filter(guardian_link::Column::TokenHash.eq(token::digest(secret)))
            .one(&w.txn)
            .await?
            .filter(|l| l.used_at.is_none() && l.expires_at > now)
            .ok_or_else(|| Error::not_found("guardian link not found, used or expired"))?;
        let used = guardian_link::Entity::update_many()
            .col_expr(
                guardian_link::Column::UsedAt,
                sea_orm::sea_query::Expr::value(now),
            )
            .filter(guardian_link::Column::Id.eq(link.id))
            .filter(guardian_link::Column::UsedAt.is_null())
            .exec(&w.txn)
            .await?;
        if used.rows_affected != 1 {
            return Err(Error::conflict("this guardian link was just used"));
        }
        let exists = guardianship::Entity::find()
            .filter(guardianship::Column::GuardianIdentityId.eq(p.identity_id()))
            .filter(guardianship::Column::AgentIdentityId.eq(link.agent_identity_id))
            .one(&w.txn)
            .await?;
        if exists.is_some() {
            return Err(Error::conflict("you are already this agent's guardian"));
        }
        let g = guardianship::ActiveModel {
            guardian_identity_id: Set(p.identity_id()),
            agent_identity_id: Set(link.agent_identity_id),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(&w.txn)
        .await?;
        self.audit_identities(
            &w.txn,
            &[g.guardian_identity_id, g.agent_identity_id],
            AuditRecord::new(0, "guardian.linked", viewer)
                .target(Target::Other("guardianship", g.id.to_string())),
        )
        .await?;
        w.commit().await?;
        self.view_of(g).await
    }

    /// The caller's guardians and the agents it guards.
    pub async fn list_guardians(
        &self,
        viewer: &Viewer,
    ) -> Result<(Vec<GuardianshipView>, Vec<GuardianshipView>)> {
        let p = viewer.identity()?;
        let rows = guardianship::Entity::find()
            .filter(
                Condition::any()
                    .add(guardianship::Column::GuardianIdentityId.eq(p.identity_id()))
                    .add(guardianship::Column::AgentIdentityId.eq(p.identity_id())),
            )
            .all(self.store.conn())
            .await?;
        let (mut guardians, mut guarded) = (Vec::new(), Vec::new());
        for g in rows {
            let mine_as_agent = g.agent_identity_id == p.identity_id();
            let view = self.view_of(g).await?;
            if mine_as_agent {
                guardians.push(view);
            } else {
                guarded.push(view);
            }
        }
        Ok((guardians, guarded))
    }

    /// Either side ends a guardian relation; the keys the guardian issued
    /// for the agent are revoked with it (in the same transaction).
    pub async fn remove_guardian(&self, viewer: &Viewer, id: i64) -> Result<()> {
        viewer.require_full_credential("manage guardians")?;
        let p = viewer.identity()?;
        let mine = Condition::any()
            .add(guardianship::Column::GuardianIdentityId.eq(p.identity_id()))
            .add(guardianship::Column::AgentIdentityId.eq(p.identity_id()));
        let w = self.store.begin_write().await?;
        let g = guardianship::Entity::find_by_id(id)
            .filter(mine)
            .one(&w.txn)
            .await?
            .ok_or_else(|| Error::not_found(format!("guardianship {id} not found")))?;
        api_key::Entity::delete_many()
            .filter(api_key::Column::IdentityId.eq(g.agent_identity_id))
            .filter(api_key::Column::IssuedByIdentityId.eq(g.guardian_identity_id))
            .exec(&w.txn)
            .await?;
        guardianship::Entity::delete_by_id(g.id)
            .exec(&w.txn)
            .await?;
        self.audit_identities(
            &w.txn,
            &[g.guardian_identity_id, g.agent_identity_id],
            AuditRecord::new(0, "guardian.removed", viewer)
                .target(Target::Other("guardianship", g.id.to_string())),
        )
        .await?;
        w.commit().await?;
        self.access_changed().await;
        Ok(())
    }

    /// A guardian issues an API key for one of its agents.
    pub async fn guardian_issue_key(
        &self,
        viewer: &Viewer,
        agent_actor_id: &str,
        input: NewApiKey,
    ) -> Result<ApiKeyView> {
        viewer.require_full_credential("create API keys")?;
        let p = viewer.identity()?;
        let db = self.store.conn();
        let missing = || {
            Error::not_found(format!(
                "agent '{agent_actor_id}' not found among your guarded agents"
            ))
        };
        let agent = identity::Entity::find()
            .filter(identity::Column::ActorType.eq("agent"))
            .filter(identity::Column::ActorId.eq(agent_actor_id))
            .one(db)
            .await?
            .ok_or_else(missing)?;
        guardianship::Entity::find()
            .filter(guardianship::Column::GuardianIdentityId.eq(p.identity_id()))
            .filter(guardianship::Column::AgentIdentityId.eq(agent.id))
            .one(db)
            .await?
            .ok_or_else(missing)?;
        self.issue_api_key(viewer, agent.id, input, Some(p.identity_id()))
            .await
    }
}
