//! Dependencies (SPEC §4): a chain and a diamond unblock in order (one
//! `task.unblocked` each, when the last blocker finishes); blocked tasks
//! cannot be claimed; cycles, unknown and cross-org blockers are refused and
//! write nothing; a failed blocker keeps its dependents blocked until rewired.

use serde_json::json;

use crate::common::shapes::{event_types, id, read_task};
use crate::common::{Client, Role, TestApp};

crate::on_both_backends!(
    a_chain_unblocks_in_order,
    a_diamond_unblocks_once_both_sides_finish,
    cycles_and_unknown_or_far_blockers_are_refused,
    a_failed_blocker_keeps_dependents_blocked_until_rewired,
);

async fn create(c: &Client, body: serde_json::Value) -> i64 {
    id(&c.create_task(body).await)
}

/// a → b → c by `agent:w`.
async fn chain(c: &Client) -> (i64, i64, i64) {
    let a = create(c, json!({ "title": "a" })).await;
    let b = create(c, json!({ "title": "b", "depends_on": [a] })).await;
    let cc = create(c, json!({ "title": "c", "depends_on": [b] })).await;
    (a, b, cc)
}

/// Claims and completes `t`.
async fn finish(c: &Client, t: i64) {
    c.act(t, "claim", json!({})).await.expect(200);
    c.act(t, "complete", json!({})).await.expect(200);
}

async fn a_chain_unblocks_in_order(app: TestApp) {
    let c = app.actor("agent", "w");
    let (a, b, cc) = chain(&c).await;
    let view = read_task(&c, b).await;
    assert_eq!(view["depends_on"], json!([a]));
    assert_eq!(view["blocked_by"], json!([a]));
    let refused = c.act(b, "claim", json!({})).await.expect_error(409);
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

    finish(&c, a).await;
    assert_eq!(event_types(&c, b).await.last().unwrap(), "task.unblocked");
    assert_eq!(read_task(&c, b).await["blocked_by"], json!([]));
    assert!(
        !event_types(&c, cc)
            .await
            .contains(&"task.unblocked".to_owned())
    );
    c.act(cc, "claim", json!({})).await.expect_error(409);
    finish(&c, b).await;
    assert_eq!(event_types(&c, cc).await.last().unwrap(), "task.unblocked");
}

/// top → (left, right) → bottom.
async fn a_diamond_unblocks_once_both_sides_finish(app: TestApp) {
    let c = app.actor("agent", "w");
    let top = create(&c, json!({ "title": "top" })).await;
    let left = create(&c, json!({ "title": "left", "depends_on": [top] })).await;
    let right = create(&c, json!({ "title": "right", "depends_on": [top] })).await;
    let bottom = create(
        &c,
        json!({ "title": "bottom", "depends_on": [left, right] }),
    )
    .await;
    for t in [top, left] {
        finish(&c, t).await;
    }
    assert_eq!(read_task(&c, bottom).await["blocked_by"], json!([right]));
    assert!(
        !event_types(&c, bottom)
            .await
            .contains(&"task.unblocked".to_owned())
    );
    finish(&c, right).await;
    let types = event_types(&c, bottom).await;
    assert_eq!(types.iter().filter(|t| *t == "task.unblocked").count(), 1);
    c.act(bottom, "claim", json!({})).await.expect(200);
}

/// Cycles are refused and write nothing; so are unknown and cross-org blockers.
async fn cycles_and_unknown_or_far_blockers_are_refused(app: TestApp) {
    let c = app
        .agent("w")
        .in_org("elsewhere", Role::Owner)
        .with_project("p")
        .await;
    let (a, _, cc) = chain(&c).await;
    let before = event_types(&c, a).await.len();
    c.patch(&format!("/tasks/{a}"), json!({ "depends_on": [cc] }))
        .await
        .expect_error(422);
    c.patch(&format!("/tasks/{a}"), json!({ "depends_on": [a] }))
        .await
        .expect_error(422);
    assert_eq!(read_task(&c, a).await["depends_on"], json!([]));
    assert_eq!(event_types(&c, a).await.len(), before);
    c.post("/tasks", json!({ "title": "x", "depends_on": [999_999] }))
        .await
        .expect_error(422);
    c.post(
        "/orgs/elsewhere/projects/p/tasks",
        json!({ "title": "far", "depends_on": [a] }),
    )
    .await
    .expect_error(422);
}

async fn a_failed_blocker_keeps_dependents_blocked_until_rewired(app: TestApp) {
    let c = app.actor("agent", "w");
    let (a, b, _) = chain(&c).await;
    c.act(a, "claim", json!({})).await.expect(200);
    c.act(a, "fail", json!({ "reason": "broken" }))
        .await
        .expect(200);
    let view = read_task(&c, b).await;
    assert_eq!(view["blocked_by"], json!([a]));
    c.act(b, "claim", json!({})).await.expect_error(409);
    // Rewiring the dependency (PATCH) unblocks it.
    c.patch(&format!("/tasks/{b}"), json!({ "depends_on": [] }))
        .await
        .expect(200);
    c.act(b, "claim", json!({})).await.expect(200);
}
