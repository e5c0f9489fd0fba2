//! The task routes under `/orgs/:org/projects/:project/tasks` (SPEC §6): they
//! act on that project's tasks only; a task of another project is 404 there,
//! and the refusal writes nothing.

use serde_json::{Value, json};

use crate::common::refusals::{Scope, snapshot};
use crate::common::shapes::{assert_task, id, keys, set, task_of, titles};
use crate::common::{Client, Role, TestApp};

crate::on_both_backends!(
    a_task_made_in_a_project_names_it,
    the_scoped_list_holds_that_project_only,
    every_route_works_on_the_projects_own_task,
    another_projects_task_is_not_found_and_untouched,
    an_unknown_org_or_project_is_not_found,
    a_stranger_gets_not_found_not_forbidden,
    delete_through_the_scope,
    routes_of_a_new_org_and_project,
);

const SCOPE: &str = "/orgs/acme/projects/alpha/tasks";

/// `human:owner` owning acme (alpha, beta) with a task in each project and
/// one in default/main: `(owner, alpha's task, beta's, default's)`.
async fn three_projects(app: &TestApp) -> (Client, Value, i64, Value) {
    let c = app
        .user("owner")
        .in_org("acme", Role::Owner)
        .with_project("alpha")
        .with_project("beta")
        .await;
    let created = c
        .post(
            SCOPE,
            json!({ "title": "in alpha", "channel": "ops", "priority": 7 }),
        )
        .await
        .expect(201);
    let a = task_of(&created);
    let b = c
        .post(
            "/orgs/acme/projects/beta/tasks",
            json!({ "title": "in beta" }),
        )
        .await
        .expect(201)["task"]
        .clone();
    let d = c.create_task(json!({ "title": "in default" })).await;
    (c, a, id(&b), d)
}

async fn a_task_made_in_a_project_names_it(app: TestApp) {
    let (_, a, _, d) = three_projects(&app).await;
    assert_eq!(
        (&a["org"], &a["project"], &a["source_id"]),
        (&json!("acme"), &json!("alpha"), &json!("owner"))
    );
    assert_eq!(
        (&d["org"], &d["project"]),
        (&json!("default"), &json!("main"))
    );
}

async fn the_scoped_list_holds_that_project_only(app: TestApp) {
    let (c, _, _, _) = three_projects(&app).await;
    let l = c.get(SCOPE).await.expect(200);
    assert_eq!(
        keys(&l),
        set(&["tasks", "count", "limit", "offset", "next_cursor"])
    );
    assert_eq!(
        (titles(&l), &l["count"], &l["limit"], &l["offset"]),
        (
            vec!["in alpha".to_owned()],
            &json!(1),
            &json!(50),
            &json!(0)
        )
    );
    assert_task(&l["tasks"][0]);
    assert_eq!(
        c.get(&format!("{SCOPE}?channel=web")).await.expect(200)["count"],
        0
    );
    assert_eq!(
        c.get(&format!("{SCOPE}?min_priority=7")).await.expect(200)["count"],
        1
    );
    assert_eq!(
        c.get("/tasks").await.expect(200)["count"],
        3,
        "unscoped spans all"
    );
}

async fn every_route_works_on_the_projects_own_task(app: TestApp) {
    let (c, a, _, _) = three_projects(&app).await;
    let aid = id(&a);
    let got = c.get(&format!("{SCOPE}/{aid}")).await.expect(200);
    assert_eq!(got["task"]["messages"], json!([]));
    let p = c
        .patch(&format!("{SCOPE}/{aid}"), json!({ "priority": 9 }))
        .await
        .expect(200);
    assert_eq!(task_of(&p)["priority"], 9);
    let m = c
        .post(
            &format!("{SCOPE}/{aid}/messages"),
            json!({ "parts": [{ "type": "text", "content": "hi" }] }),
        )
        .await
        .expect(201);
    assert_eq!(m["message"]["task_id"], aid);
    let ms = c.get(&format!("{SCOPE}/{aid}/messages")).await.expect(200);
    assert_eq!(ms, json!({ "messages": [m["message"].clone()] }));
    let ev = c.get(&format!("{SCOPE}/{aid}/events")).await.expect(200);
    assert_eq!(keys(&ev), set(&["events"]));
    assert_eq!(ev["events"].as_array().unwrap().len(), 3);
    assert_eq!(ev["events"][0]["project"], "alpha");
    let claimed = c
        .post(&format!("{SCOPE}/{aid}/claim"), json!({}))
        .await
        .expect(200);
    assert_eq!(task_of(&claimed)["status"], "in_progress");
}

