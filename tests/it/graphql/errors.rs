//! GraphQL errors and transport (SPEC §5): every error carries
//! `extensions.code`; an absent task is null to read and NOT_FOUND to change;
//! another org's task is invisible; GET runs queries but no mutation; no actor
//! headers means `human:anonymous`; GraphiQL is served.

use serde_json::{Value, json};

use crate::common::TestApp;
use crate::common::gql::{fails, gql, ok, refused};

crate::on_both_backends!(
    a_bad_id_is_a_bad_request_naming_it,
    an_absent_task_is_null_to_read_and_not_found_to_change,
    bad_create_inputs_are_refused,
    bad_list_arguments_are_bad_requests,
    errors_found_before_any_resolver_carry_a_code,
    another_orgs_task_is_invisible,
    get_runs_queries_but_refuses_mutations,
    without_actor_headers_the_caller_is_anonymous,
    graphiql_points_at_both_endpoints,
);

async fn a_bad_id_is_a_bad_request_naming_it(app: TestApp) {
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
}

async fn an_absent_task_is_null_to_read_and_not_found_to_change(app: TestApp) {
    let c = app.actor("agent", "errs");
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
}

async fn bad_create_inputs_are_refused(app: TestApp) {
    let c = app.actor("agent", "errs");
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
}

async fn bad_list_arguments_are_bad_requests(app: TestApp) {
    let c = app.actor("agent", "errs");
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
}

/// Errors async-graphql finds before any resolver runs carry a code too.
async fn errors_found_before_any_resolver_carry_a_code(app: TestApp) {
    let c = app.actor("agent", "errs");
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
}

/// Null to read, NOT_FOUND to change or to create in.
async fn another_orgs_task_is_invisible(app: TestApp) {
    let c = app.actor("agent", "errs");
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

/// GET runs queries but refuses mutations, writing nothing.
async fn get_runs_queries_but_refuses_mutations(app: TestApp) {
    let c = app.actor("agent", "errs");
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
}

/// Without actor headers the caller is `human:anonymous`, in open mode.
async fn without_actor_headers_the_caller_is_anonymous(app: TestApp) {
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
}

async fn graphiql_points_at_both_endpoints(app: TestApp) {
    let page = reqwest::Client::new()
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
