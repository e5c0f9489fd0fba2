//! GraphQL task mutations and reads (SPEC §3, §5): `createTask` returns every
//! field as REST stores it, `updateTask`, the lifecycle mutations with their
//! refusals, `addMessage`, and the thread and history as fields of the task;
//! `deleteTask` keeps the history. Refused mutations record nothing.

use serde_json::{Value, json};

use crate::common::gql::{ok, refused};
use crate::common::shapes::{strs, ts};
use crate::common::{Client, TestApp};

crate::on_both_backends!(
    create_task_returns_every_field_and_rest_agrees,
    update_task_changes_fields_and_a_refusal_changes_nothing,
    lifecycle_mutations_follow_the_rules,
    add_message_keeps_its_parts_and_checks_them,
    complete_task_appends_outputs,
    the_history_holds_every_change_and_no_refusal,
    delete_task_keeps_the_history,
);

const T: &str = "fragment T on Task { id title description type channel priority status payload outputs source { type id name } assignee { type id } leaseExpires reason org project attempts maxAttempts createdAt updatedAt claimedAt completedAt }";

fn with_t(op: &str) -> String {
    format!("{op} {T}")
}

/// `agent:alpha` creates, `agent:beta` works, `human:carol` looks on.
struct Cast {
    a: Client,
    b: Client,
    h: Client,
}

fn cast(app: &TestApp) -> Cast {
    Cast {
        a: app.actor("agent", "alpha"),
        b: app.actor("agent", "beta"),
        h: app.actor("human", "carol"),
    }
}

/// `mutation { <name>(id, reason|outputs: $x) { task { ...T } } }`.
fn act(name: &str, arg: &str) -> String {
    with_t(&format!(
        "mutation($id: ID!, $x: {arg}) {{ {name}(id: $id, {}: $x) {{ task {{ ...T }} }} }}",
        if name == "completeTask" {
            "outputs"
        } else {
            "reason"
        }
    ))
}

fn get() -> String {
    with_t("query($id: ID!) { task(id: $id) { ...T } }")
}

fn claim() -> String {
    with_t("mutation($id: ID!, $ms: Int) { claimTask(id: $id, leaseMs: $ms) { task { ...T } } }")
}

/// Step: alpha creates "Write docs" with every field; b reads the same task,
/// REST the same values. Returns the task.
async fn create(cast: &Cast) -> Value {
    let create =
        with_t("mutation($in: CreateTaskInput!) { createTask(input: $in) { task { ...T } } }");
    let t = ok(
        &cast.a,
        &create,
        json!({ "in": { "title": "Write docs", "description": "all of them", "type": "docs",
            "channel": "ops", "priority": 8, "payload": { "k": [1, 2] }, "maxAttempts": 3 } }),
    )
    .await["createTask"]["task"]
        .clone();
    let id = t["id"].as_str().unwrap().to_owned();
    let expect = json!({ "id": id, "title": "Write docs", "description": "all of them", "type": "docs",
        "channel": "ops", "priority": 8, "status": "PENDING", "payload": { "k": [1, 2] }, "outputs": [],
        "source": { "type": "AGENT", "id": "alpha", "name": null }, "assignee": null, "leaseExpires": null,
        "reason": null, "org": "default", "project": "main", "attempts": 0, "maxAttempts": 3,
        "createdAt": t["createdAt"], "updatedAt": t["updatedAt"], "claimedAt": null, "completedAt": null });
    assert_eq!(t, expect);
    assert_eq!(ok(&cast.b, &get(), json!({ "id": id })).await["task"], t);
    let stored = cast.a.get(&format!("/tasks/{id}")).await.expect(200)["task"].clone();
    assert_eq!(stored["id"].to_string(), id);
    assert_eq!(stored["status"], "pending");
    assert_eq!(stored["max_attempts"], 3);
    // Times are written the same way in both APIs.
    assert_eq!(
        (&stored["created_at"], &stored["updated_at"]),
        (&t["createdAt"], &t["updatedAt"])
    );
    t
}

