//! Replicas on one PostgreSQL database (SPEC §8, issue 16), as real
//! `ats-server` processes: migrations run once when several start together,
//! and when one replica is SIGKILLed mid-stream nothing acknowledged is
//! lost, every subscriber of a surviving replica gets the whole log once in
//! order (including what the dead one wrote), and the dead one's claims come
//! back through lease expiry and are completed, once, by the others.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use migration::MigratorTrait;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use serde_json::{Value, json};

use crate::common::gql_ws::{Session, TRANSPORT};
use crate::common::process::{ServerProcess as Server, binary};
use crate::common::ws::{Next, WsConn};
use crate::common::{Backend, TestDb};

/// How long anything expected may take.
const WAIT: Duration = Duration::from_secs(40);

async fn rows(db: &DatabaseConnection, sql: &str) -> Vec<sea_orm::QueryResult> {
    db.query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Several `ats-server migrate` processes started at once on a fresh
/// database all succeed, and each migration is applied (and recorded) once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_starting_together_apply_migrations_once() {
    const STARTING: usize = 5;
    let Some(db) = TestDb::create(Backend::Postgres).await else {
        eprintln!("SKIPPED (PostgreSQL): ATS_TEST_PG_URL is not set");
        return;
    };
    let started = Instant::now();
    let runs: Vec<_> = (0..STARTING)
        .map(|_| {
            std::process::Command::new(binary())
                .arg("migrate")
                .env("DATABASE_URL", &db.url)
                .env("RUST_LOG", "info")
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("start ats-server migrate")
        })
        .collect();
    let outputs = tokio::task::spawn_blocking(move || {
        runs.into_iter()
            .map(|run| run.wait_with_output().expect("wait for ats-server migrate"))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    let mut waited = 0;
    for out in &outputs {
        let log = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "ats-server migrate failed:\n{log}");
        waited += usize::from(log.contains("another replica is applying migrations"));
    }
    eprintln!(
        "{STARTING} migrate runs in {:?}; {waited} waited for another",
        started.elapsed()
    );

    let conn = Database::connect(&db.url).await.unwrap();
    let applied: Vec<(String, i64)> = rows(
        &conn,
        "SELECT version, count(*) AS n FROM seaql_migrations GROUP BY version ORDER BY version",
    )
    .await
    .iter()
    .map(|r| {
        (
            r.try_get("", "version").unwrap(),
            r.try_get("", "n").unwrap(),
        )
    })
    .collect();
    let expected: Vec<(String, i64)> = migration::Migrator::migrations()
        .iter()
        .map(|m| (m.name().to_owned(), 1))
        .collect();
    assert_eq!(applied, expected, "each migration recorded once");
    // The schema is whole: a server starts on it and works.
    let server = Server::start(&db.url, "after-migrate", &[("ATS_AUTH", "open")]).await;
    let created = reqwest::Client::new()
        .post(format!("{}/tasks", server.base))
        .json(&json!({ "title": "schema works" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
}

/// The replicas, which one dies, and how work is handed out.
const REPLICAS: usize = 3;
const DOOMED: usize = 1;
/// Tasks created in all (through every replica).
const TASKS: usize = 120;
/// Acknowledged creates before the kill.
const KILL_AFTER: usize = 45;
/// claim-next workers per replica.
const WORKERS: usize = 2;
/// Short leases, and a reaper that returns them quickly.
const LEASE_MS: u64 = 2_000;
const REAPER_MS: &str = "200";
/// The doomed replica's workers take this long over each task, so that it
/// holds claimed tasks when it dies.
const DOOMED_WORK: Duration = Duration::from_millis(300);

/// What the clients were told.
#[derive(Default)]
struct Ledger {
    /// Creates started (the writers stop at [`TASKS`]).
    reserved: AtomicUsize,
    /// Creates answered 201: (task id, replica).
    created: Mutex<Vec<(i64, usize)>>,
    created_count: AtomicUsize,
    /// Completes answered 200: (task id, worker).
    completed: Mutex<Vec<(i64, String)>>,
    /// Completes refused because the lease was lost meanwhile: (task id, worker).
    lost: Mutex<Vec<(i64, String)>>,
    /// Tasks the doomed replica's workers have claimed and not yet begun
    /// to complete, and whether the kill is decided: from then on they
    /// complete nothing, so every task they hold is orphaned by the kill.
    doomed: Mutex<(usize, bool)>,
    /// Anything a live replica answered that it should not have.
    errors: Mutex<Vec<String>>,
    /// Workers stop when set.
    stop: AtomicBool,
}

impl Ledger {
    fn error(&self, what: String) {
        self.errors.lock().unwrap().push(what);
    }
}

/// A POST as `actor`: `Some((status, body))`, or `None` when the server did
/// not answer (it is gone).
async fn post(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    actor: &str,
    body: Value,
) -> Option<(u16, Value)> {
    let resp = http
        .post(format!("{base}{path}"))
        .header("X-Actor-Type", "agent")
        .header("X-Actor-ID", actor)
        .json(&body)
        .send()
        .await
        .ok()?;
    let status = resp.status().as_u16();
    let body = resp.json().await.ok()?;
    Some((status, body))
}

/// Creates tasks through replica `r` until [`TASKS`] have been started
/// everywhere, or its replica is gone.
async fn writer(base: String, r: usize, ledger: Arc<Ledger>) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let me = format!("writer-{r}");
    loop {
        let i = ledger.reserved.fetch_add(1, Ordering::SeqCst);
        if i >= TASKS {
            return;
        }
        let body = json!({ "title": format!("task {i} via {r}"), "channel": "work" });
        match post(&http, &base, "/tasks", &me, body).await {
            Some((201, created)) => {
                let id = created["task"]["id"].as_i64().expect("task id");
                ledger.created.lock().unwrap().push((id, r));
                ledger.created_count.fetch_add(1, Ordering::SeqCst);
            }
            Some((status, body)) => ledger.error(format!("{me}: create → {status}: {body}")),
            None if r == DOOMED => return,
            None => {
                ledger.error(format!("{me}: create got no answer"));
                return;
            }
        }
    }
}

/// Claims and completes work through replica `r` until told to stop, or
/// its replica is gone.
async fn worker(base: String, r: usize, k: usize, ledger: Arc<Ledger>) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let me = format!("worker-{r}-{k}");
    let gone = |what: &str| {
        if r != DOOMED {
            ledger.error(format!("{me}: {what} got no answer"));
        }
    };
    while !ledger.stop.load(Ordering::SeqCst) {
        let claim = json!({ "channel": "work", "lease_duration": LEASE_MS, "wait_ms": 500 });
        let id = match post(&http, &base, "/tasks/claim-next", &me, claim).await {
            Some((200, claimed)) => claimed["task"]["id"].as_i64().expect("claimed id"),
            Some((404, _)) => continue,
            Some((status, body)) => {
                ledger.error(format!("{me}: claim-next → {status}: {body}"));
                continue;
            }
            None => return gone("claim-next"),
        };
        if r == DOOMED {
            ledger.doomed.lock().unwrap().0 += 1;
            tokio::time::sleep(DOOMED_WORK).await;
            let kill_decided = {
                let mut doomed = ledger.doomed.lock().unwrap();
                if !doomed.1 {
                    doomed.0 -= 1;
                }
                doomed.1
            };
            if kill_decided {
                // The kill is coming: this task dies with the replica.
                return std::future::pending().await;
            }
        }
        let done = json!({ "outputs": { "by": me } });
        let answer = post(&http, &base, &format!("/tasks/{id}/complete"), &me, done).await;
        match answer {
            Some((200, _)) => ledger.completed.lock().unwrap().push((id, me.clone())),
            // The lease ran out first and the task went back to the queue.
            Some((409, _)) => ledger.lost.lock().unwrap().push((id, me.clone())),
            Some((status, body)) => ledger.error(format!("{me}: complete {id} → {status}: {body}")),
            None => return gone("complete"),
        }
    }
}

/// One event as a subscriber saw it: (id, type, task id).
type Seen = (i64, String, i64);

/// A subscriber's events so far, and how it ended.
#[derive(Default)]
struct Subscriber {
    events: Mutex<Vec<Seen>>,
    problems: Mutex<Vec<String>>,
}

impl Subscriber {
    fn last(&self) -> Option<i64> {
        self.events.lock().unwrap().last().map(|e| e.0)
    }
}

/// Reads a `/ws` subscription of everything until the socket ends, or it
/// is quiet for a moment after `stop`.
async fn watch_ws(mut ws: WsConn, into: Arc<Subscriber>, stop: Arc<AtomicBool>) {
    loop {
        match ws.next_or_close(Duration::from_millis(200)).await {
            Next::Message(v) if v["type"].as_str().is_some_and(|t| t.starts_with("task.")) => {
                into.events.lock().unwrap().push((
                    v["id"].as_i64().expect("event id"),
                    v["type"].as_str().unwrap().to_owned(),
                    v["task_id"].as_i64().expect("task id"),
                ));
            }
            Next::Message(v) => into.problems.lock().unwrap().push(v.to_string()),
            Next::Closed(_) => return,
            Next::Quiet if stop.load(Ordering::SeqCst) => return,
            Next::Quiet => {}
        }
    }
}

/// The same for a `/graphql/ws` `taskEvents` subscription.
async fn watch_gql(mut s: Session, into: Arc<Subscriber>, stop: Arc<AtomicBool>) {
    loop {
        match s.next_or_close(Duration::from_millis(200)).await {
            Next::Message(v) if v["type"] == "next" => {
                let e = &v["payload"]["data"]["taskEvents"];
                if e.is_null() {
                    into.problems.lock().unwrap().push(v.to_string());
                    continue;
                }
                into.events.lock().unwrap().push((
                    e["id"].as_str().and_then(|id| id.parse().ok()).expect("id"),
                    e["type"].as_str().unwrap().to_owned(),
                    e["taskId"]
                        .as_str()
                        .and_then(|id| id.parse().ok())
                        .expect("taskId"),
                ));
            }
            Next::Message(v) => into.problems.lock().unwrap().push(v.to_string()),
            Next::Closed(_) => return,
            Next::Quiet if stop.load(Ordering::SeqCst) => return,
            Next::Quiet => {}
        }
    }
}

/// A row of the events table: (position, type, task id, actor id).
type Logged = (i64, String, i64, String);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_killed_mid_stream_loses_nothing() {
    let Some(db) = TestDb::create(Backend::Postgres).await else {
        eprintln!("SKIPPED (PostgreSQL): ATS_TEST_PG_URL is not set");
        return;
    };
    let began = Instant::now();
    let env = [
        ("ATS_AUTH", "open"),
        ("ATS_REAPER_INTERVAL_MS", REAPER_MS),
        ("RUST_LOG", "warn"),
    ];
    // All three start at once, on a fresh database (their migrations take turns).
    let tags: Vec<String> = (0..REPLICAS).map(|r| format!("replica{r}")).collect();
    let mut servers: Vec<Server> =
        futures_util::future::join_all(tags.iter().map(|tag| Server::start(&db.url, tag, &env)))
            .await;
    let started = began.elapsed();

    // Subscribers of everything, on both sockets of every replica, from
    // the start of the log.
    let stop_watching = Arc::new(AtomicBool::new(false));
    let mut subscribers = Vec::new();
    for (r, server) in servers.iter().enumerate() {
        let mut ws = WsConn::open_url(&format!(
            "{}/ws?actor_type=human&actor_id=watcher-{r}",
            server.ws_base()
        ))
        .await;
        ws.subscribe("all", json!({ "after": 0 })).await;
        let seen = Arc::new(Subscriber::default());
        let task = tokio::spawn(watch_ws(ws, seen.clone(), stop_watching.clone()));
        subscribers.push((r, "/ws", seen, task));

        let mut gql = Session::open_to(&server.base, TRANSPORT, json!({})).await;
        gql.send(json!({
            "id": "all",
            "type": "subscribe",
            "payload": { "query": "subscription { taskEvents(after: \"0\") { id type taskId } }" },
        }))
        .await;
        let seen = Arc::new(Subscriber::default());
        let task = tokio::spawn(watch_gql(gql, seen.clone(), stop_watching.clone()));
        subscribers.push((r, "/graphql/ws", seen, task));
    }
    // Every subscription is live before the first write.
    for server in &servers {
        let deadline = Instant::now() + WAIT;
        while server.metric("ats_open_subscriptions").await < 2 {
            assert!(Instant::now() < deadline, "subscriptions did not open");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    // Writers and workers on every replica.
    let ledger = Arc::new(Ledger::default());
    let mut writers = Vec::new();
    let mut workers = Vec::new();
    for (r, server) in servers.iter().enumerate() {
        writers.push(tokio::spawn(writer(server.base.clone(), r, ledger.clone())));
        for k in 0..WORKERS {
            let work = tokio::spawn(worker(server.base.clone(), r, k, ledger.clone()));
            workers.push((r, work));
        }
    }

    // SIGKILL the doomed replica mid-stream, while it holds claimed tasks.
    let deadline = Instant::now() + WAIT;
    loop {
        {
            let mut doomed = ledger.doomed.lock().unwrap();
            if ledger.created_count.load(Ordering::SeqCst) >= KILL_AFTER && doomed.0 > 0 {
                doomed.1 = true;
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "never reached the kill point: {} created, errors {:?}",
            ledger.created_count.load(Ordering::SeqCst),
            ledger.errors.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    servers[DOOMED].kill();
    let killed_at = ledger.created_count.load(Ordering::SeqCst);
    let killed = began.elapsed();

    // The survivors take every create that is left, and work until every
    // task is completed.
    for w in writers {
        tokio::time::timeout(WAIT, w)
            .await
            .expect("writers finish")
            .unwrap();
    }
    let conn = Database::connect(&db.url).await.unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        let counted = rows(
            &conn,
            "SELECT count(*) FILTER (WHERE status <> 'completed') AS open FROM tasks",
        )
        .await;
        let open: i64 = counted[0].try_get("", "open").unwrap();
        if open == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{open} tasks still not completed; errors {:?}",
            ledger.errors.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ledger.stop.store(true, Ordering::SeqCst);
    for (r, w) in workers {
        if r == DOOMED {
            // Its replica is gone (and it may be parked on a task it held).
            w.abort();
            continue;
        }
        tokio::time::timeout(WAIT, w)
            .await
            .expect("workers stop")
            .unwrap();
    }
    let errors = ledger.errors.lock().unwrap().clone();
    assert!(
        errors.is_empty(),
        "live replicas answered wrongly: {errors:?}"
    );

    // The log, as the database has it at the end.
    let log: Vec<Logged> = rows(
        &conn,
        "SELECT position, event_type, task_id, actor_id FROM events ORDER BY position",
    )
    .await
    .iter()
    .map(|r| {
        (
            r.try_get("", "position").unwrap(),
            r.try_get("", "event_type").unwrap(),
            r.try_get("", "task_id").unwrap(),
            r.try_get("", "actor_id").unwrap(),
        )
    })
    .collect();
    let want: Vec<Seen> = log
        .iter()
        .map(|(id, ty, task, _)| (*id, ty.clone(), *task))
        .collect();
    let newest = want.last().expect("events were written").0;

    // Every subscriber of a surviving replica gets the whole log, once, in
    // order; the dead replica's subscribers got an unbroken beginning of it.
    let deadline = Instant::now() + WAIT;
    for (r, socket, seen, _) in &subscribers {
        if *r == DOOMED {
            continue;
        }
        while seen.last() < Some(newest) {
            assert!(
                Instant::now() < deadline,
                "replica {r} {socket}: delivered up to {:?} of {newest}",
                seen.last()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    stop_watching.store(true, Ordering::SeqCst);
    for (r, socket, seen, task) in subscribers {
        tokio::time::timeout(WAIT, task)
            .await
            .expect("subscriber stops")
            .unwrap();
        let problems = seen.problems.lock().unwrap().clone();
        assert!(
            problems.is_empty(),
            "replica {r} {socket}: unexpected messages {problems:?}"
        );
        let got = seen.events.lock().unwrap().clone();
        if r == DOOMED {
            assert!(
                got.len() <= want.len(),
                "replica {r} {socket}: more than the log"
            );
            if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
                panic!(
                    "replica {r} {socket}: what it delivered before dying is not the log's beginning: \
                     at {i} it delivered {:?}, the log has {:?} (delivered {} in all)",
                    &got[i.saturating_sub(2)..(i + 3).min(got.len())],
                    &want[i.saturating_sub(2)..(i + 3).min(want.len())],
                    got.len()
                );
            }
        } else {
            let ids: Vec<i64> = got.iter().map(|e| e.0).collect();
            assert!(
                ids.windows(2).all(|w| w[0] < w[1]),
                "replica {r} {socket}: ids not strictly increasing"
            );
            if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
                panic!(
                    "replica {r} {socket}: not the log, once, in order: at {i} it delivered {:?}, \
                     the log has {:?}",
                    &got[i.saturating_sub(2)..(i + 3).min(got.len())],
                    &want[i.saturating_sub(2)..(i + 3).min(want.len())],
                );
            }
            assert_eq!(
                got.len(),
                want.len(),
                "replica {r} {socket}: {} events delivered, the log has {}",
                got.len(),
                want.len()
            );
        }
    }

    // Every acknowledged create is stored, and all tasks ended completed.
    let stored: BTreeSet<i64> = rows(&conn, "SELECT id FROM tasks")
        .await
        .iter()
        .map(|r| r.try_get("", "id").unwrap())
        .collect();
    let created = ledger.created.lock().unwrap().clone();
    for (id, r) in &created {
        assert!(
            stored.contains(id),
            "task {id}, acknowledged by replica {r}, is not stored"
        );
    }
    assert!(stored.len() >= created.len() && stored.len() <= TASKS);
    let by_dead = |actor: &str| {
        actor == format!("writer-{DOOMED}") || actor.starts_with(&format!("worker-{DOOMED}-"))
    };
    let dead_wrote = log.iter().filter(|e| by_dead(&e.3)).count();
    assert!(
        dead_wrote > 0,
        "the dead replica wrote nothing before it died"
    );

    // No task is completed twice, every task is completed once, and every
    // acknowledged completion is the one stored.
    let mut history: BTreeMap<i64, Vec<&Logged>> = BTreeMap::new();
    for e in &log {
        history.entry(e.2).or_default().push(e);
    }
    let mut completer: HashMap<i64, &str> = HashMap::new();
    for (task, events) in &history {
        let done: Vec<&&Logged> = events.iter().filter(|e| e.1 == "task.completed").collect();
        assert_eq!(done.len(), 1, "task {task} completed {} times", done.len());
        completer.insert(*task, &done[0].3);
    }
    assert_eq!(
        history.keys().copied().collect::<BTreeSet<_>>(),
        stored,
        "every task has a history"
    );
    for (id, worker) in ledger.completed.lock().unwrap().iter() {
        assert_eq!(
            completer.get(id).copied(),
            Some(worker.as_str()),
            "task {id}: acknowledged completion by {worker}"
        );
    }

    // Tasks the dead replica had claimed came back when their lease ran
    // out, and were completed by the survivors.
    let mut orphans = Vec::new();
    for (task, events) in &history {
        let last_dead_claim = events
            .iter()
            .rposition(|e| e.1 == "task.claimed" && by_dead(&e.3));
        let Some(at) = last_dead_claim else { continue };
        if by_dead(completer[task]) {
            continue;
        }
        let after: Vec<&str> = events[at + 1..].iter().map(|e| e.1.as_str()).collect();
        assert_eq!(
            after.first(),
            Some(&"task.lease_expired"),
            "task {task}: after the dead replica's claim: {after:?}"
        );
        orphans.push(*task);
    }
    assert!(
        !orphans.is_empty(),
        "no task claimed through the dead replica was left to expire"
    );
    eprintln!(
        "3 replicas up in {started:?}; killed replica {DOOMED} at {killed:?} after {killed_at} creates; \
         {} tasks, {} events ({dead_wrote} through the dead replica), {} orphaned claims completed by the others, \
         {} completions lost to expired leases; {:?} in all",
        stored.len(),
        log.len(),
        orphans.len(),
        ledger.lost.lock().unwrap().len(),
        began.elapsed()
    );
}
