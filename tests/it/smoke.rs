//! The server starts, migrates, and answers health.

use serde_json::json;

use crate::common::TestApp;

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

crate::on_both_backends!(health_and_default_project);
