//! What a GraphQL request may cost: DataLoaders batch the per-task lists, so
//! tasks with their messages and events cost as many SQL statements for 10
//! tasks as for 100 (counted); and the depth and complexity limits refuse a
//! request before it runs.

use serde_json::{Value, json};

use crate::common::gql::{fails, gql, ok};
use crate::common::observed::{StatementLog, observed, take};
use crate::common::{Client, TestApp};
use ats::actor::Actor;
use ats::auth::caller::Caller;
use ats::service::Ats;

crate::on_both_backends!(
    statements_do_not_grow_with_the_page,
    threads_are_read_a_page_at_a_time
);
crate::on_both_backends!(
    depth_is_limited,
    complexity_grows_with_first_and_is_limited,
    deeply_nested_brackets_are_refused_before_parsing,
    a_kept_document_still_takes_each_request_s_variables_and_checks,
);

/// SQL statements one GraphQL request of `agent:counter` costs, from
/// building its viewer to the answer, counted by a statement observer on a
/// service of its own over the test's database (no background loop shares
/// it). The smallest of three runs counts: the first may fill caches.
async fn statements_for(ats: &Ats, log: &StatementLog, query: &str) -> usize {
    let schema = ats::graphql::schema(ats.clone());
    let mut fewest = usize::MAX;
    for _ in 0..3 {
        take(log);
        let caller = Caller::Named(Actor::new("agent", "counter", None).unwrap());
        let viewer = ats.viewer(&caller).await.unwrap();
        let mut req = async_graphql::Request::new(query);
        req.data = ats::graphql::request_data(ats, viewer);
        let resp = schema.execute(req).await;
        assert!(resp.errors.is_empty(), "{:?}", resp.errors);
        fewest = fewest.min(take(log).len());
    }
    fewest
}

const NARROW: &str = "{ tasks(first: 100) { nodes { id messages { parts } events { type } } } }";
const WIDE: &str = "{ tasks(first: 100) { totalCount nodes { id parent { id } subtasks { id } dependsOn { id } blockedBy { id } handoffs { summary } messages { parts } events { type } } } }";

/// Tasks up to `target` with two messages each, then (newest on the page) a
/// parent with a subtask, a task depending on it, and a handoff on it.
async fn grow_to(c: &Client, made: &mut Vec<i64>, target: usize) {
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
    let parent = c
        .create_task(json!({ "title": format!("parent{target}") }))
        .await["id"]
        .as_i64()
        .unwrap();
    let sub = json!({ "title": format!("sub{target}") });
    c.post(&format!("/tasks/{parent}/subtasks"), sub)
        .await
        .expect(201);
    let dep = json!({ "title": format!("dep{target}"), "depends_on": [parent] });
    c.post("/tasks", dep).await.expect(201);
    let handoff = json!({ "summary": "s", "next_steps": [] });
    c.post(&format!("/tasks/{parent}/handoffs"), handoff)
        .await
        .expect(201);
}

/// The wide page holds what was made, with its lists filled in.
async fn check_wide_page(c: &Client, made: usize, rounds: usize) {
    let resp = ok(c, WIDE, json!({})).await;
    let nodes = resp["tasks"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), (made + 3 * rounds).min(100));
    let with_messages = nodes
        .iter()
        .filter(|n| n["messages"].as_array().unwrap().len() == 2)
        .count();
    assert_eq!(with_messages, nodes.len() - 3 * rounds);
    for (i, key) in ["dependsOn", "parent", "subtasks"].iter().enumerate() {
        assert!(
            !nodes[i][key].is_null() && nodes[i][key] != json!([]),
            "{key}: {}",
            nodes[i]
        );
    }
}

