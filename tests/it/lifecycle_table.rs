//! SPEC §3 as a table: every status × every action gets the documented answer
//! (the new state, or 409/403 with a sentence), and a refused action writes nothing.

use serde_json::{Value, json};

use crate::common::{Client, Res, TestApp};

const STATUSES: [&str; 6] = [
    "pending",
    "in_progress",
    "completed",
    "cancelled",
    "failed",
    "rejected",
];

/// Creator, holder and a third actor.
struct Cast {
    creator: Client,
    holder: Client,
    other: Client,
}

/// Builds a task in `status` (claimed by `holder` where it went through in_progress).
async fn task_in(cast: &Cast, status: &str) -> i64 {
    let t = cast
        .creator
        .create_task(json!({ "title": format!("in {status}") }))
        .await["id"]
        .as_i64()
        .unwrap();
    let path = |a: &str| format!("/tasks/{t}/{a}");
    match status {
        "pending" => {}
        "in_progress" => {
            cast.holder
                .post(&path("claim"), json!({ "lease_duration": 600_000 }))
                .await
                .expect(200);
        }
        "completed" | "failed" => {
            cast.holder
                .post(&path("claim"), json!({}))
                .await
                .expect(200);
            let action = if status == "completed" {
                "complete"
            } else {
                "fail"
            };
            cast.holder
                .post(&path(action), json!({ "reason": "setup" }))
                .await
                .expect(200);
        }
        "cancelled" => {
            cast.creator
                .post(&path("cancel"), json!({ "reason": "setup" }))
                .await
                .expect(200);
        }
        "rejected" => {
            cast.holder
                .post(&path("reject"), json!({ "reason": "setup" }))
                .await
                .expect(200);
        }
        _ => unreachable!(),
    }
    t
}

#[derive(Clone, Copy, Debug)]
enum Act {
    ClaimByHolder,
    ClaimByOther,
    Complete,
    Fail,
    Reject,
    Cancel,
    Reopen,
    PatchStatus(&'static str),
}

const ACTS: [Act; 12] = [
    Act::ClaimByHolder,
    Act::ClaimByOther,
    Act::Complete,
    Act::Fail,
    Act::Reject,
    Act::Cancel,
    Act::Reopen,
    Act::PatchStatus("in_progress"),
    Act::PatchStatus("completed"),
    Act::PatchStatus("cancelled"),
    Act::PatchStatus("pending"),
    Act::PatchStatus("rejected"),
];

/// What SPEC §3 says `act` does from `status`: `Ok(new status)` or `Err(http status)`.
/// Actions other than claims are sent by the holder when there is one, else by the creator.
fn expected(status: &str, act: Act) -> Result<&'static str, u16> {
    let terminal = matches!(status, "completed" | "cancelled" | "failed" | "rejected");
    match (status, act) {
        ("pending", Act::ClaimByHolder | Act::ClaimByOther | Act::PatchStatus("in_progress")) => {
            Ok("in_progress")
        }
        ("in_progress", Act::ClaimByHolder | Act::PatchStatus("in_progress")) => Ok("in_progress"),
        ("in_progress", Act::ClaimByOther) => Err(409),
        ("in_progress", Act::Complete | Act::PatchStatus("completed")) => Ok("completed"),
        ("in_progress", Act::Fail) => Ok("failed"),
        ("pending" | "in_progress", Act::Reject | Act::PatchStatus("rejected")) => Ok("rejected"),
        ("pending" | "in_progress", Act::Cancel | Act::PatchStatus("cancelled")) => Ok("cancelled"),
        ("pending", Act::Complete | Act::Fail | Act::PatchStatus("completed")) => Err(409),
        ("pending", Act::Reopen) => Err(409),
        ("pending", Act::PatchStatus("pending")) => Ok("pending"),
        ("in_progress", Act::Reopen | Act::PatchStatus("pending")) => Err(409),
        (_, Act::Reopen | Act::PatchStatus("pending")) if terminal => Ok("pending"),
        (s, Act::PatchStatus(target)) if s == target => {
            Ok(STATUSES.iter().find(|x| **x == s).copied().unwrap())
        }
        _ if terminal => Err(409),
        _ => unreachable!("no expectation for {status} × {act:?}"),
    }
}

