//! Idempotency keys (the IETF `Idempotency-Key` header; GraphQL's
//! `idempotencyKey` argument): a write sent again with the same key by the
//! same caller within a day answers what the first one answered, without
//! writing again.
//!
//! The key is stored with the answer in the write's own transaction: its
//! first statement reserves the key (`INSERT … ON CONFLICT`), its last fills
//! in the answer. On PostgreSQL a repeat that arrives while the first is
//! still running blocks on that insert until the first commits (then it
//! answers the stored answer) or rolls back (then it does the write itself),
//! for at most [`IN_FLIGHT_WAIT`]; on SQLite the single writer already
//! serialises the two. A write without a key costs no extra statement.

use chrono::Duration;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::actor::Actor;
use crate::error::{Error, Result};
use crate::time;

/// The longest key accepted.
pub const MAX_KEY_LEN: usize = 255;

/// How long a key is honoured; the retention job prunes older keys.
pub const KEY_LIFETIME: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// How long a repeat waits for the first request with its key (PostgreSQL
/// `lock_timeout`) before answering 409 `IDEMPOTENCY_KEY_IN_FLIGHT`.
pub const IN_FLIGHT_WAIT: &str = "10s";

/// An idempotency key and the fingerprint of the request that carried it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idempotency {
    key: String,
    fingerprint: String,
}

impl Idempotency {
    /// The key `key` (1 to [`MAX_KEY_LEN`] printable ASCII characters, else
    /// 400) of a request described by `request` (for example its method,
    /// route and body), which is digested into the fingerprint.
    pub fn new(key: &str, request: &[&[u8]]) -> Result<Self> {
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return Err(Error::bad_request(format!(
                "Idempotency-Key must be 1 to {MAX_KEY_LEN} characters"
            )));
        }
        if !key.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(Error::bad_request(
                "Idempotency-Key must be printable ASCII",
            ));
        }
        let mut digest = Sha256::new();
        for part in request {
            digest.update((part.len() as u64).to_be_bytes());
            digest.update(part);
        }
        Ok(Self {
            key: key.to_owned(),
            fingerprint: hex::encode(digest.finalize()),
        })
    }

    /// The key as sent.
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// Keys are kept per caller: the same key from two callers is two keys.
fn caller(actor: &Actor) -> String {
    format!("{}:{}", actor.actor_type.as_str(), actor.id)
}

fn in_flight(key: &str) -> Error {
    Error::IdempotencyKeyInFlight(format!(
        "a request with Idempotency-Key '{key}' is still running; retry later"
    ))
}

fn is_lock_timeout(e: &sea_orm::DbErr) -> bool {
    e.to_string().contains("lock timeout")
}

/// The first statement(s) of a keyed write, in its transaction `db`:
/// reserves `idem` for `actor` and answers `None` (do the write, then
/// [`remember`] its answer), or answers the answer stored for the key.
/// A key stored with another request's fingerprint is 422
/// `IDEMPOTENCY_KEY_REUSED`. Without a key, does nothing.
pub(crate) async fn reserve<C: ConnectionTrait, T: DeserializeOwned>(
    db: &C,
    actor: &Actor,
    idem: Option<&Idempotency>,
) -> Result<Option<T>> {
    let Some(idem) = idem else {
        return Ok(None);
    };
    let backend = db.get_database_backend();
    let pg = backend == DbBackend::Postgres;
    let now = time::now();
    let stale = now - Duration::from_std(KEY_LIFETIME).unwrap_or(Duration::days(1));
    let caller = caller(actor);
    if pg {
        db.execute_unprepared(&format!("SET LOCAL lock_timeout = '{IN_FLIGHT_WAIT}'"))
            .await?;
    }
    // A key older than a day is never honoured, even before it is pruned:
    // the row is taken over as if new.
    let reserved = db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            "INSERT INTO idempotency_keys (caller, idem_key, fingerprint, answer, created_at) \
             VALUES ($1, $2, $3, NULL, $4) \
             ON CONFLICT (caller, idem_key) DO UPDATE SET fingerprint = excluded.fingerprint, \
             answer = NULL, created_at = excluded.created_at \
             WHERE idempotency_keys.created_at < $5",
            [
                caller.clone().into(),
                idem.key.clone().into(),
                idem.fingerprint.clone().into(),
                now.into(),
                stale.into(),
            ],
        ))
        .await;
    let reserved = match reserved {
        Err(e) if is_lock_timeout(&e) => return Err(in_flight(&idem.key)),
        other => other?.rows_affected() == 1,
    };
    if pg {
        db.execute_unprepared("SET LOCAL lock_timeout = DEFAULT")
            .await?;
    }
    if reserved {
        return Ok(None);
    }
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            "SELECT fingerprint, answer FROM idempotency_keys WHERE caller = $1 AND idem_key = $2",
            [caller.into(), idem.key.clone().into()],
        ))
        .await?
        .ok_or_else(|| in_flight(&idem.key))?;
    let fingerprint: String = row.try_get("", "fingerprint")?;
    if fingerprint != idem.fingerprint {
        return Err(Error::IdempotencyKeyReused(format!(
            "Idempotency-Key '{}' was used for a different request in the last 24 hours; use a new key",
            idem.key
        )));
    }
    let answer: Option<String> = row.try_get("", "answer")?;
    let answer = answer.ok_or_else(|| in_flight(&idem.key))?;
    serde_json::from_str(&answer)
        .map(Some)
        .map_err(|e| Error::Internal(format!("stored idempotent answer unreadable: {e}")))
}

/// The last statement of a keyed write: stores `answer` for the key
/// [`reserve`] took. Without a key, does nothing.
pub(crate) async fn remember<C: ConnectionTrait, T: Serialize>(
    db: &C,
    actor: &Actor,
    idem: Option<&Idempotency>,
    answer: &T,
) -> Result<()> {
    let Some(idem) = idem else {
        return Ok(());
    };
    let answer = serde_json::to_string(answer)
        .map_err(|e| Error::Internal(format!("cannot store idempotent answer: {e}")))?;
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        "UPDATE idempotency_keys SET answer = $3 WHERE caller = $1 AND idem_key = $2",
        [caller(actor).into(), idem.key.clone().into(), answer.into()],
    ))
    .await?;
    Ok(())
}
