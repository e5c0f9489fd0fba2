//! Authentication end to end: required mode, credentials of every kind,
//! the guardian and invitation flows, and event isolation between orgs.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::auth_matrix::register;
use crate::common::TestApp;

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
    let gql = forged
        .post("/graphql", json!({ "query": "{ tasks { totalCount } }" }))
        .await;
    assert_eq!(gql.status, 401);
    assert_eq!(
        gql.body["errors"][0]["extensions"]["code"],
        "UNAUTHENTICATED"
    );
    // Nothing was written by any of those.
    let owner = register(&app, "human", "alice").await;
    assert_eq!(owner.get("/tasks").await.expect(200)["count"], 0);
}

/// GraphQL `register` and `login` need no credentials in required mode, as
/// their REST twins don't; anything else sent with them still answers 401.
async fn graphql_sign_in_needs_no_credentials(app: TestApp) {
    let anon = app.client();
    let reg = anon
        .post(
            "/graphql",
            json!({ "query": r#"mutation { register(input: { actorType: "human", actorId: "gq",
                email: "gq@example.com", password: "correct horse 1" }) { token identity { actorId } } }"# }),
        )
        .await;
    assert_eq!(reg.status, 200, "{}", reg.body);
    assert_eq!(reg.body["data"]["register"]["identity"]["actorId"], "gq");
    let login = |password: &str| {
        json!({
            "query": "mutation L($p: String!) { login(input: { email: \"gq@example.com\", password: $p }) { token } }",
            "variables": { "p": password },
        })
    };
    let ok = anon.post("/graphql", login("correct horse 1")).await;
    let token = ok.body["data"]["login"]["token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let me = app
        .bearer(&token)
        .post("/graphql", json!({ "query": "{ me { actorId } }" }))
        .await;
    assert_eq!(me.body["data"]["me"]["actorId"], "gq", "{}", me.body);
    let wrong = anon.post("/graphql", login("wrong")).await;
    assert_eq!(
        wrong.body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{}",
        wrong.body
    );
    for query in [
        r#"mutation { login(input: { email: "gq@example.com", password: "x" }) { token } createTask(input: { title: "t" }) { id } }"#,
        "{ tasks { totalCount } }",
        r#"mutation A { login(input: { email: "e", password: "x" }) { token } } mutation B { createTask(input: { title: "t" }) { id } }"#,
    ] {
        let res = anon.post("/graphql", json!({ "query": query })).await;
        assert_eq!(res.status, 401, "{query}: {}", res.body);
    }
    let res = anon
        .post(
            "/graphql",
            json!({ "query": r#"mutation A { login(input: { email: "e", password: "x" }) { token } } mutation B { createTask(input: { title: "t" }) { id } }"#, "operationName": "B" }),
        )
        .await;
    assert_eq!(res.status, 401, "{}", res.body);
}

/// API keys and JWTs: valid ones work; revoked, expired, tampered and forged ones are refused.
async fn credentials_are_checked(app: TestApp) {
    let reg = app
        .client()
        .post(
            "/auth/register",
            json!({ "actor_type": "human", "actor_id": "bob", "email": "Bob@Example.com", "password": "password-1234" }),
        )
        .await
        .expect(201);
    let key = reg["api_key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("ats_"));
    let me = app.bearer(&key).get("/auth/me").await.expect(200);
    assert_eq!(me["identity"]["actor_id"], "bob");
    assert_eq!(me["identity"]["email"], "bob@example.com");
    assert!(me["identity"].get("password_hash").is_none());

    // Login by email and by actor id; wrong password is 401 with no detail.
    let login = app
        .client()
        .post(
            "/auth/login",
            json!({ "email": "bob@example.com", "password": "password-1234" }),
        )
        .await
        .expect(200);
    let jwt = login["token"].as_str().unwrap().to_owned();
    assert!(login["expires_at"].as_str().unwrap().ends_with('Z'));
    app.bearer(&jwt).get("/auth/me").await.expect(200);
    app.client()
        .post(
            "/auth/login",
            json!({ "actor_id": "bob", "password": "password-1234" }),
        )
        .await
        .expect(200);
    app.client()
        .post(
            "/auth/login",
            json!({ "email": "bob@example.com", "password": "wrong-password" }),
        )
        .await
        .expect_error(401);
    app.client()
        .post(
            "/auth/login",
            json!({ "email": "nobody@example.com", "password": "wrong-password" }),
        )
        .await
        .expect_error(401);

    // A tampered JWT (payload changed, signature kept) and a garbage one are refused.
    let parts: Vec<&str> = jwt.split('.').collect();
    let forged_payload = format!("{}.{}x.{}", parts[0], parts[1], parts[2]);
    app.bearer(&forged_payload)
        .get("/auth/me")
        .await
        .expect_error(401);
    let other_sig = format!("{}.{}.{}", parts[0], parts[1], "AAAA");
    app.bearer(&other_sig)
        .get("/auth/me")
        .await
        .expect_error(401);
    // An expired JWT signed with the server's secret is refused.
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({ "sub": me["identity"]["id"].to_string(), "atp": "human", "aid": "bob", "iat": 1, "exp": 100 }),
        &jsonwebtoken::EncodingKey::from_secret(b"test-secret-test-secret-test-secret!"),
    )
    .unwrap();
    app.bearer(&expired).get("/auth/me").await.expect_error(401);

    // API keys: created (shown once), listed by prefix only, revoked.
    let created = app
        .bearer(&key)
        .post("/auth/api-keys", json!({ "name": "ci" }))
        .await
        .expect(201);
    let second = created["api_key"]["key"].as_str().unwrap().to_owned();
    let second_id = created["api_key"]["id"].as_i64().unwrap();
    app.bearer(&second).get("/auth/me").await.expect(200);
    let listed = app.bearer(&key).get("/auth/api-keys").await.expect(200);
    let text = listed.to_string();
    assert!(
        !text.contains(&second) && !text.contains(&key),
        "keys must never be listed"
    );
    assert_eq!(listed["api_keys"].as_array().unwrap().len(), 2);
    assert!(listed["api_keys"][1]["last_used_at"].is_string());
    app.bearer(&key)
        .delete(&format!("/auth/api-keys/{second_id}"))
        .await
        .expect(200);
    app.bearer(&second).get("/auth/me").await.expect_error(401);

    // An expired key is refused.
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let short = app
        .bearer(&key)
        .post(
            "/auth/api-keys",
            json!({ "name": "short", "expires_at": soon }),
        )
        .await
        .expect(201)["api_key"]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    app.bearer(&short).get("/auth/me").await.expect(200);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    app.bearer(&short).get("/auth/me").await.expect_error(401);

    // Duplicate registration and a short password are refused.
    app.client()
        .post(
            "/auth/register",
            json!({ "actor_type": "human", "actor_id": "bob", "password": "password-1234" }),
        )
        .await
        .expect_error(409);
    app.client()
        .post(
            "/auth/register",
            json!({ "actor_type": "human", "actor_id": "carol", "password": "short" }),
        )
        .await
        .expect_error(422);
    // Public lookup shows public fields only.
    let public = app
        .bearer(&key)
        .get("/auth/identities/bob")
        .await
        .expect(200);
    assert!(public["identity"].get("email").is_none());
    assert_eq!(public["identity"]["display_name"], "bob");
}

/// An agent links a human guardian, who then issues the agent a key; either side can end it.
async fn guardian_flow(app: TestApp) {
    let agent = register(&app, "agent", "helper-bot").await;
    let human = register(&app, "human", "dana").await;
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
    let stranger = register(&app, "human", "eve").await;
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

/// An admin invites by email and by actor; invitees list, accept or decline.
async fn invitation_flow(app: TestApp) {
    let owner = register(&app, "human", "olga").await;
    owner
        .post("/orgs", json!({ "slug": "acme" }))
        .await
        .expect(201);
    owner
        .post("/orgs/acme/projects", json!({ "slug": "web" }))
        .await
        .expect(201);
    let task = owner
        .post("/orgs/acme/projects/web/tasks", json!({ "title": "t" }))
        .await
        .expect(201)["task"]["id"]
        .as_i64()
        .unwrap();

    let reg = app
        .client()
        .post(
            "/auth/register",
            json!({ "actor_type": "human", "actor_id": "ivan", "email": "ivan@example.com", "password": "password-1234" }),
        )
        .await
        .expect(201);
    let ivan = app.bearer(reg["api_key"].as_str().unwrap());
    let bot = register(&app, "agent", "bot-7").await;
    ivan.get(&format!("/tasks/{task}")).await.expect_error(404);

    let by_email = owner
        .post(
            "/orgs/acme/invitations",
            json!({ "email": "ivan@example.com", "role": "member" }),
        )
        .await
        .expect(201);
    let email_token = by_email["token"].as_str().unwrap().to_owned();
    let by_actor = owner
        .post(
            "/orgs/acme/invitations",
            json!({ "actor_type": "agent", "actor_id": "bot-7", "role": "viewer" }),
        )
        .await
        .expect(201);
    let actor_token = by_actor["token"].as_str().unwrap().to_owned();
    let listed = owner.get("/orgs/acme/invitations").await.expect(200);
    assert_eq!(listed["invitations"].as_array().unwrap().len(), 2);
    assert!(
        !listed.to_string().contains(&email_token),
        "tokens are shown only at creation"
    );

    let mine = ivan.get("/auth/invitations").await.expect(200);
    assert_eq!(mine["invitations"].as_array().unwrap().len(), 1);
    assert_eq!(mine["invitations"][0]["org"], "acme");
    // Someone else's token does not work for me.
    ivan.post(
        &format!("/auth/invitations/{actor_token}/accept"),
        json!({}),
    )
    .await
    .expect_error(404);
    let accepted = ivan
        .post(
            &format!("/auth/invitations/{email_token}/accept"),
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(accepted["invitation"]["status"], "accepted");
    ivan.get(&format!("/tasks/{task}")).await.expect(200);
    ivan.patch(&format!("/tasks/{task}"), json!({ "priority": 9 }))
        .await
        .expect(200);
    ivan.post(
        &format!("/auth/invitations/{email_token}/accept"),
        json!({}),
    )
    .await
    .expect_error(409);

    let declined = bot
        .post(
            &format!("/auth/invitations/{actor_token}/decline"),
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(declined["invitation"]["status"], "declined");
    bot.get(&format!("/tasks/{task}")).await.expect_error(404);

    let members = owner.get("/orgs/acme/members").await.expect(200);
    let ids: Vec<&str> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["actor_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["olga", "ivan"]);
    // The last owner cannot leave or be demoted.
    owner
        .patch("/orgs/acme/members/human/olga", json!({ "role": "admin" }))
        .await
        .expect_error(409);
    owner
        .delete("/orgs/acme/members/human/olga")
        .await
        .expect_error(409);
    // A member cannot invite.
    ivan.post(
        "/orgs/acme/invitations",
        json!({ "email": "x@example.com" }),
    )
    .await
    .expect_error(403);
}

async fn next_event(
    ws: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin),
) -> Option<Value> {
    loop {
        match tokio::time::timeout(Duration::from_millis(1500), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"].as_str().is_some_and(|t| t.starts_with("task.")) {
                    return Some(v);
                }
            }
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
}

/// Subscribers receive only events of projects they may read (two orgs).
async fn subscribers_see_only_their_orgs(app: TestApp) {
    let a = register(&app, "human", "ann").await;
    let b = register(&app, "human", "ben").await;
    a.post("/orgs", json!({ "slug": "org-a" }))
        .await
        .expect(201);
    a.post("/orgs/org-a/projects", json!({ "slug": "p" }))
        .await
        .expect(201);
    b.post("/orgs", json!({ "slug": "org-b" }))
        .await
        .expect(201);
    b.post("/orgs/org-b/projects", json!({ "slug": "p" }))
        .await
        .expect(201);
    let ben_key = b.post("/auth/api-keys", json!({})).await.expect(201)["api_key"]["key"]
        .as_str()
        .unwrap()
        .to_owned();

    // Without credentials the socket is refused.
    assert!(
        tokio_tungstenite::connect_async(app.ws_url(""))
            .await
            .is_err()
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(app.ws_url(&format!("token={ben_key}")))
        .await
        .unwrap();
    ws.send(Message::Text(
        json!({ "type": "subscribe", "id": "all" })
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    // Asking for a project it cannot see is refused like an unknown one.
    ws.send(Message::Text(
        json!({ "type": "subscribe", "id": "spy", "projects": ["org-a/p"] })
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    a.post(
        "/orgs/org-a/projects/p/tasks",
        json!({ "title": "private to a" }),
    )
    .await
    .expect(201);
    b.post("/orgs/org-b/projects/p/tasks", json!({ "title": "for b" }))
        .await
        .expect(201);
    let first = next_event(&mut ws).await.expect("ben gets his own event");
    assert_eq!(first["data"]["task"]["title"], "for b");
    assert_eq!(first["subscription_id"], "all");
    assert!(
        next_event(&mut ws).await.is_none(),
        "ben must not receive org-a events"
    );

    // The same over GraphQL subscriptions.
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        app.base.replacen("http://", "ws://", 1) + "/graphql/ws",
    )
    .unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut gws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {ben_key}") } });
    gws.send(Message::Text(init.to_string().into()))
        .await
        .unwrap();
    let ack = tokio::time::timeout(Duration::from_secs(5), gws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(ack.to_string().contains("connection_ack"), "{ack}");
    let sub = json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { taskEvents { type data } }" } });
    gws.send(Message::Text(sub.to_string().into()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.post(
        "/orgs/org-a/projects/p/tasks",
        json!({ "title": "private again" }),
    )
    .await
    .expect(201);
    b.post(
        "/orgs/org-b/projects/p/tasks",
        json!({ "title": "b again" }),
    )
    .await
    .expect(201);
    let mut titles = Vec::new();
    while let Ok(Some(Ok(Message::Text(t)))) =
        tokio::time::timeout(Duration::from_millis(1500), gws.next()).await
    {
        let v: Value = serde_json::from_str(&t).unwrap();
        if v["type"] == "next" {
            titles.push(
                v["payload"]["data"]["taskEvents"]["data"]["task"]["title"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
    }
    assert_eq!(titles, ["b again"]);
}

crate::on_both_backends!(
    start = crate::auth_matrix::required_app;
    required_mode_needs_credentials,
    graphql_sign_in_needs_no_credentials,
    credentials_are_checked,
    guardian_flow,
    invitation_flow,
    subscribers_see_only_their_orgs,
);

/// `POST /_test/reset` exists only under `ATS_ENV=test`, and wipes everything but `default/main`.
async fn test_reset_only_in_test_env(app: TestApp) {
    let c = app.actor("human", "tester");
    c.create_task(json!({ "title": "keep me" })).await;
    c.post("/_test/reset", json!({})).await.expect_error(404);
    assert_eq!(c.get("/tasks").await.expect(200)["count"], 1);

    let Some(test_app) =
        TestApp::start_with(app.backend, |cfg| cfg.environment = "test".to_owned()).await
    else {
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

crate::on_both_backends!(test_reset_only_in_test_env);