async fn perform(cast: &Cast, status: &str, act: Act, t: i64) -> Res {
    let actor = if status == "in_progress" {
        &cast.holder
    } else {
        &cast.creator
    };
    let path = |a: &str| format!("/tasks/{t}/{a}");
    match act {
        Act::ClaimByHolder => {
            cast.holder
                .post(&path("claim"), json!({ "lease_duration": 900_000 }))
                .await
        }
        Act::ClaimByOther => cast.other.post(&path("claim"), json!({})).await,
        Act::Complete => {
            actor
                .post(&path("complete"), json!({ "outputs": { "ok": true } }))
                .await
        }
        Act::Fail => {
            actor
                .post(&path("fail"), json!({ "reason": "broke" }))
                .await
        }
        Act::Reject => actor.post(&path("reject"), json!({ "reason": "no" })).await,
        Act::Cancel => {
            actor
                .post(&path("cancel"), json!({ "reason": "stop" }))
                .await
        }
        Act::Reopen => {
            actor
                .post(&path("reopen"), json!({ "reason": "again" }))
                .await
        }
        Act::PatchStatus(s) => {
            actor
                .patch(&format!("/tasks/{t}"), json!({ "status": s }))
                .await
        }
    }
}

async fn snapshot(c: &Client, t: i64) -> (Value, usize) {
    let mut task = c.get(&format!("/tasks/{t}")).await.expect(200)["task"].clone();
    task.as_object_mut().unwrap().remove("messages");
    let events = c.get(&format!("/tasks/{t}/events")).await.expect(200)["events"]
        .as_array()
        .unwrap()
        .len();
    (task, events)
}

async fn every_status_times_every_action(app: TestApp) {
    let cast = Cast {
        creator: app.actor("human", "creator"),
        holder: app.actor("agent", "holder"),
        other: app.actor("agent", "other"),
    };
    for status in STATUSES {
        for act in ACTS {
            let t = task_in(&cast, status).await;
            let (before, events_before) = snapshot(&cast.creator, t).await;
            assert_eq!(before["status"], status);
            let res = perform(&cast, status, act, t).await;
            let (after, events_after) = snapshot(&cast.creator, t).await;
            let cell = format!("{status} × {act:?}");
            match expected(status, act) {
                Ok(new) => {
                    assert_eq!(res.status, 200, "{cell}: {}", res.body);
                    assert_eq!(after["status"], new, "{cell}");
                    assert_eq!(res.body["task"]["status"], new, "{cell}");
                    check_fields(&cell, &before, &after, act);
                    // Setting the status a task already has is a no-op; everything else records events.
                    let no_op = matches!(act, Act::PatchStatus(s) if s == status);
                    if no_op {
                        assert_eq!(
                            (after.clone(), events_after),
                            (before.clone(), events_before),
                            "{cell}"
                        );
                    } else {
                        assert!(events_after > events_before, "{cell}: no event recorded");
                    }
                }
                Err(code) => {
                    let body = res.expect_error(code);
                    assert_eq!(after, before, "{cell}: a refused action changed the task");
                    assert_eq!(
                        events_after, events_before,
                        "{cell}: a refused action recorded an event"
                    );
                    if code == 409 {
                        let sentence = body["error"].as_str().unwrap();
                        assert!(
                            sentence.contains(status),
                            "{cell}: the sentence names no status: {sentence}"
                        );
                        assert!(
                            sentence.contains("possible actions")
                                || sentence.contains("claimed by"),
                            "{cell}: the sentence names no way forward: {sentence}"
                        );
                    }
                }
            }
        }
    }
}