/// Step: fields change, null clears; a status goes through the lifecycle
/// (refused here, with the whole update); bad values are refused.
async fn update(cast: &Cast, t: &Value) {
    let (a, id) = (&cast.a, &t["id"]);
    let update = with_t(
        "mutation($id: ID!, $in: UpdateTaskInput!) { updateTask(id: $id, input: $in) { task { ...T } } }",
    );
    let u = ok(
        a,
        &update,
        json!({ "id": id, "in": { "title": "Write the docs", "description": null, "type": "writing",
            "channel": "docs", "priority": 9, "payload": { "v": 2 }, "maxAttempts": null } }),
    )
    .await["updateTask"]["task"]
        .clone();
    assert_eq!(
        (
            &u["title"],
            &u["description"],
            &u["type"],
            &u["channel"],
            &u["priority"]
        ),
        (
            &json!("Write the docs"),
            &Value::Null,
            &json!("writing"),
            &json!("docs"),
            &json!(9)
        )
    );
    assert_eq!(u["payload"], json!({ "v": 2 }));
    assert!(u["maxAttempts"].is_null());
    assert!(ts(&u["updatedAt"]) >= ts(&t["createdAt"]));
    let bad_status = json!({ "id": id, "in": { "status": "COMPLETED", "title": "sneaky" } });
    let m = refused(a, "CONFLICT", &update, bad_status).await;
    assert!(m.contains("pending"), "{m}");
    let empty_title = json!({ "id": id, "in": { "title": "" } });
    refused(a, "BAD_REQUEST", &update, empty_title).await;
    let zero = json!({ "id": id, "in": { "priority": 0 } });
    refused(a, "BAD_REQUEST", &update, zero).await;
    assert_eq!(
        ok(a, &get(), json!({ "id": id })).await["task"]["title"],
        "Write the docs",
        "a refused update changes nothing"
    );
}

/// Step: claim (60 s), a rival's claim refused, renewal, a bad lease, a
/// rival's complete and a human's cancel refused, fail, complete refused,
/// reopen, reject, reopen, cancel, reopen, and beta's claim (attempt 2).
async fn lifecycle(cast: &Cast, id: &Value) {
    let Cast { a, b, h } = cast;
    let (complete, fail, reject) = (
        act("completeTask", "JSON"),
        act("failTask", "String"),
        act("rejectTask", "String"),
    );
    let (cancel, reopen) = (act("cancelTask", "String"), act("reopenTask", "String"));
    let c1 = ok(a, &claim(), json!({ "id": id, "ms": 60000 })).await["claimTask"]["task"].clone();
    assert_eq!(c1["status"], "IN_PROGRESS");
    assert_eq!(c1["assignee"], json!({ "type": "AGENT", "id": "alpha" }));
    assert_eq!(c1["attempts"], 1);
    let lease = ts(&c1["leaseExpires"]) - ts(&c1["claimedAt"]);
    assert_eq!(lease.num_milliseconds(), 60_000, "{c1}");
    let m = refused(b, "CONFLICT", &claim(), json!({ "id": id })).await;
    assert!(m.contains("agent:alpha"), "names the holder: {m}");
    let renewed =
        ok(a, &claim(), json!({ "id": id, "ms": 120000 })).await["claimTask"]["task"].clone();
    assert_eq!(renewed["attempts"], 1, "a renewal is not a new attempt");
    assert!(ts(&renewed["leaseExpires"]) > ts(&c1["leaseExpires"]));
    refused(a, "BAD_REQUEST", &claim(), json!({ "id": id, "ms": 10 })).await;
    refused(b, "CONFLICT", &complete, json!({ "id": id })).await;
    refused(h, "FORBIDDEN", &cancel, json!({ "id": id })).await;
    let f = ok(a, &fail, json!({ "id": id, "x": "broke" })).await["failTask"]["task"].clone();
    assert_eq!(
        (&f["status"], &f["reason"], &f["leaseExpires"]),
        (&json!("FAILED"), &json!("broke"), &Value::Null)
    );
    let m = refused(a, "CONFLICT", &complete, json!({ "id": id })).await;
    assert!(m.contains("failed") && m.contains("reopen"), "{m}");
    let r = ok(b, &reopen, json!({ "id": id, "x": "retry" })).await["reopenTask"]["task"].clone();
    assert_eq!(
        (&r["status"], &r["reason"], &r["assignee"]),
        (&json!("PENDING"), &json!("retry"), &Value::Null)
    );
    refused(b, "CONFLICT", &reopen, json!({ "id": id })).await;
    let r =
        ok(b, &reject, json!({ "id": id, "x": "not mine" })).await["rejectTask"]["task"].clone();
    assert_eq!(
        (&r["status"], &r["reason"]),
        (&json!("REJECTED"), &json!("not mine"))
    );
    ok(a, &reopen, json!({ "id": id })).await;
    let r = ok(a, &cancel, json!({ "id": id, "x": "dup" })).await["cancelTask"]["task"].clone();
    assert_eq!(
        (&r["status"], &r["reason"]),
        (&json!("CANCELLED"), &json!("dup"))
    );
    ok(a, &reopen, json!({ "id": id })).await;
    let c2 = ok(b, &claim(), json!({ "id": id })).await["claimTask"]["task"].clone();
    assert_eq!(
        (&c2["attempts"], &c2["assignee"]["id"]),
        (&json!(2), &json!("beta"))
    );
}

