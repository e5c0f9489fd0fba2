//! Refused project requests (SPEC §5, §6): duplicates, bad slugs and bodies,
//! unknown orgs and projects, the protected `default/main`, strangers and
//! members. Each gets `{"error","code"}` and writes nothing.

use reqwest::Method;
use serde_json::json;

use crate::common::refusals::{Scope, refused};
use crate::common::{Client, Role, TestApp};

crate::on_both_backends!(
    bad_or_duplicate_project_requests_write_nothing,
    slugs_are_unique_per_org_and_strangers_get_not_found,
    a_member_uses_tasks_but_does_not_manage_projects,
);

/// `human:pat`, owner of acme with projects api and site.
async fn pat(app: &TestApp) -> Client {
    app.user("pat")
        .in_org("acme", Role::Owner)
        .with_project("api")
        .with_project("site")
        .await
}

async fn bad_or_duplicate_project_requests_write_nothing(app: TestApp) {
    let c = pat(&app).await;
    for (method, path, body, status) in [
        (
            Method::POST,
            "/orgs/acme/projects",
            &br#"{"slug":"api"}"#[..],
            409,
        ),
        (
            Method::POST,
            "/orgs/acme/projects",
            br#"{"slug":"Bad Slug"}"#,
            422,
        ),
        (
            Method::POST,
            "/orgs/acme/projects",
            br#"{"slug":"-x"}"#,
            422,
        ),
        (Method::POST, "/orgs/acme/projects", br#"{}"#, 422),
        (Method::POST, "/orgs/acme/projects", b"{", 400),
        (Method::POST, "/orgs/nope/projects", br#"{"slug":"x"}"#, 404),
        (
            Method::PATCH,
            "/orgs/acme/projects/site",
            br#"{"slug":"api"}"#,
            409,
        ),
        (
            Method::PATCH,
            "/orgs/acme/projects/site",
            br#"{"slug":"A"}"#,
            422,
        ),
        (
            Method::PATCH,
            "/orgs/acme/projects/site",
            br#"{"name":""}"#,
            422,
        ),
        (
            Method::PATCH,
            "/orgs/acme/projects/nope",
            br#"{"name":"x"}"#,
            404,
        ),
        (
            Method::PATCH,
            "/orgs/nope/projects/site",
            br#"{"name":"x"}"#,
            404,
        ),
        (Method::GET, "/orgs/nope/projects", b"", 404),
        (Method::GET, "/orgs/acme/projects/nope", b"", 404),
        (Method::GET, "/orgs/nope/projects/site", b"", 404),
        (Method::DELETE, "/orgs/acme/projects/nope", b"", 404),
        (Method::DELETE, "/orgs/nope/projects/site", b"", 404),
        (Method::DELETE, "/orgs/default/projects/main", b"", 409),
        (Method::PUT, "/orgs/acme/projects/site", b"", 405),
    ] {
        refused(&c, Scope::Orgs, method, path, body, status).await;
    }
}

/// Project slugs are unique per org only; the open default org takes
/// projects from anyone; acme is 404 to someone outside it.
async fn slugs_are_unique_per_org_and_strangers_get_not_found(app: TestApp) {
    pat(&app).await;
    let other = app.actor("human", "someone");
    other
        .post("/orgs/default/projects", json!({ "slug": "site" }))
        .await
        .expect(201);
    let orgs = Scope::Orgs;
    refused(&other, orgs, Method::GET, "/orgs/acme/projects", b"", 404).await;
    refused(
        &other,
        orgs,
        Method::POST,
        "/orgs/acme/projects",
        br#"{"slug":"z"}"#,
        404,
    )
    .await;
    refused(
        &other,
        orgs,
        Method::DELETE,
        "/orgs/acme/projects/site",
        b"",
        404,
    )
    .await;
}

async fn a_member_uses_tasks_but_does_not_manage_projects(app: TestApp) {
    pat(&app).await;
    let mel = app.user("mel").in_org("acme", Role::Member).await;
    mel.post("/orgs/acme/projects/site/tasks", json!({ "title": "mine" }))
        .await
        .expect(201);
    refused(
        &mel,
        Scope::Orgs,
        Method::POST,
        "/orgs/acme/projects",
        br#"{"slug":"z"}"#,
        403,
    )
    .await;
    refused(
        &mel,
        Scope::Orgs,
        Method::DELETE,
        "/orgs/acme/projects/site",
        b"",
        403,
    )
    .await;
}
