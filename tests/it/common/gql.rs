//! GraphQL over HTTP: the one helper every suite uses.
//!
//! `ok` for a request that must succeed (its `data`), `refused` for one that
//! must fail with a given `extensions.code`, `fails` for the code and message
//! of any failure, `gql` for the raw body and `post` for the HTTP response.

use serde_json::{Value, json};

use super::client::{Client, Res};

/// POSTs `{query, variables}` to `/graphql`; the HTTP status and body as they came.
pub async fn post(c: &Client, query: &str, variables: Value) -> Res {
    c.post(
        "/graphql",
        json!({ "query": query, "variables": variables }),
    )
    .await
}

/// The body of a request (the HTTP status is 200 whatever the outcome).
pub async fn gql(c: &Client, query: &str, variables: Value) -> Value {
    post(c, query, variables).await.expect(200)
}

/// The `data` of a request that must succeed.
pub async fn ok(c: &Client, query: &str, variables: Value) -> Value {
    let resp = gql(c, query, variables).await;
    assert!(
        resp.get("errors").is_none(),
        "unexpected errors for {query}: {resp}"
    );
    resp["data"].clone()
}

/// The `extensions.code` and message of a request that must fail.
pub async fn fails(c: &Client, query: &str, variables: Value) -> (String, String) {
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
pub async fn refused(c: &Client, code: &str, query: &str, variables: Value) -> String {
    let (got, message) = fails(c, query, variables).await;
    assert_eq!(got, code, "{query}: {message}");
    message
}

/// The `extensions.code` of a response's first error.
pub fn code(resp: &Value) -> Option<String> {
    resp["errors"][0]["extensions"]["code"]
        .as_str()
        .map(str::to_owned)
}

/// `createTask(input: $in)`; returns the new task's id.
pub async fn create_task(c: &Client, input: Value) -> String {
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
