#![allow(dead_code)]

//! The test harness: a real server on a free port over a fresh database,
//! on SQLite or PostgreSQL, and small JSON clients.
//!
//! PostgreSQL cases run when `ATS_TEST_PG_URL` names a server we may create
//! databases on (e.g. `postgres://postgres@127.0.0.1:5432/postgres`); each
//! test gets its own database, dropped afterwards. Without it they are skipped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::Method;
use sea_orm::{ConnectionTrait, Database};
use serde_json::Value;
use tokio::sync::oneshot;

/// Which store a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn(TestApp)` once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    (start = $start:path; $($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                let app = $start($crate::common::Backend::Sqlite)
                    .await
                    .expect("SQLite is always available");
                super::$name(app).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                match $start($crate::common::Backend::Postgres).await {
                    Some(app) => super::$name(app).await,
                    None => eprintln!("SKIPPED (PostgreSQL): ATS_TEST_PG_URL is not set"),
                }
            }
        }
    )*};
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                let app = $crate::common::TestApp::start($crate::common::Backend::Sqlite)
                    .await
                    .expect("SQLite is always available");
                super::$name(app).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                match $crate::common::TestApp::start($crate::common::Backend::Postgres).await {
                    Some(app) => super::$name(app).await,
                    None => eprintln!("SKIPPED (PostgreSQL): ATS_TEST_PG_URL is not set"),
                }
            }
        }
    )*};
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Installs rustls' ring provider for the process. reqwest is built with
/// `rustls-no-provider` (the `ats` CLI installs ring itself), so a
/// `reqwest::Client` panics unless a provider is installed first; every test
/// passes through [`TestDb::create`], which calls this.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A database made for one test and removed when the test ends.
pub struct TestDb {
    /// The URL the server uses.
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    SqliteFile(std::path::PathBuf),
    PgDatabase { admin_url: String, name: String },
}

impl TestDb {
    /// A new, empty database; `None` for PostgreSQL when it is not configured.
    pub async fn create(backend: Backend) -> Option<Self> {
        install_tls_provider();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{}_{}_{:x}", std::process::id(), n, rand::random::<u32>());
        match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("ats_test_{tag}.db"));
                Some(Self {
                    url: format!("sqlite://{}", path.display()),
                    cleanup: Cleanup::SqliteFile(path),
                })
            }
            Backend::Postgres => {
                let admin_url = std::env::var("ATS_TEST_PG_URL")
                    .ok()
                    .filter(|u| !u.is_empty())?;
                let name = format!("ats_test_{tag}");
                let admin = Database::connect(&admin_url)
                    .await
                    .expect("ATS_TEST_PG_URL is set but PostgreSQL cannot be reached");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                let base = admin_url
                    .rsplit_once('/')
                    .map_or(admin_url.as_str(), |(b, _)| b);
                Some(Self {
                    url: format!("{base}/{name}"),
                    cleanup: Cleanup::PgDatabase {
                        admin_url: admin_url.clone(),
                        name,
                    },
                })
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::SqliteFile(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Cleanup::PgDatabase { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime: do the async cleanup on a thread of its own.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .ok()?;
                    rt.block_on(async {
                        let admin = Database::connect(&admin_url).await.ok()?;
                        admin
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .await
                            .ok()?;
                        admin.close().await.ok()
                    })
                })
                .join();
            }
        }
    }
}

/// A running server over its own database.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Which store it runs on.
    pub backend: Backend,
    http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<ats::error::Result<()>>>,
    /// Kept last so the database outlives the server.
    pub db: TestDb,
}

impl TestApp {
    /// Starts a server with default configuration; `None` when the backend is not available.
    pub async fn start(backend: Backend) -> Option<Self> {
        Self::start_with(backend, |_| {}).await
    }

    /// Starts a server after `tweak` adjusts its configuration.
    pub async fn start_with(
        backend: Backend,
        tweak: impl FnOnce(&mut ats::config::Config),
    ) -> Option<Self> {
        let db = TestDb::create(backend).await?;
        let mut config = ats::config::Config::for_database(db.url.clone());
        config.listen = "127.0.0.1:0".parse().unwrap();
        tweak(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(ats::serve(listener, config, async {
            let _ = stopped.await;
        }));
        let app = Self {
            base,
            backend,
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
        let text = reqwest::get(format!("{}/metrics", self.base))
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

/// A response: status and JSON body (`Value::Null` when the body is not JSON).
#[derive(Debug, Clone)]
pub struct Res {
    pub status: u16,
    pub body: Value,
}

impl Res {
    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        self.body
    }

    /// Asserts an error response: this status, a sentence and a code.
    #[track_caller]
    pub fn expect_error(self, status: u16) -> Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        assert!(
            self.body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "no error sentence: {}",
            self.body
        );
        assert!(
            self.body["code"].as_str().is_some_and(|c| !c.is_empty()),
            "no error code: {}",
            self.body
        );
        self.body
    }
}

/// A JSON HTTP client for one actor.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    actor: Option<(String, String)>,
    token: Option<String>,
}

impl Client {
    /// Sends a request with an optional JSON body.
    pub async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Res {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some((t, id)) = &self.actor {
            req = req.header("X-Actor-Type", t).header("X-Actor-ID", id);
        }
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.expect("request failed");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        Res {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    /// Sends raw bytes as the body.
    pub async fn send_raw(&self, method: Method, path: &str, body: Vec<u8>) -> Res {
        let mut req = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .header("content-type", "application/json")
            .body(body);
        if let Some((t, id)) = &self.actor {
            req = req.header("X-Actor-Type", t).header("X-Actor-ID", id);
        }
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.expect("request failed");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        Res {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    pub async fn get(&self, path: &str) -> Res {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Res {
        self.send(Method::POST, path, Some(&body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Res {
        self.send(Method::PATCH, path, Some(&body)).await
    }

    pub async fn delete(&self, path: &str) -> Res {
        self.send(Method::DELETE, path, None).await
    }

    /// Creates a task in `default/main` and returns it.
    pub async fn create_task(&self, body: Value) -> Value {
        self.post("/tasks", body).await.expect(201)["task"].clone()
    }
}
