//! Identical live subscriptions (same caller, document and variables) share
//! one execution: each subscriber still gets every event once, in order; one
//! leaving does not end the others; a late joiner gets what comes after it
//! joined; another caller with the same document gets a group of its own and
//! only what it may see; a subscription with `after` runs on its own.

use std::time::Duration;

use serde_json::json;

use crate::common::TestApp;
use crate::common::gql::{create_task as create, ok};
use crate::common::gql_ws::{Session, TRANSPORT, wait_subscriptions};

crate::on_both_backends!(identical_subscribers_share_one_execution);

async fn as_actor(app: &TestApp, id: &str) -> Session {
    Session::open(
        app,
        TRANSPORT,
        json!({ "X-Actor-Type": "human", "X-Actor-ID": id }),
    )
    .await
}

async fn groups(app: &TestApp) -> i64 {
    app.metric("ats_graphql_subscription_groups").await
}

async fn identical_subscribers_share_one_execution(app: TestApp) {
    let boss = app.actor("human", "boss");
    ok(
        &boss,
        "mutation { createOrganization(input: {slug: \"secret\"}) { organization { slug } } createProject(org: \"secret\", input: {slug: \"p\"}) { project { slug } } }",
        json!({}),
    )
    .await;
    let mut watchers = Vec::new();
    for _ in 0..4 {
        let mut s = as_actor(&app, "watcher").await;
        s.subscribe("w", "", false).await;
        watchers.push(s);
    }
    // The boss asks the same thing, but may see more: a group of its own.
    let mut b = as_actor(&app, "boss").await;
    b.subscribe("w", "", false).await;
    // A cursor replays from its own point: never shared.
    let mut replaying = as_actor(&app, "watcher").await;
    replaying.subscribe("w", "(after: \"0\")", false).await;
    wait_subscriptions(&app, 6).await;
    assert_eq!(groups(&app).await, 2, "four watchers share one execution");

    let writer = app.actor("agent", "writer");
    for title in ["one", "two", "three"] {
        create(&writer, json!({ "title": title, "channel": "ops" })).await;
    }
    create(
        &boss,
        json!({ "title": "hidden", "channel": "ops", "org": "secret", "project": "p" }),
    )
    .await;
    let want = ["one task.created", "two task.created", "three task.created"];
    for s in &mut watchers {
        s.until(10, "three events", |s| s.events("w").len() >= 3)
            .await;
    }
    b.until(10, "four events", |s| s.events("w").len() >= 4)
        .await;
    replaying
        .until(10, "three events", |s| s.events("w").len() >= 3)
        .await;
    for s in &mut watchers {
        s.settle(300).await;
        assert_eq!(s.seen("w"), want, "each member gets every event once");
        let ids = s.ids("w");
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "in order: {ids:?}");
    }
    replaying.settle(100).await;
    assert_eq!(replaying.seen("w"), want);
    assert_eq!(
        b.seen("w"),
        [&want[..], &["hidden task.created"]].concat(),
        "the boss's group carries what the boss may see"
    );

    // One member leaves: the others go on.
    // The first, whose subscription started the group, leaves.
    let mut leaving = watchers.remove(0);
    leaving.send(json!({ "id": "w", "type": "complete" })).await;
    wait_subscriptions(&app, 5).await;
    // A late joiner gets only what comes after it joined.
    let mut late = as_actor(&app, "watcher").await;
    late.subscribe("w", "", false).await;
    wait_subscriptions(&app, 6).await;
    assert_eq!(groups(&app).await, 2, "the late joiner joins the group");
    create(&writer, json!({ "title": "four", "channel": "ops" })).await;
    for s in &mut watchers {
        s.until(10, "the fourth event", |s| s.events("w").len() >= 4)
            .await;
        assert_eq!(s.seen("w").last().unwrap(), "four task.created");
    }
    late.until(10, "the fourth event", |s| !s.events("w").is_empty())
        .await;
    late.settle(200).await;
    assert_eq!(late.seen("w"), ["four task.created"]);
    leaving.settle(200).await;
    assert_eq!(leaving.seen("w"), want, "nothing after complete");

    // Everyone leaves: the groups end.
    drop(watchers);
    drop(late);
    drop(b);
    drop(replaying);
    drop(leaving);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while groups(&app).await != 0 || app.metric("ats_open_subscriptions").await != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "groups and subscriptions end with their subscribers"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
