//! Batch claims and waiting claims (issue 13): `POST /tasks/claim-batch`
//! (GraphQL `claimNextTasks`) claims up to `limit` tasks in one transaction,
//! and both claim operations may wait for work instead of answering at once.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{Role, TestApp};
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
    assert_eq!(
        bad["errors"][0]["extensions"]["code"], "BAD_REQUEST",
        "{bad}"
    );
    assert!(bad["data"].is_null(), "nothing claimed: {bad}");
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

on_both_backends!(start = crate::common::TestApp::required_auth;
    claim_batch_refuses_who_may_not_write,
);

/// As an outsider, a viewer, without credentials, with a revoked key and
/// with malformed bodies, claim-batch takes nothing of `acme/web`; a member
/// removed while its claim waits takes nothing either.
async fn claim_batch_refuses_who_may_not_write(app: TestApp) {
    let owner = app
        .user("olga")
        .in_org("acme", Role::Owner)
        .with_project("web")
        .await;
    let web = "/orgs/acme/projects/web/tasks";
    for i in 0..3 {
        owner
            .post(web, json!({ "title": format!("w{i}") }))
            .await
            .expect(201);
    }
    let batch = |scoped: bool| {
        if scoped {
            format!("{web}/claim-batch")
        } else {
            "/tasks/claim-batch".to_owned()
        }
    };
    let outsider = app.user("mallory").await;
    let viewer = app.user("vic").in_org("acme", Role::Viewer).await;
    for c in [&outsider, &viewer] {
        let r = c
            .post(&batch(false), json!({ "limit": 10 }))
            .await
            .expect(200);
        assert_eq!(r["count"], 0, "{r}");
    }
    outsider
        .post(&batch(true), json!({}))
        .await
        .expect_error(404);
    viewer.post(&batch(true), json!({})).await.expect_error(403);
    app.client()
        .post(&batch(false), json!({}))
        .await
        .expect_error(401);
    let mia = app.user("mia").in_org("acme", Role::Member).await;
    let key = mia
        .post("/auth/api-keys", json!({ "name": "k" }))
        .await
        .expect(201);
    let revoked = app.bearer(key["api_key"]["key"].as_str().unwrap());
    mia.delete(&format!("/auth/api-keys/{}", key["api_key"]["id"]))
        .await
        .expect(200);
    revoked
        .post(&batch(false), json!({}))
        .await
        .expect_error(401);
    for bad in [
        json!({ "limit": "ten" }),
        json!({ "channel": 5 }),
        json!([1]),
    ] {
        mia.post(&batch(false), bad).await.expect_error(422);
    }
    let pending = owner
        .get(&format!("{web}?status=pending"))
        .await
        .expect(200);
    assert_eq!(pending["count"], 3, "nothing was claimed: {pending}");

    // A member may; removed while its claim waits, it takes nothing.
    let got = mia
        .post(&batch(false), json!({ "limit": 10 }))
        .await
        .expect(200);
    assert_eq!(got["count"], 3);
    let unscoped = batch(false);
    let (waited, ()) = tokio::join!(mia.post(&unscoped, json!({ "wait_ms": 1500 })), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        owner
            .delete("/orgs/acme/members/human/mia")
            .await
            .expect(200);
        owner
            .post(web, json!({ "title": "after" }))
            .await
            .expect(201);
    });
    assert_eq!(waited.expect(200)["count"], 0, "a removed member claimed");
    let pending = owner
        .get(&format!("{web}?status=pending"))
        .await
        .expect(200);
    assert_eq!(pending["count"], 1);
}
