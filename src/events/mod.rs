//! The event bus. The `events` table is the source of truth; the bus only
//! tells subscribers, in log order, what has been committed.
//!
//! Writers insert events without any lock and wake the bus once they have
//! committed. One fanout task per process then, when woken — by a local
//! commit, by PostgreSQL `NOTIFY` from another replica, or by a periodic
//! tick — first (PostgreSQL) stamps log positions on committed events (see
//! [`sequencer`]), then reads new rows by position (`position > cursor`) and
//! broadcasts them. A position is only ever handed out after every smaller
//! one, so reading `position > cursor` never skips an event, however late its
//! transaction committed.

mod sequencer;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use sea_orm::{ColumnTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio::sync::{Notify, broadcast, watch};

use crate::db::Store;
use crate::entity::event;

/// The PostgreSQL channel that carries "new events" notifications between replicas.
pub const NOTIFY_CHANNEL: &str = "ats_events";
/// The PostgreSQL channel that carries "access changed" notifications
/// (memberships, grants, projects, keys, guardianships) between replicas.
pub const ACCESS_CHANNEL: &str = "ats_access";

/// The longest a writer waits for the sequencer before answering.
const SETTLE_WAIT: Duration = Duration::from_secs(5);

/// How many events the broadcast buffers before a slow receiver lags.
const BROADCAST_CAPACITY: usize = 4096;
/// How many rows the fanout reads at a time.
const FANOUT_BATCH: u64 = 500;

/// Delivers committed events to every subscriber in this process.
#[derive(Clone)]
pub struct EventBus {
    inner: Arc<Inner>,
}

struct Inner {
    sender: broadcast::Sender<Arc<event::Model>>,
    wake: Notify,
    /// True once a sequencer runs in this process (PostgreSQL).
    sequencing: AtomicBool,
    /// Sequencer rounds started, and finished, in this process.
    rounds_started: AtomicU64,
    rounds_done: watch::Sender<u64>,
    /// Bumped on every access change seen by this process (its own, or
    /// another replica's by `NOTIFY`): cached rights older than it are stale.
    access: watch::Sender<u64>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus {
    /// An idle bus; call [`EventBus::spawn_fanout`] to feed it.
    pub fn new() -> Self {
        let (sender, _) = broadcast::channel(BROADCAST_CAPACITY);
        Self {
            inner: Arc::new(Inner {
                sender,
                wake: Notify::new(),
                sequencing: AtomicBool::new(false),
                rounds_started: AtomicU64::new(0),
                rounds_done: watch::Sender::new(0),
                access: watch::Sender::new(0),
            }),
        }
    }

    /// A receiver of every event broadcast from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<event::Model>> {
        self.inner.sender.subscribe()
    }

    /// How many receivers are attached (open subscriptions).
    pub fn receiver_count(&self) -> usize {
        self.inner.sender.receiver_count()
    }

    /// Tells the fanout that new events were committed.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Called by a writer after its commit: wakes the fanout and, where a
    /// sequencer stamps positions (PostgreSQL), waits until a round that
    /// began after the commit has finished, so the writer's events are in
    /// the log when its answer goes out (a client that reads its task's
    /// history next sees them). Many writers share one round.
    pub async fn settle(&self) {
        if !self.inner.sequencing.load(Ordering::Acquire) {
            self.wake();
            return;
        }
        let after = self.inner.rounds_started.load(Ordering::Acquire);
        let mut done = self.inner.rounds_done.subscribe();
        self.wake();
        let reached = done.wait_for(|d| *d > after);
        if tokio::time::timeout(SETTLE_WAIT, reached).await.is_err() {
            tracing::warn!("the sequencer did not finish a round in time; answering anyway");
        }
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
        let mut cursor = match event::Entity::find()
            .filter(event::Column::Position.is_not_null())
            .order_by_desc(event::Column::Position)
            .one(store.conn())
            .await
        {
            Ok(Some(e)) => e.position.unwrap_or(0),
            Ok(None) => 0,
            Err(err) => {
                tracing::error!(error = %err, "fanout: cannot read the event cursor");
                0
            }
        };
        if store.backend() == DbBackend::Postgres {
            self.spawn_pg_listener(store.clone(), shutdown.clone());
            self.inner.sequencing.store(true, Ordering::Release);
        }
        let bus = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = bus.inner.wake.notified() => {}
                    _ = tokio::time::sleep(poll) => {}
                    _ = shutdown.changed() => return,
                }
                if store.backend() == DbBackend::Postgres {
                    let round = bus.inner.rounds_started.fetch_add(1, Ordering::AcqRel) + 1;
                    match sequencer::stamp(&store).await {
                        Ok(0) => {}
                        Ok(_) => sequencer::announce(&store).await,
                        Err(err) => tracing::warn!(error = %err, "sequencer: stamping failed"),
                    }
                    bus.inner.rounds_done.send_replace(round);
                }
                loop {
                    let batch = event::Entity::find()
                        .filter(event::Column::Position.gt(cursor))
                        .order_by_asc(event::Column::Position)
                        .limit(FANOUT_BATCH)
                        .all(store.conn())
                        .await;
                    match batch {
                        Ok(rows) => {
                            let full = rows.len() as u64 == FANOUT_BATCH;
                            for row in rows {
                                cursor = row.position.unwrap_or(cursor);
                                let _ = bus.inner.sender.send(Arc::new(row));
                            }
                            if !full {
                                break;
                            }
                        }
                        Err(err) => {
                            tracing::warn!(error = %err, "fanout: reading new events failed");
                            break;
                        }
                    }
                }
            }
        });
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
