//! Bad bodies on the task routes (SPEC §5): each gets `{"error","code"}` with
//! the right status (400, 413, 422, 409) — never a 500 — and writes nothing:
//! the task list, the target task, its thread, its history, the stats and the
//! project counts are compared before and after every single request.

use reqwest::Method;
use serde_json::json;

use crate::common::refusals::{Scope, refused};
use crate::common::shapes::id;
use crate::common::{Client, TestApp};

crate::on_both_backends!(
    bad_create_bodies_are_refused,
    a_bad_blocker_rolls_the_insert_back,
    a_bad_patch_field_refuses_the_whole_patch,
    bad_message_parts_are_refused,
    bad_action_bodies_are_refused,
    ten_mebibyte_bodies_are_refused_before_they_are_read,
);

/// `agent:fuzzer` with a task "parent" and the target "keep" (priority 4).
async fn keep(app: &TestApp) -> (Client, i64, i64) {
    let c = app.actor("agent", "fuzzer");
    let parent = id(&c.create_task(json!({ "title": "parent" })).await);
    let t = id(&c
        .create_task(json!({ "title": "keep", "description": "d", "priority": 4 }))
        .await);
    (c, parent, t)
}

/// After the refusals the target is as it was, and nothing was added.
async fn assert_kept(c: &Client, t: i64) {
    let kept = c.get(&format!("/tasks/{t}")).await.expect(200)["task"].clone();
    assert_eq!(
        (&kept["title"], &kept["priority"], &kept["status"]),
        (&json!("keep"), &json!(4), &json!("pending"))
    );
    assert_eq!(c.get("/tasks").await.expect(200)["count"], 2);
}

