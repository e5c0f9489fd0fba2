//! A small `/ws` client for the tests: every receive has a deadline, so a
//! broken server fails the test instead of hanging it.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

use super::app::TestApp;

/// The longest any single expected message may take.
pub const WAIT: Duration = Duration::from_secs(20);

/// What a socket delivered next.
#[derive(Debug)]
pub enum Next {
    /// A JSON text message.
    Message(Value),
    /// A close frame (code and reason), or the end of the connection
    /// without one (`None`).
    Closed(Option<(u16, String)>),
    /// Nothing within the wait.
    Quiet,
}

/// One `/ws` connection.
pub struct WsConn {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Messages read while looking for a reply, kept in arrival order.
    stash: VecDeque<Value>,
    /// From the `connected` greeting.
    pub connection_id: String,
}

impl WsConn {
    /// Connects as `human:ws-tester` and reads the `connected` greeting.
    pub async fn open(app: &TestApp) -> Self {
        Self::open_url(&app.ws_url("actor_type=human&actor_id=ws-tester")).await
    }

    /// Connects to `url` and reads the `connected` greeting.
    pub async fn open_url(url: &str) -> Self {
        let (ws, _) = tokio::time::timeout(WAIT, connect_async(url))
            .await
            .expect("websocket connect timed out")
            .expect("websocket connect failed");
        let mut conn = Self {
            ws,
            stash: VecDeque::new(),
            connection_id: String::new(),
        };
        let hello = conn.recv().await;
        assert_eq!(hello["type"], "connected", "first message: {hello}");
        conn.connection_id = hello["connection_id"]
            .as_str()
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| panic!("no connection_id in {hello}"))
            .to_owned();
        conn
    }

    /// Sends a JSON message.
    pub async fn send(&mut self, v: Value) {
        self.send_frame(Message::text(v.to_string())).await;
    }

    /// Sends any frame.
    pub async fn send_frame(&mut self, msg: Message) {
        tokio::time::timeout(WAIT, self.ws.send(msg))
            .await
            .expect("websocket send timed out")
            .expect("websocket send failed");
    }

    /// The next JSON message; panics when none arrives within [`WAIT`].
    pub async fn recv(&mut self) -> Value {
        match self.recv_within(WAIT).await {
            Some(v) => v,
            None => panic!("no message from /ws within {WAIT:?}"),
        }
    }

    /// The next JSON message, or `None` when none arrives within `wait`.
    pub async fn recv_within(&mut self, wait: Duration) -> Option<Value> {
        if let Some(v) = self.stash.pop_front() {
            return Some(v);
        }
        self.read_socket(Instant::now() + wait).await
    }

    async fn read_socket(&mut self, deadline: Instant) -> Option<Value> {
        loop {
            let msg = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()?;
            match msg {
                Some(Ok(Message::Text(t))) => {
                    return Some(
                        serde_json::from_str(t.as_str()).unwrap_or_else(|e| {
                            panic!("/ws sent text that is not JSON ({e}): {t}")
                        }),
                    );
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                other => panic!("unexpected /ws frame or end of stream: {other:?}"),
            }
        }
    }

    /// The first message satisfying `pred` (looking at stashed ones first);
    /// others read meanwhile stay queued, in order, for later receives.
    pub async fn reply(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.stash.iter().position(&pred) {
            return self.stash.remove(i).unwrap();
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let Some(v) = self.read_socket(deadline).await else {
                panic!(
                    "no matching reply from /ws within {WAIT:?}; queued: {:?}",
                    self.stash
                );
            };
            if pred(&v) {
                return v;
            }
            self.stash.push_back(v);
        }
    }

    /// Subscribes with `filters` (merged into the request) and waits for `subscribed`.
    pub async fn subscribe(&mut self, id: &str, filters: Value) -> Value {
        let mut req = json!({ "type": "subscribe", "id": id });
        if let Value::Object(extra) = filters {
            req.as_object_mut().unwrap().extend(extra);
        }
        self.send(req).await;
        let reply = self
            .reply(|v| v["id"] == id && (v["type"] == "subscribed" || v["type"] == "error"))
            .await;
        assert_eq!(reply["type"], "subscribed", "subscribe {id}: {reply}");
        reply
    }

    /// Reads events until every subscription in `subs` has received one for
    /// which `last` holds; returns each subscription's events in arrival order.
    /// Any non-event message fails the test.
    pub async fn events_until(
        &mut self,
        subs: &[&str],
        last: impl Fn(&Value) -> bool,
    ) -> HashMap<String, Vec<Value>> {
        let mut got: HashMap<String, Vec<Value>> = HashMap::new();
        let done = |got: &HashMap<String, Vec<Value>>| {
            subs.iter()
                .all(|s| got.get(*s).is_some_and(|evs| evs.iter().any(&last)))
        };
        while !done(&got) {
            let v = self.recv().await;
            let sub = v["subscription_id"]
                .as_str()
                .unwrap_or_else(|| panic!("expected an event, got {v}"))
                .to_owned();
            assert!(
                v["type"].as_str().is_some_and(|t| t.starts_with("task.")),
                "expected an event, got {v}"
            );
            got.entry(sub).or_default().push(v);
        }
        got
    }

    /// Events of the single subscription `sub` until `last` holds; events of
    /// any other subscription fail the test.
    pub async fn events_of(&mut self, sub: &str, last: impl Fn(&Value) -> bool) -> Vec<Value> {
        let mut got = self.events_until(&[sub], last).await;
        let events = got.remove(sub).unwrap_or_default();
        assert!(got.is_empty(), "events for other subscriptions: {got:?}");
        events
    }

    /// The next task event (other messages skipped) within `wait`, if any.
    pub async fn next_event_within(&mut self, wait: Duration) -> Option<Value> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self.recv_within(left).await?;
            if v["type"].as_str().is_some_and(|t| t.starts_with("task.")) {
                return Some(v);
            }
        }
    }

    /// The next JSON message, close frame or end of the connection within
    /// `wait` (pings skipped), where ending is expected.
    pub async fn next_or_close(&mut self, wait: Duration) -> Next {
        if let Some(v) = self.stash.pop_front() {
            return Next::Message(v);
        }
        let deadline = Instant::now() + wait;
        loop {
            let Ok(msg) = tokio::time::timeout_at(deadline, self.ws.next()).await else {
                return Next::Quiet;
            };
            match msg {
                Some(Ok(Message::Text(t))) => {
                    return Next::Message(
                        serde_json::from_str(t.as_str()).unwrap_or_else(|e| {
                            panic!("/ws sent text that is not JSON ({e}): {t}")
                        }),
                    );
                }
                Some(Ok(Message::Close(frame))) => {
                    return Next::Closed(frame.map(|f| (u16::from(f.code), f.reason.to_string())));
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Next::Closed(None),
            }
        }
    }

    /// Closes the connection politely.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(WAIT, self.ws.close(None)).await;
    }
}

