//! `/auth…`: registration, login, identity, API keys, guardians, my invitations.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::extract::{ApiJson, ApiQuery, Authenticated, Slugs};
use crate::error::{Error, Result};
use crate::service::{IdentityPatch, Login, NewApiKey, Registration};

/// The identity routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/register", post(register))
        .route("/auth/login", post(login))
        .route("/auth/me", get(me).patch(update_me))
        .route("/auth/identities/{actor_id}", get(public_identity))
        .route("/auth/api-keys", get(list_keys).post(create_key))
        .route("/auth/api-keys/{id}", delete(delete_key))
        .route("/auth/me/guardian-link", post(guardian_link))
        .route("/auth/guardian-confirm/{token}", post(guardian_confirm))
        .route("/auth/me/guardians", get(guardians))
        .route("/auth/me/guardians/{id}", delete(remove_guardian))
        .route("/auth/guardians/{agent_id}/api-keys", post(guardian_key))
        .route("/auth/invitations", get(my_invitations))
        .route("/auth/invitations/{token}/accept", post(accept))
        .route("/auth/invitations/{token}/decline", post(decline))
}

fn numeric(slugs: &Slugs, name: &str) -> Result<i64> {
    let raw = slugs.get(name);
    raw.parse()
        .map_err(|_| Error::bad_request(format!("invalid {name} '{raw}': expected an integer")))
}

async fn register(
    State(s): State<AppState>,
    ApiJson(input): ApiJson<Registration>,
) -> Result<(StatusCode, Json<Value>)> {
    let r = s.ats.register(input).await?;
    Ok((StatusCode::CREATED, Json(json!(r))))
}

async fn login(State(s): State<AppState>, ApiJson(input): ApiJson<Login>) -> Result<Json<Value>> {
    Ok(Json(json!(s.ats.login(input).await?)))
}

async fn me(State(s): State<AppState>, Authenticated(p): Authenticated) -> Result<Json<Value>> {
    Ok(Json(json!({ "identity": s.ats.me(&p).await? })))
}

async fn update_me(
    State(s): State<AppState>,
    Authenticated(p): Authenticated,
    ApiJson(patch): ApiJson<IdentityPatch>,
) -> Result<Json<Value>> {
    Ok(Json(
        json!({ "identity": s.ats.update_me(&p, patch).await? }),
    ))
}

/// Query of `GET /auth/identities/:actor_id`.
#[derive(Debug, Deserialize)]
struct IdentityQuery {
    actor_type: Option<String>,
}

async fn public_identity(
    State(s): State<AppState>,
    _caller: super::extract::CurrentActor,
    slugs: Slugs,
    ApiQuery(q): ApiQuery<IdentityQuery>,
) -> Result<Json<Value>> {
    let identity = s
        .ats
        .public_identity(slugs.get("actor_id"), q.actor_type.as_deref())
        .await?;
    Ok(Json(json!({ "identity": identity })))
}

async fn list_keys(
    State(s): State<AppState>,
    Authenticated(p): Authenticated,
) -> Result<Json<Value>> {
    Ok(Json(json!({ "api_keys": s.ats.list_api_keys(&p).await? })))
}

async fn create_key(
    State(s): State<AppState>,
    Authenticated(p): Authenticated,
    ApiJson(input): ApiJson<NewApiKey>,
) -> Result<(StatusCode, Json<Value>)> {
    let key = s.ats.create_api_key(&p, input).await?;
    Ok((StatusCode::CREATED, Json(json!({ "api_key": key }))))
}

async fn delete_key(
    State(s): State<AppState>,
    Authenticated(p): Authenticated,
    slugs: Slugs,
) -> Result<Json<Value>> {
    let id = numeric(&slugs, "id")?;
    s.ats.delete_api_key(&p, id).await?;
    Ok(Json(json!({ "deleted": true, "id": id })))
}

async fn guardian_link(
    State(s): State<AppState>,
    Authenticated(p): Authenticated,
) -> Result<(StatusCode, Json<Value>)> {
    Ok((
        StatusCode::CREATED,
        Json(json!(s.ats.guardian_link(&p).await?)),
    ))
}

async fn guardian_confirm(
    State(s): State<AppState>,
    Authenticated(p): Authenticated,
    slugs: Slugs,
) -> Result<(StatusCode, Json<Value>)> {
    let g = s.ats.confirm_guardian(&p, slugs.get("token")).await?;
    Ok((StatusCode::CREATED, Json(json!({ "guardianship": g }))))
}

async fn guardians(
    State(s): State<AppState>,
    Authenticated(p): Authenticated,
) -> Result<Json<Value>> {
    let (guardians, guarded) = s.ats.list_guardians(&p).await?;
    Ok(Json(
        json!({ "guardians": guardians, "guarded_agents": guarded }),
    ))
}

async fn remove_guardian(
    State(s): State<AppState>,
    Authenticated(p): Authenticated,
    slugs: Slugs,
) -> Result<Json<Value>> {
    let id = numeric(&slugs, "id")?;
    s.ats.remove_guardian(&p, id).await?;
    Ok(Json(json!({ "deleted": true, "id": id })))
}

async fn guardian_key(
    State(s): State<AppState>,
    Authenticated(p): Authenticated,
    slugs: Slugs,
    ApiJson(input): ApiJson<NewApiKey>,
) -> Result<(StatusCode, Json<Value>)> {
    let key = s
        .ats
        .guardian_issue_key(&p, slugs.get("agent_id"), input)
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "api_key": key }))))
}

async fn my_invitations(
    State(s): State<AppState>,
    Authenticated(p): Authenticated,
) -> Result<Json<Value>> {
    Ok(Json(
        json!({ "invitations": s.ats.my_invitations(&p).await? }),
    ))
}

async fn accept(
    State(s): State<AppState>,
    Authenticated(p): Authenticated,
    slugs: Slugs,
) -> Result<Json<Value>> {
    let inv = s
        .ats
        .respond_invitation(&p, slugs.get("token"), true)
        .await?;
    Ok(Json(json!({ "invitation": inv })))
}

async fn decline(
    State(s): State<AppState>,
    Authenticated(p): Authenticated,
    slugs: Slugs,
) -> Result<Json<Value>> {
    let inv = s
        .ats
        .respond_invitation(&p, slugs.get("token"), false)
        .await?;
    Ok(Json(json!({ "invitation": inv })))
}
