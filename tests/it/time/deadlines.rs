//! Deadlines that escalate: a task still open at its `due_at` emits
//! `task.overdue` once (whichever replica sees it, and on start after a
//! stop), naming its escalation targets: the guardians of its agent
//! assignee, else of its creating agent, else the org's owners and admins.
//! Each target sees it in `/auth/me/escalations` (and GraphQL
//! `me { escalations }`) and may read, cancel, release or complete it
//! without a role in its project, each use recorded; strangers may not.

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::common::gql;
use crate::common::shapes::{events_of, id, types_of};
use crate::common::users::Role;
use crate::common::{Backend, Client, TestApp};

crate::on_both_backends!(start = crate::common::TestApp::required_auth_fast_timers;
    an_overdue_task_escalates_to_its_agents_guardians,
    release_and_the_overdue_filter,
);

/// How long anything expected may take on a loaded machine.
pub(super) const WAIT: Duration = Duration::from_secs(30);

pub(super) fn from_now(ms: i64) -> String {
    (Utc::now() + chrono::Duration::milliseconds(ms)).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Waits until the task's history holds `event_type`; returns the history.
async fn wait_for(c: &Client, task: i64, event_type: &str) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let history = events_of(c, task).await;
        if history.iter().any(|e| e["type"] == event_type) {
            return history;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {event_type}: {:?}",
            types_of(&history)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `agent` links `human` as its guardian.
pub(super) async fn guard(agent: &Client, human: &Client) {
    let link = agent
        .post("/auth/me/guardian-link", json!({}))
        .await
        .expect(201);
    let token = link["token"].as_str().unwrap();
    human
        .post(&format!("/auth/guardian-confirm/{token}"), json!({}))
        .await
        .expect(201);
}

fn escalated_ids(body: &Value) -> Vec<i64> {
    body["tasks"].as_array().unwrap().iter().map(id).collect()
}

/// An agent's task passes its deadline in progress: one `task.overdue`
/// naming its two guardians (two replicas running), both see it in their
/// escalations, a stranger and a mere viewer of the org do not, and one
/// guardian (without a role in the project) cancels it, on the record.
async fn an_overdue_task_escalates_to_its_agents_guardians(app: TestApp) {
    // Several replicas share PostgreSQL (SQLite serves one process).
    let _replica = (app.backend == Backend::Postgres).then_some(app.replica().await);
    let bot = app
        .agent("bot")
        .in_org("acme", Role::Member)
        .with_project("ops")
        .client()
        .await;
    let dana = app.user("dana").client().await;
    let eli = app.user("eli").client().await;
    let stranger = app.user("eve").client().await;
    let viewer = app.user("vic").in_org("acme", Role::Viewer).client().await;
    guard(&bot, &dana).await;
    guard(&bot, &eli).await;

    let due = from_now(1_500);
    let t = bot
        .post(
            "/orgs/acme/projects/ops/tasks",
            json!({ "title": "approve the deploy", "due_at": due }),
        )
        .await
        .expect(201)["task"]
        .clone();
    let task = id(&t);
    assert_eq!(t["overdue"], false);
    bot.act(task, "claim", json!({ "lease_duration": 600_000 }))
        .await
        .expect(200);
    // Not yet escalated: the guardians cannot see it.
    dana.get(&format!("/tasks/{task}")).await.expect_error(404);

    let history = wait_for(&bot, task, "task.overdue").await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let history2 = events_of(&bot, task).await;
    assert_eq!(
        types_of(&history2)
            .iter()
            .filter(|t| *t == "task.overdue")
            .count(),
        1,
        "{:?}",
        types_of(&history2)
    );
    let overdue = history
        .iter()
        .find(|e| e["type"] == "task.overdue")
        .unwrap();
    assert_eq!(overdue["actor_type"], "system");
    assert_eq!(overdue["data"]["task"]["overdue"], true);
    let targets: Vec<(&str, &str)> = overdue["data"]["escalation"]["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["actor_id"].as_str().unwrap(), t["via"].as_str().unwrap()))
        .collect();
    assert_eq!(
        targets,
        [("dana", "assignee_guardian"), ("eli", "assignee_guardian")]
    );

    for g in [&dana, &eli] {
        let mine = g.get("/auth/me/escalations").await.expect(200);
        assert_eq!(escalated_ids(&mine), [task]);
        assert_eq!(mine["tasks"][0]["overdue"], true);
        g.get(&format!("/tasks/{task}")).await.expect(200);
    }
    let data = gql::ok(
        &dana,
        "{ me { escalations { id overdue dueAt } } }",
        json!({}),
    )
    .await;
    assert_eq!(data["me"]["escalations"][0]["id"], task.to_string());
    for other in [&stranger, &viewer] {
        let none = other.get("/auth/me/escalations").await.expect(200);
        assert!(escalated_ids(&none).is_empty());
        other
            .act(task, "cancel", json!({}))
            .await
            .expect_error(if std::ptr::eq(other, &viewer) {
                403
            } else {
                404
            });
    }
    app.client()
        .get("/auth/me/escalations")
        .await
        .expect_error(401);
    // The right covers cancel, release and complete, not the rest.
    dana.act(task, "fail", json!({})).await.expect_error(403);
    dana.patch(&format!("/tasks/{task}"), json!({ "title": "mine" }))
        .await
        .expect_error(403);

    let cancelled = dana
        .act(task, "cancel", json!({ "reason": "too late" }))
        .await
        .expect(200);
    assert_eq!(cancelled["task"]["status"], "cancelled");
    assert_eq!(cancelled["task"]["overdue"], false);
    let last = events_of(&bot, task).await.last().unwrap().clone();
    assert_eq!(last["type"], "task.cancelled");
    assert_eq!(last["actor_id"], "dana");
    assert_eq!(last["data"]["escalation_right"], true);
    // Off the list once it is no longer open.
    let mine = eli.get("/auth/me/escalations").await.expect(200);
    assert!(escalated_ids(&mine).is_empty());
}

/// `release` gives a claimed task back (assignee only, or an org admin);
/// `overdue=true|false` filters lists; a task done before its deadline
/// never becomes overdue; in `default` an overdue task names nobody.
async fn release_and_the_overdue_filter(app: TestApp) {
    let w = app.agent("w1").client().await;
    let other = app.agent("w2").client().await;
    let task = id(&w
        .create_task(json!({ "title": "hold", "due_at": from_now(800) }))
        .await);
    let done = id(&w
        .create_task(json!({ "title": "quick", "due_at": from_now(800) }))
        .await);
    w.act(done, "claim", json!({})).await.expect(200);
    w.act(done, "complete", json!({})).await.expect(200);
    w.act(task, "claim", json!({})).await.expect(200);
    other
        .act(task, "release", json!({}))
        .await
        .expect_error(409);
    let released = w
        .act(task, "release", json!({ "reason": "busy" }))
        .await
        .expect(200)["task"]
        .clone();
    assert_eq!(released["status"], "pending");
    assert!(released["assignee_id"].is_null() && released["lease_expires"].is_null());
    assert_eq!(released["attempts"], 1);
    w.act(task, "release", json!({})).await.expect_error(409);
    let history = wait_for(&w, task, "task.overdue").await;
    let overdue = history
        .iter()
        .find(|e| e["type"] == "task.overdue")
        .unwrap();
    assert_eq!(overdue["data"]["escalation"]["targets"], json!([]));
    assert!(types_of(&history).contains(&"task.released".to_owned()));
    let ids =
        |body: Value| -> Vec<i64> { body["tasks"].as_array().unwrap().iter().map(id).collect() };
    assert_eq!(ids(w.get("/tasks?overdue=true").await.expect(200)), [task]);
    assert_eq!(
        ids(w
            .get("/tasks?overdue=false&status=completed")
            .await
            .expect(200)),
        [done]
    );
    assert!(!types_of(&events_of(&w, done).await).contains(&"task.overdue".to_owned()));
    let data = gql::ok(
        &w,
        "{ tasks(filter: { overdue: true }) { nodes { id overdue } } }",
        json!({}),
    )
    .await;
    assert_eq!(data["tasks"]["nodes"][0]["id"], task.to_string());
    let rel = gql::ok(
        &w,
        "mutation($id: ID!) { claimTask(id: $id) { task { id } } }",
        json!({ "id": task.to_string() }),
    )
    .await;
    assert!(rel["claimTask"].is_object());
    let rel = gql::ok(
        &w,
        "mutation($id: ID!) { releaseTask(id: $id) { task { status } } }",
        json!({ "id": task.to_string() }),
    )
    .await;
    assert_eq!(rel["releaseTask"]["task"]["status"], "PENDING");
}

crate::on_both_backends!(start = crate::common::TestApp::quiet;
    a_server_started_after_the_deadline_reports_it,
);

/// A deadline passes while no timer runs; a server started afterwards
/// emits the `task.overdue` on its first pass, once.
async fn a_server_started_after_the_deadline_reports_it(app: TestApp) {
    let c = app.actor("agent", "a1");
    let task = id(&c
        .create_task(json!({ "title": "late", "due_at": from_now(300) }))
        .await);
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert!(!types_of(&events_of(&c, task).await).contains(&"task.overdue".to_owned()));
    let _late = app.replica().await;
    wait_for(&c, task, "task.overdue").await;
    let types = types_of(&events_of(&c, task).await);
    assert_eq!(types, ["task.created", "task.overdue"]);
}

crate::on_both_backends!(start = crate::common::TestApp::required_auth_fast_timers;
    escalate_after_ms_reaches_the_org_admins,
);

/// A task of an agent with a guardian, with `escalate_after_ms`: first
/// `task.overdue` to the guardian, then, once, `task.escalated` to the
/// org's owner and admin, who then see it in their escalations.
async fn escalate_after_ms_reaches_the_org_admins(app: TestApp) {
    let bot = app
        .agent("bot")
        .in_org("acme", Role::Member)
        .with_project("ops")
        .client()
        .await;
    let admin = app.user("ada").in_org("acme", Role::Admin).client().await;
    let dana = app.user("dana").client().await;
    guard(&bot, &dana).await;
    let t = bot
        .post(
            "/orgs/acme/projects/ops/tasks",
            json!({ "title": "sign", "due_at": from_now(500), "escalate_after_ms": 800 }),
        )
        .await
        .expect(201)["task"]
        .clone();
    assert_eq!(t["escalate_after_ms"], 800);
    let task = id(&t);
    let history = wait_for(&bot, task, "task.escalated").await;
    let types = types_of(&history);
    assert_eq!(types, ["task.created", "task.overdue", "task.escalated"]);
    assert_eq!(
        history[1]["data"]["escalation"]["targets"][0]["actor_id"],
        "dana"
    );
    let mut later: Vec<&str> = history[2]["data"]["escalation"]["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["actor_id"].as_str().unwrap())
        .collect();
    later.sort_unstable();
    assert_eq!(later, ["acme-owner", "ada"]);
    let mine = admin.get("/auth/me/escalations").await.expect(200);
    assert_eq!(escalated_ids(&mine), [task]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let types = types_of(&events_of(&bot, task).await);
    assert_eq!(types.iter().filter(|t| *t == "task.escalated").count(), 1);
    bot.post("/tasks", json!({ "title": "bad", "escalate_after_ms": 0 }))
        .await
        .expect_error(422);
}
