//! `/orgs/:org/members`, `/invitations`, `/permissions`.

use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;

use super::access_bodies::{
    Deleted, InvitationCreated, InvitationList, MemberBody, MemberList, PermissionBody,
    PermissionList, Removed,
};
use super::bodies::Reply;
use super::extract::Slugs;
use crate::app::AppState;
use crate::app::{ApiJson, CurrentViewer};
use crate::error::{Error, Result};
use crate::service::{NewInvitation, NewMember, NewPermission};

pub(super) async fn list_members(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
) -> Result<Reply<MemberList>> {
    Ok(Reply(MemberList {
        members: s.ats.list_members(&viewer, slugs.get("org")).await?,
    }))
}

pub(super) async fn add_member(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
    ApiJson(input): ApiJson<NewMember>,
) -> Result<Reply<MemberBody>> {
    let member = s.ats.add_member(&viewer, slugs.get("org"), input).await?;
    Ok(Reply(MemberBody { member }))
}

/// Body of `PATCH /orgs/:org/members/:type/:id`.
#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct RoleBody {
    /// Required: owner, admin, member or viewer.
    #[schema(required = true, value_type = crate::service::documented::Role)]
    role: Option<String>,
}

pub(super) async fn update_member(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
    ApiJson(body): ApiJson<RoleBody>,
) -> Result<Reply<MemberBody>> {
    let member = s
        .ats
        .update_member(
            &viewer,
            slugs.get("org"),
            slugs.get("actor_type"),
            slugs.get("actor_id"),
            body.role.as_deref(),
        )
        .await?;
    Ok(Reply(MemberBody { member }))
}

pub(super) async fn remove_member(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
) -> Result<Reply<Removed>> {
    s.ats
        .remove_member(
            &viewer,
            slugs.get("org"),
            slugs.get("actor_type"),
            slugs.get("actor_id"),
        )
        .await?;
    Ok(Reply(Removed { deleted: true }))
}

pub(super) async fn list_invitations(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
) -> Result<Reply<InvitationList>> {
    Ok(Reply(InvitationList {
        invitations: s.ats.list_invitations(&viewer, slugs.get("org")).await?,
    }))
}

pub(super) async fn invite(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
    ApiJson(input): ApiJson<NewInvitation>,
) -> Result<Reply<InvitationCreated>> {
    let (invitation, token) = s
        .ats
        .create_invitation(&viewer, slugs.get("org"), input)
        .await?;
    Ok(Reply(InvitationCreated { invitation, token }))
}

pub(super) async fn list_permissions(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
) -> Result<Reply<PermissionList>> {
    Ok(Reply(PermissionList {
        permissions: s.ats.list_permissions(&viewer, slugs.get("org")).await?,
    }))
}

pub(super) async fn grant(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
    ApiJson(input): ApiJson<NewPermission>,
) -> Result<Reply<PermissionBody>> {
    let permission = s
        .ats
        .grant_permission(&viewer, slugs.get("org"), input)
        .await?;
    Ok(Reply(PermissionBody { permission }))
}

pub(super) async fn revoke(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
) -> Result<Reply<Deleted>> {
    let raw = slugs.get("id");
    let id: i64 = raw
        .parse()
        .map_err(|_| Error::bad_request(format!("invalid permission id '{raw}'")))?;
    s.ats
        .revoke_permission(&viewer, slugs.get("org"), id)
        .await?;
    Ok(Reply(Deleted { deleted: true, id }))
}
