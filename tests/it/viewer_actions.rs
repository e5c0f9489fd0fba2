//! `Task.viewerActions` / `GET /tasks/{id}/actions` tell the truth: for each
//! task state × caller role, every lifecycle action listed succeeds and every
//! one not listed is refused; edits are listed exactly for writers; both APIs
//! give the same list.

use serde_json::{Value, json};

use crate::common::gql::ok;
use crate::common::{Client, Role, TestApp};
use crate::on_both_backends;

on_both_backends!(listed_actions_are_exactly_the_allowed_ones);

const BASE: &str = "/orgs/acme/projects/p/tasks";
const LIFECYCLE: [&str; 6] = ["claim", "complete", "fail", "reject", "cancel", "reopen"];
const EDITS: [&str; 5] = [
    "update",
    "delete",
    "add_message",
    "add_handoff",
    "create_subtask",
];

/// The states a task is put in before asking.
const STATES: [&str; 9] = [
    "pending",
    "in_progress",
    "completed",
    "failed",
    "rejected",
    "cancelled",
    "blocked",
    "parent_with_open_subtask",
    "attempts_exhausted",
];

/// Who asks: (label, actor type, actor id). The creator is `mia` (member) and
/// the assignee, when there is one, `agent:worker` (member).
const CALLERS: [(&str, &str, &str); 6] = [
    ("creator", "human", "mia"),
    ("assignee", "agent", "worker"),
    ("other member", "human", "mo"),
    ("admin", "human", "adam"),
    ("viewer", "human", "vic"),
    ("owner", "human", "alice"),
];

async fn setup_org(app: &TestApp) {
    app.user("alice")
        .in_org("acme", Role::Owner)
        .with_project("p")
        .await;
    for (user, role) in [
        (app.user("mia"), Role::Member),
        (app.agent("worker"), Role::Member),
        (app.user("mo"), Role::Member),
        (app.user("adam"), Role::Admin),
        (app.user("vic"), Role::Viewer),
    ] {
        user.in_org("acme", role).await;
    }
}

async fn create(c: &Client, body: Value) -> i64 {
    c.post(BASE, body).await.expect(201)["task"]["id"]
        .as_i64()
        .unwrap()
}

/// A new task in `state`; returns its id.
async fn scenario(app: &TestApp, state: &str) -> i64 {
    let mia = app.actor("human", "mia");
    let worker = app.actor("agent", "worker");
    let act = |id: i64, action: &str| format!("{BASE}/{id}/{action}");
    match state {
        "blocked" => {
            let blocker = create(&mia, json!({"title": "blocker"})).await;
            create(&mia, json!({"title": "blocked", "depends_on": [blocker]})).await
        }
        "attempts_exhausted" => {
            let id = create(&mia, json!({"title": "once", "max_attempts": 1})).await;
            worker.post(&act(id, "claim"), json!({})).await.expect(200);
            worker.post(&act(id, "fail"), json!({})).await.expect(200);
            mia.post(&act(id, "reopen"), json!({})).await.expect(200);
            id
        }
        _ => {
            let id = create(&mia, json!({"title": state})).await;
            match state {
                "pending" => {}
                "in_progress" => {
                    worker.post(&act(id, "claim"), json!({})).await.expect(200);
                }
                "completed" | "failed" => {
                    worker.post(&act(id, "claim"), json!({})).await.expect(200);
                    let verb = if state == "completed" {
                        "complete"
                    } else {
                        "fail"
                    };
                    worker.post(&act(id, verb), json!({})).await.expect(200);
                }
                "rejected" => {
                    mia.post(&act(id, "reject"), json!({})).await.expect(200);
                }
                "cancelled" => {
                    mia.post(&act(id, "cancel"), json!({})).await.expect(200);
                }
                "parent_with_open_subtask" => {
                    worker.post(&act(id, "claim"), json!({})).await.expect(200);
                    mia.post(&format!("{BASE}/{id}/subtasks"), json!({"title": "sub"}))
                        .await
                        .expect(201);
                }
                other => panic!("unknown state {other}"),
            }
            id
        }
    }
}

async fn listed(c: &Client, id: i64) -> Vec<String> {
    let rest: Vec<String> = c.get(&format!("{BASE}/{id}/actions")).await.expect(200)["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    let data = ok(
        c,
        "query($id: ID!) { task(id: $id) { viewerActions } }",
        json!({"id": id.to_string()}),
    )
    .await;
    let graphql: Vec<String> = data["task"]["viewerActions"]
        .as_array()
        .expect("viewerActions")
        .iter()
        .map(|a| a.as_str().unwrap().to_lowercase())
        .collect();
    assert_eq!(rest, graphql, "REST and GraphQL list the same actions");
    rest
}

async fn listed_actions_are_exactly_the_allowed_ones(app: TestApp) {
    setup_org(&app).await;
    let mut table = Vec::new();
    for state in STATES {
        for (who, t, id) in CALLERS {
            let caller = app.actor(t, id);
            let probe = scenario(&app, state).await;
            let actions = listed(&caller, probe).await;
            table.push(format!("{state:>26} × {who:<12} → {}", actions.join(" ")));
            for edit in EDITS {
                assert_eq!(
                    actions.iter().any(|a| a == edit),
                    who != "viewer",
                    "{edit} is listed exactly for writers ({state}, {who}): {actions:?}"
                );
            }
            for action in LIFECYCLE {
                let fresh = scenario(&app, state).await;
                let res = caller
                    .post(&format!("{BASE}/{fresh}/{action}"), json!({}))
                    .await;
                let allowed = res.status == 200;
                if !allowed {
                    assert!(
                        matches!(res.status, 403 | 409),
                        "{action} on {state} by {who}: refused with {} {}",
                        res.status,
                        res.body
                    );
                }
                assert_eq!(
                    allowed,
                    actions.iter().any(|a| a == action),
                    "{action} on a {state} task by the {who}: listed {actions:?}, but the server answered {} {}",
                    res.status,
                    res.body
                );
            }
            // An edit a writer is offered goes through; a viewer's is refused.
            let res = caller
                .patch(&format!("{BASE}/{probe}"), json!({"priority": 9}))
                .await;
            assert_eq!(
                res.status == 200,
                who != "viewer",
                "update by {who}: {}",
                res.body
            );
        }
    }
    println!("viewer actions by state × caller:\n{}", table.join("\n"));
}
