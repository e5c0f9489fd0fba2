//! Required auth mode (SPEC §5): every route but health, register and login
//! answers 401 without credentials, and forged actor headers change nothing;
//! GraphQL `register` and `login` need none either, but nothing may ride
//! along with them.

use serde_json::json;

use crate::common::TestApp;
use crate::common::gql::{self, code};

crate::on_both_backends!(
    start = crate::common::TestApp::required_auth;
    required_mode_needs_credentials,
    graphql_sign_in_needs_no_credentials,
);

/// Every route but health, register and login answers 401 without credentials,
/// and forged actor headers change nothing.
async fn required_mode_needs_credentials(app: TestApp) {
    let anon = app.client();
    anon.get("/health").await.expect(200);
    let forged = app.actor("human", "root");
    for (method, path) in [
        ("GET", "/tasks"),
        ("POST", "/tasks"),
        ("GET", "/tasks/1"),
        ("POST", "/tasks/1/claim"),
        ("GET", "/tasks/stats"),
        ("GET", "/orgs"),
        ("POST", "/orgs"),
        ("GET", "/orgs/default/projects"),
        ("GET", "/orgs/default/members"),
        ("GET", "/auth/me"),
        ("GET", "/auth/api-keys"),
        ("GET", "/auth/invitations"),
    ] {
        for client in [&anon, &forged] {
            let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let res = client
                .send(m, path, Some(&json!({ "title": "x", "slug": "x" })))
                .await;
            assert_eq!(res.status, 401, "{method} {path}: {}", res.body);
            assert_eq!(res.body["code"], "UNAUTHENTICATED");
        }
    }
    let res = gql::post(&forged, "{ tasks { totalCount } }", json!({})).await;
    assert_eq!(res.status, 401);
    assert_eq!(code(&res.body).as_deref(), Some("UNAUTHENTICATED"));
    // Nothing was written by any of those.
    let owner = app.user("alice").await;
    assert_eq!(owner.get("/tasks").await.expect(200)["count"], 0);
}

/// GraphQL `register` and `login` need no credentials in required mode, as
/// their REST twins don't; anything else sent with them still answers 401.
async fn graphql_sign_in_needs_no_credentials(app: TestApp) {
    let anon = app.client();
    let register = r#"mutation { register(input: { actorType: "human", actorId: "gq",
                email: "gq@example.com", password: "correct horse 1" }) { token identity { actorId } } }"#;
    let reg = gql::post(&anon, register, json!({})).await;
    assert_eq!(reg.status, 200, "{}", reg.body);
    assert_eq!(reg.body["data"]["register"]["identity"]["actorId"], "gq");
    let login = "mutation L($p: String!) { login(input: { email: \"gq@example.com\", password: $p }) { token } }";
    let ok = gql::post(&anon, login, json!({ "p": "correct horse 1" })).await;
    let token = ok.body["data"]["login"]["token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let me = gql::post(&app.bearer(&token), "{ me { actorId } }", json!({})).await;
    assert_eq!(me.body["data"]["me"]["actorId"], "gq", "{}", me.body);
    let wrong = gql::post(&anon, login, json!({ "p": "wrong" })).await;
    assert_eq!(
        code(&wrong.body).as_deref(),
        Some("UNAUTHENTICATED"),
        "{}",
        wrong.body
    );
    let two_operations = r#"mutation A { login(input: { email: "e", password: "x" }) { token } } mutation B { createTask(input: { title: "t" }) { id } }"#;
    for query in [
        r#"mutation { login(input: { email: "gq@example.com", password: "x" }) { token } createTask(input: { title: "t" }) { id } }"#,
        "{ tasks { totalCount } }",
        two_operations,
    ] {
        let res = gql::post(&anon, query, json!({})).await;
        assert_eq!(res.status, 401, "{query}: {}", res.body);
    }
    // The same, naming the operation to run (a body the helper does not make).
    let res = anon
        .post(
            "/graphql",
            json!({ "query": two_operations, "operationName": "B" }),
        )
        .await;
    assert_eq!(res.status, 401, "{}", res.body);
}
