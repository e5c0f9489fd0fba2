//! The audit log (`GET /orgs/{org}/audit`, `Organization.auditLog`): each
//! audited action appears once, with the right actor and target; actions
//! of an identity (API keys, sign-ins, guardians) appear in its orgs;
//! filters and cursor paging; nothing secret in it; 404 to members
//! without admin rights.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::common::sql::Sql;
use crate::common::users::PASSWORD;
use crate::common::{Client, Role, TestApp, gql};

crate::on_both_backends!(
    start = crate::common::TestApp::required_auth;
    every_audited_action_appears_once_with_actor_and_target
);

/// Every record of acme's audit log, newest first, read a page of 3 at a time.
async fn all_entries(c: &Client) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(a) => format!("/orgs/acme/audit?first=3&after={a}"),
            None => "/orgs/acme/audit?first=3".to_owned(),
        };
        let page = c.get(&path).await.expect(200);
        out.extend(page["entries"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => return out,
        }
    }
}

async fn every_audited_action_appears_once_with_actor_and_target(app: TestApp) {
    let olga = app.user("olga").in_org("acme", Role::Owner).await;
    let bob = app.user("bob").await;
    app.user("carl").await;
    let dana = app.user("dana").await;
    let erin = app.user("erin").await;
    let bot = app.agent("bot").await;

    olga.post("/orgs/acme/projects", json!({ "slug": "web" }))
        .await
        .expect(201);
    olga.patch("/orgs/acme/projects/web", json!({ "name": "Web site" }))
        .await
        .expect(200);
    olga.post("/orgs/acme/projects", json!({ "slug": "old" }))
        .await
        .expect(201);
    olga.delete("/orgs/acme/projects/old").await.expect(200);
    olga.patch("/orgs/acme", json!({ "name": "Acme Inc" }))
        .await
        .expect(200);
    olga.post(
        "/orgs/acme/members",
        json!({ "actor_type": "human", "actor_id": "bob", "role": "member" }),
    )
    .await
    .expect(201);
    // A member without admin rights does not see the log.
    bob.get("/orgs/acme/audit").await.expect_error(404);
    gql::refused(
        &bob,
        "NOT_FOUND",
        "{ organization(slug: \"acme\") { auditLog { entries { id } } } }",
        json!({}),
    )
    .await;
    olga.patch("/orgs/acme/members/human/bob", json!({ "role": "admin" }))
        .await
        .expect(200);
    let grant = olga
        .post(
            "/orgs/acme/permissions",
            json!({ "actor_id": "carl", "namespace": "web", "access": "r" }),
        )
        .await
        .expect(201)["permission"]["id"]
        .as_i64()
        .unwrap();
    olga.delete(&format!("/orgs/acme/permissions/{grant}"))
        .await
        .expect(200);
    let invite = |who: &str| json!({ "actor_type": "human", "actor_id": who, "role": "viewer" });
    let to_dana = olga
        .post("/orgs/acme/invitations", invite("dana"))
        .await
        .expect(201);
    let to_erin = olga
        .post("/orgs/acme/invitations", invite("erin"))
        .await
        .expect(201);
    dana.post(
        &format!(
            "/auth/invitations/{}/accept",
            to_dana["token"].as_str().unwrap()
        ),
        json!({}),
    )
    .await
    .expect(200);
    erin.post(
        &format!(
            "/auth/invitations/{}/decline",
            to_erin["token"].as_str().unwrap()
        ),
        json!({}),
    )
    .await
    .expect(200);
    // Identity actions, recorded in the identity's orgs (bob: acme).
    let key = bob
        .post("/auth/api-keys", json!({ "name": "ci" }))
        .await
        .expect(201)["api_key"]
        .clone();
    let secret_key = key["key"].as_str().unwrap().to_owned();
    bob.delete(&format!("/auth/api-keys/{}", key["id"]))
        .await
        .expect(200);
    app.client()
        .post(
            "/auth/login",
            json!({ "actor_id": "bob", "password": PASSWORD }),
        )
        .await
        .expect(200);
    app.client()
        .post(
            "/auth/login",
            json!({ "actor_id": "bob", "password": "not-it-at-all" }),
        )
        .await
        .expect_error(401);
    let link = bot
        .post("/auth/me/guardian-link", json!({}))
        .await
        .expect(201)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let g = olga
        .post(&format!("/auth/guardian-confirm/{link}"), json!({}))
        .await
        .expect(201)["guardianship"]["id"]
        .as_i64()
        .unwrap();
    olga.delete(&format!("/auth/me/guardians/{g}"))
        .await
        .expect(200);
    let hook = olga
        .post(
            "/orgs/acme/webhooks",
            json!({ "url": "https://93.184.216.34/hook", "events": ["task.created"] }),
        )
        .await
        .expect(201);
    let hook_secret = hook["secret"].as_str().unwrap().to_owned();
    let hook_id = hook["webhook"]["id"].as_i64().unwrap();
    olga.patch(
        &format!("/orgs/acme/webhooks/{hook_id}"),
        json!({ "description": "ci" }),
    )
    .await
    .expect(200);
    olga.delete(&format!("/orgs/acme/webhooks/{hook_id}"))
        .await
        .expect(200);
    // Another org's actions stay there.
    let other = app.user("zed").in_org("zeta", Role::Owner).await;
    other
        .post("/orgs/zeta/projects", json!({ "slug": "p" }))
        .await
        .expect(201);
    other.delete("/orgs/zeta").await.expect(200);

    let entries = all_entries(&bob).await;
    let text = Value::Array(entries.clone()).to_string();
    for secret in [&secret_key, &hook_secret, PASSWORD, "not-it-at-all"] {
        assert!(!text.contains(secret), "a secret in the audit log");
    }
    let ids: BTreeSet<i64> = entries.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), entries.len(), "paging repeated a record");
    let mut by_action: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for e in &entries {
        assert_eq!(e["org"], "acme");
        assert_eq!(
            e["type"],
            format!("audit.{}", e["action"].as_str().unwrap())
        );
        by_action
            .entry(e["action"].as_str().unwrap().to_owned())
            .or_default()
            .push(e);
    }
    let expect = [
        ("org.created", "human:olga", "org", "acme"),
        ("project.created", "human:olga", "project", "web"),
        ("project.created", "human:olga", "project", "old"),
        ("project.updated", "human:olga", "project", "web"),
        ("project.deleted", "human:olga", "project", "old"),
        ("org.updated", "human:olga", "org", "acme"),
        ("member.added", "human:olga", "actor", "human:bob"),
        ("member.role_changed", "human:olga", "actor", "human:bob"),
        ("grant.given", "human:olga", "actor", "human:carl"),
        ("grant.revoked", "human:olga", "grant", &grant.to_string()),
        (
            "invitation.accepted",
            "human:dana",
            "invitation",
            &to_dana["invitation"]["id"].to_string(),
        ),
        (
            "invitation.declined",
            "human:erin",
            "invitation",
            &to_erin["invitation"]["id"].to_string(),
        ),
        (
            "api_key.created",
            "human:bob",
            "api_key",
            &key["id"].to_string(),
        ),
        (
            "api_key.revoked",
            "human:bob",
            "api_key",
            &key["id"].to_string(),
        ),
        ("sign_in.succeeded", "human:bob", "actor", "human:bob"),
        ("sign_in.failed", "human:bob", "actor", "human:bob"),
        (
            "guardian.linked",
            "human:olga",
            "guardianship",
            &g.to_string(),
        ),
        (
            "guardian.removed",
            "human:olga",
            "guardianship",
            &g.to_string(),
        ),
        (
            "webhook.created",
            "human:olga",
            "webhook",
            &hook_id.to_string(),
        ),
        (
            "webhook.updated",
            "human:olga",
            "webhook",
            &hook_id.to_string(),
        ),
        (
            "webhook.deleted",
            "human:olga",
            "webhook",
            &hook_id.to_string(),
        ),
    ];
    for (action, actor, target_type, target_id) in expect {
        let all = by_action.get(action).cloned().unwrap_or_default();
        let expected = expect.iter().filter(|x| x.0 == action).count();
        assert_eq!(all.len(), expected, "{action}: {all:#?}");
        let found: Vec<&Value> = all
            .into_iter()
            .filter(|e| e["target_id"] == target_id)
            .collect();
        assert_eq!(found.len(), 1, "{action} of {target_id}: {found:#?}");
        let e = found[0];
        assert_eq!(
            format!(
                "{}:{}",
                e["actor_type"].as_str().unwrap(),
                e["actor_id"].as_str().unwrap()
            ),
            actor,
            "{action}"
        );
        assert_eq!(e["target_type"], target_type, "{action}");
        assert_eq!(e["target_id"], target_id, "{action}");
        assert!(e["created_at"].is_string());
        assert!(
            e["client_ip"].as_str().is_some_and(|ip| !ip.is_empty()),
            "{action}: {e}"
        );
    }
    let sent = &by_action["invitation.sent"];
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|e| e["actor_id"] == "olga"));
    assert_eq!(by_action["sign_in.failed"][0]["data"]["tried"], "actor bob");
    assert!(by_action["member.added"][0]["request_id"].is_string());
    assert!(
        !by_action.contains_key("org.deleted"),
        "zeta's deletion is not acme's"
    );

    // Filters.
    let added = bob
        .get("/orgs/acme/audit?action=member.added")
        .await
        .expect(200);
    assert_eq!(added["entries"].as_array().unwrap().len(), 1);
    let by_bob = bob
        .get("/orgs/acme/audit?actor=human:bob")
        .await
        .expect(200);
    let bob_actions: BTreeSet<&str> = by_bob["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        bob_actions,
        BTreeSet::from([
            "api_key.created",
            "api_key.revoked",
            "sign_in.succeeded",
            "sign_in.failed"
        ])
    );
    // GraphQL reads the same log.
    let data = gql::ok(
        &olga,
        "{ organization(slug: \"acme\") { auditLog(first: 500) { entries { id action actorId targetId } nextCursor } } }",
        json!({}),
    )
    .await;
    let log = &data["organization"]["auditLog"];
    assert_eq!(log["entries"].as_array().unwrap().len(), entries.len());
    assert_eq!(log["nextCursor"], Value::Null);
    let filtered = gql::ok(
        &olga,
        "{ organization(slug: \"acme\") { auditLog(action: \"grant.given\") { entries { actorId targetId } } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        filtered["organization"]["auditLog"]["entries"],
        json!([{ "actorId": "olga", "targetId": "human:carl" }])
    );
    // The deleted org's record outlives it.
    let sql = Sql::open(&app).await;
    assert_eq!(
        sql.int(
            "SELECT COUNT(*) AS n FROM audit_log WHERE action = 'org.deleted'",
            vec![]
        )
        .await,
        1
    );
}
