//! Server configuration from flags and environment variables.

use std::fmt;
use std::net::SocketAddr;

use clap::{Parser, Subcommand};
use ipnet::IpNet;

use crate::auth::limits::Rate;

/// `ats-server`: the Agent Task Service.
#[derive(Clone, Parser)]
#[command(name = "ats-server", version, about = "Agent Task Service server")]
pub struct Config {
    /// Database URL: `sqlite://ats.db` (default, created on first start) or `postgres://…`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://ats.db",
        global = true
    )]
    pub database_url: String,

    /// Address to listen on.
    #[arg(
        long,
        env = "ATS_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub listen: SocketAddr,

    /// `open` (actor headers accepted without credentials), `required`, or
    /// `auto` (open on loopback, required otherwise).
    #[arg(
        long,
        env = "ATS_AUTH",
        value_enum,
        default_value = "auto",
        global = true
    )]
    pub auth: crate::auth::AuthMode,

    /// Secret for signing JWTs (HS256). Required when auth is required and the
    /// store is not a throwaway; otherwise a random one is generated.
    #[arg(long, env = "ATS_JWT_SECRET", hide_env_values = true, global = true)]
    pub jwt_secret: Option<String>,

    /// Deployment environment; `test` enables `POST /_test/reset`.
    #[arg(
        long = "env",
        env = "ATS_ENV",
        default_value = "production",
        global = true
    )]
    pub environment: String,

    /// How often the lease reaper runs, in milliseconds.
    #[arg(
        long,
        env = "ATS_REAPER_INTERVAL_MS",
        default_value_t = 1000,
        global = true
    )]
    pub reaper_interval_ms: u64,

    /// How often the timer worker looks for tasks whose time came
    /// (`run_at`), in milliseconds.
    #[arg(
        long,
        env = "ATS_TIMER_INTERVAL_MS",
        default_value_t = 1000,
        global = true
    )]
    pub timer_interval_ms: u64,

    /// How long events are kept: a duration such as `30d`, `12h` or `90days`,
    /// or `forever` (or `0`) to keep every event. Older events are pruned
    /// from the front of the log; a cursor before what is kept answers
    /// `CURSOR_EXPIRED`. Tasks themselves are not affected.
    #[arg(
        long,
        env = "ATS_RETAIN_EVENTS",
        default_value = "30d",
        value_parser = Retention::parse,
        global = true
    )]
    pub retain_events: Retention,

    /// How long a finished task (completed, failed, rejected or cancelled)
    /// is kept after its last change: a duration such as `90d`, or `forever`
    /// (the default; `0` too) to keep every task.
    #[arg(
        long,
        env = "ATS_RETAIN_FINISHED_TASKS",
        default_value = "forever",
        value_parser = Retention::parse,
        global = true
    )]
    pub retain_finished_tasks: Retention,

    /// How often the retention job prunes, in milliseconds.
    #[arg(
        long,
        env = "ATS_RETENTION_INTERVAL_MS",
        default_value_t = 60_000,
        value_parser = clap::value_parser!(u64).range(10..),
        global = true
    )]
    pub retention_interval_ms: u64,

    /// Most rows the retention job deletes in one statement (each batch is
    /// its own short transaction).
    #[arg(
        long,
        env = "ATS_RETENTION_BATCH",
        default_value_t = 1_000,
        value_parser = clap::value_parser!(u64).range(1..=100_000),
        global = true
    )]
    pub retention_batch: u64,

    /// Bearer token that `GET /metrics` requires when authentication is
    /// required (it shows counts across every tenant, so an ordinary
    /// account's credential is not enough). Unset in required mode:
    /// `/metrics` answers 404. In open mode `/metrics` is open.
    #[arg(long, env = "ATS_METRICS_TOKEN", hide_env_values = true, global = true)]
    pub metrics_token: Option<String>,

    /// Most (org, project, channel) series the queue metrics of `/metrics`
    /// report; the rest are summed under `_other`, so label sets stay bounded.
    #[arg(
        long,
        env = "ATS_METRICS_MAX_SERIES",
        default_value_t = 500,
        global = true
    )]
    pub metrics_max_series: usize,

    /// How long a `/graphql/ws` socket may stay open without a successful
    /// `connection_init`, in milliseconds (then it is closed with 4408).
    #[arg(
        long,
        env = "ATS_WS_INIT_TIMEOUT_MS",
        default_value_t = 10_000,
        global = true
    )]
    pub ws_init_timeout_ms: u64,

    /// Most WebSockets (`/ws` and `/graphql/ws` together) open at once from
    /// one client address (IPv6: one /64); 0 for no limit. Past it a new
    /// socket is accepted and closed at once with 1013 and a reason.
    #[arg(long, env = "ATS_WS_MAX_PER_IP", default_value_t = 256, global = true)]
    pub ws_max_per_ip: usize,

    /// Most WebSockets (`/ws` and `/graphql/ws` together) open at once in
    /// this process; 0 for no limit. Past it a new socket is accepted and
    /// closed at once with 1013 and a reason.
    #[arg(
        long,
        env = "ATS_WS_MAX_TOTAL",
        default_value_t = 10_000,
        global = true
    )]
    pub ws_max_total: usize,

    /// Largest WebSocket message (and frame) a client may send on `/ws` and,
    /// once initialised, on `/graphql/ws`, in bytes; larger ones close the
    /// socket with 1009. Before `connection_init` succeeds `/graphql/ws`
    /// takes at most 16 KiB (or this, if smaller).
    #[arg(
        long,
        env = "ATS_WS_MAX_MESSAGE_BYTES",
        default_value_t = 64 * 1024,
        global = true
    )]
    pub ws_max_message_bytes: usize,

    /// Longest a GraphQL request may run, in milliseconds: past it the
    /// request stops (its statements with it) and answers `TIMEOUT`.
    #[arg(
        long,
        env = "ATS_GRAPHQL_TIMEOUT_MS",
        default_value_t = 30_000,
        global = true
    )]
    pub graphql_timeout_ms: u64,

    /// Who may register: `open` (anyone), `invite` (only with an
    /// invitation's token, accepted as the identity is made) or `closed`.
    #[arg(
        long,
        env = "ATS_REGISTRATION",
        value_enum,
        default_value = "open",
        global = true
    )]
    pub registration: crate::auth::RegistrationMode,
    /// Sign-in attempts (`login` and `register`, REST and GraphQL) one
    /// client address may make: comma-separated rates `N/WINDOW`, all
    /// applied (a burst of N, then one every WINDOW/N). IPv6 addresses
    /// count by their /64.
    #[arg(
        long,
        env = "ATS_SIGN_IN_RATE_PER_IP",
        value_delimiter = ',',
        default_value = "30/1m,300/1h",
        global = true
    )]
    pub sign_in_rate_per_ip: Vec<Rate>,

    /// Login attempts one account may receive, from any address: rates as
    /// for the per-address limit. Several rates make a growing delay (the
    /// default: five at once, then one every 12 s, and past twenty in an
    /// hour one every 3 minutes); the account is never locked.
    #[arg(
        long,
        env = "ATS_SIGN_IN_RATE_PER_ACCOUNT",
        value_delimiter = ',',
        default_value = "5/1m,20/1h",
        global = true
    )]
    pub sign_in_rate_per_account: Vec<Rate>,

    /// Reverse proxies whose `X-Forwarded-For` is believed: comma-separated
    /// CIDRs or addresses. When a request comes from one of them, its client
    /// is the right-most address of `X-Forwarded-For` that is not itself a
    /// trusted proxy; otherwise the header is ignored.
    #[arg(
        long,
        env = "ATS_TRUSTED_PROXIES",
        default_value = "",
        hide_default_value = true,
        value_parser = parse_proxies,
        global = true
    )]
    pub trusted_proxies: TrustedProxies,

    /// Expensive GraphQL requests (costing at least a fifth of the limit)
    /// one caller (an identity, or an address without credentials) may have
    /// running at once; more answer `RATE_LIMITED` (0: no limit).
    #[arg(
        long,
        env = "ATS_GRAPHQL_CONCURRENCY_PER_CALLER",
        default_value_t = 8,
        global = true
    )]
    pub graphql_concurrency_per_caller: usize,

    /// How long a graceful shutdown (SIGTERM or Ctrl-C) may take, in
    /// milliseconds: new connections are refused at once, WebSockets are
    /// closed with 1001, waiting claims end, and requests in flight are
    /// given this long to finish; then the process exits anyway.
    #[arg(
        long,
        env = "ATS_SHUTDOWN_GRACE_MS",
        default_value_t = 10_000,
        global = true
    )]
    pub shutdown_grace_ms: u64,

    /// Largest request body accepted, in bytes (larger ones get 413).
    #[arg(long, env = "ATS_MAX_BODY_BYTES", default_value_t = 4 * 1024 * 1024, global = true)]
    pub max_body_bytes: usize,

    /// Allow `http://` webhook URLs (`1`/`true`); by default only `https://`.
    #[arg(
        long,
        env = "ATS_WEBHOOK_ALLOW_HTTP",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new(),
        global = true
    )]
    pub webhook_allow_http: bool,

    /// Allow webhook URLs that resolve to loopback, private or link-local
    /// addresses (`1`/`true`); by default a webhook is no way into the
    /// server's network. Checked when a webhook is saved and again at each
    /// delivery, on the address actually connected to.
    #[arg(
        long,
        env = "ATS_WEBHOOK_ALLOW_PRIVATE",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new(),
        global = true
    )]
    pub webhook_allow_private: bool,

    /// Delays between a webhook delivery's attempts, comma-separated
    /// (`1s,2s,2s`): the first attempt is at once, the next after the
    /// first delay (with up to 10 % jitter), and so on; after the last, the
    /// delivery is marked failed.
    #[arg(
        long,
        env = "ATS_WEBHOOK_RETRY_SCHEDULE",
        default_value = DEFAULT_RETRY_SCHEDULE,
        value_parser = RetrySchedule::parse,
        global = true
    )]
    pub webhook_retry_schedule: RetrySchedule,

    /// How long a webhook's deliveries may keep failing (with no success in
    /// between) before it is disabled, with a `webhook.disabled` notice in
    /// the org's audit log.
    #[arg(
        long,
        env = "ATS_WEBHOOK_DISABLE_AFTER",
        default_value = "3d",
        value_parser = Retention::parse,
        global = true
    )]
    pub webhook_disable_after: Retention,

    /// How long webhook deliveries (with their attempts) are kept: a
    /// duration such as `30d`, or `forever`.
    #[arg(
        long,
        env = "ATS_RETAIN_WEBHOOK_DELIVERIES",
        default_value = "30d",
        value_parser = Retention::parse,
        global = true
    )]
    pub retain_webhook_deliveries: Retention,

    /// How long audit log records are kept: a duration such as `365d`, or
    /// `forever`.
    #[arg(
        long,
        env = "ATS_RETAIN_AUDIT",
        default_value = "365d",
        value_parser = Retention::parse,
        global = true
    )]
    pub retain_audit: Retention,

    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands of `ats-server`.
