//! The composition root: the one place that knows every adapter. It builds
//! the service, the GraphQL schema and the background workers, and mounts
//! REST, GraphQL, `/ws`, `/metrics` and the dashboard on one router. The
//! adapters know only [`AppState`] and the service layer.

mod client_ip;
mod extract;
mod middleware;
mod router;
pub mod sockets;
mod state;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

pub use client_ip::{ClientIp, client_of};
pub use extract::{ApiJson, ApiQuery, CurrentViewer, IDEMPOTENCY_KEY, KeyedJson, request_id};
pub use router::router;
pub use state::{AppParts, AppState};

use crate::auth::{self, AuthMode, AuthSettings};
use crate::config::Config;
use crate::db::Store;
use crate::error::{Error, Result};
use crate::events::EventBus;
use crate::metrics::Metrics;
use crate::service::{
    Ats, CountFolder, LeaseReaper, Pruner, RetentionPolicy, TimerWorker, WebhookSettings,
    WebhookWorker,
};

/// How often subscribers' fanout re-reads the event table without being woken
/// (the safety net under in-process wakes and PostgreSQL `NOTIFY`).
const FANOUT_POLL: Duration = Duration::from_millis(500);
/// How often a replica folds task-count deltas (PostgreSQL): counts are
/// exact either way; folding keeps the unfolded deltas a count reads few.
const COUNT_FOLD: Duration = Duration::from_millis(250);

/// Connects to the configured store and applies migrations.
pub async fn open_store(config: &Config) -> Result<Store> {
    let store = Store::connect(&config.database_url).await?;
    store.migrate().await?;
    Ok(store)
}

async fn open_counted_store(config: &Config, metrics: &Metrics) -> Result<Store> {
    let store =
        Store::connect_counted(&config.database_url, Some(metrics.db_query_counter())).await?;
    store.migrate().await?;
    Ok(store)
}

/// The auth mode in force and the JWT keys, from configuration.
pub fn auth_settings(config: &Config, addr: std::net::SocketAddr) -> Result<AuthSettings> {
    let mode = config.auth.resolve(addr);
    let throwaway = config.is_test_env() || config.database_url.contains(":memory:");
    let secret = match config.jwt_secret.as_deref().filter(|s| !s.is_empty()) {
        Some(s) if s.len() < 32 => {
            return Err(Error::Internal(
                "ATS_JWT_SECRET must be at least 32 characters".to_owned(),
            ));
        }
        Some(s) => s.as_bytes().to_vec(),
        None if mode == AuthMode::Required && !throwaway => {
            return Err(Error::Internal(
                "ATS_JWT_SECRET is required when authentication is required (set it, or ATS_AUTH=open on loopback)".to_owned(),
            ));
        }
        None => {
            tracing::warn!(
                "ATS_JWT_SECRET is not set: using a random secret; tokens will not survive a restart"
            );
            auth::token::generate("").into_bytes()
        }
    };
    Ok(AuthSettings {
        mode,
        jwt: auth::jwt::JwtKeys::new(&secret),
        metrics_token: config.metrics_token.clone().filter(|t| !t.is_empty()),
        registration: config.registration,
        sign_in: auth::limits::SignInRates {
            per_ip: config.sign_in_rate_per_ip.clone(),
            per_account: config.sign_in_rate_per_account.clone(),
        },
    })
}

/// Issues a one-time password-reset token for the identity `who` (an email
/// or an actor id): the operator's way to let a user back in, since the
/// service sends no email.
pub async fn issue_password_reset(
    config: &Config,
    who: &str,
) -> Result<crate::service::ResetIssued> {
    let store = open_store(config).await?;
    let auth = AuthSettings {
        mode: AuthMode::Required,
        jwt: auth::jwt::JwtKeys::new(auth::token::generate("").as_bytes()),
        metrics_token: None,
        registration: config.registration,
        sign_in: auth::limits::SignInRates {
            per_ip: config.sign_in_rate_per_ip.clone(),
            per_account: config.sign_in_rate_per_account.clone(),
        },
    };
    Ats::new(store, EventBus::new(), auth)
        .issue_password_reset(who)
        .await
}

/// How often the sign-in limiters forget clients whose limits have fully
/// replenished, so that they hold only recent ones.
const LIMIT_SWEEP: Duration = Duration::from_secs(60);

fn spawn_limit_sweeper(ats: Ats, mut stop: watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(LIMIT_SWEEP);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let kept = ats.sweep_sign_in_limits();
                    tracing::debug!(kept, "sign-in limiters swept");
                }
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
        }
    });
}

