//! Bad input on the task routes (SPEC §5): each gets `{"error","code"}` with
//! the right status (400, 404, 405, 413, 422, 409) — never a 500 — and writes
//! nothing: the task list, the target task, its thread and its history are
//! compared before and after every single request.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{Client, TestApp};
use crate::rest_tasks::{id, keys, set};

/// Everything a bad request could have touched.
async fn snapshot(c: &Client, task: i64) -> Vec<Value> {
    let mut out = Vec::new();
    for path in [
        "/tasks?limit=500".to_owned(),
        format!("/tasks/{task}"),
        format!("/tasks/{task}/messages"),
        format!("/tasks/{task}/events"),
        "/tasks/stats".to_owned(),
        "/orgs/default/projects?counts=true".to_owned(),
    ] {
        out.push(c.get(&path).await.expect(200));
    }
    out
}

/// Sends `body` raw and checks the error status, shape and code, and that
/// nothing changed.
async fn refused(c: &Client, task: i64, method: Method, path: &str, body: &[u8], status: u16) {
    let before = snapshot(c, task).await;
    let res = c.send_raw(method.clone(), path, body.to_vec()).await;
    let shown = String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned();
    assert_eq!(
        res.status, status,
        "{method} {path} {shown} answered {}",
        res.body
    );
    let err = res.expect_error(status);
    assert_eq!(
        keys(&err),
        set(&["error", "code"]),
        "{method} {path}: {err}"
    );
    let code = match status {
        400 | 422 => "BAD_REQUEST",
        404 => "NOT_FOUND",
        405 => "METHOD_NOT_ALLOWED",
        409 => "CONFLICT",
        413 => "PAYLOAD_TOO_LARGE",
        _ => unreachable!(),
    };
    assert_eq!(err["code"], code, "{method} {path} {shown}");
    assert_eq!(
        snapshot(c, task).await,
        before,
        "{method} {path} {shown} wrote something"
    );
}