/// Step: beta adds text and data parts, carol a URL part; empty, unknown and
/// missing-task messages are refused. Returns the two messages.
async fn messages(cast: &Cast, id: &Value) -> (Value, Value) {
    let (b, h) = (&cast.b, &cast.h);
    let add = "mutation($id: ID!, $parts: [MessagePartInput!]!) { addMessage(taskId: $id, parts: $parts) { message { id taskId actor { type id } parts createdAt } } }";
    let parts = json!([{ "type": "text", "content": "working" }, { "type": "data", "content": { "step": 1 } }]);
    let m1 = ok(b, add, json!({ "id": id, "parts": parts })).await["addMessage"]["message"].clone();
    assert_eq!(m1["parts"], parts);
    assert_eq!(
        (&m1["taskId"], &m1["actor"]),
        (id, &json!({ "type": "AGENT", "id": "beta" }))
    );
    let url = json!([{ "type": "url", "url": "https://example.com/x.png", "mime": "image/png" }]);
    let m2 = ok(h, add, json!({ "id": id, "parts": url })).await["addMessage"]["message"].clone();
    assert_eq!(m2["parts"][0]["url"], "https://example.com/x.png");
    refused(b, "BAD_REQUEST", add, json!({ "id": id, "parts": [] })).await;
    let bogus = json!([{ "type": "bogus", "content": "x" }]);
    refused(b, "BAD_REQUEST", add, json!({ "id": id, "parts": bogus })).await;
    let text = json!([{ "type": "text", "content": "x" }]);
    let missing = json!({ "id": "999999", "parts": text });
    refused(b, "NOT_FOUND", add, missing).await;
    (m1, m2)
}

/// Step: beta, the holder, completes with outputs.
async fn complete(cast: &Cast, id: &Value) {
    let done = ok(
        &cast.b,
        &act("completeTask", "JSON"),
        json!({ "id": id, "x": { "r": 1 } }),
    )
    .await["completeTask"]["task"]
        .clone();
    assert_eq!(
        (&done["status"], &done["outputs"], &done["leaseExpires"]),
        (&json!("COMPLETED"), &json!([{ "r": 1 }]), &Value::Null)
    );
    assert!(ts(&done["completedAt"]) >= ts(&done["claimedAt"]));
}

/// A task by alpha claimed by beta.
async fn claimed_by_beta(cast: &Cast) -> Value {
    let t = create(cast).await;
    ok(&cast.b, &claim(), json!({ "id": t["id"] })).await;
    t["id"].clone()
}

async fn create_task_returns_every_field_and_rest_agrees(app: TestApp) {
    create(&cast(&app)).await;
}

async fn update_task_changes_fields_and_a_refusal_changes_nothing(app: TestApp) {
    let cast = cast(&app);
    let t = create(&cast).await;
    update(&cast, &t).await;
}

async fn lifecycle_mutations_follow_the_rules(app: TestApp) {
    let cast = cast(&app);
    let t = create(&cast).await;
    lifecycle(&cast, &t["id"]).await;
}

