//! Replay with `after` (SPEC §7.5): the stored events after the cursor, then
//! live ones, with no gap and no duplicate across the switch.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use crate::common::ws::{WsConn, histories, history, ids, is};
use crate::common::{Client, TestApp};

crate::on_both_backends!(
    a_resume_replays_exactly_what_was_missed_then_live,
    filtered_newest_and_zero_cursors,
    replay_while_writing,
);

fn id_of(v: &Value) -> i64 {
    v["id"].as_i64().unwrap()
}

async fn message(c: &Client, task: i64, content: &str) -> i64 {
    let body = json!({ "parts": [{ "type": "text", "content": content }] });
    id_of(
        &c.post(&format!("/tasks/{task}/messages"), body)
            .await
            .expect(201)["message"],
    )
}

fn assert_strictly_increasing(got: &[i64]) {
    for w in got.windows(2) {
        assert!(
            w[0] < w[1],
            "ids out of order or duplicated: {} then {}",
            w[0],
            w[1]
        );
    }
}

/// What happened while nobody watched: the cursor of the last event seen,
/// the two tasks, the events missed, and the first live one after resuming.
struct Missed {
    last: i64,
    p: i64,
    q: i64,
    live: Value,
}

/// Step: watch P created and claimed, then disconnect; returns P and the
/// last event id seen.
async fn watch_then_disconnect(app: &TestApp, alice: &Client, bob: &Client) -> (i64, i64) {
    let mut ws = WsConn::open(app).await;
    ws.subscribe("live", json!({})).await;
    let p = id_of(&alice.create_task(json!({ "title": "P" })).await);
    bob.act(p, "claim", json!({})).await.expect(200);
    let seen = ws.events_of("live", |e| is(e, "task.claimed", p)).await;
    let last = id_of(seen.last().unwrap());
    assert_eq!(ids(&seen), ids(&history(app, p).await));
    ws.close().await;
    (p, last)
}

/// Step: six changes nobody watches (P messaged and completed; Q created,
/// claimed and messaged; P reopened); returns Q and the missed events.
async fn six_unwatched_changes(
    app: &TestApp,
    (alice, bob): (&Client, &Client),
    (p, last): (i64, i64),
) -> (i64, Vec<Value>) {
    message(bob, p, "progress").await;
    bob.act(p, "complete", json!({ "outputs": [1] }))
        .await
        .expect(200);
    let q = id_of(
        &alice
            .create_task(json!({ "title": "Q", "channel": "ops" }))
            .await,
    );
    bob.act(q, "claim", json!({})).await.expect(200);
    message(alice, q, "note").await;
    alice
        .act(p, "reopen", json!({ "reason": "again" }))
        .await
        .expect(200);
    let missed: Vec<Value> = histories(app, &[p, q])
        .await
        .into_iter()
        .filter(|e| id_of(e) > last)
        .collect();
    assert_eq!(missed.len(), 6, "{missed:?}");
    (q, missed)
}

/// Disconnect, miss some changes, reconnect with `after`: exactly the
/// missed events, in order, then live ones.
async fn resume_after_missing(app: &TestApp, alice: &Client, bob: &Client) -> Missed {
    let (p, last) = watch_then_disconnect(app, alice, bob).await;
    let (q, missed) = six_unwatched_changes(app, (alice, bob), (p, last)).await;
    let mut ws = WsConn::open(app).await;
    ws.subscribe("resume", json!({ "after": last })).await;
    let mut replayed = Vec::new();
    for _ in 0..missed.len() {
        replayed.push(ws.recv().await);
    }
    for (got, want) in replayed.iter().zip(&missed) {
        let mut got = got.clone();
        assert_eq!(got["subscription_id"], "resume");
        got.as_object_mut().unwrap().remove("subscription_id");
        assert_eq!(&got, want, "replayed event differs from the stored one");
    }
    // Then live: the very next message is the next change.
    bob.act(q, "fail", json!({ "reason": "broke" }))
        .await
        .expect(200);
    let live = ws.recv().await;
    assert_eq!(live["type"], "task.failed", "{live}");
    assert_eq!(id_of(&live), id_of(history(app, q).await.last().unwrap()));
    ws.close().await;
    Missed { last, p, q, live }
}

async fn a_resume_replays_exactly_what_was_missed_then_live(app: TestApp) {
    let (alice, bob) = (app.actor("human", "alice"), app.actor("agent", "bob"));
    resume_after_missing(&app, &alice, &bob).await;
}

