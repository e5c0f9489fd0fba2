//! One event to deliver to one webhook, with its attempts so far.

use sea_orm::entity::prelude::*;

/// A row of `webhook_deliveries`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub webhook_id: i64,
    /// The `webhook-id` header, the same on every attempt.
    pub message_id: String,
    /// The event's log position (task events).
    pub event_id: Option<i64>,
    /// The audit record (`audit.*` events).
    pub audit_id: Option<i64>,
    pub event_type: String,
    /// The JSON body, as queued.
    pub payload: String,
    /// `pending`, `succeeded` or `failed`.
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    pub last_attempt_at: Option<DateTimeUtc>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
