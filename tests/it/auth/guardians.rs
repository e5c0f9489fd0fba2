//! Guardians (SPEC §5): an agent links a human guardian (once, by a token
//! only a human may confirm), who may then issue the agent API keys; either
//! side can end it, and a stranger can do none of it.

use serde_json::json;

use crate::common::TestApp;

crate::on_both_backends!(
    start = crate::common::TestApp::required_auth;
    a_guardian_links_issues_keys_and_either_side_ends_it,
);

/// An agent links a human guardian, who then issues the agent a key; either side can end it.
async fn a_guardian_links_issues_keys_and_either_side_ends_it(app: TestApp) {
    let agent = app.agent("helper-bot").await;
    let human = app.user("dana").await;
    let link = agent
        .post("/auth/me/guardian-link", json!({}))
        .await
        .expect(201);
    let token = link["token"].as_str().unwrap().to_owned();
    human
        .post("/auth/me/guardian-link", json!({}))
        .await
        .expect_error(403);
    agent
        .post(&format!("/auth/guardian-confirm/{token}"), json!({}))
        .await
        .expect_error(403);
    let g = human
        .post(&format!("/auth/guardian-confirm/{token}"), json!({}))
        .await
        .expect(201);
    assert_eq!(g["guardianship"]["agent"]["actor_id"], "helper-bot");
    assert_eq!(g["guardianship"]["guardian"]["actor_id"], "dana");
    // A link works once.
    human
        .post(&format!("/auth/guardian-confirm/{token}"), json!({}))
        .await
        .expect_error(404);
    let mine = human.get("/auth/me/guardians").await.expect(200);
    assert_eq!(mine["guarded_agents"].as_array().unwrap().len(), 1);
    let theirs = agent.get("/auth/me/guardians").await.expect(200);
    assert_eq!(theirs["guardians"][0]["guardian"]["actor_id"], "dana");

    let issued = human
        .post(
            "/auth/guardians/helper-bot/api-keys",
            json!({ "name": "from dana" }),
        )
        .await
        .expect(201);
    let agent_key = issued["api_key"]["key"].as_str().unwrap();
    let me = app.bearer(agent_key).get("/auth/me").await.expect(200);
    assert_eq!(me["identity"]["actor_id"], "helper-bot");
    // A stranger cannot issue keys for the agent.
    let stranger = app.user("eve").await;
    stranger
        .post("/auth/guardians/helper-bot/api-keys", json!({}))
        .await
        .expect_error(404);

    let id = g["guardianship"]["id"].as_i64().unwrap();
    agent
        .delete(&format!("/auth/me/guardians/{id}"))
        .await
        .expect(200);
    assert!(
        human.get("/auth/me/guardians").await.expect(200)["guarded_agents"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    human
        .post("/auth/guardians/helper-bot/api-keys", json!({}))
        .await
        .expect_error(404);
}
