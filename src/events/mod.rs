//! The event bus. The `events` table is the source of truth; the bus only
//! tells subscribers, in log order, what has been committed.
//!
//! An event's position (the cursor clients resume from) is its id, drawn
//! when it is inserted. Writers take no lock: on PostgreSQL, transactions
//! commit in any order, so ids can become visible out of order — id 11
//! committed while id 10's transaction is still open. The log therefore
//! ends at a *watermark*: the largest position below which every id is
//! either committed and readable or will never exist. Readers of the log
//! (replays, `after` cursors, the "now" of a new subscription) stop at the
//! watermark, so "everything after N" never misses an event that commits
//! late, and nothing behind the watermark ever changes.
//!
//! One fanout task per process advances the watermark and broadcasts what it
//! passes, when woken — by a local commit, by `NOTIFY` from another replica,
//! or by a periodic tick. It reads committed events after its cursor in
//! position order together with the statement's snapshot. A gap in the ids
//! is a transaction still in flight, or one that rolled back (or a sequence
//! value lost in a crash). Each events transaction has its xid before it
//! draws an id (the insert trigger), so when a gap is first seen, with
//! newer ids already visible, its transaction already had its xid; the
//! fanout then takes an xid of its own, which is larger than any assigned
//! before, and once a later snapshot's `xmin` is past that xid, every
//! transaction that could fill the gap has ended, and an id still missing
//! never comes. (The first snapshot's `xmax` is no such bound: it is one
//! past the newest *ended* transaction, and a transaction that took its
//! xid later but is still running may hold the gap.)
//! Until then the fanout waits at the gap: delivery is in position order,
//! never skipping, at the cost of waiting for an open transaction (ours
//! last milliseconds). No writer waits for another's commit, and nothing is
//! written twice. Several replicas each compute the same watermark from
//! the same table.
//!
//! SQLite has one writer, which commits in id order: its watermark is
//! simply the newest event.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult, QueryOrder, Statement,
};
use tokio::sync::{Notify, broadcast, watch};

use crate::db::Store;
use crate::entity::event;

/// The PostgreSQL channel that carries "new events" notifications between replicas.
pub const NOTIFY_CHANNEL: &str = "ats_events";
/// The PostgreSQL channel that carries "access changed" notifications
/// (memberships, grants, projects, keys, guardianships) between replicas.
pub const ACCESS_CHANNEL: &str = "ats_access";

/// The longest a reader waits for the log to catch up before reading.
const CATCH_UP_WAIT: Duration = Duration::from_secs(5);

/// How many events the broadcast buffers before a slow receiver lags.
const BROADCAST_CAPACITY: usize = 4096;
/// The same, for the broadcast of one project's events.
const PROJECT_CAPACITY: usize = 1024;
/// The longest start-up waits for transactions open when it began.
const STARTUP_WAIT: Duration = Duration::from_secs(30);
/// How soon the fanout looks again while it waits at a gap.
const GAP_RETRY: Duration = Duration::from_millis(5);
/// How many rows the fanout reads at a time (written into its statement:
/// PostgreSQL plans a bound `LIMIT` afresh at every call).
const FANOUT_BATCH: u64 = 500;

/// Delivers committed events to every subscriber in this process.
#[derive(Clone)]
pub struct EventBus {
    inner: Arc<Inner>,
}