#[derive(Clone, Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the GraphQL schema (SDL) and exit; `schema.graphql` is its output.
    Schema,
    /// Print the REST API's OpenAPI document (JSON) and exit; `openapi.json` is its output.
    Openapi,
    /// Issue a one-time password-reset token (valid one hour) for the
    /// identity with this email or actor id, and print it; its owner sets a
    /// new password with `POST /auth/password/reset`.
    PasswordReset {
        /// Email or actor id of the identity.
        who: String,
    },
}

impl Config {
    /// Defaults for an embedded server on `database_url` (used by tests and tools).
    pub fn for_database(database_url: impl Into<String>) -> Self {
        let mut config = Self::parse_from(["ats-server"]);
        config.database_url = database_url.into();
        config
    }

    /// True under `ATS_ENV=test`.
    pub fn is_test_env(&self) -> bool {
        self.environment == "test"
    }
}

/// How long something is kept (`ATS_RETAIN_EVENTS`,
/// `ATS_RETAIN_FINISHED_TASKS`): `None` keeps it forever.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retention(pub Option<std::time::Duration>);

impl Retention {
    /// Keeps everything.
    pub const FOREVER: Self = Self(None);

    /// A duration in humantime's syntax (`30d`, `12h`, `90days`, `1w 2d`),
    /// or `forever` / `never` / `0` to keep forever.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if ["forever", "never", "0", ""].contains(&s.to_ascii_lowercase().as_str()) {
            return Ok(Self::FOREVER);
        }
        let d = humantime::parse_duration(s).map_err(|e| {
            format!("'{s}' is not a duration such as 30d, 12h or 90days, nor 'forever' ({e})")
        })?;
        if d.is_zero() {
            return Ok(Self::FOREVER);
        }
        if chrono::Duration::from_std(d).is_err() {
            return Err(format!(
                "'{s}' is longer than any date this server can store"
            ));
        }
        Ok(Self(Some(d)))
    }
}

