//! Delivering webhooks: a dispatcher that turns events of the log into
//! deliveries, and a worker that sends them, signed as the Standard
//! Webhooks specification says, retrying on its schedule.
//!
//! **Dispatch.** The event log (`events`, written in each change's own
//! transaction) is already a durable outbox, ordered by position. One
//! global cursor, `webhook_dispatch.position`, says how far it has been
//! turned into delivery rows. A pass reads the events after the cursor up
//! to the end of the readable log ([`Ats::in_log`]: on PostgreSQL the
//! watermark, below which every position is final, so an event that
//! commits late is never passed over), and in one transaction moves the
//! cursor with a conditional update (`WHERE position = <what it read>`)
//! and inserts a delivery for every active webhook that wants each event.
//! Of several replicas doing the same pass, one update matches and the
//! others roll back: each event is queued once per webhook (the unique
//! `message_id` holds that too). Nothing is added to the writers' hot
//! path. Audit records, which are not task events, queue their deliveries
//! in their own transaction instead (see [`super::audit`]).
//!
//! **Delivery.** The worker takes due deliveries — `FOR UPDATE SKIP
//! LOCKED` on PostgreSQL, under the single writer on SQLite — and leases
//! each by moving its `next_attempt_at` past the attempt's time limit, so
//! a replica that dies mid-attempt leaves the delivery to be taken again
//! (at least once). Each process sends at most one delivery per webhook at
//! a time, the oldest due first, so deliveries go out in event order as
//! far as retries allow, and a slow receiver holds up only its own
//! webhook. A 2xx answer succeeds; anything else (another status, a
//! timeout, a refused connection, a redirect, which is not followed, an
//! address the policy forbids) schedules the next attempt per
//! `ATS_WEBHOOK_RETRY_SCHEDULE`, with jitter, or after the last marks the
//! delivery failed. A webhook whose deliveries keep failing, with no
//! success, for `ATS_WEBHOOK_DISABLE_AFTER` is disabled, with a
//! `webhook.disabled` notice in its org's audit log.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::{KeyInit, Mac};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use rand::RngExt;
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect, Set, Statement,
};
use tokio::sync::{Notify, Semaphore, watch};

use super::Ats;
use super::audit::{AuditRecord, Target};
use super::views::EventView;
use super::webhook_url::{GuardedResolver, UrlPolicy, literal_ip};
use super::webhooks::{delivery_status, stored_list, wants};
use crate::actor::Actor;
use crate::entity::{event, webhook, webhook_delivery};
use crate::error::{Error, Result};
use crate::time;

/// The time limit of one attempt (connection, request and answer).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a taken delivery is leased: past the attempt's time limit, so
/// only a replica that died leaves it to another.
const LEASE: Duration = Duration::from_secs(60);
/// Events read per dispatch pass.
const DISPATCH_BATCH: u64 = 500;
/// Deliveries in flight in one process, over every webhook.
const MAX_IN_FLIGHT: usize = 64;
/// Candidates read per claim.
const CLAIM_BATCH: u64 = 100;
/// How often the loops look without being woken.
const POLL: Duration = Duration::from_millis(500);
/// Longest `last_error` kept.
const MAX_ERROR: usize = 500;

/// Labels of the attempt counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    outcome: String,
}

/// The webhook metrics of `/metrics`.
#[derive(Clone, Default)]
pub struct WebhookMetrics {
    /// Attempts, by outcome (`succeeded`, `failed`).
    pub attempts: Family<OutcomeLabels, Counter>,
    /// Deliveries that used up their schedule.
    pub failed: Counter,
    /// Webhooks disabled for failing too long.
    pub disabled: Counter,
    /// Deliveries waiting (due or not).
    pub pending: Gauge,
    /// Seconds the oldest due delivery has waited past its time.
    pub lag_seconds: Gauge,
    /// Events of the log not yet turned into deliveries.
    pub dispatch_lag_events: Gauge,
}

