//! The ready queue: claim-next served by an index at any depth.
//!
//! `open_blockers` counts a task's dependencies that are not completed; it is
//! maintained in the transaction that changes a blocker. A task is *ready*
//! when it is pending, unblocked and under its attempt cap: a condition on
//! the row alone, so a partial index can hold exactly the ready tasks, most
//! urgent first, and claim-next reads the first unlocked one.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The rows the ready indexes hold; claim-next's condition, word for word.
pub const READY: &str = "status = 'pending' AND open_blockers = 0 AND (max_attempts IS NULL OR attempts < max_attempts)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "ALTER TABLE tasks ADD COLUMN open_blockers INTEGER NOT NULL DEFAULT 0".to_owned(),
            "UPDATE tasks SET open_blockers = (SELECT COUNT(*) FROM task_dependencies d \
             JOIN tasks b ON b.id = d.depends_on_id \
             WHERE d.task_id = tasks.id AND b.status <> 'completed')"
                .to_owned(),
            format!(
                "CREATE INDEX ix_tasks_ready ON tasks (priority DESC, created_at, id) WHERE {READY}"
            ),
            format!(
                "CREATE INDEX ix_tasks_ready_project ON tasks \
                 (project_id, priority DESC, created_at, id) WHERE {READY}"
            ),
            format!(
                "CREATE INDEX ix_tasks_ready_channel ON tasks \
                 (project_id, channel, priority DESC, created_at, id) WHERE {READY}"
            ),
            // It led the planner, before statistics exist (a fresh bulk
            // load), to sort every pending task of a project instead of
            // reading the ready queue in order.
            "DROP INDEX ix_tasks_claimable".to_owned(),
        ] {
            db.execute_unprepared(&sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "DROP INDEX ix_tasks_ready",
            "DROP INDEX ix_tasks_ready_project",
            "DROP INDEX ix_tasks_ready_channel",
            "CREATE INDEX ix_tasks_claimable ON tasks (project_id, status, priority, created_at)",
            "ALTER TABLE tasks DROP COLUMN open_blockers",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
