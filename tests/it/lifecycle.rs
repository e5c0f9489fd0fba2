//! The task lifecycle (SPEC §3): every starting status × every action, checked
//! cell by cell; 50 concurrent claims; lease expiry by the reaper; renewal; lease bounds.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::common::{Backend, Client, Res, TestApp};

/// Starting states. `Expired` is `in_progress` whose 1 s lease ran out before
/// the reaper (60 s interval here) could see it: it counts as `pending`.
#[derive(Clone, Copy, Debug)]
enum Start {
    Pending,
    InProgress,
    Expired,
    Completed,
    Cancelled,
    Failed,
    Rejected,
}

const STARTS: [Start; 7] = [
    Start::Pending,
    Start::InProgress,
    Start::Expired,
    Start::Completed,
    Start::Cancelled,
    Start::Failed,
    Start::Rejected,
];

/// Who acts: `human:alice` created every task, `agent:w1` claims it, `agent:w2` is anyone else.
#[derive(Clone, Copy, Debug)]
enum Who {
    Creator,
    Holder,
    Other,
}

/// An action; `Reopen` is by `Other`, `Patch` (a status update) by `Holder`.
#[derive(Clone, Copy, Debug)]
enum Act {
    Claim(Who),
    Complete(Who),
    Fail(Who),
    Reject(Who),
    Cancel(Who),
    Reopen,
    Patch(&'static str),
}

/// SPEC §3's answer for one cell.
#[derive(Debug)]
enum Want {
    /// 200: new status, assignee (agent id), new events without `task.`, in order.
    Ok(&'static str, Option<&'static str>, &'static [&'static str]),
    /// 200 and nothing written (the status asked for is the current one).
    Same,
    /// 409 naming the (effective) status and the actions possible from it.
    Refused,
    /// 409 naming the holder, `agent:w1`.
    Held,
    /// 403: only the creator or the assignee may cancel.
    Forbidden,
}

use Act::*;
use Want::{Forbidden as NO, Held as HELD, Ok as OK, Refused as REF, Same as SAME};
use Who::*;

const W1: Option<&str> = Some("w1");
const W2: Option<&str> = Some("w2");
const NOBODY: Option<&str> = None;

/// Rows: actions; columns: `STARTS` (pending, in_progress, expired, completed, cancelled, failed, rejected).
#[rustfmt::skip]
const TABLE: &[(Act, [Want; 7])] = &[
    (Claim(Holder), [OK("in_progress", W1, &["claimed"]), OK("in_progress", W1, &["lease_renewed"]),
        OK("in_progress", W1, &["lease_expired", "claimed"]), REF, REF, REF, REF]),
    (Claim(Other), [OK("in_progress", W2, &["claimed"]), HELD,
        OK("in_progress", W2, &["lease_expired", "claimed"]), REF, REF, REF, REF]),
    (Complete(Holder), [REF, OK("completed", W1, &["completed"]), REF, REF, REF, REF, REF]),
    (Complete(Other), [REF, HELD, REF, REF, REF, REF, REF]),
    (Fail(Holder), [REF, OK("failed", W1, &["failed"]), REF, REF, REF, REF, REF]),
    (Fail(Other), [REF, HELD, REF, REF, REF, REF, REF]),
    (Reject(Holder), [OK("rejected", NOBODY, &["rejected"]), OK("rejected", W1, &["rejected"]),
        OK("rejected", NOBODY, &["lease_expired", "rejected"]), REF, REF, REF, REF]),
    (Reject(Other), [OK("rejected", NOBODY, &["rejected"]), HELD,
        OK("rejected", NOBODY, &["lease_expired", "rejected"]), REF, REF, REF, REF]),
    (Cancel(Creator), [OK("cancelled", NOBODY, &["cancelled"]), OK("cancelled", W1, &["cancelled"]),
        OK("cancelled", NOBODY, &["lease_expired", "cancelled"]), REF, REF, REF, REF]),
    (Cancel(Holder), [NO, OK("cancelled", W1, &["cancelled"]), NO, REF, REF, REF, REF]),
    (Cancel(Other), [NO, NO, NO, REF, REF, REF, REF]),
    (Reopen, [REF, REF, REF, OK("pending", NOBODY, &["reopened"]), OK("pending", NOBODY, &["reopened"]),
        OK("pending", NOBODY, &["reopened"]), OK("pending", NOBODY, &["reopened"])]),
    (Patch("pending"), [SAME, REF, OK("pending", NOBODY, &["lease_expired"]),
        OK("pending", NOBODY, &["reopened"]), OK("pending", NOBODY, &["reopened"]),
        OK("pending", NOBODY, &["reopened"]), OK("pending", NOBODY, &["reopened"])]),
    (Patch("in_progress"), [OK("in_progress", W1, &["claimed"]), SAME,
        OK("in_progress", W1, &["lease_expired", "claimed"]), REF, REF, REF, REF]),
    (Patch("completed"), [REF, OK("completed", W1, &["completed"]), REF, SAME, REF, REF, REF]),
    (Patch("cancelled"), [NO, OK("cancelled", W1, &["cancelled"]), NO, REF, SAME, REF, REF]),
    (Patch("failed"), [REF, OK("failed", W1, &["failed"]), REF, REF, REF, SAME, REF]),
    (Patch("rejected"), [OK("rejected", NOBODY, &["rejected"]), OK("rejected", W1, &["rejected"]),
        OK("rejected", NOBODY, &["lease_expired", "rejected"]), REF, REF, REF, SAME]),
];

