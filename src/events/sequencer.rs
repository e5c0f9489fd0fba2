//! The PostgreSQL sequencer: stamps log positions on committed events.
//!
//! Events are inserted without a lock, so their ids follow insertion, not
//! commit: a transaction that inserted id 10 may commit after one that
//! inserted id 11. Readers follow `position` instead, which a single
//! sequencer at a time (any replica; the row lock on `event_sequencer`
//! serialises them) hands out after commit: in one short transaction it
//! locks the counter, takes the committed events that have no position yet
//! in id order, numbers them after the counter, and advances it. A position
//! is never handed out below one already handed out, so a reader that has
//! seen position N and reads `position > N` misses nothing. Events of one
//! task keep their order: a later change of a task waited for the earlier
//! one's row lock, so its event was inserted (and stamped) after.
//!
//! Writers never wait on the sequencer, and commit together (PostgreSQL's
//! group commit); an event is visible to readers a few milliseconds after
//! its commit, when a sequencer round has stamped it.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, TransactionTrait};

use crate::db::Store;

use super::NOTIFY_CHANNEL;

/// Most events one round stamps before committing.
const ROUND: i64 = 1000;

/// Stamps every committed, unstamped event; returns how many it stamped.
pub async fn stamp(store: &Store) -> Result<u64, DbErr> {
    let db = store.conn();
    let pending = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT EXISTS (SELECT 1 FROM events WHERE position IS NULL) AS pending",
        ))
        .await?
        .map(|row| row.try_get::<bool>("", "pending"))
        .transpose()?
        .unwrap_or(false);
    if !pending {
        return Ok(0);
    }
    let mut total = 0;
    loop {
        let txn = db.begin().await?;
        let last: i64 = txn
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT last_position FROM event_sequencer WHERE id = 1 FOR UPDATE",
            ))
            .await?
            .ok_or_else(|| DbErr::RecordNotFound("event_sequencer".to_owned()))?
            .try_get("", "last_position")?;
        // A new statement, so a new snapshot: it sees every round that
        // committed before this one took the lock.
        let stamped = txn
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "WITH todo AS (
                    SELECT id, row_number() OVER (ORDER BY id) AS n
                    FROM events WHERE position IS NULL ORDER BY id LIMIT $2
                 )
                 UPDATE events SET position = $1 + todo.n
                 FROM todo WHERE events.id = todo.id",
                [last.into(), ROUND.into()],
            ))
            .await?
            .rows_affected();
        if stamped > 0 {
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE event_sequencer SET last_position = $1 WHERE id = 1",
                [(last + stamped as i64).into()],
            ))
            .await?;
        }
        txn.commit().await?;
        total += stamped;
        if stamped < ROUND as u64 {
            return Ok(total);
        }
    }
}

/// Tells the other replicas that new positions exist (after the round's
/// commit, outside any write transaction).
pub async fn announce(store: &Store) {
    let notify = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_notify($1, '')",
        [NOTIFY_CHANNEL.into()],
    );
    if let Err(err) = store.conn().execute_raw(notify).await {
        tracing::warn!(error = %err, "sequencer: NOTIFY failed");
    }
}
