//! `/auth…`: registration, login, identity, API keys, guardians, my invitations.
//! Every route here but register and login needs credentials in every mode.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use serde::Deserialize;
use utoipa::IntoParams;

use super::access_bodies::{
    ApiKeyBody, ApiKeyList, Deleted, GuardianList, GuardianshipBody, IdentityBody, InvitationBody,
    InvitationList, PublicIdentityBody,
};
use super::bodies::{
    BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, Reply, Unauthorized, Unprocessable,
};
use super::extract::Slugs;
use crate::app::AppState;
use crate::app::{ApiJson, ApiQuery, CurrentViewer};
use crate::error::{Error, Result};
use crate::service::GuardianLink;
use crate::service::{IdentityPatch, LoggedIn, Login, NewApiKey, Registered, Registration};

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

/// Registers an identity; returns it with a first API key and a JWT (both shown once).
#[utoipa::path(
    post, path = "/auth/register", tag = "auth", operation_id = "register",
    request_body = Registration,
    responses(
        (status = 201, description = "The identity, an API key and a token", body = Registered),
        (status = 400, response = BadRequest),
        (status = 409, response = Conflict),
        (status = 422, response = Unprocessable),
        (status = 413, response = PayloadTooLarge),
    )
)]
pub(super) async fn register(
    State(s): State<AppState>,
    ApiJson(input): ApiJson<Registration>,
) -> Result<(StatusCode, Reply<Registered>)> {
    Ok((StatusCode::CREATED, Reply(s.ats.register(input).await?)))
}

/// Exchanges an email or actor id and a password for a JWT.
#[utoipa::path(
    post, path = "/auth/login", tag = "auth", operation_id = "login",
    request_body = Login,
    responses(
        (status = 200, description = "A token and its expiry", body = LoggedIn),
        (status = 401, response = Unauthorized),
        (status = 422, response = Unprocessable),
        (status = 400, response = BadRequest),
        (status = 413, response = PayloadTooLarge),
    )
)]
pub(super) async fn login(
    State(s): State<AppState>,
    ApiJson(input): ApiJson<Login>,
) -> Result<Reply<LoggedIn>> {
    Ok(Reply(s.ats.login(input).await?))
}

/// The caller's identity.
#[utoipa::path(
    get, path = "/auth/me", tag = "auth", operation_id = "get_me",
    responses((status = 200, description = "The identity", body = IdentityBody), (status = 401, response = Unauthorized))
)]
pub(super) async fn me(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
) -> Result<Reply<IdentityBody>> {
    Ok(Reply(IdentityBody {
        identity: s.ats.me(&viewer).await?,
    }))
}

/// Changes the caller's display name, email or profile.
#[utoipa::path(
    patch, path = "/auth/me", tag = "auth", operation_id = "update_me",
    request_body = IdentityPatch,
    responses(
        (status = 200, description = "The identity", body = IdentityBody),
        (status = 401, response = Unauthorized),
        (status = 409, response = Conflict),
        (status = 422, response = Unprocessable),
        (status = 400, response = BadRequest),
        (status = 413, response = PayloadTooLarge),
    )
)]
pub(super) async fn update_me(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    ApiJson(patch): ApiJson<IdentityPatch>,
) -> Result<Reply<IdentityBody>> {
    Ok(Reply(IdentityBody {
        identity: s.ats.update_me(&viewer, patch).await?,
    }))
}

/// Query of `GET /auth/identities/:actor_id`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct IdentityQuery {
    /// Narrow to one actor type.
    actor_type: Option<String>,
}

/// Public fields of an identity.
#[utoipa::path(
    get, path = "/auth/identities/{actor_id}", tag = "auth", operation_id = "get_identity",
    params(("actor_id" = String, Path, description = "Actor id"), IdentityQuery, CurrentViewer),
    responses(
        (status = 200, description = "Public fields", body = PublicIdentityBody),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
    )
)]
pub(super) async fn public_identity(
    State(s): State<AppState>,
    _caller: CurrentViewer,
    slugs: Slugs,
    ApiQuery(q): ApiQuery<IdentityQuery>,
) -> Result<Reply<PublicIdentityBody>> {
    let identity = s
        .ats
        .public_identity(slugs.get("actor_id"), q.actor_type.as_deref())
        .await?;
    Ok(Reply(PublicIdentityBody { identity }))
}

/// The caller's API keys (prefixes only).
#[utoipa::path(
    get, path = "/auth/api-keys", tag = "auth", operation_id = "list_api_keys",
    responses((status = 200, description = "The keys", body = ApiKeyList), (status = 401, response = Unauthorized))
)]
pub(super) async fn list_keys(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
) -> Result<Reply<ApiKeyList>> {
    Ok(Reply(ApiKeyList {
        api_keys: s.ats.list_api_keys(&viewer).await?,
    }))
}

/// Creates an API key (the key is in this response only).
#[utoipa::path(
    post, path = "/auth/api-keys", tag = "auth", operation_id = "create_api_key",
    request_body = NewApiKey,
    responses(
        (status = 201, description = "The key", body = ApiKeyBody),
        (status = 401, response = Unauthorized),
        (status = 422, response = Unprocessable),
        (status = 400, response = BadRequest),
        (status = 413, response = PayloadTooLarge),
    )
)]
pub(super) async fn create_key(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    ApiJson(input): ApiJson<NewApiKey>,
) -> Result<(StatusCode, Reply<ApiKeyBody>)> {
    let api_key = s.ats.create_api_key(&viewer, input).await?;
    Ok((StatusCode::CREATED, Reply(ApiKeyBody { api_key })))
}

