//! Webhook management: CRUD with exact shapes, the secret shown once and
//! rotated, GraphQL parity, who may see webhooks (admins and owners of a
//! real org; 404 to everyone else and in `default`), and the URL policy
//! (https only, no internal address) with hostile input.

use serde_json::{Value, json};

use crate::common::gql;
use crate::common::shapes::{keys, set};
use crate::common::{Backend, Role, TestApp};

crate::on_both_backends!(start = crate::outbound::webhooks::lax; crud_shows_the_secret_once_and_rotates_it);
crate::on_both_backends!(start = crate::outbound::webhooks::lax; graphql_manages_webhooks_like_rest);
crate::on_both_backends!(start = crate::outbound::webhooks::lax_required; only_admins_and_owners_of_a_real_org_see_webhooks);
crate::on_both_backends!(start = crate::common::TestApp::start; urls_must_be_https_and_public);
crate::on_both_backends!(start = crate::outbound::webhooks::lax; hostile_input_is_refused_and_writes_nothing);

/// A server that allows `http://` and loopback receivers (as tests need).
pub async fn lax(backend: Backend) -> Option<TestApp> {
    TestApp::start_with(backend, |c| {
        c.webhook_allow_http = true;
        c.webhook_allow_private = true;
    })
    .await
}

/// The same, requiring credentials.
pub async fn lax_required(backend: Backend) -> Option<TestApp> {
    TestApp::start_with(backend, |c| {
        c.webhook_allow_http = true;
        c.webhook_allow_private = true;
        c.auth = ats::auth::AuthMode::Required;
        c.jwt_secret = Some(crate::common::app::JWT_SECRET.to_owned());
    })
    .await
}

const WEBHOOK_KEYS: &[&str] = &[
    "id",
    "org",
    "url",
    "events",
    "projects",
    "description",
    "active",
    "created_at",
    "updated_at",
    "disabled_at",
];

