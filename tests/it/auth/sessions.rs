//! Sessions and credentials a user or operator can end or limit: logout
//! (on every replica), password change and operator-issued reset tokens
//! (both end earlier login tokens), API keys limited to reading or to named
//! projects, registration modes, and email invitations that belong to
//! whoever held the address when they were made.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::app::JWT_SECRET;
use crate::common::gql::gql;
use crate::common::shapes::id;
use crate::common::users::PASSWORD;
use crate::common::{Backend, Client, Role, TestApp};

crate::on_both_backends!(
    start = crate::common::TestApp::required_auth;
    logout_ends_that_session_only,
    a_password_change_ends_every_earlier_token,
    a_reset_token_sets_a_new_password_once,
    limited_keys_read_only_or_named_projects,
    email_invitations_belong_to_the_address_holder_at_invitation_time,
    session_routes_refuse_outsiders_revoked_keys_and_hostile_input,
);

crate::on_both_backends!(
    start = crate::auth::sessions::invite_only;
    invite_only_registration_needs_an_invitation,
);

crate::on_both_backends!(
    start = crate::auth::sessions::closed;
    closed_registration_refuses_everyone,
);

async fn invite_only(backend: Backend) -> Option<TestApp> {
    TestApp::start_with(backend, |c| {
        c.auth = ats::auth::AuthMode::Required;
        c.jwt_secret = Some(JWT_SECRET.to_owned());
        c.registration = ats::auth::RegistrationMode::Invite;
    })
    .await
}

async fn closed(backend: Backend) -> Option<TestApp> {
    TestApp::start_with(backend, |c| {
        c.auth = ats::auth::AuthMode::Required;
        c.jwt_secret = Some(JWT_SECRET.to_owned());
        c.registration = ats::auth::RegistrationMode::Closed;
    })
    .await
}

/// Registers `human:<id>` with `email` and the test password; returns its
/// API key.
async fn register(app: &TestApp, id: &str, email: &str) -> String {
    let body = json!({ "actor_id": id, "email": email, "password": PASSWORD });
    let reg = app.client().post("/auth/register", body).await.expect(201);
    reg["api_key"].as_str().unwrap().to_owned()
}

async fn login(app: &TestApp, email: &str, password: &str) -> Client {
    let body = json!({ "email": email, "password": password });
    let res = app.client().post("/auth/login", body).await.expect(200);
    app.bearer(res["token"].as_str().unwrap())
}