async fn another_projects_task_is_not_found_and_untouched(app: TestApp) {
    let (c, a, bid, d) = three_projects(&app).await;
    let (aid, did) = (id(&a), id(&d));
    for other in [bid, did] {
        let before = snapshot(&c, Scope::Task(other)).await;
        let base = format!("{SCOPE}/{other}");
        let refusals = [
            c.get(&base).await,
            c.patch(&base, json!({ "title": "hijacked" })).await,
            c.delete(&base).await,
            c.get(&format!("{base}/messages")).await,
            c.post(
                &format!("{base}/messages"),
                json!({ "parts": [{ "type": "text", "content": "x" }] }),
            )
            .await,
            c.get(&format!("{base}/events")).await,
            c.post(&format!("{base}/claim"), json!({})).await,
            c.post(&format!("{base}/cancel"), json!({})).await,
        ];
        for r in refusals {
            let body = r.expect_error(404);
            assert_eq!(body["code"], "NOT_FOUND");
        }
        let after = snapshot(&c, Scope::Task(other)).await;
        assert_eq!(after, before, "a 404 wrote something");
    }
    // …and from its own scope it answers.
    c.get(&format!("/orgs/acme/projects/beta/tasks/{bid}"))
        .await
        .expect(200);
    c.get(&format!("/orgs/default/projects/main/tasks/{did}"))
        .await
        .expect(200);
    c.get(&format!("/orgs/default/projects/main/tasks/{aid}"))
        .await
        .expect_error(404);
}

async fn an_unknown_org_or_project_is_not_found(app: TestApp) {
    let (c, a, _, _) = three_projects(&app).await;
    let count = c.get("/tasks").await.expect(200)["count"].clone();
    for base in [
        "/orgs/nope/projects/alpha/tasks",
        "/orgs/acme/projects/nope/tasks",
    ] {
        c.get(base).await.expect_error(404);
        c.post(base, json!({ "title": "lost" }))
            .await
            .expect_error(404);
        c.get(&format!("{base}/{}", id(&a))).await.expect_error(404);
        c.get(&format!("{base}/stats")).await.expect_error(404);
    }
    assert_eq!(c.get("/tasks").await.expect(200)["count"], count);
}

async fn a_stranger_gets_not_found_not_forbidden(app: TestApp) {
    let (c, a, _, _) = three_projects(&app).await;
    let count = c.get("/tasks").await.expect(200)["count"].clone();
    let stranger = app.actor("human", "stranger");
    stranger.get(SCOPE).await.expect_error(404);
    stranger
        .post(SCOPE, json!({ "title": "sneak" }))
        .await
        .expect_error(404);
    stranger
        .get(&format!("/tasks/{}", id(&a)))
        .await
        .expect_error(404);
    assert_eq!(c.get("/tasks").await.expect(200)["count"], count);
}

async fn delete_through_the_scope(app: TestApp) {
    let (c, a, _, _) = three_projects(&app).await;
    let aid = id(&a);
    let del = c.delete(&format!("{SCOPE}/{aid}")).await.expect(200);
    assert_eq!(del, json!({ "deleted": true, "id": aid }));
    c.get(&format!("/tasks/{aid}")).await.expect_error(404);
    assert_eq!(c.get(SCOPE).await.expect(200)["count"], 0);
}

/// A new org and project: a task made there is listed there, under
/// `?org=`, and a default task is 404 (even to claim) there.
async fn routes_of_a_new_org_and_project(app: TestApp) {
    let c = app
        .agent("shaper")
        .in_org("shapes", Role::Owner)
        .with_project("p")
        .await;
    let id = id(&c.create_task(json!({ "title": "Shape" })).await);
    let scoped = c
        .post(
            "/orgs/shapes/projects/p/tasks",
            json!({ "title": "Scoped" }),
        )
        .await
        .expect(201);
    assert_eq!(scoped["task"]["project"], "p");
    let sid = scoped["task"]["id"].as_i64().unwrap();
    c.get(&format!("/orgs/shapes/projects/p/tasks/{sid}"))
        .await
        .expect(200);
    c.get(&format!("/orgs/shapes/projects/p/tasks/{id}"))
        .await
        .expect_error(404);
    c.post(
        &format!("/orgs/shapes/projects/p/tasks/{id}/claim"),
        json!({}),
    )
    .await
    .expect_error(404);
    assert_eq!(
        c.get("/orgs/shapes/projects/p/tasks").await.expect(200)["count"],
        1
    );
    assert_eq!(c.get("/tasks?org=shapes").await.expect(200)["count"], 1);
}
