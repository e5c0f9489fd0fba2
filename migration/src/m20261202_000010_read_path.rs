//! The read path: list indexes that match the API's filters and orders, and
//! task counts that need no scan.
//!
//! Indexes. Each list filter the API offers leads an index that continues
//! with the default order (`created_at`, then `id`), so a page of a filtered
//! list is read in order and stops after the page, at any depth, and a
//! keyset cursor seeks into it:
//! - `ix_tasks_status_created (status, created_at, id)`: lists by status;
//! - `ix_tasks_channel`, `ix_tasks_type`: `(channel|task_type, status, created_at, id)`;
//! - `ix_tasks_assignee (assignee_id, status, created_at, id)`, held tasks only;
//! - `ix_tasks_created`, `ix_tasks_updated`: `(created_at|updated_at, id)`, unfiltered lists;
//! - `ix_tasks_completed (completed_at)`, finished tasks only: recent completions.
//!
//! Counts. `task_counts` holds how many tasks each (project, status, channel)
//! has; triggers on `tasks` keep it, in the transaction of the change, so no
//! write path can forget it:
//! - on PostgreSQL a change appends a delta row to `task_count_deltas`
//!   (insert-only, so concurrent claims and completes never wait on a shared
//!   counter row) and a background fold moves the deltas into `task_counts`;
//!   a count reads both in one statement (one snapshot), so it is exact
//!   whether or not a fold has run;
//! - on SQLite, which has one writer at a time, the trigger updates
//!   `task_counts` directly and `task_count_deltas` stays empty.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Indexes replaced by wider ones, with their old definitions.
const REPLACED: [(&str, &str); 5] = [
    ("ix_tasks_channel", "(channel, status)"),
    ("ix_tasks_type", "(task_type, status)"),
    ("ix_tasks_assignee", "(assignee_id)"),
    ("ix_tasks_created", "(created_at)"),
    ("ix_tasks_updated", "(updated_at)"),
];

// Left out: `(status, priority, id)` for the priority order and
// `(project_id, status, created_at, id)` for project lists. Before
// statistics exist (a fresh bulk load), PostgreSQL served claim-next from
// such an index, sorting every pending task, instead of from the ready
// queue: claim-next fell from about 800 cycles/s to 40 at 30,000 queued.
const INDEXES: [&str; 7] = [
    "CREATE INDEX ix_tasks_status_created ON tasks (status, created_at, id)",
    "CREATE INDEX ix_tasks_channel ON tasks (channel, status, created_at, id)",
    "CREATE INDEX ix_tasks_type ON tasks (task_type, status, created_at, id)",
    "CREATE INDEX ix_tasks_assignee ON tasks (assignee_id, status, created_at, id) \
     WHERE assignee_id IS NOT NULL",
    "CREATE INDEX ix_tasks_created ON tasks (created_at, id)",
    "CREATE INDEX ix_tasks_updated ON tasks (updated_at, id)",
    "CREATE INDEX ix_tasks_completed ON tasks (completed_at) WHERE completed_at IS NOT NULL",
];

/// The counters and their deltas; `{id}` and `{options}` are the
/// backend's auto-increment key and table options.
const COUNT_TABLES: &str = r#"
CREATE TABLE task_counts (
    project_id INTEGER NOT NULL,
    status VARCHAR NOT NULL,
    channel VARCHAR NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (project_id, status, channel)
);
CREATE TABLE task_count_deltas (
    id {id},
    project_id INTEGER NOT NULL,
    status VARCHAR NOT NULL,
    channel VARCHAR NOT NULL,
    n INTEGER NOT NULL
){options};
"#;

const POSTGRES_COUNTS: &str = r#"
CREATE FUNCTION ats_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO task_count_deltas (project_id, status, channel, n)
    SELECT project_id, status, channel, COUNT(*) FROM ats_new_tasks GROUP BY 1, 2, 3;
    RETURN NULL;
END $$;
CREATE FUNCTION ats_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO task_count_deltas (project_id, status, channel, n)
    SELECT project_id, status, channel, -COUNT(*) FROM ats_old_tasks GROUP BY 1, 2, 3;
    RETURN NULL;
END $$;
CREATE FUNCTION ats_count_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO task_count_deltas (project_id, status, channel, n) VALUES
        (OLD.project_id, OLD.status, OLD.channel, -1),
        (NEW.project_id, NEW.status, NEW.channel, 1);
    RETURN NULL;
