//! What a transition answers is what it stored and what its event carries:
//! for each action on a task with every optional field set, the answer,
//! the task read back and the `task` of the action's event are equal, field
//! for field. (On PostgreSQL an action that concerns no other task is
//! written in one statement, its answer and event made before the write.)

use serde_json::{Value, json};

use crate::common::TestApp;
use crate::common::shapes::{events_of, read_task, without_messages};

crate::on_both_backends!(
    answer_stored_task_and_event_agree,
    claimed_tasks_and_their_events_agree,
    bulk_created_tasks_and_their_events_agree
);

async fn answer_stored_task_and_event_agree(app: TestApp) {
    let creator = app.actor("agent", "creator");
    let worker = app.actor("agent", "worker");
    let rich = |title: &str| {
        json!({
            "title": title,
            "description": "every field set",
            "type": "review",
            "channel": "answers",
            "priority": 7,
            "payload": { "nested": { "list": [1, 2.5, "three", null, true] }, "unicode": "é✓" },
            "max_attempts": 3,
            "retry": { "backoff": "fixed", "initial_ms": 1000 },
            "due_at": "2099-01-01T00:00:00.000Z",
            "escalate_after_ms": 60000,
        })
    };
    // (action, body) applied in turn; a task is made afresh where the
    // previous action finished it.
    let steps: [(&str, Value); 8] = [
        ("claim", json!({ "lease_duration": 120000 })),
        ("claim", json!({ "lease_duration": 240000 })),
        ("release", json!({ "reason": "later" })),
        ("claim", json!({})),
        (
            "complete",
            json!({ "outputs": { "result": [1, 2], "note": "done" } }),
        ),
        ("reopen", json!({ "reason": "again" })),
        ("claim", json!({})),
        ("fail", json!({ "reason": "broke", "retry": true })),
    ];
    let task = creator.create_task(rich("answers")).await;
    let id = task["id"].as_i64().unwrap();
    for (action, body) in steps {
        let actor = if action == "reopen" {
            &creator
        } else {
            &worker
        };
        let answer = actor.act(id, action, body.clone()).await.expect(200)["task"].clone();
        let stored = without_messages(read_task(&creator, id).await);
        assert_eq!(answer, stored, "{action} {body}: answer vs stored");
        let events = events_of(&creator, id).await;
        let last = events.last().expect("an event");
        assert_eq!(
            last["data"]["task"], stored,
            "{action} {body}: event vs stored"
        );
    }
    // Cancel and reject, by the creator and the worker.
    for (action, actor) in [("cancel", &creator), ("reject", &worker)] {
        let id = creator.create_task(rich(action)).await["id"]
            .as_i64()
            .unwrap();
        let answer = actor
            .act(id, action, json!({ "reason": "no" }))
            .await
            .expect(200)["task"]
            .clone();
        let stored = without_messages(read_task(&creator, id).await);
        assert_eq!(answer, stored, "{action}: answer vs stored");
        let events = events_of(&creator, id).await;
        assert_eq!(
            events.last().unwrap()["data"]["task"],
            stored,
            "{action}: event"
        );
    }
}