/// Tasks with their messages and events cost the same number of SQL
/// statements for 10 tasks as for 100: DataLoaders batch them.
async fn statements_do_not_grow_with_the_page(app: TestApp) {
    let c = app.actor("agent", "counter");
    let (ats, log) = observed(&app).await;
    let mut made: Vec<i64> = Vec::new();
    let mut costs = Vec::new();
    for target in [10usize, 100] {
        grow_to(&c, &mut made, target).await;
        check_wide_page(&c, made.len(), costs.len() + 1).await;
        let n = statements_for(&ats, &log, NARROW).await;
        let w = statements_for(&ats, &log, WIDE).await;
        println!(
            "[{:?}] {target} tasks: tasks+messages+events = {n} SQL statements, with parent/subtasks/dependsOn/blockedBy/handoffs = {w}",
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
    // With the caller's rights cached (as they are between requests): the
    // page and its count, then one statement per per-task list selected.
    assert!(costs[1].0 <= 5, "too many statements: {costs:?}");
    // Plus subtasks, handoffs and the tasks behind parent/dependsOn/blockedBy
    // (one batch).
    assert!(costs[1].1 <= 10, "too many statements: {costs:?}");
}

/// `task` + `k` × `parent` + `id`.
fn nested(k: usize) -> String {
    let mut q = String::from("id");
    for _ in 0..k {
        q = format!("parent {{ {q} }}");
    }
    format!("{{ task(id: \"1\") {{ {q} }} }}")
}

async fn depth_is_limited(app: TestApp) {
    use ats::graphql::MAX_DEPTH;
    let c = app.client();
    c.create_task(json!({ "title": "root" })).await;
    // `{ task { id } }` is 2 deep: each `parent` adds one.
    ok(&c, &nested(MAX_DEPTH - 2), json!({})).await;
    let (code, m) = fails(&c, &nested(MAX_DEPTH - 1), json!({})).await;
    assert!(m.contains("depth limit of 12"), "{m}");
    assert_eq!(code, "QUERY_TOO_DEEP");
    let resp = gql(&c, &nested(40), json!({})).await;
    assert!(resp["data"].is_null(), "{resp}");
}

/// A page costs its count and its selection once per task it may hold, so
/// complexity grows with `first`: `tasks(first: N) { nodes { id } }` costs
/// COUNT_COST + 2N.
async fn complexity_grows_with_first_and_is_limited(app: TestApp) {
    use ats::graphql::{COUNT_COST, MAX_COMPLEXITY};
    let c = app.client();
    c.create_task(json!({ "title": "root" })).await;
    let aliases = |n: usize, first: usize| -> String {
        let fields: String = (0..n)
            .map(|i| format!("a{i}: tasks(first: {first}) {{ nodes {{ id }} }} "))
            .collect();
        format!("{{ {fields}}}")
    };
    let per = COUNT_COST + 2 * 500;
    let fit = MAX_COMPLEXITY / per;
    ok(&c, &aliases(fit, 500), json!({})).await;
    let resp = gql(&c, &aliases(fit + 1, 500), json!({})).await;
    let err = &resp["errors"][0];
    assert_eq!(err["extensions"]["code"], "QUERY_TOO_COMPLEX", "{resp}");
    assert_eq!(err["extensions"]["limit"], MAX_COMPLEXITY, "{resp}");
    assert!(
        err["message"].as_str().unwrap().contains("cost limit"),
        "{resp}"
    );
    ok(&c, &aliases(fit + 1, 10), json!({})).await;
    // Very wide: many lists each with nested lists.
    let wide: String = (0..60)
        .map(|i| format!("a{i}: tasks(first: 100) {{ nodes {{ id title messages {{ id parts }} events {{ id type }} subtasks {{ id }} }} }} "))
        .collect();
    let resp = gql(&c, &format!("{{ {wide}}}"), json!({})).await;
    assert_eq!(
        resp["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX",
        "{resp}"
    );
    assert!(resp["data"].is_null(), "rejected before running: {resp}");
    // The default page (50) counts too.
    let d: String = (0..(MAX_COMPLEXITY / (COUNT_COST + 2 * 50) + 1))
        .map(|i| format!("a{i}: tasks {{ nodes {{ id }} }} "))
        .collect();
    let (code, _) = fails(&c, &format!("{{ {d}}}"), json!({})).await;
    assert_eq!(code, "QUERY_TOO_COMPLEX");
}

/// Found by the GraphQL fuzz: a list value nested 300 deep overflowed a
/// worker's stack while the document was parsed and checked, and the whole
/// server aborted. Brackets now nest at most 64 deep, checked on the text.
async fn deeply_nested_brackets_are_refused_before_parsing(app: TestApp) {
    let c = app.user("nester").client().await;
    let nested = |n: usize| {
        format!(
            "{{ tasks(filter: {{statuses: {}PENDING{}}}) {{ totalCount }} }}",
            "[".repeat(n),
            "]".repeat(n)
        )
    };
    for n in [300, 5_000] {
        let resp = gql(&c, &nested(n), json!({})).await;
        assert_eq!(
            resp["errors"][0]["extensions"]["code"], "BAD_REQUEST",
            "{resp}"
        );
        assert_eq!(resp["errors"][0]["extensions"]["limit"], 64, "{resp}");
    }
    // Payload literals nest too; within the bound they pass.
    let payload = format!("{}1{}", "{a: ".repeat(50), "}".repeat(50));
    ok(
        &c,
        &format!("mutation {{ createTask(input: {{title: \"t\", payload: {payload}}}) {{ task {{ id }} }} }}"),
        json!({}),
    )
    .await;
    // A statuses list one level deep too many is an ordinary type error.
    let (code, _) = fails(&c, &nested(2), json!({})).await;
    assert_eq!(code, "BAD_REQUEST");
    // The transport parses some documents itself before the schema does: a
    // GET (mutations are refused there) and, in required mode, a request
    // without credentials (only sign-ins may pass). Both are bounded first.
    let deep_mutation = format!(
        "mutation {{ createTask(input: {{title: \"t\", payload: {}1{}}}) {{ task {{ id }} }} }}",
        "{a: ".repeat(300),
        "}".repeat(300)
    );
    let http = reqwest::Client::new();
    let url = format!("{}/graphql", app.base);
    let get = reqwest::Url::parse_with_params(&url, [("query", &deep_mutation)]).unwrap();
    let resp: Value = http.get(get).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        resp["errors"][0]["extensions"]["code"], "BAD_REQUEST",
        "{resp}"
    );
    let required = TestApp::required_auth(app.backend).await.unwrap();
    let resp: Value = http
        .post(format!("{}/graphql", required.base))
        .json(&json!({ "query": deep_mutation }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        resp["errors"][0]["extensions"]["code"], "BAD_REQUEST",
        "{resp}"
    );
    // And the servers are still there.
    ok(&c, "{ health { status } }", json!({})).await;
    let resp: Value = http
        .get(format!("{}/health", required.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resp["status"], "ok");
}

/// The server keeps parsed documents by their text: the same document
/// answers each request with that request's variables, a refused document
/// is refused every time, and the variables' checks run on every request.
async fn a_kept_document_still_takes_each_request_s_variables_and_checks(app: TestApp) {
    let c = app.client();
    let a = c.create_task(json!({ "title": "first" })).await;
    let b = c.create_task(json!({ "title": "second" })).await;
    let doc = "query($id: ID!) { task(id: $id) { title } }";
    for _ in 0..2 {
        for (task, title) in [(&a, "first"), (&b, "second")] {
            let data = ok(&c, doc, json!({ "id": task["id"].to_string() })).await;
            assert_eq!(data["task"]["title"], title);
        }
    }
    let (code, _) = fails(&c, doc, json!({ "id": "a\u{0}b" })).await;
    assert_eq!(code, "BAD_REQUEST");
    let wide: String = (0..=ats::graphql::MAX_FIELDS)
        .map(|i| format!("a{i}: __typename "))
        .collect();
    for _ in 0..2 {
        let (code, _) = fails(&c, &format!("{{ {wide}}}"), json!({})).await;
        assert_eq!(code, "QUERY_TOO_COMPLEX");
    }
}

/// `messages(first, after)` reads the pages asked for, not whole threads:
/// aliases with different pages each get theirs, on a page of tasks (one
/// batch) and on one task, and the statement that reads them holds a
/// `LIMIT` per page.
async fn threads_are_read_a_page_at_a_time(app: TestApp) {
    let c = app.actor("agent", "counter");
    let (ats, log) = observed(&app).await;
    let mut threads: Vec<(i64, Vec<i64>)> = Vec::new();
    for (title, n) in [("long", 12), ("short", 3)] {
        let id = c.create_task(json!({ "title": title })).await["id"]
            .as_i64()
            .unwrap();
        let mut ids = Vec::new();
        for m in 0..n {
            let msg = c
                .post(
                    &format!("/tasks/{id}/messages"),
                    json!({ "parts": [{ "type": "text", "content": format!("m{m}") }] }),
                )
                .await
                .expect(201);
            ids.push(msg["message"]["id"].as_i64().unwrap());
        }
        threads.push((id, ids));
    }
    let after = threads[0].1[2];
    let ids_of = |v: &Value| -> Vec<i64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().parse().unwrap())
            .collect()
    };
    let query = format!(
        "{{ tasks(first: 10) {{ nodes {{ id a: messages(first: 2) {{ id }} \
         b: messages(first: 5, after: \"{after}\") {{ id }} c: messages {{ id }} }} }} }}"
    );
    let data = ok(&c, &query, json!({})).await;
    for (id, ids) in &threads {
        let node = data["tasks"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"].as_str().and_then(|s| s.parse::<i64>().ok()) == Some(*id))
            .unwrap();
        let above: Vec<i64> = ids.iter().copied().filter(|m| *m > after).take(5).collect();
        assert_eq!(ids_of(&node["a"]), ids[..2].to_vec(), "{node}");
        assert_eq!(ids_of(&node["b"]), above, "{node}");
        assert_eq!(ids_of(&node["c"]), *ids, "{node}");
    }
    let (long, ids) = &threads[0];
    let one = format!(
        "{{ task(id: \"{long}\") {{ messages(first: 3, after: \"{}\") {{ id }} }} }}",
        ids[5]
    );
    let data = ok(&c, &one, json!({})).await;
    assert_eq!(ids_of(&data["task"]["messages"]), ids[6..9].to_vec());

    take(&log);
    let schema = ats::graphql::schema(ats.clone());
    let caller = Caller::Named(Actor::new("agent", "counter", None).unwrap());
    let viewer = ats.viewer(&caller).await.unwrap();
    let mut req = async_graphql::Request::new(query.as_str());
    req.data = ats::graphql::request_data(&ats, viewer);
    let resp = schema.execute(req).await;
    assert!(resp.errors.is_empty(), "{:?}", resp.errors);
    let reads: Vec<String> = take(&log)
        .into_iter()
        .filter(|s| s.contains("\"messages\""))
        .collect();
    assert_eq!(reads.len(), 1, "one statement for every page: {reads:?}");
    assert_eq!(
        reads[0].matches("LIMIT").count(),
        6,
        "a LIMIT for each of 3 pages of 2 tasks: {}",
        reads[0]
    );
}
