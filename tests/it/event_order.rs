//! The event log on PostgreSQL keeps its order when writers commit out of
//! order: two transactions insert events, the later-inserted one commits
//! first; nothing past the open one is read until it commits, then a live
//! subscriber and a replaying subscriber each get both, once, in position
//! order, with positions that never go back.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sea_orm::{ConnectionTrait, Database, TransactionTrait};
use serde_json::{Value, json};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;

use crate::common::{Backend, TestApp};

const WAIT: Duration = Duration::from_secs(20);

/// Inserts an event for `task` marked `writer` in `txn`, as a writer would.
async fn insert_event(
    txn: &impl ConnectionTrait,
    task: &Value,
    project_id: i32,
    org_id: i32,
    writer: &str,
) {
    let data = json!({ "task": task, "writer": writer })
        .to_string()
        .replace('\'', "''");
    txn.execute_unprepared(&format!(
        "INSERT INTO events (event_type, task_id, org_id, project_id, org, project, channel, \
         task_type, actor_type, actor_id, data, created_at) VALUES ('task.updated', {}, {org_id}, \
         {project_id}, 'default', 'main', 'default', 'task', 'agent', 'writer-{writer}', '{data}', now())",
        task["id"]
    ))
    .await
    .unwrap();
}

/// The next event a `/ws` socket delivers: (position, writer mark).
async fn next_event(
    ws: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin),
) -> (i64, String) {
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("no event in time")
            .expect("socket closed")
            .unwrap();
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["type"] == "task.updated" {
                return (
                    v["id"].as_i64().unwrap(),
                    v["data"]["writer"].as_str().unwrap_or_default().to_owned(),
                );
            }
        }
    }
}

async fn subscriber(
    app: &TestApp,
    after: i64,
) -> impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>>
+ SinkExt<Message>
+ Unpin {
    subscriber_at(app.base.clone(), after).await
}

/// A `/ws` subscriber of `task.updated` after `after`, on the server at `base`.
async fn subscriber_at(
    base: String,
    after: i64,
) -> impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>>
+ SinkExt<Message>
+ Unpin {
    let url = format!(
        "{}/ws?actor_type=human&actor_id=reader",
        base.replacen("http://", "ws://", 1)
    );
    let (mut ws, _) = connect_async(url).await.unwrap();
    let sub =
        json!({ "type": "subscribe", "id": "s", "after": after, "event_types": ["task.updated"] });
    ws.send(Message::text(sub.to_string())).await.unwrap();
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Message::Text(t) = msg
            && serde_json::from_str::<Value>(&t).unwrap()["type"] == "subscribed"
        {
            return ws;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writers_committing_out_of_order_keep_the_log_order() {
    let Some(app) = TestApp::start(Backend::Postgres).await else {
        eprintln!("SKIPPED (PostgreSQL): ATS_TEST_PG_URL is not set");
        return;
    };
    let c = app.actor("agent", "w");
    let (task, project_id, org_id, start) = ordered_task(&app).await;
    let db = Database::connect(&app.db.url).await.unwrap();
    let mut live = subscriber(&app, start).await;

    // A inserts first (the smaller position), B second; B commits, then A.
    let a = db.begin().await.unwrap();
    insert_event(&a, &task, project_id, org_id, "A").await;
    let b = db.begin().await.unwrap();
    insert_event(&b, &task, project_id, org_id, "B").await;
    b.commit().await.unwrap();
    // While A is open, B is not in the log: a reader given B could not be
    // given A later without going back.
    let early = tokio::time::timeout(Duration::from_millis(700), next_event(&mut live)).await;
    assert!(
        early.is_err(),
        "delivered past an open transaction: {early:?}"
    );
    let before_a = c
        .get(&format!("/tasks/{}/events?after={start}", task["id"]))
        .await
        .expect(200);
    assert_eq!(
        before_a["events"],
        json!([]),
        "the history read past an open transaction"
    );
    a.commit().await.unwrap();
    let (first, who) = next_event(&mut live).await;
    assert_eq!(who, "A", "the late writer is delivered, not skipped");
    let (second, who) = next_event(&mut live).await;
    assert_eq!(who, "B");
    assert!(
        second > first,
        "positions never go back: {first} then {second}"
    );

    // A subscriber replaying from before both gets both, once, in position order.
    let mut replay = subscriber(&app, start).await;
    assert_eq!(next_event(&mut replay).await, (first, "A".to_owned()));
    assert_eq!(next_event(&mut replay).await, (second, "B".to_owned()));
    let extra = tokio::time::timeout(Duration::from_millis(700), next_event(&mut replay)).await;
    assert!(extra.is_err(), "an event was delivered twice: {extra:?}");

    // The task's history reads the same order.
    let history = c
        .get(&format!("/tasks/{}/events?after={start}", task["id"]))
        .await
        .expect(200)["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["id"].as_i64().unwrap(),
                e["data"]["writer"].as_str().unwrap().to_owned(),
            )
        })
        .collect::<Vec<_>>();
    assert_eq!(
        history,
        vec![(first, "A".to_owned()), (second, "B".to_owned())]
    );
}

