//! Event isolation between orgs (SPEC §5, §7): with credentials required, a
//! subscriber on `/ws` or `/graphql/ws` receives only the events of projects
//! it may read; asking for another org's project is refused like an unknown one.

use std::time::Duration;

use serde_json::json;

use crate::common::gql_ws::{Session, TRANSPORT};
use crate::common::ws::WsConn;
use crate::common::{Client, Role, TestApp};

crate::on_both_backends!(
    start = crate::common::TestApp::required_auth;
    ws_needs_credentials_and_sends_only_readable_events,
    graphql_ws_sends_only_readable_events,
);

/// `human:ann` owns org-a/p, `human:ben` org-b/p; returns ann, ben and a
/// second API key of ben's.
async fn two_orgs(app: &TestApp) -> (Client, Client, String) {
    let a = app
        .user("ann")
        .in_org("org-a", Role::Owner)
        .with_project("p")
        .await;
    let b = app
        .user("ben")
        .in_org("org-b", Role::Owner)
        .with_project("p")
        .await;
    let ben_key = b.post("/auth/api-keys", json!({})).await.expect(201)["api_key"]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    (a, b, ben_key)
}

async fn ws_needs_credentials_and_sends_only_readable_events(app: TestApp) {
    let (a, b, ben_key) = two_orgs(&app).await;
    // Without credentials the socket is refused.
    assert!(
        tokio_tungstenite::connect_async(app.ws_url(""))
            .await
            .is_err()
    );
    let mut ws = WsConn::open_url(&app.ws_url(&format!("token={ben_key}"))).await;
    ws.subscribe("all", json!({})).await;
    // Asking for a project it cannot see is refused like an unknown one.
    ws.send(json!({ "type": "subscribe", "id": "spy", "projects": ["org-a/p"] }))
        .await;
    let spy = ws.reply(|v| v["id"] == "spy").await;
    assert_eq!(spy["type"], "error", "{spy}");
    a.post(
        "/orgs/org-a/projects/p/tasks",
        json!({ "title": "private to a" }),
    )
    .await
    .expect(201);
    b.post("/orgs/org-b/projects/p/tasks", json!({ "title": "for b" }))
        .await
        .expect(201);
    let wait = Duration::from_millis(1500);
    let first = ws
        .next_event_within(wait)
        .await
        .expect("ben gets his own event");
    assert_eq!(first["data"]["task"]["title"], "for b");
    assert_eq!(first["subscription_id"], "all");
    assert!(
        ws.next_event_within(wait).await.is_none(),
        "ben must not receive org-a events"
    );
}

async fn graphql_ws_sends_only_readable_events(app: TestApp) {
    let (a, b, ben_key) = two_orgs(&app).await;
    let init = json!({ "Authorization": format!("Bearer {ben_key}") });
    let mut s = Session::open(&app, TRANSPORT, init).await;
    let sub = json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { taskEvents { type data } }" } });
    s.send(sub).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.post(
        "/orgs/org-a/projects/p/tasks",
        json!({ "title": "private again" }),
    )
    .await
    .expect(201);
    b.post(
        "/orgs/org-b/projects/p/tasks",
        json!({ "title": "b again" }),
    )
    .await
    .expect(201);
    s.settle(1500).await;
    let titles: Vec<&str> = s
        .got
        .iter()
        .filter(|m| m["type"] == "next")
        .map(|m| {
            m["payload"]["data"]["taskEvents"]["data"]["task"]["title"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(titles, ["b again"]);
}
