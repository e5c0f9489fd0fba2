//! GraphQL subscriptions over `/graphql/ws` in the graphql-transport-ws
//! protocol: `connection_init` first and with valid credentials, ping/pong,
//! a mutation reaching the subscriber as `next`, `complete`, errors on the
//! subscription's id, and the actor of `connection_init` deciding what arrives.

use std::time::Duration;

use serde_json::json;

use crate::common::TestApp;
use crate::common::gql::{create_task as create, ok};
use crate::common::gql_ws::{Session, TRANSPORT, wait_subscriptions};
use crate::common::shapes::ts;

crate::on_both_backends!(
    nothing_runs_before_connection_init,
    bad_credentials_or_half_an_actor_close_the_socket,
    ping_gets_pong,
    a_mutation_reaches_the_subscriber_as_next,
    complete_ends_a_subscription_and_frees_its_id,
    errors_come_back_on_the_subscriptions_id_then_complete,
    the_actor_of_connection_init_decides_what_arrives,
);

/// A session of `human:watcher`.
async fn watcher(app: &TestApp) -> Session {
    Session::open(
        app,
        TRANSPORT,
        json!({ "X-Actor-Type": "human", "X-Actor-ID": "watcher" }),
    )
    .await
}

async fn nothing_runs_before_connection_init(app: TestApp) {
    let mut early = Session::connect(&app, TRANSPORT).await;
    early.subscribe("x", "", false).await;
    let closed = early.recv(Duration::from_secs(5)).await;
    assert_eq!(
        closed.as_ref().map(|c| c["type"].clone()),
        Some(json!("close")),
        "a subscribe before connection_init closes the socket: {closed:?}"
    );
}

/// No ack: the socket closes with a reason.
async fn bad_credentials_or_half_an_actor_close_the_socket(app: TestApp) {
    for payload in [
        json!({ "Authorization": "Bearer not-a-key" }),
        json!({ "X-Actor-Type": "agent" }),
    ] {
        let mut s = Session::connect(&app, TRANSPORT).await;
        s.send(json!({ "type": "connection_init", "payload": payload }))
            .await;
        let m = s.recv(Duration::from_secs(5)).await.expect("an answer");
        assert_eq!(m["type"], "close", "{payload}: {m}");
        assert!(m["reason"].as_str().is_some_and(|r| !r.is_empty()), "{m}");
    }
}

async fn ping_gets_pong(app: TestApp) {
    let mut s = watcher(&app).await;
    s.send(json!({ "type": "ping", "payload": { "n": 1 } }))
        .await;
    let pong = s.recv(Duration::from_secs(5)).await.expect("pong");
    assert_eq!(pong["type"], "pong", "{pong}");
}

/// A mutation from another HTTP client reaches the subscriber.
async fn a_mutation_reaches_the_subscriber_as_next(app: TestApp) {
    let writer = app.actor("agent", "writer");
    let mut s = watcher(&app).await;
    s.subscribe("s1", "", false).await;
    wait_subscriptions(&app, 1).await;
    let id = create(&writer, json!({ "title": "live one", "channel": "ops" })).await;
    ok(
        &writer,
        "mutation($id: ID!) { claimTask(id: $id) { task { id } } }",
        json!({ "id": id }),
    )
    .await;
    s.until(10, "two events", |s| s.events("s1").len() >= 2)
        .await;
    let ev = s.events("s1");
    assert_eq!(ev[0]["type"], "task.created");
    assert_eq!(
        (&ev[0]["taskId"], &ev[0]["channel"], &ev[0]["actor"]),
        (
            &json!(id),
            &json!("ops"),
            &json!({ "type": "AGENT", "id": "writer" })
        )
    );
    assert_eq!(ev[0]["task"]["title"], "live one");
    assert_eq!(ev[1]["type"], "task.claimed");
    assert_eq!(ev[1]["task"]["status"], "IN_PROGRESS");
    assert!(
        ev[0]["id"].as_str().unwrap().parse::<i64>().unwrap()
            < ev[1]["id"].as_str().unwrap().parse::<i64>().unwrap()
    );
    ts(&ev[0]["createdAt"]);
    assert!(
        s.got.iter().all(|m| m["type"] != "data"),
        "this protocol says next"
    );
}

