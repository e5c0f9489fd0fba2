//! `task.overdue` reaches the people it escalates to: a guardian without a
//! role in the task's project receives it on a live `/ws` subscription and
//! on a GraphQL `taskEvents` subscription (on PostgreSQL, served by another
//! replica than the one that may write it), then the later events of that
//! task and nothing else of the project; a replay with `after` holds the
//! escalated task's history; a stranger receives none of it.

use std::time::Duration;

use serde_json::{Value, json};

use super::deadlines::{WAIT, from_now, guard};
use crate::common::gql;
use crate::common::gql_ws::{Session, TRANSPORT};
use crate::common::shapes::{events_of, id, types_of};
use crate::common::sql::Sql;
use crate::common::users::Role;
use crate::common::ws::WsConn;
use crate::common::{Backend, TestApp};

crate::on_both_backends!(start = crate::common::TestApp::required_auth_fast_timers;
    an_overdue_task_reaches_its_guardians_subscriptions,
);

/// The event types of `events`, which must all be of task `task` (`/ws`
/// shape: `task_id` a number; GraphQL: `taskId` a string).
fn types_of_task(events: &[Value], task: i64) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let of = e
                .get("task_id")
                .and_then(Value::as_i64)
                .or_else(|| e["taskId"].as_str().and_then(|s| s.parse().ok()));
            assert_eq!(of, Some(task), "an event of another task: {e}");
            e["type"].as_str().unwrap().to_owned()
        })
        .collect()
}