/// Claim-next and claim-batch: each claimed task as answered equals the
/// task read back and the task of its `task.claimed` event (on PostgreSQL
/// the event's task is made by the database in the claiming statement).
async fn claimed_tasks_and_their_events_agree(app: TestApp) {
    let creator = app.actor("human", "creator");
    let worker = app.actor("agent", "worker");
    let blocker = creator
        .create_task(json!({ "title": "done first", "channel": "other" }))
        .await;
    let blocker = blocker["id"].as_i64().unwrap();
    worker.act(blocker, "claim", json!({})).await.expect(200);
    worker.act(blocker, "complete", json!({})).await.expect(200);
    let bodies = [
        json!({ "title": "bare", "channel": "claims" }),
        json!({
            "title": "quotes \" and \\ and 'single' and é✓ \u{1F600}",
            "description": "line\nbreak\ttab",
            "type": "review",
            "channel": "claims",
            "priority": 9,
            "payload": { "n": 1.5, "big": 12345678901234_i64, "deep": [[{ "x": null }]], "empty": {} },
            "max_attempts": 5,
            "retry": { "backoff": "exponential", "initial_ms": 500, "max_ms": 60000 },
            "run_at": "2020-01-01T00:00:00.007Z",
            "due_at": "2099-12-31T23:59:59.999Z",
            "escalate_after_ms": 1000,
            "depends_on": [blocker],
        }),
        json!({ "title": "middle", "channel": "claims", "priority": 6, "payload": { "list": [1, "two"] } }),
    ];
    for body in &bodies {
        creator.create_task(body.clone()).await;
    }
    let next = worker
        .post("/tasks/claim-next", json!({ "channel": "claims" }))
        .await
        .expect(200)["task"]
        .clone();
    assert_eq!(next["title"], bodies[1]["title"], "the most urgent first");
    let batch = worker
        .post(
            "/tasks/claim-batch",
            json!({ "channel": "claims", "limit": 5 }),
        )
        .await
        .expect(200)["tasks"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(batch.len(), 2);
    // More urgent but newer: answered (and logged) before an older task
    // that a scan in id order would meet first.
    assert_eq!(batch[0]["title"], bodies[2]["title"]);
    let mut last_event = 0;
    for claimed in std::iter::once(&next).chain(&batch) {
        let id = claimed["id"].as_i64().unwrap();
        let stored = without_messages(read_task(&creator, id).await);
        assert_eq!(*claimed, stored, "answer vs stored");
        let events = events_of(&creator, id).await;
        let last = events.last().unwrap();
        assert_eq!(last["type"], "task.claimed");
        assert_eq!(last["data"]["task"], stored, "event vs stored");
        assert_eq!(last["actor_id"], "worker");
        let event_id = last["id"].as_i64().unwrap();
        assert!(event_id > last_event, "claims logged in the order answered");
        last_event = event_id;
    }
}

/// Bulk create: each task as answered equals the task read back and the
/// task of its `task.created` event (on PostgreSQL the events are made by
/// the database in the inserting statement), in the order given.
async fn bulk_created_tasks_and_their_events_agree(app: TestApp) {
    let creator = app.actor("agent", "bulk");
    let tasks = json!([
        { "title": "plain" },
        {
            "title": "rich \u{2603} \"quoted\"",
            "description": "d",
            "type": "t",
            "channel": "c",
            "priority": 2,
            "payload": { "a": [1, { "b": null }], "s": "x\ny" },
            "max_attempts": 2,
            "retry": { "backoff": "fixed", "initial_ms": 100 },
            "run_at": "2099-06-01T12:00:00.250Z",
            "due_at": "2099-07-01T00:00:00Z",
            "escalate_after_ms": 5,
        },
        { "title": "third", "priority": 10 },
    ]);
    let answer = creator
        .post("/tasks/bulk", json!({ "tasks": tasks }))
        .await
        .expect(201)["tasks"]
        .as_array()
        .unwrap()
        .clone();
    let titles: Vec<&Value> = answer.iter().map(|t| &t["title"]).collect();
    assert_eq!(
        titles,
        [&tasks[0]["title"], &tasks[1]["title"], &tasks[2]["title"]]
    );
    let mut last_event = 0;
    for created in &answer {
        let id = created["id"].as_i64().unwrap();
        let stored = without_messages(read_task(&creator, id).await);
        assert_eq!(*created, stored, "answer vs stored");
        let events = events_of(&creator, id).await;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["type"], "task.created");
        assert_eq!(events[0]["data"]["task"], stored, "event vs stored");
        let event_id = events[0]["id"].as_i64().unwrap();
        assert!(event_id > last_event, "events in the order of the tasks");
        last_event = event_id;
    }
}