/// As above, but the transaction left open took its xid *after* the one
/// that commits: a snapshot's `xmax` is one past the newest ended xid, so
/// the open transaction's xid is not below the `xmax` of the snapshot that
/// first sees the gap, and waiting only for that `xmax` skipped the gap
/// (delivering B, then never A) while A was still open.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gap_held_by_a_younger_transaction_is_waited_for() {
    let Some(app) = TestApp::start(Backend::Postgres).await else {
        eprintln!("SKIPPED (PostgreSQL): ATS_TEST_PG_URL is not set");
        return;
    };
    let (task, project_id, org_id, start) = ordered_task(&app).await;
    let db = Database::connect(&app.db.url).await.unwrap();
    let mut live = subscriber(&app, start).await;
    let xid = "SELECT pg_current_xact_id()";
    // B takes its xid first, then A; A draws the smaller position.
    let b = db.begin().await.unwrap();
    b.execute_unprepared(xid).await.unwrap();
    let a = db.begin().await.unwrap();
    a.execute_unprepared(xid).await.unwrap();
    insert_event(&a, &task, project_id, org_id, "A").await;
    insert_event(&b, &task, project_id, org_id, "B").await;
    b.commit().await.unwrap();
    // Several fanout rounds (it polls every 500 ms) pass while A is open.
    let early = tokio::time::timeout(Duration::from_millis(2_000), next_event(&mut live)).await;
    assert!(
        early.is_err(),
        "delivered past an open transaction: {early:?}"
    );
    a.commit().await.unwrap();
    assert_eq!(next_event(&mut live).await.1, "A");
    assert_eq!(next_event(&mut live).await.1, "B");
}

/// A transaction of another database on the same cluster cannot fill a
/// gap in our log: while it stays open, an event past a gap whose writer
/// rolled back is still delivered (a snapshot's `xmin` is cluster-wide, so
/// waiting for it alone held delivery until the other database's
/// transaction ended).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transaction_in_another_database_does_not_hold_a_gap() {
    let Some(app) = TestApp::start(Backend::Postgres).await else {
        eprintln!("SKIPPED (PostgreSQL): ATS_TEST_PG_URL is not set");
        return;
    };
    let (task, project_id, org_id, start) = ordered_task(&app).await;
    let other = Database::connect(std::env::var("ATS_TEST_PG_URL").unwrap())
        .await
        .unwrap();
    let elsewhere = other.begin().await.unwrap();
    elsewhere
        .execute_unprepared("SELECT pg_current_xact_id()")
        .await
        .unwrap();
    let db = Database::connect(&app.db.url).await.unwrap();
    let mut live = subscriber(&app, start).await;
    // A draws the smaller position and rolls back: a gap that never fills.
    let a = db.begin().await.unwrap();
    insert_event(&a, &task, project_id, org_id, "A").await;
    let b = db.begin().await.unwrap();
    insert_event(&b, &task, project_id, org_id, "B").await;
    b.commit().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.rollback().await.unwrap();
    assert_eq!(
        next_event(&mut live).await.1,
        "B",
        "delivered while another database's transaction is open"
    );
    elsewhere.rollback().await.unwrap();
}

/// A task to write events for, its project and org ids, and the position
/// of its last event so far.
async fn ordered_task(app: &TestApp) -> (Value, i32, i32, i64) {
    let c = app.actor("agent", "w");
    let task = c.create_task(json!({ "title": "ordered" })).await;
    let db = Database::connect(&app.db.url).await.unwrap();
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT p.id AS project_id, p.org_id FROM projects p JOIN orgs o ON o.id = p.org_id \
             WHERE o.slug = 'default' AND p.slug = 'main'",
        ))
        .await
        .unwrap()
        .unwrap();
    let start = c
        .get(&format!("/tasks/{}/events", task["id"]))
        .await
        .expect(200)["events"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    (
        task,
        row.try_get("", "project_id").unwrap(),
        row.try_get("", "org_id").unwrap(),
        start,
    )
}

/// A replica that starts while a transaction holding an earlier position
/// is open starts serving only once it has ended, so a subscriber of the
/// new replica gets both events, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_starting_beside_an_open_transaction_misses_nothing() {
    replica_starting_beside_an_open_transaction(false).await;
}

/// The same when the open transaction took its xid after the committed one
/// (so it is not below the start-up snapshot's `xmax`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_starting_beside_a_younger_open_transaction_misses_nothing() {
    replica_starting_beside_an_open_transaction(true).await;
}

