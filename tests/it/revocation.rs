//! Revocation reaches open subscriptions (issue 12): removing a member,
//! revoking a grant, deleting an API key or ending a guardianship takes
//! effect on sockets already open — `/ws` and `/graphql/ws`, on this replica
//! and on another one over the same PostgreSQL database.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

use crate::common::{Backend, Client, Role, TestApp};
use crate::on_both_backends;

/// How long a revocation may take to reach a socket (the issue's bound).
const WITHIN: Duration = Duration::from_secs(1);
/// The longest any expected message may take.
const WAIT: Duration = Duration::from_secs(20);

on_both_backends!(start = crate::common::TestApp::required_auth;
    removed_member_stops_receiving,
    revoked_grant_stops_receiving,
    deleted_key_closes_both_sockets,
    ended_guardianship_revokes_the_keys_it_issued,
);

/// The owner of org `acme` with project `web`.
async fn acme(app: &TestApp) -> Client {
    app.user("owner")
        .in_org("acme", Role::Owner)
        .with_project("web")
        .await
}

/// A client's API key.
fn key_of(c: &Client) -> String {
    c.token().expect("a registered user").to_owned()
}

async fn task_in(c: &Client, path: &str, title: &str) -> i64 {
    c.post(path, json!({ "title": title })).await.expect(201)["task"]["id"]
        .as_i64()
        .unwrap()
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What a socket yields: a JSON message, or the close frame's code and reason.
#[derive(Debug)]
enum Got {
    Json(Value),
    Closed(u16, String),
}

async fn next(ws: &mut Socket, wait: Duration) -> Option<Got> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next()).await.ok()?;
        match msg {
            Some(Ok(Message::Text(t))) => {
                return Some(Got::Json(serde_json::from_str(&t).unwrap()));
            }
            Some(Ok(Message::Close(frame))) => {
                let (code, reason) = frame
                    .map(|f| (u16::from(f.code), f.reason.to_string()))
                    .unwrap_or((1005, String::new()));
                return Some(Got::Closed(code, reason));
            }
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Some(Got::Closed(1006, String::new())),
        }
    }
}

/// A `/ws` socket with one subscription to everything, authenticated by `key`.
async fn ws_subscriber(base: &str, key: &str) -> Socket {
    let url = format!("{}/ws?token={key}", base.replacen("http://", "ws://", 1));
    let (mut ws, _) = connect_async(url).await.expect("/ws connect");
    ws.send(Message::text(
        json!({ "type": "subscribe", "id": "s" }).to_string(),
    ))
    .await
    .unwrap();
    loop {
        match next(&mut ws, WAIT).await {
            Some(Got::Json(v)) if v["type"] == "subscribed" => return ws,
            Some(Got::Json(_)) => continue,
            other => panic!("no subscribed reply: {other:?}"),
        }
    }
}

/// A `/graphql/ws` socket (graphql-transport-ws) subscribed to `taskEvents`
/// from the start of the log (the protocol does not acknowledge a subscribe,
/// so a cursor of "now" could fall after the test's first event).
async fn gql_subscriber(base: &str, key: &str) -> Socket {
    let mut req = format!("{}/graphql/ws", base.replacen("http://", "ws://", 1))
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut ws, _) = connect_async(req).await.expect("/graphql/ws connect");
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {key}") } });
    ws.send(Message::text(init.to_string())).await.unwrap();
    match next(&mut ws, WAIT).await {
        Some(Got::Json(v)) if v["type"] == "connection_ack" => {}
        other => panic!("no connection_ack: {other:?}"),
    }
    let sub = json!({ "id": "1", "type": "subscribe", "payload": {
        "query": "subscription { taskEvents(after: \"0\") { id type taskId } }" } });
    ws.send(Message::text(sub.to_string())).await.unwrap();
    ws
}

/// The task id of the next event a socket delivers (either protocol).
async fn next_task_id(ws: &mut Socket) -> i64 {
    loop {
        match next(ws, WAIT).await {
            Some(Got::Json(v)) if v["type"] == "next" => {
                return v["payload"]["data"]["taskEvents"]["taskId"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap();
            }
            Some(Got::Json(v)) if v["type"].as_str().is_some_and(|t| t.starts_with("task.")) => {
                return v["task_id"].as_i64().unwrap();
            }
            Some(Got::Json(_)) => continue,
            other => panic!("expected an event, got {other:?}"),
        }
    }
}

/// Asserts the socket is closed within [`WITHIN`]; returns the close code and reason.
async fn closed_within(ws: &mut Socket, what: &str) -> (u16, String) {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match next(ws, left).await {
            Some(Got::Closed(code, reason)) => return (code, reason),
            Some(Got::Json(v)) if v["type"] == "ping" || v["type"] == "pong" => continue,
            Some(Got::Json(v)) => panic!("{what}: a message instead of the close: {v}"),
            None => panic!("{what}: still open {WITHIN:?} after the revocation"),
        }
    }
}

/// Checks that after a revocation a subscriber no longer gets events of
/// `acme/web` (a task there is skipped) while it still gets those of
/// `default/main`, which everyone reads.
async fn sees_default_not_web(owner: &Client, sockets: &mut [&mut Socket]) {
    let hidden = task_in(owner, "/orgs/acme/projects/web/tasks", "after revocation").await;
    let public = task_in(owner, "/tasks", "in default").await;
    for ws in sockets.iter_mut() {
        let got = next_task_id(ws).await;
        assert_ne!(
            got, hidden,
            "an event of a project no longer readable arrived"
        );
        assert_eq!(got, public);
    }
}

