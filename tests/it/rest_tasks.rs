//! REST task routes (SPEC §6): health, task CRUD, the message thread and the
//! history, with exact JSON shapes (SPEC §2 fields, RFC 3339 `…Z` times).
//! The thread and history are in `rest_tasks_thread`, lists in
//! `rest_tasks_list`, scoped routes and stats in `rest_tasks_scoped`, bad
//! input in `rest_tasks_bad`.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Client, TestApp};

/// Every field of a task as REST returns it (SPEC §2, plus `blocked_by` of §3).
pub const TASK_KEYS: [&str; 29] = [
    "id",
    "org",
    "project",
    "project_id",
    "title",
    "description",
    "type",
    "channel",
    "priority",
    "status",
    "payload",
    "outputs",
    "source_type",
    "source_id",
    "source_name",
    "assignee_type",
    "assignee_id",
    "assignee_name",
    "lease_expires",
    "reason",
    "parent_id",
    "depends_on",
    "blocked_by",
    "attempts",
    "max_attempts",
    "created_at",
    "updated_at",
    "claimed_at",
    "completed_at",
];

/// The keys of a JSON object, sorted.
#[track_caller]
pub fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

/// A sorted key set from a list of names.
pub fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

/// An RFC 3339 UTC time ending in `Z`.
#[track_caller]
pub fn assert_time(v: &Value, what: &str) {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {v}"));
    assert!(
        s.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(s).is_ok(),
        "{what} is not RFC 3339 UTC: {s}"
    );
}

/// A time or null.
#[track_caller]
pub fn assert_opt_time(v: &Value, what: &str) {
    if !v.is_null() {
        assert_time(v, what);
    }
}

#[track_caller]
fn assert_opt_str(v: &Value, what: &str) {
    assert!(
        v.is_null() || v.is_string(),
        "{what} must be string|null: {v}"
    );
}

/// A task object: exactly the SPEC fields, each of the right type.
#[track_caller]
pub fn assert_task(t: &Value) {
    assert_eq!(keys(t), set(&TASK_KEYS), "task keys: {t}");
    assert!(t["id"].as_i64().is_some_and(|id| id > 0), "id: {t}");
    assert!(t["project_id"].is_i64(), "project_id: {t}");
    for f in ["org", "project", "title", "type", "channel", "source_id"] {
        assert!(t[f].as_str().is_some_and(|s| !s.is_empty()), "{f}: {t}");
    }
    let p = t["priority"].as_i64().unwrap();
    assert!((1..=10).contains(&p), "priority: {t}");
    let statuses = [
        "pending",
        "in_progress",
        "completed",
        "cancelled",
        "failed",
        "rejected",
    ];
    assert!(statuses.contains(&t["status"].as_str().unwrap()), "{t}");
    assert!(
        ["human", "agent", "system"].contains(&t["source_type"].as_str().unwrap()),
        "{t}"
    );
    assert!(t["payload"].is_object() && t["outputs"].is_array(), "{t}");
    for f in [
        "description",
        "source_name",
        "assignee_type",
        "assignee_id",
        "assignee_name",
        "reason",
    ] {
        assert_opt_str(&t[f], f);
    }
    for f in ["depends_on", "blocked_by"] {
        assert!(
            t[f].as_array().unwrap().iter().all(Value::is_i64),
            "{f}: {t}"
        );
    }
    assert!(t["parent_id"].is_null() || t["parent_id"].is_i64(), "{t}");
    assert!(t["attempts"].as_i64().is_some_and(|a| a >= 0), "{t}");
    assert!(
        t["max_attempts"].is_null() || t["max_attempts"].is_i64(),
        "{t}"
    );
    assert_time(&t["created_at"], "created_at");
    assert_time(&t["updated_at"], "updated_at");
    for f in ["lease_expires", "claimed_at", "completed_at"] {
        assert_opt_time(&t[f], f);
    }
}

/// A `{"task": …}` body: the wrapper and the task; returns the task.
#[track_caller]
pub fn task_of(body: &Value) -> Value {
    assert_eq!(keys(body), set(&["task"]), "wrapper: {body}");
    assert_task(&body["task"]);
    body["task"].clone()
}