struct Inner {
    sender: broadcast::Sender<Arc<event::Model>>,
    /// One broadcast per project that a subscription watches alone, so that
    /// an event wakes only the subscribers who may want it, not every one
    /// in the process. An entry goes when an event finds no one listening.
    projects: Mutex<HashMap<i32, broadcast::Sender<Arc<event::Model>>>>,
    wake: Notify,
    /// True once a fanout keeps a watermark in this process (PostgreSQL).
    watermarked: AtomicBool,
    /// Fanout rounds started in this process.
    rounds_started: AtomicU64,
    /// The last finished round, and the newest committed position it saw.
    rounds_done: watch::Sender<(u64, i64)>,
    /// The watermark: every position up to it is final (see the module doc),
    /// and broadcast. On SQLite, only the latter.
    watermark: watch::Sender<i64>,
    /// True once a fanout runs in this process.
    fanout: AtomicBool,
    /// Set by local writers: the next round tells the other replicas.
    local_commits: AtomicBool,
    /// This process's mark on its `NOTIFY`s, so its own listener skips them.
    instance: String,
    /// Bumped on every access change seen by this process (its own, or
    /// another replica's by `NOTIFY`): cached rights older than it are stale.
    access: watch::Sender<u64>,
    /// Counts each event as it is delivered (`/metrics`).
    counted: std::sync::OnceLock<crate::metrics::QueueMetrics>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

/// A gap in the ids seen by the fanout: where it starts, and (once taken,
/// after the gap was seen) an xid above that of every transaction that
/// could fill it: the gap is final once a snapshot's `xmin` passes it, or
/// once no transaction of this database below it is running (`cleared`,
/// checked before the read that then finds the gap still open).
#[derive(Clone, Copy, PartialEq, Debug)]
struct Gap {
    start: i64,
    bound: Option<i64>,
    cleared: bool,
}

/// One batch of the fanout's read: committed events after the cursor, and
/// the `xmin` of the snapshot that read them (PostgreSQL).
struct Batch {
    rows: Vec<event::Model>,
    xmin: i64,
    /// Read without `data` (nobody in this process was listening).
    light: bool,
}

/// What [`EventBus::deliver`] did with a batch.
struct Delivered {
    /// The cursor moved.
    advanced: bool,
    /// It stopped at a gap that may still fill.
    stopped: bool,
    /// A light batch met a listener: nothing was taken, read it whole.
    needs_data: bool,
}

impl EventBus {
    /// An idle bus; call [`EventBus::spawn_fanout`] to feed it.
    pub fn new() -> Self {
        let (sender, _) = broadcast::channel(BROADCAST_CAPACITY);
        Self {
            inner: Arc::new(Inner {
                sender,
                projects: Mutex::default(),
                wake: Notify::new(),
                watermarked: AtomicBool::new(false),
                rounds_started: AtomicU64::new(0),
                rounds_done: watch::Sender::new((0, 0)),
                watermark: watch::Sender::new(0),
                fanout: AtomicBool::new(false),
                local_commits: AtomicBool::new(false),
                instance: format!("{:016x}", rand::random::<u64>()),
                access: watch::Sender::new(0),
                counted: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Counts every event this bus delivers in `metrics` (once; later calls
    /// are ignored).
    pub fn count_with(&self, metrics: crate::metrics::QueueMetrics) {
        let _ = self.inner.counted.set(metrics);
    }

    /// A receiver of every event broadcast from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<event::Model>> {
        // Under the lock the fanout delivers under: a receiver attaches
        // between two batches, never in the middle of one.
        let _projects = self.inner.projects.lock().unwrap();
        self.inner.sender.subscribe()
    }

    /// A receiver of the events of project `project_id` broadcast from now
    /// on.
    pub fn subscribe_project(&self, project_id: i32) -> broadcast::Receiver<Arc<event::Model>> {
        let mut projects = self.inner.projects.lock().unwrap();
        projects
            .entry(project_id)
            .or_insert_with(|| broadcast::channel(PROJECT_CAPACITY).0)
            .subscribe()
    }

    /// How many receivers are attached (open subscriptions).
    pub fn receiver_count(&self) -> usize {
        let projects = self.inner.projects.lock().unwrap();
        self.inner.sender.receiver_count()
            + projects
                .values()
                .map(broadcast::Sender::receiver_count)
                .sum::<usize>()
    }

    /// Tells the fanout that new events were committed.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// The end of the readable log: readers of positions stop here (`None`:
    /// no limit, where commits follow position order, as on SQLite).
    pub fn log_end(&self) -> Option<i64> {
        self.inner
            .watermarked
            .load(Ordering::Acquire)
            .then(|| *self.inner.watermark.borrow())
    }

    /// The newest position this process's fanout has broadcast: every
    /// event up to it is final and has reached this process's subscribers
    /// (`None` while no fanout runs). The retention job prunes no further.
    pub fn broadcast_through(&self) -> Option<i64> {
        self.inner
            .fanout
            .load(Ordering::Acquire)
            .then(|| *self.inner.watermark.borrow())
    }

    /// Called by a writer after its commit: wakes the fanout, and through
    /// its next round's `NOTIFY` the other replicas. It does not wait for
    /// the log to reach the write: readers of the log do
    /// ([`EventBus::caught_up`]), so a write costs no fanout round.
    pub fn committed(&self) {
        self.inner.local_commits.store(true, Ordering::Release);
        self.wake();
    }

    /// Called by a reader of the log before it reads: where the log ends
    /// at a watermark (PostgreSQL), waits until a fanout round that began
    /// after this call has run and the watermark has passed what that round
    /// saw. Everything committed before the call — by this replica or
    /// another — is then in the log: a client that reads its task's history
    /// after a write sees the write's events, on any replica. Concurrent
    /// readers share one round; none waits for another's commit, only for
    /// transactions that drew earlier positions and are still open.
    pub async fn caught_up(&self) {
        if !self.inner.watermarked.load(Ordering::Acquire) {
            return;
        }
        let after = self.inner.rounds_started.load(Ordering::Acquire);
        let mut done = self.inner.rounds_done.subscribe();
        let mut watermark = self.inner.watermark.subscribe();
        self.wake();
        let reached = async {
            let seen = match done.wait_for(|(r, _)| *r > after).await {
                Ok(round) => round.1,
                Err(_) => return,
            };
            let _ = watermark.wait_for(|w| *w >= seen).await;
        };
        if tokio::time::timeout(CATCH_UP_WAIT, reached).await.is_err() {
            tracing::warn!("the event log did not catch up in time; reading it anyway");
        }
    }

    /// A receiver woken whenever the readable log grows (the fanout
    /// moved its watermark).
    pub fn log_moves(&self) -> watch::Receiver<i64> {
        self.inner.watermark.subscribe()
    }

    /// The current access epoch.
    pub fn access_epoch(&self) -> u64 {
        *self.inner.access.borrow()
    }

    /// A receiver woken at every access change.
    pub fn access_changes(&self) -> watch::Receiver<u64> {
        self.inner.access.subscribe()
    }

    /// Records an access change in this process (every cached right is stale).
    pub fn bump_access(&self) {
        self.inner.access.send_modify(|e| *e += 1);
    }

    /// Starts the fanout (and, on PostgreSQL, the `LISTEN` task) until `shutdown` flips.
    pub async fn spawn_fanout(
        &self,
        store: Store,
        poll: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let postgres = store.backend() == DbBackend::Postgres;
        let newest = if postgres {
            settled_start(&store).await
        } else {
            event::Entity::find()
                .order_by_desc(event::Column::Position)
                .one(store.conn())
                .await
                .map(|e| e.and_then(|e| e.position).unwrap_or(0))
        };
        let start = newest.unwrap_or_else(|err| {
            tracing::error!(error = %err, "fanout: cannot read the event cursor");
            0
        });
        self.inner.watermark.send_replace(start);
        self.inner.fanout.store(true, Ordering::Release);
        if postgres {
            self.spawn_pg_listener(store.clone(), shutdown.clone());
            self.inner.watermarked.store(true, Ordering::Release);
        }
        let bus = self.clone();
        tokio::spawn(async move {
            let mut cursor = start;
            let mut gap: Option<Gap> = None;
            loop {
                // Waiting at a gap: look again soon, the open transaction is short.
                let pause = if gap.is_some() {
                    poll.min(GAP_RETRY)
                } else {
                    poll
                };
                tokio::select! {
                    _ = bus.inner.wake.notified() => {}
                    _ = tokio::time::sleep(pause) => {}
                    _ = shutdown.changed() => return,
                }
                let round = bus.inner.rounds_started.fetch_add(1, Ordering::AcqRel) + 1;
                let tell_replicas = bus.inner.local_commits.swap(false, Ordering::AcqRel);
                let mut seen = cursor;
                // A snapshot's `xmin` is cluster-wide: a long transaction in
                // another database would hold the gap open. Ask about ours,
                // before the read (so that what ended is in its snapshot).
                if let Some(g) = gap.as_mut().filter(|g| !g.cleared)
                    && let Some(bound) = g.bound
                {
                    match none_running_below(&store, bound).await {
                        Ok(cleared) => g.cleared = cleared,
                        Err(err) => {
                            tracing::warn!(error = %err, "fanout: checking a gap failed")
                        }
                    }
                }
                loop {
                    // With no one here listening, the events' data (each
                    // carries its task) is not read: only the watermark and
                    // the queue metrics need them.
                    let light = !bus.listening();
                    let batch = match read_batch(&store, cursor, light).await {
                        Ok(batch) => batch,
                        Err(err) => {
                            tracing::warn!(error = %err, "fanout: reading new events failed");
                            break;
                        }
                    };
                    let full = batch.rows.len() as u64 == FANOUT_BATCH;
                    let last = batch.rows.last().map(|l| l.position.unwrap_or(l.id));
                    let done = bus.deliver(batch, &mut cursor, &mut gap, postgres);
                    if done.needs_data {
                        continue;
                    }
                    if let Some(last) = last {
                        seen = seen.max(last);
                    }
                    if !full || done.stopped || !done.advanced {
                        break;
                    }
                }
                // A gap seen for the first time: take its bound now, after
                // the read that saw it.
                if let Some(g) = gap.as_mut().filter(|g| g.bound.is_none()) {
                    match xid_bound(&store).await {
                        Ok(bound) => g.bound = Some(bound),
                        Err(err) => {
                            tracing::warn!(error = %err, "fanout: taking a gap's bound failed");
                            gap = None;
                        }
                    }
                }
                bus.inner.watermark.send_if_modified(|w| {
                    let moved = *w != cursor;
                    *w = cursor;
                    moved
                });
                bus.inner.rounds_done.send_replace((round, seen));
                if postgres && tell_replicas {
                    announce(&store, &bus.inner.instance).await;
                }
            }
        });
    }

    /// True when a receiver is attached (a subscription, or a claimer
    /// waiting for work).
    fn listening(&self) -> bool {
        self.listened(&self.inner.projects.lock().unwrap())
    }

    /// [`EventBus::listening`], under the lock already held (`projects`).
    fn listened(&self, projects: &HashMap<i32, broadcast::Sender<Arc<event::Model>>>) -> bool {
        self.inner.sender.receiver_count() > 0 || projects.values().any(|s| s.receiver_count() > 0)
    }

    /// Broadcasts a batch's events in position order up to the first gap
    /// that may still fill, and moves the watermark past them, all under
    /// the lock receivers attach under: a receiver that attaches after a
    /// batch finds its events below the watermark (a replay reads them), one
    /// that attached before receives them. A light batch is only taken when
    /// no one listens.
    fn deliver(
        &self,
        batch: Batch,
        cursor: &mut i64,
        gap: &mut Option<Gap>,
        postgres: bool,
    ) -> Delivered {
        let before = *cursor;
        let mut projects = self.inner.projects.lock().unwrap();
        if batch.light && self.listened(&projects) {
            return Delivered {
                advanced: false,
                stopped: false,
                needs_data: true,
            };
        }
        let mut stopped = false;
        for row in batch.rows {
            let position = row.position.unwrap_or(row.id);
            if postgres && position != *cursor + 1 {
                let start = *cursor + 1;
                match *gap {
                    // Every transaction that could fill it has ended.
                    Some(g)
                        if g.start == start
                            && (g.cleared || g.bound.is_some_and(|b| batch.xmin > b)) => {}
                    Some(g) if g.start == start => {
                        stopped = true;
                        break;
                    }
                    _ => {
                        *gap = Some(Gap {
                            start,
                            bound: None,
                            cleared: false,
                        });
                        stopped = true;
                        break;
                    }
                }
            }
            *gap = None;
            *cursor = position;
            if let Some(m) = self.inner.counted.get() {
                m.observe(&row);
            }
            if batch.light {
                continue;
            }
            let row = Arc::new(row);
            if let Some(sender) = projects.get(&row.project_id)
                && sender.send(row.clone()).is_err()
            {
                projects.remove(&row.project_id);
            }
            let _ = self.inner.sender.send(row);
        }
        let moved = *cursor;
        self.inner.watermark.send_if_modified(|w| {
            let ahead = *w < moved;
            if ahead {
                *w = moved;
            }
            ahead
        });
        drop(projects);
        Delivered {
            advanced: *cursor != before,
            stopped,
            needs_data: false,
        }
    }

    fn spawn_pg_listener(&self, store: Store, mut shutdown: watch::Receiver<bool>) {
        use sea_orm::sqlx::postgres::PgListener;
        let bus = self.clone();
        tokio::spawn(async move {
            loop {
                let pool = store.conn().get_postgres_connection_pool().clone();
                let listener = async {
                    let mut l = PgListener::connect_with(&pool).await?;
                    l.listen_all([NOTIFY_CHANNEL, ACCESS_CHANNEL]).await?;
                    Ok::<_, sea_orm::sqlx::Error>(l)
                };
                let mut listener = match listener.await {
                    Ok(l) => l,
                    Err(err) => {
                        tracing::warn!(error = %err, "LISTEN failed; retrying");
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                            _ = shutdown.changed() => return,
                        }
                    }
                };
                // Whatever changed while no one listened is unknown: treat
                // every cached right as stale, and look for new events.
                bus.bump_access();
                bus.wake();
                loop {
                    tokio::select! {
                        msg = listener.recv() => match msg {
                            Ok(n) if n.channel() == ACCESS_CHANNEL => bus.bump_access(),
                            // Our own round's announcement: nothing new here.
                            Ok(n) if n.payload() == bus.inner.instance => {}
                            Ok(_) => bus.wake(),
                            Err(err) => {
                                tracing::warn!(error = %err, "LISTEN connection lost; reconnecting");
                                break;
                            }
                        },
                        _ = shutdown.changed() => return,
                    }
                }
            }
        });
    }
}

/// The newest position at start, once it is final: transactions open when
/// it was read may hold smaller positions, so the fanout (and with it the
/// server, which starts serving after it) waits until every transaction
/// open then has ended, as the gap rule does (at most [`STARTUP_WAIT`]).
/// An empty log whose front was pruned starts where the pruning stopped.
async fn settled_start(store: &Store) -> Result<i64, DbErr> {
    let read = |sql: &'static str| async move {
        store
            .conn()
            .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
            .await?
            .ok_or_else(|| DbErr::RecordNotFound("a snapshot".to_owned()))
    };
    // The xid is taken as the statement runs, after its snapshot: above
    // that of every transaction that drew a position below `top`.
    let row = read(
        "SELECT GREATEST(COALESCE((SELECT MAX(position) FROM events), 0), \
                         COALESCE((SELECT MAX(pruned_through) FROM log_retention), 0)) AS top, \
         pg_current_xact_id()::text::bigint AS bound",
    )
    .await?;
    let top: i64 = row.try_get("", "top")?;
    let bound: i64 = row.try_get("", "bound")?;
    let deadline = tokio::time::Instant::now() + STARTUP_WAIT;
    loop {
        let xmin: i64 =
            read("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS snap_xmin")
                .await?
                .try_get("", "snap_xmin")?;
        if xmin > bound {
            return Ok(top);
        }
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(
                "a transaction open since start-up is still running; starting the event log anyway"
            );
            return Ok(top);
        }
        tokio::time::sleep(GAP_RETRY).await;
    }
}

/// Committed events after `cursor`, oldest first, with the snapshot that
/// read them (PostgreSQL: the statement's own snapshot).
/// The columns a batch reads: all, or in a light read all but `data`,
/// which reads as JSON `null`.
fn batch_columns(light: bool, backend: DbBackend) -> &'static str {
    match (light, backend) {
        (false, _) => "*",
        (true, DbBackend::Postgres) => {
            "id, event_type, task_id, org_id, project_id, org, project, channel, task_type, \
             actor_type, actor_id, actor_name, 'null'::jsonb AS data, created_at, position"
        }
        (true, _) => {
            "id, event_type, task_id, org_id, project_id, org, project, channel, task_type, \
             actor_type, actor_id, actor_name, 'null' AS data, created_at, position"
        }
    }
}

async fn read_batch(store: &Store, cursor: i64, light: bool) -> Result<Batch, DbErr> {
    if store.backend() != DbBackend::Postgres {
        let columns = batch_columns(light, DbBackend::Sqlite);
        let rows = event::Model::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            format!(
                "SELECT {columns} FROM events WHERE position > $1 \
                 ORDER BY position LIMIT {FANOUT_BATCH}"
            ),
            [cursor.into()],
        ))
        .all(store.conn())
        .await?;
        return Ok(Batch {
            rows,
            xmin: 0,
            light,
        });
    }
    let columns = batch_columns(light, DbBackend::Postgres);
    let found = store
        .conn()
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "SELECT e.*, pg_snapshot_xmin(s.snap)::text::bigint AS snap_xmin \
                 FROM (SELECT pg_current_snapshot() AS snap) s \
                 LEFT JOIN LATERAL (SELECT {columns} FROM events WHERE position > $1 \
                                    ORDER BY position LIMIT {FANOUT_BATCH}) e ON true"
            ),
            [cursor.into()],
        ))
        .await?;
    let mut batch = Batch {
        rows: Vec::with_capacity(found.len()),
        xmin: 0,
        light,
    };
    for row in found {
        batch.xmin = row.try_get("", "snap_xmin")?;
        if row.try_get::<Option<i64>>("", "id")?.is_some() {
            batch.rows.push(event::Model::from_query_result(&row, "")?);
        }
    }
    Ok(batch)
}

