//! A `/graphql/ws` client for the tests: graphql-transport-ws or the legacy
//! graphql-ws protocol, every receive with a deadline, and every message kept.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::app::TestApp;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The graphql-transport-ws protocol.
pub const TRANSPORT: &str = "graphql-transport-ws";
/// The legacy graphql-ws (subscriptions-transport-ws) protocol.
pub const LEGACY: &str = "graphql-ws";

/// One `/graphql/ws` connection and every message it has received.
pub struct Session {
    ws: Ws,
    /// Every message received, in order.
    pub got: Vec<Value>,
}

impl Session {
    /// Opens a socket speaking `protocol` (the server must agree to it).
    pub async fn connect(app: &TestApp, protocol: &str) -> Self {
        Self::connect_to(&app.base, protocol).await
    }

    /// Opens a socket speaking `protocol` to the server at `base`
    /// (`http://…`), e.g. an `ats-server` process.
    pub async fn connect_to(base: &str, protocol: &str) -> Self {
        let mut req = (base.replacen("http://", "ws://", 1) + "/graphql/ws")
            .into_client_request()
            .unwrap();
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
        let (ws, resp) = timeout(
            Duration::from_secs(10),
            tokio_tungstenite::connect_async(req),
        )
        .await
        .expect("connect timed out")
        .expect("connect");
        assert_eq!(
            resp.headers()["sec-websocket-protocol"],
            protocol,
            "the server speaks the protocol asked for"
        );
        Self {
            ws,
            got: Vec::new(),
        }
    }

    /// Connects and completes `connection_init` → `connection_ack`.
    pub async fn open(app: &TestApp, protocol: &str, payload: Value) -> Self {
        Self::open_to(&app.base, protocol, payload).await
    }

    /// Like [`Session::open`], to the server at `base`.
    pub async fn open_to(base: &str, protocol: &str, payload: Value) -> Self {
        let mut s = Self::connect_to(base, protocol).await;
        s.send(json!({ "type": "connection_init", "payload": payload }))
            .await;
        let ack = s.recv(Duration::from_secs(10)).await;
        assert_eq!(
            ack.as_ref().map(|a| a["type"].clone()),
            Some(json!("connection_ack")),
            "{ack:?}"
        );
        s
    }

    pub async fn send(&mut self, msg: Value) {
        timeout(
            Duration::from_secs(10),
            self.ws.send(Message::Text(msg.to_string().into())),
        )
        .await
        .expect("send timed out")
        .expect("send");
    }

    /// Starts a `taskEvents` subscription (`subscribe` or, in the legacy protocol, `start`).
    pub async fn subscribe(&mut self, id: &str, args: &str, legacy: bool) {
        let query = format!(
            "subscription {{ taskEvents{args} {{ id type taskId channel createdAt actor {{ type id }} task {{ title status }} }} }}"
        );
        let kind = if legacy { "start" } else { "subscribe" };
        self.send(json!({ "id": id, "type": kind, "payload": { "query": query } }))
            .await;
    }

    /// The next message within `wait` (keep-alives skipped); a close frame
    /// comes back as `{"type": "close", "code", "reason"}`; None on timeout or end.
    pub async fn recv(&mut self, wait: Duration) -> Option<Value> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = match timeout(left, self.ws.next()).await {
                Ok(Some(Ok(m))) => m,
                _ => return None,
            };
            let v = match msg {
                Message::Text(t) => serde_json::from_str::<Value>(&t).unwrap(),
                Message::Close(frame) => json!({
                    "type": "close",
                    "code": frame.as_ref().map(|f| u16::from(f.code)),
                    "reason": frame.as_ref().map(|f| f.reason.to_string()),
                }),
                _ => continue,
            };
            if v["type"] == "ka" {
                continue;
            }
            self.got.push(v.clone());
            return Some(v);
        }
    }

    /// The next message (keep-alives skipped), close frame or end of the
    /// connection within `wait`, where ending is expected. Messages are
    /// kept in `got` as by [`Session::recv`].
    pub async fn next_or_close(&mut self, wait: Duration) -> super::ws::Next {
        use super::ws::Next;
        let deadline = Instant::now() + wait;
        loop {
            let Ok(msg) = tokio::time::timeout_at(deadline, self.ws.next()).await else {
                return Next::Quiet;
            };
            match msg {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    if v["type"] == "ka" {
                        continue;
                    }
                    self.got.push(v.clone());
                    return Next::Message(v);
                }
                Some(Ok(Message::Close(frame))) => {
                    return Next::Closed(frame.map(|f| (u16::from(f.code), f.reason.to_string())));
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Next::Closed(None),
            }
        }
    }

    /// Receives until `done` holds; panics after `secs` seconds.
    pub async fn until(&mut self, secs: u64, what: &str, done: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !done(self) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.recv(left).await.is_none() && !done(self) {
                panic!("timed out waiting for {what}; received: {:#?}", self.got);
            }
        }
    }

    /// Receives whatever else arrives until the socket is quiet for `ms`.
    pub async fn settle(&mut self, ms: u64) {
        while self.recv(Duration::from_millis(ms)).await.is_some() {}
    }

    /// The `taskEvents` payloads received for subscription `id`.
    pub fn events(&self, id: &str) -> Vec<Value> {
        self.got
            .iter()
            .filter(|m| m["id"] == id && (m["type"] == "next" || m["type"] == "data"))
            .map(|m| {
                assert!(m["payload"].get("errors").is_none(), "{m}");
                m["payload"]["data"]["taskEvents"].clone()
            })
            .collect()
    }

    /// `"<task title> <event type>"` for each event of subscription `id`.
    pub fn seen(&self, id: &str) -> Vec<String> {
        self.events(id)
            .iter()
            .map(|e| {
                format!(
                    "{} {}",
                    e["task"]["title"].as_str().unwrap_or("?"),
                    e["type"].as_str().unwrap()
                )
            })
            .collect()
    }

    pub fn ids(&self, id: &str) -> Vec<i64> {
        self.events(id)
            .iter()
            .map(|e| e["id"].as_str().unwrap().parse().unwrap())
            .collect()
    }

    /// The first GraphQL error received for subscription `id`.
    pub fn error_of(&self, id: &str) -> Value {
        self.got
            .iter()
            .filter(|m| m["id"] == id)
            .find_map(|m| {
                let p = &m["payload"];
                let e = if p.is_array() { &p[0] } else { &p["errors"][0] };
                e.is_object().then(|| e.clone())
            })
            .unwrap_or_else(|| panic!("no error for {id}: {:#?}", self.got))
    }

    /// How many `next`/`data`/`error` messages subscription `id` received.
    pub fn events_or_errors(&self, id: &str) -> usize {
        self.got
            .iter()
            .filter(|m| m["id"] == id && m["type"] != "complete")
            .count()
    }

    /// The messages of subscription `id` other than events.
    pub fn others(&self, id: &str) -> Vec<&Value> {
        self.got
            .iter()
            .filter(|m| m["id"] == id && m["type"] != "next" && m["type"] != "data")
            .collect()
    }
}

/// `ats_open_subscriptions` from `/metrics`.
pub async fn open_subscriptions(app: &TestApp) -> i64 {
    app.metric("ats_open_subscriptions").await
}

/// Waits until the server holds exactly `n` live subscriptions, so that a
/// write made afterwards is seen by every one of them.
pub async fn wait_subscriptions(app: &TestApp, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = open_subscriptions(app).await;
        if now == n {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "expected {n} open subscriptions, the server has {now}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
}