struct Actors {
    creator: Client,
    holder: Client,
    other: Client,
}

impl Actors {
    fn new(app: &TestApp) -> Self {
        Self {
            creator: app.actor("human", "alice"),
            holder: app.actor("agent", "w1"),
            other: app.actor("agent", "w2"),
        }
    }

    fn get(&self, who: Who) -> (&Client, &'static str) {
        match who {
            Creator => (&self.creator, "alice"),
            Holder => (&self.holder, "w1"),
            Other => (&self.other, "w2"),
        }
    }
}

async fn act(c: &Client, id: i64, verb: &str, body: Value) -> Res {
    c.post(&format!("/tasks/{id}/{verb}"), body).await
}

async fn claim(c: &Client, id: i64, lease_ms: i64) -> Res {
    act(c, id, "claim", json!({ "lease_duration": lease_ms })).await
}

async fn new_task(c: &Client, title: &str) -> i64 {
    c.create_task(json!({ "title": title })).await["id"]
        .as_i64()
        .unwrap()
}

async fn get_task(c: &Client, id: i64) -> Value {
    c.get(&format!("/tasks/{id}")).await.expect(200)["task"].clone()
}

async fn events(c: &Client, id: i64) -> Vec<Value> {
    let body = c.get(&format!("/tasks/{id}/events")).await.expect(200);
    body["events"].as_array().expect("events array").clone()
}

fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

fn ts(v: &Value) -> DateTime<Utc> {
    v.as_str().expect("a timestamp").parse().expect("RFC 3339")
}

fn lease_ms(task: &Value) -> i64 {
    (ts(&task["lease_expires"]) - ts(&task["updated_at"])).num_milliseconds()
}

fn without_messages(mut task: Value) -> Value {
    task.as_object_mut().unwrap().remove("messages");
    task
}

/// Builds a task in `start` through the API.
async fn build(a: &Actors, start: Start) -> i64 {
    let id = new_task(&a.creator, &format!("{start:?}")).await;
    use Start::*;
    if matches!(start, InProgress | Expired | Completed | Failed) {
        let lease = if let Expired = start { 1_000 } else { 60_000 };
        claim(&a.holder, id, lease).await.expect(200);
    }
    let last = match start {
        Completed => (&a.holder, "complete", json!({ "outputs": { "n": 1 } })),
        Cancelled => (&a.creator, "cancel", json!({ "reason": "c0" })),
        Failed => (&a.holder, "fail", json!({ "reason": "f0" })),
        Rejected => (&a.other, "reject", json!({ "reason": "r0" })),
        Pending | InProgress | Expired => return id,
    };
    act(last.0, id, last.1, last.2).await.expect(200);
    id
}

