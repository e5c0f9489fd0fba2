//! Time: scheduled tasks (`run_at`), retries with backoff (`retry`, the
//! task's retry policy, a JSON object) and deadlines (`due_at`; `overdue_at`
//! records when `task.overdue` was emitted, and `escalations` who it went to).
//!
//! An index cannot hold `now()`, so a task whose `run_at` lies ahead is kept
//! out of the ready queue by a flag on its row: `waiting` is true while a
//! pending task waits for its `run_at`. The timer worker clears it (with a
//! conditional update, and `task.ready`) when the time comes; the ready
//! indexes hold only rows that do not wait, and `ix_tasks_waiting` holds the
//! waiting ones by `run_at`, so the timer reads only what is due.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The rows the ready indexes hold; claim-next's condition, word for word.
pub const READY: &str = "status = 'pending' AND open_blockers = 0 AND (max_attempts IS NULL OR attempts < max_attempts) AND NOT waiting";

/// The rows the waiting index holds; the timer's condition, word for word.
pub const WAITING: &str = "waiting";

const OLD_READY: &str = super::m20261201_000006_ready_queue::READY;

/// The rows the deadline index holds: open tasks with a deadline that has
/// not yet passed (been reported); the timer's condition, word for word.
pub const DUE: &str =
    "due_at IS NOT NULL AND overdue_at IS NULL AND status IN ('pending', 'in_progress')";

/// The rows the second-escalation index holds: open overdue tasks whose
/// further escalation (`escalate_after_ms`) has not happened yet.
pub const ESCALATING: &str =
    "escalate_at IS NOT NULL AND escalated_at IS NULL AND status IN ('pending', 'in_progress')";

/// The ready indexes, by name and leading columns.
const READY_INDEXES: [(&str, &str); 3] = [
    ("ix_tasks_ready", "priority DESC, created_at, id"),
    (
        "ix_tasks_ready_project",
        "project_id, priority DESC, created_at, id",
    ),
    (
        "ix_tasks_ready_channel",
        "project_id, channel, priority DESC, created_at, id",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            timestamp_with_time_zone_null("run_at"),
            boolean("waiting").default(false).to_owned(),
            json_binary_null("retry"),
            timestamp_with_time_zone_null("due_at"),
            timestamp_with_time_zone_null("overdue_at"),
            big_integer_null("escalate_after_ms"),
            timestamp_with_time_zone_null("escalate_at"),
            timestamp_with_time_zone_null("escalated_at"),
        ] {
            manager
                .alter_table(Table::alter().table("tasks").add_column(column).to_owned())
                .await?;
        }
        let db = manager.get_connection();
        for (name, columns) in READY_INDEXES {
            db.execute_unprepared(&format!("DROP INDEX {name}")).await?;
            db.execute_unprepared(&format!(
                "CREATE INDEX {name} ON tasks ({columns}) WHERE {READY}"
            ))
            .await?;
        }
        db.execute_unprepared(&format!(
            "CREATE INDEX ix_tasks_waiting ON tasks (run_at) WHERE {WAITING}"
        ))
        .await?;
        db.execute_unprepared(&format!(
            "CREATE INDEX ix_tasks_due ON tasks (due_at) WHERE {DUE}"
        ))
        .await?;
        db.execute_unprepared(
            "CREATE INDEX ix_tasks_overdue ON tasks (overdue_at) WHERE overdue_at IS NOT NULL",
        )
        .await?;
        db.execute_unprepared(&format!(
            "CREATE INDEX ix_tasks_escalate ON tasks (escalate_at) WHERE {ESCALATING}"
        ))
        .await?;
        // Who an overdue task escalated to: the per-task right of each.
        manager
            .create_table(
                Table::create()
                    .table("escalations")
                    .if_not_exists()
                    .col(big_integer("task_id"))
                    .col(string("actor_type"))
                    .col(string("actor_id"))
                    .col(string("via"))
                    .col(timestamp_with_time_zone("created_at"))
                    .primary_key(
                        Index::create()
                            .col("task_id")
                            .col("actor_type")
                            .col("actor_id"),
                    )
                    .to_owned(),
            )
            .await?;
        db.execute_unprepared(
            "CREATE INDEX ix_escalations_actor ON escalations (actor_type, actor_id, task_id)",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("escalations").if_exists().to_owned())
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX ix_tasks_escalate")
            .await?;
        db.execute_unprepared("DROP INDEX ix_tasks_overdue").await?;
        db.execute_unprepared("DROP INDEX ix_tasks_due").await?;
        db.execute_unprepared("DROP INDEX ix_tasks_waiting").await?;
        for (name, columns) in READY_INDEXES {
            db.execute_unprepared(&format!("DROP INDEX {name}")).await?;
            db.execute_unprepared(&format!(
                "CREATE INDEX {name} ON tasks ({columns}) WHERE {OLD_READY}"
            ))
            .await?;
        }
        for column in [
            "escalated_at",
            "escalate_at",
            "escalate_after_ms",
            "overdue_at",
            "due_at",
            "retry",
            "waiting",
            "run_at",
        ] {
            manager
                .alter_table(Table::alter().table("tasks").drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}
