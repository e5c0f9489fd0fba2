//! `POST/GET /tasks/:id/messages` and `GET /tasks/:id/events` (SPEC §6): exact
//! shapes, order, `after`/`limit` paging, and the event each message writes.

use serde_json::{Value, json};

use crate::common::TestApp;
use crate::rest_tasks::{assert_task, assert_time, id, keys, set};

const MESSAGE_KEYS: [&str; 7] = [
    "id",
    "task_id",
    "actor_type",
    "actor_id",
    "actor_name",
    "parts",
    "created_at",
];

const EVENT_KEYS: [&str; 12] = [
    "id",
    "type",
    "task_id",
    "org",
    "project",
    "channel",
    "task_type",
    "actor_type",
    "actor_id",
    "actor_name",
    "created_at",
    "data",
];

async fn message_thread(app: TestApp) {
    let c = app.actor("human", "mia");
    let tid = id(&c.create_task(json!({ "title": "chatty" })).await);
    let path = format!("/tasks/{tid}/messages");
    let first = c
        .post(
            &path,
            json!({ "parts": [{ "type": "text", "content": "hello" }] }),
        )
        .await
        .expect(201);
    assert_eq!(keys(&first), set(&["message"]));
    let m = &first["message"];
    assert_eq!(keys(m), set(&MESSAGE_KEYS));
    assert!(m["id"].is_i64());
    assert_eq!(
        (&m["task_id"], &m["actor_type"], &m["actor_id"]),
        (&json!(tid), &json!("human"), &json!("mia"))
    );
    assert!(m["actor_name"].is_null());
    assert_eq!(m["parts"], json!([{ "type": "text", "content": "hello" }]));
    assert_time(&m["created_at"], "created_at");
    let rich = c
        .post(
            &path,
            json!({ "parts": [
                { "type": "data", "content": { "n": [1, 2] } },
                { "type": "url", "url": "https://example.com/x" },
                { "type": "file", "url": "https://example.com/f.png", "mime": "image/png" },
            ] }),
        )
        .await
        .expect(201);
    assert_eq!(
        rich["message"]["parts"],
        json!([
            { "type": "data", "content": { "n": [1, 2] } },
            { "type": "url", "url": "https://example.com/x" },
            { "type": "file", "url": "https://example.com/f.png", "mime": "image/png" },
        ])
    );
    let third = c
        .post(
            &path,
            json!({ "parts": [{ "type": "text", "content": "bye" }] }),
        )
        .await
        .expect(201);
    let ids: Vec<i64> = [&first, &rich, &third]
        .iter()
        .map(|b| id(&b["message"]))
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids grow: {ids:?}");

    let all = c.get(&path).await.expect(200);
    assert_eq!(keys(&all), set(&["messages"]));
    let list = all["messages"].as_array().unwrap();
    assert_eq!(
        list.to_vec(),
        vec![
            first["message"].clone(),
            rich["message"].clone(),
            third["message"].clone()
        ],
        "oldest first, as posted"
    );
    let page = c.get(&format!("{path}?limit=2")).await.expect(200);
    assert_eq!(page["messages"].as_array().unwrap().len(), 2);
    let after = c.get(&format!("{path}?after={}", ids[0])).await.expect(200);
    let after_ids: Vec<i64> = after["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(id)
        .collect();
    assert_eq!(after_ids, ids[1..]);
    let one = c
        .get(&format!("{path}?after={}&limit=1", ids[0]))
        .await
        .expect(200);
    assert_eq!(one["messages"].as_array().unwrap().len(), 1);
    assert_eq!(id(&one["messages"][0]), ids[1]);
    // The single-task read carries the same thread.
    assert_eq!(
        c.get(&format!("/tasks/{tid}")).await.expect(200)["task"]["messages"],
        all["messages"]
    );
    // Each message is an event carrying it.
    let events = c.get(&format!("/tasks/{tid}/events")).await.expect(200);
    let msgs: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "task.message")
        .collect();
    assert_eq!(msgs.len(), 3);
    assert_eq!(msgs[0]["data"]["message"], first["message"]);
    assert_eq!(msgs[0]["data"]["task"]["id"], tid);

    c.get("/tasks/999999/messages").await.expect_error(404);
    c.post(
        "/tasks/999999/messages",
        json!({ "parts": [{ "type": "text", "content": "x" }] }),
    )
    .await
    .expect_error(404);
    c.get(&format!("{path}?limit=0")).await.expect_error(400);
}

async fn task_history(app: TestApp) {
    let c = app.actor("agent", "historian");
    let tid = id(&c
        .create_task(json!({ "title": "h", "channel": "ops", "type": "bug" }))
        .await);
    c.patch(&format!("/tasks/{tid}"), json!({ "priority": 9 }))
        .await
        .expect(200);
    c.post(&format!("/tasks/{tid}/claim"), json!({}))
        .await
        .expect(200);
    c.post(
        &format!("/tasks/{tid}/messages"),
        json!({ "parts": [{ "type": "text", "content": "working" }] }),
    )
    .await
    .expect(201);
    c.post(
        &format!("/tasks/{tid}/complete"),
        json!({ "outputs": { "ok": true } }),
    )
    .await
    .expect(200);
    let body = c.get(&format!("/tasks/{tid}/events")).await.expect(200);
    assert_eq!(keys(&body), set(&["events"]));
    let events = body["events"].as_array().unwrap();
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
    let ids: Vec<i64> = events.iter().map(id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids grow: {ids:?}");

    let path = format!("/tasks/{tid}/events");
    let after = c.get(&format!("{path}?after={}", ids[1])).await.expect(200);
    assert_eq!(
        after["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(id)
            .collect::<Vec<_>>(),
        ids[2..]
    );
    let first_two = c.get(&format!("{path}?limit=2")).await.expect(200);
    assert_eq!(
        first_two["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(id)
            .collect::<Vec<_>>(),
        ids[..2]
    );
    let window = c
        .get(&format!("{path}?after={}&limit=2", ids[0]))
        .await
        .expect(200);
    assert_eq!(
        window["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(id)
            .collect::<Vec<_>>(),
        ids[1..3]
    );
    let last = ids[4];
    assert_eq!(
        c.get(&format!("{path}?after={last}")).await.expect(200),
        json!({ "events": [] })
    );
    c.get("/tasks/999999/events").await.expect_error(404);
    c.get(&format!("{path}?limit=0")).await.expect_error(400);
    c.get(&format!("{path}?after=x")).await.expect_error(400);
}

crate::on_both_backends!(message_thread, task_history);
