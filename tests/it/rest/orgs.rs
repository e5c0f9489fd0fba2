//! REST organization routes (SPEC §6): CRUD with exact shapes, each org with
//! the caller's role, renames that tasks follow, and deletes that take
//! projects and tasks along. Refusals are in `org_refusals.rs`.

use serde_json::{Value, json};

use crate::common::shapes::{ORG_KEYS, assert_org, id, keys, set, slugs};
use crate::common::{Client, TestApp};

crate::on_both_backends!(
    only_the_default_org_at_first_with_no_role,
    create_returns_the_org_with_the_owner_role,
    the_list_shows_every_org_with_the_callers_role,
    patch_changes_name_and_description_and_keeps_the_rest,
    a_new_slug_is_followed_by_its_tasks,
    delete_takes_projects_and_tasks_and_frees_the_slug,
    org_routes_in_shape,
);

/// `human:olivia`'s orgs: acme ("Acme", "rockets"), solo, 9-lives, x and a
/// 63-character slug (the longest allowed). Returns olivia, acme and solo as
/// their creation answered them.
async fn olivias_orgs(app: &TestApp) -> (Client, Value, Value) {
    let c = app.actor("human", "olivia");
    let created = c
        .post(
            "/orgs",
            json!({ "slug": "acme", "name": "Acme", "description": "rockets" }),
        )
        .await
        .expect(201);
    assert_eq!(keys(&created), set(&["organization"]));
    let solo = c.post("/orgs", json!({ "slug": "solo" })).await.expect(201)["organization"].clone();
    let edge = "a".repeat(63);
    for ok in ["9-lives", "x", edge.as_str()] {
        c.post("/orgs", json!({ "slug": ok })).await.expect(201);
    }
    (c, created["organization"].clone(), solo)
}

async fn only_the_default_org_at_first_with_no_role(app: TestApp) {
    let c = app.actor("human", "olivia");
    let first = c.get("/orgs").await.expect(200);
    assert_eq!(keys(&first), set(&["organizations"]));
    assert_eq!(slugs(&first, "organizations"), ["default"]);
    let default = &first["organizations"][0];
    assert_org(default);
    assert!(default["role"].is_null(), "no role in the open default org");
}

async fn create_returns_the_org_with_the_owner_role(app: TestApp) {
    let (_, acme, solo) = olivias_orgs(&app).await;
    assert_org(&acme);
    assert_eq!(
        (
            &acme["slug"],
            &acme["name"],
            &acme["description"],
            &acme["role"]
        ),
        (
            &json!("acme"),
            &json!("Acme"),
            &json!("rockets"),
            &json!("owner")
        )
    );
    assert_eq!(
        (&solo["name"], &solo["description"]),
        (&json!("solo"), &Value::Null)
    );
}

async fn the_list_shows_every_org_with_the_callers_role(app: TestApp) {
    let (c, acme, _) = olivias_orgs(&app).await;
    let edge = "a".repeat(63);
    let list = c.get("/orgs").await.expect(200);
    assert_eq!(
        slugs(&list, "organizations"),
        ["9-lives", edge.as_str(), "acme", "default", "solo", "x"]
    );
    for o in list["organizations"].as_array().unwrap() {
        assert_org(o);
        let want = if o["slug"] == "default" {
            Value::Null
        } else {
            json!("owner")
        };
        assert_eq!(o["role"], want, "{o}");
    }
    assert_eq!(
        c.get("/orgs/acme").await.expect(200),
        json!({ "organization": acme })
    );
}

async fn patch_changes_name_and_description_and_keeps_the_rest(app: TestApp) {
    let (c, acme, _) = olivias_orgs(&app).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let renamed = c
        .patch(
            "/orgs/acme",
            json!({ "name": "Acme Inc", "description": "more rockets" }),
        )
        .await
        .expect(200);
    assert_eq!(keys(&renamed), set(&["organization"]));
    let r = &renamed["organization"];
    assert_org(r);
    assert_eq!(
        (&r["name"], &r["description"], &r["slug"], &r["role"]),
        (
            &json!("Acme Inc"),
            &json!("more rockets"),
            &json!("acme"),
            &json!("owner")
        )
    );
    assert_eq!(
        (&r["id"], &r["created_at"]),
        (&acme["id"], &acme["created_at"])
    );
    assert!(r["updated_at"].as_str() > acme["updated_at"].as_str());
}

/// acme/web with a task "launch"; returns its id.
async fn launch_in_acme_web(c: &Client) -> i64 {
    c.post("/orgs/acme/projects", json!({ "slug": "web" }))
        .await
        .expect(201);
    id(&c
        .post(
            "/orgs/acme/projects/web/tasks",
            json!({ "title": "launch" }),
        )
        .await
        .expect(201)["task"])
}

async fn a_new_slug_is_followed_by_its_tasks(app: TestApp) {
    let (c, _, _) = olivias_orgs(&app).await;
    let task = launch_in_acme_web(&c).await;
    c.patch("/orgs/acme", json!({ "name": "Acme Inc" }))
        .await
        .expect(200);
    let moved = c
        .patch("/orgs/acme", json!({ "slug": "acme-corp" }))
        .await
        .expect(200);
    assert_eq!(moved["organization"]["slug"], "acme-corp");
    assert_eq!(moved["organization"]["name"], "Acme Inc");
    c.get("/orgs/acme").await.expect_error(404);
    let t = c.get(&format!("/tasks/{task}")).await.expect(200);
    assert_eq!(
        (&t["task"]["org"], &t["task"]["project"]),
        (&json!("acme-corp"), &json!("web"))
    );
}

async fn delete_takes_projects_and_tasks_and_frees_the_slug(app: TestApp) {
    let (c, _, _) = olivias_orgs(&app).await;
    let task = launch_in_acme_web(&c).await;
    c.create_task(json!({ "title": "elsewhere" })).await;
    let count = c.get("/tasks").await.expect(200)["count"].as_u64().unwrap();
    let gone = c.delete("/orgs/acme").await.expect(200);
    assert_eq!(gone, json!({ "deleted": true, "slug": "acme" }));
    c.get("/orgs/acme").await.expect_error(404);
    c.get("/orgs/acme/projects").await.expect_error(404);
    c.get(&format!("/tasks/{task}")).await.expect_error(404);
    assert_eq!(c.get("/tasks").await.expect(200)["count"], count - 1);
    // The slug is free again.
    c.post("/orgs", json!({ "slug": "acme" })).await.expect(201);
    assert!(
        c.get("/orgs/acme/projects").await.expect(200)["projects"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

/// Create, list, read, rename and delete an org, each answer in shape.
async fn org_routes_in_shape(app: TestApp) {
    let c = app.actor("human", "olivia");
    let org = c
        .post(
            "/orgs",
            json!({ "slug": "acme", "name": "Acme", "description": "d" }),
        )
        .await
        .expect(201);
    for f in ORG_KEYS {
        assert!(org["organization"].get(f).is_some(), "org lacks {f}");
    }
    assert_eq!(org["organization"]["role"], "owner");
    let list = c.get("/orgs").await.expect(200);
    let slugs: Vec<&str> = list["organizations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["acme", "default"]);
    assert_eq!(
        c.get("/orgs/acme").await.expect(200)["organization"]["name"],
        "Acme"
    );
    c.patch("/orgs/acme", json!({ "name": "Acme Inc" }))
        .await
        .expect(200);
    c.delete("/orgs/acme").await.expect(200);
    c.get("/orgs/acme").await.expect_error(404);
}