/// Performs `action`; returns the response and the acting actor's id.
async fn perform(a: &Actors, id: i64, action: Act) -> (Res, &'static str) {
    let reason = |verb: &str| json!({ "reason": format!("{verb}-reason") });
    let (verb, who, body) = match action {
        Claim(w) => ("claim", w, json!({})),
        Complete(w) => ("complete", w, json!({ "outputs": { "n": 2 } })),
        Fail(w) => ("fail", w, reason("fail")),
        Reject(w) => ("reject", w, reason("reject")),
        Cancel(w) => ("cancel", w, reason("cancel")),
        Reopen => ("reopen", Other, reason("reopen")),
        Patch(status) => {
            let body = json!({ "status": status });
            return (a.holder.patch(&format!("/tasks/{id}"), body).await, "w1");
        }
    };
    let (client, actor) = a.get(who);
    (act(client, id, verb, body).await, actor)
}

impl Start {
    /// The status stored (and shown) for this start.
    fn stored(self) -> &'static str {
        match self {
            Start::Pending => "pending",
            Start::InProgress | Start::Expired => "in_progress",
            Start::Completed => "completed",
            Start::Cancelled => "cancelled",
            Start::Failed => "failed",
            Start::Rejected => "rejected",
        }
    }

    /// The status a refusal must name, and the actions it must offer.
    fn refusal(self) -> (&'static str, &'static [&'static str]) {
        match self {
            Start::Pending | Start::Expired => ("pending", &["claim", "reject", "cancel"]),
            Start::InProgress => ("in_progress", &["complete", "fail", "reject", "cancel"]),
            s => (s.stored(), &["reopen"]),
        }
    }
}

/// The reason an action leaves on the task, when it finishes or reopens it.
fn reason_of(action: Act) -> Value {
    match action {
        Fail(_) => json!("fail-reason"),
        Reject(_) => json!("reject-reason"),
        Cancel(_) => json!("cancel-reason"),
        Reopen => json!("reopen-reason"),
        Claim(_) | Complete(_) | Patch(_) => Value::Null,
    }
}

