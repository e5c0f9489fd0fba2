//! Identities, API keys, guardians, invitations and namespace permissions.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn fk(name: &str, from_table: &str, from_col: &str, to_table: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from_table.to_owned(), from_col.to_owned())
        .to(to_table.to_owned(), "id")
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

fn unique(name: &str, table: &str, cols: &[&str]) -> IndexCreateStatement {
    let mut stmt = Index::create();
    stmt.name(name)
        .table(table.to_owned())
        .unique()
        .if_not_exists();
    for col in cols {
        stmt.col(String::from(*col));
    }
    stmt.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("identities")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string("actor_type"))
                    .col(string("actor_id"))
                    .col(string("display_name"))
                    .col(string_null("email"))
                    .col(string_null("password_hash"))
                    .col(json_binary("profile"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique(
                "ux_identities_actor",
                "identities",
                &["actor_type", "actor_id"],
            ))
            .await?;
        manager
            .create_index(unique("ux_identities_email", "identities", &["email"]))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("api_keys")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("identity_id"))
                    .col(string("name"))
                    .col(string("prefix"))
                    .col(string_uniq("key_hash"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("last_used_at"))
                    .col(timestamp_with_time_zone_null("expires_at"))
                    .foreign_key(&mut fk(
                        "fk_api_keys_identity",
                        "api_keys",
                        "identity_id",
                        "identities",
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("guardian_links")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("agent_identity_id"))
                    .col(string_uniq("token_hash"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("used_at"))
                    .foreign_key(&mut fk(
                        "fk_guardian_links_agent",
                        "guardian_links",
                        "agent_identity_id",
                        "identities",
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("guardianships")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("guardian_identity_id"))
                    .col(big_integer("agent_identity_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk(
                        "fk_guardianships_guardian",
                        "guardianships",
                        "guardian_identity_id",
                        "identities",
                    ))
                    .foreign_key(&mut fk(
                        "fk_guardianships_agent",
                        "guardianships",
                        "agent_identity_id",
                        "identities",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique(
                "ux_guardianships_pair",
                "guardianships",
                &["guardian_identity_id", "agent_identity_id"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("invitations")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(integer("org_id"))
                    .col(string_null("email"))
                    .col(string_null("actor_type"))
                    .col(string_null("actor_id"))
                    .col(string("role"))
                    .col(string_uniq("token_hash"))
                    .col(string("status"))
                    .col(string("invited_by_type"))
                    .col(string("invited_by_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(timestamp_with_time_zone_null("responded_at"))
                    .foreign_key(&mut fk(
                        "fk_invitations_org",
                        "invitations",
                        "org_id",
                        "orgs",
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("permissions")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(integer("org_id"))
                    .col(string("actor_type"))
                    .col(string("actor_id"))
                    .col(string("namespace"))
                    .col(string("access"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(&mut fk(
                        "fk_permissions_org",
                        "permissions",
                        "org_id",
                        "orgs",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique(
                "ux_permissions_grant",
                "permissions",
                &["org_id", "actor_type", "actor_id", "namespace"],
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "permissions",
            "invitations",
            "guardianships",
            "guardian_links",
            "api_keys",
            "identities",
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