async fn logout_ends_that_session_only(app: TestApp) {
    let key = app.bearer(&register(&app, "lou", "lou@example.com").await);
    let first = login(&app, "lou@example.com", PASSWORD).await;
    let second = login(&app, "lou@example.com", PASSWORD).await;
    let replica = (app.backend == Backend::Postgres).then_some(app.replica().await);
    let on_replica = |c: &Client| match &replica {
        Some(r) => c.at(&r.base),
        None => c.clone(),
    };
    // Both sessions work here and on the other replica (whose credential
    // cache now knows the first token).
    for c in [&first, &second] {
        c.get("/auth/me").await.expect(200);
        on_replica(c).get("/auth/me").await.expect(200);
    }

    let out = first.post("/auth/logout", json!({})).await.expect(200);
    assert_eq!(out, json!({ "logged_out": true }));
    first.get("/auth/me").await.expect_error(401);
    first.get("/tasks").await.expect_error(401);
    // Every replica refuses it within a second.
    let mut refused = false;
    for _ in 0..20 {
        if on_replica(&first).get("/auth/me").await.status == 401 {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        refused,
        "the other replica still accepts a logged-out token"
    );
    // Logging out again, the other session and the API key.
    first
        .post("/auth/logout", json!({}))
        .await
        .expect_error(401);
    second.get("/auth/me").await.expect(200);
    let err = key.post("/auth/logout", json!({})).await.expect_error(422);
    assert!(err["error"].as_str().unwrap().contains("api-keys"), "{err}");
    key.get("/auth/me").await.expect(200);

    // The same over GraphQL.
    let r = gql(&second, "mutation { logout }", json!({})).await;
    assert_eq!(r["data"]["logout"], true, "{r}");
    second.get("/auth/me").await.expect_error(401);
}

async fn a_password_change_ends_every_earlier_token(app: TestApp) {
    let key = app.bearer(&register(&app, "pat", "pat@example.com").await);
    let a = login(&app, "pat@example.com", PASSWORD).await;
    let b = login(&app, "pat@example.com", PASSWORD).await;
    let change =
        |current: &str, new: &str| json!({ "current_password": current, "new_password": new });

    let e = a
        .post("/auth/password", change("wrong-password", "new-password-1"))
        .await
        .expect_error(403);
    assert_eq!(e["code"], "FORBIDDEN");
    a.get("/auth/me").await.expect(200);
    a.post("/auth/password", change(PASSWORD, "short"))
        .await
        .expect_error(422);
    a.post(
        "/auth/password",
        json!({ "new_password": "new-password-1" }),
    )
    .await
    .expect_error(422);
    // Nothing changed by the refusals.
    a.get("/auth/me").await.expect(200);

    let done = a
        .post("/auth/password", change(PASSWORD, "new-password-1"))
        .await
        .expect(200);
    assert_eq!(done["identity"]["actor_id"], "pat");
    let fresh = app.bearer(done["token"].as_str().unwrap());
    fresh.get("/auth/me").await.expect(200);
    a.get("/auth/me").await.expect_error(401);
    b.get("/auth/me").await.expect_error(401);
    // API keys are separate credentials: they keep working.
    key.get("/auth/me").await.expect(200);
    let old = json!({ "email": "pat@example.com", "password": PASSWORD });
    app.client()
        .post("/auth/login", old)
        .await
        .expect_error(401);
    login(&app, "pat@example.com", "new-password-1").await;

    // GraphQL, and a limited key may not change it.
    let r = gql(
        &fresh,
        "mutation { changePassword(currentPassword: \"new-password-1\", newPassword: \"new-password-2\") { token identity { actorId } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        r["data"]["changePassword"]["identity"]["actorId"], "pat",
        "{r}"
    );
    fresh.get("/auth/me").await.expect_error(401);
    let limited = key
        .post("/auth/api-keys", json!({ "name": "ro", "read_only": true }))
        .await
        .expect(201);
    let limited = app.bearer(limited["api_key"]["key"].as_str().unwrap());
    let e = limited
        .post("/auth/password", change("new-password-2", "new-password-3"))
        .await
        .expect_error(403);
    assert!(e["error"].as_str().unwrap().contains("read-only"), "{e}");
}

async fn a_reset_token_sets_a_new_password_once(app: TestApp) {
    register(&app, "rita", "rita@example.com").await;
    let before = login(&app, "rita@example.com", PASSWORD).await;
    let issued = ats::app::issue_password_reset(app.config(), "rita@example.com")
        .await
        .unwrap();
    assert_eq!(issued.actor_id, "rita");
    let unknown = ats::app::issue_password_reset(app.config(), "nobody@example.com").await;
    assert!(matches!(unknown, Err(ats::error::Error::NotFound(_))));

    let anon = app.client();
    let reset = |token: &str, new: &str| json!({ "token": token, "new_password": new });
    let e = anon
        .post(
            "/auth/password/reset",
            reset("atsr_forged", "new-password-1"),
        )
        .await
        .expect_error(404);
    assert_eq!(e["code"], "NOT_FOUND");
    anon.post("/auth/password/reset", reset(&issued.token, "short"))
        .await
        .expect_error(422);
    before.get("/auth/me").await.expect(200);

    let done = anon
        .post(
            "/auth/password/reset",
            reset(&issued.token, "new-password-1"),
        )
        .await
        .expect(200);
    app.bearer(done["token"].as_str().unwrap())
        .get("/auth/me")
        .await
        .expect(200);
    before.get("/auth/me").await.expect_error(401);
    login(&app, "rita@example.com", "new-password-1").await;
    // Once only.
    anon.post(
        "/auth/password/reset",
        reset(&issued.token, "new-password-2"),
    )
    .await
    .expect_error(404);

    // Over GraphQL, without credentials.
    let again = ats::app::issue_password_reset(app.config(), "rita")
        .await
        .unwrap();
    let r = gql(
        &anon,
        "mutation($t: String!) { resetPassword(token: $t, newPassword: \"new-password-3\") { identity { actorId } } }",
        json!({ "t": again.token }),
    )
    .await;
    assert_eq!(
        r["data"]["resetPassword"]["identity"]["actorId"], "rita",
        "{r}"
    );
    login(&app, "rita@example.com", "new-password-3").await;
}

async fn limited_keys_read_only_or_named_projects(app: TestApp) {
    let owner = app
        .user("kim")
        .in_org("acme", Role::Owner)
        .with_project("web")
        .with_project("api")
        .await;
    let web = id(&owner
        .post("/orgs/acme/projects/web/tasks", json!({ "title": "w" }))
        .await
        .expect(201)["task"]);
    let api = id(&owner
        .post("/orgs/acme/projects/api/tasks", json!({ "title": "a" }))
        .await
        .expect(201)["task"]);
    let key = |body: Value| {
        let owner = owner.clone();
        async move {
            let made = owner.post("/auth/api-keys", body).await.expect(201);
            made["api_key"].clone()
        }
    };

    // Read-only: reads everything the identity reads, changes nothing.
    let ro = key(json!({ "name": "dashboard", "read_only": true })).await;
    assert_eq!(ro["read_only"], true);
    let ro = app.bearer(ro["key"].as_str().unwrap());
    ro.get(&format!("/tasks/{web}")).await.expect(200);
    ro.get(&format!("/tasks/{api}")).await.expect(200);
    ro.post("/orgs/acme/projects/web/tasks", json!({ "title": "x" }))
        .await
        .expect_error(403);
    ro.patch(&format!("/tasks/{web}"), json!({ "title": "y" }))
        .await
        .expect_error(403);
    ro.post(
        "/orgs/acme/members",
        json!({ "actor_type": "human", "actor_id": "kim", "role": "viewer" }),
    )
    .await
    .expect_error(403);
    ro.post("/orgs", json!({ "slug": "ro-org" }))
        .await
        .expect_error(403);
    ro.post("/auth/api-keys", json!({ "name": "wider" }))
        .await
        .expect_error(403);

    // Limited to acme/web: the rest of the org is out of sight.
    let w = key(json!({ "name": "ci", "projects": ["acme/web"] })).await;
    assert_eq!(w["projects"], json!(["acme/web"]));
    let w = app.bearer(w["key"].as_str().unwrap());
    w.get(&format!("/tasks/{web}")).await.expect(200);
    w.get(&format!("/tasks/{api}")).await.expect_error(404);
    w.post("/orgs/acme/projects/web/tasks", json!({ "title": "ok" }))
        .await
        .expect(201);
    w.post("/orgs/acme/projects/api/tasks", json!({ "title": "no" }))
        .await
        .expect_error(404);
    let listed = w.get("/tasks").await.expect(200);
    let ids: Vec<i64> = listed["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert!(ids.contains(&web) && !ids.contains(&api), "{listed}");
    let projects = w.get("/orgs/acme/projects").await.expect(200);
    assert_eq!(
        projects["projects"].as_array().unwrap().len(),
        1,
        "{projects}"
    );
    w.delete("/orgs/acme/projects/api").await.expect_error(404);
    w.delete("/orgs/acme/projects/web").await.expect_error(403);

    // Bad scopes write nothing.
    for bad in [
        json!({ "projects": [] }),
        json!({ "projects": ["acme"] }),
        json!({ "projects": ["acme/../web"] }),
    ] {
        owner.post("/auth/api-keys", bad).await.expect_error(422);
    }
    let keys = owner.get("/auth/api-keys").await.expect(200);
    assert_eq!(keys["api_keys"].as_array().unwrap().len(), 3, "{keys}");
}

async fn email_invitations_belong_to_the_address_holder_at_invitation_time(app: TestApp) {
    let owner = app.user("olga").in_org("acme", Role::Owner).await;
    let ivan = app.user("ivan").with_email("ivan@example.com").await;
    let mallory = app.user("mallory").with_email("mallory@example.com").await;
    let invite = |email: &str| {
        let owner = owner.clone();
        let body = json!({ "email": email, "role": "admin" });
        async move {
            let made = owner.post("/orgs/acme/invitations", body).await.expect(201);
            made["token"].as_str().unwrap().to_owned()
        }
    };
    let count = |c: &Client| {
        let c = c.clone();
        async move {
            c.get("/auth/invitations").await.expect(200)["invitations"]
                .as_array()
                .unwrap()
                .len()
        }
    };

    // To an address nobody holds: taking the address later shows nothing.
    let unclaimed = invite("new-hire@example.com").await;
    mallory
        .patch("/auth/me", json!({ "email": "new-hire@example.com" }))
        .await
        .expect(200);
    assert_eq!(count(&mallory).await, 0);

    // To ivan's address: ivan keeps it after changing his email, and the
    // next holder of the address neither sees nor accepts it.
    let for_ivan = invite("ivan@example.com").await;
    ivan.patch("/auth/me", json!({ "email": "ivan@elsewhere.example" }))
        .await
        .expect(200);
    mallory
        .patch("/auth/me", json!({ "email": "ivan@example.com" }))
        .await
        .expect(200);
    assert_eq!(count(&mallory).await, 0);
    assert_eq!(count(&ivan).await, 1);
    mallory
        .post(&format!("/auth/invitations/{for_ivan}/accept"), json!({}))
        .await
        .expect_error(404);
    mallory.get("/orgs/acme").await.expect_error(404);
    ivan.post(&format!("/auth/invitations/{for_ivan}/accept"), json!({}))
        .await
        .expect(200);
    ivan.get("/orgs/acme").await.expect(200);

    // The token of an unclaimed invitation is the proof: whoever the
    // inviter hands it to may accept it, once.
    let newcomer = app.user("nina").with_email("nina@example.com").await;
    newcomer
        .post(&format!("/auth/invitations/{unclaimed}/accept"), json!({}))
        .await
        .expect(200);
    mallory
        .post(&format!("/auth/invitations/{unclaimed}/accept"), json!({}))
        .await
        .expect_error(409);
}

async fn invite_only_registration_needs_an_invitation(app: TestApp) {
    // The first identity bootstraps the server; it makes an org and invites.
    let key = register(&app, "opal", "opal@example.com").await;
    let owner = app.bearer(&key);
    owner
        .post("/orgs", json!({ "slug": "acme" }))
        .await
        .expect(201);
    let anon = app.client();
    let body = |id: &str, email: &str, invitation: Option<&str>| {
        let mut b = json!({ "actor_id": id, "email": email, "password": PASSWORD });
        if let Some(t) = invitation {
            b["invitation"] = json!(t);
        }
        b
    };
    let e = anon
        .post("/auth/register", body("eve", "eve@example.com", None))
        .await
        .expect_error(403);
    assert!(e["error"].as_str().unwrap().contains("invitation"), "{e}");
    // No oracle for outsiders: a taken email answers the same as a free one.
    let e = anon
        .post("/auth/register", body("eve", "opal@example.com", None))
        .await
        .expect_error(403);
    assert!(e["error"].as_str().unwrap().contains("invitation"), "{e}");
    anon.post(
        "/auth/register",
        body("eve", "eve@example.com", Some("atsi_forged")),
    )
    .await
    .expect_error(404);

    let made = owner
        .post(
            "/orgs/acme/invitations",
            json!({ "email": "dan@example.com", "role": "member" }),
        )
        .await
        .expect(201);
    let token = made["token"].as_str().unwrap();
    let reg = anon
        .post(
            "/auth/register",
            body("dan", "dan@example.com", Some(token)),
        )
        .await
        .expect(201);
    let dan = app.bearer(reg["api_key"].as_str().unwrap());
    let members = dan.get("/orgs/acme/members").await.expect(200);
    assert!(members.to_string().contains("\"dan\""), "{members}");
    // Spent.
    anon.post(
        "/auth/register",
        body("dan2", "dan2@example.com", Some(token)),
    )
    .await
    .expect_error(404);

    // An actor invitation registers that actor only.
    let made = owner
        .post(
            "/orgs/acme/invitations",
            json!({ "actor_type": "agent", "actor_id": "bot-1", "role": "member" }),
        )
        .await
        .expect(201);
    let token = made["token"].as_str().unwrap();
    let wrong = json!({ "actor_type": "agent", "actor_id": "bot-2", "invitation": token });
    anon.post("/auth/register", wrong).await.expect_error(404);
    let right = json!({ "actor_type": "agent", "actor_id": "bot-1", "invitation": token });
    anon.post("/auth/register", right).await.expect(201);
    // Nothing was made by the refusals.
    for refused in ["eve", "dan2", "bot-2"] {
        owner
            .get(&format!("/auth/identities/{refused}"))
            .await
            .expect_error(404);
    }
}

async fn closed_registration_refuses_everyone(app: TestApp) {
    let body = json!({ "actor_id": "zoe", "email": "zoe@example.com", "password": PASSWORD });
    let e = app
        .client()
        .post("/auth/register", body)
        .await
        .expect_error(403);
    assert_eq!(e["code"], "FORBIDDEN");
    let r = crate::common::gql::post(
        &app.client(),
        "mutation { register(input: {actorId: \"zoe\", password: \"password-1234\"}) { token } }",
        json!({}),
    )
    .await
    .expect(200);
    assert_eq!(r["errors"][0]["extensions"]["code"], "FORBIDDEN", "{r}");
    let zoe = ats::app::issue_password_reset(app.config(), "zoe").await;
    assert!(
        matches!(zoe, Err(ats::error::Error::NotFound(_))),
        "zoe exists"
    );
}

/// The session routes as an attacker tries them: without credentials, with
/// a revoked key, with another user's reset token spent, and with hostile
/// passwords (NUL, oversize); nothing changes.
async fn session_routes_refuse_outsiders_revoked_keys_and_hostile_input(app: TestApp) {
    let anon = app.client();
    anon.post("/auth/logout", json!({})).await.expect_error(401);
    let change = json!({ "current_password": PASSWORD, "new_password": "new-password-1" });
    anon.post("/auth/password", change.clone())
        .await
        .expect_error(401);

    let key = register(&app, "vic", "vic@example.com").await;
    let owner = app.bearer(&key);
    let spare = owner
        .post("/auth/api-keys", json!({ "name": "spare" }))
        .await
        .expect(201);
    let spare_id = spare["api_key"]["id"].as_i64().unwrap();
    let spare = app.bearer(spare["api_key"]["key"].as_str().unwrap());
    spare.get("/auth/me").await.expect(200);
    owner
        .delete(&format!("/auth/api-keys/{spare_id}"))
        .await
        .expect(200);
    spare
        .post("/auth/password", change.clone())
        .await
        .expect_error(401);
    spare
        .post("/auth/api-keys", json!({ "name": "again" }))
        .await
        .expect_error(401);

    for bad in ["new\u{0}password", &"x".repeat(10_000)] {
        let body = json!({ "current_password": PASSWORD, "new_password": bad });
        owner.post("/auth/password", body).await.expect_error(422);
    }
    let body = json!({ "token": "atsr_x\u{0}", "new_password": "new-password-1" });
    anon.post("/auth/password/reset", body)
        .await
        .expect_error(422);
    // The password is still the first one.
    login(&app, "vic@example.com", PASSWORD).await;
}
