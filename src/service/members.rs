//! Organization members, invitations and namespace permissions.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, Set,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Ats;
use super::access::{Access, Standing, role, role_access};
use super::audit::{AuditRecord, Target};
use super::viewer::{Rights, Viewer};
use crate::actor::Actor;
use crate::auth::token;
use crate::entity::{identity, invitation, org, org_member, permission};
use crate::error::{Error, Result};
use crate::time::{self, rfc3339};
use serde_json::json;

/// How long an invitation stays open.
pub const INVITATION_TTL: Duration = Duration::days(7);

/// A member of an org.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MemberView {
    pub org: String,
    pub actor_type: String,
    pub actor_id: String,
    pub role: String,
    #[serde(with = "rfc3339")]
    pub created_at: DateTime<Utc>,
}

/// An invitation.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct InvitationView {
    pub id: i64,
    pub org: String,
    pub email: Option<String>,
    pub actor_type: Option<String>,
    pub actor_id: Option<String>,
    pub role: String,
    pub status: String,
    pub invited_by_type: String,
    pub invited_by_id: String,
    #[serde(with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "rfc3339")]
    pub expires_at: DateTime<Utc>,
}

/// A namespace permission.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PermissionView {
    pub id: i64,
    pub org: String,
    pub actor_type: String,
    pub actor_id: String,
    pub namespace: String,
    pub access: String,
    #[serde(with = "rfc3339")]
    pub created_at: DateTime<Utc>,
}

/// `POST /orgs/:org/members` (and the role of `PATCH`).
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct NewMember {
    /// The member's actor type (default `human`).
    #[schema(value_type = Option<crate::actor::ActorType>)]
    pub actor_type: Option<String>,
    /// Required: the member's actor id, 1 to 200 characters, not blank (in
    /// required mode, of a registered identity).
    #[schema(required = true, value_type = String, min_length = 1, max_length = 200, pattern = r"\S")]
    pub actor_id: Option<String>,
    /// The role (default `member`).
    #[schema(value_type = Option<super::documented::Role>)]
    pub role: Option<String>,
}

/// `POST /orgs/:org/invitations`: an `email`, or an `actor_id` (with its
/// `actor_type`), not both.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct NewInvitation {
    /// The address invited (instead of an actor).
    #[schema(schema_with = super::documented::email)]
    pub email: Option<String>,
    /// The invited actor's type (default `human`).
    #[schema(value_type = Option<crate::actor::ActorType>)]
    pub actor_type: Option<String>,
    /// The invited actor's id (instead of an email): 1 to 200 characters, not blank.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub actor_id: Option<String>,
    /// The role the invitation grants (default `member`).
    #[schema(value_type = Option<super::documented::Role>)]
    pub role: Option<String>,
}

/// `POST /orgs/:org/permissions`.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
pub struct NewPermission {
    /// The grantee's actor type (default `human`).
    #[schema(value_type = Option<crate::actor::ActorType>)]
    pub actor_type: Option<String>,
    /// Required: the grantee's actor id, 1 to 200 characters, not blank (in
    /// required mode, of a registered identity).
    #[schema(required = true, value_type = String, min_length = 1, max_length = 200, pattern = r"\S")]
    pub actor_id: Option<String>,
    /// Required: a project slug of the org, or `*` for all of them.
    #[schema(required = true, value_type = String, min_length = 1, max_length = 63, pattern = "^([*]|[a-z0-9][a-z0-9-]{0,62})$")]
    pub namespace: Option<String>,
    /// Required: `r` (read) or `rw` (read and write).
    #[schema(required = true, value_type = super::documented::PermissionAccess)]
    pub access: Option<String>,
}

fn parse_role(r: Option<&str>) -> Result<String> {
    let r = r.unwrap_or(role::MEMBER);
    if role::ALL.contains(&r) {
        Ok(r.to_owned())
    } else {
        Err(Error::validation(format!(
            "unknown role '{r}': expected owner, admin, member or viewer"
        )))
    }
}

