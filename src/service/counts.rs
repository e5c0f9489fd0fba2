//! Task counts without a scan: `task_counts` per (project, status, channel),
//! kept by triggers on `tasks` in the transaction of every change (see the
//! migration `m20261202_000010_read_path`). On PostgreSQL a change appends a
//! delta row instead of updating a shared counter, and [`CountFolder`] folds
//! the deltas in; a count sums both in one statement, so it is exact at any
//! moment.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait, Value};
use tokio::sync::watch;

use super::Ats;
use crate::entity::task::TaskStatus;
use crate::error::Result;

/// Which tasks to count: those of `projects` (never empty: no project, no
/// tasks), optionally narrowed to some statuses and channels.
#[derive(Clone, Debug, Default)]
pub struct CountFilter {
    /// Project ids.
    pub projects: Vec<i32>,
    /// Statuses (all when empty).
    pub statuses: Vec<TaskStatus>,
    /// Channels (all when empty).
    pub channels: Vec<String>,
}

/// Counts of the tasks a [`CountFilter`] matches, by status and by channel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// (project, status, channel) → tasks; zero counts left out.
    pub cells: BTreeMap<(i32, String, String), u64>,
}

impl Tally {
    /// Every matching task.
    pub fn total(&self) -> u64 {
        self.cells.values().sum()
    }

    /// Tasks per status.
    pub fn by_status(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for ((_, status, _), n) in &self.cells {
            *out.entry(status.clone()).or_default() += n;
        }
        out
    }

    /// Tasks per channel.
    pub fn by_channel(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for ((_, _, channel), n) in &self.cells {
            *out.entry(channel.clone()).or_default() += n;
        }
        out
    }

    /// Tasks per (project, status).
    pub fn by_project_status(&self) -> BTreeMap<(i32, String), u64> {
        let mut out = BTreeMap::new();
        for ((project, status, _), n) in &self.cells {
            *out.entry((*project, status.clone())).or_default() += n;
        }
        out
    }
}

/// The lock id (`pg_try_advisory_xact_lock`) that makes one fold at a time
/// run across replicas.
const FOLD_LOCK: i64 = 0x0041_5453_5f43_4e54; // "ATS_CNT"

/// How often, at most, a replica vacuums the deltas it folded.
const VACUUM_EVERY: Duration = Duration::from_secs(1);

/// The fold: moves every delta its snapshot sees into `task_counts`.
const FOLD: &str = "WITH moved AS (DELETE FROM task_count_deltas \
    RETURNING project_id, status, channel, n), \
    sums AS (SELECT project_id, status, channel, SUM(n) AS n FROM moved \
    GROUP BY project_id, status, channel) \
    INSERT INTO task_counts AS c (project_id, status, channel, n) \
    SELECT project_id, status, channel, n FROM sums ORDER BY project_id, status, channel \
    ON CONFLICT (project_id, status, channel) DO UPDATE SET n = c.n + EXCLUDED.n";

impl Ats {
    /// Counts the tasks `filter` matches from the counters: one statement,
    /// never a scan of `tasks`.
    pub async fn tally(&self, filter: &CountFilter) -> Result<Tally> {
        let mut tally = Tally::default();
        if filter.projects.is_empty() {
            return Ok(tally);
        }
        let backend = self.store.backend();
        let mut values: Vec<Value> = Vec::new();
        let mut param = |v: Value| {
            values.push(v);
            match backend {
                DbBackend::Postgres => format!("${}", values.len()),
                _ => "?".to_owned(),
            }
        };
        // The same condition twice (counts and deltas), each with its own
        // parameters, as placeholders on SQLite are positional.
        let mut condition = || {
            let mut cond = format!(
                "project_id IN ({})",
                filter
                    .projects
                    .iter()
                    .map(|p| param((*p).into()))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if !filter.statuses.is_empty() {
                let list: Vec<String> = filter
                    .statuses
                    .iter()
                    .map(|s| param(s.as_str().into()))
                    .collect();
                cond.push_str(&format!(" AND status IN ({})", list.join(", ")));
            }
            if !filter.channels.is_empty() {
                let list: Vec<String> = filter
                    .channels
                    .iter()
                    .map(|c| param(c.as_str().into()))
                    .collect();
                cond.push_str(&format!(" AND channel IN ({})", list.join(", ")));
            }
            cond
        };
        let folded = condition();
        let unfolded = condition();
        let sql = format!(
            "SELECT project_id, status, channel, CAST(SUM(n) AS BIGINT) AS n FROM (\
             SELECT project_id, status, channel, n FROM task_counts WHERE {folded} \
             UNION ALL \
             SELECT project_id, status, channel, n FROM task_count_deltas WHERE {unfolded}) AS c \
             GROUP BY project_id, status, channel"
        );
        let rows = self
            .store
            .conn()
            .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
        for row in rows {
            let n: i64 = row.try_get("", "n")?;
            if n > 0 {
                tally.cells.insert(
                    (
                        row.try_get("", "project_id")?,
                        row.try_get("", "status")?,
                        row.try_get("", "channel")?,
                    ),
                    n as u64,
                );
            }
        }
        Ok(tally)
    }

    /// Folds the pending count deltas into `task_counts` (PostgreSQL; on
    /// SQLite the triggers write the counts directly). One fold runs at a
    /// time across replicas; a replica that finds one running skips its turn.
    /// Returns whether this call moved any delta.
    pub async fn fold_counts(&self) -> Result<bool> {
        if self.store.backend() != DbBackend::Postgres {
            return Ok(false);
        }
        let txn = self.store.conn().begin().await?;
        let locked = txn
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_try_advisory_xact_lock($1) AS locked",
                [FOLD_LOCK.into()],
            ))
            .await?
            .map(|r| r.try_get::<bool>("", "locked"))
            .transpose()?
            .unwrap_or(false);
        let moved = if locked {
            txn.execute_unprepared(FOLD).await?.rows_affected() > 0
        } else {
            false
        };
        txn.commit().await?;
        Ok(moved)
    }

    /// Reclaims the space of folded deltas at once, so a count does not
    /// read through their dead rows until autovacuum comes (PostgreSQL).
    /// Never truncating: truncation takes an exclusive lock on the table,
    /// which every write of a task would then wait for.
    pub async fn vacuum_count_deltas(&self) -> Result<()> {
        if self.store.backend() == DbBackend::Postgres {
            self.store
                .conn()
                .execute_unprepared("VACUUM (TRUNCATE false) task_count_deltas")
                .await?;
        }
        Ok(())
    }
}

