//! Benchmark: `POST /auth/login` latency (argon2id with default parameters)
//! over HTTP on SQLite. Prints percentiles; asserts nothing.
//!
//! `cargo run --release --example login_latency [logins]`

use std::time::{Duration, Instant};

use serde_json::json;

#[tokio::main]
async fn main() {
    // reqwest is built without a default TLS provider (see Cargo.toml).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50);
    let file = std::env::temp_dir().join(format!("ats_login_{}.db", std::process::id()));
    let mut config = ats::config::Config::for_database(format!("sqlite://{}", file.display()));
    config.auth = ats::auth::AuthMode::Required;
    config.jwt_secret = Some("bench-secret-bench-secret-bench-secret".to_owned());
    // The benchmark logs in many times in a row from one address.
    config.sign_in_rate_per_ip = vec!["1000000/1s".parse().unwrap()];
    config.sign_in_rate_per_account = vec!["1000000/1s".parse().unwrap()];
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(ats::serve(listener, config, std::future::pending()));
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if http.get(format!("{base}/health")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let reg = http
        .post(format!("{base}/auth/register"))
        .json(&json!({ "actor_type": "human", "actor_id": "bench", "email": "bench@example.com", "password": "a long enough password" }))
        .send()
        .await
        .unwrap();
    assert_eq!(reg.status(), 201);
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let r = http
            .post(format!("{base}/auth/login"))
            .json(&json!({ "email": "bench@example.com", "password": "a long enough password" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        times.push(t.elapsed());
    }
    times.sort();
    let pct =
        |p: f64| times[((times.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1000.0;
    println!(
        "login over HTTP, {n} sequential logins: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        pct(0.5),
        pct(0.95),
        pct(1.0)
    );
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
}