fn target_actor(t: Option<&str>, id: Option<&str>) -> Result<Actor> {
    let id = id.ok_or_else(|| Error::validation("actor_id is required"))?;
    Actor::new(t.unwrap_or("human"), id, None).map_err(|e| Error::validation(e.to_string()))
}

fn member_view(org: &str, m: org_member::Model) -> MemberView {
    MemberView {
        org: org.to_owned(),
        actor_type: m.actor_type,
        actor_id: m.actor_id,
        role: m.role,
        created_at: m.created_at,
    }
}

fn invitation_view(org: &str, i: invitation::Model) -> InvitationView {
    InvitationView {
        id: i.id,
        org: org.to_owned(),
        email: i.email,
        actor_type: i.actor_type,
        actor_id: i.actor_id,
        role: i.role,
        status: i.status,
        invited_by_type: i.invited_by_type,
        invited_by_id: i.invited_by_id,
        created_at: i.created_at,
        expires_at: i.expires_at,
    }
}

impl Ats {
    async fn admin_org<C: ConnectionTrait>(
        &self,
        db: &C,
        rights: &Rights,
        slug: &str,
        what: &str,
    ) -> Result<(org::Model, Standing)> {
        let (o, standing) = self.visible_org(db, rights, slug).await?;
        self.require_org(&standing, Access::Admin, what)?;
        Ok((o, standing))
    }

    async fn owners<C: ConnectionTrait>(&self, db: &C, org_id: i32) -> Result<u64> {
        Ok(org_member::Entity::find()
            .filter(org_member::Column::OrgId.eq(org_id))
            .filter(org_member::Column::Role.eq(role::OWNER))
            .count(db)
            .await?)
    }

    /// The members of an org (any reader of the org may list them).
    pub async fn list_members(&self, viewer: &Viewer, slug: &str) -> Result<Vec<MemberView>> {
        let rights = self.rights(viewer).await?;
        let db = self.store.conn();
        let (o, _) = self.visible_org(db, &rights, slug).await?;
        Ok(org_member::Entity::find()
            .filter(org_member::Column::OrgId.eq(o.id))
            .order_by_asc(org_member::Column::Id)
            .all(db)
            .await?
            .into_iter()
            .map(|m| member_view(&o.slug, m))
            .collect())
    }

    /// Adds a member (admins; only owners may add owners).
    pub async fn add_member(
        &self,
        viewer: &Viewer,
        slug: &str,
        input: NewMember,
    ) -> Result<MemberView> {
        let rights = self.rights(viewer).await?;
        let target = target_actor(input.actor_type.as_deref(), input.actor_id.as_deref())?;
        let new_role = parse_role(input.role.as_deref())?;
        let w = self.store.begin_write().await?;
        let (o, standing) = self
            .admin_org(&w.txn, &rights, slug, "manage members")
            .await?;
        if role_access(&new_role) > standing.base {
            return Err(Error::forbidden(format!(
                "only an owner may grant the {new_role} role"
            )));
        }
        self.require_registered(&w.txn, &target, slug).await?;
        let exists = org_member::Entity::find()
            .filter(org_member::Column::OrgId.eq(o.id))
            .filter(org_member::Column::ActorType.eq(target.actor_type.as_str()))
            .filter(org_member::Column::ActorId.eq(target.id.clone()))
            .one(&w.txn)
            .await?;
        if exists.is_some() {
            return Err(Error::conflict(format!(
                "{} is already a member",
                target.label()
            )));
        }
        let m = org_member::ActiveModel {
            org_id: Set(o.id),
            actor_type: Set(target.actor_type.as_str().to_owned()),
            actor_id: Set(target.id.clone()),
            role: Set(new_role),
            created_at: Set(time::now()),
            ..Default::default()
        }
        .insert(&w.txn)
        .await?;
        self.audit(
            &w.txn,
            AuditRecord::new(o.id, "member.added", viewer)
                .target(Target::Actor(m.actor_type.clone(), m.actor_id.clone()))
                .data(json!({ "role": m.role })),
        )
        .await?;
        w.commit().await?;
        self.access_changed().await;
        Ok(member_view(&o.slug, m))
    }