END $$;
CREATE TRIGGER tasks_count_insert AFTER INSERT ON tasks
    REFERENCING NEW TABLE AS ats_new_tasks
    FOR EACH STATEMENT EXECUTE FUNCTION ats_count_inserted();
CREATE TRIGGER tasks_count_delete AFTER DELETE ON tasks
    REFERENCING OLD TABLE AS ats_old_tasks
    FOR EACH STATEMENT EXECUTE FUNCTION ats_count_deleted();
CREATE TRIGGER tasks_count_update AFTER UPDATE ON tasks FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
          OR OLD.channel IS DISTINCT FROM NEW.channel
          OR OLD.project_id IS DISTINCT FROM NEW.project_id)
    EXECUTE FUNCTION ats_count_moved();
"#;

const SQLITE_COUNTS: &str = r#"
CREATE TRIGGER tasks_count_insert AFTER INSERT ON tasks BEGIN
    INSERT INTO task_counts (project_id, status, channel, n)
    VALUES (NEW.project_id, NEW.status, NEW.channel, 1)
    ON CONFLICT (project_id, status, channel) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER tasks_count_delete AFTER DELETE ON tasks BEGIN
    UPDATE task_counts SET n = n - 1
    WHERE project_id = OLD.project_id AND status = OLD.status AND channel = OLD.channel;
END;
CREATE TRIGGER tasks_count_update AFTER UPDATE OF status, channel, project_id ON tasks
WHEN OLD.status IS NOT NEW.status OR OLD.channel IS NOT NEW.channel
     OR OLD.project_id IS NOT NEW.project_id
BEGIN
    UPDATE task_counts SET n = n - 1
    WHERE project_id = OLD.project_id AND status = OLD.status AND channel = OLD.channel;
    INSERT INTO task_counts (project_id, status, channel, n)
    VALUES (NEW.project_id, NEW.status, NEW.channel, 1)
    ON CONFLICT (project_id, status, channel) DO UPDATE SET n = n + 1;
END;
"#;

const FILL: &str = "INSERT INTO task_counts (project_id, status, channel, n) \
    SELECT project_id, status, channel, COUNT(*) FROM tasks GROUP BY project_id, status, channel";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction on one connection, SQLite included: indexes are
    /// dropped and made again under the same names, and the counts are
    /// filled from the tasks in the same snapshot as their triggers appear.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (name, _) in REPLACED {
            db.execute_unprepared(&format!("DROP INDEX {name}")).await?;
        }
        for sql in INDEXES {
            db.execute_unprepared(sql).await?;
        }
        let (id, options) = match manager.get_database_backend() {
            DbBackend::Postgres => ("BIGSERIAL PRIMARY KEY", " WITH (vacuum_truncate = false)"),
            _ => ("INTEGER PRIMARY KEY AUTOINCREMENT", ""),
        };
        db.execute_unprepared(
            &COUNT_TABLES
                .replace("{id}", id)
                .replace("{options}", options),
        )
        .await?;
        let counts = match manager.get_database_backend() {
            DbBackend::Postgres => {
                // The fill and the triggers must see the same tasks.
                db.execute_unprepared("LOCK TABLE tasks IN SHARE ROW EXCLUSIVE MODE")
                    .await?;
                POSTGRES_COUNTS
            }
            _ => SQLITE_COUNTS,
        };
        db.execute_unprepared(counts).await?;
        db.execute_unprepared(FILL).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in [
            "DROP TRIGGER tasks_count_insert",
            "DROP TRIGGER tasks_count_delete",
            "DROP TRIGGER tasks_count_update",
        ] {
            let sql = match manager.get_database_backend() {
                DbBackend::Postgres => format!("{sql} ON tasks"),
                _ => sql.to_owned(),
            };
            db.execute_unprepared(&sql).await?;
        }
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared(
                "DROP FUNCTION ats_count_inserted(); DROP FUNCTION ats_count_deleted(); \
                 DROP FUNCTION ats_count_moved();",
            )
            .await?;
        }
        db.execute_unprepared("DROP TABLE task_count_deltas; DROP TABLE task_counts;")
            .await?;
        for sql in INDEXES {
            let name = sql.split_whitespace().nth(2).unwrap_or_default();
            db.execute_unprepared(&format!("DROP INDEX {name}")).await?;
        }
        for (name, cols) in REPLACED {
            db.execute_unprepared(&format!("CREATE INDEX {name} ON tasks {cols}"))
                .await?;
        }
        Ok(())
    }
}
