//! Database migrations for ATS. The same migrations serve SQLite and PostgreSQL.

pub use sea_orm_migration::prelude::*;

mod m20261128_000001_create_core;
mod m20261128_000002_create_access;
mod m20261128_000003_create_workflow;
mod m20261201_000004_api_key_issuer;
mod m20261201_000005_event_positions;
mod m20261201_000006_ready_queue;
mod m20261201_000007_task_counters;
mod m20261201_000008_event_watermark;
mod m20261201_000009_partial_write_indexes;
mod m20261202_000010_read_path;
mod m20261202_000011_sessions;
mod m20261202_000012_priority_list;
mod m20261203_000013_log_retention;
mod m20261204_000014_time;
mod m20261204_000015_outbound;
mod m20261204_000016_idempotency;
mod m20261205_000017_write_overhead;

pub use m20261201_000009_partial_write_indexes::LEASED;
/// The condition on a task row that puts it in the timer's deadline index.
pub use m20261204_000014_time::DUE as DUE_TASKS;
/// The condition on a task row that puts it in the second-escalation index.
pub use m20261204_000014_time::ESCALATING as ESCALATING_TASKS;
/// The condition on a task row that puts it in the ready queue (the
/// predicate of the `ix_tasks_ready*` partial indexes).
pub use m20261204_000014_time::READY as READY_TASKS;
/// The condition on a task row that puts it in the timer's waiting index.
pub use m20261204_000014_time::WAITING as WAITING_TASKS;

/// Every migration of the ATS schema, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_create_core::Migration),
            Box::new(m20261128_000002_create_access::Migration),
            Box::new(m20261128_000003_create_workflow::Migration),
            Box::new(m20261201_000004_api_key_issuer::Migration),
            Box::new(m20261201_000005_event_positions::Migration),
            Box::new(m20261201_000006_ready_queue::Migration),
            Box::new(m20261201_000007_task_counters::Migration),
            Box::new(m20261201_000008_event_watermark::Migration),
            Box::new(m20261201_000009_partial_write_indexes::Migration),
            Box::new(m20261202_000010_read_path::Migration),
            Box::new(m20261202_000011_sessions::Migration),
            Box::new(m20261202_000012_priority_list::Migration),
            Box::new(m20261203_000013_log_retention::Migration),
            Box::new(m20261204_000014_time::Migration),
            Box::new(m20261204_000015_outbound::Migration),
            Box::new(m20261204_000016_idempotency::Migration),
            Box::new(m20261205_000017_write_overhead::Migration),
        ]
    }
}
