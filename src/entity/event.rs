//! An event: one row per change, written in the change's transaction.

use sea_orm::entity::prelude::*;

/// A row of `events`. `position`, equal to `id` and set when the event is
/// inserted, is its place in the log and the resume cursor; readers see the
/// log up to its watermark only (see `crate::events`).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub event_type: String,
    pub task_id: i64,
    pub org_id: i32,
    pub project_id: i32,
    pub org: String,
    pub project: String,
    pub channel: String,
    pub task_type: String,
    pub actor_type: String,
    pub actor_id: String,
    pub actor_name: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub data: Json,
    pub created_at: DateTimeUtc,
    /// The log position (the id; `None` only in rows written before migration 5).
    pub position: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
