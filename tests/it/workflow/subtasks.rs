//! Subtasks and handoffs (SPEC §4): a parent completes only after its
//! subtasks finish, and the last one says so on the parent; handoffs are
//! kept, listed and recorded; and the same workflow over GraphQL.

use serde_json::{Value, json};

use crate::common::gql::gql;
use crate::common::shapes::{event_types, id};
use crate::common::{Client, TestApp};

crate::on_both_backends!(
    a_parent_completes_only_after_its_subtasks,
    handoffs_are_kept_listed_and_recorded,
    the_workflow_over_graphql,
);

async fn create(c: &Client, body: Value) -> i64 {
    id(&c.create_task(body).await)
}

/// A parent cannot complete before its subtasks finish; the last one
/// finishing says so on the parent.
async fn a_parent_completes_only_after_its_subtasks(app: TestApp) {
    let c = app.actor("agent", "w");
    let parent = create(&c, json!({ "title": "parent" })).await;
    let s1 = c
        .post(
            &format!("/tasks/{parent}/subtasks"),
            json!({ "title": "s1" }),
        )
        .await
        .expect(201)["task"]
        .clone();
    let s2 = c
        .post(
            &format!("/tasks/{parent}/subtasks"),
            json!({ "title": "s2" }),
        )
        .await
        .expect(201)["task"]
        .clone();
    assert_eq!(s1["parent_id"], parent);
    let listed = c
        .get(&format!("/tasks/{parent}/subtasks"))
        .await
        .expect(200);
    assert_eq!(listed["tasks"].as_array().unwrap().len(), 2);
    c.act(parent, "claim", json!({})).await.expect(200);
    let refused = c
        .post(&format!("/tasks/{parent}/complete"), json!({}))
        .await
        .expect_error(409);
    assert!(
        refused["error"].as_str().unwrap().contains("subtasks"),
        "{refused}"
    );
    for s in [id(&s1), id(&s2)] {
        c.act(s, "claim", json!({})).await.expect(200);
    }
    c.post(&format!("/tasks/{}/complete", id(&s1)), json!({}))
        .await
        .expect(200);
    assert!(
        !event_types(&c, parent)
            .await
            .contains(&"task.updated".to_owned())
    );
    c.post(
        &format!("/tasks/{}/reject", id(&s2)),
        json!({ "reason": "n/a" }),
    )
    .await
    .expect(200);
    let events = c.get(&format!("/tasks/{parent}/events")).await.expect(200);
    let last = events["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["type"], "task.updated");
    assert_eq!(last["data"]["subtasks_done"], true);
    c.act(parent, "complete", json!({})).await.expect(200);
}

/// A handoff keeps its summary and next steps, names its actor, is listed
/// and recorded; an empty summary is refused.
async fn handoffs_are_kept_listed_and_recorded(app: TestApp) {
    let c = app.actor("agent", "w");
    let parent = create(&c, json!({ "title": "parent" })).await;
    let h = c
        .post(
            &format!("/tasks/{parent}/handoffs"),
            json!({ "summary": "backend done", "next_steps": ["add form", "wire API"] }),
        )
        .await
        .expect(201);
    assert_eq!(h["handoff"]["next_steps"], json!(["add form", "wire API"]));
    assert_eq!(h["handoff"]["actor_id"], "w");
    c.post(
        &format!("/tasks/{parent}/handoffs"),
        json!({ "summary": "" }),
    )
    .await
    .expect_error(422);
    let list = c
        .get(&format!("/tasks/{parent}/handoffs"))
        .await
        .expect(200);
    assert_eq!(list["handoffs"].as_array().unwrap().len(), 1);
    assert_eq!(
        event_types(&c, parent).await.last().unwrap(),
        "task.handoff"
    );
}

/// createTasks, a dependency, claimNextTask, a subtask and a handoff over
/// GraphQL, read back as fields of the task.
async fn the_workflow_over_graphql(app: TestApp) {
    let c = app.actor("agent", "g");
    let q = |query: &'static str, vars: Value| gql(&c, query, vars);
    let made = q(
        "mutation { createTasks(inputs: [{title: \"one\", priority: 3}, {title: \"two\", priority: 8}]) { count tasks { id } } }",
        json!({}),
    )
    .await;
    assert_eq!(made["data"]["createTasks"]["count"], 2, "{made}");
    let one = made["data"]["createTasks"]["tasks"][0]["id"].clone();
    let dep = q(
        "mutation($d: ID!) { createTask(input: {title: \"after\", dependsOn: [$d]}) { task { id dependsOn { id } blockedBy { id } } } }",
        json!({ "d": one }),
    )
    .await;
    assert_eq!(
        dep["data"]["createTask"]["task"]["blockedBy"][0]["id"], one,
        "{dep}"
    );
    let next = q(
        "mutation { claimNextTask(leaseMs: 5000) { task { title status } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        next["data"]["claimNextTask"]["task"]["title"], "two",
        "{next}"
    );
    let sub = q(
        "mutation($p: ID!) { createSubtask(parentId: $p, input: {title: \"child\"}) { task { id } } }",
        json!({ "p": one }),
    )
    .await;
    assert!(
        sub["data"]["createSubtask"]["task"]["id"].is_string(),
        "{sub}"
    );
    let h = q(
        "mutation($t: ID!) { addHandoff(taskId: $t, input: {summary: \"half\", nextSteps: [\"rest\"]}) { handoff { summary nextSteps } } }",
        json!({ "t": one }),
    )
    .await;
    assert_eq!(
        h["data"]["addHandoff"]["handoff"]["nextSteps"],
        json!(["rest"]),
        "{h}"
    );
    let read = q(
        "query($t: ID!) { task(id: $t) { subtasks { title } handoffs { summary } } tasks(filter: {claimable: true}) { totalCount } }",
        json!({ "t": one }),
    )
    .await;
    assert_eq!(
        read["data"]["task"]["subtasks"][0]["title"], "child",
        "{read}"
    );
    assert_eq!(read["data"]["task"]["handoffs"][0]["summary"], "half");
    // one and child are claimable; "after" is blocked; "two" is claimed.
    assert_eq!(read["data"]["tasks"]["totalCount"], 2, "{read}");
}
