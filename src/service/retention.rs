//! Retention: a background job ([`Pruner`]) deletes what the service no
//! longer needs, in bounded batches, each batch its own short transaction:
//!
//! - **events** older than `ATS_RETAIN_EVENTS` (30 days by default). Only a
//!   prefix of the log goes: every event up to a position `P` whose events
//!   are all older than the cutoff, never past what this replica's fanout
//!   has broadcast (on PostgreSQL its watermark; see [`crate::events`]). `P` is recorded in `log_retention.pruned_through`
//!   in the transaction that deletes the events, so the log is always a
//!   contiguous suffix and a cursor before it is answered `CURSOR_EXPIRED`
//!   (410) rather than silently skipping what was pruned. Tasks are rows of
//!   their own: a task's latest state never depends on its events.
//! - **finished tasks** (completed, failed, rejected, cancelled) unchanged
//!   for `ATS_RETAIN_FINISHED_TASKS` (off by default), with their messages,
//!   handoffs and dependency rows (foreign keys cascade), but never one that
//!   another task still refers to (see [`Ats::prune_finished_tasks`]). No
//!   event is written for a pruned task: pruning is housekeeping, not a
//!   change anyone made, and its history is pruned by the event rule.
//! - **rows that expire by age**, one line each in [`ROW_RULES`].
//!
//! Several replicas may run the job at once: on PostgreSQL each batch takes
//! a transaction-scoped advisory lock and a replica that finds it taken
//! leaves the pass to the other; on SQLite batches go through the single
//! writer. Every statement is idempotent besides.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Statement,
};
use tokio::sync::watch;

use super::Ats;
use crate::config::Config;
use crate::db::WriteTxn;
use crate::entity::event;
use crate::entity::task::TaskStatus;
use crate::error::{Error, Result};
use crate::time;

/// What the job keeps, and how many rows it deletes per statement.
#[derive(Clone, Debug)]
pub struct RetentionPolicy {
    /// How long events are kept (`None`: forever).
    pub events: Option<Duration>,
    /// How long a finished task is kept after its last change (`None`: forever).
    pub finished_tasks: Option<Duration>,
    /// Most rows one batch (one statement, one transaction) deletes.
    pub batch: u64,
    /// How long webhook deliveries are kept (`None`: forever).
    pub webhook_deliveries: Option<Duration>,
    /// How long audit records are kept (`None`: forever).
    pub audit: Option<Duration>,
}

impl RetentionPolicy {
    /// The policy `ATS_RETAIN_EVENTS`, `ATS_RETAIN_FINISHED_TASKS` and
    /// `ATS_RETENTION_BATCH` configure.
    pub fn from_config(config: &Config) -> Self {
        Self {
            events: config.retain_events.0,
            finished_tasks: config.retain_finished_tasks.0,
            batch: config.retention_batch.max(1),
            webhook_deliveries: config.retain_webhook_deliveries.0,
            audit: config.retain_audit.0,
        }
    }
}

/// A table whose rows expire by age: rows whose `age_column` is older than
/// `keep` (of the policy; `None` keeps them) are deleted, `batch` at a time,
/// by `key`. The age column should be indexed when the table grows large.
pub struct RowRule {
    /// The table.
    pub table: &'static str,
    /// A column that identifies a row (the primary key).
    pub key: &'static str,
    /// The time a row's age counts from.
    pub age_column: &'static str,
    /// How long rows are kept past that time.
    pub keep: fn(&RetentionPolicy) -> Option<Duration>,
}

/// How long one-time tokens are kept after they expire: they are refused
/// from their expiry on, and the day after it they are gone.
const EXPIRED_TOKENS: Duration = Duration::from_secs(24 * 3600);

/// Every table pruned by age alone, one line each. A feature that adds a
/// table which grows without bound adds its rule here, e.g.
/// `RowRule { table: "idempotency_keys", key: "id", age_column: "created_at", keep: |_| Some(DAY) }`.
pub const ROW_RULES: &[RowRule] = &[
    RowRule {
        table: "password_resets",
        key: "id",
        age_column: "expires_at",
        keep: |_| Some(EXPIRED_TOKENS),
    },
    RowRule {
        table: "guardian_links",
        key: "id",
        age_column: "expires_at",
        keep: |_| Some(EXPIRED_TOKENS),
    },
    RowRule {
        table: "idempotency_keys",
        key: "id",
        age_column: "created_at",
        keep: |_| Some(super::idempotency::KEY_LIFETIME),
    },
    // Deliveries by when they were queued (`ATS_RETAIN_WEBHOOK_DELIVERIES`),
    // whatever their state: a pending one that old belongs to a webhook
    // disabled for as long.
    RowRule {
        table: "webhook_deliveries",
        key: "id",
        age_column: "created_at",
        keep: |p| p.webhook_deliveries,
    },
    RowRule {
        table: "audit_log",
        key: "id",
        age_column: "created_at",
        keep: |p| p.audit,
    },
];

