//! A namespace grant: `r` or `rw` on one project slug (or `*`) of an org.

use sea_orm::entity::prelude::*;

/// A row of `permissions`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "permissions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub org_id: i32,
    pub actor_type: String,
    pub actor_id: String,
    pub namespace: String,
    pub access: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
