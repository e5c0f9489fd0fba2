//! The store: a connection pool plus what each backend needs for correct writes.

use std::sync::Arc;
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use prometheus_client::metrics::counter::Counter;
use sea_orm::sqlx;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::error::Result;

/// Splits our own `synchronous=normal|full` parameter off an SQLite URL
/// (`sqlite://ats.db?synchronous=full`). The default, NORMAL in WAL mode,
/// survives a killed process; FULL also survives a power cut, at the cost of
/// an fsync per commit.
fn sqlite_synchronous(url: &str) -> Result<(String, SqliteSynchronous)> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), SqliteSynchronous::Normal));
    };
    if !url.starts_with("sqlite:") {
        return Ok((url.to_owned(), SqliteSynchronous::Normal));
    }
    let mut mode = SqliteSynchronous::Normal;
    let mut rest = Vec::new();
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("synchronous", v)) => {
                mode = match v.to_ascii_lowercase().as_str() {
                    "normal" => SqliteSynchronous::Normal,
                    "full" => SqliteSynchronous::Full,
                    "extra" => SqliteSynchronous::Extra,
                    other => {
                        return Err(crate::error::Error::Internal(format!(
                            "unknown synchronous={other} in DATABASE_URL: expected normal, full or extra"
                        )));
                    }
                }
            }
            _ => rest.push(pair),
        }
    }
    let url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    Ok((url, mode))
}

/// How long a request waits for a free database connection before it is
/// answered 503 (`UNAVAILABLE`, with `Retry-After`).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// A pooled connection idle at least this long is pinged before it is
/// handed out (one dropped by the server or a proxy is replaced, not
/// used). A busy connection is not: by default the pool pings on every
/// checkout, a round trip per statement run outside a transaction.
pub const PING_IF_IDLE_FOR: Duration = Duration::from_secs(10);

/// The PostgreSQL advisory lock (session level) under which migrations run,
/// so that replicas starting together apply them once ("ATS_MIGR").
pub const MIGRATION_LOCK: i64 = 0x4154_535f_4d49_4752;

/// How often a replica waiting for another's migrations tries the lock again.
const MIGRATION_LOCK_RETRY: Duration = Duration::from_millis(100);

/// The migration lock, held on a connection of its own (outside the pool, so
/// that no pooled session can keep it by accident).
struct MigrationLock {
    conn: Option<sqlx::PgConnection>,
}

impl MigrationLock {
    /// Connects and waits until the lock is ours.
    async fn acquire(db: &DatabaseConnection) -> Result<Self> {
        use sqlx::ConnectOptions as _;
        let options = db.get_postgres_connection_pool().connect_options();
        let mut conn = options.connect().await.map_err(lock_error)?;
        let mut waiting_since = None;
        loop {
            let (locked,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1)")
                .bind(MIGRATION_LOCK)
                .fetch_one(&mut conn)
                .await
                .map_err(lock_error)?;
            if locked {
                if let Some(since) = waiting_since.map(|s: std::time::Instant| s.elapsed()) {
                    tracing::info!(
                        waited_ms = since.as_millis() as u64,
                        "migration lock taken after another replica released it"
                    );
                }
                return Ok(Self { conn: Some(conn) });
            }
            if waiting_since.is_none() {
                tracing::info!("another replica is applying migrations; waiting for it");
                waiting_since = Some(std::time::Instant::now());
            }
            tokio::time::sleep(MIGRATION_LOCK_RETRY).await;
        }
    }

    /// Unlocks and closes the connection (closing alone would release the
    /// lock too: it belongs to the session).
    async fn release(&mut self) {
        use sqlx::Connection as _;
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut conn)
            .await;
        if let Err(err) = unlocked {
            tracing::warn!(error = %err, "releasing the migration lock failed; closing its session releases it");
        }
        let _ = conn.close().await;
    }
}

fn lock_error(err: sqlx::Error) -> crate::error::Error {
    crate::error::Error::Internal(format!("cannot take the migration lock: {err}"))
}

/// Called with each statement the store runs.
pub type StatementObserver = Arc<dyn Fn(&Statement) + Send + Sync>;

/// Shared handle to the database.
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    /// SQLite has one writer: every write goes through this pool of one
    /// connection, behind a lock, so writes queue rather than fail with
    /// SQLITE_BUSY, and the writer keeps its page cache and prepared
    /// statements (several writing connections invalidate each other's).
    sqlite_writer: Option<(DatabaseConnection, Arc<Mutex<()>>)>,
}

/// A write transaction; on SQLite it also holds the single-writer lock until dropped.
pub struct WriteTxn {
    /// The open transaction.
    pub txn: DatabaseTransaction,
    _writer: Option<OwnedMutexGuard<()>>,
}

impl WriteTxn {
    /// Commits the transaction, then releases the writer lock.
    pub async fn commit(self) -> Result<()> {
        self.txn.commit().await?;
        Ok(())
    }
}

