//! GraphQL subscriptions over a real WebSocket (`/graphql/ws`): the
//! graphql-transport-ws protocol, the legacy graphql-ws one, each
//! `TaskEventFilter` field, and `after` replay with no gap and no duplicate.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::common::TestApp;
use crate::graphql::ok;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const TRANSPORT: &str = "graphql-transport-ws";
const LEGACY: &str = "graphql-ws";

/// One `/graphql/ws` connection and every message it has received.
struct Session {
    ws: Ws,
    got: Vec<Value>,
}

impl Session {
    /// Opens a socket speaking `protocol` (the server must agree to it).
    async fn connect(app: &TestApp, protocol: &str) -> Self {
        let mut req = (app.base.replacen("http://", "ws://", 1) + "/graphql/ws")
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
    async fn open(app: &TestApp, protocol: &str, payload: Value) -> Self {
        let mut s = Self::connect(app, protocol).await;
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

    async fn send(&mut self, msg: Value) {
        timeout(
            Duration::from_secs(10),
            self.ws.send(Message::Text(msg.to_string().into())),
        )
        .await
        .expect("send timed out")
        .expect("send");
    }

    /// Starts a `taskEvents` subscription (`subscribe` or, in the legacy protocol, `start`).
    async fn subscribe(&mut self, id: &str, args: &str, legacy: bool) {
        let query = format!(
            "subscription {{ taskEvents{args} {{ id type taskId channel createdAt actor {{ type id }} task {{ title status }} }} }}"
        );
        let kind = if legacy { "start" } else { "subscribe" };
        self.send(json!({ "id": id, "type": kind, "payload": { "query": query } }))
            .await;
    }

    /// The next message within `wait` (keep-alives skipped); a close frame
    /// comes back as `{"type": "close", "code", "reason"}`; None on timeout or end.
    async fn recv(&mut self, wait: Duration) -> Option<Value> {
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

    /// Receives until `done` holds; panics after `secs` seconds.
    async fn until(&mut self, secs: u64, what: &str, done: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !done(self) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.recv(left).await.is_none() && !done(self) {
                panic!("timed out waiting for {what}; received: {:#?}", self.got);
            }
        }
    }

    /// Receives whatever else arrives until the socket is quiet for `ms`.
    async fn settle(&mut self, ms: u64) {
        while self.recv(Duration::from_millis(ms)).await.is_some() {}
    }

    /// The `taskEvents` payloads received for subscription `id`.
    fn events(&self, id: &str) -> Vec<Value> {
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
    fn seen(&self, id: &str) -> Vec<String> {
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

    fn ids(&self, id: &str) -> Vec<i64> {
        self.events(id)
            .iter()
            .map(|e| e["id"].as_str().unwrap().parse().unwrap())
            .collect()
    }

    /// The first GraphQL error received for subscription `id`.
    fn error_of(&self, id: &str) -> Value {
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
    fn events_or_errors(&self, id: &str) -> usize {
        self.got
            .iter()
            .filter(|m| m["id"] == id && m["type"] != "complete")
            .count()
    }

    /// The messages of subscription `id` other than events.
    fn others(&self, id: &str) -> Vec<&Value> {
        self.got
            .iter()
            .filter(|m| m["id"] == id && m["type"] != "next" && m["type"] != "data")
            .collect()
    }
}

/// `ats_open_subscriptions` from `/metrics`.
async fn open_subscriptions(app: &TestApp) -> i64 {
    app.metric("ats_open_subscriptions").await
}

/// Waits until the server holds exactly `n` live subscriptions, so that a
/// write made afterwards is seen by every one of them.
async fn wait_subscriptions(app: &TestApp, n: i64) {
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

async fn create(c: &crate::common::Client, input: Value) -> String {
    ok(
        c,
        "mutation($in: CreateTaskInput!) { createTask(input: $in) { task { id } } }",
        json!({ "in": input }),
    )
    .await["createTask"]["task"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn transport_ws_protocol(app: TestApp) {
    let writer = app.actor("agent", "writer");

    // Nothing runs before connection_init.
    let mut early = Session::connect(&app, TRANSPORT).await;
    early.subscribe("x", "", false).await;
    let closed = early.recv(Duration::from_secs(5)).await;
    assert_eq!(
        closed.as_ref().map(|c| c["type"].clone()),
        Some(json!("close")),
        "a subscribe before connection_init closes the socket: {closed:?}"
    );
    // Bad credentials or a half-given actor: no ack, the socket closes with a reason.
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

    let mut s = Session::open(
        &app,
        TRANSPORT,
        json!({ "X-Actor-Type": "human", "X-Actor-ID": "watcher" }),
    )
    .await;
    s.send(json!({ "type": "ping", "payload": { "n": 1 } }))
        .await;
    let pong = s.recv(Duration::from_secs(5)).await.expect("pong");
    assert_eq!(pong["type"], "pong", "{pong}");

    // A mutation from another HTTP client reaches the subscriber.
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
    crate::graphql::ts(&ev[0]["createdAt"]);
    assert!(
        s.got.iter().all(|m| m["type"] != "data"),
        "this protocol says next"
    );

    // complete ends it; the id may be used again.
    s.send(json!({ "id": "s1", "type": "complete" })).await;
    wait_subscriptions(&app, 0).await;
    create(&writer, json!({ "title": "nobody listens" })).await;
    s.settle(500).await;
    assert_eq!(s.events("s1").len(), 2, "nothing after complete");
    s.subscribe("s1", "", false).await;
    wait_subscriptions(&app, 1).await;
    create(&writer, json!({ "title": "again" })).await;
    s.until(10, "the resubscribed event", |s| s.events("s1").len() == 3)
        .await;
    assert_eq!(s.seen("s1")[2], "again task.created");

    // Errors come back on the subscription's id with a code, then it completes.
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

    // The actor of connection_init decides what arrives.
    let boss = app.actor("human", "boss");
    ok(
        &boss,
        "mutation { createOrganization(input: {slug: \"secret\"}) { organization { slug } } createProject(org: \"secret\", input: {slug: \"p\"}) { project { slug } } }",
        json!({}),
    )
    .await;
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
    s.until(10, "the public event", |s| s.events("s1").len() == 4)
        .await;
    s.settle(500).await;
    assert_eq!(s.seen("s1")[3], "public task.created");
    assert!(
        s.events("s1").iter().all(|e| e["taskId"] != hidden),
        "watcher is no member of secret"
    );
}

async fn each_filter_narrows(app: TestApp) {
    let boss = app.actor("human", "boss");
    ok(
        &boss,
        "mutation { createOrganization(input: {slug: \"acme\"}) { organization { slug } } web: createProject(org: \"acme\", input: {slug: \"web\"}) { project { slug } } api: createProject(org: \"acme\", input: {slug: \"api\"}) { project { slug } } }",
        json!({}),
    )
    .await;
    let t0 = create(&boss, json!({ "title": "T0", "channel": "misc" })).await;
    let mut s = Session::open(
        &app,
        TRANSPORT,
        json!({ "X-Actor-Type": "human", "X-Actor-ID": "boss" }),
    )
    .await;
    let subs = [
        ("all", String::new()),
        ("proj", "(filter: {projects: [\"acme/web\"]})".to_owned()),
        (
            "proj2",
            "(filter: {projects: [\"acme/web\", \"default/main\"]})".to_owned(),
        ),
        ("chan", "(filter: {channels: [\"ops\"]})".to_owned()),
        ("ttype", "(filter: {taskTypes: [\"review\"]})".to_owned()),
        (
            "etype",
            "(filter: {eventTypes: [\"task.claimed\"]})".to_owned(),
        ),
        ("tid", format!("(filter: {{taskId: \"{t0}\"}})")),
        (
            "combo",
            "(filter: {channels: [\"ops\"], eventTypes: [\"task.claimed\"]})".to_owned(),
        ),
    ];
    for (id, args) in &subs {
        s.subscribe(id, args, false).await;
    }
    wait_subscriptions(&app, subs.len() as i64).await;

    let a = create(&boss, json!({ "title": "A", "channel": "ops" })).await;
    let b = create(
        &boss,
        json!({ "title": "B", "channel": "misc", "type": "review", "org": "acme", "project": "web" }),
    )
    .await;
    create(
        &boss,
        json!({ "title": "C", "channel": "ops", "type": "review", "org": "acme", "project": "api" }),
    )
    .await;
    let claim = "mutation($id: ID!) { claimTask(id: $id) { task { id } } }";
    ok(&boss, claim, json!({ "id": t0 })).await;
    ok(
        &boss,
        "mutation($id: ID!) { addMessage(taskId: $id, parts: [{type: \"text\", content: \"hi\"}]) { message { id } } }",
        json!({ "id": b }),
    )
    .await;
    ok(&boss, claim, json!({ "id": a })).await;

    s.until(10, "six events", |s| s.events("all").len() >= 6)
        .await;
    s.settle(700).await;
    let expect: [(&str, &[&str]); 8] = [
        (
            "all",
            &[
                "A task.created",
                "B task.created",
                "C task.created",
                "T0 task.claimed",
                "B task.message",
                "A task.claimed",
            ],
        ),
        ("proj", &["B task.created", "B task.message"]),
        (
            "proj2",
            &[
                "A task.created",
                "B task.created",
                "T0 task.claimed",
                "B task.message",
                "A task.claimed",
            ],
        ),
        (
            "chan",
            &["A task.created", "C task.created", "A task.claimed"],
        ),
        (
            "ttype",
            &["B task.created", "C task.created", "B task.message"],
        ),
        ("etype", &["T0 task.claimed", "A task.claimed"]),
        ("tid", &["T0 task.claimed"]),
        ("combo", &["A task.claimed"]),
    ];
    for (id, want) in expect {
        assert_eq!(s.seen(id), want, "subscription {id}");
        let ids = s.ids(id);
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{id}: {ids:?}");
    }
}

/// Replays the events after a cursor while writes keep committing, then
/// continues live: every event after the cursor exactly once, in order.
async fn after_replays_then_continues(app: TestApp) {
    let w = app.actor("agent", "writer");
    let mut first_task = 0;
    for i in 0..10 {
        let t = w.create_task(json!({ "title": format!("old{i}") })).await["id"]
            .as_i64()
            .unwrap();
        if i == 0 {
            first_task = t;
        }
        w.post(&format!("/tasks/{t}/claim"), json!({}))
            .await
            .expect(200);
        w.post(
            &format!("/tasks/{t}/messages"),
            json!({ "parts": [{ "type": "text", "content": "m" }] }),
        )
        .await
        .expect(201);
    }
    let history = "query($f: TaskEventFilter, $after: ID) { taskEvents(filter: $f, after: $after, first: 1000) { id } }";
    let ids_of = |v: &Value| -> Vec<i64> {
        v["taskEvents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().parse().unwrap())
            .collect()
    };
    let before = ids_of(&ok(&w, history, json!({})).await);
    assert_eq!(before.len(), 30);
    let cursor = before[9];

    // Writes commit while the subscription replays and switches to live.
    let bg = w.clone();
    let writing = tokio::spawn(async move {
        for i in 0..40 {
            bg.create_task(json!({ "title": format!("new{i}") })).await;
            if i % 8 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });
    let mut s = Session::open(&app, TRANSPORT, json!({})).await;
    s.subscribe("r", &format!("(after: \"{cursor}\")"), false)
        .await;
    s.subscribe(
        "rc",
        &format!("(after: \"{cursor}\", filter: {{eventTypes: [\"task.claimed\"]}})"),
        false,
    )
    .await;
    s.subscribe(
        "z",
        &format!("(after: \"0\", filter: {{taskId: \"{first_task}\"}})"),
        false,
    )
    .await;
    writing.await.unwrap();
    let want = ids_of(&ok(&w, history, json!({ "after": cursor.to_string() })).await);
    assert_eq!(want.len(), 20 + 40);
    s.until(20, "every event after the cursor", |s| {
        s.events("r").len() >= want.len()
    })
    .await;
    s.settle(500).await;
    assert_eq!(s.ids("r"), want, "no gap, no duplicate, in order");
    let claimed = ids_of(
        &ok(
            &w,
            history,
            json!({ "after": cursor.to_string(), "f": { "eventTypes": ["task.claimed"] } }),
        )
        .await,
    );
    assert_eq!(claimed.len(), 7);
    assert_eq!(s.ids("rc"), claimed, "replay honours the filter");
    assert_eq!(
        s.seen("z"),
        [
            "old0 task.created",
            "old0 task.claimed",
            "old0 task.message"
        ]
    );

    // And then live.
    let t = w.create_task(json!({ "title": "live" })).await["id"]
        .as_i64()
        .unwrap();
    w.post(&format!("/tasks/{t}/claim"), json!({}))
        .await
        .expect(200);
    s.until(10, "the live events", |s| {
        s.events("r").len() == want.len() + 2 && s.events("rc").len() == claimed.len() + 1
    })
    .await;
    s.settle(500).await;
    let now = ids_of(&ok(&w, history, json!({ "after": cursor.to_string() })).await);
    assert_eq!(s.ids("r"), now, "replay and live join without a gap");
    assert_eq!(s.seen("rc").last().unwrap(), "live task.claimed");
    assert_eq!(s.events("z").len(), 3);
}

async fn legacy_graphql_ws(app: TestApp) {
    let w = app.actor("agent", "writer");
    let mut s = Session::open(
        &app,
        LEGACY,
        json!({ "X-Actor-Type": "agent", "X-Actor-ID": "old-client" }),
    )
    .await;
    s.subscribe("1", "(filter: {taskTypes: [\"legacy\"]})", true)
        .await;
    wait_subscriptions(&app, 1).await;
    create(&w, json!({ "title": "skip me" })).await;
    create(&w, json!({ "title": "old protocol", "type": "legacy" })).await;
    s.until(10, "a data message", |s| !s.events("1").is_empty())
        .await;
    s.settle(500).await;
    assert_eq!(s.seen("1"), ["old protocol task.created"]);
    assert!(
        s.got.iter().all(|m| m["type"] != "next"),
        "this protocol says data"
    );
    assert_eq!(s.events("1")[0]["actor"]["id"], "writer");

    s.send(json!({ "id": "1", "type": "stop" })).await;
    s.until(10, "complete", |s| {
        s.others("1").iter().any(|m| m["type"] == "complete")
    })
    .await;
    wait_subscriptions(&app, 0).await;
    create(&w, json!({ "title": "after stop", "type": "legacy" })).await;
    s.settle(500).await;
    assert_eq!(s.events("1").len(), 1, "nothing after stop");

    // Replay works here too.
    s.subscribe(
        "2",
        "(after: \"0\", filter: {taskTypes: [\"legacy\"]})",
        true,
    )
    .await;
    s.until(10, "the replay", |s| s.events("2").len() == 2)
        .await;
    assert_eq!(
        s.seen("2"),
        ["old protocol task.created", "after stop task.created"]
    );

    s.send(json!({ "type": "connection_terminate" })).await;
    let end = s.recv(Duration::from_secs(5)).await;
    assert!(
        end.as_ref().is_none_or(|m| m["type"] == "close"),
        "connection_terminate closes the socket: {end:?}"
    );
}

crate::on_both_backends!(
    transport_ws_protocol,
    each_filter_narrows,
    after_replays_then_continues,
    legacy_graphql_ws,
);
