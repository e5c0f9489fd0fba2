//! A webhook of an org: where matching events are delivered, signed.

use sea_orm::entity::prelude::*;

/// A row of `webhooks`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhooks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub org_id: i32,
    pub url: String,
    /// JSON array of event names, or `["*"]`.
    pub events: String,
    /// JSON array of project slugs of the org (`None`: every project).
    pub projects: Option<String>,
    pub description: Option<String>,
    pub active: bool,
    /// The signing secret as issued (`whsec_…`); it must be read to sign.
    pub secret: String,
    /// The secret before the last rotation, still signing until
    /// `previous_secret_expires_at`.
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<DateTimeUtc>,
    /// Events up to this log position predate the webhook.
    pub after_position: i64,
    /// When deliveries started failing (cleared by a success).
    pub failing_since: Option<DateTimeUtc>,
    /// When the webhook was disabled for failing too long.
    pub disabled_at: Option<DateTimeUtc>,
    pub created_by_type: String,
    pub created_by_id: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
