//! SPEC §3 as rules: every status × every action (by the holder, the
//! creator or someone else) gets the documented answer — the new state with
//! its fields and an event, or 409/403 with a sentence and nothing written —
//! and only the right actor may act.

use serde_json::{Value, json};

use crate::common::shapes::{STATUSES, events_of, read_task, without_messages};
use crate::common::{Client, Res, TestApp};

crate::on_both_backends!(
    every_status_times_every_action,
    only_the_right_actor_may_act
);

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

/// The task (without its thread) and how many events it has.
async fn snapshot(c: &Client, t: i64) -> (Value, usize) {
    let task = without_messages(read_task(c, t).await);
    (task, events_of(c, t).await.len())
}

fn cast(app: &TestApp) -> Cast {
    Cast {
        creator: app.actor("human", "creator"),
        holder: app.actor("agent", "holder"),
        other: app.actor("agent", "other"),
    }
}

async fn every_status_times_every_action(app: TestApp) {
    let cast = cast(&app);
    for status in STATUSES {
        for act in ACTS {
            let t = task_in(&cast, status).await;
            let (before, events_before) = snapshot(&cast.creator, t).await;
            assert_eq!(before["status"], status);
            let res = perform(&cast, status, act, t).await;
            let (after, events_after) = snapshot(&cast.creator, t).await;
            let cell = format!("{status} × {act:?}");
            let events = (events_before, events_after);
            match expected(status, act) {
                Ok(new) => check_change(&cell, (status, act), res, (&before, &after), events, new),
                Err(code) => check_refusal(&cell, status, res, (&before, &after), events, code),
            }
        }
    }
}

/// A change: the new status in the store and the reply, the fields of
/// that status, and an event (none for setting the status a task has).
fn check_change(
    cell: &str,
    (status, act): (&str, Act),
    res: Res,
    (before, after): (&Value, &Value),
    (events_before, events_after): (usize, usize),
    new: &str,
) {
    assert_eq!(res.status, 200, "{cell}: {}", res.body);
    assert_eq!(after["status"], new, "{cell}");
    assert_eq!(res.body["task"]["status"], new, "{cell}");
    check_fields(cell, before, after, act);
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

/// A refusal: the status code, nothing changed, and a 409's sentence names
/// the status and a way forward.
fn check_refusal(
    cell: &str,
    status: &str,
    res: Res,
    (before, after): (&Value, &Value),
    (events_before, events_after): (usize, usize),
    code: u16,
) {
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
            sentence.contains("possible actions") || sentence.contains("claimed by"),
            "{cell}: the sentence names no way forward: {sentence}"
        );
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
    let cast = cast(&app);
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