async fn bad_task_input_writes_nothing(app: TestApp) {
    let c = app.actor("agent", "fuzzer");
    let parent = id(&c.create_task(json!({ "title": "parent" })).await);
    let t = id(&c
        .create_task(json!({ "title": "keep", "description": "d", "priority": 4 }))
        .await);
    let tp = format!("/tasks/{t}");
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
        refused(&c, t, Method::POST, "/tasks", body, status).await;
    }
    // A bad blocker is found after the row is inserted: the insert rolls back.
    refused(
        &c,
        t,
        Method::POST,
        "/tasks",
        format!(r#"{{"title":"x","parent_id":{parent},"depends_on":[999999]}}"#).as_bytes(),
        422,
    )
    .await;

    // PATCH: a bad field refuses the whole patch, valid fields included.
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
        // Valid fields with a transition the status does not allow: 409, nothing kept.
        (r#"{"title":"new","status":"completed"}"#.into(), 409),
        (
            r#"{"title":"new","priority":9,"status":"failed"}"#.into(),
            409,
        ),
    ];
    for (body, status) in patch {
        refused(&c, t, Method::PATCH, &tp, body.as_bytes(), status).await;
    }

    // Messages: parts must be a non-empty list of known, well-formed parts.
    let mp = format!("{tp}/messages");
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
        refused(&c, t, Method::POST, &mp, body, status).await;
    }

    // Other actions with bad bodies.
    for (path, body) in [
        ("claim", &br#"{"lease_duration":5}"#[..]),
        ("claim", br#"{"lease_duration":86400001}"#),
        ("claim", br#"{"lease_duration":"long"}"#),
        ("cancel", br#"{"reason":7}"#),
    ] {
        refused(&c, t, Method::POST, &format!("{tp}/{path}"), body, 422).await;
    }
    refused(&c, t, Method::POST, &format!("{tp}/claim"), b"{", 400).await;

    // 10 MiB bodies are refused before they are read.
    let huge = format!(
        r#"{{"title":"x","description":"{}"}}"#,
        "y".repeat(10 * 1024 * 1024)
    );
    for (method, path) in [
        (Method::POST, "/tasks".to_owned()),
        (Method::PATCH, tp.clone()),
        (Method::POST, mp.clone()),
        (Method::POST, "/orgs/default/projects/main/tasks".to_owned()),
    ] {
        refused(&c, t, method, &path, huge.as_bytes(), 413).await;
    }

    // Ids that are not positive integers, missing tasks, unknown scopes.
    for bad in ["abc", "1.5", "0", "-1", "99999999999999999999"] {
        for (method, path) in [
            (Method::GET, format!("/tasks/{bad}")),
            (Method::PATCH, format!("/tasks/{bad}")),
            (Method::DELETE, format!("/tasks/{bad}")),
            (Method::GET, format!("/tasks/{bad}/messages")),
            (Method::GET, format!("/tasks/{bad}/events")),
            (Method::POST, format!("/tasks/{bad}/claim")),
        ] {
            refused(&c, t, method, &path, br#"{"title":"z"}"#, 400).await;
        }
    }
    for (method, path) in [
        (Method::GET, "/tasks/999999"),
        (Method::PATCH, "/tasks/999999"),
        (Method::DELETE, "/tasks/999999"),
        (Method::POST, "/tasks/999999/claim"),
        (Method::POST, "/orgs/nope/projects/main/tasks"),
        (Method::POST, "/orgs/default/projects/nope/tasks"),
        (Method::GET, "/orgs/nope/projects/main/tasks"),
        (Method::GET, "/orgs/default/projects/nope/tasks"),
    ] {
        refused(&c, t, method, path, br#"{"title":"z"}"#, 404).await;
    }

    // Unknown routes and methods answer JSON errors too.
    let claim_path = format!("{tp}/claim");
    for (method, path, status) in [
        (Method::GET, "/nope", 404),
        (Method::POST, "/nope", 404),
        (Method::GET, "/tasks/1/nope", 404),
        (Method::GET, "/orgs/default/projects/main/nope", 404),
        (
            Method::GET,
            "/orgs/default/projects/main/tasks/1/claim/x",
            404,
        ),
        (Method::PUT, "/tasks", 405),
        (Method::PUT, tp.as_str(), 405),
        (Method::DELETE, "/tasks", 405),
        (Method::GET, claim_path.as_str(), 405),
    ] {
        refused(&c, t, method, path, br#"{"title":"z"}"#, status).await;
    }

    let kept = c.get(&tp).await.expect(200)["task"].clone();
    assert_eq!(
        (&kept["title"], &kept["priority"], &kept["status"]),
        (&json!("keep"), &json!(4), &json!("pending"))
    );
    assert_eq!(c.get("/tasks").await.expect(200)["count"], 2);
}

async fn bad_list_queries(app: TestApp) {
    let c = app.actor("agent", "asker");
    let t = id(&c.create_task(json!({ "title": "only" })).await);
    for query in [
        "status=done",
        "status=pending,bogus",
        "status=PENDING",
        "limit=0",
        "limit=-1",
        "limit=ten",
        "offset=-1",
        "offset=x",
        "priority=0",
        "priority=11",
        "priority=zero",
        "min_priority=0",
        "max_priority=11",
        "sort_by=color",
        "sort_dir=up",
        "created_after=yesterday",
        "updated_after=2026-13-01T00:00:00Z",
        "project_id=abc",
        "parent_id=x",
    ] {
        refused(&c, t, Method::GET, &format!("/tasks?{query}"), b"", 400).await;
        refused(
            &c,
            t,
            Method::GET,
            &format!("/orgs/default/projects/main/tasks?{query}"),
            b"",
            400,
        )
        .await;
    }
    for query in ["limit=0", "limit=x", "after=x"] {
        for what in ["messages", "events"] {
            refused(
                &c,
                t,
                Method::GET,
                &format!("/tasks/{t}/{what}?{query}"),
                b"",
                400,
            )
            .await;
        }
    }
}

crate::on_both_backends!(bad_task_input_writes_nothing, bad_list_queries);
