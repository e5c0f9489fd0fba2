//! Durability: the real `ats-server` binary is SIGKILLed while several clients
//! write, then restarted on the same database. Every acknowledged write must
//! still be there, in the acknowledged state, with its events.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{Backend, TestDb};

const CLIENTS: usize = 8;
/// Acknowledged writes to see before the kill.
const ACKS_BEFORE_KILL: usize = 240;
/// Long enough that no lease expires while the test runs.
const LEASE_MS: u64 = 3_600_000;

/// A running `ats-server`; killed (and reaped) when dropped, even on panic.
struct Server {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Server {
    async fn start(db_url: &str, tag: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let log =
            std::env::temp_dir().join(format!("ats_crash_{}_{tag}_{port}.log", std::process::id()));
        let out = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_ats-server"))
            .env("DATABASE_URL", db_url)
            .env("ATS_LISTEN", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .expect("start ats-server");
        let mut server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        server.wait_healthy().await;
        server
    }

    async fn wait_healthy(&mut self) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "ats-server exited while starting ({status}); log:\n{}",
                    self.log_text()
                );
            }
            let health = http
                .get(format!("{}/health", self.base))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if health.is_ok_and(|r| r.status() == 200) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "ats-server did not become healthy; log:\n{}",
            self.log_text()
        );
    }

    /// SIGKILL: no shutdown hook, no flush, nothing graceful.
    fn kill(&mut self) {
        self.child.kill().expect("SIGKILL ats-server");
        self.child.wait().expect("reap ats-server");
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- ats-server log ({}) ---\n{}",
                self.log.display(),
                self.log_text()
            );
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

/// How far a task's write sequence got: create → claim → message → complete.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Created,
    Claimed,
    Messaged,
    Completed,
}

/// One task a client created and got an acknowledgement for.
#[derive(Debug)]
struct Record {
    id: i64,
    title: String,
    worker: String,
    /// The last write acknowledged with a 2xx.
    acked: Stage,
    /// The last write sent (it may have committed without an answer).
    attempted: Stage,
    message: Option<(i64, String)>,
}

/// A write: `Some(body)` on 2xx, `None` when the server is gone; any other status is recorded.
async fn write(
    http: &reqwest::Client,
    base: &str,
    worker: &str,
    path: &str,
    body: Value,
    errors: &std::sync::Mutex<Vec<String>>,
) -> Option<Value> {
    let resp = http
        .post(format!("{base}{path}"))
        .header("X-Actor-Type", "agent")
        .header("X-Actor-ID", worker)
        .json(&body)
        .send()
        .await
        .ok()?;
    let status = resp.status();
    let body: Value = resp.json().await.ok()?;
    if status.is_success() {
        Some(body)
    } else {
        errors
            .lock()
            .unwrap()
            .push(format!("{path} → {status}: {body}"));
        None
    }
}