/// An xid larger than that of every transaction that has taken one so far
/// (it takes one of its own, in a statement that commits at once): the
/// bound of a gap just seen. The statement writes nothing, so its commit
/// need not wait for the WAL to reach the disk (`synchronous_commit` off
/// for it alone): whether it survives a crash does not matter, only that
/// its xid was assigned.
async fn xid_bound(store: &Store) -> Result<i64, DbErr> {
    store
        .conn()
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT set_config('synchronous_commit', 'off', true) AS sync, \
                    pg_current_xact_id()::text::bigint AS bound",
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("an xid".to_owned()))?
        .try_get("", "bound")
}

/// True when no transaction of this database that took its xid before
/// `bound` (an xid8) is still running. Transactions of other databases on
/// the same cluster do not count: they cannot write our events. Compared by
/// age, as 32-bit xids wrap around.
async fn none_running_below(store: &Store, bound: i64) -> Result<bool, DbErr> {
    store
        .conn()
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity \
                WHERE datname = current_database() AND backend_xid IS NOT NULL \
                AND age(backend_xid) >= age((($1::bigint) % 4294967296)::text::xid)) AS clear",
            [bound.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("pg_stat_activity".to_owned()))?
        .try_get("", "clear")
}

/// Tells the other replicas that new events committed (after the commits,
/// outside any write transaction, at most once per fanout round).
async fn announce(store: &Store, instance: &str) {
    let notify = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        [NOTIFY_CHANNEL.into(), instance.into()],
    );
    if let Err(err) = store.conn().execute_raw(notify).await {
        tracing::warn!(error = %err, "fanout: NOTIFY failed");
    }
}