async fn crud_shows_the_secret_once_and_rotates_it(app: TestApp) {
    let olga = app
        .user("olga")
        .in_org("acme", Role::Owner)
        .with_project("web")
        .await;
    let created = olga
        .post(
            "/orgs/acme/webhooks",
            json!({
                "url": "http://127.0.0.1:9/hook",
                "events": ["task.created", "task.completed"],
                "projects": ["web"],
                "description": "CI"
            }),
        )
        .await
        .expect(201);
    assert_eq!(keys(&created), set(&["webhook", "secret"]));
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(
        secret.starts_with("whsec_") && secret.len() > 30,
        "{secret}"
    );
    let hook = &created["webhook"];
    assert_eq!(keys(hook), set(WEBHOOK_KEYS));
    assert_eq!(hook["url"], "http://127.0.0.1:9/hook");
    assert_eq!(hook["events"], json!(["task.created", "task.completed"]));
    assert_eq!(hook["projects"], json!(["web"]));
    assert_eq!(hook["active"], true);
    assert_eq!(hook["org"], "acme");
    let id = hook["id"].as_i64().unwrap();

    // Never again: not in the list, not in a read.
    let list = olga.get("/orgs/acme/webhooks").await.expect(200);
    assert_eq!(list["webhooks"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(&secret));
    let read = olga
        .get(&format!("/orgs/acme/webhooks/{id}"))
        .await
        .expect(200);
    assert_eq!(read["webhook"], *hook);
    assert!(!read.to_string().contains("whsec_"));

    let patched = olga
        .patch(
            &format!("/orgs/acme/webhooks/{id}"),
            json!({ "events": ["task.*"], "projects": [], "active": false }),
        )
        .await
        .expect(200)["webhook"]
        .clone();
    assert_eq!(patched["events"], json!(["task.*"]));
    assert_eq!(patched["projects"], Value::Null);
    assert_eq!(patched["active"], false);
    assert_eq!(patched["url"], hook["url"]);

    let rotated = olga
        .post(
            &format!("/orgs/acme/webhooks/{id}/rotate-secret"),
            json!({}),
        )
        .await
        .expect(200);
    let new_secret = rotated["secret"].as_str().unwrap();
    assert!(new_secret.starts_with("whsec_"));
    assert_ne!(new_secret, secret);
    assert_eq!(rotated["webhook"]["id"], id);

    let deliveries = olga
        .get(&format!("/orgs/acme/webhooks/{id}/deliveries"))
        .await
        .expect(200);
    assert_eq!(deliveries, json!({ "deliveries": [], "next_cursor": null }));

    let gone = olga
        .delete(&format!("/orgs/acme/webhooks/{id}"))
        .await
        .expect(200);
    assert_eq!(gone, json!({ "deleted": true, "id": id }));
    olga.get(&format!("/orgs/acme/webhooks/{id}"))
        .await
        .expect_error(404);
    assert_eq!(
        olga.get("/orgs/acme/webhooks").await.expect(200),
        json!({ "webhooks": [] })
    );
}

async fn graphql_manages_webhooks_like_rest(app: TestApp) {
    let olga = app.user("olga").in_org("acme", Role::Owner).await;
    let made = gql::ok(
        &olga,
        "mutation($in: CreateWebhookInput!) { createWebhook(org: \"acme\", input: $in) { secret webhook { id url events projects active } } }",
        json!({ "in": { "url": "http://127.0.0.1:9/x", "events": ["task.*"] } }),
    )
    .await;
    let id = made["createWebhook"]["webhook"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        made["createWebhook"]["secret"]
            .as_str()
            .unwrap()
            .starts_with("whsec_")
    );
    assert_eq!(made["createWebhook"]["webhook"]["projects"], Value::Null);
    // REST sees what GraphQL made, and the other way round.
    let rest = olga
        .get(&format!("/orgs/acme/webhooks/{id}"))
        .await
        .expect(200);
    assert_eq!(rest["webhook"]["events"], json!(["task.*"]));
    olga.patch(
        &format!("/orgs/acme/webhooks/{id}"),
        json!({ "description": "bot" }),
    )
    .await
    .expect(200);
    let read = gql::ok(
        &olga,
        "query($id: ID!) { webhook(org: \"acme\", id: $id) { description } webhooks(org: \"acme\") { id } webhookDeliveries(org: \"acme\", id: $id) { deliveries { id } nextCursor } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(read["webhook"]["description"], "bot");
    assert_eq!(read["webhooks"], json!([{ "id": id }]));
    assert_eq!(read["webhookDeliveries"]["deliveries"], json!([]));
    let rotated = gql::ok(
        &olga,
        "mutation($id: ID!) { rotateWebhookSecret(org: \"acme\", id: $id) { secret } updateWebhook(org: \"acme\", id: $id, input: { active: false }) { active } }",
        json!({ "id": id }),
    )
    .await;
    assert!(
        rotated["rotateWebhookSecret"]["secret"]
            .as_str()
            .unwrap()
            .starts_with("whsec_")
    );
    assert_eq!(rotated["updateWebhook"]["active"], false);
    gql::refused(
        &olga,
        "BAD_REQUEST",
        "mutation { createWebhook(org: \"acme\", input: { url: \"ftp://x/\", events: [\"*\"] }) { secret } }",
        json!({}),
    )
    .await;
    let deleted = gql::ok(
        &olga,
        "mutation($id: ID!) { deleteWebhook(org: \"acme\", id: $id) }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(deleted["deleteWebhook"], true);
    gql::refused(
        &olga,
        "NOT_FOUND",
        "query($id: ID!) { webhook(org: \"acme\", id: $id) { id } }",
        json!({ "id": id }),
    )
    .await;
}

async fn only_admins_and_owners_of_a_real_org_see_webhooks(app: TestApp) {
    let olga = app.user("olga").in_org("acme", Role::Owner).await;
    let ada = app.user("ada").in_org("acme", Role::Admin).await;
    let mel = app.user("mel").in_org("acme", Role::Member).await;
    let vic = app.user("vic").in_org("acme", Role::Viewer).await;
    let out = app.user("out").in_org("other", Role::Owner).await;
    let body = json!({ "url": "http://127.0.0.1:9/h", "events": ["*"] });
    let id = olga
        .post("/orgs/acme/webhooks", body.clone())
        .await
        .expect(201)["webhook"]["id"]
        .as_i64()
        .unwrap();
    // An admin manages them too.
    ada.get(&format!("/orgs/acme/webhooks/{id}"))
        .await
        .expect(200);
    ada.post("/orgs/acme/webhooks", body.clone())
        .await
        .expect(201);
    let paths = [
        ("GET", "/orgs/acme/webhooks".to_owned()),
        ("POST", "/orgs/acme/webhooks".to_owned()),
        ("GET", format!("/orgs/acme/webhooks/{id}")),
        ("PATCH", format!("/orgs/acme/webhooks/{id}")),
        ("DELETE", format!("/orgs/acme/webhooks/{id}")),
        ("POST", format!("/orgs/acme/webhooks/{id}/rotate-secret")),
        ("GET", format!("/orgs/acme/webhooks/{id}/deliveries")),
        (
            "POST",
            format!("/orgs/acme/webhooks/{id}/deliveries/1/redeliver"),
        ),
        ("GET", "/orgs/acme/audit".to_owned()),
    ];
    for who in [&mel, &vic, &out] {
        for (method, path) in &paths {
            let res = who.send(method.parse().unwrap(), path, Some(&body)).await;
            assert_eq!(res.status, 404, "{method} {path}: {}", res.body);
        }
    }
    // No credentials: 401.
    for (method, path) in &paths {
        let res = app
            .client()
            .send(method.parse().unwrap(), path, Some(&body))
            .await;
        assert_eq!(res.status, 401, "{method} {path}: {}", res.body);
    }
    // The default org has no owners: nobody has webhooks there.
    olga.get("/orgs/default/webhooks").await.expect_error(404);
    olga.post("/orgs/default/webhooks", body.clone())
        .await
        .expect_error(404);
    olga.get("/orgs/default/audit").await.expect_error(404);
    // Another org's webhook is not found through this one.
    let theirs = out
        .post("/orgs/other/webhooks", body.clone())
        .await
        .expect(201)["webhook"]["id"]
        .as_i64()
        .unwrap();
    olga.get(&format!("/orgs/acme/webhooks/{theirs}"))
        .await
        .expect_error(404);
    olga.delete(&format!("/orgs/acme/webhooks/{theirs}"))
        .await
        .expect_error(404);
    out.get(&format!("/orgs/other/webhooks/{theirs}"))
        .await
        .expect(200);
    // GraphQL answers the same.
    gql::refused(
        &mel,
        "NOT_FOUND",
        "{ webhooks(org: \"acme\") { id } }",
        json!({}),
    )
    .await;
    // A read-only key of the owner does not administer the org.
    let key = olga
        .post("/auth/api-keys", json!({ "name": "ro", "read_only": true }))
        .await
        .expect(201)["api_key"]["key"]
        .as_str()
        .unwrap()
        .to_owned();
    app.bearer(&key)
        .get("/orgs/acme/webhooks")
        .await
        .expect_error(404);
    assert_eq!(
        olga.get("/orgs/acme/webhooks").await.expect(200)["webhooks"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

async fn urls_must_be_https_and_public(app: TestApp) {
    let olga = app.user("olga").in_org("acme", Role::Owner).await;
    for url in [
        "http://93.184.216.34/hook",
        "https://127.0.0.1/hook",
        "https://localhost:8443/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[fd00::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://0.0.0.0/hook",
        "ftp://93.184.216.34/hook",
        "not a url",
        "https://user:pw@93.184.216.34/hook",
    ] {
        let res = olga
            .post(
                "/orgs/acme/webhooks",
                json!({ "url": url, "events": ["*"] }),
            )
            .await;
        assert_eq!(res.status, 422, "{url}: {}", res.body);
        assert_eq!(res.body["code"], "BAD_REQUEST", "{url}");
    }
    // A public address is fine (no DNS needed for a literal).
    let id = olga
        .post(
            "/orgs/acme/webhooks",
            json!({ "url": "https://93.184.216.34/hook", "events": ["*"] }),
        )
        .await
        .expect(201)["webhook"]["id"]
        .as_i64()
        .unwrap();
    // An update is checked the same way.
    olga.patch(
        &format!("/orgs/acme/webhooks/{id}"),
        json!({ "url": "https://127.0.0.1/hook" }),
    )
    .await
    .expect_error(422);
    let list = olga.get("/orgs/acme/webhooks").await.expect(200);
    assert_eq!(list["webhooks"].as_array().unwrap().len(), 1);
    assert_eq!(list["webhooks"][0]["url"], "https://93.184.216.34/hook");
}

async fn hostile_input_is_refused_and_writes_nothing(app: TestApp) {
    let olga = app
        .user("olga")
        .in_org("acme", Role::Owner)
        .with_project("web")
        .await;
    let url = "http://127.0.0.1:9/h";
    let huge = format!("http://127.0.0.1:9/{}", "a".repeat(5000));
    for (body, status) in [
        (json!({ "events": ["*"] }), 422),
        (json!({ "url": url }), 422),
        (json!({ "url": url, "events": [] }), 422),
        (json!({ "url": url, "events": ["task.nope"] }), 422),
        (json!({ "url": url, "events": ["task.created\u{0}"] }), 422),
        (
            json!({ "url": "http://127.0.0.1:9/\u{0}", "events": ["*"] }),
            422,
        ),
        (json!({ "url": huge, "events": ["*"] }), 422),
        (
            json!({ "url": url, "events": ["*"], "projects": ["nope"] }),
            422,
        ),
        (
            json!({ "url": url, "events": ["*"], "projects": ["Bad Slug"] }),
            422,
        ),
        (json!({ "url": url, "events": vec!["*"; 500] }), 422),
        (json!({ "url": 7, "events": ["*"] }), 422),
    ] {
        let res = olga.post("/orgs/acme/webhooks", body.clone()).await;
        assert_eq!(res.status, status, "{body}: {}", res.body);
    }
    assert_eq!(
        olga.get("/orgs/acme/webhooks").await.expect(200),
        json!({ "webhooks": [] })
    );
    olga.get("/orgs/acme/webhooks/abc").await.expect_error(400);
    olga.get("/orgs/acme/webhooks/99999999999999999999")
        .await
        .expect_error(400);
    olga.get("/orgs/acme/webhooks/1/deliveries?status=lost")
        .await
        .expect_error(400);
    olga.get("/orgs/acme/audit?after=x").await.expect_error(400);
    olga.get("/orgs/acme/audit?first=0").await.expect_error(400);
}
