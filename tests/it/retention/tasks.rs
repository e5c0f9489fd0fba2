//! Finished tasks unchanged for `ATS_RETAIN_FINISHED_TASKS` go, with their
//! messages, handoffs and dependency rows; unfinished ones, recent ones,
//! ones with a recent message, and ones another task still refers to stay;
//! counts stay exact; pruning writes no event.

use serde_json::{Value, json};

use crate::common::gql::ok;
use crate::common::retention::metric_at;
use crate::common::sql::{Sql, days_ago};
use crate::common::{Client, TestApp};

crate::on_both_backends!(
    start = crate::common::retention::pruning;
    finished_tasks_go_after_their_period_with_their_threads,
);

fn id(t: Value) -> i64 {
    t["id"].as_i64().unwrap()
}

async fn task(c: &Client, body: Value) -> i64 {
    id(c.create_task(body).await)
}

async fn finish(c: &Client, t: i64) {
    c.act(t, "claim", json!({})).await.expect(200);
    c.act(t, "complete", json!({ "outputs": [] }))
        .await
        .expect(200);
}

async fn message(c: &Client, t: i64) {
    c.post(
        &format!("/tasks/{t}/messages"),
        json!({ "parts": [{ "type": "text", "content": "note" }] }),
    )
    .await
    .expect(201);
}

async fn subtask(c: &Client, parent: i64, title: &str) -> i64 {
    id(c.post(
        &format!("/tasks/{parent}/subtasks"),
        json!({ "title": title }),
    )
    .await
    .expect(201)["task"]
        .clone())
}