/// Checks one cell; returns what was wrong.
async fn check_cell(a: &Actors, start: Start, action: Act, want: &Want, id: i64) -> Vec<String> {
    let before = get_task(&a.creator, id).await;
    let events_before = events(&a.creator, id).await;
    assert_eq!(before["status"], start.stored(), "{start:?} was not built");
    let (res, actor) = perform(a, id, action).await;
    let after = get_task(&a.creator, id).await;
    let events_after = events(&a.creator, id).await;
    let new_events = &events_after[events_before.len().min(events_after.len())..];
    let mut bad = Vec::new();

    let (code, http) = match want {
        OK(..) | SAME => ("", 200),
        REF | HELD => ("CONFLICT", 409),
        NO => ("FORBIDDEN", 403),
    };
    if res.status != http {
        return vec![format!("HTTP {} (want {http}): {}", res.status, res.body)];
    }
    let msg = res.body["error"].as_str().unwrap_or_default();
    let mut must_say: Vec<&str> = Vec::new();
    match want {
        REF => {
            let (named, possible) = start.refusal();
            must_say.push(named);
            // The actions offered come after "possible actions".
            let offered = msg.split_once("possible actions").map_or("", |(_, t)| t);
            for p in possible.iter().filter(|p| !offered.contains(**p)) {
                bad.push(format!("{msg:?} does not offer {p}"));
            }
        }
        HELD => {
            must_say.extend(["in_progress", "agent:w1"]);
            if let Claim(_) = action {
                must_say.push(before["lease_expires"].as_str().unwrap_or("?"));
            }
        }
        _ => {}
    }
    if http != 200 && (res.body["code"] != code || msg.is_empty()) {
        bad.push(format!("error body {} (want code {code})", res.body));
    }
    for word in must_say.iter().filter(|w| !msg.contains(**w)) {
        bad.push(format!("{msg:?} does not name {word}"));
    }
    let OK(status, assignee, expected) = want else {
        // Refused or a no-op: nothing written, and a no-op replies with the task.
        if after != before || !new_events.is_empty() {
            bad.push(format!(
                "wrote {:?}: {before} -> {after}",
                types(new_events)
            ));
        }
        if matches!(want, SAME) && res.body["task"] != without_messages(before) {
            bad.push(format!("reply {}", res.body));
        }
        return bad;
    };

    // The new state, what the reply and the events say, against SPEC §3.
    let claims = expected.iter().filter(|e| **e == "claimed").count() as i64;
    let finishing = ["failed", "rejected", "cancelled", "reopened"];
    let mut outputs = before["outputs"].as_array().unwrap().clone();
    if let Complete(_) = action {
        outputs.push(json!({ "n": 2 }));
    }
    let wanted = json!({
        "status": status,
        "assignee": assignee.map(|id| format!("agent:{id}")),
        "attempts": before["attempts"].as_i64().unwrap() + claims,
        "reason": if expected.iter().any(|e| finishing.contains(e)) {
            reason_of(action)
        } else {
            before["reason"].clone()
        },
        "outputs": outputs,
        // A claim or renewal with `{}` gets the default 60 s lease from now.
        "lease_ms": (*status == "in_progress").then_some(60_000),
        "completed_at": *status == "completed",
        "updated_at_advanced": true,
        "reply_is_stored_task": true,
        "events": expected.iter().map(|t| format!("task.{t}")).collect::<Vec<_>>(),
        "event_actors": vec![actor; expected.len()],
        "expired_holder": expected.contains(&"lease_expired").then_some("w1"),
        "last_event_task_is_reply": true,
    });
    let expired = new_events
        .iter()
        .find(|e| e["type"] == "task.lease_expired");
    let got = json!({
        "status": after["status"],
        "assignee": after["assignee_id"].as_str().map(|id| {
            format!("{}:{id}", after["assignee_type"].as_str().unwrap_or("?"))
        }),
        "attempts": after["attempts"],
        "reason": after["reason"],
        "outputs": after["outputs"],
        "lease_ms": after["lease_expires"].is_string().then(|| lease_ms(&after)),
        "completed_at": after["completed_at"].is_string(),
        "updated_at_advanced": ts(&after["updated_at"]) > ts(&before["updated_at"]),
        "reply_is_stored_task": res.body["task"] == without_messages(after.clone()),
        "events": types(new_events),
        "event_actors": new_events.iter().map(|e| &e["actor_id"]).collect::<Vec<_>>(),
        "expired_holder": expired.map(|e| &e["data"]["previous_assignee"]["actor_id"]),
        "last_event_task_is_reply": new_events.last()
            .is_some_and(|e| e["data"]["task"] == res.body["task"]),
    });
    if got != wanted {
        bad.push(format!("\n  got  {got}\n  want {wanted}"));
    }
    bad
}

/// A server whose reaper first runs after a minute, so expired leases stay unreaped.
async fn long_reaper(backend: Backend) -> Option<TestApp> {
    TestApp::start_with(backend, |c| c.reaper_interval_ms = 60_000).await
}

