//! Batch claims and waiting claims (issue 13): `POST /tasks/claim-batch`
//! (GraphQL `claimNextTasks`) claims up to `limit` tasks in one transaction,
//! and both claim operations may wait for work instead of answering at once.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::TestApp;
use crate::on_both_backends;

on_both_backends!(
    batches_split_the_queue_between_workers,
    batch_limits_and_empty_answers,
    graphql_claims_a_batch,
    a_waiting_claim_takes_work_as_it_arrives,
);

async fn fill(app: &TestApp, n: usize) -> Vec<i64> {
    let tasks: Vec<Value> = (0..n)
        .map(|i| json!({ "title": format!("t{i}"), "priority": 1 + (i % 10) }))
        .collect();
    app.actor("human", "boss")
        .post("/tasks/bulk", json!({ "tasks": tasks }))
        .await
        .expect(201)["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect()
}

async fn batches_split_the_queue_between_workers(app: TestApp) {
    let ids = fill(&app, 15).await;
    let (a, b) = (app.actor("agent", "a"), app.actor("agent", "b"));
    let (ra, rb) = tokio::join!(
        a.post(
            "/tasks/claim-batch",
            json!({ "limit": 10, "lease_duration": 120000 })
        ),
        b.post("/tasks/claim-batch", json!({ "limit": 10 })),
    );
    let (ra, rb) = (ra.expect(200), rb.expect(200));
    let mut seen = HashSet::new();
    for (r, who) in [(&ra, "a"), (&rb, "b")] {
        let tasks = r["tasks"].as_array().unwrap();
        assert_eq!(r["count"].as_u64().unwrap() as usize, tasks.len());
        assert!(tasks.len() <= 10);
        for t in tasks {
            assert_eq!(t["status"], "in_progress");
            assert_eq!(t["assignee_id"], who);
            assert!(t["lease_expires"].is_string());
            assert!(
                seen.insert(t["id"].as_i64().unwrap()),
                "a task claimed twice: {t}"
            );
        }
        // Most urgent first within a batch.
        let prio: Vec<i64> = tasks
            .iter()
            .map(|t| t["priority"].as_i64().unwrap())
            .collect();
        assert!(prio.windows(2).all(|w| w[0] >= w[1]), "{prio:?}");
    }
    assert_eq!(
        seen,
        ids.into_iter().collect(),
        "every task claimed exactly once"
    );
    for id in &seen {
        let events = a.get(&format!("/tasks/{id}/events")).await.expect(200)["events"].clone();
        let claimed = events
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "task.claimed")
            .count();
        assert_eq!(claimed, 1, "task {id}: one task.claimed each");
    }
}

async fn batch_limits_and_empty_answers(app: TestApp) {
    let w = app.actor("agent", "w");
    let empty = w.post("/tasks/claim-batch", json!({})).await.expect(200);
    assert_eq!(empty, json!({ "tasks": [], "count": 0 }));
    for bad in [
        json!({ "limit": 0 }),
        json!({ "limit": 101 }),
        json!({ "wait_ms": 30001 }),
        json!({ "wait_ms": -1 }),
    ] {
        let err = w
            .post("/tasks/claim-batch", bad.clone())
            .await
            .expect_error(422);
        assert_eq!(err["code"], "BAD_REQUEST", "{bad}: {err}");
    }
    fill(&app, 3).await;
    let got = w
        .post("/tasks/claim-batch", json!({ "limit": 2 }))
        .await
        .expect(200);
    assert_eq!(got["count"], 2);
    let scoped = w
        .post("/orgs/default/projects/main/tasks/claim-batch", json!({}))
        .await
        .expect(200);
    assert_eq!(scoped["count"], 1, "the default limit takes what is left");
    w.post("/orgs/nope/projects/x/tasks/claim-batch", json!({}))
        .await
        .expect_error(404);
}

async fn graphql_claims_a_batch(app: TestApp) {
    fill(&app, 4).await;
    let w = app.actor("agent", "g");
    let r = w
        .post(
            "/graphql",
            json!({ "query": "mutation { claimNextTasks(limit: 3, leaseMs: 5000) { count tasks { id status assignee { id } } } }" }),
        )
        .await
        .expect(200);
    let p = &r["data"]["claimNextTasks"];
    assert_eq!(p["count"], 3, "{r}");
    for t in p["tasks"].as_array().unwrap() {
        assert_eq!(t["status"], "IN_PROGRESS");
        assert_eq!(t["assignee"]["id"], "g");
    }
    let bad = w
        .post(
            "/graphql",
            json!({ "query": "mutation { claimNextTasks(limit: 500) { count } }" }),
        )
        .await
        .expect(200);
    assert!(bad["errors"][0]["extensions"]["code"].is_string(), "{bad}");
}

async fn a_waiting_claim_takes_work_as_it_arrives(app: TestApp) {
    let w = app.actor("agent", "patient");
    // Nothing arrives: the claim answers 404 once the wait is over.
    let started = Instant::now();
    w.post("/tasks/claim-next", json!({ "wait_ms": 300 }))
        .await
        .expect_error(404);
    assert!(started.elapsed() >= Duration::from_millis(300));

    // Work arrives while the claim waits: it is claimed at once, not polled.
    let boss = app.actor("human", "boss");
    let other = app.actor("agent", "other");
    let started = Instant::now();
    let (claim, batch, created) = tokio::join!(
        w.post("/tasks/claim-next", json!({ "wait_ms": 20000 })),
        other.post(
            "/tasks/claim-batch",
            json!({ "wait_ms": 20000, "limit": 1 })
        ),
        async {
            tokio::time::sleep(Duration::from_millis(400)).await;
            let a = boss.create_task(json!({ "title": "late work" })).await;
            let b = boss.create_task(json!({ "title": "more late work" })).await;
            (a["id"].as_i64().unwrap(), b["id"].as_i64().unwrap())
        }
    );
    let took = started.elapsed();
    let claimed = claim.expect(200)["task"]["id"].as_i64().unwrap();
    let batch = batch.expect(200);
    let mut all: Vec<i64> = batch["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    all.push(claimed);
    all.sort_unstable();
    all.dedup();
    assert!(all.len() >= 2, "both waiting claimers got work: {all:?}");
    assert!(all.contains(&created.0) || all.contains(&created.1));
    assert!(
        took < Duration::from_secs(10),
        "the waiters woke with the work ({took:?})"
    );
}
