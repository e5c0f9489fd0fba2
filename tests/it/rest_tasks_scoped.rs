//! The task routes under `/orgs/:org/projects/:project/tasks` (a task of
//! another project is 404 there, and the refusal writes nothing), and the
//! stats routes (`/tasks/stats`, scoped stats, `/orgs/:org/projects/:project/stats`).

use serde_json::{Value, json};

use crate::common::{Client, TestApp};
use crate::rest_tasks::{assert_task, event_types, id, keys, set, task_of, titles};

const SCOPE: &str = "/orgs/acme/projects/alpha/tasks";

/// `acme` with projects `alpha` and `beta`, owned by `c`.
async fn acme(c: &Client) {
    c.post("/orgs", json!({ "slug": "acme" })).await.expect(201);
    for p in ["alpha", "beta"] {
        c.post("/orgs/acme/projects", json!({ "slug": p }))
            .await
            .expect(201);
    }
}

/// What a refused request must leave untouched: the task, its thread, its history.
async fn state_of(c: &Client, task: i64) -> (Value, Value, Vec<String>) {
    let t = c.get(&format!("/tasks/{task}")).await.expect(200);
    let m = c.get(&format!("/tasks/{task}/messages")).await.expect(200);
    (t, m, event_types(c, task).await)
}

async fn scoped_task_routes(app: TestApp) {
    let c = app.actor("human", "owner");
    acme(&c).await;
    let created = c
        .post(
            SCOPE,
            json!({ "title": "in alpha", "channel": "ops", "priority": 7 }),
        )
        .await
        .expect(201);
    let a = task_of(&created);
    assert_eq!(
        (&a["org"], &a["project"], &a["source_id"]),
        (&json!("acme"), &json!("alpha"), &json!("owner"))
    );
    let aid = id(&a);
    let b = c
        .post(
            "/orgs/acme/projects/beta/tasks",
            json!({ "title": "in beta" }),
        )
        .await
        .expect(201)["task"]
        .clone();
    let bid = id(&b);
    let d = c.create_task(json!({ "title": "in default" })).await;
    assert_eq!(
        (&d["org"], &d["project"]),
        (&json!("default"), &json!("main"))
    );
    let did = id(&d);

    // The list holds this project only, with the usual shape and filters.
    let l = c.get(SCOPE).await.expect(200);
    assert_eq!(keys(&l), set(&["tasks", "count", "limit", "offset"]));
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

    // Every route on this project's task works.
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

    // A task of another project (same org, or default) is 404 on every route
    // here, and the refusals change nothing.
    for other in [bid, did] {
        let before = state_of(&c, other).await;
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
        assert_eq!(state_of(&c, other).await, before, "a 404 wrote something");
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

    // Unknown org or project: 404 on list, create, get and stats.
    let count = c.get("/tasks").await.expect(200)["count"].clone();
    for base in [
        "/orgs/nope/projects/alpha/tasks",
        "/orgs/acme/projects/nope/tasks",
    ] {
        c.get(base).await.expect_error(404);
        c.post(base, json!({ "title": "lost" }))
            .await
            .expect_error(404);
        c.get(&format!("{base}/{aid}")).await.expect_error(404);
        c.get(&format!("{base}/stats")).await.expect_error(404);
    }
    // Another actor cannot see acme: 404, not 403.
    let stranger = app.actor("human", "stranger");
    stranger.get(SCOPE).await.expect_error(404);
    stranger
        .post(SCOPE, json!({ "title": "sneak" }))
        .await
        .expect_error(404);
    stranger
        .get(&format!("/tasks/{aid}"))
        .await
        .expect_error(404);
    assert_eq!(c.get("/tasks").await.expect(200)["count"], count);

    // DELETE through the scope.
    let del = c.delete(&format!("{SCOPE}/{aid}")).await.expect(200);
    assert_eq!(del, json!({ "deleted": true, "id": aid }));
    c.get(&format!("/tasks/{aid}")).await.expect_error(404);
    assert_eq!(c.get(SCOPE).await.expect(200)["count"], 0);
}

/// A stats body: the exact shape of SPEC §6; returns the stats.
#[track_caller]
fn stats_of(body: &Value) -> Value {
    assert_eq!(keys(body), set(&["stats"]), "{body}");
    let s = &body["stats"];
    assert_eq!(
        keys(s),
        set(&[
            "total",
            "by_status",
            "by_channel",
            "avg_completion_seconds",
            "completed_count",
            "recent"
        ]),
        "{s}"
    );
    assert_eq!(
        keys(&s["by_status"]),
        set(&[
            "pending",
            "in_progress",
            "completed",
            "cancelled",
            "failed",
            "rejected"
        ])
    );
    assert_eq!(
        keys(&s["recent"]),
        set(&["created_24h", "completed_24h", "created_7d", "completed_7d"])
    );
    for v in s["by_status"]
        .as_object()
        .unwrap()
        .values()
        .chain(s["by_channel"].as_object().unwrap().values())
        .chain(s["recent"].as_object().unwrap().values())
    {
        assert!(v.is_u64(), "counts are integers: {s}");
    }
    assert!(s["total"].is_u64() && s["completed_count"].is_u64());
    assert!(s["avg_completion_seconds"].is_null() || s["avg_completion_seconds"].is_f64());
    s.clone()
}

async fn stats_routes(app: TestApp) {
    let c = app.actor("human", "stat");
    let empty = stats_of(&c.get("/tasks/stats").await.expect(200));
    assert_eq!(
        empty,
        json!({ "total": 0, "by_status": { "pending": 0, "in_progress": 0, "completed": 0,
                 "cancelled": 0, "failed": 0, "rejected": 0 }, "by_channel": {},
                 "avg_completion_seconds": null, "completed_count": 0,
                 "recent": { "created_24h": 0, "completed_24h": 0, "created_7d": 0,
                             "completed_7d": 0 } })
    );

    let mk = |title: &str, channel: &str| {
        let c = c.clone();
        let body = json!({ "title": title, "channel": channel });
        async move { id(&c.create_task(body).await) }
    };
    let t1 = mk("one", "ops").await;
    let t2 = mk("two", "ops").await;
    let _t3 = mk("three", "support").await;
    let t4 = mk("four", "support").await;
    c.post(&format!("/tasks/{t1}/claim"), json!({}))
        .await
        .expect(200);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    c.post(&format!("/tasks/{t1}/complete"), json!({}))
        .await
        .expect(200);
    c.post(&format!("/tasks/{t2}/claim"), json!({}))
        .await
        .expect(200);
    c.post(&format!("/tasks/{t4}/cancel"), json!({}))
        .await
        .expect(200);
    acme(&c).await;
    c.post(
        "/orgs/acme/projects/alpha/tasks",
        json!({ "title": "a1", "channel": "web" }),
    )
    .await
    .expect(201);
    c.post("/orgs/acme/projects/beta/tasks", json!({ "title": "b1" }))
        .await
        .expect(201);

    let s = stats_of(&c.get("/tasks/stats").await.expect(200));
    assert_eq!(s["total"], 6);
    assert_eq!(
        s["by_status"],
        json!({ "pending": 3, "in_progress": 1, "completed": 1, "cancelled": 1, "failed": 0,
                "rejected": 0 })
    );
    assert_eq!(
        s["by_channel"],
        json!({ "ops": 2, "support": 2, "web": 1, "default": 1 })
    );
    assert_eq!(s["completed_count"], 1);
    let avg = s["avg_completion_seconds"]
        .as_f64()
        .expect("a number once one completed");
    assert!((0.0..60.0).contains(&avg), "avg {avg}");
    assert_eq!(
        s["recent"],
        json!({ "created_24h": 6, "completed_24h": 1, "created_7d": 6, "completed_7d": 1 })
    );

    // One org, one project: by query, by scoped task route, by project route.
    let org = stats_of(&c.get("/tasks/stats?org=acme").await.expect(200));
    assert_eq!(
        (&org["total"], &org["by_channel"]),
        (&json!(2), &json!({ "web": 1, "default": 1 }))
    );
    let alpha = stats_of(
        &c.get("/tasks/stats?org=acme&project=alpha")
            .await
            .expect(200),
    );
    assert_eq!(
        (
            &alpha["total"],
            &alpha["by_channel"],
            &alpha["by_status"]["pending"]
        ),
        (&json!(1), &json!({ "web": 1 }), &json!(1))
    );
    assert_eq!(
        stats_of(&c.get(&format!("{SCOPE}/stats")).await.expect(200)),
        alpha
    );
    assert_eq!(
        stats_of(&c.get("/orgs/acme/projects/alpha/stats").await.expect(200)),
        alpha
    );
    let main = stats_of(&c.get("/orgs/default/projects/main/stats").await.expect(200));
    assert_eq!(
        (&main["total"], &main["completed_count"]),
        (&json!(4), &json!(1))
    );
    assert_eq!(
        stats_of(&c.get("/tasks/stats?org=default").await.expect(200)),
        main
    );
    assert_eq!(
        stats_of(
            &c.get("/orgs/default/projects/main/tasks/stats")
                .await
                .expect(200)
        ),
        main
    );

    // Bad scopes.
    c.get("/tasks/stats?project=alpha").await.expect_error(400);
    c.get("/tasks/stats?org=nope").await.expect_error(404);
    c.get("/tasks/stats?org=acme&project=nope")
        .await
        .expect_error(404);
    c.get("/orgs/nope/projects/alpha/stats")
        .await
        .expect_error(404);
    c.get("/orgs/acme/projects/nope/stats")
        .await
        .expect_error(404);
    // Someone who cannot see acme counts only what it can see.
    let stranger = app.actor("human", "stranger");
    assert_eq!(
        stats_of(&stranger.get("/tasks/stats").await.expect(200))["total"],
        4
    );
    stranger
        .get("/orgs/acme/projects/alpha/stats")
        .await
        .expect_error(404);
    stranger
        .get("/tasks/stats?org=acme")
        .await
        .expect_error(404);
}

crate::on_both_backends!(scoped_task_routes, stats_routes);