async fn bad_create_bodies_are_refused(app: TestApp) {
    let (c, _, t) = keep(&app).await;
    let long_title = format!(r#"{{"title":"{}"}}"#, "x".repeat(501));
    let create: Vec<(&[u8], u16)> = vec![
        (b"{\"title\": ", 400),
        (b"not json", 400),
        (b"{\"title\":\"x\",}", 400),
        (br#"{"title":"x","priority":0}"#, 422),
        (br#"{"title":"x","priority":11}"#, 422),
        (br#"{"title":"x","priority":-3}"#, 422),
        (br#"{"title":"x","priority":"high"}"#, 422),
        (br#"{"title":"x","priority":5.5}"#, 422),
        (br#"{"description":"no title"}"#, 422),
        (b"{}", 422),
        (b"", 422),
        (br#"{"title":""}"#, 422),
        (br#"{"title":"   "}"#, 422),
        (br#"{"title":null}"#, 422),
        (br#"{"title":42}"#, 422),
        (long_title.as_bytes(), 422),
        (br#"{"title":"x","payload":[1,2]}"#, 422),
        (br#"{"title":"x","payload":"s"}"#, 422),
        (br#"{"title":"x","payload":7}"#, 422),
        (br#"{"title":"x","type":""}"#, 422),
        (br#"{"title":"x","channel":"  "}"#, 422),
        (br#"{"title":"x","max_attempts":0}"#, 422),
        (br#"{"title":"x","parent_id":999999}"#, 422),
        (br#"{"title":"x","depends_on":[999999]}"#, 422),
        (br#"{"title":"x","depends_on":"1"}"#, 422),
        (b"[]", 422),
        (br#"["title"]"#, 422),
        (b"\"title\"", 422),
        (b"null", 422),
        (b"42", 422),
    ];
    for (body, status) in create {
        refused(&c, Scope::Task(t), Method::POST, "/tasks", body, status).await;
    }
    assert_kept(&c, t).await;
}

/// A bad blocker is found after the row is inserted: the insert rolls back.
async fn a_bad_blocker_rolls_the_insert_back(app: TestApp) {
    let (c, parent, t) = keep(&app).await;
    refused(
        &c,
        Scope::Task(t),
        Method::POST,
        "/tasks",
        format!(r#"{{"title":"x","parent_id":{parent},"depends_on":[999999]}}"#).as_bytes(),
        422,
    )
    .await;
    assert_kept(&c, t).await;
}

/// A bad field refuses the whole patch, valid fields included; so does a
/// transition the status does not allow (409).
async fn a_bad_patch_field_refuses_the_whole_patch(app: TestApp) {
    let (c, _, t) = keep(&app).await;
    let patch: Vec<(String, u16)> = vec![
        (r#"{"title": "#.into(), 400),
        (r#"{"title":"new","priority":0}"#.into(), 422),
        (r#"{"title":"new","priority":11}"#.into(), 422),
        (r#"{"title":"new","status":"done"}"#.into(), 422),
        (r#"{"title":"new","status":"PENDING"}"#.into(), 422),
        (r#"{"title":"new","status":7}"#.into(), 422),
        (r#"{"title":""}"#.into(), 422),
        (format!(r#"{{"title":"{}"}}"#, "y".repeat(501)), 422),
        (r#"{"title":"new","payload":[1]}"#.into(), 422),
        (r#"{"title":"new","payload":"x"}"#.into(), 422),
        (r#"{"title":"new","depends_on":[999999]}"#.into(), 422),
        (format!(r#"{{"title":"new","depends_on":[{t}]}}"#), 422),
        (r#"[{"title":"new"}]"#.into(), 422),
        (r#"{"title":"new","status":"completed"}"#.into(), 409),
        (
            r#"{"title":"new","priority":9,"status":"failed"}"#.into(),
            409,
        ),
    ];
    let tp = format!("/tasks/{t}");
    for (body, status) in patch {
        refused(
            &c,
            Scope::Task(t),
            Method::PATCH,
            &tp,
            body.as_bytes(),
            status,
        )
        .await;
    }
    assert_kept(&c, t).await;
}

/// Parts must be a non-empty list of known, well-formed parts.
async fn bad_message_parts_are_refused(app: TestApp) {
    let (c, _, t) = keep(&app).await;
    let mp = format!("/tasks/{t}/messages");
    let messages: Vec<(&[u8], u16)> = vec![
        (b"{\"parts\": [", 400),
        (br#"{"parts":[]}"#, 422),
        (br#"{}"#, 422),
        (br#"{"parts":null}"#, 422),
        (br#"{"parts":"hello"}"#, 422),
        (br#"{"parts":[{"type":"video","content":"x"}]}"#, 422),
        (
            br#"{"parts":[{"type":"text","content":"ok"},{"type":"bogus"}]}"#,
            422,
        ),
        (br#"{"parts":[{"content":"no type"}]}"#, 422),
        (br#"{"parts":["just a string"]}"#, 422),
        (
            br#"{"parts":[{"type":"text","content":{"not":"text"}}]}"#,
            422,
        ),
        (br#"{"parts":[{"type":"text"}]}"#, 422),
        (br#"{"parts":[{"type":"data"}]}"#, 422),
        (br#"{"parts":[{"type":"url"}]}"#, 422),
        (
            br#"{"parts":[{"type":"file","url":"https://x.test/f"}]}"#,
            422,
        ),
    ];
    for (body, status) in messages {
        refused(&c, Scope::Task(t), Method::POST, &mp, body, status).await;
    }
    assert_kept(&c, t).await;
}

async fn bad_action_bodies_are_refused(app: TestApp) {
    let (c, _, t) = keep(&app).await;
    let tp = format!("/tasks/{t}");
    for (path, body) in [
        ("claim", &br#"{"lease_duration":5}"#[..]),
        ("claim", br#"{"lease_duration":86400001}"#),
        ("claim", br#"{"lease_duration":"long"}"#),
        ("cancel", br#"{"reason":7}"#),
    ] {
        let path = format!("{tp}/{path}");
        refused(&c, Scope::Task(t), Method::POST, &path, body, 422).await;
    }
    let claim = format!("{tp}/claim");
    refused(&c, Scope::Task(t), Method::POST, &claim, b"{", 400).await;
    assert_kept(&c, t).await;
}

async fn ten_mebibyte_bodies_are_refused_before_they_are_read(app: TestApp) {
    let (c, _, t) = keep(&app).await;
    let tp = format!("/tasks/{t}");
    let huge = format!(
        r#"{{"title":"x","description":"{}"}}"#,
        "y".repeat(10 * 1024 * 1024)
    );
    for (method, path) in [
        (Method::POST, "/tasks".to_owned()),
        (Method::PATCH, tp.clone()),
        (Method::POST, format!("{tp}/messages")),
        (Method::POST, "/orgs/default/projects/main/tasks".to_owned()),
    ] {
        refused(&c, Scope::Task(t), method, &path, huge.as_bytes(), 413).await;
    }
    assert_kept(&c, t).await;
}
