//! SPEC §3 as a table of data: each starting status (and an expired lease,
//! which counts as `pending`) × each action by each actor, checked cell by
//! cell: the answer, the sentence of a refusal, and the new state, reply and
//! events of a change (a refusal or a no-op writes nothing).

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::shapes::{events_of, id, lease_ms, read_task, ts, types_of, without_messages};
use crate::common::{Client, Res, TestApp};

crate::on_both_backends!(start = crate::common::TestApp::long_reaper; transition_table);

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

/// A claim with a lease of `ms`.
async fn claim(c: &Client, id: i64, ms: i64) -> Res {
    c.act(id, "claim", json!({ "lease_duration": ms })).await
}

/// Builds a task in `start` through the API.
async fn build(a: &Actors, start: Start) -> i64 {
    let id = id(&a
        .creator
        .create_task(json!({ "title": format!("{start:?}") }))
        .await);
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
    last.0.act(id, last.1, last.2).await.expect(200);
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
    (client.act(id, verb, body).await, actor)
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
    let before = read_task(&a.creator, id).await;
    let events_before = events_of(&a.creator, id).await;
    assert_eq!(before["status"], start.stored(), "{start:?} was not built");
    let (res, actor) = perform(a, id, action).await;
    let after = read_task(&a.creator, id).await;
    let events_after = events_of(&a.creator, id).await;
    let new_events = &events_after[events_before.len().min(events_after.len())..];
    let cell = Cell {
        start,
        action,
        before: &before,
        after: &after,
        res: &res,
        new_events,
    };
    let mut bad = match answer_problems(&cell, want) {
        Ok(bad) => bad,
        Err(wrong_status) => return vec![wrong_status],
    };
    let OK(status, assignee, expected) = want else {
        // Refused or a no-op: nothing written, and a no-op replies with the task.
        if after != before || !new_events.is_empty() {
            bad.push(format!(
                "wrote {:?}: {before} -> {after}",
                types_of(new_events)
            ));
        }
        if matches!(want, SAME) && res.body["task"] != without_messages(before) {
            bad.push(format!("reply {}", res.body));
        }
        return bad;
    };
    bad.extend(new_state_problems(
        &cell,
        (status, *assignee, expected),
        actor,
    ));
    bad
}

/// One cell's action and what it saw.
struct Cell<'a> {
    start: Start,
    action: Act,
    before: &'a Value,
    after: &'a Value,
    res: &'a Res,
    new_events: &'a [Value],
}

/// The HTTP status (`Err` when wrong: nothing else is worth checking), the
/// error code, and the sentence: a refusal names the (effective) status and
/// offers the possible actions; a held task names its holder.
fn answer_problems(cell: &Cell, want: &Want) -> Result<Vec<String>, String> {
    let (res, mut bad) = (cell.res, Vec::new());
    let (code, http) = match want {
        OK(..) | SAME => ("", 200),
        REF | HELD => ("CONFLICT", 409),
        NO => ("FORBIDDEN", 403),
    };
    if res.status != http {
        return Err(format!("HTTP {} (want {http}): {}", res.status, res.body));
    }
    let msg = res.body["error"].as_str().unwrap_or_default();
    let mut must_say: Vec<&str> = Vec::new();
    match want {
        REF => {
            let (named, possible) = cell.start.refusal();
            must_say.push(named);
            // The actions offered come after "possible actions".
            let offered = msg.split_once("possible actions").map_or("", |(_, t)| t);
            for p in possible.iter().filter(|p| !offered.contains(**p)) {
                bad.push(format!("{msg:?} does not offer {p}"));
            }
        }
        HELD => {
            must_say.extend(["in_progress", "agent:w1"]);
            if let Claim(_) = cell.action {
                must_say.push(cell.before["lease_expires"].as_str().unwrap_or("?"));
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
    Ok(bad)
}

/// The new state, what the reply and the events say, against SPEC §3.
fn new_state_problems(
    cell: &Cell,
    (status, assignee, expected): (&str, Option<&str>, &[&str]),
    actor: &str,
) -> Vec<String> {
    let Cell {
        action,
        before,
        after,
        res,
        new_events,
        ..
    } = *cell;
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
        "lease_ms": (status == "in_progress").then_some(60_000),
        "completed_at": status == "completed",
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
        "lease_ms": after["lease_expires"].is_string().then(|| lease_ms(after)),
        "completed_at": after["completed_at"].is_string(),
        "updated_at_advanced": ts(&after["updated_at"]) > ts(&before["updated_at"]),
        "reply_is_stored_task": res.body["task"] == without_messages(after.clone()),
        "events": types_of(new_events),
        "event_actors": new_events.iter().map(|e| &e["actor_id"]).collect::<Vec<_>>(),
        "expired_holder": expired.map(|e| &e["data"]["previous_assignee"]["actor_id"]),
        "last_event_task_is_reply": new_events.last()
            .is_some_and(|e| e["data"]["task"] == res.body["task"]),
    });
    if got != wanted {
        return vec![format!("\n  got  {got}\n  want {wanted}")];
    }
    Vec::new()
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