fn check_fields(cell: &str, before: &Value, after: &Value, act: Act) {
    match after["status"].as_str().unwrap() {
        "in_progress" => {
            assert!(after["lease_expires"].is_string(), "{cell}: no lease");
            assert!(after["assignee_id"].is_string(), "{cell}: no assignee");
            let renewed = before["status"] == "in_progress";
            let attempts = before["attempts"].as_i64().unwrap() + if renewed { 0 } else { 1 };
            assert_eq!(after["attempts"], attempts, "{cell}: attempts");
        }
        "pending" => {
            assert!(
                after["assignee_id"].is_null() && after["lease_expires"].is_null(),
                "{cell}: reopen keeps the assignee"
            );
            if matches!(act, Act::Reopen) {
                assert_eq!(after["reason"], "again", "{cell}");
            }
        }
        "completed" => {
            assert!(
                after["lease_expires"].is_null() && after["completed_at"].is_string(),
                "{cell}"
            );
            if matches!(act, Act::Complete) {
                assert_eq!(
                    after["outputs"],
                    json!([{ "ok": true }]),
                    "{cell}: outputs appended"
                );
            }
        }
        "failed" => assert_eq!(after["reason"], "broke", "{cell}"),
        "rejected" if matches!(act, Act::Reject) => assert_eq!(after["reason"], "no", "{cell}"),
        "cancelled" if matches!(act, Act::Cancel) => assert_eq!(after["reason"], "stop", "{cell}"),
        _ => {}
    }
}

/// Who may act: complete/fail only by the holder; cancel only by creator or holder (403 otherwise).
async fn only_the_right_actor_may_act(app: TestApp) {
    let cast = Cast {
        creator: app.actor("human", "creator"),
        holder: app.actor("agent", "holder"),
        other: app.actor("agent", "other"),
    };
    let t = task_in(&cast, "in_progress").await;
    for action in ["complete", "fail", "reject"] {
        let body = cast
            .other
            .post(&format!("/tasks/{t}/{action}"), json!({}))
            .await
            .expect_error(409);
        assert!(
            body["error"].as_str().unwrap().contains("agent:holder"),
            "{body}"
        );
    }
    cast.other
        .post(&format!("/tasks/{t}/cancel"), json!({}))
        .await
        .expect_error(403);
    cast.creator
        .post(&format!("/tasks/{t}/cancel"), json!({}))
        .await
        .expect(200);
    let p = task_in(&cast, "pending").await;
    cast.other
        .post(&format!("/tasks/{p}/cancel"), json!({}))
        .await
        .expect_error(403);
    cast.other
        .post(
            &format!("/tasks/{p}/reject"),
            json!({ "reason": "not mine" }),
        )
        .await
        .expect(200);
}

/// An expired lease (before the reaper runs) counts as pending: anyone may claim,
/// the old holder may not complete, and `task.lease_expired` is recorded first.
async fn expired_lease_counts_as_pending(app: TestApp) {
    let holder = app.actor("agent", "holder");
    let other = app.actor("agent", "other");
    let t = holder.create_task(json!({ "title": "slow" })).await["id"]
        .as_i64()
        .unwrap();
    holder
        .post(
            &format!("/tasks/{t}/claim"),
            json!({ "lease_duration": 1000 }),
        )
        .await
        .expect(200);
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let refused = holder
        .post(&format!("/tasks/{t}/complete"), json!({}))
        .await
        .expect_error(409);
    assert!(
        refused["error"].as_str().unwrap().contains("pending"),
        "{refused}"
    );
    let claimed = other
        .post(&format!("/tasks/{t}/claim"), json!({}))
        .await
        .expect(200);
    assert_eq!(claimed["task"]["assignee_id"], "other");
    assert_eq!(claimed["task"]["attempts"], 2);
    let events = holder.get(&format!("/tasks/{t}/events")).await.expect(200);
    let types: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "task.created",
            "task.claimed",
            "task.lease_expired",
            "task.claimed"
        ]
    );
}