    async fn find_member<C: ConnectionTrait>(
        &self,
        db: &C,
        org_id: i32,
        actor_type: &str,
        actor_id: &str,
    ) -> Result<org_member::Model> {
        org_member::Entity::find()
            .filter(org_member::Column::OrgId.eq(org_id))
            .filter(org_member::Column::ActorType.eq(actor_type))
            .filter(org_member::Column::ActorId.eq(actor_id))
            .one(db)
            .await?
            .ok_or_else(|| Error::not_found(format!("member {actor_type}:{actor_id} not found")))
    }

    /// Changes a member's role; the org always keeps an owner.
    pub async fn update_member(
        &self,
        viewer: &Viewer,
        slug: &str,
        actor_type: &str,
        actor_id: &str,
        new_role: Option<&str>,
    ) -> Result<MemberView> {
        let rights = self.rights(viewer).await?;
        let new_role = parse_role(Some(
            new_role.ok_or_else(|| Error::validation("role is required"))?,
        ))?;
        let w = self.store.begin_write().await?;
        let (o, standing) = self
            .admin_org(&w.txn, &rights, slug, "manage members")
            .await?;
        let m = self.find_member(&w.txn, o.id, actor_type, actor_id).await?;
        let touches_owner = m.role == role::OWNER || new_role == role::OWNER;
        if touches_owner && standing.base < Access::Owner {
            return Err(Error::forbidden(
                "only an owner may grant or take the owner role",
            ));
        }
        if m.role == role::OWNER && new_role != role::OWNER && self.owners(&w.txn, o.id).await? <= 1
        {
            return Err(Error::conflict(
                "an organization must keep at least one owner",
            ));
        }
        let old_role = m.role.clone();
        let mut active = m.into_active_model();
        active.role = Set(new_role);
        let m = active.update(&w.txn).await?;
        self.audit(
            &w.txn,
            AuditRecord::new(o.id, "member.role_changed", viewer)
                .target(Target::Actor(m.actor_type.clone(), m.actor_id.clone()))
                .data(json!({ "from": old_role, "to": m.role })),
        )
        .await?;
        w.commit().await?;
        self.access_changed().await;
        Ok(member_view(&o.slug, m))
    }

    /// Removes a member; the org always keeps an owner. Members may remove themselves.
    pub async fn remove_member(
        &self,
        viewer: &Viewer,
        slug: &str,
        actor_type: &str,
        actor_id: &str,
    ) -> Result<()> {
        let rights = self.rights(viewer).await?;
        let actor = rights.actor();
        let w = self.store.begin_write().await?;
        let (o, standing) = self.visible_org(&w.txn, &rights, slug).await?;
        let leaving_self = actor.is(actor_type, actor_id);
        if !leaving_self {
            self.require_org(&standing, Access::Admin, "manage members")?;
        }
        let m = self.find_member(&w.txn, o.id, actor_type, actor_id).await?;
        if m.role == role::OWNER {
            if !leaving_self && standing.base < Access::Owner {
                return Err(Error::forbidden("only an owner may remove an owner"));
            }
            if self.owners(&w.txn, o.id).await? <= 1 {
                return Err(Error::conflict(
                    "an organization must keep at least one owner",
                ));
            }
        }
        org_member::Entity::delete_by_id(m.id).exec(&w.txn).await?;
        self.audit(
            &w.txn,
            AuditRecord::new(o.id, "member.removed", viewer)
                .target(Target::Actor(m.actor_type.clone(), m.actor_id.clone()))
                .data(json!({ "role": m.role })),
        )
        .await?;
        w.commit().await?;
        self.access_changed().await;
        Ok(())
    }