impl fmt::Display for Retention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("forever"),
            Some(d) => write!(f, "{}", humantime::format_duration(d)),
        }
    }
}

/// The default of `ATS_WEBHOOK_RETRY_SCHEDULE`: 5 s, 30 s, 2 min, 10 min,
/// 1 h, then every 6 h, about 3 days in all.
pub const DEFAULT_RETRY_SCHEDULE: &str = "5s,30s,2m,10m,1h,6h,6h,6h,6h,6h,6h,6h,6h,6h,6h,6h";

/// The delays between a webhook delivery's attempts (`ATS_WEBHOOK_RETRY_SCHEDULE`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetrySchedule(pub Vec<std::time::Duration>);

impl RetrySchedule {
    /// Comma-separated durations in humantime's syntax (`1s,2s,30m`); at
    /// most 100, each at most 7 days.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut delays = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let d = humantime::parse_duration(part)
                .map_err(|e| format!("'{part}' is not a duration such as 5s or 10m ({e})"))?;
            if d > std::time::Duration::from_secs(7 * 24 * 3600) {
                return Err(format!("'{part}' is longer than 7 days"));
            }
            delays.push(d);
        }
        if delays.len() > 100 {
            return Err("at most 100 retry delays".to_owned());
        }
        Ok(Self(delays))
    }
}

