//! GraphQL over HTTP and WebSocket: operations, errors, Relay paging, batched
//! loading (counted SQL statements), limits, subscriptions in both
//! subprotocols, and the checked-in SDL.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::common::{Client, TestApp};

async fn gql(c: &Client, query: &str, variables: Value) -> Value {
    c.post(
        "/graphql",
        json!({ "query": query, "variables": variables }),
    )
    .await
    .expect(200)
}

fn code(resp: &Value) -> &str {
    resp["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("")
}

async fn operations_and_errors(app: TestApp) {
    let a = app.actor("agent", "alpha");
    let b = app.actor("agent", "beta");
    let made = gql(
        &a,
        "mutation($p: JSON) { createTask(input: {title: \"G\", type: \"review\", channel: \"ops\", priority: 7, payload: $p}) { task { id status priority type channel payload source { type id } } } }",
        json!({ "p": { "k": 1 } }),
    )
    .await;
    let task = &made["data"]["createTask"]["task"];
    assert_eq!(task["status"], "PENDING", "{made}");
    assert_eq!(task["payload"], json!({ "k": 1 }));
    assert_eq!(task["source"], json!({ "type": "AGENT", "id": "alpha" }));
    let id = task["id"].clone();
    let claim = "mutation($id: ID!) { claimTask(id: $id, leaseMs: 60000) { task { status assignee { id } attempts leaseExpires } } }";
    let claimed = gql(&a, claim, json!({ "id": id })).await;
    assert_eq!(
        claimed["data"]["claimTask"]["task"]["status"], "IN_PROGRESS",
        "{claimed}"
    );
    let conflict = gql(&b, claim, json!({ "id": id })).await;
    assert_eq!(code(&conflict), "CONFLICT", "{conflict}");
    assert!(
        conflict["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("agent:alpha")
    );
    let msg = gql(
        &a,
        "mutation($id: ID!) { addMessage(taskId: $id, parts: [{type: \"text\", content: \"hi\"}]) { message { id parts actor { id } } } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(
        msg["data"]["addMessage"]["message"]["parts"][0]["content"], "hi",
        "{msg}"
    );
    let done = gql(
        &a,
        "mutation($id: ID!) { completeTask(id: $id, outputs: {r: 1}) { task { status outputs completedAt } } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(
        done["data"]["completeTask"]["task"]["outputs"],
        json!([{ "r": 1 }]),
        "{done}"
    );
    let reopened = gql(
        &a,
        "mutation($id: ID!) { reopenTask(id: $id, reason: \"again\") { task { status reason } } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(
        reopened["data"]["reopenTask"]["task"],
        json!({ "status": "PENDING", "reason": "again" })
    );
    let read = gql(
        &a,
        "query($id: ID!) { task(id: $id) { title messages { parts } events { type } } }",
        json!({ "id": id }),
    )
    .await;
    let types: Vec<&str> = read["data"]["task"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "task.created",
            "task.claimed",
            "task.message",
            "task.completed",
            "task.reopened"
        ]
    );
    let updated = gql(&a, "mutation($id: ID!) { updateTask(id: $id, input: {priority: 2, description: null}) { task { priority description } } }", json!({ "id": id })).await;
    assert_eq!(
        updated["data"]["updateTask"]["task"]["priority"], 2,
        "{updated}"
    );

    assert!(gql(&a, "{ task(id: \"999999\") { id } }", json!({})).await["data"]["task"].is_null());
    assert_eq!(
        code(&gql(&a, "{ task(id: \"abc\") { id } }", json!({})).await),
        "BAD_REQUEST"
    );
    assert_eq!(
        code(
            &gql(
                &a,
                "mutation { completeTask(id: \"999999\") { task { id } } }",
                json!({})
            )
            .await
        ),
        "NOT_FOUND"
    );
    assert_eq!(
        code(
            &gql(
                &a,
                "mutation { createTask(input: {title: \"x\", priority: 11}) { task { id } } }",
                json!({})
            )
            .await
        ),
        "BAD_REQUEST"
    );
    let via_get = a.get("/graphql?query=mutation%20%7B%20createTask(input%3A%20%7Btitle%3A%20%22g%22%7D)%20%7B%20task%20%7B%20id%20%7D%20%7D%20%7D").await;
    assert_eq!(code(&via_get.body), "BAD_REQUEST", "{}", via_get.body);
    assert_eq!(
        a.get("/tasks?search=g&limit=500").await.expect(200)["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["title"] == "g")
            .count(),
        0
    );

    // Orgs and projects.
    let org = gql(&a, "mutation { createOrganization(input: {slug: \"gq\", name: \"GQ\"}) { organization { slug role } } }", json!({})).await;
    assert_eq!(
        org["data"]["createOrganization"]["organization"],
        json!({ "slug": "gq", "role": "owner" })
    );
    gql(
        &a,
        "mutation { createProject(org: \"gq\", input: {slug: \"p1\"}) { project { slug } } }",
        json!({}),
    )
    .await;
    gql(&a, "mutation { createTask(input: {title: \"in p1\", org: \"gq\", project: \"p1\"}) { task { id } } }", json!({})).await;
    let proj = gql(&a, "{ project(org: \"gq\", slug: \"p1\") { slug totalCount pendingCount tasks(first: 5) { totalCount nodes { title project } } stats { total } } }", json!({})).await;
    assert_eq!(
        proj["data"]["project"]["tasks"]["nodes"][0]["title"], "in p1",
        "{proj}"
    );
    assert_eq!(proj["data"]["project"]["totalCount"], 1);
    assert!(
        gql(&b, "{ organization(slug: \"gq\") { slug } }", json!({})).await["data"]["organization"]
            .is_null(),
        "not a member: invisible"
    );
    let renamed = gql(&a, "mutation { updateProject(org: \"gq\", slug: \"p1\", input: {name: \"One\"}) { project { name } } }", json!({})).await;
    assert_eq!(renamed["data"]["updateProject"]["project"]["name"], "One");
    let deleted = gql(
        &a,
        "mutation { deleteOrganization(slug: \"gq\") { deleted } }",
        json!({}),
    )
    .await;
    assert_eq!(
        deleted["data"]["deleteOrganization"]["deleted"], true,
        "{deleted}"
    );
    let page = reqwest::get(format!("{}/graphiql", app.base))
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("/graphql/ws"),
        "GraphiQL page with subscriptions"
    );
    let stats = gql(
        &a,
        "{ stats { total byStatus { status count } recent { created24h } } }",
        json!({}),
    )
    .await;
    assert!(
        stats["data"]["stats"]["total"].as_i64().unwrap() >= 1,
        "{stats}"
    );
}

async fn relay_paging(app: TestApp) {
    let c = app.actor("agent", "pager");
    for i in 0..7 {
        c.create_task(json!({ "title": format!("t{i}"), "priority": i + 1, "channel": "page" }))
            .await;
    }
    let q = "query($after: String, $before: String, $first: Int, $last: Int) { tasks(filter: {channels: [\"page\"]}, orderBy: {field: PRIORITY, direction: ASC}, first: $first, after: $after, last: $last, before: $before) { totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } nodes { title } } }";
    let titles = |v: &Value| -> Vec<String> {
        v["data"]["tasks"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["title"].as_str().unwrap().to_owned())
            .collect()
    };
    let p1 = gql(&c, q, json!({ "first": 3 })).await;
    assert_eq!(titles(&p1), ["t0", "t1", "t2"], "{p1}");
    assert_eq!(p1["data"]["tasks"]["totalCount"], 7);
    assert_eq!(p1["data"]["tasks"]["pageInfo"]["hasNextPage"], true);
    assert_eq!(p1["data"]["tasks"]["pageInfo"]["hasPreviousPage"], false);
    let p2 = gql(
        &c,
        q,
        json!({ "first": 3, "after": p1["data"]["tasks"]["pageInfo"]["endCursor"] }),
    )
    .await;
    assert_eq!(titles(&p2), ["t3", "t4", "t5"]);
    let p3 = gql(
        &c,
        q,
        json!({ "first": 3, "after": p2["data"]["tasks"]["pageInfo"]["endCursor"] }),
    )
    .await;
    assert_eq!(titles(&p3), ["t6"]);
    assert_eq!(p3["data"]["tasks"]["pageInfo"]["hasNextPage"], false);
    let tail = gql(&c, q, json!({ "last": 2 })).await;
    assert_eq!(titles(&tail), ["t5", "t6"], "{tail}");
    let before = gql(
        &c,
        q,
        json!({ "last": 2, "before": p2["data"]["tasks"]["pageInfo"]["startCursor"] }),
    )
    .await;
    assert_eq!(titles(&before), ["t1", "t2"], "{before}");
    assert_eq!(
        code(&gql(&c, q, json!({ "first": 501 })).await),
        "BAD_REQUEST"
    );
}

async fn queries_counter(app: &TestApp) -> u64 {
    let text = reqwest::get(format!("{}/metrics", app.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with("ats_db_queries_total"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .expect("ats_db_queries_total in /metrics")
}

/// SQL statements for one GraphQL query, net of `/metrics`' own reads. The
/// server's background loops (event fanout, lease reaper) share the counter,
/// so the quietest of five measurements counts.
async fn statements_for(app: &TestApp, c: &Client, query: &str) -> u64 {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (mut scrape, mut total) = (u64::MAX, u64::MAX);
    for _ in 0..5 {
        let a = queries_counter(app).await;
        let b = queries_counter(app).await;
        gql(c, query, json!({})).await;
        let d = queries_counter(app).await;
        scrape = scrape.min(b - a);
        total = total.min(d - b);
    }
    total - scrape
}

/// Listing tasks with their messages and events costs the same number of
/// SQL statements for 10 tasks as for 100 (DataLoaders batch them).
async fn batched_loading(app: TestApp) {
    let c = app.actor("agent", "counter");
    let query = "{ tasks(first: 100, filter: {channels: [\"count\"]}) { nodes { id messages { parts } events { type } subtasks { id } handoffs { summary } } } }";
    let mut made = 0;
    let mut costs = Vec::new();
    for target in [10, 100] {
        while made < target {
            let t = c
                .create_task(json!({ "title": format!("c{made}"), "channel": "count" }))
                .await["id"]
                .as_i64()
                .unwrap();
            for m in 0..2 {
                c.post(
                    &format!("/tasks/{t}/messages"),
                    json!({ "parts": [{ "type": "text", "content": format!("m{m}") }] }),
                )
                .await
                .expect(201);
            }
            made += 1;
        }
        let resp = gql(&c, query, json!({})).await;
        assert_eq!(
            resp["data"]["tasks"]["nodes"].as_array().unwrap().len(),
            target,
            "{resp}"
        );
        assert_eq!(
            resp["data"]["tasks"]["nodes"][0]["messages"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        costs.push(statements_for(&app, &c, query).await);
    }
    println!(
        "SQL statements for tasks+messages+events+subtasks+handoffs: 10 tasks → {}, 100 tasks → {}",
        costs[0], costs[1]
    );
    assert_eq!(
        costs[0], costs[1],
        "statement count grows with the number of tasks"
    );
    assert!(costs[1] <= 20, "too many statements: {}", costs[1]);
}

async fn depth_and_complexity_limits(app: TestApp) {
    let c = app.client();
    let mut deep = String::from("id");
    for _ in 0..15 {
        deep = format!("id parent {{ {deep} }}");
    }
    let resp = gql(
        &c,
        &format!("{{ tasks(first: 1) {{ nodes {{ {deep} }} }} }}"),
        json!({}),
    )
    .await;
    assert!(
        resp["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("nested"),
        "{resp}"
    );
    let wide: String = (0..60).map(|i| format!("a{i}: tasks(first: 100) {{ nodes {{ id title messages {{ id }} events {{ id }} }} }} ")).collect();
    let resp = gql(&c, &format!("{{ {wide} }}"), json!({})).await;
    assert!(
        resp["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("complex"),
        "{resp}"
    );
    assert!(resp["data"].is_null());
}

fn sdl_is_checked_in() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let on_disk = std::fs::read_to_string(path).expect("schema.graphql");
    assert!(
        on_disk == ats::graphql::sdl(),
        "schema.graphql differs from the code: regenerate it with `cargo run --bin ats-server -- schema > schema.graphql`"
    );
}

#[test]
fn schema_graphql_matches_the_code() {
    sdl_is_checked_in();
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(app: &TestApp, protocol: &str, payload: Value) -> Ws {
    let mut req = (app.base.replacen("http://", "ws://", 1) + "/graphql/ws")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    ws.send(Message::Text(
        json!({ "type": "connection_init", "payload": payload })
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let ack = next(&mut ws).await.expect("ack");
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    ws
}

async fn next(ws: &mut Ws) -> Option<Value> {
    loop {
        match tokio::time::timeout(Duration::from_secs(3), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "ka" {
                    continue;
                }
                return Some(v);
            }
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
}

/// Events of subscription `id`, until `n` arrive or a timeout.
async fn events(ws: &mut Ws, id: &str, n: usize, data_type: &str) -> Vec<Value> {
    let mut out = Vec::new();
    while out.len() < n {
        let Some(v) = next(ws).await else { break };
        if v["type"] == data_type && v["id"] == id {
            out.push(v["payload"]["data"]["taskEvents"].clone());
        }
    }
    out
}

async fn subscriptions_transport_ws(app: TestApp) {
    let c = app.actor("agent", "writer");
    let mut ws = open(
        &app,
        "graphql-transport-ws",
        json!({ "X-Actor-Type": "human", "X-Actor-ID": "watcher" }),
    )
    .await;
    ws.send(Message::Text(json!({ "type": "ping" }).to_string().into()))
        .await
        .unwrap();
    assert_eq!(next(&mut ws).await.unwrap()["type"], "pong");
    let sub = |id: &str, args: &str| json!({ "id": id, "type": "subscribe", "payload": { "query": format!("subscription {{ taskEvents{args} {{ id type taskId channel actor {{ id }} task {{ title }} }} }}") } });
    for (id, args) in [
        ("all", ""),
        ("claims", "(filter: {eventTypes: [\"task.claimed\"]})"),
        ("ops", "(filter: {channels: [\"ops\"]})"),
        ("main", "(filter: {projects: [\"default/main\"]})"),
        ("none", "(filter: {taskTypes: [\"nothing-has-this-type\"]})"),
    ] {
        ws.send(Message::Text(sub(id, args).to_string().into()))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let t = c
        .create_task(json!({ "title": "live", "channel": "ops" }))
        .await["id"]
        .as_i64()
        .unwrap();
    c.create_task(json!({ "title": "elsewhere", "channel": "other" }))
        .await;
    c.post(&format!("/tasks/{t}/claim"), json!({}))
        .await
        .expect(200);
    let mut by_sub: std::collections::HashMap<String, Vec<Value>> =
        std::collections::HashMap::new();
    while let Some(v) = next(&mut ws).await {
        if v["type"] == "next" {
            by_sub
                .entry(v["id"].as_str().unwrap().to_owned())
                .or_default()
                .push(v["payload"]["data"]["taskEvents"].clone());
        }
    }
    let types = |id: &str| -> Vec<String> {
        by_sub
            .get(id)
            .map(|v| {
                v.iter()
                    .map(|e| e["type"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(
        types("all"),
        ["task.created", "task.created", "task.claimed"]
    );
    assert_eq!(
        types("main"),
        ["task.created", "task.created", "task.claimed"]
    );
    assert_eq!(types("claims"), ["task.claimed"]);
    assert_eq!(types("ops"), ["task.created", "task.claimed"]);
    assert!(
        types("none").is_empty(),
        "a filter nothing matches delivers nothing"
    );
    let got = by_sub.remove("all").unwrap();
    assert_eq!(got[0]["task"]["title"], "live");
    let last_id: i64 = got[2]["id"].as_str().unwrap().parse().unwrap();
    ws.send(Message::Text(
        json!({ "id": "all", "type": "complete" })
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    drop(ws);

    // Each filter narrowed: reconnect and replay everything after 0 per filter.
    let mut ws = open(&app, "graphql-transport-ws", json!({})).await;
    ws.send(Message::Text(
        sub(
            "tid",
            &format!("(filter: {{taskId: \"{t}\"}}, after: \"0\")"),
        )
        .to_string()
        .into(),
    ))
    .await
    .unwrap();
    let only_t = events(&mut ws, "tid", 2, "next").await;
    assert!(
        only_t
            .iter()
            .all(|e| e["taskId"].as_str().and_then(|s| s.parse::<i64>().ok()) == Some(t)),
        "{only_t:?}"
    );
    assert_eq!(only_t.len(), 2);
    assert!(
        events(&mut ws, "tid", 1, "next").await.is_empty(),
        "nothing else for that task"
    );
    // `after` replays exactly the missed events, then continues live.
    c.post(&format!("/tasks/{t}/complete"), json!({}))
        .await
        .expect(200);
    let mut ws2 = open(&app, "graphql-transport-ws", json!({})).await;
    ws2.send(Message::Text(
        sub("resume", &format!("(after: \"{last_id}\")"))
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let missed = events(&mut ws2, "resume", 1, "next").await;
    assert_eq!(missed.len(), 1);
    assert_eq!(missed[0]["type"], "task.completed");
    let live = c.create_task(json!({ "title": "after resume" })).await["id"]
        .as_i64()
        .unwrap();
    let more = events(&mut ws2, "resume", 1, "next").await;
    assert_eq!(more[0]["taskId"], live.to_string());
    assert!(
        more[0]["id"].as_str().unwrap().parse::<i64>().unwrap()
            > missed[0]["id"].as_str().unwrap().parse::<i64>().unwrap()
    );
    assert!(
        events(&mut ws2, "resume", 1, "next").await.is_empty(),
        "no duplicates"
    );
}

async fn subscriptions_legacy_graphql_ws(app: TestApp) {
    let c = app.actor("agent", "writer");
    let mut ws = open(&app, "graphql-ws", json!({})).await;
    let start = json!({ "id": "1", "type": "start", "payload": { "query": "subscription { taskEvents(filter: {taskTypes: [\"legacy\"]}) { type task { title } } }" } });
    ws.send(Message::Text(start.to_string().into()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    c.create_task(json!({ "title": "skip me" })).await;
    c.create_task(json!({ "title": "old protocol", "type": "legacy" }))
        .await;
    let got = events(&mut ws, "1", 1, "data").await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["task"]["title"], "old protocol");
    ws.send(Message::Text(
        json!({ "id": "1", "type": "stop" }).to_string().into(),
    ))
    .await
    .unwrap();
    let done = next(&mut ws).await.unwrap();
    assert_eq!(done["type"], "complete", "{done}");
}

crate::on_both_backends!(
    operations_and_errors,
    relay_paging,
    batched_loading,
    depth_and_complexity_limits,
    subscriptions_transport_ws,
    subscriptions_legacy_graphql_ws,
);

/// The npm `graphql-ws` client (tests/graphql-ws-client) subscribes and receives an event.
async fn npm_graphql_ws_client(app: TestApp) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/graphql-ws-client");
    let has_node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_node
        || !std::path::Path::new(dir)
            .join("node_modules/graphql-ws")
            .exists()
    {
        eprintln!("SKIPPED: node or {dir}/node_modules is missing (run `npm ci` there)");
        return;
    }
    let base = app.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg("subscribe.mjs")
            .arg(&base)
            .current_dir(dir)
            .output()
            .expect("run node")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "graphql-ws client failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("received task.created"));
}

crate::on_both_backends!(npm_graphql_ws_client);