/// Serves the API on `listener` until `shutdown` resolves, then shuts down
/// gracefully, within `ATS_SHUTDOWN_GRACE_MS`:
///
/// 1. the listener closes, so new connections are refused (a load balancer
///    moves on to another replica), and idle keep-alive connections close;
/// 2. every WebSocket (`/ws`, `/graphql/ws`) is sent a close frame with 1001
///    (going away) and the reason `server shutting down`; claims waiting for
///    work (`wait_ms`) answer at once with what they have;
/// 3. requests in flight run to their answer, and the sockets finish
///    sending their close frames;
/// 4. the background workers (event fanout, lease reaper, count folder)
///    stop, and `serve` returns.
///
/// The fanout keeps running until step 4, so a write finishing in step 3
/// is answered as usual. If steps 1–3 take longer than the grace period,
/// `serve` logs what was still open and returns anyway.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let metrics = Arc::new(Metrics::new(config.metrics_max_series));
    let store = open_counted_store(&config, &metrics).await?;
    // `draining`: the server is shutting down (sockets close, waits end);
    // `stop`: the background workers end, once the draining is over.
    let (draining_tx, draining) = watch::channel(false);
    let (stop_tx, stop_rx) = watch::channel(false);
    let bus = EventBus::new();
    bus.count_with(metrics.queue.clone());
    bus.spawn_fanout(store.clone(), FANOUT_POLL, stop_rx.clone())
        .await;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Internal(format!("listener has no address: {e}")))?;
    let auth = auth_settings(&config, addr)?;
    tracing::info!(auth = auth.mode.as_str(), "authentication mode");
    let ats = Ats::counting_sign_ins(store, bus, auth, metrics.sign_in_refusals())
        .with_webhook_settings(WebhookSettings::from_config(&config));
    LeaseReaper::spawn(
        ats.clone(),
        Duration::from_millis(config.reaper_interval_ms.max(10)),
        stop_rx.clone(),
        metrics.reaper_counters(),
    );
    TimerWorker::spawn(
        ats.clone(),
        Duration::from_millis(config.timer_interval_ms.max(10)),
        stop_rx.clone(),
    );
    CountFolder::spawn(ats.clone(), COUNT_FOLD, stop_rx.clone());
    Pruner::spawn(
        ats.clone(),
        RetentionPolicy::from_config(&config),
        Duration::from_millis(config.retention_interval_ms.max(10)),
        stop_rx.clone(),
        metrics.retention_counters(),
    );
    spawn_limit_sweeper(ats.clone(), stop_rx.clone());
    WebhookWorker::spawn(ats.clone(), stop_rx.clone(), metrics.webhooks.clone());
    let schema = crate::graphql::schema_with(
        ats.clone(),
        crate::graphql::CallerGate::new(config.graphql_concurrency_per_caller),
    );
    let (open_sockets, refused_sockets) = metrics.socket_metrics();
    let sockets = sockets::SocketSlots::new(
        config.ws_max_per_ip,
        config.ws_max_total,
        open_sockets,
        refused_sockets,
    );
    let grace = Duration::from_millis(config.shutdown_grace_ms);
    let app = router(AppState::new(AppParts {
        schema,
        metrics,
        ats: ats.clone(),
        config: Arc::new(config),
        shutdown: draining.clone(),
        sockets: sockets.clone(),
        shared_subscriptions: Default::default(),
    }));
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!(
            grace_ms = grace.as_millis() as u64,
            "shutting down: refusing new connections, closing WebSockets, finishing requests in flight"
        );
        let _ = draining_tx.send(true);
        ats.begin_shutdown();
    });
    // Every connection answered and every socket closed...
    let drained = async {
        server
            .await
            .map_err(|e| Error::Internal(format!("server error: {e}")))?;
        sockets.all_closed().await;
        tracing::info!("shut down: every request answered and every WebSocket closed");
        Ok(())
    };
    // ...or the grace period, counted from the signal, is over.
    let mut signalled = draining.clone();
    let grace_over = async move {
        let _ = signalled.wait_for(|draining| *draining).await;
        tokio::time::sleep(grace).await;
    };
    let outcome = tokio::select! {
        done = drained => done,
        () = grace_over => {
            tracing::warn!(
                grace_ms = grace.as_millis() as u64,
                open_websockets = sockets.open(None).0,
                "shutdown grace period over: exiting with connections still open"
            );
            Ok(())
        }
    };
    let _ = stop_tx.send(true);
    outcome
}