    /// Invites an email or an actor with a role; the token is in this response only.
    pub async fn create_invitation(
        &self,
        viewer: &Viewer,
        slug: &str,
        input: NewInvitation,
    ) -> Result<(InvitationView, String)> {
        let rights = self.rights(viewer).await?;
        let actor = rights.actor();
        let new_role = parse_role(input.role.as_deref())?;
        let (email, target) = match (&input.email, &input.actor_id) {
            (Some(e), None) => (Some(e.trim().to_lowercase()), None),
            (None, Some(_)) => (
                None,
                Some(target_actor(
                    input.actor_type.as_deref(),
                    input.actor_id.as_deref(),
                )?),
            ),
            _ => {
                return Err(Error::validation(
                    "give either email or actor_type + actor_id",
                ));
            }
        };
        if email.as_deref().is_some_and(|e| !e.contains('@')) {
            return Err(Error::validation("email is not an email address"));
        }
        let w = self.store.begin_write().await?;
        let (o, standing) = self
            .admin_org(&w.txn, &rights, slug, "invite members")
            .await?;
        if role_access(&new_role) > standing.base {
            return Err(Error::forbidden(format!(
                "only an owner may invite with the {new_role} role"
            )));
        }
        // An email invitation is for whoever holds the address now (or,
        // when nobody does, for whoever the inviter hands the token to):
        // taking the address later reveals and grants nothing.
        let holder = match &email {
            Some(e) => identity::Entity::find()
                .filter(identity::Column::Email.eq(e.clone()))
                .one(&w.txn)
                .await?
                .map(|i| i.id),
            None => None,
        };
        let secret = token::generate("atsi_");
        let now = time::now();
        let inv = invitation::ActiveModel {
            identity_id: Set(holder),
            org_id: Set(o.id),
            email: Set(email),
            actor_type: Set(target.as_ref().map(|t| t.actor_type.as_str().to_owned())),
            actor_id: Set(target.map(|t| t.id)),
            role: Set(new_role),
            token_hash: Set(token::digest(&secret)),
            status: Set("pending".to_owned()),
            invited_by_type: Set(actor.actor_type.as_str().to_owned()),
            invited_by_id: Set(actor.id.clone()),
            created_at: Set(now),
            expires_at: Set(now + INVITATION_TTL),
            responded_at: Set(None),
            ..Default::default()
        }
        .insert(&w.txn)
        .await?;
        let invitee = match (&inv.actor_type, &inv.actor_id) {
            (Some(t), Some(id)) => json!(format!("{t}:{id}")),
            _ => json!(inv.email),
        };
        self.audit(
            &w.txn,
            AuditRecord::new(o.id, "invitation.sent", viewer)
                .target(Target::Other("invitation", inv.id.to_string()))
                .data(json!({ "invitee": invitee, "role": inv.role })),
        )
        .await?;
        w.commit().await?;
        Ok((invitation_view(&o.slug, inv), secret))
    }

    /// An org's invitations (admins).
    pub async fn list_invitations(
        &self,
        viewer: &Viewer,
        slug: &str,
    ) -> Result<Vec<InvitationView>> {
        let rights = self.rights(viewer).await?;
        let db = self.store.conn();
        let (o, _) = self.admin_org(db, &rights, slug, "see invitations").await?;
        Ok(invitation::Entity::find()
            .filter(invitation::Column::OrgId.eq(o.id))
            .order_by_asc(invitation::Column::Id)
            .all(db)
            .await?
            .into_iter()
            .map(|i| invitation_view(&o.slug, i))
            .collect())
    }

    /// Whether the invitation names `me`: an email invitation by the
    /// identity that held the address when it was made, an actor
    /// invitation by the actor. Such invitations are listed to `me`.
    fn invitation_is_for(i: &invitation::Model, me: &identity::Model) -> bool {
        let by_email = i.email.is_some() && i.identity_id == Some(me.id);
        let by_actor = i.actor_type.as_deref() == Some(&me.actor_type)
            && i.actor_id.as_deref() == Some(&me.actor_id);
        by_email || by_actor
    }

    /// Whether `me`, holding the invitation's token, may answer it: when it
    /// names `me`, or when it is an email invitation to an address nobody
    /// held (the token, handed over by the inviter, is the proof).
    fn may_answer(i: &invitation::Model, me: &identity::Model) -> bool {
        Self::invitation_is_for(i, me) || (i.email.is_some() && i.identity_id.is_none())
    }

