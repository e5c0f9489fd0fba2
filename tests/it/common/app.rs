//! A real server on a free port over a fresh database.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::oneshot;

use super::client::Client;
use super::db::{Backend, TestDb};
use super::users::Registry;

/// The JWT secret of [`TestApp::required_auth`] servers.
pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret!";
/// The `ATS_METRICS_TOKEN` of every test server.
pub const METRICS_TOKEN: &str = "test-metrics-token";

/// A sign-in rate no test reaches.
pub const UNLIMITED: &str = "1000000/1s";

/// A running server over its own database.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Which store it runs on.
    pub backend: Backend,
    http: reqwest::Client,
    /// Whether requests need credentials (`ATS_AUTH=required`).
    pub auth_required: bool,
    /// The users, orgs and projects the [`users`](super::users) builder made.
    pub(super) registry: Mutex<Registry>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<ats::error::Result<()>>>,
    /// The server's configuration, for replicas.
    config: ats::config::Config,
    /// Kept last so the database outlives the server.
    pub db: TestDb,
}

/// Another server over the same database and configuration: a replica.
/// Stops when dropped.
pub struct Replica {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl TestApp {
    /// Starts a server with default configuration; `None` when the backend is not available.
    pub async fn start(backend: Backend) -> Option<Self> {
        Self::start_with(backend, |_| {}).await
    }

    /// Starts a server that requires credentials (`ATS_AUTH=required`).
    pub async fn required_auth(backend: Backend) -> Option<Self> {
        Self::start_with(backend, |c| {
            c.auth = ats::auth::AuthMode::Required;
            c.jwt_secret = Some(JWT_SECRET.to_owned());
        })
        .await
    }

    /// Starts a server whose lease reaper waits an hour: no background
    /// statements, and expired leases stay unreaped.
    pub async fn quiet(backend: Backend) -> Option<Self> {
        Self::start_with(backend, |c| {
            c.reaper_interval_ms = 3_600_000;
            c.timer_interval_ms = 3_600_000;
        })
        .await
    }

    /// Starts a server whose reaper first runs after a minute, so a lease that
    /// ran out stays in place (and counts as `pending`) while the test looks.
    pub async fn long_reaper(backend: Backend) -> Option<Self> {
        Self::start_with(backend, |c| c.reaper_interval_ms = 60_000).await
    }

    /// Starts a server whose timer worker looks every 100 ms, so scheduled
    /// tasks become ready (and deadlines pass) within a fraction of a second.
    pub async fn fast_timers(backend: Backend) -> Option<Self> {
        Self::start_with(backend, |c| c.timer_interval_ms = 100).await
    }

    /// [`required_auth`](Self::required_auth) with the timer worker of
    /// [`fast_timers`](Self::fast_timers).
    pub async fn required_auth_fast_timers(backend: Backend) -> Option<Self> {
        Self::start_with(backend, |c| {
            c.auth = ats::auth::AuthMode::Required;
            c.jwt_secret = Some(JWT_SECRET.to_owned());
            c.timer_interval_ms = 100;
        })
        .await
    }

    /// Starts a server with `ATS_ENV=test` (which mounts `POST /_test/reset`).
    pub async fn test_env(backend: Backend) -> Option<Self> {
        Self::start_with(backend, |c| c.environment = "test".to_owned()).await
    }

    /// Starts a server after `tweak` adjusts its configuration.
    pub async fn start_with(
        backend: Backend,
        tweak: impl FnOnce(&mut ats::config::Config),
    ) -> Option<Self> {
        let db = TestDb::create(backend).await?;
        let mut config = ats::config::Config::for_database(db.url.clone());
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.metrics_token = Some(METRICS_TOKEN.to_owned());
        // Tests sign many users in from 127.0.0.1; the sign-in limits'
        // own tests set realistic ones in `tweak`.
        config.sign_in_rate_per_ip = vec![UNLIMITED.parse().unwrap()];
        config.sign_in_rate_per_account = vec![UNLIMITED.parse().unwrap()];
        tweak(&mut config);
        let auth_required = matches!(config.auth, ats::auth::AuthMode::Required);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(ats::serve(listener, config.clone(), async {
            let _ = stopped.await;
        }));
        let app = Self {
            config,
            base,
            backend,
            auth_required,
            registry: Mutex::new(Registry::default()),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            stop: Some(stop),
            server: Some(server),
            db,
        };
        app.wait_healthy().await;
        Some(app)
    }

    /// The server's configuration.
    pub fn config(&self) -> &ats::config::Config {
        &self.config
    }

    /// Starts a second server over this one's database, configured alike.
    pub async fn replica(&self) -> Replica {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(ats::serve(listener, self.config.clone(), async {
            let _ = stopped.await;
        }));
        for _ in 0..300 {
            let up = self.http.get(format!("{base}/health")).send().await;
            if up.is_ok_and(|r| r.status() == 200) {
                return Replica {
                    base,
                    stop: Some(stop),
                };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the replica did not become healthy in 30 s");
    }

    async fn wait_healthy(&self) {
        for _ in 0..300 {
            if let Some(server) = &self.server
                && server.is_finished()
            {
                panic!("the server stopped while starting");
            }
            if self.client().get("/health").await.status == 200 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the server did not become healthy in 30 s");
    }

    /// A client with no actor headers (`human:anonymous`).
    pub fn client(&self) -> Client {
        Client {
            http: self.http.clone(),
            base: self.base.clone(),
            actor: None,
            token: None,
        }
    }

    /// A client sending `Authorization: Bearer <token>` (an API key or a JWT).
    pub fn bearer(&self, token: &str) -> Client {
        Client {
            http: self.http.clone(),
            base: self.base.clone(),
            actor: None,
            token: Some(token.to_owned()),
        }
    }

    /// A client acting as `actor_type:actor_id` (open mode headers).
    pub fn actor(&self, actor_type: &str, actor_id: &str) -> Client {
        Client {
            http: self.http.clone(),
            base: self.base.clone(),
            actor: Some((actor_type.to_owned(), actor_id.to_owned())),
            token: None,
        }
    }

    /// `ws://127.0.0.1:<port>/ws` plus `query` (without the `?`).
    pub fn ws_url(&self, query: &str) -> String {
        let base = self.base.replacen("http://", "ws://", 1);
        if query.is_empty() {
            format!("{base}/ws")
        } else {
            format!("{base}/ws?{query}")
        }
    }

    /// The value of the Prometheus sample `name` (first line starting with it) on `/metrics`.
    pub async fn metric(&self, name: &str) -> i64 {
        let text = reqwest::Client::new()
            .get(format!("{}/metrics", self.base))
            .bearer_auth(METRICS_TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}
