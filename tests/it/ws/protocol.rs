//! The `/ws` protocol (SPEC §7): a `connected` greeting with its own id,
//! ping/pong, errors for bad frames that leave the connection usable,
//! refused subscriptions that name their id, and generated subscription ids.

use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::common::TestApp;
use crate::common::ws::{WsConn, history, ids, is};

crate::on_both_backends!(
    each_connection_is_greeted_with_its_own_id,
    ping_gets_pong,
    bad_frames_get_errors_and_the_connection_stays_usable,
    refused_subscriptions_name_their_id_and_deliver_nothing,
    a_subscription_without_an_id_gets_one_and_a_cursor,
);

async fn each_connection_is_greeted_with_its_own_id(app: TestApp) {
    let ws = WsConn::open(&app).await;
    let other = WsConn::open_url(&app.ws_url("")).await;
    assert_ne!(ws.connection_id, other.connection_id);
    other.close().await;
    ws.close().await;
}

async fn ping_gets_pong(app: TestApp) {
    let mut ws = WsConn::open(&app).await;
    ws.send(json!({ "type": "ping" })).await;
    assert_eq!(ws.recv().await, json!({ "type": "pong" }));
    ws.close().await;
}

/// Bad input of every kind: an error message each time, and the connection stays usable.
async fn bad_frames_get_errors_and_the_connection_stays_usable(app: TestApp) {
    let mut ws = WsConn::open(&app).await;
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
    ws.close().await;
}

/// Subscriptions that cannot be made: an error naming the id, and no
/// subscription (unsubscribing them is an error too); a good subscription
/// still works, and only it delivers events.
async fn refused_subscriptions_name_their_id_and_deliver_nothing(app: TestApp) {
    let mut ws = WsConn::open(&app).await;
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
    ws.subscribe("good", json!({})).await;
    let t = app
        .client()
        .create_task(json!({ "title": "after errors" }))
        .await;
    let tid = t["id"].as_i64().unwrap();
    let events = ws.events_of("good", |e| is(e, "task.created", tid)).await;
    assert_eq!(ids(&events), ids(&history(&app, tid).await));
    ws.close().await;
}

/// A subscription without an id gets one, and its events carry it; without
/// `after`, the reply names the cursor: the newest stored event.
async fn a_subscription_without_an_id_gets_one_and_a_cursor(app: TestApp) {
    let mut ws = WsConn::open(&app).await;
    ws.subscribe("good", json!({})).await;
    let tid = app.client().create_task(json!({ "title": "named" })).await["id"]
        .as_i64()
        .unwrap();
    let events = ws.events_of("good", |e| is(e, "task.created", tid)).await;
    ws.send(json!({ "type": "subscribe", "task_id": tid }))
        .await;
    let reply = ws.reply(|v| v["type"] == "subscribed").await;
    assert_eq!(reply["after"], events.last().unwrap()["id"], "{reply}");
    let auto = reply["id"].as_str().expect("generated id").to_owned();
    assert!(!auto.is_empty() && auto != "good");
    app.client().act(tid, "claim", json!({})).await.expect(200);
    let got = ws
        .events_until(&["good", &auto], |e| is(e, "task.claimed", tid))
        .await;
    assert_eq!(
        got.len(),
        2,
        "events for good and the generated id only: {got:?}"
    );
    assert_eq!(got[&auto].len(), 1);
    ws.close().await;
}
