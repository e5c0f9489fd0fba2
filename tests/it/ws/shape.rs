//! The shape of a `/ws` event (SPEC §7): every field, on a created /
//! claimed / message / completed sequence by named actors; the live events
//! are the stored ones plus the subscription id.

use serde_json::{Value, json};

use crate::common::TestApp;
use crate::common::ws::{WsConn, history, ids, is, send_named};

crate::on_both_backends!(
    events_arrive_in_order_as_stored,
    each_event_carries_every_field_and_the_task_after_the_change,
);

const ALICE: (&str, &str, &str) = ("human", "alice", "Alice A.");
const BOT: (&str, &str, &str) = ("agent", "bot-7", "Builder Bot");

/// What the sequence wrote: the task after each step, and the message.
struct Sequence {
    tid: i64,
    created: Value,
    claimed: Value,
    message: Value,
    completed: Value,
    parts: Value,
    outputs: Value,
}

/// Alice creates a task; the bot claims it, posts a message and completes it.
async fn sequence(app: &TestApp) -> Sequence {
    let body = json!({ "title": "shape", "channel": "ops", "type": "review",
                       "priority": 7, "payload": { "k": [1, 2] } });
    let created = send_named(app, "/tasks", body, ALICE, 201).await["task"].clone();
    let tid = created["id"].as_i64().unwrap();
    let claimed =
        send_named(app, &format!("/tasks/{tid}/claim"), json!({}), BOT, 200).await["task"].clone();
    let parts = json!([{ "type": "text", "content": "working on it" },
                       { "type": "data", "content": { "step": 1 } }]);
    let path = format!("/tasks/{tid}/messages");
    let message =
        send_named(app, &path, json!({ "parts": parts }), BOT, 201).await["message"].clone();
    let outputs = json!({ "result": "ok" });
    let path = format!("/tasks/{tid}/complete");
    let completed =
        send_named(app, &path, json!({ "outputs": outputs }), BOT, 200).await["task"].clone();
    Sequence {
        tid,
        created,
        claimed,
        message,
        completed,
        parts,
        outputs,
    }
}

/// Subscribes, runs the sequence, and returns it with the events received.
async fn watched(app: &TestApp) -> (Sequence, Vec<Value>) {
    let mut ws = WsConn::open(app).await;
    ws.subscribe("s1", json!({})).await;
    let seq = sequence(app).await;
    let events = ws
        .events_of("s1", |e| is(e, "task.completed", seq.tid))
        .await;
    ws.close().await;
    (seq, events)
}

async fn events_arrive_in_order_as_stored(app: TestApp) {
    let (seq, events) = watched(&app).await;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "task.created",
            "task.claimed",
            "task.message",
            "task.completed"
        ]
    );
    let stored = history(&app, seq.tid).await;
    assert_eq!(
        ids(&events),
        ids(&stored),
        "live ids differ from the task history"
    );
}

async fn each_event_carries_every_field_and_the_task_after_the_change(app: TestApp) {
    let (seq, events) = watched(&app).await;
    let stored = history(&app, seq.tid).await;
    let expected = [
        (ALICE, &seq.created),
        (BOT, &seq.claimed),
        (BOT, &seq.claimed), // a message does not change the task
        (BOT, &seq.completed),
    ];
    for ((e, s), ((atype, aid, aname), task)) in events.iter().zip(&stored).zip(expected) {
        assert_eq!(e["subscription_id"], "s1", "{e}");
        assert!(e["id"].as_i64().is_some_and(|id| id > 0), "{e}");
        assert_eq!(e["task_id"], seq.tid, "{e}");
        assert_eq!(e["channel"], "ops", "{e}");
        assert_eq!(e["actor_type"], atype, "{e}");
        assert_eq!(e["actor_id"], aid, "{e}");
        assert_eq!(e["actor_name"], aname, "{e}");
        let at = e["created_at"].as_str().expect("created_at");
        assert!(at.ends_with('Z'), "created_at is not UTC: {at}");
        chrono::DateTime::parse_from_rfc3339(at).expect("created_at is RFC 3339");
        assert_eq!(
            e["data"]["task"], *task,
            "data.task is not the task after the change"
        );
        // The live event is the stored one plus the subscription id.
        let mut live = e.clone();
        live.as_object_mut().unwrap().remove("subscription_id");
        assert_eq!(live, *s);
    }
    assert_eq!(events[0]["data"]["task"]["status"], "pending");
    assert_eq!(events[1]["data"]["task"]["status"], "in_progress");
    assert_eq!(events[1]["data"]["task"]["assignee_id"], "bot-7");
    assert_eq!(events[2]["data"]["message"], seq.message);
    assert_eq!(events[2]["data"]["message"]["parts"], seq.parts);
    assert_eq!(events[3]["data"]["task"]["status"], "completed");
    assert_eq!(events[3]["data"]["task"]["outputs"], json!([seq.outputs]));
}