/// A filtered resume replays only what matches; resuming at the newest id
/// replays nothing (the next message is the next change); a cursor of 0
/// replays everything ever stored.
async fn filtered_newest_and_zero_cursors(app: TestApp) {
    let (alice, bob) = (app.actor("human", "alice"), app.actor("agent", "bob"));
    let Missed { last, p, q, live } = resume_after_missing(&app, &alice, &bob).await;
    let mut ws2 = WsConn::open(&app).await;
    ws2.subscribe("q-only", json!({ "after": last, "task_id": q }))
        .await;
    let only_q = ws2.events_of("q-only", |e| is(e, "task.failed", q)).await;
    assert_eq!(ids(&only_q), ids(&history(&app, q).await));
    ws2.send(json!({ "type": "unsubscribe", "id": "q-only" }))
        .await;
    assert_eq!(
        ws2.recv().await,
        json!({ "type": "unsubscribed", "id": "q-only" })
    );
    let newest = id_of(&live);
    let tip = json!({ "after": newest, "event_types": ["task.reopened"] });
    ws2.subscribe("tip", tip).await;
    alice
        .act(q, "reopen", json!({ "reason": "retry" }))
        .await
        .expect(200);
    let next = ws2.recv().await;
    assert_eq!(next["subscription_id"], "tip", "{next}");
    assert!(is(&next, "task.reopened", q), "{next}");
    assert!(id_of(&next) > newest);
    ws2.send(json!({ "type": "unsubscribe", "id": "tip" }))
        .await;
    assert_eq!(
        ws2.recv().await,
        json!({ "type": "unsubscribed", "id": "tip" })
    );
    ws2.subscribe("all", json!({ "after": 0 })).await;
    let everything = ws2.events_of("all", |e| is(e, "task.reopened", q)).await;
    assert_eq!(ids(&everything), ids(&histories(&app, &[p, q]).await));
    ws2.close().await;
}

/// Many stored events and a writer that keeps going while a client replays
/// from 0: the received ids are exactly the stored ones, strictly increasing.
async fn replay_while_writing(app: TestApp) {
    const SEED_CLIENTS: usize = 6;
    const SEED_PER_CLIENT: usize = 100; // > one replay page of 500 in all
    const LIVE_WRITES: usize = 200;

    let c = app.actor("agent", "writer");
    let a = id_of(&c.create_task(json!({ "title": "A" })).await);
    let b = id_of(&c.create_task(json!({ "title": "B" })).await);
    let seeders: Vec<_> = (0..SEED_CLIENTS)
        .map(|n| {
            let c = app.actor("agent", &format!("seed-{n}"));
            tokio::spawn(async move {
                for i in 0..SEED_PER_CLIENT {
                    message(&c, a, &format!("seed {n}/{i}")).await;
                }
            })
        })
        .collect();
    for s in seeders {
        s.await.unwrap();
    }

    let written = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (c, written) = (c.clone(), written.clone());
        tokio::spawn(async move {
            for i in 0..LIVE_WRITES {
                message(&c, b, &format!("live {i}")).await;
                written.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    while written.load(Ordering::SeqCst) < 5 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }

    let mut ws = WsConn::open(&app).await;
    ws.subscribe("r", json!({ "after": 0 })).await;
    let mid_replay = written.load(Ordering::SeqCst);
    writer.await.unwrap();
    let last_msg = message(&c, b, "the end").await;
    let got = ws
        .events_of("r", |e| {
            e["type"] == "task.message" && e["data"]["message"]["id"] == last_msg
        })
        .await;

    let stored = ids(&histories(&app, &[a, b]).await);
    let got_ids = ids(&got);
    assert_strictly_increasing(&got_ids);
    assert_eq!(
        got_ids.len(),
        stored.len(),
        "received {} of {} events",
        got_ids.len(),
        stored.len()
    );
    assert_eq!(
        got_ids, stored,
        "received ids differ from the stored history"
    );
    assert!(
        mid_replay < LIVE_WRITES,
        "the writer finished before the subscription started; the test did not overlap"
    );
    eprintln!(
        "replay_while_writing: {} events, subscribed after {mid_replay} of {LIVE_WRITES} live writes",
        got_ids.len()
    );
    ws.close().await;
}