/// The advisory lock (`pg_try_advisory_xact_lock`) one batch holds, so one
/// replica at a time prunes.
const RETENTION_LOCK: i64 = 0x6174_735f_7265_746e; // "ats_retn"

/// The table name events are reported under.
const EVENTS: &str = "events";
/// The table name finished tasks are reported under.
const TASKS: &str = "tasks";

/// What one pass pruned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Per table: rows deleted, and batches (transactions) that deleted any.
    pub tables: BTreeMap<&'static str, (u64, u64)>,
    /// The front of the event log after the pass: every event up to this id is gone.
    pub pruned_through: Option<i64>,
    /// Another replica held the lock: it prunes, this pass stopped.
    pub busy: bool,
}

impl PruneReport {
    /// Rows deleted from `table` in this pass.
    pub fn deleted(&self, table: &str) -> u64 {
        self.tables.get(table).map_or(0, |t| t.0)
    }

    fn add(&mut self, table: &'static str, rows: u64) {
        let entry = self.tables.entry(table).or_default();
        entry.0 += rows;
        entry.1 += 1;
    }
}

/// What one batch did.
enum Batch {
    /// Deleted this many rows (0: nothing left to prune).
    Deleted(u64),
    /// Another replica holds the lock.
    Busy,
}

/// Labels of the retention counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TableLabels {
    table: String,
}

/// The metrics the job moves.
#[derive(Clone, Default)]
pub struct RetentionCounters {
    /// Passes of the job.
    pub runs: Counter,
    /// Rows deleted, by table (`events`, `tasks`, and each of [`ROW_RULES`]).
    pub deleted: Family<TableLabels, Counter>,
    /// Batches (transactions) that deleted rows, by table.
    pub batches: Family<TableLabels, Counter>,
    /// The front of the event log: every event up to this id was pruned.
    pub pruned_through: Gauge,
}

impl RetentionCounters {
    /// Registers the metrics under `registry` (prefixed `ats_` there).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "retention_runs",
            "Passes of the retention job",
            self.runs.clone(),
        );
        registry.register(
            "retention_deleted_rows",
            "Rows the retention job deleted, by table (a task's messages, handoffs and dependency rows go with it, uncounted)",
            self.deleted.clone(),
        );
        registry.register(
            "retention_batches",
            "Batches (one transaction each) in which the retention job deleted rows, by table",
            self.batches.clone(),
        );
        registry.register(
            "event_log_pruned_through",
            "Every event up to this id has been pruned (0: none); cursors before it answer CURSOR_EXPIRED",
            self.pruned_through.clone(),
        );
    }

    fn record(&self, report: &PruneReport) {
        self.runs.inc();
        for (table, (rows, batches)) in &report.tables {
            let labels = TableLabels {
                table: (*table).to_owned(),
            };
            self.deleted.get_or_create(&labels).inc_by(*rows);
            self.batches.get_or_create(&labels).inc_by(*batches);
        }
        if let Some(through) = report.pruned_through {
            self.pruned_through.set(through);
        }
    }
}

/// Runs the retention job every `interval` until shutdown.
pub struct Pruner;

impl Pruner {
    /// Spawns the loop; any number of replicas may run it.
    pub fn spawn(
        ats: Ats,
        policy: RetentionPolicy,
        interval: Duration,
        mut shutdown: watch::Receiver<bool>,
        counters: RetentionCounters,
    ) {
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = shutdown.changed() => return,
                }
                let stopping = || *shutdown.borrow();
                match ats.prune_once(&policy, stopping).await {
                    Ok(report) => {
                        counters.record(&report);
                        if report.tables.values().any(|(rows, _)| *rows > 0) {
                            tracing::info!(
                                events = report.deleted(EVENTS),
                                tasks = report.deleted(TASKS),
                                pruned_through = report.pruned_through,
                                "retention pruned old rows"
                            );
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "retention pass failed"),
                }
            }
        });
    }
}

