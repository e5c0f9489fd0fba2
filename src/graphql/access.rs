//! Identity and access over GraphQL: the same operations as `/auth…` and
//! `/orgs/:org/{members,invitations,permissions}`.

use super::scalars::DateTime;
use async_graphql::{Context, ID, InputObject, Json, Object, SimpleObject};
use serde_json::Value;

use super::error::to_gql;
use super::inputs::numeric_id;
use super::{GqlResult, OrGql, ats, client_ip, viewer};
use crate::error::Error;
use crate::service::{
    ApiKeyView, GuardianshipView, IdentityPatch, IdentityView, InvitationView, LoggedIn, Login,
    MemberView, NewApiKey, NewInvitation, NewMember, NewPermission, PasswordChange, PasswordReset,
    PermissionView, PublicIdentityView, Registration, Viewer,
};

/// A registered actor, as its owner sees it.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Identity {
    pub id: ID,
    pub actor_type: String,
    pub actor_id: String,
    pub display_name: String,
    pub email: Option<String>,
    pub profile: Json<Value>,
    pub created_at: DateTime,
    pub updated_at: DateTime,
}

#[async_graphql::ComplexObject]
impl Identity {
    /// The open overdue tasks escalated to this identity, most overdue
    /// first (only the caller's own; empty for anyone else's).
    #[graphql(complexity = "super::list_cost(child_complexity)")]
    async fn escalations(&self, ctx: &Context<'_>) -> GqlResult<Vec<super::types::Task>> {
        let Some(viewer) = ctx.data_opt::<Viewer>() else {
            return Ok(Vec::new());
        };
        if !viewer.actor().is(&self.actor_type, &self.actor_id) {
            return Ok(Vec::new());
        }
        Ok(ats(ctx)
            .my_escalations(viewer)
            .await
            .gql()?
            .into_iter()
            .map(super::types::Task::from)
            .collect())
    }
}

impl From<IdentityView> for Identity {
    fn from(i: IdentityView) -> Self {
        Self {
            id: ID(i.id.to_string()),
            actor_type: i.actor_type,
            actor_id: i.actor_id,
            display_name: i.display_name,
            email: i.email,
            profile: Json(i.profile),
            created_at: i.created_at.into(),
            updated_at: i.updated_at.into(),
        }
    }
}

/// What anyone may see of an identity.
#[derive(SimpleObject)]
pub struct PublicIdentity {
    pub actor_type: String,
    pub actor_id: String,
    pub display_name: String,
    pub created_at: DateTime,
}

impl From<PublicIdentityView> for PublicIdentity {
    fn from(i: PublicIdentityView) -> Self {
        Self {
            actor_type: i.actor_type,
            actor_id: i.actor_id,
            display_name: i.display_name,
            created_at: i.created_at.into(),
        }
    }
}

/// An API key; `key` is present only when it was just created.
#[derive(SimpleObject)]
pub struct ApiKey {
    pub id: ID,
    pub name: String,
    pub prefix: String,
    pub created_at: DateTime,
    pub last_used_at: Option<DateTime>,
    pub expires_at: Option<DateTime>,
    /// The key may only read.
    pub read_only: bool,
    /// The `org/project` names the key is limited to (null: all).
    pub projects: Option<Vec<String>>,
    pub key: Option<String>,
}

impl From<ApiKeyView> for ApiKey {
    fn from(k: ApiKeyView) -> Self {
        Self {
            id: ID(k.id.to_string()),
            name: k.name,
            prefix: k.prefix,
            created_at: k.created_at.into(),
            last_used_at: k.last_used_at.map(Into::into),
            expires_at: k.expires_at.map(Into::into),
            read_only: k.read_only,
            projects: k.projects,
            key: k.key,
        }
    }
}

/// A human vouching for an agent.
#[derive(SimpleObject)]
pub struct Guardianship {
    pub id: ID,
    pub guardian: PublicIdentity,
    pub agent: PublicIdentity,
    pub created_at: DateTime,
}

