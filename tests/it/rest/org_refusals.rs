//! Refused organization requests (SPEC §5, §6): slug rules, duplicates and
//! bad bodies, unknown orgs, the protected `default` org, strangers and
//! admins. Each gets `{"error","code"}` and writes nothing.

use reqwest::Method;
use serde_json::json;

use crate::common::refusals::{Scope, refused, snapshot};
use crate::common::shapes::slugs;
use crate::common::{Client, Role, TestApp};

crate::on_both_backends!(
    a_stranger_sees_only_default_and_gets_not_found,
    bad_slugs_duplicates_and_bodies_are_refused_on_create,
    bad_slugs_duplicates_and_bodies_are_refused_on_patch,
    an_unknown_org_is_not_found,
    the_default_org_cannot_be_deleted_or_renamed,
    only_the_owner_deletes_an_org,
);

/// `human:olivia` with orgs acme-corp and solo.
async fn olivia(app: &TestApp) -> Client {
    let c = app.actor("human", "olivia");
    for slug in ["acme-corp", "solo"] {
        c.post("/orgs", json!({ "slug": slug })).await.expect(201);
    }
    c
}

async fn a_stranger_sees_only_default_and_gets_not_found(app: TestApp) {
    olivia(&app).await;
    let stranger = app.actor("human", "stranger");
    assert_eq!(
        slugs(&stranger.get("/orgs").await.expect(200), "organizations"),
        ["default"]
    );
    stranger.get("/orgs/acme-corp").await.expect_error(404);
    let orgs = Scope::Orgs;
    refused(
        &stranger,
        orgs,
        Method::PATCH,
        "/orgs/acme-corp",
        br#"{"name":"mine"}"#,
        404,
    )
    .await;
    refused(&stranger, orgs, Method::DELETE, "/orgs/acme-corp", b"", 404).await;
}

async fn bad_slugs_duplicates_and_bodies_are_refused_on_create(app: TestApp) {
    let c = olivia(&app).await;
    let long = format!(r#"{{"slug":"{}"}}"#, "a".repeat(64));
    let long_name = format!(r#"{{"slug":"ok-name","name":"{}"}}"#, "n".repeat(201));
    for (body, status) in [
        (&br#"{"slug":"Bad Slug"}"#[..], 422),
        (br#"{"slug":"UPPER"}"#, 422),
        (br#"{"slug":"-lead"}"#, 422),
        (br#"{"slug":"under_score"}"#, 422),
        (br#"{"slug":"dot.ted"}"#, 422),
        (br#"{"slug":"caf\u00e9"}"#, 422),
        (br#"{"slug":""}"#, 422),
        (br#"{"slug":42}"#, 422),
        (br#"{"name":"no slug"}"#, 422),
        (b"", 422),
        (b"[]", 422),
        (long.as_bytes(), 422),
        (long_name.as_bytes(), 422),
        (br#"{"slug":"ok","name":"   "}"#, 422),
        (b"{\"slug\":", 400),
        (br#"{"slug":"solo"}"#, 409),
        (br#"{"slug":"default"}"#, 409),
        (br#"{"slug":"acme-corp","name":"again"}"#, 409),
    ] {
        refused(&c, Scope::Orgs, Method::POST, "/orgs", body, status).await;
    }
    let huge = format!(
        r#"{{"slug":"big","description":"{}"}}"#,
        "d".repeat(10 << 20)
    );
    refused(&c, Scope::Orgs, Method::POST, "/orgs", huge.as_bytes(), 413).await;
}

async fn bad_slugs_duplicates_and_bodies_are_refused_on_patch(app: TestApp) {
    let c = olivia(&app).await;
    for (body, status) in [
        (&br#"{"slug":"solo"}"#[..], 409),
        (br#"{"slug":"default"}"#, 409),
        (br#"{"slug":"Bad"}"#, 422),
        (br#"{"name":"","slug":"fine"}"#, 422),
        (br#"{"name":7}"#, 422),
        (b"{", 400),
    ] {
        refused(
            &c,
            Scope::Orgs,
            Method::PATCH,
            "/orgs/acme-corp",
            body,
            status,
        )
        .await;
    }
}

async fn an_unknown_org_is_not_found(app: TestApp) {
    let c = olivia(&app).await;
    let orgs = Scope::Orgs;
    refused(
        &c,
        orgs,
        Method::PATCH,
        "/orgs/nope",
        br#"{"name":"x"}"#,
        404,
    )
    .await;
    refused(&c, orgs, Method::GET, "/orgs/nope", b"", 404).await;
    refused(&c, orgs, Method::DELETE, "/orgs/nope", b"", 404).await;
}

async fn the_default_org_cannot_be_deleted_or_renamed(app: TestApp) {
    let c = olivia(&app).await;
    refused(&c, Scope::Orgs, Method::DELETE, "/orgs/default", b"", 409).await;
    let before = snapshot(&c, Scope::Orgs).await;
    let rename = c.patch("/orgs/default", json!({ "slug": "other" })).await;
    assert!([403, 409].contains(&rename.status), "{rename:?}");
    let status = rename.status;
    rename.expect_error(status);
    assert_eq!(
        snapshot(&c, Scope::Orgs).await,
        before,
        "the default org was renamed"
    );
}

async fn only_the_owner_deletes_an_org(app: TestApp) {
    app.user("olivia").in_org("solo", Role::Owner).await;
    let adam = app.user("adam").in_org("solo", Role::Admin).await;
    refused(&adam, Scope::Orgs, Method::DELETE, "/orgs/solo", b"", 403).await;
}
