//! Leases (SPEC §3): the reaper returns a task whose lease ran out to
//! `pending` (with `task.lease_expired` by the system); before the reaper
//! runs an expired lease already counts as `pending`; a claim by the holder
//! renews the lease; `lease_duration` lies in 1 000 ..= 86 400 000 ms.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::shapes::{events_of, id, lease_ms, read_task, ts, types_of};
use crate::common::{Client, Res, TestApp};

crate::on_both_backends!(
    the_reaper_returns_a_short_lease_to_pending,
    a_renewal_outlives_the_first_lease,
    lease_bounds_hold_on_claim_and_renewal,
    a_reaped_task_is_claimed_again_and_renewed,
);
crate::on_both_backends!(start = crate::common::TestApp::long_reaper; an_expired_lease_counts_as_pending_before_the_reaper);

/// A claim with a lease of `ms`.
async fn claim(c: &Client, task: i64, ms: i64) -> Res {
    c.act(task, "claim", json!({ "lease_duration": ms })).await
}

async fn new_task(c: &Client, title: &str) -> i64 {
    id(&c.create_task(json!({ "title": title })).await)
}

/// The reaper returns a task whose 1 s lease ran out to `pending` within 3 s.
async fn the_reaper_returns_a_short_lease_to_pending(app: TestApp) {
    let w1 = app.actor("agent", "w1");
    let id = new_task(&w1, "short lease").await;
    let claimed = claim(&w1, id, 1_000).await.expect(200);
    assert_eq!(lease_ms(&claimed["task"]), 1_000);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    let task = loop {
        let task = read_task(&w1, id).await;
        if task["status"] == "pending" {
            break task;
        }
        assert!(tokio::time::Instant::now() < deadline, "{task} after 3 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for field in [
        "assignee_type",
        "assignee_id",
        "assignee_name",
        "lease_expires",
    ] {
        assert!(task[field].is_null(), "{field} = {}", task[field]);
    }
    assert_eq!(task["attempts"], 1);
    let history = events_of(&w1, id).await;
    assert_eq!(
        types_of(&history),
        ["task.created", "task.claimed", "task.lease_expired"]
    );
    let expired = &history[2];
    assert_eq!(expired["actor_type"], "system");
    assert_eq!(expired["data"]["previous_assignee"]["actor_id"], "w1");
    assert_eq!(expired["data"]["task"]["status"], "pending");
    // Claimable again, by anyone.
    let again = app
        .actor("agent", "w2")
        .act(id, "claim", json!({}))
        .await
        .expect(200);
    assert_eq!(again["task"]["attempts"], 2);
    assert_eq!(again["task"]["assignee_id"], "w2");
}

/// A claim by the holder before expiry renews the lease and outlives the original expiry.
async fn a_renewal_outlives_the_first_lease(app: TestApp) {
    let w1 = app.actor("agent", "w1");
    let id = new_task(&w1, "renew").await;
    let started = tokio::time::Instant::now();
    let first = claim(&w1, id, 1_500).await.expect(200)["task"].clone();
    let renewed = claim(&w1, id, 10_000).await.expect(200)["task"].clone();
    assert!(
        started.elapsed() < Duration::from_millis(1_500),
        "renewal came too late to test"
    );
    assert!(ts(&renewed["lease_expires"]) > ts(&first["lease_expires"]));
    assert_eq!(lease_ms(&renewed), 10_000);
    assert_eq!(renewed["status"], "in_progress");
    assert_eq!(renewed["attempts"], 1);
    assert_eq!(renewed["claimed_at"], first["claimed_at"]);
    // Past the original expiry plus a reaper pass: still held, same lease, nothing reaped.
    tokio::time::sleep(Duration::from_millis(3_000).saturating_sub(started.elapsed())).await;
    let task = read_task(&w1, id).await;
    assert_eq!(task["status"], "in_progress");
    assert_eq!(task["assignee_id"], "w1");
    assert_eq!(task["attempts"], 1);
    assert_eq!(task["lease_expires"], renewed["lease_expires"]);
    let history = events_of(&w1, id).await;
    assert_eq!(
        types_of(&history),
        ["task.created", "task.claimed", "task.lease_renewed"]
    );
    assert_eq!(history[2]["actor_id"], "w1");
}

/// Asserts the task is still `before`, with `n` events.
async fn unchanged(c: &Client, id: i64, before: &Value, n: usize) {
    assert_eq!(&read_task(c, id).await, before);
    assert_eq!(events_of(c, id).await.len(), n);
}

/// `lease_duration` must lie in 1 000 ..= 86 400 000 ms, on a claim and on a renewal.
async fn lease_bounds_hold_on_claim_and_renewal(app: TestApp) {
    let w1 = app.actor("agent", "w1");
    let id = new_task(&w1, "bounds").await;
    let pending = read_task(&w1, id).await;
    for bad in [999, 86_400_001, 0, -1] {
        let body = claim(&w1, id, bad).await.expect_error(422);
        let msg = body["error"].as_str().unwrap();
        assert!(msg.contains("lease_duration"), "{msg}");
        unchanged(&w1, id, &pending, 1).await;
    }
    let body = w1
        .patch(&format!("/tasks/{id}"), json!({ "status": "done" }))
        .await
        .expect_error(422);
    assert!(body["error"].as_str().unwrap().contains("done"), "{body}");
    unchanged(&w1, id, &pending, 1).await;

    let max = claim(&w1, id, 86_400_000).await.expect(200);
    assert_eq!(lease_ms(&max["task"]), 86_400_000);
    let held = read_task(&w1, id).await;
    for bad in [999, 86_400_001] {
        claim(&w1, id, bad).await.expect_error(422);
        unchanged(&w1, id, &held, 2).await;
    }
    let min = claim(&w1, id, 1_000).await.expect(200);
    assert_eq!(lease_ms(&min["task"]), 1_000);
}

/// Step: a 1 s lease is back to pending within 3 s (default reaper), with
/// `task.lease_expired` by the system.
async fn reaped_within_three_seconds(w: &Client, t: i64) {
    claim(w, t, 1000).await.expect(200);
    let start = Instant::now();
    loop {
        let task = read_task(w, t).await;
        if task["status"] == "pending" {
            assert!(task["assignee_id"].is_null());
            break;
        }
        assert!(
            start.elapsed().as_secs_f64() < 3.0,
            "lease not reaped within 3 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let events = events_of(w, t).await;
    let last = events.last().unwrap().clone();
    assert_eq!(last["type"], "task.lease_expired");
    assert_eq!(last["actor_type"], "system");
    assert_eq!(last["data"]["previous_assignee"]["actor_id"], "worker");
}

/// Step: claim again, renew before expiry; the task outlives the first
/// lease, and a renewal is not a new attempt; bad leases are refused.
async fn renewed_past_the_first_lease(w: &Client, t: i64) {
    let first = claim(w, t, 1500).await.expect(200);
    let first_expiry = first["task"]["lease_expires"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let renewed = claim(w, t, 5000).await.expect(200);
    assert!(renewed["task"]["lease_expires"].as_str().unwrap() > first_expiry.as_str());
    assert_eq!(
        renewed["task"]["attempts"], 2,
        "a renewal is not a new attempt"
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let task = read_task(w, t).await;
    assert_eq!(task["status"], "in_progress", "renewed lease expired early");
    let events = events_of(w, t).await;
    assert!(events.iter().any(|e| e["type"] == "task.lease_renewed"));
    claim(w, t, 999).await.expect_error(422);
    claim(w, t, 86_400_001).await.expect_error(422);
}

async fn a_reaped_task_is_claimed_again_and_renewed(app: TestApp) {
    let w = app.actor("agent", "worker");
    let t = new_task(&w, "leased").await;
    reaped_within_three_seconds(&w, t).await;
    renewed_past_the_first_lease(&w, t).await;
}

/// An expired lease (before the reaper runs) counts as pending: anyone may claim,
/// the old holder may not complete, and `task.lease_expired` is recorded first.
async fn an_expired_lease_counts_as_pending_before_the_reaper(app: TestApp) {
    let holder = app.actor("agent", "holder");
    let other = app.actor("agent", "other");
    let t = new_task(&holder, "slow").await;
    claim(&holder, t, 1000).await.expect(200);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let refused = holder.act(t, "complete", json!({})).await.expect_error(409);
    assert!(
        refused["error"].as_str().unwrap().contains("pending"),
        "{refused}"
    );
    let claimed = other.act(t, "claim", json!({})).await.expect(200);
    assert_eq!(claimed["task"]["assignee_id"], "other");
    assert_eq!(claimed["task"]["attempts"], 2);
    assert_eq!(
        types_of(&events_of(&holder, t).await),
        [
            "task.created",
            "task.claimed",
            "task.lease_expired",
            "task.claimed"
        ]
    );
}