impl From<GuardianshipView> for Guardianship {
    fn from(g: GuardianshipView) -> Self {
        Self {
            id: ID(g.id.to_string()),
            guardian: g.guardian.into(),
            agent: g.agent.into(),
            created_at: g.created_at.into(),
        }
    }
}

/// The caller's guardian relations.
#[derive(SimpleObject)]
pub struct Guardians {
    pub guardians: Vec<Guardianship>,
    pub guarded_agents: Vec<Guardianship>,
}

/// A member of an org.
#[derive(SimpleObject)]
pub struct Member {
    pub org: String,
    pub actor_type: String,
    pub actor_id: String,
    pub role: String,
    pub created_at: DateTime,
}

impl From<MemberView> for Member {
    fn from(m: MemberView) -> Self {
        Self {
            org: m.org,
            actor_type: m.actor_type,
            actor_id: m.actor_id,
            role: m.role,
            created_at: m.created_at.into(),
        }
    }
}

/// An invitation to an org.
#[derive(SimpleObject)]
pub struct Invitation {
    pub id: ID,
    pub org: String,
    pub email: Option<String>,
    pub actor_type: Option<String>,
    pub actor_id: Option<String>,
    pub role: String,
    pub status: String,
    pub created_at: DateTime,
    pub expires_at: DateTime,
}

impl From<InvitationView> for Invitation {
    fn from(i: InvitationView) -> Self {
        Self {
            id: ID(i.id.to_string()),
            org: i.org,
            email: i.email,
            actor_type: i.actor_type,
            actor_id: i.actor_id,
            role: i.role,
            status: i.status,
            created_at: i.created_at.into(),
            expires_at: i.expires_at.into(),
        }
    }
}

/// A namespace permission.
#[derive(SimpleObject)]
pub struct Permission {
    pub id: ID,
    pub org: String,
    pub actor_type: String,
    pub actor_id: String,
    pub namespace: String,
    pub access: String,
    pub created_at: DateTime,
}

impl From<PermissionView> for Permission {
    fn from(p: PermissionView) -> Self {
        Self {
            id: ID(p.id.to_string()),
            org: p.org,
            actor_type: p.actor_type,
            actor_id: p.actor_id,
            namespace: p.namespace,
            access: p.access,
            created_at: p.created_at.into(),
        }
    }
}

/// `register`'s result: the identity, a first API key (shown once) and a token.
#[derive(SimpleObject)]
pub struct RegisterPayload {
    pub identity: Identity,
    pub api_key: String,
    pub token: String,
}

/// `login`'s result.
#[derive(SimpleObject)]
pub struct LoginPayload {
    pub token: String,
    pub expires_at: DateTime,
    pub identity: Identity,
}

impl From<LoggedIn> for LoginPayload {
    fn from(l: LoggedIn) -> Self {
        Self {
            token: l.token,
            expires_at: l.expires_at.into(),
            identity: l.identity.into(),
        }
    }
}

/// A guardian link token (shown once).
#[derive(SimpleObject)]
pub struct GuardianLinkPayload {
    pub token: String,
    pub expires_at: DateTime,
}

/// A new invitation and its token (shown once).
#[derive(SimpleObject)]
pub struct InvitationPayload {
    pub invitation: Invitation,
    pub token: Option<String>,
}

/// Fields of `register`.
#[derive(InputObject)]
pub struct RegisterInput {
    pub actor_type: Option<String>,
    pub actor_id: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub password: Option<String>,
    /// A pending invitation's token (required when registration is by
    /// invitation), accepted as the identity is made.
    pub invitation: Option<String>,
}

/// Fields of `login`: an email or an actor id, and the password.
#[derive(InputObject)]
pub struct LoginInput {
    pub email: Option<String>,
    pub actor_id: Option<String>,
    pub actor_type: Option<String>,
    pub password: String,
}

/// Fields `updateMe` may change.
#[derive(InputObject, Default)]
pub struct UpdateMeInput {
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub profile: Option<Json<Value>>,
}

/// Identity and access reads.
#[derive(Default)]
pub struct AccessQuery;

