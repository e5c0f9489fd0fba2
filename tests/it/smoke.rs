//! The server starts, migrates, and answers health; `POST /_test/reset`
//! exists only under `ATS_ENV=test`.

use serde_json::json;

use crate::common::TestApp;

crate::on_both_backends!(health_and_default_project, test_reset_only_in_test_env);

async fn health_and_default_project(app: TestApp) {
    let health = app.client().get("/health").await.expect(200);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["database"], "ok");
    assert!(health["version"].is_string());
    assert!(health["timestamp"].as_str().unwrap().ends_with('Z'));

    let projects = app.client().get("/orgs/default/projects").await.expect(200);
    assert_eq!(projects["projects"][0]["slug"], "main");

    let task = app.client().create_task(json!({ "title": "hello" })).await;
    assert_eq!(task["org"], "default");
    assert_eq!(task["project"], "main");
}

/// `POST /_test/reset` exists only under `ATS_ENV=test`, and wipes everything but `default/main`.
async fn test_reset_only_in_test_env(app: TestApp) {
    let c = app.actor("human", "tester");
    c.create_task(json!({ "title": "keep me" })).await;
    c.post("/_test/reset", json!({})).await.expect_error(404);
    assert_eq!(c.get("/tasks").await.expect(200)["count"], 1);

    let Some(test_app) = TestApp::test_env(app.backend).await else {
        return;
    };
    let t = test_app.actor("human", "tester");
    t.create_task(json!({ "title": "wipe me" })).await;
    t.post("/orgs", json!({ "slug": "gone" })).await.expect(201);
    t.post("/_test/reset", json!({})).await.expect(200);
    assert_eq!(t.get("/tasks").await.expect(200)["count"], 0);
    t.get("/orgs/gone").await.expect_error(404);
    t.get("/orgs/default/projects/main").await.expect(200);
    t.create_task(json!({ "title": "fresh" })).await;
}
