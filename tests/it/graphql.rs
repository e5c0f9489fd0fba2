//! GraphQL over HTTP: every task, org and project operation; error codes;
//! Relay paging, each filter and sort; stats and history; batched loading
//! (counted SQL statements); depth and complexity limits; the checked-in SDL;
//! and the npm `graphql-ws` client. Subscriptions are in `graphql_ws.rs`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Backend, Client, TestApp};

/// POSTs a GraphQL request (the HTTP status is 200 whatever the outcome).
pub(crate) async fn gql(c: &Client, query: &str, variables: Value) -> Value {
    c.post(
        "/graphql",
        json!({ "query": query, "variables": variables }),
    )
    .await
    .expect(200)
}

/// The `data` of a request that must succeed.
pub(crate) async fn ok(c: &Client, query: &str, variables: Value) -> Value {
    let resp = gql(c, query, variables).await;
    assert!(
        resp.get("errors").is_none(),
        "unexpected errors for {query}: {resp}"
    );
    resp["data"].clone()
}

/// The `extensions.code` and message of a request that must fail.
pub(crate) async fn fails(c: &Client, query: &str, variables: Value) -> (String, String) {
    let resp = gql(c, query, variables).await;
    let err = &resp["errors"][0];
    assert!(err.is_object(), "expected an error for {query}: {resp}");
    assert!(
        err["message"].as_str().is_some_and(|m| !m.is_empty()),
        "no message: {resp}"
    );
    (
        err["extensions"]["code"].as_str().unwrap_or("").to_owned(),
        err["message"].as_str().unwrap().to_owned(),
    )
}

/// Asserts that a request fails with `code`; returns the message.
async fn refused(c: &Client, code: &str, query: &str, variables: Value) -> String {
    let (got, message) = fails(c, query, variables).await;
    assert_eq!(got, code, "{query}: {message}");
    message
}

/// A time field: RFC 3339 in UTC (SPEC §2).
pub(crate) fn ts(v: &Value) -> chrono::DateTime<chrono::Utc> {
    let t = chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("time: {v}")))
        .unwrap_or_else(|e| panic!("{v} is not RFC 3339: {e}"));
    assert!(
        v.as_str().unwrap().ends_with('Z'),
        "{v} is not written in UTC"
    );
    t.to_utc()
}

fn strs<'a>(list: &'a Value, key: &str) -> Vec<&'a str> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|v| v[key].as_str().unwrap_or_else(|| panic!("{key} of {v}")))
        .collect()
}

const T: &str = "fragment T on Task { id title description type channel priority status payload outputs source { type id name } assignee { type id } leaseExpires reason org project attempts maxAttempts createdAt updatedAt claimedAt completedAt }";

fn with_t(op: &str) -> String {
    format!("{op} {T}")
}

