//! `/auth…`: registration, login, identity, API keys, guardians, my invitations.
//! Every route here but register, login and public identities needs
//! credentials in every mode (`auth Credentials` in `operations.rs`).

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use super::access_bodies::{
    ApiKeyBody, ApiKeyList, Deleted, GuardianList, GuardianshipBody, IdentityBody, InvitationBody,
    InvitationList, LoggedOut, PublicIdentityBody,
};
use super::bodies::Reply;
use super::extract::Slugs;
use crate::app::AppState;
use crate::app::{ApiJson, ApiQuery, ClientIp, CurrentViewer};
use crate::error::{Error, Result};
use crate::service::GuardianLink;
use crate::service::{
    IdentityPatch, LoggedIn, Login, NewApiKey, PasswordChange, PasswordReset, Registered,
    Registration,
};

fn numeric(slugs: &Slugs, name: &str) -> Result<i64> {
    let raw = slugs.get(name);
    raw.parse()
        .map_err(|_| Error::bad_request(format!("invalid {name} '{raw}': expected an integer")))
}

pub(super) async fn register(
    State(s): State<AppState>,
    ClientIp(client): ClientIp,
    ApiJson(input): ApiJson<Registration>,
) -> Result<Reply<Registered>> {
    Ok(Reply(s.ats.register(input, client).await?))
}

pub(super) async fn login(
    State(s): State<AppState>,
    ClientIp(client): ClientIp,
    ApiJson(input): ApiJson<Login>,
) -> Result<Reply<LoggedIn>> {
    Ok(Reply(s.ats.login(input, client).await?))
}

pub(super) async fn logout(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
) -> Result<Reply<LoggedOut>> {
    s.ats.logout(&viewer).await?;
    Ok(Reply(LoggedOut { logged_out: true }))
}

pub(super) async fn change_password(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    ClientIp(client): ClientIp,
    ApiJson(input): ApiJson<PasswordChange>,
) -> Result<Reply<LoggedIn>> {
    Ok(Reply(s.ats.change_password(&viewer, input, client).await?))
}

pub(super) async fn reset_password(
    State(s): State<AppState>,
    ClientIp(client): ClientIp,
    ApiJson(input): ApiJson<PasswordReset>,
) -> Result<Reply<LoggedIn>> {
    Ok(Reply(s.ats.reset_password(input, client).await?))
}

pub(super) async fn me(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
) -> Result<Reply<IdentityBody>> {
    Ok(Reply(IdentityBody {
        identity: s.ats.me(&viewer).await?,
    }))
}

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
    #[param(value_type = Option<crate::actor::ActorType>, inline)]
    actor_type: Option<String>,
}

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

pub(super) async fn list_keys(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
) -> Result<Reply<ApiKeyList>> {
    Ok(Reply(ApiKeyList {
        api_keys: s.ats.list_api_keys(&viewer).await?,
    }))
}

pub(super) async fn create_key(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    ApiJson(input): ApiJson<NewApiKey>,
) -> Result<Reply<ApiKeyBody>> {
    let api_key = s.ats.create_api_key(&viewer, input).await?;
    Ok(Reply(ApiKeyBody { api_key }))
}

pub(super) async fn delete_key(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
) -> Result<Reply<Deleted>> {
    let id = numeric(&slugs, "id")?;
    s.ats.delete_api_key(&viewer, id).await?;
    Ok(Reply(Deleted { deleted: true, id }))
}

pub(super) async fn guardian_link(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
) -> Result<Reply<GuardianLink>> {
    Ok(Reply(s.ats.guardian_link(&viewer).await?))
}

pub(super) async fn guardian_confirm(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
) -> Result<Reply<GuardianshipBody>> {
    let guardianship = s.ats.confirm_guardian(&viewer, slugs.get("token")).await?;
    Ok(Reply(GuardianshipBody { guardianship }))
}

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

pub(super) async fn escalations(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
) -> Result<Reply<super::task_workflow::TaskList>> {
    let tasks = s.ats.my_escalations(&viewer).await?;
    Ok(Reply(super::task_workflow::TaskList { tasks }))
}

pub(super) async fn remove_guardian(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
) -> Result<Reply<Deleted>> {
    let id = numeric(&slugs, "id")?;
    s.ats.remove_guardian(&viewer, id).await?;
    Ok(Reply(Deleted { deleted: true, id }))
}

pub(super) async fn guardian_key(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
    slugs: Slugs,
    ApiJson(input): ApiJson<NewApiKey>,
) -> Result<Reply<ApiKeyBody>> {
    let api_key = s
        .ats
        .guardian_issue_key(&viewer, slugs.get("agent_id"), input)
        .await?;
    Ok(Reply(ApiKeyBody { api_key }))
}

pub(super) async fn my_invitations(
    State(s): State<AppState>,
    CurrentViewer(viewer): CurrentViewer,
) -> Result<Reply<InvitationList>> {
    Ok(Reply(InvitationList {
        invitations: s.ats.my_invitations(&viewer).await?,
    }))
}

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
