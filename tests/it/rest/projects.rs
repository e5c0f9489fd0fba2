//! REST project routes (SPEC §6): CRUD with exact shapes, `counts=true`,
//! renames that tasks follow, and a delete that takes the project's tasks
//! (and only those) along. Refusals are in `project_refusals.rs`.

use serde_json::{Value, json};

use crate::common::shapes::{assert_project, id, keys, set, slugs};
use crate::common::{Client, Role, TestApp};

crate::on_both_backends!(
    a_new_org_has_no_projects_and_create_returns_the_project,
    lists_are_by_slug_with_counts_on_request,
    patch_changes_name_then_slug_and_tasks_follow,
    delete_takes_the_projects_tasks_and_only_those,
    project_routes_with_counts_rename_and_delete,
);

/// acme's projects web ("Web", "site") and api as created; in web tasks
/// pending, in progress, completed and cancelled, in api one pending.
struct Projects {
    web: Value,
    api: Value,
    web_tasks: Vec<i64>,
    api_task: i64,
}

/// `human:pat`, owner of acme (no projects yet).
async fn pat(app: &TestApp) -> Client {
    app.user("pat").in_org("acme", Role::Owner).await
}

async fn projects(c: &Client) -> Projects {
    let created = c
        .post(
            "/orgs/acme/projects",
            json!({ "slug": "web", "name": "Web", "description": "site" }),
        )
        .await
        .expect(201);
    assert_eq!(keys(&created), set(&["project"]));
    let api = c
        .post("/orgs/acme/projects", json!({ "slug": "api" }))
        .await
        .expect(201)["project"]
        .clone();
    let mut ids = Vec::new();
    for title in ["p", "ip", "done", "gone"] {
        let t = c
            .post("/orgs/acme/projects/web/tasks", json!({ "title": title }))
            .await
            .expect(201);
        ids.push(id(&t["task"]));
    }
    let base = "/orgs/acme/projects/web/tasks";
    for (task, action) in [(1, "claim"), (2, "claim"), (2, "complete"), (3, "cancel")] {
        c.post(&format!("{base}/{}/{action}", ids[task]), json!({}))
            .await
            .expect(200);
    }
    let api_task = c
        .post(
            "/orgs/acme/projects/api/tasks",
            json!({ "title": "api task" }),
        )
        .await
        .expect(201)["task"]
        .clone();
    Projects {
        web: created["project"].clone(),
        api,
        web_tasks: ids,
        api_task: id(&api_task),
    }
}

async fn a_new_org_has_no_projects_and_create_returns_the_project(app: TestApp) {
    let c = pat(&app).await;
    assert_eq!(
        c.get("/orgs/acme/projects").await.expect(200),
        json!({ "projects": [] })
    );
    let Projects { web, api, .. } = projects(&c).await;
    assert_project(&web, false);
    let org_id = c.get("/orgs/acme").await.expect(200)["organization"]["id"].clone();
    assert_eq!(
        (
            &web["org"],
            &web["org_id"],
            &web["slug"],
            &web["name"],
            &web["description"]
        ),
        (
            &json!("acme"),
            &org_id,
            &json!("web"),
            &json!("Web"),
            &json!("site")
        )
    );
    assert_eq!(
        (&api["name"], &api["description"]),
        (&json!("api"), &Value::Null)
    );
    assert_eq!(
        c.get("/orgs/acme/projects/web").await.expect(200),
        json!({ "project": web })
    );
}

