//! Organizations, projects, members, tasks, messages and events; seeds `default/main`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn index(name: &str, table: &str, cols: &[&str]) -> IndexCreateStatement {
    let mut stmt = Index::create();
    stmt.name(name).table(table.to_owned()).if_not_exists();
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
                    .table("orgs")
                    .if_not_exists()
                    .col(pk_auto("id"))
                    .col(string_uniq("slug"))
                    .col(string("name"))
                    .col(text_null("description"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("projects")
                    .if_not_exists()
                    .col(pk_auto("id"))
                    .col(integer("org_id"))
                    .col(string("slug"))
                    .col(string("name"))
                    .col(text_null("description"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_projects_org")
                            .from("projects", "org_id")
                            .to("orgs", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index("ux_projects_org_slug", "projects", &["org_id", "slug"])
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("org_members")
                    .if_not_exists()
                    .col(pk_auto("id"))
                    .col(integer("org_id"))
                    .col(string("actor_type"))
                    .col(string("actor_id"))
                    .col(string("role"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_org_members_org")
                            .from("org_members", "org_id")
                            .to("orgs", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "ux_org_members_actor",
                    "org_members",
                    &["org_id", "actor_type", "actor_id"],
                )
                .unique()
                .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("tasks")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(integer("project_id"))
                    .col(string("title"))
                    .col(text_null("description"))
                    .col(string("task_type"))
                    .col(string("channel"))
                    .col(integer("priority"))
                    .col(string("status"))
                    .col(json_binary("payload"))
                    .col(json_binary("outputs"))
                    .col(string("source_type"))
                    .col(string("source_id"))
                    .col(string_null("source_name"))
                    .col(string_null("assignee_type"))
                    .col(string_null("assignee_id"))
                    .col(string_null("assignee_name"))
                    .col(timestamp_with_time_zone_null("lease_expires"))
                    .col(text_null("reason"))
                    .col(big_integer_null("parent_id"))
                    .col(integer("attempts").default(0))
                    .col(integer_null("max_attempts"))
                    .col(big_integer("version").default(0))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(timestamp_with_time_zone_null("claimed_at"))
                    .col(timestamp_with_time_zone_null("completed_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_tasks_project")
                            .from("tasks", "project_id")
                            .to("projects", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_tasks_parent")
                            .from("tasks", "parent_id")
                            .to("tasks", "id")
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        // Claimable lookup (project, status, most urgent first) and the list filters.
        for (name, cols) in [
            (
                "ix_tasks_claimable",
                &["project_id", "status", "priority", "created_at"][..],
            ),
            ("ix_tasks_lease", &["status", "lease_expires"][..]),
            ("ix_tasks_channel", &["channel", "status"][..]),
            ("ix_tasks_type", &["task_type", "status"][..]),
            ("ix_tasks_assignee", &["assignee_id"][..]),
            ("ix_tasks_created", &["created_at"][..]),
            ("ix_tasks_updated", &["updated_at"][..]),
            ("ix_tasks_parent", &["parent_id"][..]),
        ] {
            manager.create_index(index(name, "tasks", cols)).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table("messages")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(big_integer("task_id"))
                    .col(string("actor_type"))
                    .col(string("actor_id"))
                    .col(string_null("actor_name"))
                    .col(json_binary("parts"))
                    .col(timestamp_with_time_zone("created_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_messages_task")
                            .from("messages", "task_id")
                            .to("tasks", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("ix_messages_task", "messages", &["task_id", "id"]))
            .await?;

        // Events outlive their task (a deleted task keeps its history), so no foreign key to tasks.
        manager
            .create_table(
                Table::create()
                    .table("events")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string("event_type"))
                    .col(big_integer("task_id"))
                    .col(integer("org_id"))
                    .col(integer("project_id"))
                    .col(string("org"))
                    .col(string("project"))
                    .col(string("channel"))
                    .col(string("task_type"))
                    .col(string("actor_type"))
                    .col(string("actor_id"))
                    .col(string_null("actor_name"))
                    .col(json_binary("data"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("ix_events_task", "events", &["task_id", "id"]))
            .await?;
        manager
            .create_index(index("ix_events_project", "events", &["project_id", "id"]))
            .await?;

        seed_default_project(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "events",
            "messages",
            "tasks",
            "org_members",
            "projects",
            "orgs",
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}

/// The org `default` with project `main` always exists.
async fn seed_default_project(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let now = Expr::current_timestamp();
    manager
        .exec_stmt(
            Query::insert()
                .into_table("orgs")
                .columns(["slug", "name", "description", "created_at", "updated_at"])
                .values_panic([
                    "default".into(),
                    "Default".into(),
                    "The default organization".into(),
                    now.clone(),
                    now.clone(),
                ])
                .to_owned(),
        )
        .await?;
    manager
        .exec_stmt(
            Query::insert()
                .into_table("projects")
                .columns([
                    "org_id",
                    "slug",
                    "name",
                    "description",
                    "created_at",
                    "updated_at",
                ])
                .select_from(
                    Query::select()
                        .column("id")
                        .expr(Expr::val("main"))
                        .expr(Expr::val("Main"))
                        .expr(Expr::val("The default project"))
                        .expr(now.clone())
                        .expr(now)
                        .from("orgs")
                        .and_where(Expr::col("slug").eq("default"))
                        .to_owned(),
                )
                .map_err(|e| DbErr::Custom(e.to_string()))?
                .to_owned(),
        )
        .await
}