#[Object]
impl AccessQuery {
    /// The caller's identity (null without credentials).
    #[graphql(complexity = "super::READ_COST + child_complexity")]
    async fn me(&self, ctx: &Context<'_>) -> GqlResult<Option<Identity>> {
        match ctx.data_opt::<Viewer>().filter(|v| v.principal().is_some()) {
            Some(v) => Ok(Some(ats(ctx).me(v).await.gql()?.into())),
            None => Ok(None),
        }
    }

    /// Public fields of an identity.
    #[graphql(complexity = "super::READ_COST + child_complexity")]
    async fn identity(
        &self,
        ctx: &Context<'_>,
        actor_id: String,
        actor_type: Option<String>,
    ) -> GqlResult<Option<PublicIdentity>> {
        match ats(ctx)
            .public_identity(&actor_id, actor_type.as_deref())
            .await
        {
            Ok(i) => Ok(Some(i.into())),
            Err(Error::NotFound(_)) => Ok(None),
            Err(e) => Err(to_gql(e)),
        }
    }

    /// The caller's API keys (prefixes only).
    #[graphql(complexity = "super::READ_COST + child_complexity")]
    async fn api_keys(&self, ctx: &Context<'_>) -> GqlResult<Vec<ApiKey>> {
        let keys = ats(ctx).list_api_keys(viewer(ctx)?).await.gql()?;
        Ok(keys.into_iter().map(ApiKey::from).collect())
    }

    /// The caller's guardians and guarded agents.
    #[graphql(complexity = "super::READ_COST + child_complexity")]
    async fn guardians(&self, ctx: &Context<'_>) -> GqlResult<Guardians> {
        let (g, a) = ats(ctx).list_guardians(viewer(ctx)?).await.gql()?;
        Ok(Guardians {
            guardians: g.into_iter().map(Guardianship::from).collect(),
            guarded_agents: a.into_iter().map(Guardianship::from).collect(),
        })
    }

    /// The caller's pending invitations.
    #[graphql(complexity = "super::READ_COST + child_complexity")]
    async fn my_invitations(&self, ctx: &Context<'_>) -> GqlResult<Vec<Invitation>> {
        let inv = ats(ctx).my_invitations(viewer(ctx)?).await.gql()?;
        Ok(inv.into_iter().map(Invitation::from).collect())
    }

    /// Members of an org.
    #[graphql(complexity = "super::READ_COST + child_complexity")]
    async fn members(&self, ctx: &Context<'_>, org: String) -> GqlResult<Vec<Member>> {
        let m = ats(ctx).list_members(viewer(ctx)?, &org).await.gql()?;
        Ok(m.into_iter().map(Member::from).collect())
    }

    /// Invitations of an org (admins).
    #[graphql(complexity = "super::READ_COST + child_complexity")]
    async fn invitations(&self, ctx: &Context<'_>, org: String) -> GqlResult<Vec<Invitation>> {
        let i = ats(ctx).list_invitations(viewer(ctx)?, &org).await.gql()?;
        Ok(i.into_iter().map(Invitation::from).collect())
    }

    /// Namespace permissions of an org (admins).
    #[graphql(complexity = "super::READ_COST + child_complexity")]
    async fn permissions(&self, ctx: &Context<'_>, org: String) -> GqlResult<Vec<Permission>> {
        let p = ats(ctx).list_permissions(viewer(ctx)?, &org).await.gql()?;
        Ok(p.into_iter().map(Permission::from).collect())
    }
}

/// Identity and access writes.
#[derive(Default)]
pub struct AccessMutation;

#[Object]
impl AccessMutation {
    /// Registers an identity.
    async fn register(
        &self,
        ctx: &Context<'_>,
        input: RegisterInput,
    ) -> GqlResult<RegisterPayload> {
        let r = ats(ctx)
            .register(
                Registration {
                    actor_type: input.actor_type,
                    actor_id: Some(input.actor_id),
                    display_name: input.display_name,
                    email: input.email,
                    password: input.password,
                    invitation: input.invitation,
                },
                client_ip(ctx),
            )
            .await
            .gql()?;
        Ok(RegisterPayload {
            identity: r.identity.into(),
            api_key: r.api_key,
            token: r.token,
        })
    }