fn in_list(ids: &[i64]) -> String {
    ids.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

async fn finished_tasks_go_after_their_period_with_their_threads(app: TestApp) {
    let sql = Sql::open(&app).await;
    let c = app.actor("agent", "worker");

    // Go: finished in each way, unchanged for longer than 90 days.
    let done = task(&c, json!({ "title": "done" })).await;
    c.act(done, "claim", json!({})).await.expect(200);
    message(&c, done).await;
    c.post(
        &format!("/tasks/{done}/handoffs"),
        json!({ "summary": "over to you", "next_steps": ["ship"] }),
    )
    .await
    .expect(201);
    c.act(done, "complete", json!({ "outputs": [] }))
        .await
        .expect(200);
    let cancelled = task(&c, json!({ "title": "cancelled" })).await;
    c.act(cancelled, "cancel", json!({})).await.expect(200);
    let failed = task(&c, json!({ "title": "failed" })).await;
    c.act(failed, "claim", json!({})).await.expect(200);
    c.act(failed, "fail", json!({ "reason": "broke" }))
        .await
        .expect(200);
    let rejected = task(&c, json!({ "title": "rejected" })).await;
    c.act(rejected, "reject", json!({ "reason": "no" }))
        .await
        .expect(200);
    // A failed blocker and its cancelled dependent: the dependent first,
    // then the blocker nothing refers to any more.
    let chain_blocker = task(&c, json!({ "title": "chain blocker" })).await;
    c.act(chain_blocker, "claim", json!({})).await.expect(200);
    c.act(chain_blocker, "fail", json!({ "reason": "broke" }))
        .await
        .expect(200);
    let chain_dependent = task(
        &c,
        json!({ "title": "chain dependent", "depends_on": [chain_blocker] }),
    )
    .await;
    c.act(chain_dependent, "cancel", json!({}))
        .await
        .expect(200);
    // A cancelled parent and its completed subtask: the subtask first.
    let closed_parent = task(&c, json!({ "title": "closed parent" })).await;
    let closed_kid = subtask(&c, closed_parent, "closed kid").await;
    finish(&c, closed_kid).await;
    c.act(closed_parent, "cancel", json!({})).await.expect(200);

    // Stay, though as old: unfinished ones, and ones a live task refers to.
    let pending = task(&c, json!({ "title": "pending" })).await;
    let working = task(&c, json!({ "title": "working" })).await;
    c.act(working, "claim", json!({ "lease_duration": 86_400_000 }))
        .await
        .expect(200);
    let blocker = task(&c, json!({ "title": "blocker" })).await;
    finish(&c, blocker).await;
    let dependent = task(&c, json!({ "title": "dependent", "depends_on": [blocker] })).await;
    let open_parent = task(&c, json!({ "title": "open parent" })).await;
    let open_kid = subtask(&c, open_parent, "open kid").await;
    finish(&c, open_kid).await;
    let chatty = task(&c, json!({ "title": "chatty" })).await;
    finish(&c, chatty).await;
    message(&c, chatty).await;
    // And one finished recently.
    let recent = task(&c, json!({ "title": "recent" })).await;
    finish(&c, recent).await;

    let go = [
        done,
        cancelled,
        failed,
        rejected,
        chain_blocker,
        chain_dependent,
        closed_parent,
        closed_kid,
    ];
    let old = [
        &go[..],
        &[
            pending,
            working,
            blocker,
            dependent,
            open_parent,
            open_kid,
            chatty,
        ],
    ]
    .concat();
    let stay = [
        pending,
        working,
        blocker,
        dependent,
        open_parent,
        open_kid,
        chatty,
        recent,
    ];
    let events_before = sql.max_event_id().await;
    let long_ago = days_ago(91);
    sql.exec(
        &format!(
            "UPDATE tasks SET updated_at = $1, created_at = $1 WHERE id IN ({})",
            in_list(&old)
        ),
        vec![long_ago.into()],
    )
    .await;
    for table in ["messages", "handoffs"] {
        sql.exec(
            &format!(
                "UPDATE {table} SET created_at = $1 WHERE task_id IN ({})",
                in_list(&go)
            ),
            vec![long_ago.into()],
        )
        .await;
    }

    sql.wait_until("the old finished tasks to go", || async {
        sql.int(
            &format!(
                "SELECT COUNT(*) AS n FROM tasks WHERE id IN ({})",
                in_list(&go)
            ),
            vec![],
        )
        .await
            == 0
    })
    .await;

    for t in go {
        c.get(&format!("/tasks/{t}")).await.expect_error(404);
    }
    for t in stay {
        c.get(&format!("/tasks/{t}")).await.expect(200);
    }
    for (table, column) in [
        ("messages", "task_id"),
        ("handoffs", "task_id"),
        ("task_dependencies", "task_id"),
        ("task_dependencies", "depends_on_id"),
    ] {
        let left = sql
            .int(
                &format!(
                    "SELECT COUNT(*) AS n FROM {table} WHERE {column} IN ({})",
                    in_list(&go)
                ),
                vec![],
            )
            .await;
        assert_eq!(left, 0, "{table}.{column} of pruned tasks");
    }
    // The threads of the tasks that stay are untouched; so is the
    // dependency a live task still has.
    let kept = c.get(&format!("/tasks/{chatty}")).await.expect(200)["task"].clone();
    assert_eq!(kept["messages"].as_array().unwrap().len(), 1, "{kept}");
    let kept = c.get(&format!("/tasks/{dependent}")).await.expect(200)["task"].clone();
    assert_eq!(kept["depends_on"], json!([blocker]), "{kept}");
    assert_eq!(
        metric_at(
            &app.base,
            r#"ats_retention_deleted_rows_total{table="tasks"}"#
        )
        .await,
        go.len() as i64
    );

    // Pruning is not a change: no event was written. The pruned tasks'
    // history stays until the event rule prunes it.
    assert_eq!(sql.max_event_id().await, events_before);
    let history = sql
        .int(
            "SELECT COUNT(*) AS n FROM events WHERE task_id = $1",
            vec![done.into()],
        )
        .await;
    assert_eq!(history, 5, "created, claimed, message, handoff, completed");

    // Counts stay exact: stats, list counts, totalCount, project counts.
    let stats = c.get("/tasks/stats").await.expect(200)["stats"].clone();
    assert_eq!(stats["total"], stay.len(), "{stats}");
    assert_eq!(
        stats["by_status"],
        json!({ "pending": 3, "in_progress": 1, "completed": 4,
                "cancelled": 0, "failed": 0, "rejected": 0 }),
        "{stats}"
    );
    let listed = c.get("/tasks?limit=500").await.expect(200);
    assert_eq!(listed["count"], stay.len(), "{listed}");
    let completed = c.get("/tasks?status=completed").await.expect(200);
    assert_eq!(completed["count"], 4, "{completed}");
    let data = ok(
        &c,
        "{ all: tasks(first: 1) { totalCount } done: tasks(first: 1, filter: {statuses: [COMPLETED, CANCELLED, FAILED, REJECTED]}) { totalCount } }",
        json!({}),
    )
    .await;
    assert_eq!(data["all"]["totalCount"], stay.len(), "{data}");
    assert_eq!(data["done"]["totalCount"], 4, "{data}");
    let projects = c
        .get("/orgs/default/projects?counts=true")
        .await
        .expect(200)["projects"]
        .clone();
    assert_eq!(projects[0]["total_count"], stay.len(), "{projects}");
    assert_eq!(projects[0]["pending_count"], 3, "{projects}");
}