    /// A pending invitation someone registering as `actor` may use: an
    /// email invitation to an address nobody held, or one naming `actor`.
    pub(super) async fn invitation_for_registration(
        &self,
        txn: &impl sea_orm::ConnectionTrait,
        secret: &str,
        actor: &crate::actor::Actor,
    ) -> Result<invitation::Model> {
        let missing = || Error::not_found("invitation not found, used or expired");
        let inv = invitation::Entity::find()
            .filter(invitation::Column::TokenHash.eq(token::digest(secret)))
            .one(txn)
            .await?
            .filter(|i| i.status == "pending" && i.expires_at > time::now())
            .ok_or_else(missing)?;
        let usable = match (&inv.email, &inv.actor_type, &inv.actor_id) {
            (Some(_), _, _) => inv.identity_id.is_none(),
            (None, Some(t), Some(id)) => t == actor.actor_type.as_str() && *id == actor.id,
            _ => false,
        };
        if usable { Ok(inv) } else { Err(missing()) }
    }

    /// Accepts, inside the registration's transaction, the invitation the
    /// new identity `me` registered with.
    pub(super) async fn accept_at_registration(
        &self,
        txn: &impl sea_orm::ConnectionTrait,
        inv: invitation::Model,
        me: &identity::Model,
        client: std::net::IpAddr,
    ) -> Result<()> {
        let origin = (None, Some(client.to_string()));
        self.answer_invitation(txn, inv, me, true, origin)
            .await
            .map(|_| ())
    }