async fn long_reaper(backend: crate::common::Backend) -> Option<TestApp> {
    TestApp::start_with(backend, |c| c.reaper_interval_ms = 60_000).await
}

/// 50 concurrent claims of one task: exactly one wins.
async fn fifty_concurrent_claims(app: TestApp) {
    let t = app
        .client()
        .create_task(json!({ "title": "contested" }))
        .await["id"]
        .as_i64()
        .unwrap();
    let mut handles = Vec::new();
    for i in 0..50 {
        let c = app.actor("agent", &format!("racer-{i}"));
        handles.push(tokio::spawn(async move {
            c.post(&format!("/tasks/{t}/claim"), json!({})).await
        }));
    }
    let mut ok = 0;
    let mut conflict = 0;
    for h in handles {
        match h.await.unwrap().status {
            200 => ok += 1,
            409 => conflict += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((ok, conflict), (1, 49));
    let task = app.client().get(&format!("/tasks/{t}")).await.expect(200)["task"].clone();
    assert_eq!(task["attempts"], 1);
    let events = app
        .client()
        .get(&format!("/tasks/{t}/events"))
        .await
        .expect(200);
    let claims = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "task.claimed")
        .count();
    assert_eq!(claims, 1);
}

/// A 1 s lease is back to pending within 3 s (default reaper), with
/// `task.lease_expired` by the system; a renewal by the holder extends it.
async fn leases_expire_and_renew(app: TestApp) {
    let w = app.actor("agent", "worker");
    let t = w.create_task(json!({ "title": "leased" })).await["id"]
        .as_i64()
        .unwrap();
    w.post(
        &format!("/tasks/{t}/claim"),
        json!({ "lease_duration": 1000 }),
    )
    .await
    .expect(200);
    let start = std::time::Instant::now();
    loop {
        let task = w.get(&format!("/tasks/{t}")).await.expect(200)["task"].clone();
        if task["status"] == "pending" {
            assert!(task["assignee_id"].is_null());
            break;
        }
        assert!(
            start.elapsed().as_secs_f64() < 3.0,
            "lease not reaped within 3 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let events = w.get(&format!("/tasks/{t}/events")).await.expect(200);
    let last = events["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["type"], "task.lease_expired");
    assert_eq!(last["actor_type"], "system");
    assert_eq!(last["data"]["previous_assignee"]["actor_id"], "worker");

    // Renewal: claim again before expiry; the task outlives the first lease.
    let first = w
        .post(
            &format!("/tasks/{t}/claim"),
            json!({ "lease_duration": 1500 }),
        )
        .await
        .expect(200);
    let first_expiry = first["task"]["lease_expires"].as_str().unwrap().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let renewed = w
        .post(
            &format!("/tasks/{t}/claim"),
            json!({ "lease_duration": 5000 }),
        )
        .await
        .expect(200);
    assert!(renewed["task"]["lease_expires"].as_str().unwrap() > first_expiry.as_str());
    assert_eq!(
        renewed["task"]["attempts"], 2,
        "a renewal is not a new attempt"
    );
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let task = w.get(&format!("/tasks/{t}")).await.expect(200)["task"].clone();
    assert_eq!(task["status"], "in_progress", "renewed lease expired early");
    let events = w.get(&format!("/tasks/{t}/events")).await.expect(200);
    assert!(
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "task.lease_renewed")
    );
    w.post(
        &format!("/tasks/{t}/claim"),
        json!({ "lease_duration": 999 }),
    )
    .await
    .expect_error(422);
    w.post(
        &format!("/tasks/{t}/claim"),
        json!({ "lease_duration": 86_400_001 }),
    )
    .await
    .expect_error(422);
}

crate::on_both_backends!(
    every_status_times_every_action,
    only_the_right_actor_may_act,
    fifty_concurrent_claims,
    leases_expire_and_renew,
);
crate::on_both_backends!(start = crate::lifecycle_table::long_reaper; expired_lease_counts_as_pending);
