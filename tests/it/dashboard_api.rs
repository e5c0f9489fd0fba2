//! The API additions the dashboard needs, on both APIs: `Task.blocks` /
//! `GET /tasks/{id}/dependents`, `Task.viewerActions` / `GET /tasks/{id}/actions`
//! (visibility and shape), and the dashboard's files at `/` and `/playground/…`.

use serde_json::json;

use crate::common::gql::ok;
use crate::common::{Role, TestApp};
use crate::on_both_backends;

on_both_backends!(
    dependents_on_both_apis,
    actions_shape_and_visibility,
    dashboard_files_are_served
);

async fn dependents_on_both_apis(app: TestApp) {
    let c = app.actor("human", "dana");
    let a = c.create_task(json!({"title": "a"})).await["id"]
        .as_i64()
        .unwrap();
    let b = c
        .create_task(json!({"title": "b", "depends_on": [a]}))
        .await["id"]
        .as_i64()
        .unwrap();
    let d = c
        .create_task(json!({"title": "d", "depends_on": [a]}))
        .await["id"]
        .as_i64()
        .unwrap();
    let lone = c.create_task(json!({"title": "lone"})).await["id"]
        .as_i64()
        .unwrap();

    let rest = c.get(&format!("/tasks/{a}/dependents")).await.expect(200);
    let ids: Vec<i64> = rest["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [b, d], "dependents, oldest first");
    assert_eq!(rest["tasks"][0]["blocked_by"], json!([a]));
    let scoped = c
        .get(&format!("/orgs/default/projects/main/tasks/{a}/dependents"))
        .await
        .expect(200);
    assert_eq!(scoped["tasks"].as_array().unwrap().len(), 2);
    assert_eq!(
        c.get(&format!("/tasks/{lone}/dependents"))
            .await
            .expect(200)["tasks"],
        json!([])
    );
    c.get("/tasks/987654321/dependents").await.expect_error(404);

    let q = "query($id: ID!) { task(id: $id) { blocks { id title } blockedBy { id } dependsOn { id } } }";
    let data = ok(&c, q, json!({"id": a.to_string()})).await;
    assert_eq!(
        data["task"]["blocks"],
        json!([{"id": b.to_string(), "title": "b"}, {"id": d.to_string(), "title": "d"}])
    );
    let data = ok(&c, q, json!({"id": b.to_string()})).await;
    assert_eq!(data["task"]["blocks"], json!([]));
    assert_eq!(data["task"]["blockedBy"], json!([{"id": a.to_string()}]));

    // Completing the blocker: the dependents no longer wait, but still list it.
    c.post(&format!("/tasks/{a}/claim"), json!({}))
        .await
        .expect(200);
    c.post(&format!("/tasks/{a}/complete"), json!({}))
        .await
        .expect(200);
    let rest = c.get(&format!("/tasks/{a}/dependents")).await.expect(200);
    assert_eq!(rest["tasks"][0]["blocked_by"], json!([]));
    assert_eq!(rest["tasks"].as_array().unwrap().len(), 2);
}

async fn actions_shape_and_visibility(app: TestApp) {
    let owner = app
        .user("olga")
        .in_org("secret", Role::Owner)
        .with_project("x")
        .await;
    let id = owner
        .post("/orgs/secret/projects/x/tasks", json!({"title": "hidden"}))
        .await
        .expect(201)["task"]["id"]
        .as_i64()
        .unwrap();
    // Someone who may not see the task gets 404 on REST and null on GraphQL.
    let stranger = app.actor("human", "stranger");
    stranger
        .get(&format!("/tasks/{id}/actions"))
        .await
        .expect_error(404);
    stranger
        .get(&format!("/tasks/{id}/dependents"))
        .await
        .expect_error(404);
    let data = ok(
        &stranger,
        "query($id: ID!) { task(id: $id) { viewerActions } }",
        json!({"id": id.to_string()}),
    )
    .await;
    assert!(data["task"].is_null());
    // The owner of a pending task it created.
    let actions = owner.get(&format!("/tasks/{id}/actions")).await.expect(200);
    assert_eq!(
        actions,
        json!({"actions": ["claim", "reject", "cancel", "update", "delete", "add_message", "add_handoff", "create_subtask"]})
    );
    let data = ok(
        &owner,
        "query($id: ID!) { task(id: $id) { viewerActions } }",
        json!({"id": id.to_string()}),
    )
    .await;
    assert_eq!(
        data["task"]["viewerActions"],
        json!([
            "CLAIM",
            "REJECT",
            "CANCEL",
            "UPDATE",
            "DELETE",
            "ADD_MESSAGE",
            "ADD_HANDOFF",
            "CREATE_SUBTASK"
        ])
    );
    // The list of a task held by its claimer: complete, fail, reject, cancel, and renew.
    owner
        .post(&format!("/tasks/{id}/claim"), json!({}))
        .await
        .expect(200);
    let actions = owner.get(&format!("/tasks/{id}/actions")).await.expect(200);
    assert_eq!(
        actions["actions"].as_array().unwrap()[..5],
        json!(["claim", "complete", "fail", "reject", "cancel"])
            .as_array()
            .unwrap()[..]
    );
}

async fn dashboard_files_are_served(app: TestApp) {
    let http = reqwest::Client::new();
    let page = http.get(format!("{}/", app.base)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-cache");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let html = page.text().await.unwrap();
    assert!(html.contains("/playground/app.js"), "the page loads app.js");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no outside URL (no CDN) in the page"
    );
    let again = http
        .get(format!("{}/", app.base))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
    for (file, ty) in [
        ("app.js", "text/javascript; charset=utf-8"),
        ("live.js", "text/javascript; charset=utf-8"),
        ("api.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("index.html", "text/html; charset=utf-8"),
    ] {
        let res = http
            .get(format!("{}/playground/{file}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{file}");
        assert_eq!(res.headers()["content-type"], ty, "{file}");
        assert_eq!(res.headers()["cache-control"], "no-cache", "{file}");
        assert!(res.headers().contains_key("etag"), "{file}");
        let text = res.text().await.unwrap();
        assert!(
            !text.contains("https://") || file == "index.html",
            "{file} loads nothing from outside"
        );
    }
    for missing in ["/playground/nope.js", "/playground/../Cargo.toml"] {
        let res = app.client().get(missing).await;
        assert_eq!(res.status, 404, "{missing}");
    }
    // GraphiQL stays where it was.
    let gi = http
        .get(format!("{}/graphiql", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(gi.status(), 200);
}
