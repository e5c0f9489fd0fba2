//! Task dependencies and handoffs.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("task_dependencies")
                    .if_not_exists()
                    .col(big_integer("task_id"))
                    .col(big_integer("depends_on_id"))
                    .primary_key(Index::create().col("task_id").col("depends_on_id"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_task_dependencies_task")
                            .from("task_dependencies", "task_id")
                            .to("tasks", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_task_dependencies_blocker")
                            .from("task_dependencies", "depends_on_id")
                            .to("tasks", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_task_dependencies_blocker")
                    .table("task_dependencies")
                    .col("depends_on_id")
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("handoffs")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("task_id"))
                    .col(string("actor_type"))
                    .col(string("actor_id"))
                    .col(string_null("actor_name"))
                    .col(text("summary"))
                    .col(json_binary("next_steps"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_handoffs_task")
                            .from("handoffs", "task_id")
                            .to("tasks", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_handoffs_task")
                    .table("handoffs")
                    .col("task_id")
                    .col("id")
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["handoffs", "task_dependencies"] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