async fn replica_starting_beside_an_open_transaction(younger_open: bool) {
    let Some(app) = TestApp::start(Backend::Postgres).await else {
        eprintln!("SKIPPED (PostgreSQL): ATS_TEST_PG_URL is not set");
        return;
    };
    let (task, project_id, org_id, start) = ordered_task(&app).await;
    let db = Database::connect(&app.db.url).await.unwrap();
    let xid = "SELECT pg_current_xact_id()";
    let b = db.begin().await.unwrap();
    if younger_open {
        b.execute_unprepared(xid).await.unwrap();
    }
    let a = db.begin().await.unwrap();
    insert_event(&a, &task, project_id, org_id, "A").await;
    insert_event(&b, &task, project_id, org_id, "B").await;
    b.commit().await.unwrap();

    let starting = app.replica();
    tokio::pin!(starting);
    // A replica up while A is open would let this subscriber read past A.
    let up_early = tokio::time::timeout(Duration::from_millis(1500), &mut starting)
        .await
        .ok();
    let early_ws = match &up_early {
        Some(replica) => Some(subscriber_at(replica.base.clone(), start).await),
        None => None,
    };
    a.commit().await.unwrap();
    let replica = match up_early {
        Some(replica) => replica,
        None => starting.await,
    };
    let mut ws = match early_ws {
        Some(ws) => ws,
        None => subscriber_at(replica.base.clone(), start).await,
    };
    assert_eq!(
        next_event(&mut ws).await.1,
        "A",
        "the earlier position first"
    );
    assert_eq!(next_event(&mut ws).await.1, "B");
}

/// Writers on two replicas over one PostgreSQL database, concurrently: a
/// live subscriber on each replica and a replaying one get every event
/// exactly once, in one order, with positions that only go up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_deliver_every_event_once_in_one_order() {
    use crate::common::ws::WsConn;
    let Some(app) = TestApp::start(Backend::Postgres).await else {
        eprintln!("SKIPPED (PostgreSQL): ATS_TEST_PG_URL is not set");
        return;
    };
    let replica = app.replica().await;
    let ws_of = |base: &str| {
        format!(
            "{}/ws?actor_type=human&actor_id=reader",
            base.replacen("http://", "ws://", 1)
        )
    };
    let mut on_a = WsConn::open_url(&ws_of(&app.base)).await;
    let mut on_b = WsConn::open_url(&ws_of(&replica.base)).await;
    let start = on_a
        .subscribe("s", json!({ "event_types": ["task.created"] }))
        .await["after"]
        .as_i64()
        .unwrap();
    on_b.subscribe(
        "s",
        json!({ "event_types": ["task.created"], "after": start }),
    )
    .await;

    const PER_WRITER: usize = 25;
    let mut writers = Vec::new();
    for (w, base) in [&app.base, &replica.base, &app.base, &replica.base]
        .into_iter()
        .enumerate()
    {
        let base = base.clone();
        writers.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut ids = Vec::new();
            for i in 0..PER_WRITER {
                let r: Value = http
                    .post(format!("{base}/tasks"))
                    .header("X-Actor-Type", "agent")
                    .header("X-Actor-ID", format!("writer-{w}"))
                    .json(&json!({ "title": format!("w{w}-{i}") }))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                ids.push(r["task"]["id"].as_i64().unwrap());
            }
            ids
        }));
    }
    let mut written = Vec::new();
    for w in writers {
        written.extend(w.await.unwrap());
    }
    written.sort_unstable();
    let total = written.len();

    let mut orders = Vec::new();
    for conn in [&mut on_a, &mut on_b] {
        let mut got = Vec::new();
        while got.len() < total {
            let e = conn
                .next_event_within(WAIT)
                .await
                .unwrap_or_else(|| panic!("{} of {total} events arrived", got.len()));
            got.push((e["id"].as_i64().unwrap(), e["task_id"].as_i64().unwrap()));
        }
        assert!(
            conn.next_event_within(Duration::from_millis(700))
                .await
                .is_none(),
            "an event arrived twice"
        );
        orders.push(got);
    }
    let mut replay = WsConn::open_url(&ws_of(&replica.base)).await;
    replay
        .subscribe(
            "r",
            json!({ "event_types": ["task.created"], "after": start }),
        )
        .await;
    let mut replayed = Vec::new();
    while replayed.len() < total {
        let e = replay
            .next_event_within(WAIT)
            .await
            .expect("replayed event");
        replayed.push((e["id"].as_i64().unwrap(), e["task_id"].as_i64().unwrap()));
    }
    orders.push(replayed);

    for order in &orders {
        assert!(
            order.windows(2).all(|w| w[0].0 < w[1].0),
            "positions go up: {order:?}"
        );
        let mut tasks: Vec<i64> = order.iter().map(|(_, t)| *t).collect();
        tasks.sort_unstable();
        assert_eq!(tasks, written, "every write's event, once");
    }
    assert_eq!(orders[0], orders[1], "both replicas deliver one order");
    assert_eq!(orders[0], orders[2], "replay gives the same order");
}
