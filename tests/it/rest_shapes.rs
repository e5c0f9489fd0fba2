//! REST contract (SPEC §6): status codes and JSON shapes of every route, each
//! list filter and sort, and bad input that gets a clear error and writes nothing.

use serde_json::{Value, json};

use crate::common::{Client, TestApp};

const TASK_FIELDS: [&str; 29] = [
    "id",
    "org",
    "project",
    "project_id",
    "title",
    "description",
    "type",
    "channel",
    "priority",
    "status",
    "payload",
    "outputs",
    "source_type",
    "source_id",
    "source_name",
    "assignee_type",
    "assignee_id",
    "assignee_name",
    "lease_expires",
    "reason",
    "parent_id",
    "depends_on",
    "blocked_by",
    "attempts",
    "max_attempts",
    "created_at",
    "updated_at",
    "claimed_at",
    "completed_at",
];

fn assert_task_shape(t: &Value) {
    let obj = t.as_object().expect("task object");
    for f in TASK_FIELDS {
        assert!(obj.contains_key(f), "task lacks {f}: {t}");
    }
    assert!(
        t["id"].is_i64()
            && t["project_id"].is_i64()
            && t["priority"].is_i64()
            && t["attempts"].is_i64()
    );
    assert!(t["payload"].is_object() && t["outputs"].is_array() && t["depends_on"].is_array());
    for time in ["created_at", "updated_at"] {
        let s = t[time].as_str().unwrap();
        assert!(
            s.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(s).is_ok(),
            "{time} = {s}"
        );
    }
}

