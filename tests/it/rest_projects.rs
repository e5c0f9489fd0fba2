//! REST project routes (SPEC §6): CRUD with exact shapes, `counts=true`,
//! refusals that write nothing, the protected `default/main`, and a delete
//! that takes the project's tasks (and only those) along.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::rest_orgs::{assert_project, refused, slugs};
use crate::rest_tasks::{id, keys, set};

async fn projects(app: TestApp) {
    let c = app.actor("human", "pat");
    c.post("/orgs", json!({ "slug": "acme" })).await.expect(201);
    assert_eq!(
        c.get("/orgs/acme/projects").await.expect(200),
        json!({ "projects": [] })
    );
    let created = c
        .post(
            "/orgs/acme/projects",
            json!({ "slug": "web", "name": "Web", "description": "site" }),
        )
        .await
        .expect(201);
    assert_eq!(keys(&created), set(&["project"]));
    let web = created["project"].clone();
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
    let api = c
        .post("/orgs/acme/projects", json!({ "slug": "api" }))
        .await
        .expect(201)["project"]
        .clone();
    assert_eq!(
        (&api["name"], &api["description"]),
        (&json!("api"), &Value::Null)
    );

    // Tasks in web: pending, in progress, completed, cancelled; one in api.
    let mut ids = Vec::new();
    for title in ["p", "ip", "done", "gone"] {
        let t = c
            .post("/orgs/acme/projects/web/tasks", json!({ "title": title }))
            .await
            .expect(201);
        ids.push(id(&t["task"]));
    }
    let base = "/orgs/acme/projects/web/tasks";
    c.post(&format!("{base}/{}/claim", ids[1]), json!({}))
        .await
        .expect(200);
    c.post(&format!("{base}/{}/claim", ids[2]), json!({}))
        .await
        .expect(200);
    c.post(&format!("{base}/{}/complete", ids[2]), json!({}))
        .await
        .expect(200);
    c.post(&format!("{base}/{}/cancel", ids[3]), json!({}))
        .await
        .expect(200);
    let api_task = c
        .post(
            "/orgs/acme/projects/api/tasks",
            json!({ "title": "api task" }),
        )
        .await
        .expect(201)["task"]
        .clone();

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

    assert_eq!(
        c.get("/orgs/acme/projects/web").await.expect(200),
        json!({ "project": web })
    );
    // PATCH name/description, then slug: tasks follow.
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
        c.get(&format!("/tasks/{}", ids[0])).await.expect(200)["task"]["project"],
        "site"
    );

    // Refusals write nothing.
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
        refused(&c, method, path, body, status).await;
    }
    // Project slugs are unique per org only; the open default org takes projects from anyone.
    let other = app.actor("human", "someone");
    other
        .post("/orgs/default/projects", json!({ "slug": "site" }))
        .await
        .expect(201);
    refused(&other, Method::GET, "/orgs/acme/projects", b"", 404).await;
    refused(
        &other,
        Method::POST,
        "/orgs/acme/projects",
        br#"{"slug":"z"}"#,
        404,
    )
    .await;
    refused(&other, Method::DELETE, "/orgs/acme/projects/site", b"", 404).await;
    // A member may use tasks but not manage projects.
    c.post(
        "/orgs/acme/members",
        json!({ "actor_type": "human", "actor_id": "mel", "role": "member" }),
    )
    .await
    .expect(201);
    let mel = app.actor("human", "mel");
    refused(
        &mel,
        Method::POST,
        "/orgs/acme/projects",
        br#"{"slug":"z"}"#,
        403,
    )
    .await;
    refused(&mel, Method::DELETE, "/orgs/acme/projects/site", b"", 403).await;

    // DELETE removes the project's tasks and only those.
    let before = c.get("/tasks").await.expect(200)["count"].as_u64().unwrap();
    let gone = c.delete("/orgs/acme/projects/site").await.expect(200);
    assert_eq!(
        gone,
        json!({ "deleted": true, "org": "acme", "slug": "site" })
    );
    c.get("/orgs/acme/projects/site").await.expect_error(404);
    c.get("/orgs/acme/projects/site/tasks")
        .await
        .expect_error(404);
    for t in &ids {
        c.get(&format!("/tasks/{t}")).await.expect_error(404);
        c.get(&format!("/tasks/{t}/events")).await.expect_error(404);
    }
    assert_eq!(c.get("/tasks").await.expect(200)["count"], before - 4);
    c.get(&format!("/tasks/{}", id(&api_task)))
        .await
        .expect(200);
    assert_eq!(
        slugs(&c.get("/orgs/acme/projects").await.expect(200), "projects"),
        ["api"]
    );
    // default/main is still there, and its slug is reusable elsewhere.
    c.get("/orgs/default/projects/main").await.expect(200);
    c.post("/orgs/acme/projects", json!({ "slug": "site" }))
        .await
        .expect(201);
}

crate::on_both_backends!(projects);
