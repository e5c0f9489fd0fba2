//! Cursors and a pruned log: a cursor inside the retained window replays
//! exactly the events kept after it (REST history, GraphQL `taskEvents`,
//! `/ws` and `/graphql/ws`, then live); one before it is refused with
//! `CURSOR_EXPIRED` and the oldest id kept, on every surface, never
//! answered with a silent gap; subscribers without a cursor are
//! unaffected, even when the whole log was pruned.

use serde_json::{Value, json};

use crate::common::gql::{gql, ok};
use crate::common::gql_ws::{Session, TRANSPORT, wait_subscriptions};
use crate::common::sql::{Sql, days_ago};
use crate::common::ws::{WsConn, histories, ids};
use crate::common::{Client, TestApp};

crate::on_both_backends!(
    start = crate::common::retention::pruning;
    a_cursor_inside_the_window_replays_exactly_what_is_kept,
    a_cursor_before_the_window_is_refused_on_every_surface,
    a_log_pruned_empty_keeps_its_front,
);

const EVENTS: &str =
    "query($after: ID) { taskEvents(after: $after, first: 1000) { id type taskId } }";

fn id_of(v: &Value) -> i64 {
    v["id"].as_i64().unwrap()
}

/// A log pruned through `old`: tasks `a`, `b`, `c` and the events kept,
/// as the history read them before the pruning.
struct Pruned {
    old: i64,
    a: i64,
    b: i64,
    c: i64,
    kept: Vec<Value>,
}

async fn message(c: &Client, task: i64, content: &str) {
    c.post(
        &format!("/tasks/{task}/messages"),
        json!({ "parts": [{ "type": "text", "content": content }] }),
    )
    .await
    .expect(201);
}

/// A and B's first events age past the period; B's later changes and C stay.
async fn pruned_log(app: &TestApp, sql: &Sql) -> Pruned {
    let w = app.actor("agent", "writer");
    let id = |t: Value| t["id"].as_i64().unwrap();
    let a = id(w.create_task(json!({ "title": "A" })).await);
    w.act(a, "claim", json!({})).await.expect(200);
    message(&w, a, "old news").await;
    let b = id(w.create_task(json!({ "title": "B" })).await);
    let old = sql.max_event_id().await;
    w.act(b, "claim", json!({})).await.expect(200);
    message(&w, b, "kept").await;
    w.act(b, "complete", json!({ "outputs": [1] }))
        .await
        .expect(200);
    let c = id(w
        .create_task(json!({ "title": "C", "channel": "ops" }))
        .await);
    w.act(c, "claim", json!({})).await.expect(200);
    let kept: Vec<Value> = histories(app, &[a, b, c])
        .await
        .into_iter()
        .filter(|e| id_of(e) > old)
        .collect();
    assert_eq!(kept.len(), 5, "{kept:?}");
    sql.age_events(old, days_ago(31)).await;
    sql.wait_pruned_through(old).await;
    Pruned { old, a, b, c, kept }
}

/// The events of `kept` after `cursor` (of `task`, when given).
fn after(kept: &[Value], cursor: i64, task: Option<i64>) -> Vec<i64> {
    kept.iter()
        .filter(|e| id_of(e) > cursor && task.is_none_or(|t| e["task_id"] == t))
        .map(id_of)
        .collect()
}