impl Ats {
    /// One pass of the retention job: every rule, batch after batch, until
    /// nothing more is due, another replica holds the lock, or `stopping`
    /// says the server is shutting down (checked between batches).
    pub async fn prune_once(
        &self,
        policy: &RetentionPolicy,
        stopping: impl Fn() -> bool,
    ) -> Result<PruneReport> {
        let mut report = PruneReport::default();
        let now = time::now();
        let batch = policy.batch.max(1);
        if let Some(cutoff) = cutoff(now, policy.events) {
            loop {
                if stopping() {
                    return Ok(report);
                }
                match self.prune_event_batch(cutoff, batch).await? {
                    Batch::Deleted(0) => break,
                    Batch::Deleted(n) => report.add(EVENTS, n),
                    Batch::Busy => {
                        report.busy = true;
                        return Ok(report);
                    }
                }
            }
        }
        report.pruned_through = Some(self.pruned_through().await?);
        if let Some(cutoff) = cutoff(now, policy.finished_tasks) {
            loop {
                if stopping() {
                    return Ok(report);
                }
                match self.prune_finished_tasks(cutoff, batch).await? {
                    Batch::Deleted(0) => break,
                    Batch::Deleted(n) => report.add(TASKS, n),
                    Batch::Busy => {
                        report.busy = true;
                        return Ok(report);
                    }
                }
            }
        }
        for rule in ROW_RULES {
            let Some(cutoff) = cutoff(now, (rule.keep)(policy)) else {
                continue;
            };
            loop {
                if stopping() {
                    return Ok(report);
                }
                match self.prune_rows(rule, cutoff, batch).await? {
                    Batch::Deleted(0) => break,
                    Batch::Deleted(n) => report.add(rule.table, n),
                    Batch::Busy => {
                        report.busy = true;
                        return Ok(report);
                    }
                }
            }
        }
        Ok(report)
    }

    /// The front of the event log: every event with an id up to this one
    /// has been pruned (0 when none has).
    pub async fn pruned_through(&self) -> Result<i64> {
        pruned_through(self.store.conn()).await
    }

    /// Refuses a cursor before the retained log with `CURSOR_EXPIRED`.
    /// Readers call it *after* reading the events after `after`: the front
    /// only moves forward, so when the cursor is not before it now, nothing
    /// after the cursor had been pruned when they read.
    pub(crate) async fn check_cursor(&self, after: i64) -> Result<()> {
        let through = self.pruned_through().await?;
        if after < through {
            return Err(Error::cursor_expired(after, through));
        }
        Ok(())
    }

