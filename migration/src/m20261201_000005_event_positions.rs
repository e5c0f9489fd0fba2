//! Event positions: the log order readers see, stamped after commit.
//!
//! An event's `id` is handed out when it is inserted, before its transaction
//! commits, so ids alone cannot be the resume cursor without a lock held
//! across every commit. `position` is the cursor instead: on PostgreSQL a
//! sequencer stamps committed events in id order under the one row of
//! `event_sequencer`; on SQLite, whose single writer commits in id order, a
//! trigger copies the id. Existing events keep their id as their position.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const POSTGRES_UP: &str = "
ALTER TABLE events ADD COLUMN position BIGINT;
UPDATE events SET position = id;
CREATE UNIQUE INDEX ix_events_position ON events (position);
CREATE INDEX ix_events_unstamped ON events (id) WHERE position IS NULL;
CREATE INDEX ix_events_task_position ON events (task_id, position);
CREATE INDEX ix_events_project_position ON events (project_id, position);
DROP INDEX IF EXISTS ix_events_task;
DROP INDEX IF EXISTS ix_events_project;
CREATE TABLE event_sequencer (id INTEGER PRIMARY KEY, last_position BIGINT NOT NULL);
INSERT INTO event_sequencer (id, last_position) SELECT 1, COALESCE(MAX(id), 0) FROM events;
";

const SQLITE_UP: &[&str] = &[
    "ALTER TABLE events ADD COLUMN position INTEGER",
    "UPDATE events SET position = id",
    "CREATE UNIQUE INDEX ix_events_position ON events (position)",
    "CREATE INDEX ix_events_task_position ON events (task_id, position)",
    "CREATE INDEX ix_events_project_position ON events (project_id, position)",
    "DROP INDEX IF EXISTS ix_events_task",
    "DROP INDEX IF EXISTS ix_events_project",
    "CREATE TRIGGER events_position AFTER INSERT ON events WHEN NEW.position IS NULL
     BEGIN UPDATE events SET position = NEW.id WHERE id = NEW.id; END",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(POSTGRES_UP).await?;
            }
            _ => {
                for sql in SQLITE_UP {
                    db.execute_unprepared(sql).await?;
                }
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(
                    "DROP TABLE event_sequencer;
                     DROP INDEX ix_events_position, ix_events_unstamped,
                        ix_events_task_position, ix_events_project_position;
                     ALTER TABLE events DROP COLUMN position;
                     CREATE INDEX ix_events_task ON events (task_id, id);
                     CREATE INDEX ix_events_project ON events (project_id, id);",
                )
                .await?;
            }
            _ => {
                for sql in [
                    "DROP TRIGGER events_position",
                    "DROP INDEX ix_events_position",
                    "DROP INDEX ix_events_task_position",
                    "DROP INDEX ix_events_project_position",
                    "ALTER TABLE events DROP COLUMN position",
                    "CREATE INDEX ix_events_task ON events (task_id, id)",
                    "CREATE INDEX ix_events_project ON events (project_id, id)",
                ] {
                    db.execute_unprepared(sql).await?;
                }
            }
        }
        Ok(())
    }
}
