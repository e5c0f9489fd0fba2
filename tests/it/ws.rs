//! The `/ws` event WebSocket (SPEC §7): greeting, ping, errors, the exact
//! event shape, every subscription filter, several subscriptions on one
//! connection, unsubscribe. Replay with `after` is in `ws/replay.rs`.

mod replay;

use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::common::TestApp;
use crate::common::ws::{WsConn, histories, history, ids, is, send_named};

/// Greeting, ping/pong, and errors that leave the connection usable.
async fn greeting_ping_and_errors(app: TestApp) {
    let mut ws = WsConn::open(&app).await;
    let other = WsConn::open_url(&app.ws_url("")).await;
    assert_ne!(ws.connection_id, other.connection_id);
    other.close().await;

    ws.send(json!({ "type": "ping" })).await;
    assert_eq!(ws.recv().await, json!({ "type": "pong" }));

    // Bad input of every kind: an error message each time, and the connection stays usable.
    let bad = [
        Message::text("this is not json"),
        Message::text("{\"type\":"),
        Message::text(r#"{"type":"dance"}"#),
        Message::text(r#"{"no_type":true}"#),
        Message::text(r#"{"type":"subscribe","channels":"ops"}"#),
        Message::binary(vec![1u8, 2, 3]),
    ];
    for frame in bad {
        ws.send_frame(frame.clone()).await;
        let reply = ws.recv().await;
        assert_eq!(reply["type"], "error", "{frame:?} → {reply}");
        assert!(
            reply["code"].as_str().is_some_and(|c| !c.is_empty()),
            "{reply}"
        );
        assert!(
            reply["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{reply}"
        );
        ws.send(json!({ "type": "ping" })).await;
        assert_eq!(ws.recv().await["type"], "pong", "after {frame:?}");
    }

    // Subscriptions that cannot be made: an error naming the id, and no subscription.
    let refused = [
        ("ghost", json!({ "projects": ["default/nope"] })),
        ("ghost2", json!({ "projects": ["no-such-org/main"] })),
        ("slashless", json!({ "projects": ["default"] })),
        ("negative", json!({ "after": -5 })),
    ];
    for (id, filters) in &refused {
        let mut req = json!({ "type": "subscribe", "id": id });
        req.as_object_mut()
            .unwrap()
            .extend(filters.as_object().unwrap().clone());
        ws.send(req).await;
        let reply = ws.recv().await;
        assert_eq!(reply["type"], "error", "{id}: {reply}");
        assert_eq!(reply["id"], *id, "{reply}");
        assert!(
            reply["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{reply}"
        );
    }
    for (id, _) in &refused {
        ws.send(json!({ "type": "unsubscribe", "id": id })).await;
        let reply = ws.recv().await;
        assert_eq!(
            reply["type"], "error",
            "unsubscribe of refused {id}: {reply}"
        );
    }

    // A good subscription still works, and only it delivers events.
    ws.subscribe("good", json!({})).await;
    let t = app
        .client()
        .create_task(json!({ "title": "after errors" }))
        .await;
    let tid = t["id"].as_i64().unwrap();
    let events = ws.events_of("good", |e| is(e, "task.created", tid)).await;
    assert_eq!(ids(&events), ids(&history(&app, tid).await));

    // A subscription without an id gets one, and its events carry it.
    ws.send(json!({ "type": "subscribe", "task_id": tid }))
        .await;
    let reply = ws.reply(|v| v["type"] == "subscribed").await;
    // Without `after`, the reply names the cursor: the newest stored event.
    assert_eq!(reply["after"], events.last().unwrap()["id"], "{reply}");
    let auto = reply["id"].as_str().expect("generated id").to_owned();
    assert!(!auto.is_empty() && auto != "good");
    app.client()
        .post(&format!("/tasks/{tid}/claim"), json!({}))
        .await
        .expect(200);
    let got = ws
        .events_until(&["good", &auto], |e| is(e, "task.claimed", tid))
        .await;
    assert_eq!(got.len(), 2, "events for a refused subscription: {got:?}");
    assert_eq!(got[&auto].len(), 1);
    ws.close().await;
}

/// Every field of §7 on a created / claimed / message / completed sequence.
async fn event_shape(app: TestApp) {
    let mut ws = WsConn::open(&app).await;
    ws.subscribe("s1", json!({})).await;

    let alice = ("human", "alice", "Alice A.");
    let bot = ("agent", "bot-7", "Builder Bot");
    let body = json!({ "title": "shape", "channel": "ops", "type": "review",
                       "priority": 7, "payload": { "k": [1, 2] } });
    let created = send_named(&app, "/tasks", body, alice, 201).await["task"].clone();
    let tid = created["id"].as_i64().unwrap();
    let claimed =
        send_named(&app, &format!("/tasks/{tid}/claim"), json!({}), bot, 200).await["task"].clone();
    let parts = json!([{ "type": "text", "content": "working on it" },
                       { "type": "data", "content": { "step": 1 } }]);
    let message = send_named(
        &app,
        &format!("/tasks/{tid}/messages"),
        json!({ "parts": parts }),
        bot,
        201,
    )
    .await["message"]
        .clone();
    let outputs = json!({ "result": "ok" });
    let completed = send_named(
        &app,
        &format!("/tasks/{tid}/complete"),
        json!({ "outputs": outputs }),
        bot,
        200,
    )
    .await["task"]
        .clone();

    let events = ws.events_of("s1", |e| is(e, "task.completed", tid)).await;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "task.created",
            "task.claimed",
            "task.message",
            "task.completed"
        ]
    );
    let stored = history(&app, tid).await;
    assert_eq!(
        ids(&events),
        ids(&stored),
        "live ids differ from the task history"
    );

    let expected = [
        (alice, &created),
        (bot, &claimed),
        (bot, &claimed), // a message does not change the task
        (bot, &completed),
    ];
    for ((e, s), ((atype, aid, aname), task)) in events.iter().zip(&stored).zip(expected) {
        assert_eq!(e["subscription_id"], "s1", "{e}");
        assert!(e["id"].as_i64().is_some_and(|id| id > 0), "{e}");
        assert_eq!(e["task_id"], tid, "{e}");
        assert_eq!(e["channel"], "ops", "{e}");
        assert_eq!(e["actor_type"], atype, "{e}");
        assert_eq!(e["actor_id"], aid, "{e}");
        assert_eq!(e["actor_name"], aname, "{e}");
        let at = e["created_at"].as_str().expect("created_at");
        assert!(at.ends_with('Z'), "created_at is not UTC: {at}");
        chrono::DateTime::parse_from_rfc3339(at).expect("created_at is RFC 3339");
        assert_eq!(
            e["data"]["task"], *task,
            "data.task is not the task after the change"
        );
        // The live event is the stored one plus the subscription id.
        let mut live = e.clone();
        live.as_object_mut().unwrap().remove("subscription_id");
        assert_eq!(live, *s);
    }
    assert_eq!(events[0]["data"]["task"]["status"], "pending");
    assert_eq!(events[1]["data"]["task"]["status"], "in_progress");
    assert_eq!(events[1]["data"]["task"]["assignee_id"], "bot-7");
    assert_eq!(events[2]["data"]["message"], message);
    assert_eq!(events[2]["data"]["message"]["parts"], parts);
    assert_eq!(events[3]["data"]["task"]["status"], "completed");
    assert_eq!(events[3]["data"]["task"]["outputs"], json!([outputs]));
    ws.close().await;
}

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
async fn filters_narrow(app: TestApp) {
    let c = app.actor("agent", "filter-bot");
    c.post("/orgs", json!({ "slug": "acme", "name": "Acme" }))
        .await
        .expect(201);
    c.post(
        "/orgs/acme/projects",
        json!({ "slug": "web", "name": "Web" }),
    )
    .await
    .expect(201);
    // The history reads act as human:anonymous and the socket as human:ws-tester: let both read acme.
    for reader in ["anonymous", "ws-tester"] {
        c.post(
            "/orgs/acme/permissions",
            json!({ "actor_type": "human", "actor_id": reader, "namespace": "*", "access": "r" }),
        )
        .await
        .expect(201);
    }
    let in_acme = "/orgs/acme/projects/web/tasks";
    let target = c
        .post(
            in_acme,
            json!({ "title": "T", "channel": "ops", "type": "review" }),
        )
        .await
        .expect(201)["task"]["id"]
        .as_i64()
        .unwrap();
    let cursor = history(&app, target).await.last().unwrap()["id"]
        .as_i64()
        .unwrap();

    let mut ws = WsConn::open(&app).await;
    let subs = [
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
    ];
    for (id, filters) in &subs {
        ws.subscribe(id, filters.clone()).await;
    }

    let specs = [
        ("/tasks", "ops", "task"),
        ("/tasks", "support", "review"),
        ("/tasks", "misc", "misc"),
        ("/tasks", "ops", "review"),
        (in_acme, "misc", "other"),
        (in_acme, "support", "review"),
    ];
    let mut tasks = vec![target];
    for (path, channel, ty) in specs {
        let t = c
            .post(
                path,
                json!({ "title": "x", "channel": channel, "type": ty }),
            )
            .await
            .expect(201)["task"]["id"]
            .as_i64()
            .unwrap();
        tasks.push(t);
    }
    for &t in &tasks {
        c.post(&format!("/tasks/{t}/claim"), json!({}))
            .await
            .expect(200);
        let msg = json!({ "parts": [{ "type": "text", "content": "hi" }] });
        c.post(&format!("/tasks/{t}/messages"), msg)
            .await
            .expect(201);
    }
    c.post(&format!("/tasks/{}/complete", tasks[3]), json!({}))
        .await
        .expect(200);
    // The last event matches every filter: once it is in, nothing else may come.
    c.post(&format!("/tasks/{target}/complete"), json!({}))
        .await
        .expect(200);

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

/// Two subscriptions on one connection each get their own copy; unsubscribe stops one.
async fn two_subscriptions_and_unsubscribe(app: TestApp) {
    let mut ws = WsConn::open(&app).await;
    ws.subscribe("a", json!({})).await;
    ws.subscribe("b", json!({})).await;
    let c = app.actor("agent", "subs");
    let x = c.create_task(json!({ "title": "X" })).await["id"]
        .as_i64()
        .unwrap();
    let got = ws
        .events_until(&["a", "b"], |e| is(e, "task.created", x))
        .await;
    assert_eq!(got.len(), 2);
    let (a, b) = (&got["a"], &got["b"]);
    assert_eq!((a.len(), b.len()), (1, 1), "{got:?}");
    assert_eq!(a[0]["subscription_id"], "a");
    assert_eq!(b[0]["subscription_id"], "b");
    let strip = |e: &Value| {
        let mut e = e.clone();
        e.as_object_mut().unwrap().remove("subscription_id");
        e
    };
    assert_eq!(strip(&a[0]), strip(&b[0]), "the two copies differ");

    ws.send(json!({ "type": "unsubscribe", "id": "a" })).await;
    let reply = ws.reply(|v| v["type"] != "task.created").await;
    assert_eq!(reply, json!({ "type": "unsubscribed", "id": "a" }));

    let y = c.create_task(json!({ "title": "Y" })).await["id"]
        .as_i64()
        .unwrap();
    c.post(&format!("/tasks/{y}/claim"), json!({}))
        .await
        .expect(200);
    let msg = json!({ "parts": [{ "type": "text", "content": "m" }] });
    c.post(&format!("/tasks/{y}/messages"), msg)
        .await
        .expect(201);
    let after = ws.events_of("b", |e| is(e, "task.message", y)).await;
    assert_eq!(ids(&after), ids(&history(&app, y).await));

    // Unsubscribing again: nothing to end.
    ws.send(json!({ "type": "unsubscribe", "id": "a" })).await;
    let reply = ws.recv().await;
    assert_eq!(reply["type"], "error", "{reply}");
    assert_eq!(reply["id"], "a", "{reply}");

    // After unsubscribing the last one, nothing arrives at all; ping still works.
    ws.send(json!({ "type": "unsubscribe", "id": "b" })).await;
    assert_eq!(
        ws.recv().await,
        json!({ "type": "unsubscribed", "id": "b" })
    );
    c.create_task(json!({ "title": "Z" })).await;
    ws.send(json!({ "type": "ping" })).await;
    let next = ws.recv().await;
    assert_eq!(next, json!({ "type": "pong" }));
    let late = ws.recv_within(std::time::Duration::from_millis(1500)).await;
    assert!(
        late.is_none(),
        "an event arrived with no subscription: {late:?}"
    );
    ws.close().await;
}

/// `subscribed` means live: a change made right after the ack is delivered.
async fn subscribed_means_live(app: TestApp) {
    let mut ws = WsConn::open(&app).await;
    let c = app.actor("agent", "racer");
    for i in 0..40 {
        let sub = format!("r{i}");
        ws.subscribe(&sub, json!({ "event_types": ["task.created"] }))
            .await;
        let t = c.create_task(json!({ "title": "race" })).await["id"]
            .as_i64()
            .unwrap();
        let e = ws.recv().await;
        assert!(is(&e, "task.created", t), "round {i}: {e}");
        assert_eq!(e["subscription_id"], sub.as_str());
        ws.send(json!({ "type": "unsubscribe", "id": sub })).await;
        assert_eq!(ws.recv().await["type"], "unsubscribed");
    }
    ws.close().await;
}

crate::on_both_backends!(
    subscribed_means_live,
    greeting_ping_and_errors,
    event_shape,
    filters_narrow,
    two_subscriptions_and_unsubscribe
);