/// Every status × every action, on a server whose reaper stays away.
async fn transition_table(app: TestApp) {
    let a = Actors::new(&app);
    let mut cells = Vec::new();
    for (action, wants) in TABLE {
        for (start, want) in STARTS.iter().zip(wants) {
            cells.push((*start, *action, want, build(&a, *start).await));
        }
    }
    // Let every 1 s lease (the `Expired` column) run out; the reaper won't run.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let mut failures = Vec::new();
    for (start, action, want, id) in cells {
        for problem in check_cell(&a, start, action, want, id).await {
            failures.push(format!("{start:?} × {action:?} (want {want:?}): {problem}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// 50 actors claim one task at once: exactly one wins.
async fn fifty_concurrent_claims(app: TestApp) {
    let id = new_task(&app.client(), "race").await;
    let racers = (0..50).map(|i| {
        let client = app.actor("agent", &format!("racer-{i}"));
        tokio::spawn(async move { (i, act(&client, id, "claim", json!({})).await) })
    });
    let results: Vec<(usize, Res)> = join_all(racers).await.into_iter().flatten().collect();
    let winners: Vec<&(usize, Res)> = results.iter().filter(|(_, r)| r.status == 200).collect();
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let winner = format!("racer-{}", winners[0].0);
    for (_, res) in results.iter().filter(|(_, r)| r.status != 200) {
        let body = res.clone().expect_error(409);
        assert_eq!(body["code"], "CONFLICT");
        let msg = body["error"].as_str().unwrap();
        assert!(msg.contains(&format!("agent:{winner}")), "{msg}");
    }
    let task = get_task(&app.client(), id).await;
    assert_eq!(task["status"], "in_progress");
    assert_eq!(task["assignee_id"], winner.as_str());
    assert_eq!(task["attempts"], 1);
    let history = events(&app.client(), id).await;
    assert_eq!(types(&history), ["task.created", "task.claimed"]);
    assert_eq!(history[1]["actor_id"], winner.as_str());
}

/// The reaper returns a task whose 1 s lease ran out to `pending` within 3 s.
async fn lease_expires_back_to_pending(app: TestApp) {
    let w1 = app.actor("agent", "w1");
    let id = new_task(&w1, "short lease").await;
    let claimed = claim(&w1, id, 1_000).await.expect(200);
    assert_eq!(lease_ms(&claimed["task"]), 1_000);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    let task = loop {
        let task = get_task(&w1, id).await;
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
    let history = events(&w1, id).await;
    assert_eq!(
        types(&history),
        ["task.created", "task.claimed", "task.lease_expired"]
    );
    let expired = &history[2];
    assert_eq!(expired["actor_type"], "system");
    assert_eq!(expired["data"]["previous_assignee"]["actor_id"], "w1");
    assert_eq!(expired["data"]["task"]["status"], "pending");
    // Claimable again, by anyone.
    let again = act(&app.actor("agent", "w2"), id, "claim", json!({}))
        .await
        .expect(200);
    assert_eq!(again["task"]["attempts"], 2);
    assert_eq!(again["task"]["assignee_id"], "w2");
}

/// A claim by the holder before expiry renews the lease and outlives the original expiry.
async fn renewal_extends_lease(app: TestApp) {
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
    let task = get_task(&w1, id).await;
    assert_eq!(task["status"], "in_progress");
    assert_eq!(task["assignee_id"], "w1");
    assert_eq!(task["attempts"], 1);
    assert_eq!(task["lease_expires"], renewed["lease_expires"]);
    let history = events(&w1, id).await;
    assert_eq!(
        types(&history),
        ["task.created", "task.claimed", "task.lease_renewed"]
    );
    assert_eq!(history[2]["actor_id"], "w1");
}

/// Asserts the task is still `before`, with `n` events.
async fn unchanged(c: &Client, id: i64, before: &Value, n: usize) {
    assert_eq!(&get_task(c, id).await, before);
    assert_eq!(events(c, id).await.len(), n);
}

/// `lease_duration` must lie in 1 000 ..= 86 400 000 ms, on a claim and on a renewal.
async fn lease_bounds(app: TestApp) {
    let w1 = app.actor("agent", "w1");
    let id = new_task(&w1, "bounds").await;
    let pending = get_task(&w1, id).await;
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
    let held = get_task(&w1, id).await;
    for bad in [999, 86_400_001] {
        claim(&w1, id, bad).await.expect_error(422);
        unchanged(&w1, id, &held, 2).await;
    }
    let min = claim(&w1, id, 1_000).await.expect(200);
    assert_eq!(lease_ms(&min["task"]), 1_000);
}

crate::on_both_backends!(start = super::long_reaper; transition_table);
crate::on_both_backends!(
    fifty_concurrent_claims,
    lease_expires_back_to_pending,
    renewal_extends_lease,
    lease_bounds,
);
