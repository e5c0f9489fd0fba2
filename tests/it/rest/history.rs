//! `GET /tasks/:id/events` (SPEC §6): every change of a task as an event of
//! the SPEC's shape, in order, paged by `after`/`limit`.

use serde_json::{Value, json};

use crate::common::shapes::{EVENT_KEYS, assert_task, assert_time, id, keys, set};
use crate::common::{Client, TestApp};

crate::on_both_backends!(
    every_change_is_an_event_in_order,
    each_event_carries_the_task_after_the_change,
    history_pages_by_after_and_limit,
    a_missing_task_or_a_bad_cursor_is_refused,
);

/// A task of `agent:historian` with five events: created, updated, claimed,
/// message, completed. Returns its id and its events.
async fn five_events(c: &Client) -> (i64, Vec<Value>) {
    let tid = id(&c
        .create_task(json!({ "title": "h", "channel": "ops", "type": "bug" }))
        .await);
    c.patch(&format!("/tasks/{tid}"), json!({ "priority": 9 }))
        .await
        .expect(200);
    c.act(tid, "claim", json!({})).await.expect(200);
    c.post(
        &format!("/tasks/{tid}/messages"),
        json!({ "parts": [{ "type": "text", "content": "working" }] }),
    )
    .await
    .expect(201);
    c.act(tid, "complete", json!({ "outputs": { "ok": true } }))
        .await
        .expect(200);
    let body = c.get(&format!("/tasks/{tid}/events")).await.expect(200);
    assert_eq!(keys(&body), set(&["events"]));
    (tid, body["events"].as_array().unwrap().clone())
}

fn ids_of(body: &Value) -> Vec<i64> {
    body["events"].as_array().unwrap().iter().map(id).collect()
}

async fn every_change_is_an_event_in_order(app: TestApp) {
    let c = app.actor("agent", "historian");
    let (_, events) = five_events(&c).await;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "task.created",
            "task.updated",
            "task.claimed",
            "task.message",
            "task.completed"
        ]
    );
    let ids: Vec<i64> = events.iter().map(id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids grow: {ids:?}");
}

async fn each_event_carries_the_task_after_the_change(app: TestApp) {
    let c = app.actor("agent", "historian");
    let (tid, events) = five_events(&c).await;
    let statuses = [
        "pending",
        "pending",
        "in_progress",
        "in_progress",
        "completed",
    ];
    for (e, status) in events.iter().zip(statuses) {
        assert_eq!(keys(e), set(&EVENT_KEYS), "event keys: {e}");
        assert_eq!(
            (&e["task_id"], &e["org"], &e["project"]),
            (&json!(tid), &json!("default"), &json!("main"))
        );
        assert_eq!(
            (
                &e["channel"],
                &e["task_type"],
                &e["actor_type"],
                &e["actor_id"]
            ),
            (
                &json!("ops"),
                &json!("bug"),
                &json!("agent"),
                &json!("historian")
            )
        );
        assert!(e["actor_name"].is_null());
        assert_time(&e["created_at"], "created_at");
        assert_task(&e["data"]["task"]);
        assert_eq!(e["data"]["task"]["status"], status, "{e}");
    }
    assert_eq!(events[1]["data"]["task"]["priority"], 9);
    assert_eq!(
        events[4]["data"]["task"]["outputs"],
        json!([{ "ok": true }])
    );
    // Every field of SPEC §7 is there.
    let ev = &events[0];
    for f in EVENT_KEYS {
        assert!(ev.get(f).is_some(), "event lacks {f}: {ev}");
    }
    assert_eq!(ev["type"], "task.created");
}

async fn history_pages_by_after_and_limit(app: TestApp) {
    let c = app.actor("agent", "historian");
    let (tid, events) = five_events(&c).await;
    let ids: Vec<i64> = events.iter().map(id).collect();
    let path = format!("/tasks/{tid}/events");
    let after = c.get(&format!("{path}?after={}", ids[1])).await.expect(200);
    assert_eq!(ids_of(&after), ids[2..]);
    let first_two = c.get(&format!("{path}?limit=2")).await.expect(200);
    assert_eq!(ids_of(&first_two), ids[..2]);
    let window = c
        .get(&format!("{path}?after={}&limit=2", ids[0]))
        .await
        .expect(200);
    assert_eq!(ids_of(&window), ids[1..3]);
    assert_eq!(
        c.get(&format!("{path}?limit=1&after={}", ids[0]))
            .await
            .expect(200)["events"][0]["type"],
        "task.updated"
    );
    let last = ids[4];
    assert_eq!(
        c.get(&format!("{path}?after={last}")).await.expect(200),
        json!({ "events": [] })
    );
}

async fn a_missing_task_or_a_bad_cursor_is_refused(app: TestApp) {
    let c = app.actor("agent", "historian");
    let (tid, _) = five_events(&c).await;
    let path = format!("/tasks/{tid}/events");
    c.get("/tasks/999999/events").await.expect_error(404);
    c.get(&format!("{path}?limit=0")).await.expect_error(400);
    c.get(&format!("{path}?after=x")).await.expect_error(400);
}
