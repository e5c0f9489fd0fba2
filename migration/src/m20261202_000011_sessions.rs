//! Sessions and credentials an operator can end: a per-identity token
//! epoch (a password change or reset ends every login token issued
//! before it), a deny-list of logged-out tokens, one-time password-reset
//! tokens, API keys limited to reading or to named projects, and email
//! invitations bound to the identity that held the address when they were
//! made.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// One column per `ALTER TABLE`: SQLite adds columns one at a time.
async fn add_column(
    manager: &SchemaManager<'_>,
    table: &str,
    column: ColumnDef,
) -> Result<(), DbErr> {
    let mut column = column;
    manager
        .alter_table(
            Table::alter()
                .table(table.to_owned())
                .add_column(&mut column)
                .to_owned(),
        )
        .await
}

async fn drop_column(manager: &SchemaManager<'_>, table: &str, column: &str) -> Result<(), DbErr> {
    manager
        .alter_table(
            Table::alter()
                .table(table.to_owned())
                .drop_column(column.to_owned())
                .to_owned(),
        )
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction, so SQLite's DDL runs on one connection.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_column(
            manager,
            "identities",
            integer("token_epoch").default(0).to_owned(),
        )
        .await?;
        add_column(
            manager,
            "api_keys",
            boolean("read_only").default(false).to_owned(),
        )
        .await?;
        add_column(manager, "api_keys", text_null("projects")).await?;
        add_column(manager, "invitations", big_integer_null("identity_id")).await?;
        // Pending email invitations made before this migration: bound to
        // whoever holds the address now, the best this store can know.
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE invitations SET identity_id = \
                 (SELECT i.id FROM identities i WHERE i.email = invitations.email) \
                 WHERE email IS NOT NULL AND status = 'pending'",
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("revoked_tokens")
                    .col(string("jti").primary_key())
                    .col(timestamp_with_time_zone("expires_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_revoked_tokens_expiry")
                    .table("revoked_tokens")
                    .col("expires_at")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("password_resets")
                    .col(big_pk_auto("id"))
                    .col(big_integer("identity_id"))
                    .col(string_uniq("token_hash"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("used_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_password_resets_identity")
                            .from("password_resets", "identity_id")
                            .to("identities", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("password_resets").to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table("revoked_tokens").to_owned())
            .await?;
        drop_column(manager, "invitations", "identity_id").await?;
        drop_column(manager, "api_keys", "projects").await?;
        drop_column(manager, "api_keys", "read_only").await?;
        drop_column(manager, "identities", "token_epoch").await
    }
}
