//! Less work per write on PostgreSQL, same guarantees.
//!
//! - The event-position trigger runs only for rows that arrive without a
//!   position. A writer may number its events itself, `id` and `position`
//!   both from `events_log_seq`, provided its transaction has its xid before
//!   it draws them (see migration 8): the service's one-statement writes
//!   draw them after their `UPDATE` or `INSERT` of tasks, which takes the
//!   xid. A check keeps every new event's position equal to its id
//!   (`NOT VALID`: positions stamped before migration 8 may differ).
//! - `task_count_deltas` loses its `id`: the fold deletes every delta its
//!   snapshot sees, so the key and its sequence were a write per delta that
//!   nothing read.
//!
//! SQLite is unchanged: its positions are generated from the id and its
//! deltas table stays empty.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const POSTGRES_UP: &str = "
DROP TRIGGER events_position ON events;
CREATE TRIGGER events_position BEFORE INSERT ON events
    FOR EACH ROW WHEN (NEW.position IS NULL) EXECUTE FUNCTION ats_event_position();
ALTER TABLE events ADD CONSTRAINT events_position_is_id CHECK (position = id) NOT VALID;
ALTER TABLE task_count_deltas DROP COLUMN id;
";

const POSTGRES_DOWN: &str = "
ALTER TABLE task_count_deltas ADD COLUMN id BIGSERIAL PRIMARY KEY;
ALTER TABLE events DROP CONSTRAINT events_position_is_id;
DROP TRIGGER events_position ON events;
CREATE TRIGGER events_position BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION ats_event_position();
";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared(POSTGRES_UP)
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared(POSTGRES_DOWN)
                .await?;
        }
        Ok(())
    }
}
