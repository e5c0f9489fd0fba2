//! One record of an org's audit log.

use sea_orm::entity::prelude::*;

/// A row of `audit_log`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub org_id: i32,
    /// `member.added`, `webhook.created`, `sign_in.failed`, …
    pub action: String,
    pub actor_type: String,
    pub actor_id: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    /// JSON object of details (never a secret).
    pub data: String,
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