fn gql_ids(data: &Value) -> Vec<i64> {
    data["taskEvents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().parse().unwrap())
        .collect()
}

async fn a_cursor_inside_the_window_replays_exactly_what_is_kept(app: TestApp) {
    let sql = Sql::open(&app).await;
    let Pruned { old, a, b, c, kept } = pruned_log(&app, &sql).await;
    let reader = app.actor("human", "reader");

    // REST: the task's history after cursors at and inside the window.
    let history = |task: i64, query: String| {
        let reader = reader.clone();
        async move {
            ids(reader
                .get(&format!("/tasks/{task}/events{query}"))
                .await
                .expect(200)["events"]
                .as_array()
                .unwrap())
        }
    };
    for cursor in [old, id_of(&kept[0]), id_of(&kept[2])] {
        assert_eq!(
            history(b, format!("?after={cursor}")).await,
            after(&kept, cursor, Some(b)),
            "B after {cursor}"
        );
    }
    assert_eq!(history(b, String::new()).await, after(&kept, old, Some(b)));
    assert_eq!(history(a, String::new()).await, Vec::<i64>::new());
    assert_eq!(history(a, format!("?after={old}")).await, Vec::<i64>::new());

    // GraphQL `taskEvents`.
    for cursor in [old, id_of(&kept[1])] {
        let data = ok(&reader, EVENTS, json!({ "after": cursor.to_string() })).await;
        assert_eq!(gql_ids(&data), after(&kept, cursor, None), "after {cursor}");
    }
    let data = ok(&reader, EVENTS, json!({})).await;
    assert_eq!(
        gql_ids(&data),
        after(&kept, old, None),
        "no cursor: what is kept"
    );

    // `/ws` and `/graphql/ws` from the front of the window: the kept
    // events, exactly, then live.
    let mut ws = WsConn::open(&app).await;
    ws.subscribe("r", json!({ "after": old })).await;
    let last = id_of(kept.last().unwrap());
    let replayed = ws.events_of("r", |e| id_of(e) == last).await;
    assert_eq!(replayed.len(), kept.len());
    for (got, want) in replayed.iter().zip(&kept) {
        let mut got = got.clone();
        got.as_object_mut().unwrap().remove("subscription_id");
        assert_eq!(&got, want, "a replayed event differs from the stored one");
    }
    let mut s = Session::open(
        &app,
        TRANSPORT,
        json!({ "X-Actor-Type": "human", "X-Actor-ID": "watcher" }),
    )
    .await;
    s.subscribe("r", &format!("(after: \"{old}\")"), false)
        .await;
    s.until(20, "the kept events", |s| s.events("r").len() == kept.len())
        .await;
    assert_eq!(s.ids("r"), after(&kept, old, None));
    wait_subscriptions(&app, 2).await;

    let w = app.actor("agent", "writer");
    w.act(c, "complete", json!({ "outputs": [2] }))
        .await
        .expect(200);
    let live = ws.events_of("r", |e| e["type"] == "task.completed").await;
    assert_eq!(live.len(), 1, "{live:?}");
    assert!(id_of(&live[0]) > last);
    s.until(20, "the live event", |s| {
        s.events("r").len() == kept.len() + 1
    })
    .await;
    assert_eq!(*s.ids("r").last().unwrap(), id_of(&live[0]));
}

async fn a_cursor_before_the_window_is_refused_on_every_surface(app: TestApp) {
    let sql = Sql::open(&app).await;
    let Pruned { old, b, .. } = pruned_log(&app, &sql).await;
    let reader = app.actor("human", "reader");

    // REST: 410, the oldest id kept, and the oldest cursor accepted.
    for path in [
        format!("/tasks/{b}/events?after={}", old - 1),
        format!("/tasks/{b}/events?after=0"),
        format!("/orgs/default/projects/main/tasks/{b}/events?after=0"),
    ] {
        let refused = reader.get(&path).await.expect_error(410);
        assert_eq!(refused["code"], "CURSOR_EXPIRED", "{path}: {refused}");
        assert_eq!(refused["oldest_id"], old + 1, "{refused}");
        assert_eq!(refused["pruned_through"], old, "{refused}");
        let sentence = refused["error"].as_str().unwrap();
        assert!(
            sentence.contains(&format!("after = {old}")),
            "says where to resume: {sentence}"
        );
    }

    // GraphQL `taskEvents(after:)`.
    let resp = gql(&reader, EVENTS, json!({ "after": "0" })).await;
    let err = &resp["errors"][0];
    assert_eq!(err["extensions"]["code"], "CURSOR_EXPIRED", "{resp}");
    assert_eq!(
        err["extensions"]["oldestId"],
        (old + 1).to_string(),
        "{resp}"
    );
    assert_eq!(
        err["extensions"]["prunedThrough"],
        old.to_string(),
        "{resp}"
    );

    // `/ws`: an error for that subscription, the connection goes on.
    let mut ws = WsConn::open(&app).await;
    ws.send(json!({ "type": "subscribe", "id": "stale", "after": old - 1 }))
        .await;
    let refused = ws.reply(|v| v["id"] == "stale").await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["code"], "cursor_expired", "{refused}");
    assert_eq!(refused["oldest_id"], old + 1, "{refused}");
    assert_eq!(refused["pruned_through"], old, "{refused}");
    assert!(refused["message"].as_str().is_some_and(|m| !m.is_empty()));
    let now = ws.subscribe("now", json!({})).await;
    let newest = sql.max_event_id().await;
    assert_eq!(now["after"], newest, "no cursor: from now, unaffected");

    // `/graphql/ws`: an error on the subscription's id, then complete.
    let mut s = Session::open(
        &app,
        TRANSPORT,
        json!({ "X-Actor-Type": "human", "X-Actor-ID": "watcher" }),
    )
    .await;
    s.subscribe("stale", "(after: \"1\")", false).await;
    s.until(20, "an error, then complete", |s| {
        s.others("stale").iter().any(|m| m["type"] == "complete")
    })
    .await;
    let e = s.error_of("stale");
    assert_eq!(e["extensions"]["code"], "CURSOR_EXPIRED", "{e}");
    assert_eq!(e["extensions"]["oldestId"], (old + 1).to_string(), "{e}");
    assert_eq!(s.events_or_errors("stale"), 1, "one error, no events");
    s.subscribe("now", "", false).await;
    wait_subscriptions(&app, 2).await;

    let w = app.actor("agent", "writer");
    let t = w.create_task(json!({ "title": "after" })).await["id"]
        .as_i64()
        .unwrap();
    let live = ws.events_of("now", |e| e["task_id"] == t).await;
    assert_eq!(live.len(), 1, "{live:?}");
    s.until(20, "the live event", |s| s.events("now").len() == 1)
        .await;
}

