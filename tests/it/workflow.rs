//! Workflow end to end: claim-next draining under concurrency, dependency
//! chains and diamonds, cycles, failed blockers, subtasks, handoffs, bulk create.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::common::{Client, TestApp};

fn id(task: &Value) -> i64 {
    task["id"].as_i64().expect("task id")
}

async fn create(c: &Client, body: Value) -> i64 {
    id(&c.create_task(body).await)
}

async fn status(c: &Client, task: i64) -> Value {
    c.get(&format!("/tasks/{task}")).await.expect(200)["task"].clone()
}

async fn event_types(c: &Client, task: i64) -> Vec<String> {
    c.get(&format!("/tasks/{task}/events?limit=1000"))
        .await
        .expect(200)["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

/// 16 concurrent workers drain 2 000 tasks through claim-next + complete:
/// every task completed exactly once, none twice, none left.
async fn sixteen_workers_drain_two_thousand(app: TestApp) {
    let admin = app.actor("agent", "loader");
    for chunk in 0..2 {
        let tasks: Vec<Value> = (0..1000)
            .map(|i| json!({ "title": format!("job {chunk}-{i}"), "channel": "drain", "priority": 1 + (i % 10) }))
            .collect();
        let made = admin
            .post("/tasks/bulk", json!({ "tasks": tasks }))
            .await
            .expect(201);
        assert_eq!(made["count"], 1000);
    }
    let mut workers = Vec::new();
    for w in 0..16 {
        let c = app.actor("agent", &format!("worker-{w}"));
        workers.push(tokio::spawn(async move {
            let mut done = Vec::new();
            loop {
                let r = c
                    .post(
                        "/tasks/claim-next",
                        json!({ "channel": "drain", "lease_duration": 600_000 }),
                    )
                    .await;
                match r.status {
                    200 => {
                        let t = id(&r.body["task"]);
                        c.post(
                            &format!("/tasks/{t}/complete"),
                            json!({ "outputs": { "by": w } }),
                        )
                        .await
                        .expect(200);
                        done.push(t);
                    }
                    404 => return done,
                    other => panic!("claim-next answered {other}: {}", r.body),
                }
            }
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    let unique: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len(), 2000, "every task completed once");
    assert_eq!(unique.len(), 2000, "no task completed twice");
    let left = admin
        .get("/tasks?channel=drain&status=pending,in_progress")
        .await
        .expect(200);
    assert_eq!(left["count"], 0);
    let done = admin
        .get("/tasks?channel=drain&status=completed&limit=1")
        .await
        .expect(200);
    assert_eq!(done["count"], 2000);
    let stats = admin.get("/tasks/stats").await.expect(200);
    assert_eq!(stats["stats"]["by_status"]["completed"], 2000);
}

/// Claim-next takes the most urgent, then the oldest, and honours its filters.
async fn claim_next_order_and_filters(app: TestApp) {
    let c = app.actor("agent", "w");
    let low = create(&c, json!({ "title": "low", "priority": 2, "channel": "q" })).await;
    let high_old = create(
        &c,
        json!({ "title": "high old", "priority": 9, "channel": "q" }),
    )
    .await;
    let high_new = create(
        &c,
        json!({ "title": "high new", "priority": 9, "channel": "q" }),
    )
    .await;
    let other = create(
        &c,
        json!({ "title": "other type", "priority": 10, "channel": "q", "type": "review" }),
    )
    .await;
    let take = |body: Value| {
        let c = c.clone();
        async move { c.post("/tasks/claim-next", body).await }
    };
    assert_eq!(
        id(&take(json!({ "channel": "q", "type": "task" }))
            .await
            .expect(200)["task"]),
        high_old
    );
    assert_eq!(
        id(&take(json!({ "channel": "q", "type": "task" }))
            .await
            .expect(200)["task"]),
        high_new
    );
    take(json!({ "channel": "q", "type": "task", "min_priority": 3 }))
        .await
        .expect_error(404);
    let t = take(json!({ "channel": "q", "type": "task" }))
        .await
        .expect(200);
    assert_eq!(id(&t["task"]), low);
    assert_eq!(t["task"]["status"], "in_progress");
    assert_eq!(t["task"]["assignee_id"], "w");
    assert_eq!(
        id(&take(json!({ "channel": "q" })).await.expect(200)["task"]),
        other
    );
    take(json!({ "channel": "q" })).await.expect_error(404);
    take(json!({ "min_priority": 11 })).await.expect_error(422);
}

/// A chain a → b → c and a diamond unblock in order; blocked tasks cannot be claimed.
async fn dependencies_unblock_in_order(app: TestApp) {
    let c = app.actor("agent", "w");
    let a = create(&c, json!({ "title": "a" })).await;
    let b = create(&c, json!({ "title": "b", "depends_on": [a] })).await;
    let cc = create(&c, json!({ "title": "c", "depends_on": [b] })).await;
    let view = status(&c, b).await;
    assert_eq!(view["depends_on"], json!([a]));
    assert_eq!(view["blocked_by"], json!([a]));
    let refused = c
        .post(&format!("/tasks/{b}/claim"), json!({}))
        .await
        .expect_error(409);
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains(&format!("task {a}")),
        "{refused}"
    );
    let claimable = c.get("/tasks?claimable=true&limit=500").await.expect(200);
    let ids: Vec<i64> = claimable["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(id)
        .collect();
    assert!(ids.contains(&a) && !ids.contains(&b) && !ids.contains(&cc));

    c.post(&format!("/tasks/{a}/claim"), json!({}))
        .await
        .expect(200);
    c.post(&format!("/tasks/{a}/complete"), json!({}))
        .await
        .expect(200);
    assert_eq!(event_types(&c, b).await.last().unwrap(), "task.unblocked");
    assert_eq!(status(&c, b).await["blocked_by"], json!([]));
    assert!(
        !event_types(&c, cc)
            .await
            .contains(&"task.unblocked".to_owned())
    );
    c.post(&format!("/tasks/{cc}/claim"), json!({}))
        .await
        .expect_error(409);
    c.post(&format!("/tasks/{b}/claim"), json!({}))
        .await
        .expect(200);
    c.post(&format!("/tasks/{b}/complete"), json!({}))
        .await
        .expect(200);
    assert_eq!(event_types(&c, cc).await.last().unwrap(), "task.unblocked");

    // Diamond: top → (left, right) → bottom.
    let top = create(&c, json!({ "title": "top" })).await;
    let left = create(&c, json!({ "title": "left", "depends_on": [top] })).await;
    let right = create(&c, json!({ "title": "right", "depends_on": [top] })).await;
    let bottom = create(
        &c,
        json!({ "title": "bottom", "depends_on": [left, right] }),
    )
    .await;
    for t in [top, left] {
        c.post(&format!("/tasks/{t}/claim"), json!({}))
            .await
            .expect(200);
        c.post(&format!("/tasks/{t}/complete"), json!({}))
            .await
            .expect(200);
    }
    assert_eq!(status(&c, bottom).await["blocked_by"], json!([right]));
    assert!(
        !event_types(&c, bottom)
            .await
            .contains(&"task.unblocked".to_owned())
    );
    c.post(&format!("/tasks/{right}/claim"), json!({}))
        .await
        .expect(200);
    c.post(&format!("/tasks/{right}/complete"), json!({}))
        .await
        .expect(200);
    let types = event_types(&c, bottom).await;
    assert_eq!(types.iter().filter(|t| *t == "task.unblocked").count(), 1);
    c.post(&format!("/tasks/{bottom}/claim"), json!({}))
        .await
        .expect(200);
}

/// Cycles are refused (and write nothing); a failed blocker leaves dependents visibly blocked.
async fn cycles_refused_and_failed_blockers_block(app: TestApp) {
    let c = app.actor("agent", "w");
    let a = create(&c, json!({ "title": "a" })).await;
    let b = create(&c, json!({ "title": "b", "depends_on": [a] })).await;
    let cc = create(&c, json!({ "title": "c", "depends_on": [b] })).await;
    let before = event_types(&c, a).await.len();
    c.patch(&format!("/tasks/{a}"), json!({ "depends_on": [cc] }))
        .await
        .expect_error(422);
    c.patch(&format!("/tasks/{a}"), json!({ "depends_on": [a] }))
        .await
        .expect_error(422);
    assert_eq!(status(&c, a).await["depends_on"], json!([]));
    assert_eq!(event_types(&c, a).await.len(), before);
    c.post("/tasks", json!({ "title": "x", "depends_on": [999_999] }))
        .await
        .expect_error(422);

    // Cross-org links are refused.
    c.post("/orgs", json!({ "slug": "elsewhere" }))
        .await
        .expect(201);
    c.post("/orgs/elsewhere/projects", json!({ "slug": "p" }))
        .await
        .expect(201);
    c.post(
        "/orgs/elsewhere/projects/p/tasks",
        json!({ "title": "far", "depends_on": [a] }),
    )
    .await
    .expect_error(422);

    c.post(&format!("/tasks/{a}/claim"), json!({}))
        .await
        .expect(200);
    c.post(&format!("/tasks/{a}/fail"), json!({ "reason": "broken" }))
        .await
        .expect(200);
    let view = status(&c, b).await;
    assert_eq!(view["blocked_by"], json!([a]));
    c.post(&format!("/tasks/{b}/claim"), json!({}))
        .await
        .expect_error(409);
    // Rewiring the dependency (PATCH) unblocks it.
    c.patch(&format!("/tasks/{b}"), json!({ "depends_on": [] }))
        .await
        .expect(200);
    c.post(&format!("/tasks/{b}/claim"), json!({}))
        .await
        .expect(200);
}

/// A parent cannot complete before its subtasks finish; the last one finishing says so on the parent.
async fn subtasks_and_handoffs(app: TestApp) {
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
    c.post(&format!("/tasks/{parent}/claim"), json!({}))
        .await
        .expect(200);
    let refused = c
        .post(&format!("/tasks/{parent}/complete"), json!({}))
        .await
        .expect_error(409);
    assert!(
        refused["error"].as_str().unwrap().contains("subtasks"),
        "{refused}"
    );
    for s in [id(&s1), id(&s2)] {
        c.post(&format!("/tasks/{s}/claim"), json!({}))
            .await
            .expect(200);
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
    c.post(&format!("/tasks/{parent}/complete"), json!({}))
        .await
        .expect(200);

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

/// Bulk create of 1 000 tasks with one bad item writes nothing and names the item.
async fn bulk_is_all_or_nothing(app: TestApp) {
    let c = app.actor("agent", "w");
    let mut tasks: Vec<Value> = (0..1000)
        .map(|i| json!({ "title": format!("t{i}") }))
        .collect();
    tasks[637] = json!({ "title": "bad", "priority": 11 });
    let err = c
        .post("/tasks/bulk", json!({ "tasks": tasks }))
        .await
        .expect_error(422);
    assert!(
        err["error"].as_str().unwrap().contains("tasks[637]"),
        "{err}"
    );
    assert_eq!(c.get("/tasks").await.expect(200)["count"], 0);
    tasks[637] = json!({ "title": "fixed", "parent_id": 123_456 });
    let err = c
        .post("/tasks/bulk", json!({ "tasks": tasks }))
        .await
        .expect_error(422);
    assert!(
        err["error"].as_str().unwrap().contains("tasks[637]"),
        "{err}"
    );
    assert_eq!(c.get("/tasks").await.expect(200)["count"], 0);
    let too_many: Vec<Value> = (0..1001)
        .map(|i| json!({ "title": format!("t{i}") }))
        .collect();
    c.post("/tasks/bulk", json!({ "tasks": too_many }))
        .await
        .expect_error(422);
    tasks[637] = json!({ "title": "fixed" });
    let made = c
        .post("/tasks/bulk", json!({ "tasks": tasks }))
        .await
        .expect(201);
    assert_eq!(made["count"], 1000);
    assert_eq!(made["tasks"][999]["title"], "t999");
    let created = c.get("/tasks?limit=1").await.expect(200);
    assert_eq!(created["count"], 1000);
    let events = c
        .get(&format!("/tasks/{}/events", id(&made["tasks"][0])))
        .await
        .expect(200);
    assert_eq!(events["events"].as_array().unwrap().len(), 1);
}

/// `attempts` counts claims; a task at its `max_attempts` is not claimable and says so.
async fn attempt_limits(app: TestApp) {
    let c = app.actor("agent", "w");
    let t = create(&c, json!({ "title": "flaky", "max_attempts": 2 })).await;
    for _ in 0..2 {
        c.post(&format!("/tasks/{t}/claim"), json!({}))
            .await
            .expect(200);
        c.post(&format!("/tasks/{t}/fail"), json!({}))
            .await
            .expect(200);
        c.post(&format!("/tasks/{t}/reopen"), json!({}))
            .await
            .expect(200);
    }
    assert_eq!(status(&c, t).await["attempts"], 2);
    let err = c
        .post(&format!("/tasks/{t}/claim"), json!({}))
        .await
        .expect_error(409);
    assert!(
        err["error"].as_str().unwrap().contains("2 attempts"),
        "{err}"
    );
    c.post("/tasks/claim-next", json!({}))
        .await
        .expect_error(404);
    let claimable = c.get("/tasks?claimable=false").await.expect(200);
    assert_eq!(claimable["count"], 1);
    c.patch(&format!("/tasks/{t}"), json!({ "max_attempts": 3 }))
        .await
        .expect(200);
    c.post("/tasks/claim-next", json!({})).await.expect(200);
}

/// The same operations over GraphQL.
async fn workflow_over_graphql(app: TestApp) {
    let c = app.actor("agent", "g");
    let q = |query: &str, vars: Value| {
        let c = c.clone();
        let body = json!({ "query": query, "variables": vars });
        async move { c.post("/graphql", body).await.expect(200) }
    };
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

crate::on_both_backends!(
    sixteen_workers_drain_two_thousand,
    claim_next_order_and_filters,
    dependencies_unblock_in_order,
    cycles_refused_and_failed_blockers_block,
    subtasks_and_handoffs,
    bulk_is_all_or_nothing,
    attempt_limits,
    workflow_over_graphql,
);
