//! Direct SQL on a test server's database, for what no API does: ageing
//! rows (the retention tests move `created_at`/`updated_at` into the past)
//! and counting rows an API no longer shows. Placeholders are `$1`, `$2`, …
//! on both backends (sqlx reads them on SQLite too).

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement, Value};

use super::app::TestApp;

/// A connection of the test's own to the server's database.
pub struct Sql {
    db: DatabaseConnection,
}

impl Sql {
    /// Connects to `app`'s database.
    pub async fn open(app: &TestApp) -> Self {
        Self {
            db: Database::connect(&app.db.url)
                .await
                .expect("connect to the test database"),
        }
    }

    /// Runs a statement; returns the rows it changed.
    pub async fn exec(&self, sql: &str, values: Vec<Value>) -> u64 {
        self.db
            .execute_raw(Statement::from_sql_and_values(
                self.db.get_database_backend(),
                sql,
                values,
            ))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .rows_affected()
    }

    /// The integer column `n` of the first row of a query (0 when NULL).
    pub async fn int(&self, sql: &str, values: Vec<Value>) -> i64 {
        let row = self
            .db
            .query_one_raw(Statement::from_sql_and_values(
                self.db.get_database_backend(),
                sql,
                values,
            ))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .unwrap_or_else(|| panic!("{sql}: no row"));
        row.try_get::<Option<i64>>("", "n")
            .unwrap_or_else(|e| panic!("{sql}: no integer column n: {e}"))
            .unwrap_or(0)
    }

    /// The newest event's id (0 when there is none).
    pub async fn max_event_id(&self) -> i64 {
        self.int("SELECT MAX(position) AS n FROM events", vec![])
            .await
    }

    /// How many events there are with ids in `from..=to`.
    pub async fn events_between(&self, from: i64, to: i64) -> i64 {
        self.int(
            "SELECT COUNT(*) AS n FROM events WHERE position >= $1 AND position <= $2",
            vec![from.into(), to.into()],
        )
        .await
    }

    /// Dates every event up to `through` back to `at`.
    pub async fn age_events(&self, through: i64, at: DateTime<Utc>) {
        self.exec(
            "UPDATE events SET created_at = $1 WHERE position <= $2",
            vec![at.into(), through.into()],
        )
        .await;
    }

    /// `log_retention.pruned_through`: every event up to it has been pruned.
    pub async fn pruned_through(&self) -> i64 {
        self.int(
            "SELECT pruned_through AS n FROM log_retention WHERE id = 1",
            vec![],
        )
        .await
    }

    /// Waits until the retention job has pruned the log through `id`.
    pub async fn wait_pruned_through(&self, id: i64) {
        self.wait_until(&format!("the log pruned through {id}"), || async {
            self.pruned_through().await >= id
        })
        .await;
        assert_eq!(self.pruned_through().await, id, "pruned too far");
    }

    /// Polls `done` every 50 ms; panics after 30 s.
    pub async fn wait_until<F, Fut>(&self, what: &str, done: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !done().await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// `days` days ago.
pub fn days_ago(days: i64) -> DateTime<Utc> {
    Utc::now() - chrono::Duration::days(days)
}
