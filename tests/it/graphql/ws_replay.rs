//! `taskEvents(after:)` over `/graphql/ws`: the events after the cursor
//! replayed while writes keep committing, then live, every one exactly once
//! and in order; and the legacy graphql-ws protocol (`start`/`data`/`stop`).

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::gql::{create_task as create, ok};
use crate::common::gql_ws::{LEGACY, Session, TRANSPORT, wait_subscriptions};
use crate::common::{Client, TestApp};

crate::on_both_backends!(
    after_replays_while_writing_then_goes_live,
    legacy_graphql_ws
);

const HISTORY: &str = "query($f: TaskEventFilter, $after: ID) { taskEvents(filter: $f, after: $after, first: 1000) { id } }";

fn ids_of(v: &Value) -> Vec<i64> {
    v["taskEvents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().parse().unwrap())
        .collect()
}

/// Ten tasks old0…old9, each created, claimed and messaged by `agent:writer`
/// (30 events). Returns the first task and the tenth event's id.
async fn thirty_events(w: &Client) -> (i64, i64) {
    let mut first_task = 0;
    for i in 0..10 {
        let t = w.create_task(json!({ "title": format!("old{i}") })).await["id"]
            .as_i64()
            .unwrap();
        if i == 0 {
            first_task = t;
        }
        w.act(t, "claim", json!({})).await.expect(200);
        w.post(
            &format!("/tasks/{t}/messages"),
            json!({ "parts": [{ "type": "text", "content": "m" }] }),
        )
        .await
        .expect(201);
    }
    let before = ids_of(&ok(w, HISTORY, json!({})).await);
    assert_eq!(before.len(), 30);
    (first_task, before[9])
}

/// Replays while 40 writes commit: every event after the cursor exactly
/// once, in order, the filter honoured. Returns how many events `r` and
/// `rc` received, and the cursor.
async fn replay_while_writing(s: &mut Session, w: &Client) -> (usize, usize, i64) {
    let (first_task, cursor) = thirty_events(w).await;
    let bg = w.clone();
    let writing = tokio::spawn(async move {
        for i in 0..40 {
            bg.create_task(json!({ "title": format!("new{i}") })).await;
            if i % 8 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });
    s.subscribe("r", &format!("(after: \"{cursor}\")"), false)
        .await;
    let claimed_only = format!("(after: \"{cursor}\", filter: {{eventTypes: [\"task.claimed\"]}})");
    s.subscribe("rc", &claimed_only, false).await;
    let first = format!("(after: \"0\", filter: {{taskId: \"{first_task}\"}})");
    s.subscribe("z", &first, false).await;
    writing.await.unwrap();
    let want = ids_of(&ok(w, HISTORY, json!({ "after": cursor.to_string() })).await);
    assert_eq!(want.len(), 20 + 40);
    s.until(20, "every event after the cursor", |s| {
        s.events("r").len() >= want.len()
    })
    .await;
    s.settle(500).await;
    assert_eq!(s.ids("r"), want, "no gap, no duplicate, in order");
    let claimed = ids_of(
        &ok(
            w,
            HISTORY,
            json!({ "after": cursor.to_string(), "f": { "eventTypes": ["task.claimed"] } }),
        )
        .await,
    );
    assert_eq!(claimed.len(), 7);
    assert_eq!(s.ids("rc"), claimed, "replay honours the filter");
    assert_eq!(
        s.seen("z"),
        [
            "old0 task.created",
            "old0 task.claimed",
            "old0 task.message"
        ]
    );
    (want.len(), claimed.len(), cursor)
}

async fn after_replays_while_writing_then_goes_live(app: TestApp) {
    let w = app.actor("agent", "writer");
    let mut s = Session::open(&app, TRANSPORT, json!({})).await;
    let (replayed, claimed, cursor) = replay_while_writing(&mut s, &w).await;
    // And then live.
    let t = w.create_task(json!({ "title": "live" })).await["id"]
        .as_i64()
        .unwrap();
    w.act(t, "claim", json!({})).await.expect(200);
    s.until(10, "the live events", |s| {
        s.events("r").len() == replayed + 2 && s.events("rc").len() == claimed + 1
    })
    .await;
    s.settle(500).await;
    let now = ids_of(&ok(&w, HISTORY, json!({ "after": cursor.to_string() })).await);
    assert_eq!(s.ids("r"), now, "replay and live join without a gap");
    assert_eq!(s.seen("rc").last().unwrap(), "live task.claimed");
    assert_eq!(s.events("z").len(), 3);
}

async fn legacy_graphql_ws(app: TestApp) {
    let w = app.actor("agent", "writer");
    let mut s = Session::open(
        &app,
        LEGACY,
        json!({ "X-Actor-Type": "agent", "X-Actor-ID": "old-client" }),
    )
    .await;
    s.subscribe("1", "(filter: {taskTypes: [\"legacy\"]})", true)
        .await;
    wait_subscriptions(&app, 1).await;
    create(&w, json!({ "title": "skip me" })).await;
    create(&w, json!({ "title": "old protocol", "type": "legacy" })).await;
    s.until(10, "a data message", |s| !s.events("1").is_empty())
        .await;
    s.settle(500).await;
    assert_eq!(s.seen("1"), ["old protocol task.created"]);
    assert!(
        s.got.iter().all(|m| m["type"] != "next"),
        "this protocol says data"
    );
    assert_eq!(s.events("1")[0]["actor"]["id"], "writer");

    s.send(json!({ "id": "1", "type": "stop" })).await;
    s.until(10, "complete", |s| {
        s.others("1").iter().any(|m| m["type"] == "complete")
    })
    .await;
    wait_subscriptions(&app, 0).await;
    create(&w, json!({ "title": "after stop", "type": "legacy" })).await;
    s.settle(500).await;
    assert_eq!(s.events("1").len(), 1, "nothing after stop");

    // Replay works here too.
    s.subscribe(
        "2",
        "(after: \"0\", filter: {taskTypes: [\"legacy\"]})",
        true,
    )
    .await;
    s.until(10, "the replay", |s| s.events("2").len() == 2)
        .await;
    assert_eq!(
        s.seen("2"),
        ["old protocol task.created", "after stop task.created"]
    );

    s.send(json!({ "type": "connection_terminate" })).await;
    let end = s.recv(Duration::from_secs(5)).await;
    assert!(
        end.as_ref().is_none_or(|m| m["type"] == "close"),
        "connection_terminate closes the socket: {end:?}"
    );
}