/// Both sockets of `key`'s holder, each shown to receive an event of
/// `acme/web` before the revocation under test.
async fn both_see_web(app: &TestApp, owner: &Client, key: &str) -> (Socket, Socket) {
    let mut ws = ws_subscriber(&app.base, key).await;
    let mut gql = gql_subscriber(&app.base, key).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let seen = task_in(owner, "/orgs/acme/projects/web/tasks", "before").await;
    assert_eq!(next_task_id(&mut ws).await, seen);
    assert_eq!(next_task_id(&mut gql).await, seen);
    (ws, gql)
}

async fn removed_member_stops_receiving(app: TestApp) {
    let owner = acme(&app).await;
    let key = key_of(&app.user("mia").in_org("acme", Role::Member).await);
    let (mut ws, mut gql) = both_see_web(&app, &owner, &key).await;

    owner
        .delete("/orgs/acme/members/human/mia")
        .await
        .expect(200);
    sees_default_not_web(&owner, &mut [&mut ws, &mut gql]).await;
}

async fn revoked_grant_stops_receiving(app: TestApp) {
    let owner = acme(&app).await;
    let key = key_of(&app.agent("guest").with_grant("acme", "web", "r").await);
    let grant = owner.get("/orgs/acme/permissions").await.expect(200)["permissions"][0]["id"]
        .as_i64()
        .unwrap();
    let (mut ws, mut gql) = both_see_web(&app, &owner, &key).await;

    owner
        .delete(&format!("/orgs/acme/permissions/{grant}"))
        .await
        .expect(200);
    sees_default_not_web(&owner, &mut [&mut ws, &mut gql]).await;
}

async fn deleted_key_closes_both_sockets(app: TestApp) {
    let me = app.user("kim").await;
    let created = me
        .post("/auth/api-keys", json!({ "name": "socket" }))
        .await
        .expect(201);
    let key = created["api_key"]["key"].as_str().unwrap().to_owned();
    let id = created["api_key"]["id"].as_i64().unwrap();
    let mut ws = ws_subscriber(&app.base, &key).await;
    let mut gql = gql_subscriber(&app.base, &key).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    me.delete(&format!("/auth/api-keys/{id}")).await.expect(200);
    let (code, reason) = closed_within(&mut ws, "/ws").await;
    assert_eq!(code, 1008, "/ws closes with policy violation");
    assert!(reason.contains("revoked"), "the reason says why: {reason}");
    let (code, reason) = closed_within(&mut gql, "/graphql/ws").await;
    assert_eq!(code, 4403, "/graphql/ws closes with 4403: {reason}");
    app.bearer(&key).get("/auth/me").await.expect_error(401);
}

async fn ended_guardianship_revokes_the_keys_it_issued(app: TestApp) {
    let agent = app.agent("bot").await;
    let human = app.user("gus").await;
    let link = agent
        .post("/auth/me/guardian-link", json!({}))
        .await
        .expect(201)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let guardianship = human
        .post(&format!("/auth/guardian-confirm/{link}"), json!({}))
        .await
        .expect(201)["guardianship"]["id"]
        .as_i64()
        .unwrap();
    let issued = human
        .post("/auth/guardians/bot/api-keys", json!({ "name": "for bot" }))
        .await
        .expect(201)["api_key"]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    app.bearer(&issued).get("/auth/me").await.expect(200);
    let mut ws = ws_subscriber(&app.base, &issued).await;
    let mut gql = gql_subscriber(&app.base, &issued).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    human
        .delete(&format!("/auth/me/guardians/{guardianship}"))
        .await
        .expect(200);
    closed_within(&mut ws, "/ws").await;
    let (code, _) = closed_within(&mut gql, "/graphql/ws").await;
    assert_eq!(code, 4403);
    app.bearer(&issued).get("/auth/me").await.expect_error(401);
    // The agent's own key is untouched.
    agent.get("/auth/me").await.expect(200);
}

/// Revocations made through one replica reach sockets open on another.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revocation_reaches_another_replica() {
    let Some(app) = TestApp::required_auth(Backend::Postgres).await else {
        eprintln!("SKIPPED (PostgreSQL): ATS_TEST_PG_URL is not set");
        return;
    };
    let replica = app.replica().await;
    let other = replica.base.clone();
    let owner = acme(&app).await;
    let mia = app.user("mia").in_org("acme", Role::Member).await;
    let key = key_of(&mia);
    let second = mia
        .post("/auth/api-keys", json!({ "name": "second" }))
        .await
        .expect(201);
    let second_key = second["api_key"]["key"].as_str().unwrap().to_owned();
    let second_id = second["api_key"]["id"].as_i64().unwrap();

    let mut ws = ws_subscriber(&other, &key).await;
    let mut gql = gql_subscriber(&other, &key).await;
    let mut doomed_ws = ws_subscriber(&other, &second_key).await;
    let mut doomed_gql = gql_subscriber(&other, &second_key).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = task_in(&owner, "/orgs/acme/projects/web/tasks", "before").await;
    for s in [&mut ws, &mut gql, &mut doomed_ws, &mut doomed_gql] {
        assert_eq!(next_task_id(s).await, seen);
    }

    // Through the first replica: the second key is deleted, mia is removed.
    mia.delete(&format!("/auth/api-keys/{second_id}"))
        .await
        .expect(200);
    closed_within(&mut doomed_ws, "/ws on the other replica").await;
    let (code, _) = closed_within(&mut doomed_gql, "/graphql/ws on the other replica").await;
    assert_eq!(code, 4403);

    owner
        .delete("/orgs/acme/members/human/mia")
        .await
        .expect(200);
    tokio::time::sleep(WITHIN).await;
    sees_default_not_web(&owner, &mut [&mut ws, &mut gql]).await;
}
