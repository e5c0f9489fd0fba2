//! Events older than the retention period go from the front of the log, a
//! batch (one transaction) at a time; the tasks they were about keep their
//! state; several replicas prune each event once; `forever` keeps them all.

use serde_json::{Value, json};

use crate::common::TestApp;
use crate::common::retention::{BATCH, metric_at};
use crate::common::sql::{Sql, days_ago};

crate::on_both_backends!(
    start = crate::common::retention::pruning;
    old_events_go_in_batches_and_tasks_keep_their_state,
    several_replicas_prune_each_event_once,
);

crate::on_both_backends!(
    start = crate::common::retention::keeping_events;
    forever_keeps_every_event_and_finished_tasks_stay_by_default,
);

const EVENTS: &str = r#"{table="events"}"#;

/// 250 tasks made in one request (250 `task.created` events).
async fn bulk(c: &crate::common::Client, n: usize) -> Vec<i64> {
    let tasks: Vec<Value> = (0..n)
        .map(|i| json!({ "title": format!("t{i}") }))
        .collect();
    c.post("/tasks/bulk", json!({ "tasks": tasks }))
        .await
        .expect(201)["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect()
}

async fn old_events_go_in_batches_and_tasks_keep_their_state(app: TestApp) {
    let sql = Sql::open(&app).await;
    let c = app.actor("agent", "worker");
    let ids = bulk(&c, 250).await;
    let (done, talked) = (ids[0], ids[1]);
    c.act(done, "claim", json!({})).await.expect(200);
    c.act(done, "complete", json!({ "outputs": { "ok": true } }))
        .await
        .expect(200);
    c.post(
        &format!("/tasks/{talked}/messages"),
        json!({ "parts": [{ "type": "text", "content": "still here" }] }),
    )
    .await
    .expect(201);
    let old = sql.max_event_id().await;
    let old_count = sql.events_between(0, old).await;
    assert_eq!(
        old_count, 253,
        "250 created, a claim, a completion, a message"
    );
    let fresh = c.create_task(json!({ "title": "fresh" })).await["id"]
        .as_i64()
        .unwrap();

    sql.age_events(old, days_ago(31)).await;
    sql.wait_pruned_through(old).await;

    assert_eq!(
        sql.events_between(0, old).await,
        0,
        "every old event is gone"
    );
    assert_eq!(
        sql.events_between(old + 1, i64::MAX).await,
        1,
        "the young event stays"
    );
    let deleted = metric_at(
        &app.base,
        &format!("ats_retention_deleted_rows_total{EVENTS}"),
    )
    .await;
    assert_eq!(deleted, old_count);
    let batches = metric_at(&app.base, &format!("ats_retention_batches_total{EVENTS}")).await;
    assert!(
        batches >= (old_count as u64).div_ceil(BATCH) as i64,
        "{old_count} events in batches of {BATCH} took {batches} transactions"
    );
    assert_eq!(
        metric_at(&app.base, "ats_event_log_pruned_through").await,
        old
    );

    // The tasks are rows of their own: their latest state is all there.
    let t = c.get(&format!("/tasks/{done}")).await.expect(200)["task"].clone();
    assert_eq!(t["status"], "completed", "{t}");
    assert_eq!(t["outputs"], json!([{ "ok": true }]), "{t}");
    assert_eq!(t["assignee_id"], "worker", "{t}");
    let t = c.get(&format!("/tasks/{talked}")).await.expect(200)["task"].clone();
    assert_eq!(t["messages"][0]["parts"][0]["content"], "still here", "{t}");
    let stats = c.get("/tasks/stats").await.expect(200)["stats"].clone();
    assert_eq!(stats["total"], 251, "{stats}");
    assert_eq!(stats["by_status"]["completed"], 1, "{stats}");
    assert_eq!(stats["by_status"]["pending"], 250, "{stats}");
    // Their history is what is kept of it.
    let history = |id: i64| {
        let c = c.clone();
        async move {
            c.get(&format!("/tasks/{id}/events")).await.expect(200)["events"]
                .as_array()
                .unwrap()
                .clone()
        }
    };
    assert_eq!(history(done).await, Vec::<Value>::new());
    let kept = history(fresh).await;
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0]["type"], "task.created");
}

/// Two servers on one database both run the job: the log is pruned through
/// the same position, each event deleted once, and both refuse a cursor
/// before it.
async fn several_replicas_prune_each_event_once(app: TestApp) {
    let replica = app.replica().await;
    let sql = Sql::open(&app).await;
    let c = app.actor("agent", "worker");
    let ids = bulk(&c, 250).await;
    let old = sql.max_event_id().await;
    c.act(ids[0], "claim", json!({})).await.expect(200);
    sql.age_events(old, days_ago(40)).await;
    sql.wait_pruned_through(old).await;

    let name = format!("ats_retention_deleted_rows_total{EVENTS}");
    let both = metric_at(&app.base, &name).await + metric_at(&replica.base, &name).await;
    assert_eq!(both, 250, "each event is deleted once, by one replica");
    for base in [&app.base, &replica.base] {
        let refused = c
            .at(base)
            .get(&format!("/tasks/{}/events?after=0", ids[0]))
            .await
            .expect_error(410);
        assert_eq!(refused["code"], "CURSOR_EXPIRED", "{refused}");
        assert_eq!(refused["pruned_through"], old, "{refused}");
        let kept = c
            .at(base)
            .get(&format!("/tasks/{}/events?after={old}", ids[0]))
            .await
            .expect(200)["events"]
            .clone();
        assert_eq!(kept[0]["type"], "task.claimed", "{kept}");
    }
}

/// With `ATS_RETAIN_EVENTS=forever` the job runs and deletes no event;
/// finished tasks are kept unless `ATS_RETAIN_FINISHED_TASKS` is set.
async fn forever_keeps_every_event_and_finished_tasks_stay_by_default(app: TestApp) {
    let sql = Sql::open(&app).await;
    let c = app.actor("agent", "worker");
    let t = c.create_task(json!({ "title": "old" })).await["id"]
        .as_i64()
        .unwrap();
    c.act(t, "cancel", json!({})).await.expect(200);
    let all = sql.max_event_id().await;
    sql.age_events(all, days_ago(3650)).await;
    sql.exec(
        "UPDATE tasks SET updated_at = $1",
        vec![days_ago(3650).into()],
    )
    .await;
    let runs = metric_at(&app.base, "ats_retention_runs_total").await;
    sql.wait_until("three more passes of the job", || async {
        metric_at(&app.base, "ats_retention_runs_total").await >= runs + 3
    })
    .await;
    assert_eq!(sql.events_between(0, all).await, 2);
    assert_eq!(sql.pruned_through().await, 0);
    let history = c
        .get(&format!("/tasks/{t}/events?after=0"))
        .await
        .expect(200)["events"]
        .clone();
    assert_eq!(history.as_array().unwrap().len(), 2, "{history}");
    c.get(&format!("/tasks/{t}")).await.expect(200);
}