    /// The caller's pending, unexpired invitations.
    pub async fn my_invitations(&self, viewer: &Viewer) -> Result<Vec<InvitationView>> {
        let p = viewer.identity()?;
        let me = self.identity_of(p).await?;
        let db = self.store.conn();
        let now = time::now();
        // The invitations that name `me` (see `invitation_is_for`), read
        // with their orgs in two statements, not every pending invitation.
        let pending = invitation::Entity::find()
            .filter(invitation::Column::Status.eq("pending"))
            .filter(invitation::Column::ExpiresAt.gt(now))
            .filter(
                sea_orm::Condition::any()
                    .add(
                        sea_orm::Condition::all()
                            .add(invitation::Column::Email.is_not_null())
                            .add(invitation::Column::IdentityId.eq(me.id)),
                    )
                    .add(
                        sea_orm::Condition::all()
                            .add(invitation::Column::ActorType.eq(me.actor_type.clone()))
                            .add(invitation::Column::ActorId.eq(me.actor_id.clone())),
                    ),
            )
            .order_by_asc(invitation::Column::Id)
            .all(db)
            .await?;
        let org_ids: Vec<i32> = pending.iter().map(|i| i.org_id).collect();
        let slugs: std::collections::HashMap<i32, String> = org::Entity::find()
            .filter(org::Column::Id.is_in(org_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|o| (o.id, o.slug))
            .collect();
        Ok(pending
            .into_iter()
            .map(|i| {
                let slug = slugs.get(&i.org_id).cloned().unwrap_or_default();
                invitation_view(&slug, i)
            })
            .collect())
    }

    /// Accepts (joining the org) or declines an invitation addressed to the caller.
    pub async fn respond_invitation(
        &self,
        viewer: &Viewer,
        secret: &str,
        accept: bool,
    ) -> Result<InvitationView> {
        viewer.require_full_credential("answer invitations")?;
        let p = viewer.identity()?;
        let me = self.identity_of(p).await?;
        let w = self.store.begin_write().await?;
        let now = time::now();
        let missing = || Error::not_found("invitation not found");
        let inv = invitation::Entity::find()
            .filter(invitation::Column::TokenHash.eq(token::digest(secret)))
            .one(&w.txn)
            .await?
            .filter(|i| Self::may_answer(i, &me))
            .ok_or_else(missing)?;
        if inv.status != "pending" {
            return Err(Error::conflict(format!(
                "this invitation was already {}",
                inv.status
            )));
        }
        if inv.expires_at <= now {
            return Err(Error::conflict("this invitation has expired"));
        }
        let (slug, inv) = self
            .answer_invitation(&w.txn, inv, &me, accept, viewer.request_origin())
            .await?;
        w.commit().await?;
        self.access_changed().await;
        Ok(invitation_view(&slug, inv))
    }

    /// Records the answer to a pending invitation; accepting adds `me` to
    /// the org with the invitation's role (or raises a lower one).
    async fn answer_invitation(
        &self,
        txn: &impl sea_orm::ConnectionTrait,
        inv: invitation::Model,
        me: &identity::Model,
        accept: bool,
        (request_id, client_ip): (Option<String>, Option<String>),
    ) -> Result<(String, invitation::Model)> {
        let now = time::now();
        let o = org::Entity::find_by_id(inv.org_id)
            .one(txn)
            .await?
            .ok_or_else(|| Error::not_found("invitation not found"))?;
        if accept {
            let existing = org_member::Entity::find()
                .filter(org_member::Column::OrgId.eq(o.id))
                .filter(org_member::Column::ActorType.eq(me.actor_type.clone()))
                .filter(org_member::Column::ActorId.eq(me.actor_id.clone()))
                .one(txn)
                .await?;
            match existing {
                Some(m) if role_access(&m.role) >= role_access(&inv.role) => {}
                Some(m) => {
                    let mut active = m.into_active_model();
                    active.role = Set(inv.role.clone());
                    active.update(txn).await?;
                }
                None => {
                    org_member::ActiveModel {
                        org_id: Set(o.id),
                        actor_type: Set(me.actor_type.clone()),
                        actor_id: Set(me.actor_id.clone()),
                        role: Set(inv.role.clone()),
                        created_at: Set(now),
                        ..Default::default()
                    }
                    .insert(txn)
                    .await?;
                }
            }
        }
        // Conditional: of two concurrent answers, one wins.
        let status = if accept { "accepted" } else { "declined" };
        let answered = invitation::Entity::update_many()
            .col_expr(invitation::Column::Status, Expr::value(status))
            .col_expr(invitation::Column::RespondedAt, Expr::value(now))
            .filter(invitation::Column::Id.eq(inv.id))
            .filter(invitation::Column::Status.eq("pending"))
            .exec(txn)
            .await?;
        if answered.rows_affected != 1 {
            return Err(Error::conflict("this invitation was already answered"));
        }
        if let Ok(actor) = Actor::new(&me.actor_type, &me.actor_id, None) {
            let action = if accept {
                "invitation.accepted"
            } else {
                "invitation.declined"
            };
            self.audit(
                txn,
                AuditRecord::by(o.id, action, actor)
                    .target(Target::Other("invitation", inv.id.to_string()))
                    .data(json!({ "role": inv.role }))
                    .origin(request_id, client_ip),
            )
            .await?;
        }
        let inv = invitation::Model {
            status: status.to_owned(),
            responded_at: Some(now),
            ..inv
        };
        Ok((o.slug, inv))
    }

    /// An org's namespace permissions (admins).
    pub async fn list_permissions(
        &self,
        viewer: &Viewer,
        slug: &str,
    ) -> Result<Vec<PermissionView>> {
        let rights = self.rights(viewer).await?;
        let db = self.store.conn();
        let (o, _) = self.admin_org(db, &rights, slug, "see permissions").await?;
        Ok(permission::Entity::find()
            .filter(permission::Column::OrgId.eq(o.id))
            .order_by_asc(permission::Column::Id)
            .all(db)
            .await?
            .into_iter()
            .map(|p| permission_view(&o.slug, p))
            .collect())
    }

    /// In required mode, membership and grants go to registered identities
    /// only: an id nobody holds yet would be claimed by whoever registers it
    /// first. Such a person is invited instead.
    async fn require_registered<C: ConnectionTrait>(
        &self,
        db: &C,
        target: &Actor,
        org_slug: &str,
    ) -> Result<()> {
        if self.auth_mode() != crate::auth::AuthMode::Required {
            return Ok(());
        }
        let known = identity::Entity::find()
            .filter(identity::Column::ActorType.eq(target.actor_type.as_str()))
            .filter(identity::Column::ActorId.eq(target.id.clone()))
            .one(db)
            .await?
            .is_some();
        if known {
            Ok(())
        } else {
            Err(Error::validation(format!(
                "{} is not a registered identity: invite them instead (POST /orgs/{org_slug}/invitations)",
                target.label()
            )))
        }
    }

    /// Grants `r` or `rw` on a project slug (or `*`) to an actor (admins).
    pub async fn grant_permission(
        &self,
        viewer: &Viewer,
        slug: &str,
        input: NewPermission,
    ) -> Result<PermissionView> {
        let rights = self.rights(viewer).await?;
        let target = target_actor(input.actor_type.as_deref(), input.actor_id.as_deref())?;
        let namespace = input
            .namespace
            .as_deref()
            .ok_or_else(|| Error::validation("namespace is required"))?;
        if namespace != "*" {
            super::validate::slug("namespace", namespace)?;
        }
        let access = match input.access.as_deref() {
            Some(a @ ("r" | "rw")) => a.to_owned(),
            _ => return Err(Error::validation("access must be r or rw")),
        };
        let w = self.store.begin_write().await?;
        let (o, _) = self
            .admin_org(&w.txn, &rights, slug, "grant permissions")
            .await?;
        self.require_registered(&w.txn, &target, slug).await?;
        let existing = permission::Entity::find()
            .filter(permission::Column::OrgId.eq(o.id))
            .filter(permission::Column::ActorType.eq(target.actor_type.as_str()))
            .filter(permission::Column::ActorId.eq(target.id.clone()))
            .filter(permission::Column::Namespace.eq(namespace))
            .one(&w.txn)
            .await?;
        let row = match existing {
            Some(p) => {
                let mut active = p.into_active_model();
                active.access = Set(access);
                active.update(&w.txn).await?
            }
            None => {
                permission::ActiveModel {
                    org_id: Set(o.id),
                    actor_type: Set(target.actor_type.as_str().to_owned()),
                    actor_id: Set(target.id.clone()),
                    namespace: Set(namespace.to_owned()),
                    access: Set(access),
                    created_at: Set(time::now()),
                    ..Default::default()
                }
                .insert(&w.txn)
                .await?
            }
        };
        self.audit(
            &w.txn,
            AuditRecord::new(o.id, "grant.given", viewer)
                .target(Target::Actor(row.actor_type.clone(), row.actor_id.clone()))
                .data(
                    json!({ "grant_id": row.id, "namespace": row.namespace, "access": row.access }),
                ),
        )
        .await?;
        w.commit().await?;
        self.access_changed().await;
        Ok(permission_view(&o.slug, row))
    }

    /// Revokes a permission (admins).
    pub async fn revoke_permission(&self, viewer: &Viewer, slug: &str, id: i64) -> Result<()> {
        let rights = self.rights(viewer).await?;
        let w = self.store.begin_write().await?;
        let (o, _) = self
            .admin_org(&w.txn, &rights, slug, "revoke permissions")
            .await?;
        let res = permission::Entity::delete_many()
            .filter(permission::Column::Id.eq(id))
            .filter(permission::Column::OrgId.eq(o.id))
            .exec(&w.txn)
            .await?;
        if res.rows_affected == 0 {
            return Err(Error::not_found(format!("permission {id} not found")));
        }
        self.audit(
            &w.txn,
            AuditRecord::new(o.id, "grant.revoked", viewer)
                .target(Target::Other("grant", id.to_string())),
        )
        .await?;
        w.commit().await?;
        self.access_changed().await;
        Ok(())
    }
}

fn permission_view(org: &str, p: permission::Model) -> PermissionView {
    PermissionView {
        id: p.id,
        org: org.to_owned(),
        actor_type: p.actor_type,
        actor_id: p.actor_id,
        namespace: p.namespace,
        access: p.access,
        created_at: p.created_at,
    }
}
