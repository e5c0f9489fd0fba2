//! GraphQL workflow mutations (SPEC §4): `createTasks` is all or nothing,
//! `claimNextTask` takes the highest priority then the oldest, and
//! `createSubtask` / `addHandoff` show up as fields of the parent.

use serde_json::{Value, json};

use crate::common::gql::{ok, refused};
use crate::common::shapes::strs;
use crate::common::{Client, TestApp};

crate::on_both_backends!(
    create_tasks_makes_all_in_order_or_none,
    claim_next_task_takes_priority_then_age,
    subtasks_and_handoffs_are_fields_of_the_parent,
);

const BULK: &str =
    "mutation($in: [CreateTaskInput!]!) { createTasks(inputs: $in) { count tasks { id title } } }";

/// n1 (priority 3), n2 and n3 (9) on channel `next`, by `agent:alpha`.
async fn three_on_next(a: &Client) -> Value {
    let made = ok(
        a,
        BULK,
        json!({ "in": [{ "title": "n1", "channel": "next", "priority": 3 },
            { "title": "n2", "channel": "next", "priority": 9 }, { "title": "n3", "channel": "next", "priority": 9 }] }),
    )
    .await["createTasks"]
        .clone();
    assert_eq!(made["count"], 3);
    assert_eq!(strs(&made["tasks"], "title"), ["n1", "n2", "n3"]);
    made
}

async fn create_tasks_makes_all_in_order_or_none(app: TestApp) {
    let a = app.actor("agent", "alpha");
    three_on_next(&a).await;
    let m = refused(
        &a,
        "BAD_REQUEST",
        BULK,
        json!({ "in": [{ "title": "ok", "channel": "next2" }, { "title": "bad", "channel": "next2", "priority": 0 }] }),
    )
    .await;
    assert!(m.contains('1'), "names the index: {m}");
    assert_eq!(
        ok(
            &a,
            "{ tasks(filter: {channels: [\"next2\"]}) { totalCount } }",
            json!({})
        )
        .await["tasks"]["totalCount"],
        0,
        "all or nothing"
    );
}

async fn claim_next_task_takes_priority_then_age(app: TestApp) {
    three_on_next(&app.actor("agent", "alpha")).await;
    let b = app.actor("agent", "beta");
    let next = "mutation { claimNextTask(filter: {channel: \"next\"}, leaseMs: 60000) { task { title status assignee { id } } } }";
    let mut order = Vec::new();
    for _ in 0..3 {
        let t = ok(&b, next, json!({})).await["claimNextTask"]["task"].clone();
        assert_eq!(
            (&t["status"], &t["assignee"]["id"]),
            (&json!("IN_PROGRESS"), &json!("beta"))
        );
        order.push(t["title"].as_str().unwrap().to_owned());
    }
    assert_eq!(order, ["n2", "n3", "n1"], "highest priority, then oldest");
    assert!(ok(&b, next, json!({})).await["claimNextTask"]["task"].is_null());
}

async fn subtasks_and_handoffs_are_fields_of_the_parent(app: TestApp) {
    let (a, b) = (app.actor("agent", "alpha"), app.actor("agent", "beta"));
    let made = three_on_next(&a).await;
    let n1 = made["tasks"][0]["id"].clone();
    let sub = ok(
        &a,
        "mutation($p: ID!) { createSubtask(parentId: $p, input: {title: \"child\"}) { task { id parent { id title } } } }",
        json!({ "p": n1 }),
    )
    .await["createSubtask"]["task"]
        .clone();
    assert_eq!(sub["parent"], json!({ "id": n1, "title": "n1" }));
    let hand = ok(
        &b,
        "mutation($t: ID!) { addHandoff(taskId: $t, input: {summary: \"half done\", nextSteps: [\"a\", \"b\"]}) { handoff { taskId summary nextSteps actor { id } } } }",
        json!({ "t": n1 }),
    )
    .await["addHandoff"]["handoff"]
        .clone();
    assert_eq!(
        hand,
        json!({ "taskId": n1, "summary": "half done", "nextSteps": ["a", "b"], "actor": { "id": "beta" } })
    );
    let n1_read = ok(
        &a,
        "query($id: ID!) { task(id: $id) { subtasks { id title } handoffs { summary } } }",
        json!({ "id": n1 }),
    )
    .await["task"]
        .clone();
    assert_eq!(
        n1_read,
        json!({ "subtasks": [{ "id": sub["id"], "title": "child" }], "handoffs": [{ "summary": "half done" }] })
    );
}
