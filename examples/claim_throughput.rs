//! Benchmark: claim-next + complete throughput over HTTP for 1, 4 and 16
//! workers, on SQLite and (when `ATS_BENCH_PG_URL` names an admin database
//! URL) PostgreSQL. Prints tasks per second; asserts nothing.
//!
//! `cargo run --release --example claim_throughput [tasks]`

use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};

async fn start(url: String) -> (String, tokio::sync::oneshot::Sender<()>) {
    let mut config = ats::config::Config::for_database(url);
    config.auth = ats::auth::AuthMode::Open;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(ats::serve(listener, config, async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if http.get(format!("{base}/health")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (base, stop)
}

async fn run(base: &str, workers: usize, tasks: usize, channel: &str) -> f64 {
    let http = reqwest::Client::new();
    for chunk in (0..tasks).collect::<Vec<_>>().chunks(1000) {
        let items: Vec<Value> = chunk
            .iter()
            .map(|i| json!({ "title": format!("b{i}"), "channel": channel }))
            .collect();
        let r = http
            .post(format!("{base}/tasks/bulk"))
            .json(&json!({ "tasks": items }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let started = Instant::now();
    let mut handles = Vec::new();
    for w in 0..workers {
        let http = http.clone();
        let base = base.to_owned();
        let channel = channel.to_owned();
        handles.push(tokio::spawn(async move {
            let mut n = 0usize;
            loop {
                let r = http
                    .post(format!("{base}/tasks/claim-next"))
                    .header("X-Actor-Type", "agent")
                    .header("X-Actor-ID", format!("bench-{w}"))
                    .json(&json!({ "channel": channel }))
                    .send()
                    .await
                    .unwrap();
                if r.status() == 404 {
                    return n;
                }
                let body: Value = r.json().await.unwrap();
                let id = body["task"]["id"].as_i64().unwrap();
                let done = http
                    .post(format!("{base}/tasks/{id}/complete"))
                    .header("X-Actor-Type", "agent")
                    .header("X-Actor-ID", format!("bench-{w}"))
                    .json(&json!({}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(done.status(), 200);
                n += 1;
            }
        }));
    }
    let mut total = 0;
    for h in handles {
        total += h.await.unwrap();
    }
    assert_eq!(total, tasks);
    tasks as f64 / started.elapsed().as_secs_f64()
}

async fn bench(name: &str, url: String, tasks: usize) {
    let (base, stop) = start(url).await;
    for workers in [1, 4, 16] {
        let rate = run(&base, workers, tasks, &format!("bench-{workers}")).await;
        println!(
            "{name:<10} workers={workers:<3} tasks={tasks:<5} {rate:>8.0} tasks/s (claim-next + complete)"
        );
    }
    let _ = stop.send(());
}

#[tokio::main]
async fn main() {
    // reqwest is built without a default TLS provider (see Cargo.toml).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tasks: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let file = std::env::temp_dir().join(format!("ats_bench_{}.db", std::process::id()));
    bench("sqlite", format!("sqlite://{}", file.display()), tasks).await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
    match std::env::var("ATS_BENCH_PG_URL") {
        Ok(admin) => {
            let name = format!("ats_bench_{}", std::process::id());
            let conn = Database::connect(&admin).await.unwrap();
            conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap();
            let base = admin
                .rsplit_once('/')
                .map_or(admin.as_str(), |(b, _)| b)
                .to_owned();
            bench("postgres", format!("{base}/{name}"), tasks).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
            conn.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await
                .unwrap();
        }
        Err(_) => println!(
            "postgres   skipped: set ATS_BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/postgres"
        ),
    }
}
