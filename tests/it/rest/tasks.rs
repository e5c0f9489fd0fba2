//! REST task CRUD (SPEC §6): health, `POST/GET/PATCH/DELETE /tasks…` with
//! exact shapes (SPEC §2 fields, RFC 3339 `…Z` times).

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::shapes::{
    TASK_KEYS, assert_task, assert_task_with_messages, assert_time, event_types, id, keys, set,
    task_of,
};
use crate::common::{Client, TestApp};

crate::on_both_backends!(
    health_names_status_time_version_and_database,
    create_returns_every_field_as_given,
    create_fills_defaults_and_trims_the_title,
    get_adds_the_thread_and_nothing_else,
    patch_changes_every_editable_field,
    patch_null_clears_and_a_no_op_writes_no_event,
    patch_status_goes_through_the_lifecycle,
    delete_removes_the_task_from_every_route,
    each_route_answers_in_shape,
    extreme_numbers_in_a_payload_come_back_as_given,
);

/// A task with every field given, by `agent:creator`.
async fn full_task(c: &Client) -> Value {
    let full = c
        .post(
            "/tasks",
            json!({ "title": "Review PR", "description": "look at it", "type": "code-review",
                    "channel": "ops", "priority": 8, "payload": { "pr": 42 }, "max_attempts": 3 }),
        )
        .await
        .expect(201);
    task_of(&full)
}

async fn health_names_status_time_version_and_database(app: TestApp) {
    let h = app.client().get("/health").await.expect(200);
    assert_eq!(
        keys(&h),
        set(&["status", "timestamp", "version", "database"])
    );
    assert_eq!((&h["status"], &h["database"]), (&json!("ok"), &json!("ok")));
    assert!(h["version"].as_str().is_some_and(|v| !v.is_empty()));
    assert_time(&h["timestamp"], "timestamp");
}

async fn create_returns_every_field_as_given(app: TestApp) {
    let t = full_task(&app.actor("agent", "creator")).await;
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
}

async fn create_fills_defaults_and_trims_the_title(app: TestApp) {
    let c = app.actor("agent", "creator");
    let tid = id(&full_task(&c).await);
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
}

async fn get_adds_the_thread_and_nothing_else(app: TestApp) {
    let c = app.actor("agent", "creator");
    let t = full_task(&c).await;
    let got = c.get(&format!("/tasks/{}", id(&t))).await.expect(200);
    assert_eq!(keys(&got), set(&["task"]));
    let mut with_messages = TASK_KEYS.to_vec();
    with_messages.push("messages");
    assert_eq!(keys(&got["task"]), set(&with_messages));
    assert_eq!(got["task"]["messages"], json!([]));
    let mut bare = got["task"].clone();
    bare.as_object_mut().unwrap().remove("messages");
    assert_eq!(bare, t, "GET returns what POST returned");
}

/// PATCHes every editable field of `t`; returns the patched task.
async fn patch_everything(c: &Client, t: &Value) -> Value {
    tokio::time::sleep(Duration::from_millis(5)).await;
    let patched = c
        .patch(
            &format!("/tasks/{}", id(t)),
            json!({ "title": "Review PR #42", "description": "carefully", "priority": 10,
                    "type": "approval", "channel": "support", "payload": { "pr": 43 },
                    "max_attempts": 5 }),
        )
        .await
        .expect(200);
    task_of(&patched)
}

async fn patch_changes_every_editable_field(app: TestApp) {
    let c = app.actor("agent", "creator");
    let t = full_task(&c).await;
    let p = patch_everything(&c, &t).await;
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
        c.get(&format!("/tasks/{}", id(&t))).await.expect(200)["task"]["title"],
        "Review PR #42",
        "the change is stored"
    );
}

async fn patch_null_clears_and_a_no_op_writes_no_event(app: TestApp) {
    let c = app.actor("agent", "creator");
    let tid = id(&full_task(&c).await);
    patch_everything(&c, &json!({ "id": tid })).await;
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
}

async fn patch_status_goes_through_the_lifecycle(app: TestApp) {
    let c = app.actor("agent", "creator");
    let tid = id(&full_task(&c).await);
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
}

async fn delete_removes_the_task_from_every_route(app: TestApp) {
    let c = app.actor("agent", "creator");
    let tid = id(&full_task(&c).await);
    c.create_task(json!({ "title": "another" })).await;
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

/// POST, GET and PATCH answer tasks of the SPEC's shape; DELETE its confirmation.
async fn each_route_answers_in_shape(app: TestApp) {
    let c = app.actor("agent", "shaper");
    let created = c
        .post("/tasks", json!({ "title": "Shape", "description": "d", "type": "review", "channel": "ops", "priority": 8, "payload": { "a": 1 } }))
        .await
        .expect(201);
    let t = &created["task"];
    assert_task(t);
    assert_eq!(
        (
            t["org"].as_str(),
            t["project"].as_str(),
            t["status"].as_str()
        ),
        (Some("default"), Some("main"), Some("pending"))
    );
    assert_eq!(t["source_id"], "shaper");
    let id = t["id"].as_i64().unwrap();

    let got = c.get(&format!("/tasks/{id}")).await.expect(200);
    assert_task_with_messages(&got["task"]);
    assert_eq!(got["task"]["messages"], json!([]));
    let patched = c
        .patch(
            &format!("/tasks/{id}"),
            json!({ "title": "Shaped", "priority": 9 }),
        )
        .await
        .expect(200);
    assert_eq!(
        (
            patched["task"]["title"].as_str(),
            patched["task"]["priority"].as_i64()
        ),
        (Some("Shaped"), Some(9))
    );
    let deleted = c.delete(&format!("/tasks/{id}")).await.expect(200);
    assert_eq!(deleted, json!({ "deleted": true, "id": id }));
    c.get(&format!("/tasks/{id}")).await.expect_error(404);
}

/// Numbers at the edges of what JSON clients send (found by the REST fuzz:
/// PostgreSQL keeps a payload's numbers as decimals, and one next to the
/// largest double came back out of range, a 500) are stored and read back
/// as given, through every read.
async fn extreme_numbers_in_a_payload_come_back_as_given(app: TestApp) {
    let c = app.actor("agent", "numbers");
    let payload = json!({
        "near_max": -1.7976931348623155e308,
        "max": 1.7976931348623157e308,
        "tiny": 5e-324,
        "small": 2.2250738585072014e-308,
        "big_int": 18446744073709551615u64,
        "neg_int": -9223372036854775808i64,
        "nested": { "list": [1e300, -1e-300, 0.1] },
    });
    let made = c
        .post("/tasks", json!({ "title": "numbers", "payload": payload }))
        .await
        .expect(201);
    let task = task_of(&made);
    assert_eq!(task["payload"], payload);
    let id = id(&task);
    let read = c.get(&format!("/tasks/{id}")).await.expect(200);
    assert_eq!(read["task"]["payload"], payload, "{read}");
    let sub = c
        .post(
            &format!("/tasks/{id}/subtasks"),
            json!({ "title": "sub", "payload": payload }),
        )
        .await
        .expect(201);
    assert_eq!(task_of(&sub)["payload"], payload);
    let list = c.get("/tasks?status=pending").await.expect(200);
    assert!(
        list["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["payload"] == payload),
        "{list}"
    );
}
