//! Each `/ws` subscription filter of SPEC §7 narrows: exactly the matching
//! events arrive, in id order, each carrying its subscription's id.

use serde_json::{Value, json};

use crate::common::ws::{WsConn, histories, history, ids, is};
use crate::common::{Client, Role, TestApp};

crate::on_both_backends!(each_filter_narrows);

/// What each filter of §7 lets through.
fn passes(sub: &str, e: &Value, target: i64) -> bool {
    match sub {
        "all" => true,
        "ch" => e["channel"] == "ops" || e["channel"] == "support",
        "tt" => e["data"]["task"]["type"] == "review",
        "et" => e["type"] == "task.claimed" || e["type"] == "task.completed",
        "pj" => e["data"]["task"]["org"] == "acme" && e["data"]["task"]["project"] == "web",
        "mix" => e["channel"] == "ops" && e["data"]["task"]["type"] == "review",
        "tid" => e["task_id"] == target,
        other => unreachable!("{other}"),
    }
}

/// Each filter narrows: exactly the matching events arrive, in id order.
/// The subscriptions, given the target task.
fn subscriptions(target: i64) -> [(&'static str, Value); 7] {
    [
        ("all", json!({})),
        ("ch", json!({ "channels": ["ops", "support"] })),
        ("tt", json!({ "task_types": ["review"] })),
        (
            "et",
            json!({ "event_types": ["task.claimed", "task.completed"] }),
        ),
        ("pj", json!({ "projects": ["acme/web"] })),
        (
            "mix",
            json!({ "channels": ["ops"], "task_types": ["review"] }),
        ),
        ("tid", json!({ "task_id": target })),
    ]
}

const IN_ACME: &str = "/orgs/acme/projects/web/tasks";

/// `agent:filter-bot` owns acme/web; the history reads act as
/// `human:anonymous` and the socket as `human:ws-tester`: both may read
/// acme. Returns the bot and the target task "T" (ops, review) in acme/web.
async fn acme(app: &TestApp) -> (Client, i64) {
    let c = app
        .agent("filter-bot")
        .in_org("acme", Role::Owner)
        .with_project("web")
        .await;
    for reader in ["anonymous", "ws-tester"] {
        app.user(reader).with_grant("acme", "*", "r").await;
    }
    let target = c
        .post(
            IN_ACME,
            json!({ "title": "T", "channel": "ops", "type": "review" }),
        )
        .await
        .expect(201)["task"]["id"]
        .as_i64()
        .unwrap();
    (c, target)
}

/// Six more tasks across channels, types and projects; each claimed and
/// messaged; one completed; the target completed last (an event every filter
/// lets through). Returns every task, the target first.
async fn traffic(c: &Client, target: i64) -> Vec<i64> {
    let specs = [
        ("/tasks", "ops", "task"),
        ("/tasks", "support", "review"),
        ("/tasks", "misc", "misc"),
        ("/tasks", "ops", "review"),
        (IN_ACME, "misc", "other"),
        (IN_ACME, "support", "review"),
    ];
    let mut tasks = vec![target];
    for (path, channel, ty) in specs {
        let body = json!({ "title": "x", "channel": channel, "type": ty });
        let t = c.post(path, body).await.expect(201)["task"]["id"]
            .as_i64()
            .unwrap();
        tasks.push(t);
    }
    for &t in &tasks {
        c.act(t, "claim", json!({})).await.expect(200);
        let msg = json!({ "parts": [{ "type": "text", "content": "hi" }] });
        c.post(&format!("/tasks/{t}/messages"), msg)
            .await
            .expect(201);
    }
    c.act(tasks[3], "complete", json!({})).await.expect(200);
    c.act(target, "complete", json!({})).await.expect(200);
    tasks
}

async fn each_filter_narrows(app: TestApp) {
    let (c, target) = acme(&app).await;
    let cursor = history(&app, target).await.last().unwrap()["id"]
        .as_i64()
        .unwrap();
    let mut ws = WsConn::open(&app).await;
    let subs = subscriptions(target);
    for (id, filters) in &subs {
        ws.subscribe(id, filters.clone()).await;
    }
    let tasks = traffic(&c, target).await;
    let names: Vec<&str> = subs.iter().map(|(id, _)| *id).collect();
    let got = ws
        .events_until(&names, |e| is(e, "task.completed", target))
        .await;
    let stored: Vec<Value> = histories(&app, &tasks)
        .await
        .into_iter()
        .filter(|e| e["id"].as_i64().unwrap() > cursor)
        .collect();
    for id in &names {
        let want: Vec<&Value> = stored.iter().filter(|e| passes(id, e, target)).collect();
        let want_ids: Vec<i64> = want.iter().map(|e| e["id"].as_i64().unwrap()).collect();
        assert_eq!(
            ids(&got[*id]),
            want_ids,
            "subscription {id} got the wrong events"
        );
        for e in &got[*id] {
            assert!(passes(id, e, target), "{id} let through {e}");
            assert_eq!(e["subscription_id"], *id);
        }
        if *id != "all" {
            assert!(
                want.len() < stored.len() && !want.is_empty(),
                "{id}: the test data does not exercise this filter"
            );
        }
    }
    ws.close().await;
}