async fn task_operations(app: TestApp) {
    let a = app.actor("agent", "alpha");
    let b = app.actor("agent", "beta");
    let h = app.actor("human", "carol");
    let create =
        with_t("mutation($in: CreateTaskInput!) { createTask(input: $in) { task { ...T } } }");
    let t = ok(
        &a,
        &create,
        json!({ "in": { "title": "Write docs", "description": "all of them", "type": "docs",
            "channel": "ops", "priority": 8, "payload": { "k": [1, 2] }, "maxAttempts": 3 } }),
    )
    .await["createTask"]["task"]
        .clone();
    let id = t["id"].as_str().unwrap().to_owned();
    let expect = json!({ "id": id, "title": "Write docs", "description": "all of them", "type": "docs",
        "channel": "ops", "priority": 8, "status": "PENDING", "payload": { "k": [1, 2] }, "outputs": [],
        "source": { "type": "AGENT", "id": "alpha", "name": null }, "assignee": null, "leaseExpires": null,
        "reason": null, "org": "default", "project": "main", "attempts": 0, "maxAttempts": 3,
        "createdAt": t["createdAt"], "updatedAt": t["updatedAt"], "claimedAt": null, "completedAt": null });
    assert_eq!(t, expect);
    let created_at = ts(&t["createdAt"]);
    let get = with_t("query($id: ID!) { task(id: $id) { ...T } }");
    assert_eq!(ok(&b, &get, json!({ "id": id })).await["task"], t);
    let rest = a.get(&format!("/tasks/{id}")).await.expect(200)["task"].clone();
    assert_eq!(rest["id"].to_string(), id);
    assert_eq!(rest["status"], "pending");
    assert_eq!(rest["max_attempts"], 3);
    // Times are written the same way in both APIs.
    assert_eq!(
        (&rest["created_at"], &rest["updated_at"]),
        (&t["createdAt"], &t["updatedAt"])
    );

    // updateTask: fields change; null clears; a status goes through the lifecycle.
    let update = with_t(
        "mutation($id: ID!, $in: UpdateTaskInput!) { updateTask(id: $id, input: $in) { task { ...T } } }",
    );
    let u = ok(
        &a,
        &update,
        json!({ "id": id, "in": { "title": "Write the docs", "description": null, "type": "writing",
            "channel": "docs", "priority": 9, "payload": { "v": 2 }, "maxAttempts": null } }),
    )
    .await["updateTask"]["task"]
        .clone();
    assert_eq!(
        (
            &u["title"],
            &u["description"],
            &u["type"],
            &u["channel"],
            &u["priority"]
        ),
        (
            &json!("Write the docs"),
            &Value::Null,
            &json!("writing"),
            &json!("docs"),
            &json!(9)
        )
    );
    assert_eq!(u["payload"], json!({ "v": 2 }));
    assert!(u["maxAttempts"].is_null());
    assert!(ts(&u["updatedAt"]) >= created_at);
    let m = refused(
        &a,
        "CONFLICT",
        &update,
        json!({ "id": id, "in": { "status": "COMPLETED", "title": "sneaky" } }),
    )
    .await;
    assert!(m.contains("pending"), "{m}");
    refused(
        &a,
        "BAD_REQUEST",
        &update,
        json!({ "id": id, "in": { "title": "" } }),
    )
    .await;
    refused(
        &a,
        "BAD_REQUEST",
        &update,
        json!({ "id": id, "in": { "priority": 0 } }),
    )
    .await;
    assert_eq!(
        ok(&a, &get, json!({ "id": id })).await["task"]["title"],
        "Write the docs",
        "a refused update changes nothing"
    );

    // The lifecycle, action by action.
    let claim = with_t(
        "mutation($id: ID!, $ms: Int) { claimTask(id: $id, leaseMs: $ms) { task { ...T } } }",
    );
    let act = |name: &str, arg: &str| {
        with_t(&format!(
            "mutation($id: ID!, $x: {arg}) {{ {name}(id: $id, {}: $x) {{ task {{ ...T }} }} }}",
            if name == "completeTask" {
                "outputs"
            } else {
                "reason"
            }
        ))
    };
    let complete = act("completeTask", "JSON");
    let fail = act("failTask", "String");
    let reject = act("rejectTask", "String");
    let cancel = act("cancelTask", "String");
    let reopen = act("reopenTask", "String");
    let c1 = ok(&a, &claim, json!({ "id": id, "ms": 60000 })).await["claimTask"]["task"].clone();
    assert_eq!(c1["status"], "IN_PROGRESS");
    assert_eq!(c1["assignee"], json!({ "type": "AGENT", "id": "alpha" }));
    assert_eq!(c1["attempts"], 1);
    let lease = ts(&c1["leaseExpires"]) - ts(&c1["claimedAt"]);
    assert_eq!(lease.num_milliseconds(), 60_000, "{c1}");
    let m = refused(&b, "CONFLICT", &claim, json!({ "id": id })).await;
    assert!(m.contains("agent:alpha"), "names the holder: {m}");
    let renewed =
        ok(&a, &claim, json!({ "id": id, "ms": 120000 })).await["claimTask"]["task"].clone();
    assert_eq!(renewed["attempts"], 1, "a renewal is not a new attempt");
    assert!(ts(&renewed["leaseExpires"]) > ts(&c1["leaseExpires"]));
    refused(&a, "BAD_REQUEST", &claim, json!({ "id": id, "ms": 10 })).await;
    refused(&b, "CONFLICT", &complete, json!({ "id": id })).await;
    refused(&h, "FORBIDDEN", &cancel, json!({ "id": id })).await;
    let f = ok(&a, &fail, json!({ "id": id, "x": "broke" })).await["failTask"]["task"].clone();
    assert_eq!(
        (&f["status"], &f["reason"], &f["leaseExpires"]),
        (&json!("FAILED"), &json!("broke"), &Value::Null)
    );
    let m = refused(&a, "CONFLICT", &complete, json!({ "id": id })).await;
    assert!(m.contains("failed") && m.contains("reopen"), "{m}");
    let r = ok(&b, &reopen, json!({ "id": id, "x": "retry" })).await["reopenTask"]["task"].clone();
    assert_eq!(
        (&r["status"], &r["reason"], &r["assignee"]),
        (&json!("PENDING"), &json!("retry"), &Value::Null)
    );
    refused(&b, "CONFLICT", &reopen, json!({ "id": id })).await;
    let r =
        ok(&b, &reject, json!({ "id": id, "x": "not mine" })).await["rejectTask"]["task"].clone();
    assert_eq!(
        (&r["status"], &r["reason"]),
        (&json!("REJECTED"), &json!("not mine"))
    );
    ok(&a, &reopen, json!({ "id": id })).await;
    let r = ok(&a, &cancel, json!({ "id": id, "x": "dup" })).await["cancelTask"]["task"].clone();
    assert_eq!(
        (&r["status"], &r["reason"]),
        (&json!("CANCELLED"), &json!("dup"))
    );
    ok(&a, &reopen, json!({ "id": id })).await;
    let c2 = ok(&b, &claim, json!({ "id": id })).await["claimTask"]["task"].clone();
    assert_eq!(
        (&c2["attempts"], &c2["assignee"]["id"]),
        (&json!(2), &json!("beta"))
    );

    // Messages.
    let add = "mutation($id: ID!, $parts: [MessagePartInput!]!) { addMessage(taskId: $id, parts: $parts) { message { id taskId actor { type id } parts createdAt } } }";
    let m1 = ok(
        &b,
        add,
        json!({ "id": id, "parts": [{ "type": "text", "content": "working" }, { "type": "data", "content": { "step": 1 } }] }),
    )
    .await["addMessage"]["message"]
        .clone();
    assert_eq!(
        m1["parts"],
        json!([{ "type": "text", "content": "working" }, { "type": "data", "content": { "step": 1 } }])
    );
    assert_eq!(
        (&m1["taskId"], &m1["actor"]),
        (&json!(id), &json!({ "type": "AGENT", "id": "beta" }))
    );
    let m2 = ok(
        &h,
        add,
        json!({ "id": id, "parts": [{ "type": "url", "url": "https://example.com/x.png", "mime": "image/png" }] }),
    )
    .await["addMessage"]["message"]
        .clone();
    assert_eq!(m2["parts"][0]["url"], "https://example.com/x.png");
    refused(&b, "BAD_REQUEST", add, json!({ "id": id, "parts": [] })).await;
    refused(
        &b,
        "BAD_REQUEST",
        add,
        json!({ "id": id, "parts": [{ "type": "bogus", "content": "x" }] }),
    )
    .await;
    refused(
        &b,
        "NOT_FOUND",
        add,
        json!({ "id": "999999", "parts": [{ "type": "text", "content": "x" }] }),
    )
    .await;

    let done =
        ok(&b, &complete, json!({ "id": id, "x": { "r": 1 } })).await["completeTask"]["task"]
            .clone();
    assert_eq!(
        (&done["status"], &done["outputs"], &done["leaseExpires"]),
        (&json!("COMPLETED"), &json!([{ "r": 1 }]), &Value::Null)
    );
    assert!(ts(&done["completedAt"]) >= ts(&done["claimedAt"]));

    // The thread and the history, as fields of the task.
    let read = ok(
        &a,
        "query($id: ID!, $after: ID, $n: Int) { task(id: $id) { messages { id } one: messages(first: 1) { id } unset: messages(first: $n) { id } rest: messages(after: $after) { id } events { id type taskId actor { id } } } }",
        json!({ "id": id, "after": m1["id"] }),
    )
    .await["task"]
        .clone();
    let (m1_id, m2_id) = (m1["id"].as_str().unwrap(), m2["id"].as_str().unwrap());
    assert_eq!(strs(&read["messages"], "id"), [m1_id, m2_id]);
    assert_eq!(strs(&read["one"], "id"), [m1_id]);
    assert_eq!(
        strs(&read["unset"], "id"),
        [m1_id, m2_id],
        "an unset $n means the default"
    );
    assert_eq!(strs(&read["rest"], "id"), [m2_id]);
    let types = strs(&read["events"], "type");
    assert_eq!(
        types,
        [
            "task.created",
            "task.updated",
            "task.claimed",
            "task.lease_renewed",
            "task.failed",
            "task.reopened",
            "task.rejected",
            "task.reopened",
            "task.cancelled",
            "task.reopened",
            "task.claimed",
            "task.message",
            "task.message",
            "task.completed"
        ],
        "refused operations record nothing"
    );
    let ids: Vec<i64> = strs(&read["events"], "id")
        .iter()
        .map(|i| i.parse().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert!(
        read["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["taskId"] == id)
    );
    let rest_events = a.get(&format!("/tasks/{id}/events")).await.expect(200);
    assert_eq!(
        strs(&rest_events["events"], "type"),
        types,
        "same history over REST"
    );

    // deleteTask: gone, history kept.
    let del = "mutation($id: ID!) { deleteTask(id: $id) { deleted id } }";
    assert_eq!(
        ok(&a, del, json!({ "id": id })).await["deleteTask"],
        json!({ "deleted": true, "id": id })
    );
    assert!(ok(&a, &get, json!({ "id": id })).await["task"].is_null());
    a.get(&format!("/tasks/{id}")).await.expect_error(404);
    refused(&a, "NOT_FOUND", del, json!({ "id": id })).await;
    let hist = ok(
        &a,
        "query($id: ID!) { taskEvents(filter: {taskId: $id}) { type task { id } } }",
        json!({ "id": id }),
    )
    .await["taskEvents"]
        .clone();
    assert_eq!(hist.as_array().unwrap().len(), types.len() + 1);
    assert_eq!(hist[types.len()]["type"], "task.deleted");
    assert!(hist[0]["task"].is_null(), "the task is gone: {hist}");

    // createTasks, claimNextTask, createSubtask, addHandoff.
    let bulk = "mutation($in: [CreateTaskInput!]!) { createTasks(inputs: $in) { count tasks { id title } } }";
    let made = ok(
        &a,
        bulk,
        json!({ "in": [{ "title": "n1", "channel": "next", "priority": 3 },
            { "title": "n2", "channel": "next", "priority": 9 }, { "title": "n3", "channel": "next", "priority": 9 }] }),
    )
    .await["createTasks"]
        .clone();
    assert_eq!(made["count"], 3);
    assert_eq!(strs(&made["tasks"], "title"), ["n1", "n2", "n3"]);
    let m = refused(
        &a,
        "BAD_REQUEST",
        bulk,
        json!({ "in": [{ "title": "ok", "channel": "next2" }, { "title": "bad", "channel": "next2", "priority": 0 }] }),
    )
    .await;
    assert!(m.contains('1'), "names the index: {m}");
    assert_eq!(
        ok(
            &a,
            "{ tasks(filter: {channels: [\"next2\"]}) { totalCount } }",
            json!({})
        )
        .await["tasks"]["totalCount"],
        0,
        "all or nothing"
    );
    let next = "mutation { claimNextTask(filter: {channel: \"next\"}, leaseMs: 60000) { task { title status assignee { id } } } }";
    let mut order = Vec::new();
    for _ in 0..3 {
        let t = ok(&b, next, json!({})).await["claimNextTask"]["task"].clone();
        assert_eq!(
            (&t["status"], &t["assignee"]["id"]),
            (&json!("IN_PROGRESS"), &json!("beta"))
        );
        order.push(t["title"].as_str().unwrap().to_owned());
    }
    assert_eq!(order, ["n2", "n3", "n1"], "highest priority, then oldest");
    assert!(ok(&b, next, json!({})).await["claimNextTask"]["task"].is_null());
    let n1 = made["tasks"][0]["id"].clone();
    let sub = ok(
        &a,
        "mutation($p: ID!) { createSubtask(parentId: $p, input: {title: \"child\"}) { task { id parent { id title } } } }",
        json!({ "p": n1 }),
    )
    .await["createSubtask"]["task"]
        .clone();
    assert_eq!(sub["parent"], json!({ "id": n1, "title": "n1" }));
    let hand = ok(
        &b,
        "mutation($t: ID!) { addHandoff(taskId: $t, input: {summary: \"half done\", nextSteps: [\"a\", \"b\"]}) { handoff { taskId summary nextSteps actor { id } } } }",
        json!({ "t": n1 }),
    )
    .await["addHandoff"]["handoff"]
        .clone();
    assert_eq!(
        hand,
        json!({ "taskId": n1, "summary": "half done", "nextSteps": ["a", "b"], "actor": { "id": "beta" } })
    );
    let n1_read = ok(
        &a,
        "query($id: ID!) { task(id: $id) { subtasks { id title } handoffs { summary } } }",
        json!({ "id": n1 }),
    )
    .await["task"]
        .clone();
    assert_eq!(
        n1_read,
        json!({ "subtasks": [{ "id": sub["id"], "title": "child" }], "handoffs": [{ "summary": "half done" }] })
    );
}

/// Percent-encodes a query string value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn error_codes_and_transport(app: TestApp) {
    let c = app.actor("agent", "errs");
    for bad in ["abc", "0", "-4", "1.5"] {
        let m = refused(
            &c,
            "BAD_REQUEST",
            "query($id: ID!) { task(id: $id) { id } }",
            json!({ "id": bad }),
        )
        .await;
        assert!(m.contains(bad), "names the bad id: {m}");
    }
    let none = gql(&c, "{ task(id: \"999999\") { id } }", json!({})).await;
    assert_eq!(none, json!({ "data": { "task": null } }), "absent is null");
    for op in [
        "completeTask(id: \"999999\")",
        "claimTask(id: \"999999\")",
        "failTask(id: \"999999\")",
        "rejectTask(id: \"999999\")",
        "cancelTask(id: \"999999\")",
        "reopenTask(id: \"999999\")",
        "updateTask(id: \"999999\", input: {title: \"x\"})",
    ] {
        refused(
            &c,
            "NOT_FOUND",
            &format!("mutation {{ {op} {{ task {{ id }} }} }}"),
            json!({}),
        )
        .await;
    }
    refused(
        &c,
        "NOT_FOUND",
        "mutation { deleteTask(id: \"999999\") { deleted } }",
        json!({}),
    )
    .await;
    let create = "mutation($in: CreateTaskInput!) { createTask(input: $in) { task { id } } }";
    for bad in [
        json!({ "title": "x", "priority": 11 }),
        json!({ "title": "" }),
        json!({ "title": "x", "payload": [1] }),
        json!({ "title": "x", "org": "default" }),
        json!({ "title": "x", "parentId": "nope" }),
    ] {
        refused(&c, "BAD_REQUEST", create, json!({ "in": bad })).await;
    }
    refused(
        &c,
        "NOT_FOUND",
        create,
        json!({ "in": { "title": "x", "org": "nope", "project": "x" } }),
    )
    .await;
    let list = "query($f: TaskFilter, $first: Int, $after: String) { tasks(filter: $f, first: $first, after: $after) { totalCount } }";
    for (vars, why) in [
        (json!({ "first": 501 }), "first over 500"),
        (json!({ "first": -1 }), "negative first"),
        (json!({ "after": "garbage" }), "bad cursor"),
        (json!({ "f": { "project": "main" } }), "project without org"),
        (
            json!({ "f": { "minPriority": 0 } }),
            "priority out of range",
        ),
        (json!({ "f": { "parentId": "x" } }), "bad parent id"),
    ] {
        let (code, m) = fails(&c, list, vars).await;
        assert_eq!(code, "BAD_REQUEST", "{why}: {m}");
    }
    // Errors async-graphql finds before any resolver runs carry a code too.
    for (query, why) in [
        ("{ tasks(", "syntax error"),
        ("{ task(id: \"1\") { nope } }", "unknown field"),
        (
            "{ tasks(first: \"x\") { totalCount } }",
            "wrong argument type",
        ),
        ("{ taskEvents(first: 0) { id } }", "argument out of range"),
        (
            "query($id: ID!) { task(id: $id) { id } }",
            "missing variable",
        ),
    ] {
        let (code, m) = fails(&c, query, json!({})).await;
        assert_eq!(code, "BAD_REQUEST", "{why}: {m}");
    }

    // Another org's task is invisible: null to read, NOT_FOUND to change.
    let owner = app.actor("human", "owner");
    ok(
        &owner,
        "mutation { createOrganization(input: {slug: \"priv\"}) { organization { slug } } createProject(org: \"priv\", input: {slug: \"p\"}) { project { slug } } }",
        json!({}),
    )
    .await;
    let secret = ok(
        &owner,
        "mutation { createTask(input: {title: \"secret\", org: \"priv\", project: \"p\"}) { task { id } } }",
        json!({}),
    )
    .await["createTask"]["task"]["id"]
        .clone();
    assert!(
        ok(
            &c,
            "query($id: ID!) { task(id: $id) { id } }",
            json!({ "id": secret })
        )
        .await["task"]
            .is_null()
    );
    refused(
        &c,
        "NOT_FOUND",
        "mutation($id: ID!) { claimTask(id: $id) { task { id } } }",
        json!({ "id": secret }),
    )
    .await;
    refused(
        &c,
        "NOT_FOUND",
        "mutation { createTask(input: {title: \"in\", org: \"priv\", project: \"p\"}) { task { id } } }",
        json!({}),
    )
    .await;
    refused(
        &owner,
        "CONFLICT",
        "mutation { createOrganization(input: {slug: \"priv\"}) { organization { slug } } }",
        json!({}),
    )
    .await;

    // GET runs queries but refuses mutations, writing nothing.
    let http = reqwest::Client::new();
    let get = |q: &str| {
        http.get(format!("{}/graphql?query={}", app.base, encode(q)))
            .header("X-Actor-Type", "agent")
            .header("X-Actor-ID", "errs")
            .send()
    };
    let count = "{ tasks { totalCount } }";
    let before = ok(&c, count, json!({})).await["tasks"]["totalCount"].clone();
    let resp = get("mutation { createTask(input: {title: \"via get\"}) { task { id } } }")
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_REQUEST",
        "{body}"
    );
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("POST"),
        "{body}"
    );
    assert!(body["data"].is_null(), "{body}");
    let resp = get(count).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["data"]["tasks"]["totalCount"], before, "{body}");
    assert_eq!(
        ok(&c, count, json!({})).await["tasks"]["totalCount"],
        before
    );

    // Without actor headers the caller is human:anonymous, in open mode.
    let anon = ok(
        &app.client(),
        "mutation { createTask(input: {title: \"anon\"}) { task { source { type id } } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        anon["createTask"]["task"]["source"],
        json!({ "type": "HUMAN", "id": "anonymous" })
    );

    // GraphiQL, pointed at both endpoints.
    let page = http
        .get(format!("{}/graphiql", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains("/graphql/ws") && html.to_lowercase().contains("graphiql"),
        "{html}"
    );
}