async fn lists_are_by_slug_with_counts_on_request(app: TestApp) {
    let c = pat(&app).await;
    projects(&c).await;
    for query in ["", "?counts=false"] {
        let plain = c
            .get(&format!("/orgs/acme/projects{query}"))
            .await
            .expect(200);
        assert_eq!(keys(&plain), set(&["projects"]));
        assert_eq!(slugs(&plain, "projects"), ["api", "web"]);
        for p in plain["projects"].as_array().unwrap() {
            assert_project(p, false);
        }
    }
    let counted = c.get("/orgs/acme/projects?counts=true").await.expect(200);
    let counts: Vec<(Value, Value, Value)> = counted["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert_project(p, true);
            (
                p["pending_count"].clone(),
                p["in_progress_count"].clone(),
                p["total_count"].clone(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [
            (json!(1), json!(0), json!(1)),
            (json!(1), json!(1), json!(4))
        ]
    );
    c.get("/orgs/acme/projects?counts=maybe")
        .await
        .expect_error(400);
}

async fn patch_changes_name_then_slug_and_tasks_follow(app: TestApp) {
    let c = pat(&app).await;
    let Projects { web, web_tasks, .. } = projects(&c).await;
    let p = c
        .patch(
            "/orgs/acme/projects/web",
            json!({ "name": "Website", "description": "new" }),
        )
        .await
        .expect(200);
    assert_eq!(keys(&p), set(&["project"]));
    assert_project(&p["project"], false);
    assert_eq!(
        (&p["project"]["name"], &p["project"]["description"]),
        (&json!("Website"), &json!("new"))
    );
    let p = c
        .patch("/orgs/acme/projects/web", json!({ "slug": "site" }))
        .await
        .expect(200);
    assert_eq!(
        (&p["project"]["slug"], &p["project"]["id"]),
        (&json!("site"), &web["id"])
    );
    c.get("/orgs/acme/projects/web").await.expect_error(404);
    assert_eq!(
        c.get(&format!("/tasks/{}", web_tasks[0])).await.expect(200)["task"]["project"],
        "site"
    );
}

async fn delete_takes_the_projects_tasks_and_only_those(app: TestApp) {
    let c = pat(&app).await;
    let Projects {
        web_tasks,
        api_task,
        ..
    } = projects(&c).await;
    let before = c.get("/tasks").await.expect(200)["count"].as_u64().unwrap();
    let gone = c.delete("/orgs/acme/projects/web").await.expect(200);
    assert_eq!(
        gone,
        json!({ "deleted": true, "org": "acme", "slug": "web" })
    );
    c.get("/orgs/acme/projects/web").await.expect_error(404);
    c.get("/orgs/acme/projects/web/tasks")
        .await
        .expect_error(404);
    for t in &web_tasks {
        c.get(&format!("/tasks/{t}")).await.expect_error(404);
        c.get(&format!("/tasks/{t}/events")).await.expect_error(404);
    }
    assert_eq!(c.get("/tasks").await.expect(200)["count"], before - 4);
    c.get(&format!("/tasks/{api_task}")).await.expect(200);
    assert_eq!(
        slugs(&c.get("/orgs/acme/projects").await.expect(200), "projects"),
        ["api"]
    );
    // default/main is still there, and the slug is reusable.
    c.get("/orgs/default/projects/main").await.expect(200);
    c.post("/orgs/acme/projects", json!({ "slug": "web" }))
        .await
        .expect(201);
}

/// Create (twice: 409), tasks and their counts, `counts` only on request,
/// a slug rename, and a delete that takes the task along.
async fn project_routes_with_counts_rename_and_delete(app: TestApp) {
    let c = app.user("olivia").in_org("acme", Role::Owner).await;
    c.post(
        "/orgs/acme/projects",
        json!({ "slug": "web", "name": "Web" }),
    )
    .await
    .expect(201);
    c.post("/orgs/acme/projects", json!({ "slug": "web" }))
        .await
        .expect_error(409);
    c.post("/orgs/acme/projects/web/tasks", json!({ "title": "one" }))
        .await
        .expect(201);
    let t2 = id(&c
        .post("/orgs/acme/projects/web/tasks", json!({ "title": "two" }))
        .await
        .expect(201)["task"]);
    c.act(t2, "claim", json!({})).await.expect(200);
    let projects = c.get("/orgs/acme/projects?counts=true").await.expect(200);
    let p = &projects["projects"][0];
    assert_eq!(
        (
            p["pending_count"].as_u64(),
            p["in_progress_count"].as_u64(),
            p["total_count"].as_u64()
        ),
        (Some(1), Some(1), Some(2))
    );
    assert!(
        c.get("/orgs/acme/projects").await.expect(200)["projects"][0]
            .get("total_count")
            .is_none()
    );
    let renamed = c
        .patch("/orgs/acme/projects/web", json!({ "slug": "site" }))
        .await
        .expect(200);
    assert_eq!(renamed["project"]["slug"], "site");
    c.get("/orgs/acme/projects/web").await.expect_error(404);
    assert_eq!(
        c.get("/orgs/acme/projects/site").await.expect(200)["project"]["name"],
        "Web"
    );
    let del = c.delete("/orgs/acme/projects/site").await.expect(200);
    assert_eq!(del["deleted"], true);
    c.get(&format!("/tasks/{t2}")).await.expect_error(404);
}
