//! `POST/GET /tasks/:id/messages` (SPEC §6): exact shapes, order,
//! `after`/`limit` paging, the single-task read's thread, and the event each
//! message writes.

use serde_json::{Value, json};

use crate::common::shapes::{MESSAGE_KEYS, assert_time, id, keys, set};
use crate::common::{Client, TestApp};

crate::on_both_backends!(
    a_message_comes_back_with_every_field,
    every_part_kind_is_kept_as_sent,
    the_thread_lists_oldest_first_and_pages,
    the_task_read_carries_the_thread,
    each_message_is_an_event_carrying_it,
    a_missing_task_or_a_bad_limit_is_refused,
    text_and_data_parts_and_after_the_last,
);

/// A task by `human:mia` and its messages path.
async fn chatty(c: &Client) -> (i64, String) {
    let tid = id(&c.create_task(json!({ "title": "chatty" })).await);
    (tid, format!("/tasks/{tid}/messages"))
}

fn rich_parts() -> Value {
    json!([
        { "type": "data", "content": { "n": [1, 2] } },
        { "type": "url", "url": "https://example.com/x" },
        { "type": "file", "url": "https://example.com/f.png", "mime": "image/png" },
    ])
}

/// Posts "hello", the rich parts and "bye"; returns the three `{"message"}` bodies.
async fn three_messages(c: &Client, path: &str) -> [Value; 3] {
    let mut out = Vec::new();
    for parts in [
        json!([{ "type": "text", "content": "hello" }]),
        rich_parts(),
        json!([{ "type": "text", "content": "bye" }]),
    ] {
        out.push(c.post(path, json!({ "parts": parts })).await.expect(201));
    }
    out.try_into().unwrap()
}

async fn a_message_comes_back_with_every_field(app: TestApp) {
    let c = app.actor("human", "mia");
    let (tid, path) = chatty(&c).await;
    let [first, _, _] = three_messages(&c, &path).await;
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
}

async fn every_part_kind_is_kept_as_sent(app: TestApp) {
    let c = app.actor("human", "mia");
    let (_, path) = chatty(&c).await;
    let [_, rich, _] = three_messages(&c, &path).await;
    assert_eq!(rich["message"]["parts"], rich_parts());
}

async fn the_thread_lists_oldest_first_and_pages(app: TestApp) {
    let c = app.actor("human", "mia");
    let (_, path) = chatty(&c).await;
    let [first, rich, third] = three_messages(&c, &path).await;
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
}

async fn the_task_read_carries_the_thread(app: TestApp) {
    let c = app.actor("human", "mia");
    let (tid, path) = chatty(&c).await;
    three_messages(&c, &path).await;
    let all = c.get(&path).await.expect(200);
    assert_eq!(
        c.get(&format!("/tasks/{tid}")).await.expect(200)["task"]["messages"],
        all["messages"]
    );
}

async fn each_message_is_an_event_carrying_it(app: TestApp) {
    let c = app.actor("human", "mia");
    let (tid, path) = chatty(&c).await;
    let [first, _, _] = three_messages(&c, &path).await;
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
}

async fn a_missing_task_or_a_bad_limit_is_refused(app: TestApp) {
    let c = app.actor("human", "mia");
    let (_, path) = chatty(&c).await;
    c.get("/tasks/999999/messages").await.expect_error(404);
    c.post(
        "/tasks/999999/messages",
        json!({ "parts": [{ "type": "text", "content": "x" }] }),
    )
    .await
    .expect_error(404);
    c.get(&format!("{path}?limit=0")).await.expect_error(400);
}

/// A text and a data part in one message; `after` the last message is empty.
async fn text_and_data_parts_and_after_the_last(app: TestApp) {
    let c = app.actor("agent", "shaper");
    let id = id(&c.create_task(json!({ "title": "Shape" })).await);
    let msg = c.post(&format!("/tasks/{id}/messages"), json!({ "parts": [{ "type": "text", "content": "hi" }, { "type": "data", "content": { "n": 1 } }] })).await.expect(201);
    assert_eq!(msg["message"]["task_id"], id);
    assert_eq!(msg["message"]["parts"][1]["content"], json!({ "n": 1 }));
    let msgs = c.get(&format!("/tasks/{id}/messages")).await.expect(200);
    assert_eq!(msgs["messages"].as_array().unwrap().len(), 1);
    let after = msg["message"]["id"].as_i64().unwrap();
    assert_eq!(
        c.get(&format!("/tasks/{id}/messages?after={after}"))
            .await
            .expect(200)["messages"],
        json!([])
    );
}
