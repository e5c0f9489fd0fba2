//! A human vouching for an agent.

use sea_orm::entity::prelude::*;

/// A row of `guardianships`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "guardianships")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub guardian_identity_id: i64,
    pub agent_identity_id: i64,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
