//! Who an overdue task escalated to: each row is one person's per-task right
//! to read, cancel, release or complete the task.

use sea_orm::entity::prelude::*;

/// A row of `escalations`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "escalations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub task_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub actor_type: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub actor_id: String,
    /// Why this person: `assignee_guardian`, `creator_guardian`, `org_admin`.
    pub via: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
