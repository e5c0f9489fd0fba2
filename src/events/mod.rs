//! The event bus. The `events` table is the source of truth; the bus only
//! tells subscribers, in id order, what has been committed.
//!
//! One fanout task per process reads new rows (`id > cursor`) when woken —
//! by a local commit, by PostgreSQL `NOTIFY` from another replica, or by a
//! periodic tick — and broadcasts them. Event ids are assigned in commit
//! order (see `service::event_log`), so reading `id > cursor` never skips.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio::sync::{Notify, broadcast, watch};

use crate::db::Store;
use crate::entity::event;

/// The PostgreSQL channel that carries "new events" notifications between replicas.
pub const NOTIFY_CHANNEL: &str = "ats_events";
/// The PostgreSQL channel that carries "access changed" notifications
/// (memberships, grants, projects, keys, guardianships) between replicas.
pub const ACCESS_CHANNEL: &str = "ats_access";

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
            .order_by_desc(event::Column::Id)
            .one(store.conn())
            .await
        {
            Ok(Some(e)) => e.id,
            Ok(None) => 0,
            Err(err) => {
                tracing::error!(error = %err, "fanout: cannot read the event cursor");
                0
            }
        };
        if store.backend() == DbBackend::Postgres {
            self.spawn_pg_listener(store.clone(), shutdown.clone());
        }
        let bus = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = bus.inner.wake.notified() => {}
                    _ = tokio::time::sleep(poll) => {}
                    _ = shutdown.changed() => return,
                }
                loop {
                    let batch = event::Entity::find()
                        .filter(sea_orm::ColumnTrait::gt(&event::Column::Id, cursor))
                        .order_by_asc(event::Column::Id)
                        .limit(FANOUT_BATCH)
                        .all(store.conn())
                        .await;
                    match batch {
                        Ok(rows) => {
                            let full = rows.len() as u64 == FANOUT_BATCH;
                            for row in rows {
                                cursor = row.id;
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