impl WebhookMetrics {
    /// Registers the metrics under `registry` (prefixed `ats_` there).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "webhook_attempts",
            "Webhook delivery attempts, by outcome (succeeded: a 2xx answer)",
            self.attempts.clone(),
        );
        registry.register(
            "webhook_deliveries_failed",
            "Webhook deliveries that failed every attempt of the retry schedule",
            self.failed.clone(),
        );
        registry.register(
            "webhooks_disabled",
            "Webhooks disabled for failing too long",
            self.disabled.clone(),
        );
        registry.register(
            "webhook_deliveries_pending",
            "Webhook deliveries waiting for an attempt",
            self.pending.clone(),
        );
        registry.register(
            "webhook_delivery_lag_seconds",
            "How long the oldest due webhook delivery has waited past its time",
            self.lag_seconds.clone(),
        );
        registry.register(
            "webhook_dispatch_lag_events",
            "Events of the log not yet turned into webhook deliveries",
            self.dispatch_lag_events.clone(),
        );
    }
}

/// What the delivery loops share in one process.
#[derive(Default)]
pub(crate) struct Outbound {
    /// Wakes the worker (a delivery was queued or finished).
    wake: Notify,
    /// Webhooks with an attempt in flight in this process.
    busy: Mutex<HashSet<i64>>,
    metrics: std::sync::OnceLock<WebhookMetrics>,
}

/// Runs the dispatcher and the delivery worker.
pub struct WebhookWorker;

impl WebhookWorker {
    /// Spawns both loops until `shutdown` flips; any number of replicas may run them.
    pub fn spawn(ats: Ats, shutdown: watch::Receiver<bool>, metrics: WebhookMetrics) {
        let _ = ats.outbound.metrics.set(metrics);
        let client = match delivery_client(ats.webhooks.urls) {
            Ok(c) => c,
            Err(err) => {
                tracing::error!(error = %err, "webhooks: cannot build the HTTP client; no deliveries");
                return;
            }
        };
        tokio::spawn(dispatch_loop(ats.clone(), shutdown.clone()));
        tokio::spawn(delivery_loop(ats, client, shutdown));
    }
}

