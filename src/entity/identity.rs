//! A registered actor: who can log in or hold API keys.

use sea_orm::entity::prelude::*;

/// A row of `identities`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "identities")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub actor_type: String,
    pub actor_id: String,
    pub display_name: String,
    pub email: Option<String>,
    /// Argon2id PHC string; never leaves the service layer.
    pub password_hash: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub profile: Json,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Login tokens carry the epoch they were issued in; raising it (a
    /// password change or reset) ends every token issued before.
    pub token_epoch: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
