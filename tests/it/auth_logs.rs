//! Secrets never reach the logs: the real binary runs with debug logging while
//! a password, API keys, a JWT and a `?token=` WebSocket are used; then its
//! whole output is searched for them.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::common::{Backend, TestDb};

async fn secrets_stay_out_of_logs(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else {
        eprintln!("SKIPPED (PostgreSQL): ATS_TEST_PG_URL is not set");
        return;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log_path = std::env::temp_dir().join(format!("ats_log_{}_{port}.log", std::process::id()));
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
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut guard = Kill(child);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if http.get(format!("{base}/health")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let password = "correct-horse-battery-staple";
    let reg: serde_json::Value = http
        .post(format!("{base}/auth/register"))
        .json(&json!({ "actor_type": "human", "actor_id": "logan", "email": "logan@example.com", "password": password }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = reg["api_key"].as_str().unwrap().to_owned();
    let login: serde_json::Value = http
        .post(format!("{base}/auth/login"))
        .json(&json!({ "email": "logan@example.com", "password": password }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwt = login["token"].as_str().unwrap().to_owned();
    let created: serde_json::Value = http
        .post(format!("{base}/auth/api-keys"))
        .bearer_auth(&jwt)
        .json(&json!({ "name": "second" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let second = created["api_key"]["key"].as_str().unwrap().to_owned();
    for token in [&key, &second, &jwt] {
        let me = http
            .get(format!("{base}/auth/me"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), 200);
        // No response after creation repeats a key.
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
    let ws_url = format!("ws://127.0.0.1:{port}/ws?token={second}");
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
    let _ = guard.0.kill();
    let _ = guard.0.wait();

    let logs = std::fs::read_to_string(&log_path).unwrap();
    let _ = std::fs::remove_file(&log_path);
    assert!(logs.contains("/auth/me"), "the run was logged at all");
    for (what, secret) in [
        ("password", password),
        ("api key", key.as_str()),
        ("second key", second.as_str()),
        ("jwt", jwt.as_str()),
    ] {
        assert!(!logs.contains(secret), "the {what} appears in the logs");
    }
    assert!(
        !logs.contains(&key[4..20]),
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