    /// Takes the retention lock for this transaction (PostgreSQL); false
    /// when another replica holds it. SQLite has one writer: always true.
    async fn retention_lock(&self, w: &WriteTxn) -> Result<bool> {
        if self.store.backend() != DbBackend::Postgres {
            return Ok(true);
        }
        let locked = w
            .txn
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_try_advisory_xact_lock($1) AS locked",
                [RETENTION_LOCK.into()],
            ))
            .await?
            .map(|r| r.try_get::<bool>("", "locked"))
            .transpose()?
            .unwrap_or(false);
        Ok(locked)
    }

    /// Deletes the next events of the log's front that are older than
    /// `cutoff`, at most `batch`, stopping at the first younger one and at
    /// the watermark, and records the new front in the same transaction.
    async fn prune_event_batch(&self, cutoff: DateTime<Utc>, batch: u64) -> Result<Batch> {
        let backend = self.store.backend();
        // Never past what this process's fanout has broadcast: positions
        // up to it are final (the watermark, on PostgreSQL) and have
        // reached its subscribers.
        let Some(end) = self.bus.broadcast_through() else {
            return Ok(Batch::Deleted(0));
        };
        let w = self.store.begin_write().await?;
        if !self.retention_lock(&w).await? {
            return Ok(Batch::Busy);
        }
        // Nor past what the webhook dispatcher has queued.
        let end = match Self::dispatched_through(&w.txn).await? {
            Some(dispatched) => end.min(dispatched),
            None => end,
        };
        let from = pruned_through(&w.txn).await?;
        let rows: Vec<(Option<i64>, DateTime<Utc>)> = event::Entity::find()
            .select_only()
            .column(event::Column::Position)
            .column(event::Column::CreatedAt)
            .filter(event::Column::Position.gt(from))
            .filter(event::Column::Position.lte(end))
            .order_by_asc(event::Column::Position)
            .limit(batch)
            .into_tuple()
            .all(&w.txn)
            .await?;
        let through = rows
            .iter()
            .take_while(|(_, at)| *at < cutoff)
            .filter_map(|(position, _)| *position)
            .last();
        let Some(through) = through else {
            return Ok(Batch::Deleted(0));
        };
        let gone = event::Entity::delete_many()
            .filter(event::Column::Position.gt(from))
            .filter(event::Column::Position.lte(through))
            .exec(&w.txn)
            .await?
            .rows_affected;
        w.txn
            .execute_raw(Statement::from_sql_and_values(
                backend,
                "UPDATE log_retention SET pruned_through = $1, pruned_at = $2 WHERE id = 1",
                [through.into(), time::now().into()],
            ))
            .await?;
        w.commit().await?;
        Ok(Batch::Deleted(gone))
    }

    /// Deletes up to `batch` finished tasks unchanged since before
    /// `cutoff`, with their messages, handoffs and dependency rows (the
    /// foreign keys cascade; the count triggers keep `task_counts` exact).
    ///
    /// A finished task stays while another task still refers to it, so no
    /// live task loses anything it shows or needs:
    /// - while it has subtasks (they go first, the parent on a later batch);
    /// - while a task depends on it (its dependents go first);
    /// - while it is a subtask of a parent that is not finished;
    /// - while its thread has a message or handoff newer than the cutoff.
    async fn prune_finished_tasks(&self, cutoff: DateTime<Utc>, batch: u64) -> Result<Batch> {
        let quoted = |keep: fn(TaskStatus) -> bool| {
            TaskStatus::ALL
                .into_iter()
                .filter(|s| keep(*s))
                .map(|s| format!("'{}'", s.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let finished = quoted(TaskStatus::is_terminal);
        let open = quoted(TaskStatus::is_open);
        // The conditions on the row itself are repeated outside the
        // subquery, so that PostgreSQL checks them again on a row changed
        // (reopened) while the statement waited for its lock.
        let sql = format!(
            "DELETE FROM tasks WHERE status IN ({finished}) AND updated_at < $1 AND id IN (\
             SELECT t.id FROM tasks t \
             WHERE t.status IN ({finished}) AND t.updated_at < $1 \
             AND NOT EXISTS (SELECT 1 FROM tasks c WHERE c.parent_id = t.id) \
             AND NOT EXISTS (SELECT 1 FROM task_dependencies d WHERE d.depends_on_id = t.id) \
             AND (t.parent_id IS NULL OR NOT EXISTS \
                  (SELECT 1 FROM tasks p WHERE p.id = t.parent_id AND p.status IN ({open}))) \
             AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.task_id = t.id AND m.created_at >= $1) \
             AND NOT EXISTS (SELECT 1 FROM handoffs h WHERE h.task_id = t.id AND h.created_at >= $1) \
             LIMIT $2)"
        );
        self.delete_batch(sql, cutoff, batch).await
    }

    /// Deletes up to `batch` rows of `rule`'s table older than `cutoff`.
    async fn prune_rows(&self, rule: &RowRule, cutoff: DateTime<Utc>, batch: u64) -> Result<Batch> {
        let RowRule {
            table,
            key,
            age_column: age,
            ..
        } = rule;
        let sql = format!(
            "DELETE FROM {table} WHERE {age} < $1 AND {key} IN \
             (SELECT {key} FROM {table} WHERE {age} < $1 LIMIT $2)"
        );
        self.delete_batch(sql, cutoff, batch).await
    }

    /// Runs one deleting statement (`$1` the cutoff, `$2` the batch) in a
    /// transaction of its own, under the retention lock.
    async fn delete_batch(&self, sql: String, cutoff: DateTime<Utc>, batch: u64) -> Result<Batch> {
        let w = self.store.begin_write().await?;
        if !self.retention_lock(&w).await? {
            return Ok(Batch::Busy);
        }
        let limit = i64::try_from(batch).unwrap_or(i64::MAX);
        let gone = w
            .txn
            .execute_raw(Statement::from_sql_and_values(
                self.store.backend(),
                sql,
                [cutoff.into(), limit.into()],
            ))
            .await?
            .rows_affected();
        w.commit().await?;
        Ok(Batch::Deleted(gone))
    }
}

/// The time before which rows kept for `keep` are due (`None`: kept forever).
fn cutoff(now: DateTime<Utc>, keep: Option<Duration>) -> Option<DateTime<Utc>> {
    let keep = chrono::Duration::from_std(keep?).ok()?;
    now.checked_sub_signed(keep)
}

/// `log_retention.pruned_through` as `db` sees it.
async fn pruned_through<C: ConnectionTrait>(db: &C) -> Result<i64> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT pruned_through FROM log_retention WHERE id = 1",
        ))
        .await?;
    Ok(match row {
        Some(row) => row.try_get::<i64>("", "pruned_through")?,
        None => 0,
    })
}