/// Revokes one of the caller's API keys.
#[utoipa::path(
    delete, path = "/auth/api-keys/{id}", tag = "auth", operation_id = "delete_api_key",
    params(("id" = i64, Path, description = "API key id")),
    responses(
        (status = 200, description = "Revoked", body = Deleted),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
    )
)]
pub(super) async fn delete_key(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
) -> Result<Reply<Deleted>> {
    let id = numeric(&slugs, "id")?;
    s.ats.delete_api_key(&viewer, id).await?;
    Ok(Reply(Deleted { deleted: true, id }))
}

/// An agent creates a guardian link token for a human (valid 24 h).
#[utoipa::path(
    post, path = "/auth/me/guardian-link", tag = "guardians", operation_id = "create_guardian_link",
    responses(
        (status = 201, description = "The token", body = GuardianLink),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
    )
)]
pub(super) async fn guardian_link(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
) -> Result<(StatusCode, Reply<GuardianLink>)> {
    Ok((
        StatusCode::CREATED,
        Reply(s.ats.guardian_link(&viewer).await?),
    ))
}

/// A human confirms a guardian link token.
#[utoipa::path(
    post, path = "/auth/guardian-confirm/{token}", tag = "guardians", operation_id = "confirm_guardian",
    params(("token" = String, Path, description = "Guardian link token")),
    responses(
        (status = 201, description = "The guardianship", body = GuardianshipBody),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    )
)]
pub(super) async fn guardian_confirm(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
) -> Result<(StatusCode, Reply<GuardianshipBody>)> {
    let guardianship = s.ats.confirm_guardian(&viewer, slugs.get("token")).await?;
    Ok((
        StatusCode::CREATED,
        Reply(GuardianshipBody { guardianship }),
    ))
}

/// The caller's guardians and guarded agents.
#[utoipa::path(
    get, path = "/auth/me/guardians", tag = "guardians", operation_id = "list_guardians",
    responses((status = 200, description = "Both sides", body = GuardianList), (status = 401, response = Unauthorized))
)]
pub(super) async fn guardians(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
) -> Result<Reply<GuardianList>> {
    let (guardians, guarded_agents) = s.ats.list_guardians(&viewer).await?;
    Ok(Reply(GuardianList {
        guardians,
        guarded_agents,
    }))
}

/// Either side ends a guardian relation.
#[utoipa::path(
    delete, path = "/auth/me/guardians/{id}", tag = "guardians", operation_id = "remove_guardian",
    params(("id" = i64, Path, description = "Guardianship id")),
    responses(
        (status = 200, description = "Removed", body = Deleted),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
    )
)]
pub(super) async fn remove_guardian(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
) -> Result<Reply<Deleted>> {
    let id = numeric(&slugs, "id")?;
    s.ats.remove_guardian(&viewer, id).await?;
    Ok(Reply(Deleted { deleted: true, id }))
}

/// A guardian issues an API key for one of its agents.
#[utoipa::path(
    post, path = "/auth/guardians/{agent_id}/api-keys", tag = "guardians", operation_id = "create_agent_api_key",
    params(("agent_id" = String, Path, description = "The agent's actor id")),
    request_body = NewApiKey,
    responses(
        (status = 201, description = "The agent's new key", body = ApiKeyBody),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 400, response = BadRequest),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
    )
)]
pub(super) async fn guardian_key(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
    ApiJson(input): ApiJson<NewApiKey>,
) -> Result<(StatusCode, Reply<ApiKeyBody>)> {
    let api_key = s
        .ats
        .guardian_issue_key(&viewer, slugs.get("agent_id"), input)
        .await?;
    Ok((StatusCode::CREATED, Reply(ApiKeyBody { api_key })))
}

/// The caller's pending invitations.
#[utoipa::path(
    get, path = "/auth/invitations", tag = "invitations", operation_id = "list_my_invitations",
    responses((status = 200, description = "Pending invitations", body = InvitationList), (status = 401, response = Unauthorized))
)]
pub(super) async fn my_invitations(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
) -> Result<Reply<InvitationList>> {
    Ok(Reply(InvitationList {
        invitations: s.ats.my_invitations(&viewer).await?,
    }))
}

/// Accepts an invitation addressed to the caller (joining the org).
#[utoipa::path(
    post, path = "/auth/invitations/{token}/accept", tag = "invitations", operation_id = "accept_invitation",
    params(("token" = String, Path, description = "Invitation token")),
    responses(
        (status = 200, description = "The invitation", body = InvitationBody),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    )
)]
pub(super) async fn accept(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
) -> Result<Reply<InvitationBody>> {
    let invitation = s
        .ats
        .respond_invitation(&viewer, slugs.get("token"), true)
        .await?;
    Ok(Reply(InvitationBody { invitation }))
}

/// Declines an invitation addressed to the caller.
#[utoipa::path(
    post, path = "/auth/invitations/{token}/decline", tag = "invitations", operation_id = "decline_invitation",
    params(("token" = String, Path, description = "Invitation token")),
    responses(
        (status = 200, description = "The invitation", body = InvitationBody),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    )
)]
pub(super) async fn decline(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
) -> Result<Reply<InvitationBody>> {
    let invitation = s
        .ats
        .respond_invitation(&viewer, slugs.get("token"), false)
        .await?;
    Ok(Reply(InvitationBody { invitation }))
}