async fn orgs_and_projects(app: TestApp) {
    let a = app.actor("human", "ann");
    let b = app.actor("human", "bob");
    let org = ok(
        &a,
        "mutation { createOrganization(input: {slug: \"acme\", name: \"Acme\", description: \"tools\"}) { organization { id slug name description role createdAt projects { slug } } } }",
        json!({}),
    )
    .await["createOrganization"]["organization"]
        .clone();
    assert_eq!(
        (
            &org["slug"],
            &org["name"],
            &org["description"],
            &org["role"],
            &org["projects"]
        ),
        (
            &json!("acme"),
            &json!("Acme"),
            &json!("tools"),
            &json!("owner"),
            &json!([])
        )
    );
    ts(&org["createdAt"]);
    refused(
        &a,
        "CONFLICT",
        "mutation { createOrganization(input: {slug: \"acme\"}) { organization { id } } }",
        json!({}),
    )
    .await;
    refused(
        &a,
        "BAD_REQUEST",
        "mutation { createOrganization(input: {slug: \"Bad Slug\"}) { organization { id } } }",
        json!({}),
    )
    .await;
    let orgs = "{ organizations { slug role } }";
    assert_eq!(
        ok(&a, orgs, json!({})).await["organizations"],
        json!([{ "slug": "acme", "role": "owner" }, { "slug": "default", "role": null }])
    );
    assert_eq!(
        ok(&b, orgs, json!({})).await["organizations"],
        json!([{ "slug": "default", "role": null }]),
        "a non-member does not see it"
    );
    assert!(
        ok(&b, "{ organization(slug: \"acme\") { slug } }", json!({})).await["organization"]
            .is_null()
    );
    assert!(
        ok(&a, "{ organization(slug: \"nope\") { slug } }", json!({})).await["organization"]
            .is_null()
    );

    let new_project = "mutation($org: String!, $in: CreateProjectInput!) { createProject(org: $org, input: $in) { project { id org slug name description } } }";
    let web = ok(
        &a,
        new_project,
        json!({ "org": "acme", "in": { "slug": "web", "name": "Web", "description": "site" } }),
    )
    .await["createProject"]["project"]
        .clone();
    assert_eq!(
        (&web["org"], &web["slug"], &web["name"], &web["description"]),
        (&json!("acme"), &json!("web"), &json!("Web"), &json!("site"))
    );
    ok(
        &a,
        new_project,
        json!({ "org": "acme", "in": { "slug": "api" } }),
    )
    .await;
    refused(
        &a,
        "CONFLICT",
        new_project,
        json!({ "org": "acme", "in": { "slug": "web" } }),
    )
    .await;
    refused(
        &b,
        "NOT_FOUND",
        new_project,
        json!({ "org": "acme", "in": { "slug": "x" } }),
    )
    .await;

    // Tasks: web has one pending, one in progress, one completed; api one pending.
    let create = "mutation($p: String!, $t: String!) { createTask(input: {title: $t, org: \"acme\", project: $p}) { task { id org project } } }";
    let mut ids = Vec::new();
    for (p, t) in [("web", "w1"), ("web", "w2"), ("web", "w3"), ("api", "a1")] {
        let task = ok(&a, create, json!({ "p": p, "t": t })).await["createTask"]["task"].clone();
        assert_eq!(
            (&task["org"], &task["project"]),
            (&json!("acme"), &json!(p))
        );
        ids.push(task["id"].clone());
    }
    let claim = "mutation($id: ID!) { claimTask(id: $id) { task { id } } }";
    ok(&a, claim, json!({ "id": ids[1] })).await;
    ok(&a, claim, json!({ "id": ids[2] })).await;
    ok(
        &a,
        "mutation($id: ID!) { completeTask(id: $id) { task { id } } }",
        json!({ "id": ids[2] }),
    )
    .await;

    let counts = "query($org: String!) { projects(org: $org) { slug pendingCount inProgressCount totalCount } }";
    assert_eq!(
        ok(&a, counts, json!({ "org": "acme" })).await["projects"],
        json!([
            { "slug": "api", "pendingCount": 1, "inProgressCount": 0, "totalCount": 1 },
            { "slug": "web", "pendingCount": 1, "inProgressCount": 1, "totalCount": 3 }
        ])
    );
    refused(&b, "NOT_FOUND", counts, json!({ "org": "acme" })).await;
    let one = "query($org: String!, $slug: String!) { project(org: $org, slug: $slug) { slug pendingCount inProgressCount totalCount tasks(first: 10, orderBy: {field: TITLE, direction: ASC}) { totalCount nodes { title } } stats { total completedCount byStatus { status count } } } }";
    let p = ok(&a, one, json!({ "org": "acme", "slug": "web" })).await["project"].clone();
    assert_eq!(
        (
            &p["pendingCount"],
            &p["inProgressCount"],
            &p["totalCount"],
            &p["tasks"]["totalCount"]
        ),
        (&json!(1), &json!(1), &json!(3), &json!(3))
    );
    assert_eq!(strs(&p["tasks"]["nodes"], "title"), ["w1", "w2", "w3"]);
    assert_eq!(
        (&p["stats"]["total"], &p["stats"]["completedCount"]),
        (&json!(3), &json!(1))
    );
    assert!(ok(&a, one, json!({ "org": "acme", "slug": "nope" })).await["project"].is_null());
    assert!(ok(&b, one, json!({ "org": "acme", "slug": "web" })).await["project"].is_null());
    let nested = ok(
        &a,
        "{ organization(slug: \"acme\") { slug projects { slug totalCount } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        nested["organization"]["projects"],
        json!([{ "slug": "api", "totalCount": 1 }, { "slug": "web", "totalCount": 3 }])
    );

    // Members, invitations and permissions are fields of the organization (SPEC §5).
    ok(
        &a,
        "mutation { addMember(org: \"acme\", actorType: \"human\", actorId: \"vic\", role: \"viewer\") { role } createInvitation(org: \"acme\", email: \"new@example.com\", role: \"member\") { invitation { id } } grantPermission(org: \"acme\", actorType: \"agent\", actorId: \"bot\", namespace: \"web\", access: \"r\") { id } }",
        json!({}),
    )
    .await;
    let access = "{ organization(slug: \"acme\") { members { actorType actorId role } invitations { email role status } permissions { actorType actorId namespace access } } }";
    assert_eq!(
        ok(&a, access, json!({})).await["organization"],
        json!({
            "members": [
                { "actorType": "human", "actorId": "ann", "role": "owner" },
                { "actorType": "human", "actorId": "vic", "role": "viewer" }
            ],
            "invitations": [{ "email": "new@example.com", "role": "member", "status": "pending" }],
            "permissions": [{ "actorType": "agent", "actorId": "bot", "namespace": "web", "access": "r" }]
        })
    );
    let vic = app.actor("human", "vic");
    let members = ok(
        &vic,
        "{ organization(slug: \"acme\") { role members { actorId } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        members["organization"],
        json!({ "role": "viewer", "members": [{ "actorId": "ann" }, { "actorId": "vic" }] })
    );
    refused(
        &vic,
        "FORBIDDEN",
        "{ organization(slug: \"acme\") { invitations { email } } }",
        json!({}),
    )
    .await;
    let bot = app.actor("agent", "bot");
    assert_eq!(
        ok(
            &bot,
            "{ project(org: \"acme\", slug: \"web\") { slug totalCount } }",
            json!({})
        )
        .await["project"],
        json!({ "slug": "web", "totalCount": 3 }),
        "an r grant on web reads it"
    );
    assert!(
        ok(
            &bot,
            "{ project(org: \"acme\", slug: \"api\") { slug } }",
            json!({})
        )
        .await["project"]
            .is_null()
    );

    // Renames: the org and project slugs, as the tasks report them.
    let upd_org = "mutation($slug: String!, $in: UpdateOrganizationInput!) { updateOrganization(slug: $slug, input: $in) { organization { slug name description } } }";
    refused(
        &b,
        "NOT_FOUND",
        upd_org,
        json!({ "slug": "acme", "in": { "name": "Mine" } }),
    )
    .await;
    assert_eq!(
        ok(
            &a,
            upd_org,
            json!({ "slug": "acme", "in": { "name": "Acme Inc", "description": "more tools" } })
        )
        .await["updateOrganization"]["organization"],
        json!({ "slug": "acme", "name": "Acme Inc", "description": "more tools" })
    );
    ok(
        &a,
        upd_org,
        json!({ "slug": "acme", "in": { "slug": "acme2" } }),
    )
    .await;
    assert!(
        ok(&a, "{ organization(slug: \"acme\") { slug } }", json!({})).await["organization"]
            .is_null()
    );
    let upd_project = "mutation($in: UpdateProjectInput!) { updateProject(org: \"acme2\", slug: \"api\", input: $in) { project { org slug name } } }";
    assert_eq!(
        ok(
            &a,
            upd_project,
            json!({ "in": { "slug": "backend", "name": "Backend" } })
        )
        .await["updateProject"]["project"],
        json!({ "org": "acme2", "slug": "backend", "name": "Backend" })
    );
    refused(
        &a,
        "NOT_FOUND",
        upd_project,
        json!({ "in": { "name": "again" } }),
    )
    .await;
    let where_ = "query($id: ID!) { task(id: $id) { org project } }";
    assert_eq!(
        ok(&a, where_, json!({ "id": ids[3] })).await["task"],
        json!({ "org": "acme2", "project": "backend" })
    );

    // Deletes.
    refused(
        &b,
        "NOT_FOUND",
        "mutation { deleteProject(org: \"acme2\", slug: \"backend\") { deleted } }",
        json!({}),
    )
    .await;
    assert_eq!(
        ok(
            &a,
            "mutation { deleteProject(org: \"acme2\", slug: \"backend\") { deleted id } }",
            json!({})
        )
        .await["deleteProject"],
        json!({ "deleted": true, "id": "acme2/backend" })
    );
    assert!(ok(&a, where_, json!({ "id": ids[3] })).await["task"].is_null());
    assert_eq!(
        strs(
            &ok(&a, counts, json!({ "org": "acme2" })).await["projects"],
            "slug"
        ),
        ["web"]
    );
    refused(
        &b,
        "NOT_FOUND",
        "mutation { deleteOrganization(slug: \"acme2\") { deleted } }",
        json!({}),
    )
    .await;
    assert_eq!(
        ok(
            &a,
            "mutation { deleteOrganization(slug: \"acme2\") { deleted id } }",
            json!({})
        )
        .await["deleteOrganization"],
        json!({ "deleted": true, "id": "acme2" })
    );
    assert_eq!(
        ok(&a, orgs, json!({})).await["organizations"],
        json!([{ "slug": "default", "role": null }])
    );
    assert!(ok(&a, where_, json!({ "id": ids[0] })).await["task"].is_null());
    refused(
        &a,
        "NOT_FOUND",
        "mutation { deleteOrganization(slug: \"acme2\") { deleted } }",
        json!({}),
    )
    .await;
}

