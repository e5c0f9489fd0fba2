//! Claim-next and attempts (SPEC §4): 16 concurrent workers drain 2 000
//! tasks, each completed exactly once; claim-next takes the most urgent then
//! the oldest and honours its filters; a task at its `max_attempts` is not
//! claimable and says so; a bulk create is all or nothing.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::common::shapes::{id, read_task};
use crate::common::{Client, TestApp};

crate::on_both_backends!(
    claim_next_writes_what_a_direct_claim_writes,
    sixteen_workers_drain_two_thousand,
    claim_next_order_and_filters,
    attempt_limits,
    bulk_is_all_or_nothing,
);

async fn create(c: &Client, body: Value) -> i64 {
    id(&c.create_task(body).await)
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

/// `attempts` counts claims; a task at its `max_attempts` is not claimable and says so.
async fn attempt_limits(app: TestApp) {
    let c = app.actor("agent", "w");
    let t = create(&c, json!({ "title": "flaky", "max_attempts": 2 })).await;
    for _ in 0..2 {
        c.act(t, "claim", json!({})).await.expect(200);
        c.act(t, "fail", json!({})).await.expect(200);
        c.act(t, "reopen", json!({})).await.expect(200);
    }
    assert_eq!(read_task(&c, t).await["attempts"], 2);
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

/// Claim-next writes its claim as one SQL `UPDATE` (many rows at once),
/// beside the claim transition the service plans row by row: both leave a
/// task in the same state, and the history records the same event.
async fn claim_next_writes_what_a_direct_claim_writes(app: TestApp) {
    let c = app.actor("agent", "w");
    let direct = create(&c, json!({ "title": "direct", "priority": 1 })).await;
    let next = create(&c, json!({ "title": "next", "priority": 9 })).await;
    let by_claim = c
        .post(
            &format!("/tasks/{direct}/claim"),
            json!({ "lease_duration": 30000 }),
        )
        .await
        .expect(200)["task"]
        .clone();
    let by_next = c
        .post("/tasks/claim-next", json!({ "lease_duration": 30000 }))
        .await
        .expect(200)["task"]
        .clone();
    assert_eq!(by_next["id"], next);
    for field in [
        "status",
        "assignee_type",
        "assignee_id",
        "assignee_name",
        "attempts",
    ] {
        assert!(by_next.get(field).is_some(), "no {field} in {by_next}");
        assert_eq!(
            by_next[field], by_claim[field],
            "{field}: {by_next} vs {by_claim}"
        );
    }
    let lease = |t: &Value, at: &str| {
        let parse = |k: &str| chrono::DateTime::parse_from_rfc3339(t[k].as_str().unwrap()).unwrap();
        (parse("lease_expires") - parse(at)).num_milliseconds()
    };
    assert_eq!(lease(&by_next, "claimed_at"), 30_000, "{by_next}");
    assert_eq!(lease(&by_claim, "claimed_at"), 30_000, "{by_claim}");
    assert_eq!(by_next["claimed_at"], by_next["updated_at"], "{by_next}");
    for (id, stored) in [(direct, &by_claim), (next, &by_next)] {
        let mut read = read_task(&c, id).await;
        read.as_object_mut().unwrap().remove("messages");
        assert_eq!(&read, stored, "the answer is what is stored");
        let history = c.get(&format!("/tasks/{id}/events")).await.expect(200);
        let last = history["events"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(last["type"], "task.claimed", "{history}");
        assert_eq!(
            &last["data"]["task"], stored,
            "the event carries the claimed task"
        );
    }
}