/// Writes until the server stops answering; returns what was acknowledged.
async fn client(
    base: String,
    n: usize,
    acks: Arc<AtomicUsize>,
    errors: Arc<std::sync::Mutex<Vec<String>>>,
) -> Vec<Record> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let worker = format!("crash-worker-{n}");
    let mut records = Vec::new();
    for i in 0.. {
        let title = format!("crash {n}/{i}");
        let body =
            json!({ "title": title, "channel": format!("c{n}"), "payload": { "n": n, "i": i } });
        let Some(created) = write(&http, &base, &worker, "/tasks", body, &errors).await else {
            break;
        };
        acks.fetch_add(1, Ordering::SeqCst);
        let id = created["task"]["id"].as_i64().expect("task id");
        records.push(Record {
            id,
            title,
            worker: worker.clone(),
            acked: Stage::Created,
            attempted: Stage::Claimed,
            message: None,
        });
        let r = records.last_mut().unwrap();
        let claim = json!({ "lease_duration": LEASE_MS });
        let Some(claimed) = write(
            &http,
            &base,
            &worker,
            &format!("/tasks/{id}/claim"),
            claim,
            &errors,
        )
        .await
        else {
            break;
        };
        assert_eq!(claimed["task"]["status"], "in_progress");
        r.acked = Stage::Claimed;
        r.attempted = Stage::Messaged;
        acks.fetch_add(1, Ordering::SeqCst);
        let content = format!("progress {n}/{i}");
        let msg = json!({ "parts": [{ "type": "text", "content": content }] });
        let Some(posted) = write(
            &http,
            &base,
            &worker,
            &format!("/tasks/{id}/messages"),
            msg,
            &errors,
        )
        .await
        else {
            break;
        };
        r.message = Some((
            posted["message"]["id"].as_i64().expect("message id"),
            content,
        ));
        r.acked = Stage::Messaged;
        acks.fetch_add(1, Ordering::SeqCst);
        if i % 2 == 0 {
            r.attempted = Stage::Completed;
            let done = json!({ "outputs": { "n": n, "i": i } });
            if write(
                &http,
                &base,
                &worker,
                &format!("/tasks/{id}/complete"),
                done,
                &errors,
            )
            .await
            .is_none()
            {
                break;
            }
            r.acked = Stage::Completed;
            acks.fetch_add(1, Ordering::SeqCst);
        }
    }
    records
}

