//! Indexes that hold only the rows their readers look for, so a claim or a
//! complete, which moves a task's row, maintains fewer index entries:
//! - `ix_tasks_lease`: the leases the reaper watches, in-progress tasks
//!   only (`LEASED`, which the reaper's query states word for word);
//! - `ix_tasks_parent`: subtasks only (most tasks have no parent).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The rows the lease index holds; the reaper's condition, word for word.
pub const LEASED: &str = "status = 'in_progress'";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction on one connection, SQLite included: an index is
    /// dropped and made again under the same name.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "DROP INDEX ix_tasks_lease".to_owned(),
            format!("CREATE INDEX ix_tasks_lease ON tasks (lease_expires) WHERE {LEASED}"),
            "DROP INDEX ix_tasks_parent".to_owned(),
            "CREATE INDEX ix_tasks_parent ON tasks (parent_id) WHERE parent_id IS NOT NULL"
                .to_owned(),
        ] {
            db.execute_unprepared(&sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "DROP INDEX ix_tasks_lease",
            "CREATE INDEX ix_tasks_lease ON tasks (status, lease_expires)",
            "DROP INDEX ix_tasks_parent",
            "CREATE INDEX ix_tasks_parent ON tasks (parent_id)",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
