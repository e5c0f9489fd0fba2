//! `ats watch`: a scripted session printed in order (one JSON object a line,
//! or the table lines executors parse), the filters, and no event lost or
//! doubled across server restarts.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::common::cli::{Cli, TempDir};
use crate::common::watcher::{Watcher, stored_events, wait_subscribed};
use crate::common::{Backend, TestApp, TestDb};

crate::on_both_backends!(watch_prints_a_session_in_order, watch_filters);

crate::on_both_backends!(start = super::restartable; watch_survives_server_restarts);

fn summary(lines: &[Value]) -> Vec<(i64, String, i64)> {
    lines
        .iter()
        .map(|l| {
            (
                l["id"].as_i64().unwrap(),
                l["event"].as_str().unwrap().to_owned(),
                l["task_id"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn stored_summary(events: &[Value]) -> Vec<(i64, String, i64)> {
    events
        .iter()
        .map(|e| {
            (
                e["id"].as_i64().unwrap(),
                e["type"].as_str().unwrap().to_owned(),
                e["task_id"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// A session scripted with the CLI is printed by `ats watch -f json` in order,
/// and by `ats watch` in the documented table form.
async fn watch_prints_a_session_in_order(app: TestApp) {
    let dir = TempDir::new("watch");
    let cli = Cli::new(&app.base)
        .env("ATS_ACTOR_TYPE", "agent")
        .env("ATS_ACTOR_ID", "exec-1")
        .env("ATS_ACTOR_NAME", "Executor One");
    let json_watch = Watcher::start(&cli, &dir, "json", &["-f", "json"]);
    let table_watch = Watcher::start(&cli, &dir, "table", &[]);
    wait_subscribed(&app.base, 2).await;

    let session = cli
        .sh(r#"
ID=$(ats create "Deploy v2" --type deployment --channel ops -f json | jq -r .id)
ats claim $ID >/dev/null
ats message add $ID "starting" >/dev/null
ats update $ID --priority 9 >/dev/null
ats complete $ID --outputs '{"ok":true}' >/dev/null
ats reopen $ID --reason again >/dev/null
ats cancel $ID >/dev/null
OTHER=$(ats create "Second" -f json | jq -r .id)
ats delete $OTHER >/dev/null
echo $ID $OTHER
"#)
        .await
        .ok();
    let ids: Vec<i64> = session
        .stdout
        .split_whitespace()
        .map(|s| s.parse().unwrap())
        .collect();
    let (id, other) = (ids[0], ids[1]);
    let expected = [
        ("task.created", id),
        ("task.claimed", id),
        ("task.message", id),
        ("task.updated", id),
        ("task.completed", id),
        ("task.reopened", id),
        ("task.cancelled", id),
        ("task.created", other),
        ("task.deleted", other),
    ];
    let lines = json_watch
        .wait_lines(expected.len(), Duration::from_secs(20))
        .await;
    let got: Vec<(&str, i64)> = lines
        .iter()
        .map(|l| (l["event"].as_str().unwrap(), l["task_id"].as_i64().unwrap()))
        .collect();
    assert_eq!(got, expected);
    // Event ids strictly increase; each line carries the documented keys.
    let event_ids: Vec<i64> = lines.iter().map(|l| l["id"].as_i64().unwrap()).collect();
    assert!(event_ids.windows(2).all(|w| w[0] < w[1]), "{event_ids:?}");
    let first_line = json_watch.text().lines().next().unwrap().to_owned();
    assert!(
        first_line.starts_with(r#"{"event":"task.created","task_id":"#),
        "{first_line}"
    );
    let created = &lines[0];
    assert_eq!(created["title"], "Deploy v2");
    assert_eq!(created["status"], "pending");
    assert_eq!(created["channel"], "ops");
    assert_eq!(created["actor_name"], "Executor One");
    assert!(chrono::DateTime::parse_from_rfc3339(created["timestamp"].as_str().unwrap()).is_ok());
    assert_eq!(lines[4]["status"], "completed");
    assert_eq!(
        lines[2]["data"]["message"]["parts"][0]["content"],
        "starting"
    );
    // The same events, as stored.
    let stored = stored_events(&app.base, &[id]).await;
    assert_eq!(
        stored_summary(&stored),
        summary(&lines[..7]),
        "watch and /tasks/{id}/events disagree"
    );

    // Table form: four lines per event (By: is known here).
    let deadline = Instant::now() + Duration::from_secs(20);
    while table_watch.text().lines().count() < expected.len() * 4 {
        assert!(
            Instant::now() < deadline,
            "table watch:\n{}",
            table_watch.text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = table_watch.text();
    let table: Vec<&str> = text.lines().collect();
    assert!(
        table[0].starts_with('[') && table[0].ends_with("] task.created"),
        "{text}"
    );
    assert_eq!(table[1], format!("  Task #{id}: Deploy v2"));
    assert_eq!(table[2], "  Status: pending, Channel: ops");
    assert_eq!(table[3], "  By: Executor One");
    assert!(table[4].ends_with("] task.claimed"), "{text}");
    assert_eq!(table[6], "  Status: in_progress, Channel: ops");

    // --after replays stored events first; --task narrows to one task.
    let reader = Cli::new(&app.base);
    let replay = Watcher::start(
        &reader,
        &dir,
        "replay",
        &["-f", "json", "--after", &event_ids[6].to_string()],
    );
    let replayed = replay.wait_lines(2, Duration::from_secs(20)).await;
    assert_eq!(summary(&replayed), summary(&lines[7..]));
    let one = Watcher::start(
        &reader,
        &dir,
        "one",
        &["-f", "json", "--after", "0", "--task", &id.to_string()],
    );
    let only = one.wait_lines(7, Duration::from_secs(20)).await;
    assert_eq!(summary(&only), summary(&lines[..7]));
}

/// `--channel`, `--type`, `--events` and `ATS_CHANNEL` narrow what is printed.
async fn watch_filters(app: TestApp) {
    let dir = TempDir::new("watchf");
    let cli = Cli::new(&app.base);
    let by_channel = Watcher::start(
        &cli,
        &dir,
        "channel",
        &["-f", "json", "--channel", "support"],
    );
    let by_type = Watcher::start(&cli, &dir, "type", &["-f", "json", "--type", "approval"]);
    let by_event = Watcher::start(
        &cli,
        &dir,
        "events",
        &["-f", "json", "--events", "task.created,task.completed"],
    );
    let env_cli = Cli::new(&app.base).env("ATS_CHANNEL", "ops");
    let by_env = Watcher::start(&env_cli, &dir, "env", &["-f", "json"]);
    wait_subscribed(&app.base, 4).await;

    let c = app.actor("agent", "seeder");
    let a = c
        .create_task(json!({ "title": "a", "channel": "support", "type": "approval" }))
        .await["id"]
        .as_i64()
        .unwrap();
    let b = c
        .create_task(json!({ "title": "b", "channel": "ops", "type": "deploy" }))
        .await["id"]
        .as_i64()
        .unwrap();
    for id in [a, b] {
        c.post(&format!("/tasks/{id}/claim"), json!({}))
            .await
            .expect(200);
        c.post(&format!("/tasks/{id}/complete"), json!({}))
            .await
            .expect(200);
    }
    // A last event every watcher sees, to know the others arrived.
    let last = c
        .create_task(json!({ "title": "end", "channel": "support", "type": "approval" }))
        .await["id"]
        .as_i64()
        .unwrap();
    let pairs = |w: &Watcher| -> Vec<(String, i64)> {
        w.lines()
            .iter()
            .map(|l| {
                (
                    l["event"].as_str().unwrap().to_owned(),
                    l["task_id"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    by_channel.wait_lines(4, Duration::from_secs(20)).await;
    by_type.wait_lines(4, Duration::from_secs(20)).await;
    by_event.wait_lines(5, Duration::from_secs(20)).await;
    by_env.wait_lines(3, Duration::from_secs(20)).await;
    let s = |e: &str, id: i64| (e.to_owned(), id);
    assert_eq!(
        pairs(&by_channel),
        [
            s("task.created", a),
            s("task.claimed", a),
            s("task.completed", a),
            s("task.created", last)
        ]
    );
    assert_eq!(pairs(&by_type), pairs(&by_channel));
    assert_eq!(
        pairs(&by_event),
        [
            s("task.created", a),
            s("task.created", b),
            s("task.completed", a),
            s("task.completed", b),
            s("task.created", last)
        ]
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        pairs(&by_env),
        [
            s("task.created", b),
            s("task.claimed", b),
            s("task.completed", b)
        ]
    );
}

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
