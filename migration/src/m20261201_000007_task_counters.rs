//! What a transition needs to know about a task's neighbours, kept on the
//! task row so the hot path reads nothing else:
//! - `depends_on`: the ids of its blockers (a copy of its `task_dependencies`
//!   rows, as a JSON array), so a task view needs no extra read;
//! - `has_dependents`: some task depends on it (set once, never cleared), so
//!   completing a task nobody waits for touches no other row;
//! - `open_subtasks`: how many of its subtasks are pending or in progress,
//!   kept in the subtask's transaction, so completing a parent and noticing
//!   its last subtask finishing need no count.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let json_array = match manager.get_database_backend() {
            sea_orm_migration::sea_orm::DbBackend::Postgres => {
                "COALESCE((SELECT jsonb_agg(d.depends_on_id ORDER BY d.depends_on_id) \
                 FROM task_dependencies d WHERE d.task_id = tasks.id), '[]'::jsonb)"
            }
            _ => {
                "COALESCE((SELECT json_group_array(depends_on_id) FROM (SELECT d.depends_on_id \
                 FROM task_dependencies d WHERE d.task_id = tasks.id ORDER BY d.depends_on_id)), '[]')"
            }
        };
        let json_type = match manager.get_database_backend() {
            sea_orm_migration::sea_orm::DbBackend::Postgres => "JSONB NOT NULL DEFAULT '[]'::jsonb",
            _ => "jsonb_text NOT NULL DEFAULT '[]'",
        };
        for sql in [
            format!("ALTER TABLE tasks ADD COLUMN depends_on {json_type}"),
            "ALTER TABLE tasks ADD COLUMN has_dependents BOOLEAN NOT NULL DEFAULT FALSE".to_owned(),
            "ALTER TABLE tasks ADD COLUMN open_subtasks INTEGER NOT NULL DEFAULT 0".to_owned(),
            format!("UPDATE tasks SET depends_on = {json_array}"),
            "UPDATE tasks SET has_dependents = TRUE WHERE id IN \
             (SELECT depends_on_id FROM task_dependencies)"
                .to_owned(),
            "UPDATE tasks SET open_subtasks = (SELECT COUNT(*) FROM tasks c \
             WHERE c.parent_id = tasks.id AND c.status IN ('pending', 'in_progress'))"
                .to_owned(),
        ] {
            db.execute_unprepared(&sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for col in ["depends_on", "has_dependents", "open_subtasks"] {
            db.execute_unprepared(&format!("ALTER TABLE tasks DROP COLUMN {col}"))
                .await?;
        }
        Ok(())
    }
}
