//! A one-time token an agent hands to a human to become its guardian.

use sea_orm::entity::prelude::*;

/// A row of `guardian_links`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "guardian_links")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub agent_identity_id: i64,
    pub token_hash: String,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub used_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