const PAGE: &str = "query($first: Int, $after: String, $last: Int, $before: String) { tasks(filter: {channels: [\"page\"]}, orderBy: {field: PRIORITY, direction: ASC}, first: $first, after: $after, last: $last, before: $before) { totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { title } } nodes { title } } }";

/// A page: titles, cursors, and pageInfo checked against the edges.
async fn page(c: &Client, vars: Value) -> (Vec<String>, Vec<String>, Value) {
    let conn = ok(c, PAGE, vars.clone()).await["tasks"].clone();
    let edges = conn["edges"].as_array().unwrap();
    let titles: Vec<String> = edges
        .iter()
        .map(|e| e["node"]["title"].as_str().unwrap().to_owned())
        .collect();
    let cursors: Vec<String> = edges
        .iter()
        .map(|e| e["cursor"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(strs(&conn["nodes"], "title"), titles, "nodes = edges.node");
    let info = &conn["pageInfo"];
    if let (Some(first), Some(last)) = (cursors.first(), cursors.last()) {
        assert_eq!(
            (&info["startCursor"], &info["endCursor"]),
            (&json!(first), &json!(last))
        );
    }
    assert_eq!(conn["totalCount"], 23, "{vars}");
    (titles, cursors, info.clone())
}

async fn relay_paging(app: TestApp) {
    let c = app.actor("agent", "pager");
    // 23 tasks, priorities repeating so that ties are ordered by id.
    let tasks: Vec<Value> = (0..23)
        .map(|i| json!({ "title": format!("t{i:02}"), "priority": i % 4 + 1, "channel": "page" }))
        .collect();
    c.post("/tasks/bulk", json!({ "tasks": tasks }))
        .await
        .expect(201);
    let mut all: Vec<(i64, String)> = (0..23).map(|i| (i % 4 + 1, format!("t{i:02}"))).collect();
    all.sort();
    let all: Vec<String> = all.into_iter().map(|(_, t)| t).collect();

    // Forward, 5 at a time.
    let mut forward = Vec::new();
    let mut cursor_of = std::collections::HashMap::new();
    let mut after: Option<String> = None;
    for n in 0.. {
        let (titles, cursors, info) = page(&c, json!({ "first": 5, "after": after })).await;
        assert_eq!(info["hasPreviousPage"], n > 0);
        let more = info["hasNextPage"].as_bool().unwrap();
        assert_eq!(more, forward.len() + titles.len() < 23);
        for (t, cur) in titles.iter().zip(&cursors) {
            cursor_of.insert(t.clone(), cur.clone());
        }
        forward.extend(titles);
        after = cursors.last().cloned();
        if !more {
            break;
        }
    }
    assert_eq!(
        forward, all,
        "forward pages cover every task once, in order"
    );

    // Backward, 5 at a time, meets the same cursors.
    let mut backward: Vec<String> = Vec::new();
    let mut before: Option<String> = None;
    for n in 0.. {
        let (titles, cursors, info) = page(&c, json!({ "last": 5, "before": before })).await;
        assert_eq!(info["hasNextPage"], n > 0);
        for (t, cur) in titles.iter().zip(&cursors) {
            assert_eq!(&cursor_of[t], cur, "one cursor per position");
        }
        let more = info["hasPreviousPage"].as_bool().unwrap();
        assert_eq!(more, backward.len() + titles.len() < 23);
        backward.splice(0..0, titles);
        before = cursors.first().cloned();
        if !more {
            break;
        }
    }
    assert_eq!(
        backward, all,
        "backward pages cover every task once, in order"
    );

    // A window between two cursors, from either end.
    let (c3, c9) = (&cursor_of[&all[3]], &cursor_of[&all[9]]);
    let (w, _, info) = page(&c, json!({ "after": c3, "before": c9 })).await;
    assert_eq!(w, all[4..9]);
    assert_eq!(
        (&info["hasPreviousPage"], &info["hasNextPage"]),
        (&json!(true), &json!(true))
    );
    let (w, _, _) = page(&c, json!({ "after": c3, "before": c9, "first": 2 })).await;
    assert_eq!(w, all[4..6]);
    let (w, _, _) = page(&c, json!({ "after": c3, "before": c9, "last": 2 })).await;
    assert_eq!(w, all[7..9]);
    // Past the end, and an empty page.
    let (w, _, info) = page(&c, json!({ "first": 5, "after": cursor_of[&all[22]] })).await;
    assert!(w.is_empty());
    assert_eq!(info["hasNextPage"], false);
    let (w, _, info) = page(&c, json!({ "first": 0 })).await;
    assert!(w.is_empty());
    assert_eq!(info["hasNextPage"], true);
    let (w, _, _) = page(&c, json!({ "last": 30 })).await;
    assert_eq!(w, all, "last larger than the list");

    // Without first/last a page holds 50.
    let more: Vec<Value> = (0..40)
        .map(|i| json!({ "title": format!("d{i}"), "channel": "dflt" }))
        .collect();
    c.post("/tasks/bulk", json!({ "tasks": more }))
        .await
        .expect(201);
    let d = ok(
        &c,
        "{ tasks { totalCount pageInfo { hasNextPage } nodes { id } } }",
        json!({}),
    )
    .await["tasks"]
        .clone();
    assert_eq!(
        (
            &d["totalCount"],
            d["nodes"].as_array().unwrap().len(),
            &d["pageInfo"]["hasNextPage"]
        ),
        (&json!(63), 50, &json!(true))
    );
}

async fn filters_and_order(app: TestApp) {
    let f = app.actor("agent", "f");
    let w = app.actor("agent", "worker");
    ok(
        &f,
        "mutation { createOrganization(input: {slug: \"fo\"}) { organization { slug } } createProject(org: \"fo\", input: {slug: \"p\"}) { project { slug } } }",
        json!({}),
    )
    .await;
    let create =
        "mutation($in: CreateTaskInput!) { createTask(input: $in) { task { id createdAt } } }";
    let mut ids: Vec<String> = Vec::new();
    let mut created = Vec::new();
    for i in 0..7 {
        let spec = match i {
            0 => {
                json!({ "title": "alpha report", "description": "quarterly numbers", "type": "report", "channel": "ops", "priority": 2 })
            }
            1 => {
                json!({ "title": "beta REVIEW", "type": "review", "channel": "ops", "priority": 9 })
            }
            2 => {
                json!({ "title": "gamma", "description": "Needs a Review soon", "type": "review", "channel": "support", "priority": 5 })
            }
            3 => {
                json!({ "title": "delta 100% done", "type": "task", "channel": "support", "priority": 7 })
            }
            4 => {
                json!({ "title": "epsilon", "type": "report", "channel": "ops", "priority": 5, "parentId": ids[0] })
            }
            5 => {
                json!({ "title": "zeta", "type": "task", "channel": "misc", "priority": 1, "dependsOn": [ids[1]] })
            }
            _ => {
                json!({ "title": "eta", "type": "report", "channel": "ops", "priority": 4, "org": "fo", "project": "p" })
            }
        };
        let t = ok(&f, create, json!({ "in": spec })).await["createTask"]["task"].clone();
        ids.push(t["id"].as_str().unwrap().to_owned());
        created.push(t["createdAt"].clone());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let title = |i: usize| {
        [
            "alpha report",
            "beta REVIEW",
            "gamma",
            "delta 100% done",
            "epsilon",
            "zeta",
            "eta",
        ][i]
    };
    // t1 in progress, t3 completed (both by worker), t2 rejected.
    let claim = "mutation($id: ID!) { claimTask(id: $id) { task { id } } }";
    ok(&w, claim, json!({ "id": ids[1] })).await;
    ok(&w, claim, json!({ "id": ids[3] })).await;
    ok(
        &w,
        "mutation($id: ID!) { completeTask(id: $id) { task { id } } }",
        json!({ "id": ids[3] }),
    )
    .await;
    ok(
        &f,
        "mutation($id: ID!) { rejectTask(id: $id) { task { id } } }",
        json!({ "id": ids[2] }),
    )
    .await;

    let list = "query($f: TaskFilter, $o: TaskOrder) { tasks(filter: $f, orderBy: $o, first: 100) { totalCount nodes { id title updatedAt } } }";
    let titles_of = |v: &Value| -> Vec<String> {
        strs(&v["tasks"]["nodes"], "title")
            .into_iter()
            .map(str::to_owned)
            .collect()
    };
    let asc = json!({ "field": "CREATED_AT", "direction": "ASC" });
    let cases = [
        (json!({ "statuses": ["PENDING"] }), vec![0, 4, 5, 6]),
        (
            json!({ "statuses": ["IN_PROGRESS", "COMPLETED"] }),
            vec![1, 3],
        ),
        (json!({ "statuses": ["REJECTED"] }), vec![2]),
        (json!({ "statuses": ["FAILED", "CANCELLED"] }), vec![]),
        (json!({ "types": ["review"] }), vec![1, 2]),
        (json!({ "types": ["report", "task"] }), vec![0, 3, 4, 5, 6]),
        (json!({ "channels": ["support"] }), vec![2, 3]),
        (json!({ "channels": ["ops", "misc"] }), vec![0, 1, 4, 5, 6]),
        (json!({ "assigneeId": "worker" }), vec![1, 3]),
        (json!({ "assigneeId": "nobody" }), vec![]),
        (json!({ "minPriority": 5 }), vec![1, 2, 3, 4]),
        (json!({ "maxPriority": 4 }), vec![0, 5, 6]),
        (json!({ "minPriority": 5, "maxPriority": 7 }), vec![2, 3, 4]),
        (json!({ "search": "review" }), vec![1, 2]),
        (json!({ "search": "ALPHA" }), vec![0]),
        (json!({ "search": "NUMBERS" }), vec![0]),
        (json!({ "search": "100%" }), vec![3]),
        (json!({ "search": "_" }), vec![]),
        (json!({ "createdAfter": created[3] }), vec![4, 5, 6]),
        (json!({ "updatedAfter": created[6] }), vec![1, 2, 3]),
        (json!({ "org": "fo" }), vec![6]),
        (json!({ "org": "fo", "project": "p" }), vec![6]),
        (
            json!({ "org": "default", "project": "main" }),
            vec![0, 1, 2, 3, 4, 5],
        ),
        (json!({ "parentId": ids[0] }), vec![4]),
        (json!({ "claimable": true }), vec![0, 4, 6]),
        (json!({ "claimable": false }), vec![1, 2, 3, 5]),
        (
            json!({ "statuses": ["PENDING"], "channels": ["ops"], "minPriority": 3 }),
            vec![4, 6],
        ),
    ];
    for (filter, want) in cases {
        let got = ok(&f, list, json!({ "f": filter, "o": asc })).await;
        let want: Vec<&str> = want.into_iter().map(title).collect();
        assert_eq!(titles_of(&got), want, "filter {filter}");
        assert_eq!(got["tasks"]["totalCount"], want.len(), "filter {filter}");
    }
    refused(&f, "NOT_FOUND", list, json!({ "f": { "org": "nope" } })).await;
    refused(&w, "NOT_FOUND", list, json!({ "f": { "org": "fo" } })).await;
    assert_eq!(
        ok(&w, list, json!({})).await["tasks"]["totalCount"],
        6,
        "another actor does not see fo's task"
    );

    // Each sort key in each direction; ties are ordered by id the same way.
    let all = ok(&f, list, json!({})).await;
    let by_updated = {
        let mut v: Vec<(chrono::DateTime<chrono::Utc>, i64, String)> = all["tasks"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                (
                    ts(&n["updatedAt"]),
                    n["id"].as_str().unwrap().parse().unwrap(),
                    n["title"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        v.sort();
        v.into_iter().map(|(_, _, t)| t).collect::<Vec<_>>()
    };
    let idx = |v: &[usize]| -> Vec<String> { v.iter().map(|i| title(*i).to_owned()).collect() };
    let orders = [
        ("CREATED_AT", idx(&[0, 1, 2, 3, 4, 5, 6])),
        ("PRIORITY", idx(&[5, 0, 6, 2, 4, 3, 1])),
        ("TITLE", idx(&[0, 1, 3, 4, 6, 2, 5])),
        ("UPDATED_AT", by_updated),
    ];
    for (field, want) in orders {
        let got = ok(
            &f,
            list,
            json!({ "o": { "field": field, "direction": "ASC" } }),
        )
        .await;
        assert_eq!(titles_of(&got), want, "{field} ASC");
        let got = ok(
            &f,
            list,
            json!({ "o": { "field": field, "direction": "DESC" } }),
        )
        .await;
        let mut rev = want.clone();
        rev.reverse();
        assert_eq!(titles_of(&got), rev, "{field} DESC");
    }
    let mut newest_first = idx(&[0, 1, 2, 3, 4, 5, 6]);
    newest_first.reverse();
    assert_eq!(titles_of(&all), newest_first, "default order: newest first");
    // Paging keeps the order.
    let paged = "query($after: String) { tasks(orderBy: {field: PRIORITY, direction: DESC}, first: 3, after: $after) { pageInfo { endCursor } nodes { title } } }";
    let p1 = ok(&f, paged, json!({})).await["tasks"].clone();
    let p2 = ok(&f, paged, json!({ "after": p1["pageInfo"]["endCursor"] })).await["tasks"].clone();
    assert_eq!(
        [strs(&p1["nodes"], "title"), strs(&p2["nodes"], "title")].concat(),
        idx(&[1, 3, 4, 2, 6, 0])
    );
}

async fn stats_and_history(app: TestApp) {
    let a = app.actor("human", "ann");
    let b = app.actor("agent", "bob");
    ok(
        &a,
        "mutation { createOrganization(input: {slug: \"so\"}) { organization { slug } } createProject(org: \"so\", input: {slug: \"p\"}) { project { slug } } }",
        json!({}),
    )
    .await;
    let create = "mutation($in: CreateTaskInput!) { createTask(input: $in) { task { id } } }";
    let mut ids = Vec::new();
    for spec in [
        json!({ "title": "r1", "channel": "ops", "type": "review" }),
        json!({ "title": "r2", "channel": "ops" }),
        json!({ "title": "r3", "channel": "support" }),
        json!({ "title": "r4", "channel": "ops" }),
        json!({ "title": "s1", "channel": "support", "org": "so", "project": "p" }),
    ] {
        ids.push(ok(&a, create, json!({ "in": spec })).await["createTask"]["task"]["id"].clone());
    }
    let by_id = |id: &Value| json!({ "id": id });
    ok(
        &b,
        "mutation($id: ID!) { claimTask(id: $id) { task { id } } }",
        by_id(&ids[0]),
    )
    .await;
    ok(
        &b,
        "mutation($id: ID!) { addMessage(taskId: $id, parts: [{type: \"text\", content: \"hi\"}]) { message { id } } }",
        by_id(&ids[0]),
    )
    .await;
    ok(
        &b,
        "mutation($id: ID!) { completeTask(id: $id) { task { id } } }",
        by_id(&ids[0]),
    )
    .await;
    ok(
        &b,
        "mutation($id: ID!) { claimTask(id: $id) { task { id } } }",
        by_id(&ids[3]),
    )
    .await;
    ok(
        &b,
        "mutation($id: ID!) { failTask(id: $id) { task { id } } }",
        by_id(&ids[3]),
    )
    .await;
    ok(
        &a,
        "mutation($id: ID!) { updateTask(id: $id, input: {priority: 6}) { task { id } } }",
        by_id(&ids[4]),
    )
    .await;

    let stats = "query($org: String, $project: String) { stats(org: $org, project: $project) { total completedCount avgCompletionSeconds byStatus { status count } byChannel { channel count } recent { created24h completed24h created7d completed7d } } }";
    let s = ok(&a, stats, json!({})).await["stats"].clone();
    let as_map = |list: &Value, key: &str| -> std::collections::BTreeMap<String, i64> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e[key].as_str().unwrap().to_owned(),
                    e["count"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(s["total"], 5);
    assert_eq!(s["completedCount"], 1);
    assert!(
        s["avgCompletionSeconds"].as_f64().is_some_and(|x| x >= 0.0),
        "{s}"
    );
    let want_status: std::collections::BTreeMap<String, i64> = [
        ("PENDING", 3),
        ("IN_PROGRESS", 0),
        ("COMPLETED", 1),
        ("CANCELLED", 0),
        ("FAILED", 1),
        ("REJECTED", 0),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(as_map(&s["byStatus"], "status"), want_status);
    assert_eq!(
        as_map(&s["byChannel"], "channel"),
        [("ops".to_owned(), 3), ("support".to_owned(), 2)].into()
    );
    assert_eq!(
        s["recent"],
        json!({ "created24h": 5, "completed24h": 1, "created7d": 5, "completed7d": 1 })
    );
    // Scoped, and narrowed to what the caller may read; REST agrees.
    assert_eq!(ok(&b, stats, json!({})).await["stats"]["total"], 4);
    assert_eq!(
        ok(&a, stats, json!({ "org": "so" })).await["stats"]["total"],
        1
    );
    assert_eq!(
        ok(&a, stats, json!({ "org": "default", "project": "main" })).await["stats"]["total"],
        4
    );
    refused(&b, "NOT_FOUND", stats, json!({ "org": "so" })).await;
    refused(&a, "BAD_REQUEST", stats, json!({ "project": "p" })).await;
    let rest = b.get("/tasks/stats").await.expect(200)["stats"].clone();
    let g = ok(&b, stats, json!({})).await["stats"].clone();
    assert_eq!(rest["total"], g["total"]);
    assert_eq!(rest["completed_count"], g["completedCount"]);
    assert_eq!(rest["by_status"]["failed"], 1);

    // taskEvents: the history, oldest first, paged by the `after` cursor.
    let events = "query($f: TaskEventFilter, $after: ID, $first: Int) { taskEvents(filter: $f, after: $after, first: $first) { id type taskId channel actor { type id } createdAt task { title } } }";
    let everything = ok(&a, events, json!({})).await["taskEvents"].clone();
    let all: Vec<(String, String)> = everything
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["task"]["title"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expect: Vec<(String, String)> = [
        ("task.created", "r1"),
        ("task.created", "r2"),
        ("task.created", "r3"),
        ("task.created", "r4"),
        ("task.created", "s1"),
        ("task.claimed", "r1"),
        ("task.message", "r1"),
        ("task.completed", "r1"),
        ("task.claimed", "r4"),
        ("task.failed", "r4"),
        ("task.updated", "s1"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(all, expect);
    let ev_ids: Vec<i64> = strs(&everything, "id")
        .iter()
        .map(|i| i.parse().unwrap())
        .collect();
    assert!(ev_ids.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(
        everything[5]["actor"],
        json!({ "type": "AGENT", "id": "bob" })
    );
    assert_eq!(everything[0]["taskId"], ids[0]);
    assert_eq!(everything[2]["channel"], "support");
    ts(&everything[0]["createdAt"]);
    let mut paged: Vec<i64> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page =
            ok(&a, events, json!({ "after": after, "first": 3 })).await["taskEvents"].clone();
        let got: Vec<i64> = strs(&page, "id")
            .iter()
            .map(|i| i.parse().unwrap())
            .collect();
        assert!(got.len() <= 3);
        if got.is_empty() {
            break;
        }
        after = Some(got.last().unwrap().to_string());
        paged.extend(got);
    }
    assert_eq!(paged, ev_ids, "cursor pages: no gap, no duplicate");
    let titles_for = |filter: Value| {
        let a = a.clone();
        async move {
            let got = ok(&a, events, json!({ "f": filter })).await["taskEvents"].clone();
            got.as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    format!(
                        "{} {}",
                        e["task"]["title"].as_str().unwrap(),
                        e["type"].as_str().unwrap()
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        titles_for(json!({ "taskId": ids[0] })).await,
        [
            "r1 task.created",
            "r1 task.claimed",
            "r1 task.message",
            "r1 task.completed"
        ]
    );
    assert_eq!(
        titles_for(json!({ "eventTypes": ["task.claimed", "task.failed"] })).await,
        ["r1 task.claimed", "r4 task.claimed", "r4 task.failed"]
    );
    assert_eq!(
        titles_for(json!({ "channels": ["support"] })).await,
        ["r3 task.created", "s1 task.created", "s1 task.updated"]
    );
    assert_eq!(
        titles_for(json!({ "taskTypes": ["review"] })).await,
        [
            "r1 task.created",
            "r1 task.claimed",
            "r1 task.message",
            "r1 task.completed"
        ]
    );
    assert_eq!(
        titles_for(json!({ "projects": ["so/p"] })).await,
        ["s1 task.created", "s1 task.updated"]
    );
    assert_eq!(
        titles_for(json!({ "projects": ["default/main"], "eventTypes": ["task.message"] })).await,
        ["r1 task.message"]
    );
    let last = ev_ids.last().unwrap().to_string();
    assert_eq!(
        ok(&a, events, json!({ "after": last })).await["taskEvents"],
        json!([])
    );
    // Another actor sees only what it may read.
    let theirs = ok(&b, events, json!({})).await["taskEvents"].clone();
    assert_eq!(theirs.as_array().unwrap().len(), 9, "{theirs}");
    refused(
        &b,
        "NOT_FOUND",
        events,
        json!({ "f": { "projects": ["so/p"] } }),
    )
    .await;
    refused(
        &a,
        "BAD_REQUEST",
        events,
        json!({ "f": { "projects": ["nope"] } }),
    )
    .await;
    refused(&a, "BAD_REQUEST", events, json!({ "after": "x" })).await;
    refused(&a, "BAD_REQUEST", events, json!({ "first": 1001 })).await;
}

/// `ats_db_queries_total` from `/metrics`.
async fn db_queries(app: &TestApp) -> u64 {
    app.metric("ats_db_queries_total").await as u64
}

/// SQL statements one GraphQL request costs, net of `/metrics`' own reads:
/// a read's cost is measured as the difference of two back-to-back reads.
/// Background loops share the counter and noise only ever adds, so the
/// smallest of seven measurements of each counts.
async fn statements_for(app: &TestApp, c: &Client, query: &str) -> (u64, u64) {
    let mut with_read = u64::MAX;
    let mut scrape = u64::MAX;
    for _ in 0..7 {
        let a = db_queries(app).await;
        let b = db_queries(app).await;
        let resp = gql(c, query, json!({})).await;
        let d = db_queries(app).await;
        assert!(resp.get("errors").is_none(), "{resp}");
        scrape = scrape.min(b - a);
        with_read = with_read.min(d - b);
    }
    (with_read - scrape, scrape)
}

async fn quiet(backend: Backend) -> Option<TestApp> {
    TestApp::start_with(backend, |c| c.reaper_interval_ms = 3_600_000).await
}

/// Tasks with their messages and events cost the same number of SQL
/// statements for 10 tasks as for 100: DataLoaders batch them.
async fn statement_counts(app: TestApp) {
    let c = app.actor("agent", "counter");
    let narrow = "{ tasks(first: 100) { nodes { id messages { parts } events { type } } } }";
    let wide = "{ tasks(first: 100) { totalCount nodes { id parent { id } subtasks { id } dependsOn { id } blockedBy { id } handoffs { summary } messages { parts } events { type } } } }";
    let mut made: Vec<i64> = Vec::new();
    let mut costs = Vec::new();
    for target in [10usize, 100] {
        let tasks: Vec<Value> = (made.len()..target)
            .map(|i| json!({ "title": format!("c{i}") }))
            .collect();
        let new = c
            .post("/tasks/bulk", json!({ "tasks": tasks }))
            .await
            .expect(201);
        for t in new["tasks"].as_array().unwrap() {
            let id = t["id"].as_i64().unwrap();
            for m in 0..2 {
                c.post(
                    &format!("/tasks/{id}/messages"),
                    json!({ "parts": [{ "type": "text", "content": format!("m{m}") }] }),
                )
                .await
                .expect(201);
            }
            made.push(id);
        }
        // The same structure on the page each time, newest: a parent with a
        // subtask, a task depending on it, and a handoff on it.
        let parent = c
            .create_task(json!({ "title": format!("parent{target}") }))
            .await["id"]
            .as_i64()
            .unwrap();
        c.post(
            &format!("/tasks/{parent}/subtasks"),
            json!({ "title": format!("sub{target}") }),
        )
        .await
        .expect(201);
        c.post(
            "/tasks",
            json!({ "title": format!("dep{target}"), "depends_on": [parent] }),
        )
        .await
        .expect(201);
        c.post(
            &format!("/tasks/{parent}/handoffs"),
            json!({ "summary": "s", "next_steps": [] }),
        )
        .await
        .expect(201);
        let resp = ok(&c, wide, json!({})).await;
        let nodes = resp["tasks"]["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), (made.len() + 3 * (costs.len() + 1)).min(100));
        let with_messages = nodes
            .iter()
            .filter(|n| n["messages"].as_array().unwrap().len() == 2)
            .count();
        assert_eq!(with_messages, nodes.len() - 3 * (costs.len() + 1));
        for (i, key) in ["dependsOn", "parent", "subtasks"].iter().enumerate() {
            assert!(
                !nodes[i][key].is_null() && nodes[i][key] != json!([]),
                "{key}: {}",
                nodes[i]
            );
        }
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let (n, scrape) = statements_for(&app, &c, narrow).await;
        let (w, _) = statements_for(&app, &c, wide).await;
        println!(
            "[{:?}] {target} tasks: tasks+messages+events = {n} SQL statements, with parent/subtasks/dependsOn/blockedBy/handoffs = {w} (a /metrics read costs {scrape})",
            app.backend
        );
        costs.push((n, w));
    }
    assert_eq!(
        costs[0].0, costs[1].0,
        "statements for tasks+messages+events grow with the number of tasks: {costs:?}"
    );
    assert_eq!(
        costs[0].1, costs[1].1,
        "statements for the wide query grow with the number of tasks: {costs:?}"
    );
    // The list itself: the caller's readable projects (4: orgs, memberships,
    // grants, projects), count, page, locations (2), dependencies (2 when any
    // listed task has some); then one statement per per-task list selected.
    assert!(costs[1].0 <= 12, "too many statements: {costs:?}");
    // Plus subtasks and the tasks behind parent/dependsOn/blockedBy (each a
    // batch with its locations and dependencies), readable projects once, handoffs.
    assert!(costs[1].1 <= 26, "too many statements: {costs:?}");
}

/// `task` + `k` × `parent` + `id`.
fn nested(k: usize) -> String {
    let mut q = String::from("id");
    for _ in 0..k {
        q = format!("parent {{ {q} }}");
    }
    format!("{{ task(id: \"1\") {{ {q} }} }}")
}

async fn depth_and_complexity_limits(app: TestApp) {
    use ats::graphql::{MAX_COMPLEXITY, MAX_DEPTH};
    let c = app.client();
    c.create_task(json!({ "title": "root" })).await;
    // `{ task { id } }` is 2 deep: each `parent` adds one.
    ok(&c, &nested(MAX_DEPTH - 2), json!({})).await;
    let (code, m) = fails(&c, &nested(MAX_DEPTH - 1), json!({})).await;
    assert!(m.contains("nested too deep"), "{m}");
    assert_eq!(code, "BAD_REQUEST");
    let resp = gql(&c, &nested(40), json!({})).await;
    assert!(resp["data"].is_null(), "{resp}");

    // A page costs its selection once per task it may hold, so complexity
    // grows with `first`: `tasks(first: N) { nodes { id } }` costs 1 + 2N.
    let aliases = |n: usize, first: usize| -> String {
        let fields: String = (0..n)
            .map(|i| format!("a{i}: tasks(first: {first}) {{ nodes {{ id }} }} "))
            .collect();
        format!("{{ {fields}}}")
    };
    let per = 1 + 2 * 500;
    let fit = MAX_COMPLEXITY / per;
    ok(&c, &aliases(fit, 500), json!({})).await;
    let (code, m) = fails(&c, &aliases(fit + 1, 500), json!({})).await;
    assert!(m.contains("too complex"), "{m}");
    assert_eq!(code, "BAD_REQUEST");
    ok(&c, &aliases(fit + 1, 10), json!({})).await;
    // Very wide: many lists each with nested lists.
    let wide: String = (0..60)
        .map(|i| format!("a{i}: tasks(first: 100) {{ nodes {{ id title messages {{ id parts }} events {{ id type }} subtasks {{ id }} }} }} "))
        .collect();
    let resp = gql(&c, &format!("{{ {wide}}}"), json!({})).await;
    assert!(
        resp["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("too complex"),
        "{resp}"
    );
    assert!(resp["data"].is_null(), "rejected before running: {resp}");
    // The default page (50) counts too.
    let d: String = (0..(MAX_COMPLEXITY / (1 + 2 * 50) + 1))
        .map(|i| format!("a{i}: tasks {{ nodes {{ id }} }} "))
        .collect();
    let (_, m) = fails(&c, &format!("{{ {d}}}"), json!({})).await;
    assert!(m.contains("too complex"), "{m}");
}

crate::on_both_backends!(
    task_operations,
    error_codes_and_transport,
    orgs_and_projects,
    relay_paging,
    filters_and_order,
    stats_and_history,
    depth_and_complexity_limits,
);

crate::on_both_backends!(start = crate::graphql::quiet; statement_counts);

#[test]
fn schema_graphql_is_up_to_date() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let on_disk = std::fs::read_to_string(path).expect("read schema.graphql");
    let code = ats::graphql::sdl();
    if on_disk != code {
        let line = on_disk
            .lines()
            .zip(code.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || on_disk.lines().count().min(code.lines().count()) + 1,
                |i| i + 1,
            );
        panic!(
            "schema.graphql differs from the schema in the code (first at line {line}).\n\
             Regenerate it with:\n    cargo run --bin ats-server -- schema > schema.graphql"
        );
    }
}

/// The npm `graphql-ws` client (tests/graphql-ws-client) subscribes to
/// `taskEvents`, creates a task over HTTP, and receives its event.
async fn npm_graphql_ws_client(app: TestApp) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/graphql-ws-client");
    let has_node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let installed = std::path::Path::new(dir)
        .join("node_modules/graphql-ws")
        .exists();
    if !has_node || !installed {
        eprintln!(
            "SKIPPED: the graphql-ws client check needs node and {dir}/node_modules (run `npm ci` there)"
        );
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
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "graphql-ws client failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("received task.created"), "{stdout}");
}

crate::on_both_backends!(npm_graphql_ws_client);