/// The `id` of a task (or any record).
#[track_caller]
pub fn id(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("no id: {v}"))
}

/// The titles of a `{"tasks": …}` page, in order.
#[track_caller]
pub fn titles(page: &Value) -> Vec<String> {
    page["tasks"]
        .as_array()
        .unwrap_or_else(|| panic!("no tasks: {page}"))
        .iter()
        .map(|t| t["title"].as_str().unwrap().to_owned())
        .collect()
}

/// The event types of a task's history.
pub async fn event_types(c: &Client, task: i64) -> Vec<String> {
    c.get(&format!("/tasks/{task}/events")).await.expect(200)["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

async fn health_shape(app: TestApp) {
    let h = app.client().get("/health").await.expect(200);
    assert_eq!(
        keys(&h),
        set(&["status", "timestamp", "version", "database"])
    );
    assert_eq!((&h["status"], &h["database"]), (&json!("ok"), &json!("ok")));
    assert!(h["version"].as_str().is_some_and(|v| !v.is_empty()));
    assert_time(&h["timestamp"], "timestamp");
}

async fn create_read_update_delete(app: TestApp) {
    let c = app.actor("agent", "creator");
    let full = c
        .post(
            "/tasks",
            json!({ "title": "Review PR", "description": "look at it", "type": "code-review",
                    "channel": "ops", "priority": 8, "payload": { "pr": 42 }, "max_attempts": 3 }),
        )
        .await
        .expect(201);
    let t = task_of(&full);
    let tid = id(&t);
    let expected = json!({
        "org": "default", "project": "main", "title": "Review PR", "description": "look at it",
        "type": "code-review", "channel": "ops", "priority": 8, "status": "pending",
        "payload": { "pr": 42 }, "outputs": [], "source_type": "agent", "source_id": "creator",
        "source_name": null, "assignee_type": null, "assignee_id": null, "assignee_name": null,
        "lease_expires": null, "reason": null, "parent_id": null, "depends_on": [],
        "blocked_by": [], "attempts": 0, "max_attempts": 3, "claimed_at": null,
        "completed_at": null,
    });
    for (k, v) in expected.as_object().unwrap() {
        assert_eq!(&t[k], v, "field {k} of {t}");
    }
    assert_eq!(t["created_at"], t["updated_at"]);

    // Defaults, and a title that is trimmed.
    let d = c.create_task(json!({ "title": "  padded  " })).await;
    assert_task(&d);
    assert_eq!(
        [
            &d["title"],
            &d["type"],
            &d["channel"],
            &d["priority"],
            &d["payload"]
        ],
        [
            &json!("padded"),
            &json!("task"),
            &json!("default"),
            &json!(5),
            &json!({})
        ]
    );
    assert!(d["description"].is_null() && d["max_attempts"].is_null());
    assert!(id(&d) > tid, "ids grow");
    // A 500-character title is the longest allowed.
    let long = c.create_task(json!({ "title": "t".repeat(500) })).await;
    assert_eq!(long["title"].as_str().unwrap().chars().count(), 500);

    // GET adds the thread and nothing else.
    let got = c.get(&format!("/tasks/{tid}")).await.expect(200);
    assert_eq!(keys(&got), set(&["task"]));
    let mut with_messages = TASK_KEYS.to_vec();
    with_messages.push("messages");
    assert_eq!(keys(&got["task"]), set(&with_messages));
    assert_eq!(got["task"]["messages"], json!([]));
    let mut bare = got["task"].clone();
    bare.as_object_mut().unwrap().remove("messages");
    assert_eq!(bare, t, "GET returns what POST returned");

    // PATCH every editable field.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let patched = c
        .patch(
            &format!("/tasks/{tid}"),
            json!({ "title": "Review PR #42", "description": "carefully", "priority": 10,
                    "type": "approval", "channel": "support", "payload": { "pr": 43 },
                    "max_attempts": 5 }),
        )
        .await
        .expect(200);
    let p = task_of(&patched);
    assert_eq!(
        (&p["title"], &p["description"], &p["priority"], &p["type"]),
        (
            &json!("Review PR #42"),
            &json!("carefully"),
            &json!(10),
            &json!("approval")
        )
    );
    assert_eq!(
        (&p["channel"], &p["payload"], &p["max_attempts"]),
        (&json!("support"), &json!({ "pr": 43 }), &json!(5))
    );
    assert_eq!(p["created_at"], t["created_at"]);
    assert!(p["updated_at"].as_str() > t["updated_at"].as_str());
    assert_eq!(
        c.get(&format!("/tasks/{tid}")).await.expect(200)["task"]["title"],
        "Review PR #42",
        "the change is stored"
    );
    // null clears nullable fields; an unchanged patch writes no event.
    let cleared = c
        .patch(
            &format!("/tasks/{tid}"),
            json!({ "description": null, "max_attempts": null }),
        )
        .await
        .expect(200);
    assert!(cleared["task"]["description"].is_null() && cleared["task"]["max_attempts"].is_null());
    let history = event_types(&c, tid).await;
    assert_eq!(history, ["task.created", "task.updated", "task.updated"]);
    let same = c
        .patch(
            &format!("/tasks/{tid}"),
            json!({ "title": "Review PR #42" }),
        )
        .await
        .expect(200);
    assert_eq!(same["task"], cleared["task"]);
    assert_eq!(
        event_types(&c, tid).await,
        history,
        "a no-op wrote an event"
    );

    // A status in a PATCH goes through the lifecycle.
    let claimed = c
        .patch(&format!("/tasks/{tid}"), json!({ "status": "in_progress" }))
        .await
        .expect(200);
    let ct = task_of(&claimed);
    assert_eq!(
        (&ct["status"], &ct["assignee_id"], &ct["attempts"]),
        (&json!("in_progress"), &json!("creator"), &json!(1))
    );
    assert_time(&ct["lease_expires"], "lease_expires");
    assert_time(&ct["claimed_at"], "claimed_at");
    // Setting `in_progress` on someone else's live claim is a claim, refused as one.
    let refused = app
        .actor("agent", "intruder")
        .patch(&format!("/tasks/{tid}"), json!({ "status": "in_progress" }))
        .await
        .expect_error(409);
    assert!(
        refused["error"].as_str().unwrap().contains("claimed by"),
        "{refused}"
    );
    let still = c.get(&format!("/tasks/{tid}")).await.expect(200);
    assert_eq!(
        (
            &still["task"]["assignee_id"],
            &still["task"]["lease_expires"]
        ),
        (&ct["assignee_id"], &ct["lease_expires"])
    );
    let done = c
        .patch(&format!("/tasks/{tid}"), json!({ "status": "completed" }))
        .await
        .expect(200);
    assert_eq!(done["task"]["status"], "completed");
    assert_time(&done["task"]["completed_at"], "completed_at");
    assert!(done["task"]["lease_expires"].is_null());

    // DELETE: `{"deleted":true,"id"}`, then the task is gone everywhere.
    let before = c.get("/tasks").await.expect(200)["count"].as_u64().unwrap();
    let deleted = c.delete(&format!("/tasks/{tid}")).await.expect(200);
    assert_eq!(deleted, json!({ "deleted": true, "id": tid }));
    let gone = c.get(&format!("/tasks/{tid}")).await.expect_error(404);
    assert_eq!(keys(&gone), set(&["error", "code"]));
    assert_eq!(gone["code"], "NOT_FOUND");
    c.delete(&format!("/tasks/{tid}")).await.expect_error(404);
    c.patch(&format!("/tasks/{tid}"), json!({ "title": "again" }))
        .await
        .expect_error(404);
    c.get(&format!("/tasks/{tid}/events"))
        .await
        .expect_error(404);
    let after = c.get("/tasks").await.expect(200)["count"].as_u64().unwrap();
    assert_eq!(after, before - 1);
}

crate::on_both_backends!(health_shape, create_read_update_delete);
