//! The index of the priority order of task lists (status filter, then
//! priority, then id). It is on `priority + 0`, which task lists sort by,
//! and not on `priority`: claim-next orders the ready queue by `priority`,
//! and an index on the plain column drew it, before statistics existed,
//! away from the ready-queue index to sort every pending task (measured:
//! 40 cycles/s instead of hundreds at 30,000 queued). No claim can use an
//! index on the expression.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX ix_tasks_status_priority ON tasks (status, (priority + 0), id)",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX ix_tasks_status_priority")
            .await?;
        Ok(())
    }
}
