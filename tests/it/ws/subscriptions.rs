//! Several subscriptions on one `/ws` connection (SPEC §7): each gets its
//! own copy of an event; `unsubscribe` stops one, then the last; and
//! `subscribed` means live: a change made right after the reply is delivered.

use serde_json::{Value, json};

use crate::common::TestApp;
use crate::common::ws::{WsConn, history, ids, is};

crate::on_both_backends!(two_subscriptions_and_unsubscribe, subscribed_means_live);

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