async fn get(http: &reqwest::Client, base: &str, path: &str) -> (u16, Value) {
    let resp = http
        .get(format!("{base}{path}"))
        .send()
        .await
        .expect("GET after restart");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// The stage a stored task shows, and checks that its history matches it exactly.
async fn stored_stage(http: &reqwest::Client, base: &str, r: &Record) -> (Stage, Vec<Value>) {
    let (status, body) = get(http, base, &format!("/tasks/{}", r.id)).await;
    assert_eq!(status, 200, "acknowledged task {} is gone: {body}", r.id);
    let task = &body["task"];
    assert_eq!(task["title"], r.title.as_str(), "{task}");
    let messages = task["messages"].as_array().cloned().unwrap_or_default();
    let stage = match task["status"].as_str() {
        Some("pending") => Stage::Created,
        Some("in_progress") if messages.is_empty() => Stage::Claimed,
        Some("in_progress") => Stage::Messaged,
        Some("completed") => Stage::Completed,
        other => panic!("task {} has status {other:?}: {task}", r.id),
    };
    if stage >= Stage::Claimed {
        assert_eq!(task["assignee_id"], r.worker.as_str(), "{task}");
        assert_eq!(task["attempts"], 1, "{task}");
    }
    if stage == Stage::Completed {
        assert_eq!(messages.len(), 1, "{task}");
        assert_eq!(task["outputs"].as_array().map(Vec::len), Some(1), "{task}");
    }
    let (status, events) = get(http, base, &format!("/tasks/{}/events?limit=1000", r.id)).await;
    assert_eq!(status, 200);
    (
        stage,
        events["events"].as_array().cloned().unwrap_or_default(),
    )
}

async fn crash_and_recover(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else {
        eprintln!("SKIPPED (PostgreSQL): ATS_TEST_PG_URL is not set");
        return;
    };
    let mut server = Server::start(&db.url, "first").await;

    let acks = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(std::sync::Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| tokio::spawn(client(server.base.clone(), n, acks.clone(), errors.clone())))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    while acks.load(Ordering::SeqCst) < ACKS_BEFORE_KILL {
        assert!(
            Instant::now() < deadline,
            "only {} writes acknowledged in 120 s",
            acks.load(Ordering::SeqCst)
        );
        assert!(
            !clients.iter().any(|c| c.is_finished()),
            "a client stopped early: {:?}",
            errors.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill();
    let killed_at = acks.load(Ordering::SeqCst);
    let mut records = Vec::new();
    for c in clients {
        let done = tokio::time::timeout(Duration::from_secs(60), c).await;
        records.extend(
            done.expect("client did not stop after the kill")
                .expect("client panicked"),
        );
    }
    let errors = errors.lock().unwrap().clone();
    assert!(
        errors.is_empty(),
        "non-2xx answers before the kill: {errors:?}"
    );
    let in_flight = records.iter().filter(|r| r.attempted > r.acked).count();
    eprintln!(
        "{backend:?}: killed after {killed_at} acknowledged writes; {} tasks, {in_flight} with a write in flight",
        records.len()
    );

    let server = Server::start(&db.url, "restarted").await;
    let http = reqwest::Client::new();
    let base = server.base.clone();
    let mut max_event = 0;
    let mut stage_counts: HashMap<Stage, usize> = HashMap::new();
    for r in &records {
        let (stage, events) = stored_stage(&http, &base, r).await;
        assert!(
            r.acked <= stage && stage <= r.attempted,
            "task {}: acknowledged {:?} (attempted {:?}) but stored {stage:?}",
            r.id,
            r.acked,
            r.attempted
        );
        *stage_counts.entry(stage).or_default() += 1;
        // Exactly one event per stored change, in order.
        let want = [
            "task.created",
            "task.claimed",
            "task.message",
            "task.completed",
        ];
        let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(types, want[..=stage as usize], "task {} history", r.id);
        let ids: Vec<i64> = events.iter().map(|e| e["id"].as_i64().unwrap()).collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "task {} event ids {ids:?}",
            r.id
        );
        max_event = max_event.max(*ids.last().unwrap());
        if let Some((msg_id, content)) = &r.message {
            let (_, msgs) = get(&http, &base, &format!("/tasks/{}/messages", r.id)).await;
            let msgs = msgs["messages"].as_array().cloned().unwrap_or_default();
            assert_eq!(msgs.len(), 1, "task {}: {msgs:?}", r.id);
            assert_eq!(msgs[0]["id"], *msg_id);
            assert_eq!(msgs[0]["parts"][0]["content"], content.as_str());
            assert_eq!(events[2]["data"]["message"]["id"], *msg_id);
        }
    }
    eprintln!("{backend:?}: stored stages {stage_counts:?}");
    assert!(records.len() >= CLIENTS, "too few tasks to mean anything");

    // Every stored task is acknowledged, or the unanswered create of one client.
    let (_, list) = get(&http, &base, "/tasks?limit=500").await;
    let stored: HashSet<i64> = list["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        list["count"].as_u64().unwrap() as usize,
        stored.len(),
        "more than 500 tasks"
    );
    let acked: HashSet<i64> = records.iter().map(|r| r.id).collect();
    assert!(acked.is_subset(&stored));
    assert!(
        stored.len() - acked.len() <= CLIENTS,
        "{} unacknowledged tasks",
        stored.len() - acked.len()
    );
    for id in stored.difference(&acked) {
        let (_, ev) = get(&http, &base, &format!("/tasks/{id}/events")).await;
        assert_eq!(
            ev["events"][0]["type"], "task.created",
            "unacknowledged task {id}: {ev}"
        );
    }

    // The restarted server keeps handing out fresh ids and newer event ids.
    let fresh = write(
        &http,
        &base,
        "after",
        "/tasks",
        json!({ "title": "after restart" }),
        &Default::default(),
    )
    .await
    .expect("create after restart");
    let fresh_id = fresh["task"]["id"].as_i64().unwrap();
    assert!(
        !stored.contains(&fresh_id),
        "id {fresh_id} reused after the crash"
    );
    let (_, ev) = get(&http, &base, &format!("/tasks/{fresh_id}/events")).await;
    assert!(
        ev["events"][0]["id"].as_i64().unwrap() > max_event,
        "event id went backwards"
    );
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_loses_no_acknowledged_write_sqlite() {
    crash_and_recover(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_loses_no_acknowledged_write_postgres() {
    crash_and_recover(Backend::Postgres).await;
}
