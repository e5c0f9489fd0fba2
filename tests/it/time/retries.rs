//! Retries with backoff: a task with a retry policy that its worker fails
//! with `retry: true` (or whose lease runs out) goes back to `pending` until
//! `now + backoff(attempts)` with `task.retry_scheduled`, while attempts are
//! left; at its `max_attempts` it ends `failed` with `attempts_exhausted`.
//! Attempts count claims: a lease expiry uses up its claim's attempt only.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::gql;
use crate::common::shapes::{events_of, id, read_task, ts, types_of};
use crate::common::{Client, TestApp};

crate::on_both_backends!(start = crate::common::TestApp::fast_timers;
    failures_back_off_until_attempts_run_out,
    a_lease_expiry_uses_its_attempt_and_schedules_a_retry,
    a_worker_names_the_retry_time_within_max_ms,
    retry_policies_are_checked,
);

/// How long anything expected may take on a loaded machine.
const WAIT: Duration = Duration::from_secs(30);

/// Claims `task` as soon as it is claimable (its retry time came).
async fn claim_when_due(c: &Client, task: i64, lease_ms: i64) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let r = c
            .act(task, "claim", json!({ "lease_duration": lease_ms }))
            .await;
        if r.status == 200 {
            return r.body["task"].clone();
        }
        assert_eq!(r.status, 409, "{}", r.body);
        assert!(tokio::time::Instant::now() < deadline, "{}", r.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the task's newest event is `event_type`; returns the history.
async fn wait_for_event(c: &Client, task: i64, event_type: &str) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let history = events_of(c, task).await;
        if history.last().is_some_and(|e| e["type"] == event_type) {
            return history;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {event_type}: {:?}",
            types_of(&history)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The delay a retry was given: its `run_at` after the change's time.
fn delay_ms(task: &Value) -> i64 {
    (ts(&task["run_at"]) - ts(&task["updated_at"])).num_milliseconds()
}

/// Exponential backoff without jitter and `max_attempts: 3`: the first two
/// failures are retried after 1 s and 2 s (stored times), the third ends the
/// task `failed` with `attempts_exhausted`.
async fn failures_back_off_until_attempts_run_out(app: TestApp) {
    let w = app.actor("agent", "w1");
    let created = w
        .create_task(json!({
            "title": "flaky",
            "max_attempts": 3,
            "retry": { "backoff": "exponential", "initial_ms": 1000, "max_ms": 60000, "jitter": false },
        }))
        .await;
    let task = id(&created);
    assert_eq!(
        created["retry"],
        json!({ "backoff": "exponential", "initial_ms": 1000, "max_ms": 60000, "jitter": false })
    );
    let mut delays = Vec::new();
    for attempt in 1..=3 {
        let claimed = claim_when_due(&w, task, 60_000).await;
        assert_eq!(claimed["attempts"], attempt);
        let after = w
            .act(
                task,
                "fail",
                json!({ "reason": format!("boom {attempt}"), "retry": true }),
            )
            .await
            .expect(200)["task"]
            .clone();
        let last = events_of(&w, task).await.last().unwrap().clone();
        if attempt < 3 {
            assert_eq!(after["status"], "pending", "{after}");
            assert!(after["assignee_id"].is_null() && after["lease_expires"].is_null());
            assert_eq!(after["reason"], format!("boom {attempt}"));
            delays.push(delay_ms(&after));
            assert_eq!(last["type"], "task.retry_scheduled");
            assert_eq!(last["data"]["retry"]["attempt"], attempt);
            assert_eq!(last["data"]["retry"]["cause"], "fail");
            assert_eq!(last["data"]["retry"]["reason"], format!("boom {attempt}"));
            assert_eq!(ts(&last["data"]["retry"]["run_at"]), ts(&after["run_at"]));
            // Not claimable before its time.
            let early = w.act(task, "claim", json!({})).await;
            if early.status == 409 {
                assert!(early.body["error"].as_str().unwrap().contains("scheduled"));
            }
        } else {
            assert_eq!(after["status"], "failed", "{after}");
            assert_eq!(last["type"], "task.failed");
            assert_eq!(last["data"]["attempts_exhausted"], true);
        }
    }
    assert_eq!(delays, [1000, 2000], "growing delays");
    let history = types_of(&events_of(&w, task).await);
    assert_eq!(
        history
            .iter()
            .filter(|t| *t == "task.retry_scheduled")
            .count(),
        2
    );
    assert_eq!(history.iter().filter(|t| *t == "task.failed").count(), 1);
    assert_eq!(read_task(&w, task).await["attempts"], 3);
}

/// A lease that runs out uses up the attempt its claim began (no second
/// one) and schedules a retry; at the cap the expiry fails the task for
/// good rather than leaving it pending and unclaimable.
async fn a_lease_expiry_uses_its_attempt_and_schedules_a_retry(app: TestApp) {
    let w = app.actor("agent", "w1");
    let task = id(&w
        .create_task(json!({
            "title": "dies",
            "max_attempts": 2,
            "retry": { "backoff": "fixed", "initial_ms": 1500, "jitter": false },
        }))
        .await);
    claim_when_due(&w, task, 1_000).await;
    let history = wait_for_event(&w, task, "task.retry_scheduled").await;
    assert_eq!(
        types_of(&history),
        [
            "task.created",
            "task.claimed",
            "task.lease_expired",
            "task.retry_scheduled"
        ]
    );
    let retry = &history[3]["data"];
    assert_eq!(retry["retry"]["cause"], "lease_expired");
    assert_eq!(retry["retry"]["attempt"], 1);
    assert_eq!(retry["task"]["status"], "pending");
    assert_eq!(retry["task"]["attempts"], 1, "the expiry took no attempt");
    assert_eq!(delay_ms(&retry["task"]), 1500);
    assert_eq!(history[3]["actor_type"], "system");

    let again = claim_when_due(&w, task, 1_000).await;
    assert_eq!(again["attempts"], 2);
    let history = wait_for_event(&w, task, "task.failed").await;
    let failed = history.last().unwrap();
    assert_eq!(failed["data"]["attempts_exhausted"], true);
    assert_eq!(failed["data"]["task"]["status"], "failed");
    let t = read_task(&w, task).await;
    assert_eq!(t["status"], "failed");
    assert_eq!(t["attempts"], 2);
}

/// `retry_at` and `retry_in_ms` name the time, at most `max_ms` ahead; a
/// time already past makes the task claimable at once; jitter keeps a
/// delay between half and all of itself.
async fn a_worker_names_the_retry_time_within_max_ms(app: TestApp) {
    let w = app.actor("agent", "w1");
    let task = id(&w
        .create_task(json!({
            "title": "asks",
            "retry": { "initial_ms": 4000, "max_ms": 5000 },
        }))
        .await);
    claim_when_due(&w, task, 60_000).await;
    let t = w
        .act(task, "fail", json!({ "retry_in_ms": 999_999_999_999_i64 }))
        .await
        .expect(200)["task"]
        .clone();
    assert_eq!(delay_ms(&t), 5000, "bounded by max_ms");
    w.patch(&format!("/tasks/{task}"), json!({ "run_at": null }))
        .await
        .expect(200);
    claim_when_due(&w, task, 60_000).await;
    let t = w
        .act(task, "fail", json!({ "retry_at": "2001-01-01T00:00:00Z" }))
        .await
        .expect(200)["task"]
        .clone();
    assert_eq!(delay_ms(&t), 0);
    w.act(task, "claim", json!({})).await.expect(200);
    // Third attempt: 4 s doubled twice, capped at max_ms (5 s); with jitter
    // (on by default) between half and all of it.
    let t = w
        .act(task, "fail", json!({ "retry": true }))
        .await
        .expect(200)["task"]
        .clone();
    let d = delay_ms(&t);
    assert!((2500..=5000).contains(&d), "{d}");
}

/// Bad policies and contradictory fail bodies are refused and write
/// nothing; a task without a policy cannot be retried (409); GraphQL
/// shows and takes the policy and `failTask(retry: true)`.
async fn retry_policies_are_checked(app: TestApp) {
    let w = app.actor("agent", "w1");
    for bad in [
        json!("often"),
        json!({ "backoff": "linear" }),
        json!({ "initial_ms": 0 }),
        json!({ "initial_ms": 5000, "max_ms": 1000 }),
        json!({ "max_ms": 99_999_999_999_i64 }),
        json!({ "initial_ms": "1s" }),
        json!({ "tries": 3 }),
        json!({ "backoff": "fixed\u{0}" }),
    ] {
        let r = w
            .post("/tasks", json!({ "title": "bad", "retry": bad }))
            .await;
        assert!(r.status == 422 || r.status == 400, "{bad}: {}", r.body);
        assert!(r.body["code"].is_string(), "{}", r.body);
    }
    assert_eq!(w.get("/tasks").await.expect(200)["count"], 0);
    let defaults = w
        .create_task(json!({ "title": "defaults", "retry": {} }))
        .await;
    assert_eq!(
        defaults["retry"],
        json!({ "backoff": "exponential", "initial_ms": 10000, "max_ms": 3600000, "jitter": true })
    );

    let plain = id(&w.create_task(json!({ "title": "plain" })).await);
    w.act(plain, "claim", json!({})).await.expect(200);
    let refused = w
        .act(plain, "fail", json!({ "retry": true }))
        .await
        .expect_error(409);
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("no retry policy")
    );
    for bad in [
        json!({ "retry_at": "2030-01-01T00:00:00Z", "retry_in_ms": 5 }),
        json!({ "retry_in_ms": -1 }),
        json!({ "retry_at": "later" }),
        json!({ "retry": false, "retry_in_ms": 5 }),
        json!({ "retry": "yes" }),
    ] {
        let r = w.act(plain, "fail", bad.clone()).await;
        assert!(r.status == 422 || r.status == 400, "{bad}: {}", r.body);
    }
    assert_eq!(read_task(&w, plain).await["status"], "in_progress");
    // Without a policy, a plain fail is what it always was.
    w.act(plain, "fail", json!({})).await.expect(200);
    assert_eq!(
        events_of(&w, plain).await.last().unwrap()["type"],
        "task.failed"
    );

    let made = gql::ok(
        &w,
        "mutation { createTask(input: { title: \"g\", retry: { backoff: FIXED, initialMs: 1000, jitter: false } }) { task { id retry { backoff initialMs maxMs jitter } } } }",
        json!({}),
    )
    .await;
    let t = &made["createTask"]["task"];
    assert_eq!(
        t["retry"],
        json!({ "backoff": "FIXED", "initialMs": 1000, "maxMs": 3600000, "jitter": false })
    );
    let gid = t["id"].as_str().unwrap().to_owned();
    gql::ok(
        &w,
        "mutation($id: ID!) { claimTask(id: $id) { task { id } } }",
        json!({ "id": gid }),
    )
    .await;
    let failed = gql::ok(
        &w,
        "mutation($id: ID!) { failTask(id: $id, retry: true) { task { status runAt updatedAt } } }",
        json!({ "id": gid }),
    )
    .await;
    let t = &failed["failTask"]["task"];
    assert_eq!(t["status"], "PENDING");
    assert_eq!(
        (ts(&t["runAt"]) - ts(&t["updatedAt"])).num_milliseconds(),
        1000
    );
    let removed = gql::ok(
        &w,
        "mutation($id: ID!) { updateTask(id: $id, input: { retry: null }) { task { retry { backoff } } } }",
        json!({ "id": gid }),
    )
    .await;
    assert!(removed["updateTask"]["task"]["retry"].is_null());
}
