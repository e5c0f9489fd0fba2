//! `ats watch -f json` across two restarts of the server on the same port
//! and database: events written while it was down and right after it came
//! back are each printed once, in order.

use std::time::Duration;

use tokio::sync::oneshot;

use crate::common::cli::{Cli, TempDir};
use crate::common::watcher::{Watcher, stored_events, stored_summary, summary, wait_subscribed};
use crate::common::{Backend, TestDb};

crate::on_both_backends!(start = super::restartable; watch_survives_server_restarts);

/// An in-process server that can be stopped and started again on the same
/// port and database.
struct Restartable {
    db: TestDb,
    port: u16,
    running: Option<(
        oneshot::Sender<()>,
        tokio::task::JoinHandle<ats::error::Result<()>>,
    )>,
}

impl Restartable {
    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn start_on(
        db_url: &str,
        port: u16,
    ) -> (
        oneshot::Sender<()>,
        tokio::task::JoinHandle<ats::error::Result<()>>,
    ) {
        let mut config = ats::config::Config::for_database(db_url.to_owned());
        config.listen = format!("127.0.0.1:{port}").parse().unwrap();
        let mut listener = None;
        for _ in 0..100 {
            match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
                Ok(l) => {
                    listener = Some(l);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let listener = listener.expect("the port is free again");
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(ats::serve(listener, config, async {
            let _ = stopped.await;
        }));
        let http = reqwest::Client::new();
        for _ in 0..300 {
            if http
                .get(format!("http://127.0.0.1:{port}/health"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                return (stop, handle);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the server did not start");
    }

    async fn start(&mut self) {
        self.running = Some(Self::start_on(&self.db.url, self.port).await);
    }

    async fn stop(&mut self) {
        if let Some((stop, handle)) = self.running.take() {
            let _ = stop.send(());
            let _ = tokio::time::timeout(Duration::from_secs(10), handle).await;
        }
    }
}

impl Drop for Restartable {
    fn drop(&mut self) {
        if let Some((stop, handle)) = self.running.take() {
            let _ = stop.send(());
            handle.abort();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn restartable(backend: Backend) -> Option<Restartable> {
    let db = TestDb::create(backend).await?;
    let mut server = Restartable {
        db,
        port: free_port(),
        running: None,
    };
    server.start().await;
    Some(server)
}

/// Writes through a second server on the same database, while the watched one is down.
async fn write_elsewhere(db_url: &str, script: impl AsyncFnOnce(String) -> Vec<i64>) -> Vec<i64> {
    let port = free_port();
    let (stop, handle) = Restartable::start_on(db_url, port).await;
    let ids = script(format!("http://127.0.0.1:{port}")).await;
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), handle).await;
    ids
}

async fn create(base: &str, title: &str) -> i64 {
    let cli = Cli::new(base).env("ATS_ACTOR_ID", "restarter");
    cli.run(&["create", title, "-f", "json"]).await.ok().json()["id"]
        .as_i64()
        .unwrap()
}

/// `ats watch -f json` keeps going across two restarts of the server on the
/// same port and database, with events written while it was down and right
/// after it came back: every event is printed once, in order.
async fn watch_survives_server_restarts(mut server: Restartable) {
    let dir = TempDir::new("restart");
    let base = server.base();
    let cli = Cli::new(&base);
    let watcher = Watcher::start(&cli, &dir, "restart", &["-f", "json"]);
    wait_subscribed(&base, 1).await;
    let mut tasks = Vec::new();

    // 1. Down before the watcher saw any event: it resumes from the cursor
    //    the server named when it subscribed.
    server.stop().await;
    tasks.extend(
        write_elsewhere(&server.db.url, async |b: String| {
            vec![
                create(&b, "while down 1").await,
                create(&b, "while down 2").await,
            ]
        })
        .await,
    );
    server.start().await;
    watcher.wait_lines(2, Duration::from_secs(30)).await;

    // 2. Live events, then down again with more writes, and writes right after.
    tasks.push(create(&base, "live").await);
    let cli2 = Cli::new(&base).env("ATS_ACTOR_ID", "w");
    cli2.run(&["claim", &tasks[0].to_string()]).await.ok();
    watcher.wait_lines(4, Duration::from_secs(30)).await;
    server.stop().await;
    let first = tasks[0];
    tasks.extend(
        write_elsewhere(&server.db.url, async move |b: String| {
            let w = Cli::new(&b).env("ATS_ACTOR_ID", "w");
            w.run(&["complete", &first.to_string()]).await.ok();
            vec![create(&b, "while down 3").await]
        })
        .await,
    );
    server.start().await;
    tasks.push(create(&base, "right after").await);
    Cli::new(&base)
        .run(&["message", "add", &tasks[1].to_string(), "hello again"])
        .await
        .ok();

    tasks.sort_unstable();
    tasks.dedup();
    let stored = stored_events(&base, &tasks).await;
    assert_eq!(stored.len(), 8, "{stored:#?}");
    let lines = watcher
        .wait_lines(stored.len(), Duration::from_secs(30))
        .await;
    // Nothing more arrives: no duplicates trail behind.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let lines_after = watcher.lines();
    assert_eq!(
        lines_after.len(),
        lines.len(),
        "extra lines:\n{}",
        watcher.text()
    );
    assert_eq!(summary(&lines_after), stored_summary(&stored));
    let stderr = std::fs::read_to_string(&watcher.stderr).unwrap_or_default();
    assert!(stderr.contains("reconnecting"), "{stderr}");
}