/// Every event pruned: the table is empty, and the log still starts after
/// the last id pruned. "Now" is that id (not 0, which would be before the
/// window), on this server and on one started afterwards.
async fn a_log_pruned_empty_keeps_its_front(app: TestApp) {
    let sql = Sql::open(&app).await;
    let w = app.actor("agent", "writer");
    let t = w.create_task(json!({ "title": "gone" })).await["id"]
        .as_i64()
        .unwrap();
    w.act(t, "claim", json!({})).await.expect(200);
    let all = sql.max_event_id().await;
    sql.age_events(all, days_ago(31)).await;
    sql.wait_pruned_through(all).await;
    assert_eq!(sql.events_between(0, i64::MAX).await, 0);

    let reader = app.actor("human", "reader");
    let data = ok(&reader, EVENTS, json!({})).await;
    assert_eq!(gql_ids(&data), Vec::<i64>::new());
    let data = ok(&reader, EVENTS, json!({ "after": all.to_string() })).await;
    assert_eq!(gql_ids(&data), Vec::<i64>::new());

    let replica = app.replica().await;
    let replica_ws = format!(
        "{}/ws?actor_type=human&actor_id=ws-tester",
        replica.base.replacen("http://", "ws://", 1)
    );
    let mut here = WsConn::open(&app).await;
    let mut there = WsConn::open_url(&replica_ws).await;
    for ws in [&mut here, &mut there] {
        let now = ws.subscribe("now", json!({})).await;
        assert_eq!(now["after"], all, "from now, at the front of the log");
        ws.subscribe("resume", json!({ "after": all })).await;
    }
    let fresh = w
        .at(&replica.base)
        .create_task(json!({ "title": "new" }))
        .await["id"]
        .as_i64()
        .unwrap();
    for ws in [&mut here, &mut there] {
        let got = ws
            .events_until(&["now", "resume"], |e| e["task_id"] == fresh)
            .await;
        for sub in ["now", "resume"] {
            assert_eq!(got[sub].len(), 1, "{sub}: {got:?}");
            assert!(id_of(&got[sub][0]) > all);
        }
    }
}