/// Rows changed since the last `ANALYZE` of `tasks` from which the folder
/// analyzes it (and as many as the table holds).
const ANALYZE_AFTER_ROWS: i64 = 1_000;

/// The advisory lock under which one replica at a time analyzes `tasks`.
const ANALYZE_LOCK: i64 = 0x6174_735f_616e_6c7a;

impl Ats {
    /// Runs `ANALYZE tasks` when at least 1,000 rows changed since its
    /// statistics were taken and either it never had any or as many rows
    /// changed as it holds (it doubled, or turned over) — PostgreSQL, one
    /// replica at a time. Until then a bulk-loaded table has no statistics
    /// and the planner guesses: it sorted every pending task for a page of
    /// 50 instead of reading an index in order (50 ms instead of 1 at
    /// 50,000 tasks). Smaller drifts are left to autovacuum (a tenth of the
    /// table, within a minute or so): an `ANALYZE` reads 30,000 rows, and a
    /// busy queue changes a tenth of a small table every few seconds.
    /// Returns whether it analyzed.
    pub async fn refresh_statistics(&self) -> Result<bool> {
        if self.store.backend() != DbBackend::Postgres {
            return Ok(false);
        }
        let txn = self.store.conn().begin().await?;
        let due = txn
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_try_advisory_xact_lock($1) AS locked \
                 FROM pg_stat_user_tables \
                 WHERE relid = 'tasks'::regclass AND n_mod_since_analyze >= $2 \
                 AND (n_mod_since_analyze >= n_live_tup \
                      OR COALESCE(last_analyze, last_autoanalyze) IS NULL)",
                [ANALYZE_LOCK.into(), ANALYZE_AFTER_ROWS.into()],
            ))
            .await?
            .map(|r| r.try_get::<bool>("", "locked"))
            .transpose()?
            .unwrap_or(false);
        if due {
            txn.execute_unprepared("ANALYZE tasks").await?;
        }
        txn.commit().await?;
        Ok(due)
    }
}

/// Folds count deltas in the background, every `interval` until shutdown.
pub struct CountFolder;

impl CountFolder {
    /// Spawns the loop; any number of replicas may run it.
    pub fn spawn(ats: Ats, interval: Duration, mut shutdown: watch::Receiver<bool>) {
        if ats.store.backend() != DbBackend::Postgres {
            return;
        }
        tokio::spawn(async move {
            // Every change of a task's count writes an event: with the log
            // where it was, there is nothing new to fold (a fold of deltas
            // another replica left behind waits for the next change; counts
            // are exact meanwhile).
            let mut folded_at = None;
            let mut vacuumed = Instant::now();
            let mut analyzed = Instant::now();
            let mut analyzed_at = None;
            let mut dirty = false;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = shutdown.changed() => return,
                }
                let end = ats.bus.log_end();
                if end != folded_at {
                    match ats.fold_counts().await {
                        Ok(moved) => {
                            folded_at = end;
                            dirty |= moved;
                        }
                        Err(err) => tracing::warn!(error = %err, "folding task counts failed"),
                    }
                }
                if analyzed_at != end && analyzed.elapsed() >= VACUUM_EVERY {
                    analyzed = Instant::now();
                    analyzed_at = end;
                    match ats.refresh_statistics().await {
                        Ok(true) => tracing::debug!("tasks analyzed after many changes"),
                        Ok(false) => {}
                        Err(err) => tracing::warn!(error = %err, "analyzing tasks failed"),
                    }
                }
                if dirty && vacuumed.elapsed() >= VACUUM_EVERY {
                    if let Err(err) = ats.vacuum_count_deltas().await {
                        tracing::warn!(error = %err, "vacuuming task count deltas failed");
                    }
                    vacuumed = Instant::now();
                    dirty = false;
                }
            }
        });
    }
}