fn titles(list: &Value) -> Vec<String> {
    list["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap().to_owned())
        .collect()
}

async fn task_routes_and_shapes(app: TestApp) {
    let c = app.actor("agent", "shaper");
    let created = c
        .post("/tasks", json!({ "title": "Shape", "description": "d", "type": "review", "channel": "ops", "priority": 8, "payload": { "a": 1 } }))
        .await
        .expect(201);
    let t = &created["task"];
    assert_task_shape(t);
    assert_eq!(
        (
            t["org"].as_str(),
            t["project"].as_str(),
            t["status"].as_str()
        ),
        (Some("default"), Some("main"), Some("pending"))
    );
    assert_eq!(t["source_id"], "shaper");
    let id = t["id"].as_i64().unwrap();

    let got = c.get(&format!("/tasks/{id}")).await.expect(200);
    assert_task_shape(&got["task"]);
    assert_eq!(got["task"]["messages"], json!([]));
    let patched = c
        .patch(
            &format!("/tasks/{id}"),
            json!({ "title": "Shaped", "priority": 9 }),
        )
        .await
        .expect(200);
    assert_eq!(
        (
            patched["task"]["title"].as_str(),
            patched["task"]["priority"].as_i64()
        ),
        (Some("Shaped"), Some(9))
    );
    let msg = c.post(&format!("/tasks/{id}/messages"), json!({ "parts": [{ "type": "text", "content": "hi" }, { "type": "data", "content": { "n": 1 } }] })).await.expect(201);
    assert_eq!(msg["message"]["task_id"], id);
    assert_eq!(msg["message"]["parts"][1]["content"], json!({ "n": 1 }));
    let msgs = c.get(&format!("/tasks/{id}/messages")).await.expect(200);
    assert_eq!(msgs["messages"].as_array().unwrap().len(), 1);
    let after = msg["message"]["id"].as_i64().unwrap();
    assert_eq!(
        c.get(&format!("/tasks/{id}/messages?after={after}"))
            .await
            .expect(200)["messages"],
        json!([])
    );
    let events = c.get(&format!("/tasks/{id}/events")).await.expect(200);
    let ev = &events["events"][0];
    for f in [
        "id",
        "type",
        "task_id",
        "org",
        "project",
        "channel",
        "task_type",
        "actor_type",
        "actor_id",
        "actor_name",
        "created_at",
        "data",
    ] {
        assert!(ev.get(f).is_some(), "event lacks {f}: {ev}");
    }
    assert_eq!(ev["type"], "task.created");
    assert_eq!(
        c.get(&format!("/tasks/{id}/events?limit=1&after={}", ev["id"]))
            .await
            .expect(200)["events"][0]["type"],
        "task.updated"
    );

    let stats = c.get("/tasks/stats").await.expect(200)["stats"].clone();
    for f in [
        "total",
        "by_status",
        "by_channel",
        "avg_completion_seconds",
        "completed_count",
        "recent",
    ] {
        assert!(stats.get(f).is_some(), "stats lacks {f}");
    }
    for f in ["created_24h", "completed_24h", "created_7d", "completed_7d"] {
        assert!(stats["recent"][f].is_u64(), "recent lacks {f}");
    }
    assert_eq!(stats["by_channel"]["ops"], 1);
    assert_eq!(
        c.get("/orgs/default/projects/main/stats").await.expect(200)["stats"]["total"],
        1
    );

    // Scoped routes: a task of another project is 404 there.
    c.post("/orgs", json!({ "slug": "shapes" }))
        .await
        .expect(201);
    c.post("/orgs/shapes/projects", json!({ "slug": "p" }))
        .await
        .expect(201);
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

    let deleted = c.delete(&format!("/tasks/{id}")).await.expect(200);
    assert_eq!(deleted, json!({ "deleted": true, "id": id }));
    c.get(&format!("/tasks/{id}")).await.expect_error(404);
}

async fn list_filters_and_sorts(app: TestApp) {
    let c = app.actor("agent", "lister");
    let w = app.actor("agent", "worker-x");
    let mk = |title: &str, body: Value| {
        let mut b = body;
        b["title"] = json!(title);
        let c = c.clone();
        async move { c.create_task(b).await["id"].as_i64().unwrap() }
    };
    let a = mk(
        "alpha 100% done",
        json!({ "priority": 3, "channel": "ops", "type": "bug", "description": "Has UNDER_score" }),
    )
    .await;
    let b = mk(
        "beta",
        json!({ "priority": 9, "channel": "ops", "type": "feature" }),
    )
    .await;
    let cut = c.get(&format!("/tasks/{b}")).await.expect(200)["task"]["created_at"]
        .as_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let g = mk(
        "gamma",
        json!({ "priority": 5, "channel": "support", "type": "bug", "parent_id": a }),
    )
    .await;
    w.post(&format!("/tasks/{b}/claim"), json!({}))
        .await
        .expect(200);
    let q = |query: &str| {
        let c = c.clone();
        let path = format!("/tasks?{query}");
        async move { c.get(&path).await.expect(200) }
    };
    let all = q("").await;
    assert_eq!(
        (
            all["count"].as_u64(),
            all["limit"].as_u64(),
            all["offset"].as_u64()
        ),
        (Some(3), Some(50), Some(0))
    );
    assert_eq!(
        titles(&all),
        ["gamma", "beta", "alpha 100% done"],
        "default: newest first"
    );
    assert_eq!(titles(&q("status=in_progress").await), ["beta"]);
    assert_eq!(
        titles(&q("status=pending,in_progress&sort_by=title&sort_dir=asc").await),
        ["alpha 100% done", "beta", "gamma"]
    );
    assert_eq!(
        titles(&q("type=bug&sort_dir=asc").await),
        ["alpha 100% done", "gamma"]
    );
    assert_eq!(titles(&q("channel=support").await), ["gamma"]);
    assert_eq!(titles(&q("assignee_id=worker-x").await), ["beta"]);
    assert_eq!(titles(&q("priority=5").await), ["gamma"]);
    assert_eq!(
        titles(&q("min_priority=5&sort_by=priority").await),
        ["beta", "gamma"]
    );
    assert_eq!(
        titles(&q("max_priority=5&sort_by=priority&sort_dir=asc").await),
        ["alpha 100% done", "gamma"]
    );
    assert_eq!(titles(&q("search=ALPHA").await), ["alpha 100% done"]);
    assert_eq!(
        titles(&q("search=under_score").await),
        ["alpha 100% done"],
        "description is searched"
    );
    assert_eq!(
        titles(&q("search=100%25").await),
        ["alpha 100% done"],
        "% is literal"
    );
    assert_eq!(q("search=_").await["count"], 1, "_ is literal");
    assert_eq!(
        titles(&q(&format!("created_after={}", cut.replace('+', "%2B"))).await),
        ["gamma"]
    );
    let upd = c.get(&format!("/tasks/{b}")).await.expect(200)["task"]["updated_at"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(q(&format!("updated_after={upd}")).await["count"], 0);
    assert_eq!(titles(&q(&format!("parent_id={a}")).await), ["gamma"]);
    let pid = all["tasks"][0]["project_id"].as_i64().unwrap();
    assert_eq!(q(&format!("project_id={pid}")).await["count"], 3);
    assert_eq!(q("project_id=99999").await["count"], 0);
    assert_eq!(titles(&q("sort_by=updated_at").await)[0], "beta");
    assert_eq!(
        titles(&q("sort_by=priority&sort_dir=asc").await),
        ["alpha 100% done", "gamma", "beta"]
    );
    let page = q("limit=1&offset=1&sort_by=title&sort_dir=asc").await;
    assert_eq!(
        (
            titles(&page),
            page["count"].as_u64(),
            page["limit"].as_u64(),
            page["offset"].as_u64()
        ),
        (vec!["beta".to_owned()], Some(3), Some(1), Some(1))
    );
    assert_eq!(
        q("limit=100000").await["limit"],
        500,
        "limit is capped at 500"
    );
    let _ = g;
}

async fn snapshot(c: &Client) -> (u64, Value) {
    let tasks = c.get("/tasks?limit=500").await.expect(200);
    (tasks["count"].as_u64().unwrap(), tasks["tasks"].clone())
}

async fn bad_input_writes_nothing(app: TestApp) {
    let c = app.actor("agent", "fuzzer");
    let t = c.create_task(json!({ "title": "keep" })).await["id"]
        .as_i64()
        .unwrap();
    let before = snapshot(&c).await;
    let events_before = c.get(&format!("/tasks/{t}/events")).await.expect(200);
    let cases: Vec<(&str, &str, Vec<u8>, u16)> = vec![
        ("POST", "/tasks", b"{\"title\": ".to_vec(), 400),
        ("POST", "/tasks", b"not json".to_vec(), 400),
        (
            "POST",
            "/tasks",
            br#"{"title":"x","priority":0}"#.to_vec(),
            422,
        ),
        (
            "POST",
            "/tasks",
            br#"{"title":"x","priority":11}"#.to_vec(),
            422,
        ),
        (
            "POST",
            "/tasks",
            br#"{"title":"x","priority":"high"}"#.to_vec(),
            422,
        ),
        (
            "POST",
            "/tasks",
            br#"{"description":"no title"}"#.to_vec(),
            422,
        ),
        (
            "POST",
            "/tasks",
            format!("{{\"title\":\"{}\"}}", "x".repeat(501)).into_bytes(),
            422,
        ),
        (
            "POST",
            "/tasks",
            br#"{"title":"x","payload":[1,2]}"#.to_vec(),
            422,
        ),
        (
            "POST",
            "/tasks",
            br#"{"title":"x","payload":"s"}"#.to_vec(),
            422,
        ),
        ("PATCH", "/tasks/ID", br#"{"status":"done"}"#.to_vec(), 422),
        ("PATCH", "/tasks/ID", br#"{"priority":0}"#.to_vec(), 422),
        (
            "POST",
            "/tasks/ID/messages",
            br#"{"parts":[]}"#.to_vec(),
            422,
        ),
        (
            "POST",
            "/tasks/ID/messages",
            br#"{"parts":[{"type":"video","content":"x"}]}"#.to_vec(),
            422,
        ),
        (
            "POST",
            "/tasks/ID/claim",
            br#"{"lease_duration":5}"#.to_vec(),
            422,
        ),
        (
            "POST",
            "/orgs/nope/projects/main/tasks",
            br#"{"title":"x"}"#.to_vec(),
            404,
        ),
        (
            "POST",
            "/orgs/default/projects/nope/tasks",
            br#"{"title":"x"}"#.to_vec(),
            404,
        ),
        ("GET", "/tasks/abc", Vec::new(), 400),
        ("GET", "/tasks?status=done", Vec::new(), 400),
        ("GET", "/tasks?limit=-1", Vec::new(), 400),
        ("GET", "/tasks?priority=zero", Vec::new(), 400),
        ("GET", "/tasks?sort_by=color", Vec::new(), 400),
        ("GET", "/tasks?created_after=yesterday", Vec::new(), 400),
        ("GET", "/no/such/route", Vec::new(), 404),
        ("POST", "/orgs", br#"{"slug":"Bad Slug"}"#.to_vec(), 422),
        ("POST", "/orgs", br#"{"slug":"default"}"#.to_vec(), 409),
        ("DELETE", "/orgs/default", Vec::new(), 409),
        ("DELETE", "/orgs/default/projects/main", Vec::new(), 409),
    ];
    for (method, path, body, status) in cases {
        let path = path.replace("ID", &t.to_string());
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let res = c.send_raw(m, &path, body).await;
        res.expect_error(status);
    }
    let huge = format!(
        "{{\"title\":\"x\",\"description\":\"{}\"}}",
        "y".repeat(10 * 1024 * 1024)
    );
    c.send_raw(reqwest::Method::POST, "/tasks", huge.into_bytes())
        .await
        .expect_error(413);
    assert_eq!(snapshot(&c).await, before, "bad input wrote tasks");
    assert_eq!(
        c.get(&format!("/tasks/{t}/events")).await.expect(200),
        events_before,
        "bad input wrote events"
    );
}

async fn org_and_project_routes(app: TestApp) {
    let c = app.actor("human", "olivia");
    let org = c
        .post(
            "/orgs",
            json!({ "slug": "acme", "name": "Acme", "description": "d" }),
        )
        .await
        .expect(201);
    for f in ["id", "slug", "name", "description", "created_at", "role"] {
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
    let t2 = c
        .post("/orgs/acme/projects/web/tasks", json!({ "title": "two" }))
        .await
        .expect(201)["task"]["id"]
        .as_i64()
        .unwrap();
    c.post(&format!("/tasks/{t2}/claim"), json!({}))
        .await
        .expect(200);
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
    c.delete("/orgs/acme").await.expect(200);
    c.get("/orgs/acme").await.expect_error(404);
}

crate::on_both_backends!(
    task_routes_and_shapes,
    list_filters_and_sorts,
    bad_input_writes_nothing,
    org_and_project_routes
);