async fn an_overdue_task_reaches_its_guardians_subscriptions(app: TestApp) {
    // On PostgreSQL a second replica serves the GraphQL socket: either may
    // write the `task.overdue`, so the right it gives must reach the other.
    let replica = (app.backend == Backend::Postgres).then_some(app.replica().await);
    let bot = app
        .agent("bot")
        .in_org("acme", Role::Member)
        .with_project("ops")
        .client()
        .await;
    let dana = app.user("dana").client().await;
    let eve = app.user("eve").client().await;
    guard(&bot, &dana).await;
    let key = |c: &crate::common::Client| c.token().unwrap().to_owned();
    let before = Sql::open(&app).await.max_event_id().await;

    let mut ws = WsConn::open_url(&app.ws_url(&format!("token={}", key(&dana)))).await;
    ws.subscribe("mine", json!({})).await;
    let gql_base = replica
        .as_ref()
        .map_or(app.base.clone(), |r| r.base.clone());
    let init = json!({ "Authorization": format!("Bearer {}", key(&dana)) });
    let mut g = Session::open_to(&gql_base, TRANSPORT, init.clone()).await;
    g.subscribe("live", "", false).await;
    let mut spy = WsConn::open_url(&app.ws_url(&format!("token={}", key(&eve)))).await;
    spy.subscribe("spy", json!({})).await;
    // The GraphQL subscription starts after its `subscribe`, unacknowledged:
    // give it a moment (the deadline is 1.5 s away anyway).
    tokio::time::sleep(Duration::from_millis(300)).await;

    let t = bot
        .post(
            "/orgs/acme/projects/ops/tasks",
            json!({ "title": "approve the deploy", "due_at": from_now(1_500) }),
        )
        .await
        .expect(201)["task"]
        .clone();
    let task = id(&t);
    bot.act(task, "claim", json!({ "lease_duration": 600_000 }))
        .await
        .expect(200);
    bot.post(
        &format!("/tasks/{task}/messages"),
        json!({ "parts": [{ "type": "text", "content": "please look" }] }),
    )
    .await
    .expect(201);

    // Her first event is the escalation: what came before it was not hers.
    let first = ws
        .next_event_within(WAIT)
        .await
        .expect("task.overdue reaches the guardian over /ws");
    assert_eq!(first["type"], "task.overdue", "{first}");
    assert_eq!(first["task_id"], task);
    assert_eq!(first["subscription_id"], "mine");
    let named: Vec<&str> = first["data"]["escalation"]["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["actor_id"].as_str().unwrap())
        .collect();
    assert_eq!(named, ["dana"]);
    g.until(30, "task.overdue over GraphQL", |s| {
        !s.events("live").is_empty()
    })
    .await;
    let overdue = &g.events("live")[0];
    assert_eq!(overdue["type"], "task.overdue", "{overdue}");
    assert_eq!(overdue["taskId"], task.to_string());
    // The event's task resolves under the escalation right.
    assert_eq!(overdue["task"]["title"], "approve the deploy");

    // Nothing else of the project: an unrelated task, then the guardian
    // cancels hers; only the latter reaches her.
    let other = bot
        .post(
            "/orgs/acme/projects/ops/tasks",
            json!({ "title": "unrelated" }),
        )
        .await
        .expect(201)["task"]
        .clone();
    bot.act(id(&other), "claim", json!({})).await.expect(200);
    dana.act(task, "cancel", json!({ "reason": "too late" }))
        .await
        .expect(200);
    let next = ws
        .next_event_within(WAIT)
        .await
        .expect("the cancel reaches the guardian");
    assert_eq!(next["type"], "task.cancelled", "{next}");
    assert_eq!(next["task_id"], task);
    g.until(30, "task.cancelled over GraphQL", |s| {
        s.events("live").len() >= 2
    })
    .await;
    g.settle(500).await;
    assert_eq!(
        types_of_task(&g.events("live"), task),
        ["task.overdue", "task.cancelled"]
    );
    assert!(
        ws.next_event_within(Duration::from_millis(500))
            .await
            .is_none(),
        "nothing else of the project reaches the guardian"
    );
    assert!(
        spy.next_event_within(Duration::from_millis(300))
            .await
            .is_none(),
        "a stranger receives none of it"
    );

    // A replay with `after` holds the escalated task's whole history, and
    // nothing else.
    let history = types_of(&events_of(&bot, task).await);
    assert!(history.contains(&"task.overdue".to_owned()), "{history:?}");
    let mut again = WsConn::open_url(&app.ws_url(&format!("token={}", key(&dana)))).await;
    again.subscribe("replay", json!({ "after": before })).await;
    let replayed = again
        .events_of("replay", |e| e["type"] == "task.cancelled")
        .await;
    assert_eq!(types_of_task(&replayed, task), history);
    assert!(
        again
            .next_event_within(Duration::from_millis(300))
            .await
            .is_none()
    );
    g.subscribe("replay", &format!("(after: \"{before}\")"), false)
        .await;
    g.until(30, "the GraphQL replay", |s| {
        s.events("replay")
            .iter()
            .any(|e| e["type"] == "task.cancelled")
    })
    .await;
    g.settle(300).await;
    assert_eq!(types_of_task(&g.events("replay"), task), history);
    // The same with a filter that names the task.
    let mut one = Session::open_to(&gql_base, TRANSPORT, init).await;
    one.subscribe(
        "one",
        &format!("(filter: {{ taskId: \"{task}\" }}, after: \"{before}\")"),
        false,
    )
    .await;
    one.until(30, "the replay of one task", |s| {
        s.events("one").len() >= history.len()
    })
    .await;
    assert_eq!(types_of_task(&one.events("one"), task), history);

    // Reading the task itself (GraphQL), its history and thread come with it.
    let read = |c: &crate::common::Client| {
        let c = c.clone();
        async move {
            gql::ok(
                &c,
                "query($id: ID!) { task(id: $id) { title events { type } messages { id } } }",
                json!({ "id": task.to_string() }),
            )
            .await["task"]
                .clone()
        }
    };
    let seen = read(&dana).await;
    assert_eq!(seen["title"], "approve the deploy");
    let seen_types: Vec<&str> = seen["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    let full = types_of(&events_of(&bot, task).await);
    assert_eq!(seen_types, full);
    assert_eq!(seen["messages"].as_array().unwrap().len(), 1, "{seen}");
    assert!(read(&eve).await.is_null());

    // The stranger's replay is empty.
    spy.subscribe("spy-replay", json!({ "after": before }))
        .await;
    assert!(
        spy.next_event_within(Duration::from_millis(800))
            .await
            .is_none(),
        "a stranger's replay holds none of it"
    );
    drop(replica);
}