/// The ids of `events`.
pub fn ids(events: &[Value]) -> Vec<i64> {
    events.iter().map(|e| e["id"].as_i64().unwrap()).collect()
}

/// A task's whole history from `GET /tasks/:id/events`, paging through it.
pub async fn history(app: &TestApp, task_id: i64) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = app
            .client()
            .get(&format!("/tasks/{task_id}/events?after={after}&limit=1000"))
            .await
            .expect(200)["events"]
            .as_array()
            .expect("events array")
            .clone();
        let Some(last) = page.last() else {
            return out;
        };
        after = last["id"].as_i64().unwrap();
        out.extend(page);
    }
}

/// The histories of `tasks`, merged in id order.
pub async fn histories(app: &TestApp, tasks: &[i64]) -> Vec<Value> {
    let mut all = Vec::new();
    for &t in tasks {
        all.extend(history(app, t).await);
    }
    all.sort_by_key(|e| e["id"].as_i64().unwrap());
    all
}

/// Sends a request as a named actor (`X-Actor-Name` too), expecting `status`.
pub async fn send_named(
    app: &TestApp,
    path: &str,
    body: Value,
    actor: (&str, &str, &str),
    status: u16,
) -> Value {
    let resp = reqwest::Client::new()
        .post(format!("{}{path}", app.base))
        .header("X-Actor-Type", actor.0)
        .header("X-Actor-ID", actor.1)
        .header("X-Actor-Name", actor.2)
        .json(&body)
        .timeout(WAIT)
        .send()
        .await
        .expect("request failed");
    let got = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!(got, status, "POST {path}: {body}");
    body
}

/// True when `e` is the event of `task_id` with type `ty`.
pub fn is(e: &Value, ty: &str, task_id: i64) -> bool {
    e["type"] == ty && e["task_id"] == task_id
}
