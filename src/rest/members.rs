//! `/orgs/:org/members`, `/invitations`, `/permissions`.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, patch};
use serde::Deserialize;
use utoipa::ToSchema;

use super::access_bodies::{
    Deleted, InvitationCreated, InvitationList, MemberBody, MemberList, PermissionBody,
    PermissionList, Removed,
};
use super::bodies::{
    BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, Reply, Unauthorized, Unprocessable,
};
use super::extract::Slugs;
use crate::app::AppState;
use crate::app::{ApiJson, CurrentViewer};
use crate::error::{Error, Result};
use crate::service::{NewInvitation, NewMember, NewPermission};

/// Membership, invitation and permission routes of an org.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/orgs/{org}/members", get(list_members).post(add_member))
        .route(
            "/orgs/{org}/members/{actor_type}/{actor_id}",
            patch(update_member).delete(remove_member),
        )
        .route(
            "/orgs/{org}/invitations",
            get(list_invitations).post(invite),
        )
        .route("/orgs/{org}/permissions", get(list_permissions).post(grant))
        .route("/orgs/{org}/permissions/{id}", delete(revoke))
}

/// Members of an org (any reader of the org).
#[utoipa::path(
    get, path = "/orgs/{org}/members", tag = "members", operation_id = "list_members",
    params(("org" = String, Path, description = "Organization slug"), CurrentViewer),
    responses(
        (status = 200, description = "The members", body = MemberList),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
    )
)]
pub(super) async fn list_members(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
) -> Result<Reply<MemberList>> {
    Ok(Reply(MemberList {
        members: s.ats.list_members(&viewer, slugs.get("org")).await?,
    }))
}

/// Adds a member (admins; only owners grant owner).
#[utoipa::path(
    post, path = "/orgs/{org}/members", tag = "members", operation_id = "add_member",
    params(("org" = String, Path, description = "Organization slug"), CurrentViewer),
    request_body = NewMember,
    responses(
        (status = 201, description = "The member", body = MemberBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 422, response = Unprocessable),
        (status = 400, response = BadRequest),
        (status = 413, response = PayloadTooLarge),
    )
)]
pub(super) async fn add_member(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
    ApiJson(input): ApiJson<NewMember>,
) -> Result<(StatusCode, Reply<MemberBody>)> {
    let member = s.ats.add_member(&viewer, slugs.get("org"), input).await?;
    Ok((StatusCode::CREATED, Reply(MemberBody { member })))
}

/// Body of `PATCH /orgs/:org/members/:type/:id`.
#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct RoleBody {
    /// owner, admin, member or viewer.
    role: Option<String>,
}

/// Changes a member's role; an org always keeps an owner.
#[utoipa::path(
    patch, path = "/orgs/{org}/members/{actor_type}/{actor_id}", tag = "members", operation_id = "update_member",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("actor_type" = String, Path, description = "human, agent or system"),
        ("actor_id" = String, Path, description = "Actor id"),
        CurrentViewer,
    ),
    request_body = RoleBody,
    responses(
        (status = 200, description = "The member", body = MemberBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 422, response = Unprocessable),
        (status = 400, response = BadRequest),
        (status = 413, response = PayloadTooLarge),
    )
)]
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

/// Removes a member (admins, or the member itself); an org always keeps an owner.
#[utoipa::path(
    delete, path = "/orgs/{org}/members/{actor_type}/{actor_id}", tag = "members", operation_id = "remove_member",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("actor_type" = String, Path, description = "human, agent or system"),
        ("actor_id" = String, Path, description = "Actor id"),
        CurrentViewer,
    ),
    responses(
        (status = 200, description = "Removed", body = Removed),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    )
)]
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

/// Invitations of an org (admins).
#[utoipa::path(
    get, path = "/orgs/{org}/invitations", tag = "invitations", operation_id = "list_invitations",
    params(("org" = String, Path, description = "Organization slug"), CurrentViewer),
    responses(
        (status = 200, description = "The invitations", body = InvitationList),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
pub(super) async fn list_invitations(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
) -> Result<Reply<InvitationList>> {
    Ok(Reply(InvitationList {
        invitations: s.ats.list_invitations(&viewer, slugs.get("org")).await?,
    }))
}

/// Invites an email or an actor with a role (the token is in this response only; it expires in 7 days).
#[utoipa::path(
    post, path = "/orgs/{org}/invitations", tag = "invitations", operation_id = "create_invitation",
    params(("org" = String, Path, description = "Organization slug"), CurrentViewer),
    request_body = NewInvitation,
    responses(
        (status = 201, description = "The invitation and its token", body = InvitationCreated),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
        (status = 400, response = BadRequest),
        (status = 413, response = PayloadTooLarge),
    )
)]
pub(super) async fn invite(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
    ApiJson(input): ApiJson<NewInvitation>,
) -> Result<(StatusCode, Reply<InvitationCreated>)> {
    let (invitation, token) = s
        .ats
        .create_invitation(&viewer, slugs.get("org"), input)
        .await?;
    Ok((
        StatusCode::CREATED,
        Reply(InvitationCreated { invitation, token }),
    ))
}

/// Namespace permissions of an org (admins).
#[utoipa::path(
    get, path = "/orgs/{org}/permissions", tag = "permissions", operation_id = "list_permissions",
    params(("org" = String, Path, description = "Organization slug"), CurrentViewer),
    responses(
        (status = 200, description = "The permissions", body = PermissionList),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
pub(super) async fn list_permissions(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
) -> Result<Reply<PermissionList>> {
    Ok(Reply(PermissionList {
        permissions: s.ats.list_permissions(&viewer, slugs.get("org")).await?,
    }))
}

/// Grants `r` or `rw` on a project slug (or `*`) to an actor (admins).
#[utoipa::path(
    post, path = "/orgs/{org}/permissions", tag = "permissions", operation_id = "grant_permission",
    params(("org" = String, Path, description = "Organization slug"), CurrentViewer),
    request_body = NewPermission,
    responses(
        (status = 201, description = "The permission", body = PermissionBody),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
        (status = 413, response = PayloadTooLarge),
    )
)]
pub(super) async fn grant(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
    ApiJson(input): ApiJson<NewPermission>,
) -> Result<(StatusCode, Reply<PermissionBody>)> {
    let permission = s
        .ats
        .grant_permission(&viewer, slugs.get("org"), input)
        .await?;
    Ok((StatusCode::CREATED, Reply(PermissionBody { permission })))
}

/// Revokes a permission (admins).
#[utoipa::path(
    delete, path = "/orgs/{org}/permissions/{id}", tag = "permissions", operation_id = "revoke_permission",
    params(
        ("org" = String, Path, description = "Organization slug"),
        ("id" = i64, Path, description = "Permission id"),
        CurrentViewer,
    ),
    responses(
        (status = 200, description = "Revoked", body = Deleted),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
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
