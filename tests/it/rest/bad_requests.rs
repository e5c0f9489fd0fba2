//! Bad paths and queries on the task routes (SPEC §5): ids that are not
//! positive integers (400), missing tasks and unknown scopes (404), unknown
//! routes and methods (404/405), bad list queries (400), and a mixed batch
//! over tasks and orgs: each gets `{"error","code"}` and writes nothing.

use reqwest::Method;
use serde_json::json;

use crate::common::refusals::{Scope, refused, snapshot};
use crate::common::shapes::id;
use crate::common::{Client, TestApp};

crate::on_both_backends!(
    ids_that_are_not_positive_integers_are_bad_requests,
    missing_tasks_and_unknown_scopes_are_not_found,
    unknown_routes_and_methods_answer_json_errors,
    bad_list_and_page_queries_are_bad_requests,
    a_mixed_batch_of_bad_input_writes_nothing,
);

/// `agent:fuzzer` and its task "keep".
async fn keep(app: &TestApp) -> (Client, i64) {
    let c = app.actor("agent", "fuzzer");
    let t = id(&c.create_task(json!({ "title": "keep" })).await);
    (c, t)
}

async fn ids_that_are_not_positive_integers_are_bad_requests(app: TestApp) {
    let (c, t) = keep(&app).await;
    for bad in ["abc", "1.5", "0", "-1", "99999999999999999999"] {
        for (method, path) in [
            (Method::GET, format!("/tasks/{bad}")),
            (Method::PATCH, format!("/tasks/{bad}")),
            (Method::DELETE, format!("/tasks/{bad}")),
            (Method::GET, format!("/tasks/{bad}/messages")),
            (Method::GET, format!("/tasks/{bad}/events")),
            (Method::POST, format!("/tasks/{bad}/claim")),
        ] {
            refused(&c, Scope::Task(t), method, &path, br#"{"title":"z"}"#, 400).await;
        }
    }
}

async fn missing_tasks_and_unknown_scopes_are_not_found(app: TestApp) {
    let (c, t) = keep(&app).await;
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
        refused(&c, Scope::Task(t), method, path, br#"{"title":"z"}"#, 404).await;
    }
}

async fn unknown_routes_and_methods_answer_json_errors(app: TestApp) {
    let (c, t) = keep(&app).await;
    let tp = format!("/tasks/{t}");
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
        refused(
            &c,
            Scope::Task(t),
            method,
            path,
            br#"{"title":"z"}"#,
            status,
        )
        .await;
    }
}

async fn bad_list_and_page_queries_are_bad_requests(app: TestApp) {
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
        for base in ["/tasks", "/orgs/default/projects/main/tasks"] {
            let path = format!("{base}?{query}");
            refused(&c, Scope::Task(t), Method::GET, &path, b"", 400).await;
        }
    }
    for query in ["limit=0", "limit=x", "after=x"] {
        for what in ["messages", "events"] {
            let path = format!("/tasks/{t}/{what}?{query}");
            refused(&c, Scope::Task(t), Method::GET, &path, b"", 400).await;
        }
    }
}

/// Bad bodies, ids, queries and routes over tasks and orgs, one after another.
async fn a_mixed_batch_of_bad_input_writes_nothing(app: TestApp) {
    let (c, t) = keep(&app).await;
    let before = snapshot(&c, Scope::Task(t)).await;
    let long_title = format!("{{\"title\":\"{}\"}}", "x".repeat(501));
    let cases: Vec<(&str, &str, &str, u16)> = vec![
        ("POST", "/tasks", "{\"title\": ", 400),
        ("POST", "/tasks", "not json", 400),
        ("POST", "/tasks", r#"{"title":"x","priority":0}"#, 422),
        ("POST", "/tasks", r#"{"title":"x","priority":11}"#, 422),
        ("POST", "/tasks", r#"{"title":"x","priority":"high"}"#, 422),
        ("POST", "/tasks", r#"{"description":"no title"}"#, 422),
        ("POST", "/tasks", &long_title, 422),
        ("POST", "/tasks", r#"{"title":"x","payload":[1,2]}"#, 422),
        ("POST", "/tasks", r#"{"title":"x","payload":"s"}"#, 422),
        ("PATCH", "/tasks/ID", r#"{"status":"done"}"#, 422),
        ("PATCH", "/tasks/ID", r#"{"priority":0}"#, 422),
        ("POST", "/tasks/ID/messages", r#"{"parts":[]}"#, 422),
        (
            "POST",
            "/tasks/ID/messages",
            r#"{"parts":[{"type":"video","content":"x"}]}"#,
            422,
        ),
        ("POST", "/tasks/ID/claim", r#"{"lease_duration":5}"#, 422),
        (
            "POST",
            "/orgs/nope/projects/main/tasks",
            r#"{"title":"x"}"#,
            404,
        ),
        (
            "POST",
            "/orgs/default/projects/nope/tasks",
            r#"{"title":"x"}"#,
            404,
        ),
        ("GET", "/tasks/abc", "", 400),
        ("GET", "/tasks?status=done", "", 400),
        ("GET", "/tasks?limit=-1", "", 400),
        ("GET", "/tasks?priority=zero", "", 400),
        ("GET", "/tasks?sort_by=color", "", 400),
        ("GET", "/tasks?created_after=yesterday", "", 400),
        ("GET", "/no/such/route", "", 404),
        ("POST", "/orgs", r#"{"slug":"Bad Slug"}"#, 422),
        ("POST", "/orgs", r#"{"slug":"default"}"#, 409),
        ("DELETE", "/orgs/default", "", 409),
        ("DELETE", "/orgs/default/projects/main", "", 409),
    ];
    for (method, path, body, status) in cases {
        let path = path.replace("ID", &t.to_string());
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        refused(&c, Scope::Task(t), m, &path, body.as_bytes(), status).await;
    }
    let huge = format!(
        "{{\"title\":\"x\",\"description\":\"{}\"}}",
        "y".repeat(10 * 1024 * 1024)
    );
    refused(
        &c,
        Scope::Task(t),
        Method::POST,
        "/tasks",
        huge.as_bytes(),
        413,
    )
    .await;
    assert_eq!(
        snapshot(&c, Scope::Task(t)).await,
        before,
        "bad input wrote tasks or events"
    );
}
