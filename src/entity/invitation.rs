//! An invitation to join an organization with a role.

use sea_orm::entity::prelude::*;

/// A row of `invitations`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invitations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub org_id: i32,
    pub email: Option<String>,
    pub actor_type: Option<String>,
    pub actor_id: Option<String>,
    pub role: String,
    /// Hex SHA-256 of the invitation token.
    pub token_hash: String,
    /// pending, accepted, declined.
    pub status: String,
    pub invited_by_type: String,
    pub invited_by_id: String,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub responded_at: Option<DateTimeUtc>,
    /// For an email invitation, the identity that held the address when
    /// the invitation was made (none: nobody did, and only the token proves
    /// who it is for).
    pub identity_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
