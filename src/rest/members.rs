//! `/orgs/:org/members`, `/invitations`, `/permissions`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, patch};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::extract::{ApiJson, CurrentActor, Slugs};
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

async fn list_members(
    State(s): State<AppState>,
    CurrentActor(a): CurrentActor,
    slugs: Slugs,
) -> Result<Json<Value>> {
    Ok(Json(
        json!({ "members": s.ats.list_members(&a, slugs.get("org")).await? }),
    ))
}

async fn add_member(
    State(s): State<AppState>,
    CurrentActor(a): CurrentActor,
    slugs: Slugs,
    ApiJson(input): ApiJson<NewMember>,
) -> Result<(StatusCode, Json<Value>)> {
    let m = s.ats.add_member(&a, slugs.get("org"), input).await?;
    Ok((StatusCode::CREATED, Json(json!({ "member": m }))))
}

/// Body of `PATCH /orgs/:org/members/:type/:id`.
#[derive(Debug, Deserialize)]
struct RoleBody {
    role: Option<String>,
}

async fn update_member(
    State(s): State<AppState>,
    CurrentActor(a): CurrentActor,
    slugs: Slugs,
    ApiJson(body): ApiJson<RoleBody>,
) -> Result<Json<Value>> {
    let m = s
        .ats
        .update_member(
            &a,
            slugs.get("org"),
            slugs.get("actor_type"),
            slugs.get("actor_id"),
            body.role.as_deref(),
        )
        .await?;
    Ok(Json(json!({ "member": m })))
}

async fn remove_member(
    State(s): State<AppState>,
    CurrentActor(a): CurrentActor,
    slugs: Slugs,
) -> Result<Json<Value>> {
    s.ats
        .remove_member(
            &a,
            slugs.get("org"),
            slugs.get("actor_type"),
            slugs.get("actor_id"),
        )
        .await?;
    Ok(Json(json!({ "deleted": true })))
}

async fn list_invitations(
    State(s): State<AppState>,
    CurrentActor(a): CurrentActor,
    slugs: Slugs,
) -> Result<Json<Value>> {
    Ok(Json(
        json!({ "invitations": s.ats.list_invitations(&a, slugs.get("org")).await? }),
    ))
}

async fn invite(
    State(s): State<AppState>,
    CurrentActor(a): CurrentActor,
    slugs: Slugs,
    ApiJson(input): ApiJson<NewInvitation>,
) -> Result<(StatusCode, Json<Value>)> {
    let (inv, token) = s.ats.create_invitation(&a, slugs.get("org"), input).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "invitation": inv, "token": token })),
    ))
}

async fn list_permissions(
    State(s): State<AppState>,
    CurrentActor(a): CurrentActor,
    slugs: Slugs,
) -> Result<Json<Value>> {
    Ok(Json(
        json!({ "permissions": s.ats.list_permissions(&a, slugs.get("org")).await? }),
    ))
}

async fn grant(
    State(s): State<AppState>,
    CurrentActor(a): CurrentActor,
    slugs: Slugs,
    ApiJson(input): ApiJson<NewPermission>,
) -> Result<(StatusCode, Json<Value>)> {
    let p = s.ats.grant_permission(&a, slugs.get("org"), input).await?;
    Ok((StatusCode::CREATED, Json(json!({ "permission": p }))))
}

async fn revoke(
    State(s): State<AppState>,
    CurrentActor(a): CurrentActor,
    slugs: Slugs,
) -> Result<Json<Value>> {
    let raw = slugs.get("id");
    let id: i64 = raw
        .parse()
        .map_err(|_| Error::bad_request(format!("invalid permission id '{raw}'")))?;
    s.ats.revoke_permission(&a, slugs.get("org"), id).await?;
    Ok(Json(json!({ "deleted": true, "id": id })))
}
