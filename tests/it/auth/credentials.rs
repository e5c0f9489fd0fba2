//! Credentials (SPEC §5) on a server that requires them: registration, `me`
//! without secrets, login by email or actor id, JWTs (tampered, forged and
//! expired ones refused), API keys (shown once, listed by prefix, revoked,
//! expiring), refused registrations, and the public identity lookup.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::app::JWT_SECRET;
use crate::common::{Client, TestApp};

crate::on_both_backends!(
    start = crate::common::TestApp::required_auth;
    a_registration_gives_a_key_that_names_its_identity,
    login_by_email_or_actor_id_and_a_wrong_password_is_refused,
    tampered_forged_and_expired_jwts_are_refused,
    api_keys_are_shown_once_listed_by_prefix_and_revoked,
    an_expired_api_key_is_refused,
    duplicate_or_weak_registrations_are_refused,
    the_public_lookup_shows_public_fields_only,
);

/// Registers `human:bob` (email `Bob@Example.com`); returns his API key.
async fn bob(app: &TestApp) -> String {
    let reg = app
        .client()
        .post(
            "/auth/register",
            json!({ "actor_type": "human", "actor_id": "bob", "email": "Bob@Example.com", "password": "password-1234" }),
        )
        .await
        .expect(201);
    reg["api_key"].as_str().unwrap().to_owned()
}

/// Logs bob in by email; returns the login body.
async fn login(app: &TestApp) -> Value {
    app.client()
        .post(
            "/auth/login",
            json!({ "email": "bob@example.com", "password": "password-1234" }),
        )
        .await
        .expect(200)
}

async fn a_registration_gives_a_key_that_names_its_identity(app: TestApp) {
    let key = bob(&app).await;
    assert!(key.starts_with("ats_"));
    let me = app.bearer(&key).get("/auth/me").await.expect(200);
    assert_eq!(me["identity"]["actor_id"], "bob");
    assert_eq!(me["identity"]["email"], "bob@example.com");
    assert!(me["identity"].get("password_hash").is_none());
}

/// A wrong password is 401 with no detail.
async fn login_by_email_or_actor_id_and_a_wrong_password_is_refused(app: TestApp) {
    bob(&app).await;
    let login = login(&app).await;
    let jwt = login["token"].as_str().unwrap().to_owned();
    assert!(login["expires_at"].as_str().unwrap().ends_with('Z'));
    app.bearer(&jwt).get("/auth/me").await.expect(200);
    let anon = app.client();
    anon.post(
        "/auth/login",
        json!({ "actor_id": "bob", "password": "password-1234" }),
    )
    .await
    .expect(200);
    for email in ["bob@example.com", "nobody@example.com"] {
        anon.post(
            "/auth/login",
            json!({ "email": email, "password": "wrong-password" }),
        )
        .await
        .expect_error(401);
    }
}

async fn tampered_forged_and_expired_jwts_are_refused(app: TestApp) {
    let key = bob(&app).await;
    let me = app.bearer(&key).get("/auth/me").await.expect(200);
    let jwt = login(&app).await["token"].as_str().unwrap().to_owned();
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
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap();
    app.bearer(&expired).get("/auth/me").await.expect_error(401);
}

/// A new API key of `owner`'s, made from `body` (`name`, `expires_at`).
async fn new_key(owner: &Client, body: Value) -> Value {
    owner.post("/auth/api-keys", body).await.expect(201)["api_key"].clone()
}

async fn api_keys_are_shown_once_listed_by_prefix_and_revoked(app: TestApp) {
    let key = bob(&app).await;
    let created = new_key(&app.bearer(&key), json!({ "name": "ci" })).await;
    let second = created["key"].as_str().unwrap().to_owned();
    let second_id = created["id"].as_i64().unwrap();
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
}

async fn an_expired_api_key_is_refused(app: TestApp) {
    let key = bob(&app).await;
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let short = new_key(
        &app.bearer(&key),
        json!({ "name": "short", "expires_at": soon }),
    )
    .await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    app.bearer(&short).get("/auth/me").await.expect(200);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    app.bearer(&short).get("/auth/me").await.expect_error(401);
}

/// A duplicate registration and a short password are refused.
async fn duplicate_or_weak_registrations_are_refused(app: TestApp) {
    bob(&app).await;
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
}

async fn the_public_lookup_shows_public_fields_only(app: TestApp) {
    let key = bob(&app).await;
    let public = app
        .bearer(&key)
        .get("/auth/identities/bob")
        .await
        .expect(200);
    assert!(public["identity"].get("email").is_none());
    assert_eq!(public["identity"]["display_name"], "bob");
}