impl fmt::Display for RetrySchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|d| humantime::format_duration(*d).to_string())
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// The reverse proxies whose `X-Forwarded-For` is believed
/// (`ATS_TRUSTED_PROXIES`); empty by default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(pub Vec<IpNet>);

impl TrustedProxies {
    /// Whether `ip` is one of them.
    pub fn contains(&self, ip: &std::net::IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(ip))
    }
}

/// Comma-separated CIDRs (`10.0.0.0/8`, `fd00::/8`) or addresses; empty
/// (or only commas and spaces) means none.
fn parse_proxies(s: &str) -> Result<TrustedProxies, String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<IpNet>()
                .or_else(|_| p.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| format!("'{p}' is not a CIDR (such as 10.0.0.0/8) or an IP address"))
        })
        .collect::<Result<_, _>>()
        .map(TrustedProxies)
}

/// The URL with any password replaced, for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &creds[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &redact_url(&self.database_url))
            .field("listen", &self.listen)
            .field("environment", &self.environment)
            .field("auth", &self.auth)
            .field("registration", &self.registration)
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "***"))
            .field("reaper_interval_ms", &self.reaper_interval_ms)
            .field("timer_interval_ms", &self.timer_interval_ms)
            .field("metrics_max_series", &self.metrics_max_series)
            .field("retain_events", &self.retain_events)
            .field("retain_finished_tasks", &self.retain_finished_tasks)
            .field("retention_interval_ms", &self.retention_interval_ms)
            .field("retention_batch", &self.retention_batch)
            .field("ws_init_timeout_ms", &self.ws_init_timeout_ms)
            .field("ws_max_per_ip", &self.ws_max_per_ip)
            .field("ws_max_total", &self.ws_max_total)
            .field("ws_max_message_bytes", &self.ws_max_message_bytes)
            .field("graphql_timeout_ms", &self.graphql_timeout_ms)
            .field(
                "graphql_concurrency_per_caller",
                &self.graphql_concurrency_per_caller,
            )
            .field("max_body_bytes", &self.max_body_bytes)
            .field("shutdown_grace_ms", &self.shutdown_grace_ms)
            .field("sign_in_rate_per_ip", &self.sign_in_rate_per_ip)
            .field("sign_in_rate_per_account", &self.sign_in_rate_per_account)
            .field("trusted_proxies", &self.trusted_proxies)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Retention, parse_proxies, redact_url};

    #[test]
    fn retention_periods_parse() {
        let days = |n: u64| Retention(Some(Duration::from_secs(n * 86_400)));
        assert_eq!(Retention::parse("30d").unwrap(), days(30));
        assert_eq!(Retention::parse("90days").unwrap(), days(90));
        assert_eq!(
            Retention::parse("12h").unwrap(),
            Retention(Some(Duration::from_secs(12 * 3600)))
        );
        for forever in ["forever", "Forever", "never", "0", "0s"] {
            assert_eq!(
                Retention::parse(forever).unwrap(),
                Retention::FOREVER,
                "{forever}"
            );
        }
        for bad in ["thirty days", "30", "-1d", "1000000000000y"] {
            let err = Retention::parse(bad).unwrap_err();
            assert!(err.contains(bad), "{bad}: {err}");
        }
        assert_eq!(days(30).to_string(), "30days");
        assert_eq!(Retention::FOREVER.to_string(), "forever");
    }

    #[test]
    fn trusted_proxies_parse() {
        assert!(parse_proxies("").unwrap().0.is_empty());
        assert!(parse_proxies(" , ").unwrap().0.is_empty());
        let p = parse_proxies("10.0.0.0/8, 127.0.0.1,fd00::/8").unwrap();
        assert_eq!(p.0.len(), 3);
        assert!(p.contains(&"10.1.2.3".parse().unwrap()));
        assert!(p.contains(&"127.0.0.1".parse().unwrap()));
        assert!(!p.contains(&"127.0.0.2".parse().unwrap()));
        assert!(p.contains(&"fd00::1".parse().unwrap()));
        assert!(parse_proxies("10.0.0.0/8,nonsense").is_err());
        assert!(parse_proxies("10.0.0.0/33").is_err());
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite://ats.db"), "sqlite://ats.db");
    }
}
