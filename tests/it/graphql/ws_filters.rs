//! Each `TaskEventFilter` field narrows a `/graphql/ws` subscription to
//! exactly the matching events, in id order.

use serde_json::json;

use crate::common::gql::{create_task as create, ok};
use crate::common::gql_ws::{Session, TRANSPORT, wait_subscriptions};
use crate::common::{Client, TestApp};

crate::on_both_backends!(each_subscription_filter_narrows);

/// The subscriptions: id and arguments, given T0's id.
fn subscriptions(t0: &str) -> [(&'static str, String); 8] {
    [
        ("all", String::new()),
        ("proj", "(filter: {projects: [\"acme/web\"]})".to_owned()),
        (
            "proj2",
            "(filter: {projects: [\"acme/web\", \"default/main\"]})".to_owned(),
        ),
        ("chan", "(filter: {channels: [\"ops\"]})".to_owned()),
        ("ttype", "(filter: {taskTypes: [\"review\"]})".to_owned()),
        (
            "etype",
            "(filter: {eventTypes: [\"task.claimed\"]})".to_owned(),
        ),
        ("tid", format!("(filter: {{taskId: \"{t0}\"}})")),
        (
            "combo",
            "(filter: {channels: [\"ops\"], eventTypes: [\"task.claimed\"]})".to_owned(),
        ),
    ]
}

/// What each subscription must receive, in order.
const EXPECT: [(&str, &[&str]); 8] = [
    (
        "all",
        &[
            "A task.created",
            "B task.created",
            "C task.created",
            "T0 task.claimed",
            "B task.message",
            "A task.claimed",
        ],
    ),
    ("proj", &["B task.created", "B task.message"]),
    (
        "proj2",
        &[
            "A task.created",
            "B task.created",
            "T0 task.claimed",
            "B task.message",
            "A task.claimed",
        ],
    ),
    (
        "chan",
        &["A task.created", "C task.created", "A task.claimed"],
    ),
    (
        "ttype",
        &["B task.created", "C task.created", "B task.message"],
    ),
    ("etype", &["T0 task.claimed", "A task.claimed"]),
    ("tid", &["T0 task.claimed"]),
    ("combo", &["A task.claimed"]),
];

/// Six events: A (ops) in default, B (misc, review) in acme/web, C (ops,
/// review) in acme/api created; T0 claimed; a message on B; A claimed.
async fn six_events(boss: &Client, t0: &str) {
    let a = create(boss, json!({ "title": "A", "channel": "ops" })).await;
    let b = create(
        boss,
        json!({ "title": "B", "channel": "misc", "type": "review", "org": "acme", "project": "web" }),
    )
    .await;
    create(
        boss,
        json!({ "title": "C", "channel": "ops", "type": "review", "org": "acme", "project": "api" }),
    )
    .await;
    let claim = "mutation($id: ID!) { claimTask(id: $id) { task { id } } }";
    ok(boss, claim, json!({ "id": t0 })).await;
    ok(
        boss,
        "mutation($id: ID!) { addMessage(taskId: $id, parts: [{type: \"text\", content: \"hi\"}]) { message { id } } }",
        json!({ "id": b }),
    )
    .await;
    ok(boss, claim, json!({ "id": a })).await;
}

async fn each_subscription_filter_narrows(app: TestApp) {
    let boss = app.actor("human", "boss");
    ok(
        &boss,
        "mutation { createOrganization(input: {slug: \"acme\"}) { organization { slug } } web: createProject(org: \"acme\", input: {slug: \"web\"}) { project { slug } } api: createProject(org: \"acme\", input: {slug: \"api\"}) { project { slug } } }",
        json!({}),
    )
    .await;
    let t0 = create(&boss, json!({ "title": "T0", "channel": "misc" })).await;
    let mut s = Session::open(
        &app,
        TRANSPORT,
        json!({ "X-Actor-Type": "human", "X-Actor-ID": "boss" }),
    )
    .await;
    let subs = subscriptions(&t0);
    for (id, args) in &subs {
        s.subscribe(id, args, false).await;
    }
    wait_subscriptions(&app, subs.len() as i64).await;
    six_events(&boss, &t0).await;
    // Each subscription is delivered on its own: wait for all of them, then
    // for anything more that should not come.
    s.until(20, "every subscription's events", |s| {
        EXPECT
            .iter()
            .all(|(id, want)| s.events(id).len() >= want.len())
    })
    .await;
    s.settle(700).await;
    for (id, want) in EXPECT {
        assert_eq!(s.seen(id), want, "subscription {id}");
        let ids = s.ids(id);
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{id}: {ids:?}");
    }
}
