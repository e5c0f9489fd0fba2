//! Durability: the real `ats-server` binary is SIGKILLed while several clients
//! write, then restarted on the same database. Every acknowledged write must
//! still be there, in the acknowledged state, with its events.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::process::ServerProcess as Server;
use crate::common::{Backend, TestDb};

const CLIENTS: usize = 8;
/// Acknowledged writes to see before the kill.
const ACKS_BEFORE_KILL: usize = 240;
/// Long enough that no lease expires while the test runs.
const LEASE_MS: u64 = 3_600_000;

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

/// One client's connection: who it writes as, what it counts and records.
struct Writer {
    http: reqwest::Client,
    base: String,
    worker: String,
    acks: Arc<AtomicUsize>,
    errors: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Writer {
    /// A write; an acknowledged one is counted.
    async fn post(&self, path: &str, body: Value) -> Option<Value> {
        let res = write(
            &self.http,
            &self.base,
            &self.worker,
            path,
            body,
            &self.errors,
        )
        .await?;
        self.acks.fetch_add(1, Ordering::SeqCst);
        Some(res)
    }
}

/// Task `i` of client `n`: create, claim, message, and every other one
/// complete, recording each stage when attempted and when acknowledged.
/// False once the server stops answering.
async fn one_task(w: &Writer, n: usize, i: usize, records: &mut Vec<Record>) -> bool {
    let title = format!("crash {n}/{i}");
    let body = json!({ "title": title, "channel": format!("c{n}"), "payload": { "n": n, "i": i } });
    let Some(created) = w.post("/tasks", body).await else {
        return false;
    };
    let id = created["task"]["id"].as_i64().expect("task id");
    records.push(Record {
        id,
        title,
        worker: w.worker.clone(),
        acked: Stage::Created,
        attempted: Stage::Claimed,
        message: None,
    });
    let r = records.last_mut().unwrap();
    let claim = json!({ "lease_duration": LEASE_MS });
    let Some(claimed) = w.post(&format!("/tasks/{id}/claim"), claim).await else {
        return false;
    };
    assert_eq!(claimed["task"]["status"], "in_progress");
    r.acked = Stage::Claimed;
    r.attempted = Stage::Messaged;
    let content = format!("progress {n}/{i}");
    let msg = json!({ "parts": [{ "type": "text", "content": content }] });
    let Some(posted) = w.post(&format!("/tasks/{id}/messages"), msg).await else {
        return false;
    };
    r.message = Some((
        posted["message"]["id"].as_i64().expect("message id"),
        content,
    ));
    r.acked = Stage::Messaged;
    if i.is_multiple_of(2) {
        r.attempted = Stage::Completed;
        let done = json!({ "outputs": { "n": n, "i": i } });
        if w.post(&format!("/tasks/{id}/complete"), done)
            .await
            .is_none()
        {
            return false;
        }
        r.acked = Stage::Completed;
    }
    true
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
    let w = Writer {
        http,
        base,
        worker: format!("crash-worker-{n}"),
        acks,
        errors,
    };
    let mut records = Vec::new();
    for i in 0.. {
        if !one_task(&w, n, i, &mut records).await {
            break;
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

/// Step: 8 clients write until 240 writes are acknowledged, then the server
/// is SIGKILLed; returns every client's records. No answer before the kill
/// may be other than 2xx.
async fn write_until_killed(server: &mut Server, backend: Backend) -> Vec<Record> {
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
    records
}

/// Step: every acknowledged task is stored at its acknowledged stage (or the
/// one in flight), with exactly one event per stored change, in order, and
/// its message. Returns the highest event id seen.
async fn every_acknowledged_write_is_stored(
    base: &str,
    records: &[Record],
    backend: Backend,
) -> i64 {
    let http = reqwest::Client::new();
    let mut max_event = 0;
    let mut stage_counts: HashMap<Stage, usize> = HashMap::new();
    for r in records {
        let (stage, events) = stored_stage(&http, base, r).await;
        assert!(
            r.acked <= stage && stage <= r.attempted,
            "task {}: acknowledged {:?} (attempted {:?}) but stored {stage:?}",
            r.id,
            r.acked,
            r.attempted
        );
        *stage_counts.entry(stage).or_default() += 1;
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
            let (_, msgs) = get(&http, base, &format!("/tasks/{}/messages", r.id)).await;
            let msgs = msgs["messages"].as_array().cloned().unwrap_or_default();
            assert_eq!(msgs.len(), 1, "task {}: {msgs:?}", r.id);
            assert_eq!(msgs[0]["id"], *msg_id);
            assert_eq!(msgs[0]["parts"][0]["content"], content.as_str());
            assert_eq!(events[2]["data"]["message"]["id"], *msg_id);
        }
    }
    eprintln!("{backend:?}: stored stages {stage_counts:?}");
    assert!(records.len() >= CLIENTS, "too few tasks to mean anything");
    max_event
}

/// Step: every stored task is acknowledged, or the unanswered create of one
/// client. Returns the stored ids.
async fn nothing_else_is_stored(base: &str, records: &[Record]) -> HashSet<i64> {
    let http = reqwest::Client::new();
    let (_, list) = get(&http, base, "/tasks?limit=500").await;
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
        let (_, ev) = get(&http, base, &format!("/tasks/{id}/events")).await;
        assert_eq!(
            ev["events"][0]["type"], "task.created",
            "unacknowledged task {id}: {ev}"
        );
    }
    stored
}

/// Step: the restarted server keeps handing out fresh ids and newer event ids.
async fn ids_keep_growing(base: &str, stored: &HashSet<i64>, max_event: i64) {
    let http = reqwest::Client::new();
    let body = json!({ "title": "after restart" });
    let fresh = write(&http, base, "after", "/tasks", body, &Default::default())
        .await
        .expect("create after restart");
    let fresh_id = fresh["task"]["id"].as_i64().unwrap();
    assert!(
        !stored.contains(&fresh_id),
        "id {fresh_id} reused after the crash"
    );
    let (_, ev) = get(&http, base, &format!("/tasks/{fresh_id}/events")).await;
    assert!(
        ev["events"][0]["id"].as_i64().unwrap() > max_event,
        "event id went backwards"
    );
}

async fn crash_and_recover(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else {
        eprintln!("SKIPPED (PostgreSQL): ATS_TEST_PG_URL is not set");
        return;
    };
    let quiet = [("RUST_LOG", "warn")];
    let mut server = Server::start(&db.url, "first", &quiet).await;
    let records = write_until_killed(&mut server, backend).await;
    let server = Server::start(&db.url, "restarted", &quiet).await;
    let max_event = every_acknowledged_write_is_stored(&server.base, &records, backend).await;
    let stored = nothing_else_is_stored(&server.base, &records).await;
    ids_keep_growing(&server.base, &stored, max_event).await;
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
