//! Secrets never reach the logs: the real binary runs with trace logging
//! while a password, API keys, a JWT and a `?token=` WebSocket are used; then
//! its whole output is searched for them.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Backend, TestDb};

/// `ats-server` in required auth mode, logging at trace level to a file;
/// killed when dropped.
struct LoggedServer {
    child: Child,
    port: u16,
    log_path: PathBuf,
}

impl LoggedServer {
    async fn start(db: &TestDb) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log_path =
            std::env::temp_dir().join(format!("ats_log_{}_{port}.log", std::process::id()));
        let log = std::fs::File::create(&log_path).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_ats-server"))
            .env("DATABASE_URL", &db.url)
            .env("ATS_LISTEN", format!("127.0.0.1:{port}"))
            .env("ATS_AUTH", "required")
            .env("ATS_JWT_SECRET", "log-test-secret-log-test-secret-!!")
            .env("RUST_LOG", "trace")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start ats-server");
        let server = Self {
            child,
            port,
            log_path,
        };
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if http
                .get(format!("{}/health", server.base()))
                .send()
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops the server and returns everything it logged.
    fn logs(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let logs = std::fs::read_to_string(&self.log_path).unwrap();
        let _ = std::fs::remove_file(&self.log_path);
        logs
    }
}

impl Drop for LoggedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The secrets a session used.
struct Secrets {
    password: &'static str,
    key: String,
    second: String,
    jwt: String,
}

async fn post(http: &reqwest::Client, url: String, token: Option<&str>, body: Value) -> Value {
    let mut req = http.post(url).json(&body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send().await.unwrap().json().await.unwrap()
}

/// Registers, logs in, makes a second key, reads `/auth/me` and the key list
/// with each credential (no answer after creation repeats a key), opens a
/// `?token=` WebSocket and sends a bad key.
async fn use_every_secret(server: &LoggedServer) -> Secrets {
    let (base, http) = (server.base(), reqwest::Client::new());
    let password = "correct-horse-battery-staple";
    let reg = post(&http, format!("{base}/auth/register"), None, json!({ "actor_type": "human", "actor_id": "logan", "email": "logan@example.com", "password": password })).await;
    let key = reg["api_key"].as_str().unwrap().to_owned();
    let login = post(
        &http,
        format!("{base}/auth/login"),
        None,
        json!({ "email": "logan@example.com", "password": password }),
    )
    .await;
    let jwt = login["token"].as_str().unwrap().to_owned();
    let created = post(
        &http,
        format!("{base}/auth/api-keys"),
        Some(&jwt),
        json!({ "name": "second" }),
    )
    .await;
    let second = created["api_key"]["key"].as_str().unwrap().to_owned();
    for token in [&key, &second, &jwt] {
        let me = http
            .get(format!("{base}/auth/me"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), 200);
        let listed = http
            .get(format!("{base}/auth/api-keys"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!listed.contains(&key) && !listed.contains(&second));
    }
    let ws_url = format!("ws://127.0.0.1:{}/ws?token={second}", server.port);
    let (ws, _) = tokio_tungstenite::connect_async(ws_url)
        .await
        .expect("ws with ?token=");
    drop(ws);
    let bad = http
        .get(format!("{base}/auth/me"))
        .bearer_auth(format!("{key}x"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    tokio::time::sleep(Duration::from_millis(300)).await;
    Secrets {
        password,
        key,
        second,
        jwt,
    }
}

async fn secrets_stay_out_of_logs(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else {
        eprintln!("SKIPPED (PostgreSQL): ATS_TEST_PG_URL is not set");
        return;
    };
    let server = LoggedServer::start(&db).await;
    let s = use_every_secret(&server).await;
    let logs = server.logs();
    assert!(logs.contains("/auth/me"), "the run was logged at all");
    for (what, secret) in [
        ("password", s.password),
        ("api key", s.key.as_str()),
        ("second key", s.second.as_str()),
        ("jwt", s.jwt.as_str()),
    ] {
        assert!(!logs.contains(secret), "the {what} appears in the logs");
    }
    assert!(
        !logs.contains(&s.key[4..20]),
        "part of an API key appears in the logs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_stay_out_of_logs_sqlite() {
    secrets_stay_out_of_logs(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_stay_out_of_logs_postgres() {
    secrets_stay_out_of_logs(Backend::Postgres).await;
}