impl Store {
    /// Connects to `url` (SQLite files are created when missing).
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_counted(url, None).await
    }

    /// Connects, counting every SQL statement on `queries` (for `/metrics`).
    pub async fn connect_counted(url: &str, queries: Option<Counter>) -> Result<Self> {
        let observer = queries.map(|q| -> StatementObserver {
            Arc::new(move |_: &Statement| {
                q.inc();
            })
        });
        Self::connect_observed(url, observer).await
    }

    /// Connects, calling `observer` with every statement run (tests use it
    /// to hold each operation to a statement budget and to explain plans).
    pub async fn connect_observed(url: &str, observer: Option<StatementObserver>) -> Result<Self> {
        let (url, synchronous) = sqlite_synchronous(url)?;
        let is_sqlite = url.starts_with("sqlite:");
        let options = |connections: u32| {
            let mut opts = ConnectOptions::new(url.clone());
            opts.sqlx_logging(false)
                .connect_timeout(Duration::from_secs(10))
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .test_before_acquire_if_idle_for(PING_IF_IDLE_FOR)
                .max_connections(connections)
                .min_connections(1);
            if is_sqlite {
                opts.map_sqlx_sqlite_opts(move |o| {
                    o.create_if_missing(true)
                        .journal_mode(SqliteJournalMode::Wal)
                        .synchronous(synchronous)
                        .busy_timeout(Duration::from_secs(10))
                        .foreign_keys(true)
                        // Pages read through the OS cache, shared by every
                        // connection, instead of copied into each one's own
                        // (2 MiB by default, too small for a busy queue's
                        // indexes); address space, not memory of our own.
                        .pragma("mmap_size", SQLITE_MMAP_BYTES.to_string())
                        .pragma("cache_size", SQLITE_CACHE_KIB.to_string())
                });
                opts.map_sqlx_sqlite_pool_opts(|pool| {
                    pool.after_connect(|conn, _| Box::pin(plan_once(conn)))
                });
            }
            opts
        };
        let observe = |db: &mut DatabaseConnection| {
            if let Some(observer) = observer.clone() {
                db.set_metric_callback(move |info| observer(info.statement));
            }
        };
        let mut db = Database::connect(options(if is_sqlite { 8 } else { 20 })).await?;
        observe(&mut db);
        let sqlite_writer = if is_sqlite {
            let mut writer = Database::connect(options(1)).await?;
            observe(&mut writer);
            Some((writer, Arc::new(Mutex::new(()))))
        } else {
            None
        };
        Ok(Self { db, sqlite_writer })
    }

    /// Applies every pending migration.
    ///
    /// On PostgreSQL, replicas starting together take turns: the migrations
    /// run under a session-level advisory lock held by a connection of their
    /// own ([`MIGRATION_LOCK`]), so one replica applies them and the others,
    /// once it is done, find nothing pending. The lock is taken by polling
    /// `pg_try_advisory_lock` rather than waiting in `pg_advisory_lock`: a
    /// replica blocked inside a statement holds a snapshot, and a migration
    /// that builds an index `CONCURRENTLY` waits for every older snapshot to
    /// go, which would be a deadlock. A replica that dies holding the lock
    /// releases it with its session. SQLite needs none of this: its writers
    /// are serialised by the database file's lock.
    pub async fn migrate(&self) -> Result<()> {
        if self.backend() != DbBackend::Postgres {
            Migrator::up(&self.db, None).await?;
            return Ok(());
        }
        let mut lock = MigrationLock::acquire(&self.db).await?;
        let applied = Migrator::up(&self.db, None).await;
        lock.release().await;
        applied?;
        Ok(())
    }

    /// The pool, for reads.
    pub fn conn(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Which SQL dialect is behind the pool.
    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// Whether one statement may hold several writes (PostgreSQL's
    /// data-modifying `WITH`): a change and its events can then be written by
    /// one statement on the pool, which is its own transaction.
    pub fn chains_writes(&self) -> bool {
        self.backend() == DbBackend::Postgres
    }

    /// Begins a write transaction (`BEGIN IMMEDIATE` behind the writer lock on SQLite).
    pub async fn begin_write(&self) -> Result<WriteTxn> {
        match &self.sqlite_writer {
            Some((writer, lock)) => {
                let guard = lock.clone().lock_owned().await;
                let txn = writer
                    .begin_with_options(TransactionOptions {
                        isolation_level: None,
                        access_mode: None,
                        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                    })
                    .await?;
                Ok(WriteTxn {
                    txn,
                    _writer: Some(guard),
                })
            }
            None => Ok(WriteTxn {
                txn: self.db.begin().await?,
                _writer: None,
            }),
        }
    }
}

/// How much of an SQLite database file each connection maps into memory.
const SQLITE_MMAP_BYTES: u64 = 1 << 30;

/// Each SQLite connection's page cache, in KiB (a negative `cache_size`).
const SQLITE_CACHE_KIB: i64 = -16 * 1024;

/// Turns on SQLite's query-planner stability guarantee on a new connection.
///
/// Without it, SQLite 3.51 lets the value bound to a `LIMIT ?` (and a few
/// other parameters) steer the plan, so every statement with one — every
/// `.one()`, claim-next's pick, the fanout's read — is compiled again each
/// time it runs: about a sixth of the CPU of a claim-and-complete cycle.
/// With it, a prepared statement keeps its plan, as on PostgreSQL.
#[allow(unsafe_code)]
async fn plan_once(
    conn: &mut sea_orm::sqlx::sqlite::SqliteConnection,
) -> std::result::Result<(), sea_orm::sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr();
    // SAFETY: `db` is this connection's open handle, held locked for the
    // call; the option takes an int and an optional out-pointer (none).
    let rc = unsafe {
        libsqlite3_sys::sqlite3_db_config(
            db,
            libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG,
            1 as std::ffi::c_int,
            std::ptr::null_mut::<std::ffi::c_int>(),
        )
    };
    if rc != libsqlite3_sys::SQLITE_OK {
        return Err(sea_orm::sqlx::Error::Protocol(format!(
            "enabling SQLite's query-planner stability guarantee failed ({rc})"
        )));
    }
    Ok(())
}
