//! Scheduled tasks: a task with `run_at` ahead is `pending` but not
//! claimable (a claim answers 409 naming the time, claim-next skips it, the
//! `claimable` filter leaves it out) until its time comes; then the timer
//! worker makes it ready with one `task.ready` (whichever replica sees it
//! first, and a server started late catches up).

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::common::gql;
use crate::common::shapes::{events_of, id, read_task, ts, types_of};
use crate::common::{Client, TestApp};

crate::on_both_backends!(start = crate::common::TestApp::fast_timers;
    a_scheduled_task_waits_for_its_time,
    run_at_is_set_moved_and_cleared,
    run_at_input_is_checked,
    bulk_and_graphql_schedule_too,
    two_replicas_make_a_task_ready_once,
);
crate::on_both_backends!(start = crate::common::TestApp::quiet;
    a_server_started_late_catches_up,
);

/// How long anything expected may take on a loaded machine.
const WAIT: Duration = Duration::from_secs(30);

/// RFC 3339, `ms` milliseconds from now.
fn from_now(ms: i64) -> String {
    (Utc::now() + chrono::Duration::milliseconds(ms)).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// How many `task.ready` events the task's history holds.
async fn readies(c: &Client, task: i64) -> usize {
    types_of(&events_of(c, task).await)
        .iter()
        .filter(|t| *t == "task.ready")
        .count()
}

/// Waits until the task's history holds a `task.ready`.
async fn wait_ready(c: &Client, task: i64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while readies(c, task).await == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "task {task} never became ready: {:?}",
            types_of(&events_of(c, task).await)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Ids `GET /tasks?{query}` lists.
async fn listed_ids(c: &Client, query: &str) -> Vec<i64> {
    c.get(&format!("/tasks?{query}")).await.expect(200)["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(id)
        .collect()
}

/// A task 2 s ahead: 409 naming its time on claim, skipped by claim-next
/// and by `claimable=true`; a claim-next waiting for work gets it once its
/// time came, after one `task.ready` by the system.
async fn a_scheduled_task_waits_for_its_time(app: TestApp) {
    let boss = app.actor("human", "boss");
    let worker = app.actor("agent", "w1");
    let run_at = from_now(2_000);
    let created = boss
        .post(
            "/tasks",
            json!({ "title": "at nine", "channel": "later", "run_at": run_at }),
        )
        .await
        .expect(201)["task"]
        .clone();
    let task = id(&created);
    assert_eq!(created["status"], "pending");
    assert_eq!(ts(&created["run_at"]), ts(&json!(run_at)));

    let refused = worker.act(task, "claim", json!({})).await.expect_error(409);
    assert_eq!(refused["code"], "CONFLICT");
    let said = refused["error"].as_str().unwrap();
    assert!(
        said.contains(
            &crate::common::shapes::ts(&json!(run_at)).to_rfc3339_opts(SecondsFormat::Millis, true)
        ),
        "{said}"
    );
    worker
        .post("/tasks/claim-next", json!({ "channel": "later" }))
        .await
        .expect_error(404);
    assert!(
        !listed_ids(&worker, "claimable=true&channel=later")
            .await
            .contains(&task)
    );
    assert!(
        listed_ids(&worker, "claimable=false&channel=later")
            .await
            .contains(&task)
    );
    assert_eq!(read_task(&worker, task).await["status"], "pending");

    // A claimer waiting for work is woken by `task.ready`.
    let claimed = worker
        .post(
            "/tasks/claim-next",
            json!({ "channel": "later", "wait_ms": 20_000 }),
        )
        .await;
    let claimed = if claimed.status == 404 {
        // The wait ended before the time came on a slow machine: look again.
        wait_ready(&worker, task).await;
        worker
            .post("/tasks/claim-next", json!({ "channel": "later" }))
            .await
            .expect(200)
    } else {
        claimed.expect(200)
    };
    assert_eq!(id(&claimed["task"]), task);
    assert!(ts(&claimed["task"]["claimed_at"]) >= ts(&json!(run_at)));
    let history = events_of(&worker, task).await;
    assert_eq!(
        types_of(&history),
        ["task.created", "task.ready", "task.claimed"]
    );
    assert_eq!(history[1]["actor_type"], "system");
    assert_eq!(history[1]["data"]["task"]["status"], "pending");
    // Later passes of the timer find nothing more to do.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(readies(&worker, task).await, 1);
}

/// An update sets `run_at` (the task waits: 409), moves it to the past (it
/// is ready at once, `task.ready`), and `null` clears it; a reopened task
/// whose `run_at` lies ahead waits again.
async fn run_at_is_set_moved_and_cleared(app: TestApp) {
    let c = app.actor("agent", "a1");
    let task = id(&c.create_task(json!({ "title": "movable" })).await);
    let later = from_now(3_600_000);
    let t = c
        .patch(&format!("/tasks/{task}"), json!({ "run_at": later }))
        .await
        .expect(200)["task"]
        .clone();
    assert_eq!(ts(&t["run_at"]), ts(&json!(later)));
    c.act(task, "claim", json!({})).await.expect_error(409);

    let past = from_now(-1_000);
    c.patch(&format!("/tasks/{task}"), json!({ "run_at": past }))
        .await
        .expect(200);
    let types = types_of(&events_of(&c, task).await);
    assert_eq!(
        types,
        ["task.created", "task.updated", "task.updated", "task.ready"]
    );
    let claimed = c.act(task, "claim", json!({})).await.expect(200);
    assert_eq!(claimed["task"]["status"], "in_progress");
    c.act(task, "cancel", json!({})).await.expect(200);

    // Reopened with its run_at ahead, it waits again.
    c.patch(&format!("/tasks/{task}"), json!({ "run_at": later }))
        .await
        .expect(200);
    c.act(task, "reopen", json!({})).await.expect(200);
    c.act(task, "claim", json!({})).await.expect_error(409);
    let cleared = c
        .patch(&format!("/tasks/{task}"), json!({ "run_at": null }))
        .await
        .expect(200)["task"]
        .clone();
    assert!(cleared["run_at"].is_null(), "{cleared}");
    c.act(task, "claim", json!({})).await.expect(200);
}

/// Bad `run_at` values are refused with 422 and write nothing.
async fn run_at_input_is_checked(app: TestApp) {
    let c = app.actor("agent", "a1");
    let huge = "9".repeat(100_000);
    for bad in [
        json!("tomorrow"),
        json!("2026-13-01T00:00:00Z"),
        json!("1960-01-01T00:00:00Z"),
        json!("2026-12-24T09:00:00Z\u{0}"),
        json!(huge),
        json!(12345),
        json!({ "at": 1 }),
    ] {
        let r = c
            .post("/tasks", json!({ "title": "bad", "run_at": bad }))
            .await;
        assert!(
            r.status == 422 || r.status == 400,
            "{bad}: {} {}",
            r.status,
            r.body
        );
        assert!(r.body["code"].is_string(), "{}", r.body);
    }
    let task = id(&c.create_task(json!({ "title": "kept" })).await);
    c.patch(&format!("/tasks/{task}"), json!({ "run_at": "soon" }))
        .await
        .expect_error(422);
    let page = c.get("/tasks?limit=500").await.expect(200);
    assert_eq!(page["count"], 1, "nothing else was written: {page}");
    assert_eq!(types_of(&events_of(&c, task).await), ["task.created"]);
    // Any offset is accepted and stored in UTC.
    let t = c
        .post(
            "/tasks",
            json!({ "title": "offset", "run_at": "2030-01-01T10:00:00+02:00" }),
        )
        .await
        .expect(201)["task"]
        .clone();
    assert_eq!(t["run_at"], "2030-01-01T08:00:00.000Z");
}

/// Bulk create (one statement on PostgreSQL) and GraphQL schedule tasks
/// the same way, and both show `run_at`.
async fn bulk_and_graphql_schedule_too(app: TestApp) {
    let c = app.actor("agent", "a1");
    let later = from_now(3_600_000);
    let made = c
        .post(
            "/tasks/bulk",
            json!({ "tasks": [
                { "title": "now" },
                { "title": "later", "run_at": later },
            ] }),
        )
        .await
        .expect(201);
    let tasks = made["tasks"].as_array().unwrap();
    assert!(tasks[0]["run_at"].is_null());
    assert_eq!(ts(&tasks[1]["run_at"]), ts(&json!(later)));
    let next = c.post("/tasks/claim-next", json!({})).await.expect(200);
    assert_eq!(next["task"]["title"], "now");
    c.post("/tasks/claim-next", json!({}))
        .await
        .expect_error(404);

    let created = gql::ok(
        &c,
        "mutation($in: CreateTaskInput!) { createTask(input: $in) { task { id runAt } } }",
        json!({ "in": { "title": "gql", "runAt": later } }),
    )
    .await;
    let gid: i64 = created["createTask"]["task"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        ts(&created["createTask"]["task"]["runAt"]),
        ts(&json!(later))
    );
    let msg = gql::refused(
        &c,
        "CONFLICT",
        "mutation($id: ID!) { claimTask(id: $id) { task { id } } }",
        json!({ "id": gid.to_string() }),
    )
    .await;
    assert!(msg.contains("scheduled"), "{msg}");
    let updated = gql::ok(
        &c,
        "mutation($id: ID!) { updateTask(id: $id, input: { runAt: null }) { task { runAt } } }",
        json!({ "id": gid.to_string() }),
    )
    .await;
    assert!(updated["updateTask"]["task"]["runAt"].is_null());
    gql::ok(
        &c,
        "mutation($id: ID!) { claimTask(id: $id) { task { id } } }",
        json!({ "id": gid.to_string() }),
    )
    .await;
    let refused = gql::fails(
        &c,
        "mutation { createTask(input: { title: \"x\", runAt: \"noon\" }) { task { id } } }",
        json!({}),
    )
    .await;
    assert!(
        !refused.0.is_empty() && refused.0 != "INTERNAL",
        "{refused:?}"
    );
}

/// Two servers with timer workers on one database: each of 30 tasks that
/// come due together gets exactly one `task.ready`.
async fn two_replicas_make_a_task_ready_once(app: TestApp) {
    let _replica = app.replica().await;
    let c = app.actor("agent", "a1");
    let run_at = from_now(1_500);
    let items: Vec<Value> = (0..30)
        .map(|i| json!({ "title": format!("t{i}"), "run_at": run_at }))
        .collect();
    let made = c
        .post("/tasks/bulk", json!({ "tasks": items }))
        .await
        .expect(201);
    let ids: Vec<i64> = made["tasks"].as_array().unwrap().iter().map(id).collect();
    for task in &ids {
        wait_ready(&c, *task).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for task in ids {
        assert_eq!(readies(&c, task).await, 1, "task {task}");
    }
}

/// A task comes due while no timer runs (the server's next pass is an hour
/// away); a server started afterwards makes it ready on its first pass.
async fn a_server_started_late_catches_up(app: TestApp) {
    let c = app.actor("agent", "a1");
    let task = id(&c
        .create_task(json!({ "title": "overslept", "run_at": from_now(500) }))
        .await);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(readies(&c, task).await, 0, "no timer ran yet");
    // A claim-next does not see it: it is outside the ready queue.
    c.post("/tasks/claim-next", json!({}))
        .await
        .expect_error(404);
    let _late = app.replica().await;
    wait_ready(&c, task).await;
    c.post("/tasks/claim-next", json!({})).await.expect(200);
    assert_eq!(readies(&c, task).await, 1);
}
