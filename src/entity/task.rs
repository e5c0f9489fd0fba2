//! A task: the unit of work handed between actors.

use sea_orm::entity::prelude::*;

/// A row of `tasks`. `version` is bumped by every write and is the compare-and-set guard.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tasks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub project_id: i32,
    pub title: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub description: Option<String>,
    pub task_type: String,
    pub channel: String,
    pub priority: i32,
    pub status: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub payload: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub outputs: Json,
    pub source_type: String,
    pub source_id: String,
    pub source_name: Option<String>,
    pub assignee_type: Option<String>,
    pub assignee_id: Option<String>,
    pub assignee_name: Option<String>,
    pub lease_expires: Option<DateTimeUtc>,
    #[sea_orm(column_type = "Text", nullable)]
    pub reason: Option<String>,
    pub parent_id: Option<i64>,
    pub attempts: i32,
    pub max_attempts: Option<i32>,
    pub version: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub claimed_at: Option<DateTimeUtc>,
    pub completed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