/// The HTTP client of deliveries: rustls with the ring provider and the
/// Mozilla roots, no redirects, no proxy, the attempt's time limit, and a
/// resolver that refuses forbidden addresses.
fn delivery_client(policy: UrlPolicy) -> Result<reqwest::Client> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Internal(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(ATTEMPT_TIMEOUT)
        .connect_timeout(ATTEMPT_TIMEOUT)
        .dns_resolver(GuardedResolver::shared(policy))
        .user_agent(concat!("ats-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Internal(format!("webhook client: {e}")))
}

async fn dispatch_loop(ats: Ats, mut shutdown: watch::Receiver<bool>) {
    let mut moved = ats.bus.log_moves();
    loop {
        loop {
            match ats.dispatch_once().await {
                Ok(n) if n as u64 == DISPATCH_BATCH => continue,
                Ok(_) => break,
                Err(err) => {
                    tracing::warn!(error = %err, "webhooks: dispatching events failed");
                    break;
                }
            }
        }
        tokio::select! {
            _ = moved.changed() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = shutdown.changed() => return,
        }
    }
}

async fn delivery_loop(ats: Ats, client: reqwest::Client, mut shutdown: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    loop {
        loop {
            let free = slots.available_permits();
            if free == 0 {
                break;
            }
            let claimed = match ats.claim_deliveries(free).await {
                Ok(c) => c,
                Err(err) => {
                    tracing::warn!(error = %err, "webhooks: taking deliveries failed");
                    break;
                }
            };
            if claimed.is_empty() {
                break;
            }
            for (delivery, hook) in claimed {
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    break;
                };
                let (ats, client) = (ats.clone(), client.clone());
                tokio::spawn(async move {
                    let _permit = permit;
                    let hook_id = hook.id;
                    ats.attempt(&client, delivery, hook).await;
                    ats.outbound.busy.lock().unwrap().remove(&hook_id);
                    ats.outbound.wake.notify_one();
                });
            }
        }
        tokio::select! {
            _ = ats.outbound.wake.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// The `webhook-signature` value: `v1,<base64 HMAC-SHA256>` of
/// `{id}.{timestamp}.{body}` for each secret, space-separated.
pub fn signature(secrets: &[&str], msg_id: &str, timestamp: i64, body: &str) -> String {
    secrets
        .iter()
        .filter_map(|secret| {
            let key = STANDARD
                .decode(
                    secret
                        .strip_prefix(super::webhooks::SECRET_PREFIX)
                        .unwrap_or(secret),
                )
                .ok()?;
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).ok()?;
            mac.update(format!("{msg_id}.{timestamp}.").as_bytes());
            mac.update(body.as_bytes());
            Some(format!(
                "v1,{}",
                STANDARD.encode(mac.finalize().into_bytes())
            ))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// How an attempt went.
enum Outcome {
    /// A 2xx answer.
    Succeeded(u16),
    /// Another answer, or none (the error).
    Failed(Option<u16>, String),
}

/// `d` plus up to 10 % jitter.
/// Where a dispatch pass starts (see [`Ats::dispatch_once`]).
struct DispatchStart {
    /// The stored cursor.
    stored: i64,
    /// The lowest `after_position` of the active webhooks; `None`: none is active.
    floor: Option<i64>,
}

impl DispatchStart {
    /// The position after which events may still be wanted: past both the
    /// cursor and what every active webhook was created (or re-enabled)
    /// after; `None` when no webhook is active.
    fn from(&self) -> Option<i64> {
        self.floor.map(|f| Ord::max(f, self.stored))
    }
}

fn jittered(d: Duration) -> Duration {
    let spread = d.as_millis() as u64 / 10;
    if spread == 0 {
        return d;
    }
    d + Duration::from_millis(rand::rng().random_range(0..=spread))
}

fn chrono_of(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl Ats {
    /// Wakes this process's delivery worker (a delivery is due now).
    pub(crate) fn wake_deliveries(&self) {
        self.outbound.wake.notify_one();
    }

    /// How far the dispatcher has gone: every event up to it has been
    /// queued, or is wanted by no webhook; `None` while no webhook is
    /// active (nothing waits for dispatch).
    pub(crate) async fn dispatched_through<C: ConnectionTrait>(db: &C) -> Result<Option<i64>> {
        Ok(Self::dispatch_start(db).await?.from())
    }

    /// Where a dispatch pass starts, in one statement: the stored cursor,
    /// and the oldest position an active webhook may still want (none when
    /// no webhook is active: the pass then reads nothing, and a busy
    /// server without webhooks pays nothing for them).
    async fn dispatch_start<C: ConnectionTrait>(db: &C) -> Result<DispatchStart> {
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT (SELECT position FROM webhook_dispatch WHERE id = 1) AS position, \
                        (SELECT MIN(after_position) FROM webhooks WHERE active) AS floor",
            ))
            .await?;
        let (stored, floor) = match row {
            Some(r) => (
                r.try_get::<Option<i64>>("", "position")?.unwrap_or(0),
                r.try_get::<Option<i64>>("", "floor")?,
            ),
            None => (0, None),
        };
        Ok(DispatchStart { stored, floor })
    }

    /// One dispatch pass (see the module doc); returns how many events it
    /// went past (0 when none, or when another replica made the same pass).
    pub async fn dispatch_once(&self) -> Result<usize> {
        let db = self.store.conn();
        let start = Self::dispatch_start(db).await?;
        let Some(from) = start.from() else {
            return Ok(0);
        };
        let cursor = start.stored;
        let events = event::Entity::find()
            .filter(event::Column::Position.gt(from))
            .filter(self.in_log())
            .order_by_asc(event::Column::Position)
            .limit(DISPATCH_BATCH)
            .all(db)
            .await?;
        let Some(last) = events.last().and_then(|e| e.position) else {
            return Ok(0);
        };
        let w = self.store.begin_write().await?;
        // First the cursor, which takes its row: a replica making the same
        // pass waits here, then matches nothing and rolls back.
        let moved = w
            .txn
            .execute_raw(Statement::from_sql_and_values(
                self.store.backend(),
                "UPDATE webhook_dispatch SET position = $1 WHERE id = 1 AND position = $2",
                [last.into(), cursor.into()],
            ))
            .await?
            .rows_affected();
        if moved == 0 {
            return Ok(0);
        }
        // Read under the cursor's lock: a webhook committed after this read
        // has an `after_position` past every event of this pass.
        let hooks: Vec<(webhook::Model, Vec<String>, Option<Vec<String>>)> =
            webhook::Entity::find()
                .filter(webhook::Column::Active.eq(true))
                .all(&w.txn)
                .await?
                .into_iter()
                .map(|h| {
                    let events = stored_list(&h.events);
                    let projects = h.projects.as_deref().map(stored_list);
                    (h, events, projects)
                })
                .collect();
        let now = time::now();
        let mut rows = Vec::new();
        for e in &events {
            let position = e.position.unwrap_or(e.id);
            let mut payload: Option<String> = None;
            for (hook, names, projects) in &hooks {
                let wanted = hook.org_id == e.org_id
                    && position > hook.after_position
                    && wants(names, &e.event_type)
                    && projects.as_ref().is_none_or(|p| p.contains(&e.project));
                if !wanted {
                    continue;
                }
                let body = payload
                    .get_or_insert_with(|| {
                        serde_json::to_string(&EventView::from(e)).unwrap_or_default()
                    })
                    .clone();
                rows.push(webhook_delivery::ActiveModel {
                    webhook_id: Set(hook.id),
                    message_id: Set(format!("msg_{}_{position}", hook.id)),
                    event_id: Set(Some(position)),
                    audit_id: Set(None),
                    event_type: Set(e.event_type.clone()),
                    payload: Set(body),
                    status: Set(delivery_status::PENDING.to_owned()),
                    attempts: Set(0),
                    next_attempt_at: Set(now),
                    last_attempt_at: Set(None),
                    last_status: Set(None),
                    last_error: Set(None),
                    created_at: Set(now),
                    updated_at: Set(now),
                    ..Default::default()
                });
            }
        }
        let queued = !rows.is_empty();
        for chunk in rows.chunks(200) {
            webhook_delivery::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(&w.txn)
                .await?;
        }
        w.commit().await?;
        if queued {
            self.wake_deliveries();
        }
        Ok(events.len())
    }

    /// Takes up to `max` due deliveries, at most one per webhook and none
    /// of a webhook already in flight here, and leases them.
    async fn claim_deliveries(
        &self,
        max: usize,
    ) -> Result<Vec<(webhook_delivery::Model, webhook::Model)>> {
        let backend = self.store.backend();
        let now = time::now();
        let busy: Vec<i64> = self.outbound.busy.lock().unwrap().iter().copied().collect();
        let w = self.store.begin_write().await?;
        let mut sql = String::from(
            "SELECT d.id, d.webhook_id FROM webhook_deliveries d \
             JOIN webhooks h ON h.id = d.webhook_id \
             WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND h.active = $2",
        );
        if !busy.is_empty() {
            let ids: Vec<String> = busy.iter().map(i64::to_string).collect();
            sql.push_str(&format!(" AND d.webhook_id NOT IN ({})", ids.join(",")));
        }
        sql.push_str(" ORDER BY d.next_attempt_at, d.id LIMIT $3");
        if backend == DbBackend::Postgres {
            sql.push_str(" FOR UPDATE OF d SKIP LOCKED");
        }
        let candidates = w
            .txn
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [now.into(), true.into(), (CLAIM_BATCH as i64).into()],
            ))
            .await?;
        let mut taken: Vec<i64> = Vec::new();
        let mut hooks: HashSet<i64> = HashSet::new();
        for row in candidates {
            let id: i64 = row.try_get("", "id")?;
            let hook: i64 = row.try_get("", "webhook_id")?;
            if taken.len() < max && hooks.insert(hook) {
                taken.push(id);
            }
        }
        if taken.is_empty() {
            return Ok(Vec::new());
        }
        let lease = now + chrono_of(LEASE);
        webhook_delivery::Entity::update_many()
            .col_expr(webhook_delivery::Column::NextAttemptAt, Expr::value(lease))
            .col_expr(
                webhook_delivery::Column::Attempts,
                Expr::col(webhook_delivery::Column::Attempts).add(1),
            )
            .col_expr(webhook_delivery::Column::LastAttemptAt, Expr::value(now))
            .col_expr(webhook_delivery::Column::UpdatedAt, Expr::value(now))
            .filter(webhook_delivery::Column::Id.is_in(taken.clone()))
            .filter(webhook_delivery::Column::Status.eq(delivery_status::PENDING))
            .exec(&w.txn)
            .await?;
        let deliveries = webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::Id.is_in(taken))
            .all(&w.txn)
            .await?;
        let hook_rows = webhook::Entity::find()
            .filter(webhook::Column::Id.is_in(hooks.iter().copied().collect::<Vec<_>>()))
            .all(&w.txn)
            .await?;
        w.commit().await?;
        let mut busy = self.outbound.busy.lock().unwrap();
        Ok(deliveries
            .into_iter()
            .filter_map(|d| {
                let hook = hook_rows.iter().find(|h| h.id == d.webhook_id)?.clone();
                busy.insert(hook.id);
                Some((d, hook))
            })
            .collect())
    }

    /// Sends one attempt and records how it went.
    async fn attempt(
        &self,
        client: &reqwest::Client,
        delivery: webhook_delivery::Model,
        hook: webhook::Model,
    ) {
        let outcome = self.send(client, &delivery, &hook).await;
        if let Some(m) = self.outbound.metrics.get() {
            let outcome = match outcome {
                Outcome::Succeeded(_) => "succeeded",
                Outcome::Failed(..) => "failed",
            };
            m.attempts
                .get_or_create(&OutcomeLabels {
                    outcome: outcome.to_owned(),
                })
                .inc();
        }
        if let Err(err) = self.record_outcome(&delivery, &hook, outcome).await {
            // The lease runs out and the delivery is taken again.
            tracing::warn!(error = %err, delivery = delivery.id, "webhooks: recording an attempt failed");
        }
    }

    async fn send(
        &self,
        client: &reqwest::Client,
        delivery: &webhook_delivery::Model,
        hook: &webhook::Model,
    ) -> Outcome {
        let policy = self.webhooks.urls;
        let url = match policy.parse(&hook.url) {
            Ok(u) => u,
            Err(e) => return Outcome::Failed(None, e.public_message()),
        };
        // A name is checked by the client's resolver; an address here.
        if let Some(ip) = literal_ip(&url)
            && !policy.allows(ip)
        {
            return Outcome::Failed(
                None,
                format!(
                    "{ip} is a loopback, private or link-local address, which webhooks may not reach"
                ),
            );
        }
        let now = time::now();
        let mut secrets = vec![hook.secret.as_str()];
        if let (Some(old), Some(until)) = (&hook.previous_secret, hook.previous_secret_expires_at)
            && until > now
        {
            secrets.push(old.as_str());
        }
        let timestamp = now.timestamp();
        let signed = signature(&secrets, &delivery.message_id, timestamp, &delivery.payload);
        let sent = client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &delivery.message_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signed)
            .body(delivery.payload.clone())
            .send()
            .await;
        match sent {
            Ok(resp) if resp.status().is_success() => Outcome::Succeeded(resp.status().as_u16()),
            Ok(resp) if resp.status().is_redirection() => Outcome::Failed(
                Some(resp.status().as_u16()),
                "redirects are not followed".to_owned(),
            ),
            Ok(resp) => Outcome::Failed(
                Some(resp.status().as_u16()),
                format!("answered {}", resp.status()),
            ),
            Err(e) => Outcome::Failed(None, describe(&e)),
        }
    }

    /// Records an attempt's outcome in one transaction: the delivery's new
    /// state, the webhook's failure streak, and a disabling when the streak
    /// has lasted too long.
    async fn record_outcome(
        &self,
        delivery: &webhook_delivery::Model,
        hook: &webhook::Model,
        outcome: Outcome,
    ) -> Result<()> {
        let now = time::now();
        let w = self.store.begin_write().await?;
        // Only the attempt this process leased: a redelivery since, or a
        // replica that took it after a lost lease, owns it now.
        let Some(current) = webhook_delivery::Entity::find_by_id(delivery.id)
            .filter(webhook_delivery::Column::Attempts.eq(delivery.attempts))
            .filter(webhook_delivery::Column::Status.eq(delivery_status::PENDING))
            .one(&w.txn)
            .await?
        else {
            return Ok(());
        };
        let mut row = current.into_active_model();
        row.last_attempt_at = Set(Some(now));
        row.updated_at = Set(now);
        let Some(hook) = webhook::Entity::find_by_id(hook.id).one(&w.txn).await? else {
            return Ok(());
        };
        match outcome {
            Outcome::Succeeded(status) => {
                row.status = Set(delivery_status::SUCCEEDED.to_owned());
                row.last_status = Set(Some(i32::from(status)));
                row.last_error = Set(None);
                row.update(&w.txn).await?;
                if hook.failing_since.is_some() {
                    let mut h = hook.into_active_model();
                    h.failing_since = Set(None);
                    h.update(&w.txn).await?;
                }
            }
            Outcome::Failed(status, error) => {
                let error: String = error.chars().take(MAX_ERROR).collect();
                row.last_status = Set(status.map(i32::from));
                row.last_error = Set(Some(error));
                let schedule = &self.webhooks.schedule;
                let done = delivery.attempts as usize > schedule.len();
                if done {
                    row.status = Set(delivery_status::FAILED.to_owned());
                    if let Some(m) = self.outbound.metrics.get() {
                        m.failed.inc();
                    }
                } else {
                    let delay = jittered(schedule[Ord::max(delivery.attempts, 1) as usize - 1]);
                    row.next_attempt_at = Set(now + chrono_of(delay));
                }
                row.update(&w.txn).await?;
                self.note_failure(&w.txn, hook, now).await?;
            }
        }
        w.commit().await?;
        Ok(())
    }

    /// A failed attempt of `hook`: starts its failure streak, or disables
    /// it when the streak has lasted `ATS_WEBHOOK_DISABLE_AFTER`.
    async fn note_failure<C: ConnectionTrait>(
        &self,
        db: &C,
        hook: webhook::Model,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let Some(since) = hook.failing_since else {
            let mut h = hook.into_active_model();
            h.failing_since = Set(Some(now));
            h.update(db).await?;
            return Ok(());
        };
        let Some(limit) = self.webhooks.disable_after else {
            return Ok(());
        };
        if !hook.active || now - since < chrono_of(limit) {
            return Ok(());
        }
        let (id, org_id, url) = (hook.id, hook.org_id, hook.url.clone());
        let mut h = hook.into_active_model();
        h.active = Set(false);
        h.disabled_at = Set(Some(now));
        h.updated_at = Set(now);
        h.update(db).await?;
        self.audit(
            db,
            AuditRecord::by(org_id, "webhook.disabled", Actor::system())
                .target(Target::Webhook(id))
                .data(serde_json::json!({
                    "url": url,
                    "failing_since": time::format(&since),
                    "reason": "deliveries kept failing",
                })),
        )
        .await?;
        if let Some(m) = self.outbound.metrics.get() {
            m.disabled.inc();
        }
        tracing::warn!(
            webhook = id,
            "webhook disabled: its deliveries kept failing"
        );
        Ok(())
    }

    /// Sets the backlog gauges of `/metrics`: deliveries pending, how late
    /// the oldest due one is, and events not yet dispatched.
    pub async fn observe_webhooks(&self) -> Result<()> {
        let Some(m) = self.outbound.metrics.get() else {
            return Ok(());
        };
        let db = self.store.conn();
        let now = time::now();
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                self.store.backend(),
                "SELECT COUNT(*) AS pending, MIN(next_attempt_at) AS oldest \
                 FROM webhook_deliveries WHERE status = 'pending'",
                [],
            ))
            .await?;
        if let Some(row) = row {
            let pending: i64 = row.try_get("", "pending")?;
            m.pending.set(pending);
            let oldest: Option<DateTime<Utc>> = row.try_get("", "oldest").ok().flatten();
            let lag = oldest.map_or(0, |t| Ord::max((now - t).num_seconds(), 0));
            m.lag_seconds.set(lag);
        }
        let lag = match Self::dispatch_start(db).await?.from() {
            Some(from) => Ord::max(self.max_event_id().await? - from, 0),
            None => 0,
        };
        m.dispatch_lag_events.set(lag);
        Ok(())
    }
}

/// A transport error in a sentence (timeouts and refused connections named
/// as such), without the URL.
fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_redirect() {
        "redirects are not followed"
    } else {
        "request failed"
    };
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        causes.push(s.to_string());
        source = s.source();
    }
    if causes.is_empty() {
        what.to_owned()
    } else {
        format!("{what}: {}", causes.join(": "))
    }
}
