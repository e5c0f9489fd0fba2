//! Response bodies of the identity and access routes, for handlers and `/openapi.json`.

use serde::Serialize;
use utoipa::ToSchema;

use crate::service::{
    ApiKeyView, GuardianshipView, IdentityView, InvitationView, MemberView, PermissionView,
    PublicIdentityView,
};

/// `{"identity": …}` (the caller's own).
#[derive(Serialize, ToSchema)]
pub struct IdentityBody {
    pub identity: IdentityView,
}

/// `{"identity": …}` (public fields).
#[derive(Serialize, ToSchema)]
pub struct PublicIdentityBody {
    pub identity: PublicIdentityView,
}

/// `{"api_key": …}`, with `key` when just created.
#[derive(Serialize, ToSchema)]
pub struct ApiKeyBody {
    pub api_key: ApiKeyView,
}

/// `{"api_keys": […]}` (prefixes only).
#[derive(Serialize, ToSchema)]
pub struct ApiKeyList {
    pub api_keys: Vec<ApiKeyView>,
}

/// `{"guardianship": …}`
#[derive(Serialize, ToSchema)]
pub struct GuardianshipBody {
    pub guardianship: GuardianshipView,
}

/// `{"guardians": […], "guarded_agents": […]}`
#[derive(Serialize, ToSchema)]
pub struct GuardianList {
    pub guardians: Vec<GuardianshipView>,
    pub guarded_agents: Vec<GuardianshipView>,
}

/// `{"member": …}`
#[derive(Serialize, ToSchema)]
pub struct MemberBody {
    pub member: MemberView,
}

/// `{"members": […]}`
#[derive(Serialize, ToSchema)]
pub struct MemberList {
    pub members: Vec<MemberView>,
}

/// `{"invitation": …}`
#[derive(Serialize, ToSchema)]
pub struct InvitationBody {
    pub invitation: InvitationView,
}

/// `{"invitation": …, "token": …}` (the token is shown only here).
#[derive(Serialize, ToSchema)]
pub struct InvitationCreated {
    pub invitation: InvitationView,
    pub token: String,
}

/// `{"invitations": […]}`
#[derive(Serialize, ToSchema)]
pub struct InvitationList {
    pub invitations: Vec<InvitationView>,
}

/// `{"permission": …}`
#[derive(Serialize, ToSchema)]
pub struct PermissionBody {
    pub permission: PermissionView,
}

/// `{"permissions": […]}`
#[derive(Serialize, ToSchema)]
pub struct PermissionList {
    pub permissions: Vec<PermissionView>,
}

/// `{"logged_out": true}`
#[derive(Serialize, ToSchema)]
pub struct LoggedOut {
    pub logged_out: bool,
}

/// `{"deleted": true, "id": …}`
#[derive(Serialize, ToSchema)]
pub struct Deleted {
    pub deleted: bool,
    pub id: i64,
}

/// `{"deleted": true}`
#[derive(Serialize, ToSchema)]
pub struct Removed {
    pub deleted: bool,
}
