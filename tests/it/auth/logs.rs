//! Secrets never reach the logs: the real binary runs with trace logging
//! while a password, API keys, a JWT and a `?token=` WebSocket are used; then
//! its whole output is searched for them.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::process::ServerProcess;
use crate::common::{Backend, TestDb};

/// The secrets a session used.
struct Secrets {
    password: &'static str,
    key: String,
    second: String,
    jwt: String,
    /// Tokens sent in URL paths (an invitation, a guardian link).
    in_paths: [&'static str; 2],
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
async fn use_every_secret(server: &ServerProcess) -> Secrets {
    let (base, http) = (server.base.clone(), reqwest::Client::new());
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
    let in_paths = [
        "invitation-token-0123456789abcdef",
        "guardian-link-token-0123456789abcdef",
    ];
    for path in [
        format!("/auth/invitations/{}/accept", in_paths[0]),
        format!("/auth/invitations/{}/decline", in_paths[0]),
        format!("/auth/guardian-confirm/{}", in_paths[1]),
    ] {
        let answer = http
            .post(format!("{base}{path}"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert!(
            answer.status().is_client_error(),
            "{path}: {}",
            answer.status()
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    Secrets {
        password,
        key,
        second,
        jwt,
        in_paths,
    }
}

async fn secrets_stay_out_of_logs(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else {
        eprintln!("SKIPPED (PostgreSQL): ATS_TEST_PG_URL is not set");
        return;
    };
    let env = [
        ("ATS_AUTH", "required"),
        ("ATS_JWT_SECRET", "log-test-secret-log-test-secret-!!"),
        ("RUST_LOG", "trace"),
    ];
    let server = ServerProcess::start(&db.url, "secrets", &env).await;
    let s = use_every_secret(&server).await;
    let logs = server.logs();
    assert!(logs.contains("/auth/me"), "the run was logged at all");
    assert!(
        logs.contains("/auth/invitations/***/accept"),
        "the invitation path is logged, redacted"
    );
    for (what, secret) in [
        ("password", s.password),
        ("api key", s.key.as_str()),
        ("second key", s.second.as_str()),
        ("jwt", s.jwt.as_str()),
        ("invitation token", s.in_paths[0]),
        ("guardian-link token", s.in_paths[1]),
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