    /// Exchanges a password for an access token.
    async fn login(&self, ctx: &Context<'_>, input: LoginInput) -> GqlResult<LoginPayload> {
        let l = ats(ctx)
            .login(
                Login {
                    email: input.email,
                    actor_id: input.actor_id,
                    actor_type: input.actor_type,
                    password: Some(input.password),
                },
                client_ip(ctx),
            )
            .await
            .gql()?;
        Ok(l.into())
    }

    /// Ends the session of the login token the request carries: the token
    /// is refused from now on, on every replica.
    async fn logout(&self, ctx: &Context<'_>) -> GqlResult<bool> {
        ats(ctx).logout(viewer(ctx)?).await.gql()?;
        Ok(true)
    }

    /// Changes the caller's password (the current one is required); every
    /// earlier login token ends, and a new one is returned.
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        current_password: String,
        new_password: String,
    ) -> GqlResult<LoginPayload> {
        let input = PasswordChange {
            current_password: Some(current_password),
            new_password: Some(new_password),
        };
        let l = ats(ctx)
            .change_password(viewer(ctx)?, input, client_ip(ctx))
            .await
            .gql()?;
        Ok(l.into())
    }

    /// Sets a new password with a one-time reset token an operator issued
    /// (`ats-server password-reset`); every earlier login token ends.
    async fn reset_password(
        &self,
        ctx: &Context<'_>,
        token: String,
        new_password: String,
    ) -> GqlResult<LoginPayload> {
        let input = PasswordReset {
            token: Some(token),
            new_password: Some(new_password),
        };
        Ok(ats(ctx)
            .reset_password(input, client_ip(ctx))
            .await
            .gql()?
            .into())
    }

    /// Changes the caller's display name, email or profile.
    async fn update_me(&self, ctx: &Context<'_>, input: UpdateMeInput) -> GqlResult<Identity> {
        let patch = IdentityPatch {
            display_name: input.display_name,
            email: input.email,
            profile: input.profile.map(|p| p.0),
        };
        Ok(ats(ctx).update_me(viewer(ctx)?, patch).await.gql()?.into())
    }

    /// Creates an API key for the caller (the key is in this response only).
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        name: Option<String>,
        expires_at: Option<DateTime>,
        #[graphql(desc = "Only reading (default false).")] read_only: Option<bool>,
        #[graphql(desc = "Limit the key to these `org/project` names (default: all).")]
        projects: Option<Vec<String>>,
    ) -> GqlResult<ApiKey> {
        let input = NewApiKey {
            name,
            expires_at: expires_at.map(|t| crate::time::format(&t.0)),
            read_only,
            projects,
        };
        Ok(ats(ctx)
            .create_api_key(viewer(ctx)?, input)
            .await
            .gql()?
            .into())
    }

    /// Revokes one of the caller's API keys.
    async fn delete_api_key(&self, ctx: &Context<'_>, id: ID) -> GqlResult<bool> {
        let n = numeric_id("id", &id)?;
        ats(ctx).delete_api_key(viewer(ctx)?, n).await.gql()?;
        Ok(true)
    }

    /// An agent creates a guardian link token for a human.
    async fn create_guardian_link(&self, ctx: &Context<'_>) -> GqlResult<GuardianLinkPayload> {
        let l = ats(ctx).guardian_link(viewer(ctx)?).await.gql()?;
        Ok(GuardianLinkPayload {
            token: l.token,
            expires_at: l.expires_at.into(),
        })
    }

    /// A human confirms a guardian link token.
    async fn confirm_guardian(&self, ctx: &Context<'_>, token: String) -> GqlResult<Guardianship> {
        Ok(ats(ctx)
            .confirm_guardian(viewer(ctx)?, &token)
            .await
            .gql()?
            .into())
    }

    /// Either side ends a guardian relation.
    async fn remove_guardian(&self, ctx: &Context<'_>, id: ID) -> GqlResult<bool> {
        let n = numeric_id("id", &id)?;
        ats(ctx).remove_guardian(viewer(ctx)?, n).await.gql()?;
        Ok(true)
    }

    /// A guardian issues an API key for one of its agents.
    async fn create_agent_api_key(
        &self,
        ctx: &Context<'_>,
        agent_id: String,
        name: Option<String>,
        #[graphql(desc = "Only reading (default false).")] read_only: Option<bool>,
        #[graphql(desc = "Limit the key to these `org/project` names (default: all).")]
        projects: Option<Vec<String>>,
    ) -> GqlResult<ApiKey> {
        let input = NewApiKey {
            name,
            expires_at: None,
            read_only,
            projects,
        };
        Ok(ats(ctx)
            .guardian_issue_key(viewer(ctx)?, &agent_id, input)
            .await
            .gql()?
            .into())
    }

    /// Adds a member to an org.
    async fn add_member(
        &self,
        ctx: &Context<'_>,
        org: String,
        actor_type: String,
        actor_id: String,
        role: String,
    ) -> GqlResult<Member> {
        let input = NewMember {
            actor_type: Some(actor_type),
            actor_id: Some(actor_id),
            role: Some(role),
        };
        Ok(ats(ctx)
            .add_member(viewer(ctx)?, &org, input)
            .await
            .gql()?
            .into())
    }

    /// Changes a member's role.
    async fn update_member(
        &self,
        ctx: &Context<'_>,
        org: String,
        actor_type: String,
        actor_id: String,
        role: String,
    ) -> GqlResult<Member> {
        Ok(ats(ctx)
            .update_member(viewer(ctx)?, &org, &actor_type, &actor_id, Some(&role))
            .await
            .gql()?
            .into())
    }

    /// Removes a member.
    async fn remove_member(
        &self,
        ctx: &Context<'_>,
        org: String,
        actor_type: String,
        actor_id: String,
    ) -> GqlResult<bool> {
        ats(ctx)
            .remove_member(viewer(ctx)?, &org, &actor_type, &actor_id)
            .await
            .gql()?;
        Ok(true)
    }

    /// Invites an email or an actor to an org.
    async fn create_invitation(
        &self,
        ctx: &Context<'_>,
        org: String,
        email: Option<String>,
        actor_type: Option<String>,
        actor_id: Option<String>,
        role: String,
    ) -> GqlResult<InvitationPayload> {
        let input = NewInvitation {
            email,
            actor_type,
            actor_id,
            role: Some(role),
        };
        let (inv, token) = ats(ctx)
            .create_invitation(viewer(ctx)?, &org, input)
            .await
            .gql()?;
        Ok(InvitationPayload {
            invitation: inv.into(),
            token: Some(token),
        })
    }

    /// Accepts an invitation addressed to the caller.
    async fn accept_invitation(&self, ctx: &Context<'_>, token: String) -> GqlResult<Invitation> {
        Ok(ats(ctx)
            .respond_invitation(viewer(ctx)?, &token, true)
            .await
            .gql()?
            .into())
    }

    /// Declines an invitation addressed to the caller.
    async fn decline_invitation(&self, ctx: &Context<'_>, token: String) -> GqlResult<Invitation> {
        Ok(ats(ctx)
            .respond_invitation(viewer(ctx)?, &token, false)
            .await
            .gql()?
            .into())
    }

    /// Grants `r` or `rw` on a project slug (or `*`).
    async fn grant_permission(
        &self,
        ctx: &Context<'_>,
        org: String,
        actor_type: String,
        actor_id: String,
        namespace: String,
        access: String,
    ) -> GqlResult<Permission> {
        let input = NewPermission {
            actor_type: Some(actor_type),
            actor_id: Some(actor_id),
            namespace: Some(namespace),
            access: Some(access),
        };
        Ok(ats(ctx)
            .grant_permission(viewer(ctx)?, &org, input)
            .await
            .gql()?
            .into())
    }

    /// Revokes a permission.
    async fn revoke_permission(&self, ctx: &Context<'_>, org: String, id: ID) -> GqlResult<bool> {
        let n = numeric_id("id", &id)?;
        ats(ctx)
            .revoke_permission(viewer(ctx)?, &org, n)
            .await
            .gql()?;
        Ok(true)
    }
}