/// `complete` ends it; the id may be used again.
async fn complete_ends_a_subscription_and_frees_its_id(app: TestApp) {
    let writer = app.actor("agent", "writer");
    let mut s = watcher(&app).await;
    s.subscribe("s1", "", false).await;
    wait_subscriptions(&app, 1).await;
    create(&writer, json!({ "title": "heard" })).await;
    s.until(10, "the first event", |s| s.events("s1").len() == 1)
        .await;
    s.send(json!({ "id": "s1", "type": "complete" })).await;
    wait_subscriptions(&app, 0).await;
    create(&writer, json!({ "title": "nobody listens" })).await;
    s.settle(500).await;
    assert_eq!(s.events("s1").len(), 1, "nothing after complete");
    s.subscribe("s1", "", false).await;
    wait_subscriptions(&app, 1).await;
    create(&writer, json!({ "title": "again" })).await;
    s.until(10, "the resubscribed event", |s| s.events("s1").len() == 2)
        .await;
    assert_eq!(s.seen("s1")[1], "again task.created");
}

/// Errors come back on the subscription's id with a code, then it completes.
async fn errors_come_back_on_the_subscriptions_id_then_complete(app: TestApp) {
    let mut s = watcher(&app).await;
    for (id, args, code) in [
        ("bad-after", "(after: \"x\")", "BAD_REQUEST"),
        ("bad-task", "(filter: {taskId: \"x\"})", "BAD_REQUEST"),
        (
            "bad-project",
            "(filter: {projects: [\"nope/none\"]})",
            "NOT_FOUND",
        ),
    ] {
        s.subscribe(id, args, false).await;
        s.until(10, "an error, then complete", |s| {
            s.others(id).iter().any(|m| m["type"] == "complete")
        })
        .await;
        let e = s.error_of(id);
        assert_eq!(e["extensions"]["code"], code, "{e}");
        assert!(s.events_or_errors(id) == 1, "one error, no events");
    }
    s.send(json!({ "id": "q", "type": "subscribe", "payload": { "query": "subscription { taskEvents { nope } }" } }))
        .await;
    s.until(10, "a validation error", |s| {
        s.others("q").iter().any(|m| m["type"] == "complete")
    })
    .await;
    let e = s.error_of("q");
    assert!(
        e["message"].as_str().unwrap().contains("nope"),
        "names the unknown field: {e}"
    );
    assert_eq!(e["extensions"]["code"], "BAD_REQUEST", "{e}");
}

async fn the_actor_of_connection_init_decides_what_arrives(app: TestApp) {
    let writer = app.actor("agent", "writer");
    let boss = app.actor("human", "boss");
    ok(
        &boss,
        "mutation { createOrganization(input: {slug: \"secret\"}) { organization { slug } } createProject(org: \"secret\", input: {slug: \"p\"}) { project { slug } } }",
        json!({}),
    )
    .await;
    let mut s = watcher(&app).await;
    s.subscribe("s1", "", false).await;
    let mut b = Session::open(
        &app,
        TRANSPORT,
        json!({ "X-Actor-Type": "human", "X-Actor-ID": "boss" }),
    )
    .await;
    b.subscribe("all", "", false).await;
    wait_subscriptions(&app, 2).await;
    let hidden = create(
        &boss,
        json!({ "title": "hidden", "org": "secret", "project": "p" }),
    )
    .await;
    create(&writer, json!({ "title": "public" })).await;
    b.until(10, "both events", |b| b.events("all").len() == 2)
        .await;
    assert_eq!(
        b.seen("all"),
        ["hidden task.created", "public task.created"]
    );
    s.until(10, "the public event", |s| s.events("s1").len() == 1)
        .await;
    s.settle(500).await;
    assert_eq!(s.seen("s1"), ["public task.created"]);
    assert!(
        s.events("s1").iter().all(|e| e["taskId"] != hidden),
        "watcher is no member of secret"
    );
}