async fn add_message_keeps_its_parts_and_checks_them(app: TestApp) {
    let cast = cast(&app);
    let id = claimed_by_beta(&cast).await;
    messages(&cast, &id).await;
}

async fn complete_task_appends_outputs(app: TestApp) {
    let cast = cast(&app);
    let id = claimed_by_beta(&cast).await;
    complete(&cast, &id).await;
}

/// The whole story of one task; returns its id, its two messages and the
/// event types of its history.
async fn the_whole_story(cast: &Cast) -> (Value, Value, Value) {
    let t = create(cast).await;
    update(cast, &t).await;
    lifecycle(cast, &t["id"]).await;
    let (m1, m2) = messages(cast, &t["id"]).await;
    complete(cast, &t["id"]).await;
    (t["id"].clone(), m1, m2)
}

/// The thread and the history are fields of the task; the history is the
/// same over REST and holds nothing for the refused mutations.
async fn the_history_holds_every_change_and_no_refusal(app: TestApp) {
    let cast = cast(&app);
    let (id, m1, m2) = the_whole_story(&cast).await;
    let read = ok(
        &cast.a,
        "query($id: ID!, $after: ID, $n: Int) { task(id: $id) { messages { id } one: messages(first: 1) { id } unset: messages(first: $n) { id } rest: messages(after: $after) { id } events { id type taskId actor { id } } } }",
        json!({ "id": id, "after": m1["id"] }),
    )
    .await["task"]
        .clone();
    let (m1_id, m2_id) = (m1["id"].as_str().unwrap(), m2["id"].as_str().unwrap());
    assert_eq!(strs(&read["messages"], "id"), [m1_id, m2_id]);
    assert_eq!(strs(&read["one"], "id"), [m1_id]);
    assert_eq!(
        strs(&read["unset"], "id"),
        [m1_id, m2_id],
        "an unset $n means the default"
    );
    assert_eq!(strs(&read["rest"], "id"), [m2_id]);
    let types = strs(&read["events"], "type");
    assert_eq!(types, HISTORY, "refused operations record nothing");
    let ids: Vec<i64> = strs(&read["events"], "id")
        .iter()
        .map(|i| i.parse().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert!(
        read["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["taskId"] == id)
    );
    let rest_events = cast
        .a
        .get(&format!("/tasks/{}/events", id.as_str().unwrap()))
        .await
        .expect(200);
    assert_eq!(
        strs(&rest_events["events"], "type"),
        types,
        "same history over REST"
    );
}

/// The event types of [`the_whole_story`].
const HISTORY: [&str; 14] = [
    "task.created",
    "task.updated",
    "task.claimed",
    "task.lease_renewed",
    "task.failed",
    "task.reopened",
    "task.rejected",
    "task.reopened",
    "task.cancelled",
    "task.reopened",
    "task.claimed",
    "task.message",
    "task.message",
    "task.completed",
];

/// `deleteTask`: the task is gone from both APIs, its history stays.
async fn delete_task_keeps_the_history(app: TestApp) {
    let cast = cast(&app);
    let a = &cast.a;
    let (id, _, _) = the_whole_story(&cast).await;
    let del = "mutation($id: ID!) { deleteTask(id: $id) { deleted id } }";
    assert_eq!(
        ok(a, del, json!({ "id": id })).await["deleteTask"],
        json!({ "deleted": true, "id": id })
    );
    assert!(ok(a, &get(), json!({ "id": id })).await["task"].is_null());
    a.get(&format!("/tasks/{}", id.as_str().unwrap()))
        .await
        .expect_error(404);
    refused(a, "NOT_FOUND", del, json!({ "id": id })).await;
    let hist = ok(
        a,
        "query($id: ID!) { taskEvents(filter: {taskId: $id}) { type task { id } } }",
        json!({ "id": id }),
    )
    .await["taskEvents"]
        .clone();
    assert_eq!(hist.as_array().unwrap().len(), HISTORY.len() + 1);
    assert_eq!(hist[HISTORY.len()]["type"], "task.deleted");
    assert!(hist[0]["task"].is_null(), "the task is gone: {hist}");
}
