//! The stats routes (SPEC §6): `/tasks/stats` (optionally `?org=&project=`),
//! `/orgs/:org/projects/:project/tasks/stats` and
//! `/orgs/:org/projects/:project/stats`: the exact shape, the counts, the
//! scopes, and only what the caller may read.

use serde_json::json;

use crate::common::shapes::{RECENT_KEYS, STATS_KEYS, id, stats_of};
use crate::common::{Client, Role, TestApp};

crate::on_both_backends!(
    no_tasks_means_zero_everywhere,
    stats_count_by_status_channel_and_recent,
    one_org_or_project_by_query_or_route,
    unknown_or_half_scopes_are_refused,
    a_stranger_counts_only_what_it_may_read,
    every_stats_field_is_there,
);

/// `human:stat` owning `acme` (projects `alpha` and `beta`): in default/main
/// one task completed, one in progress, one cancelled, one pending (two on
/// `ops`, two on `support`); in alpha one on `web`, in beta one on `default`.
async fn seeded(app: &TestApp) -> Client {
    let c = app
        .user("stat")
        .in_org("acme", Role::Owner)
        .with_project("alpha")
        .with_project("beta")
        .await;
    let mk = |title: &str, channel: &str| {
        let c = c.clone();
        let body = json!({ "title": title, "channel": channel });
        async move { id(&c.create_task(body).await) }
    };
    let t1 = mk("one", "ops").await;
    let t2 = mk("two", "ops").await;
    let _t3 = mk("three", "support").await;
    let t4 = mk("four", "support").await;
    c.act(t1, "claim", json!({})).await.expect(200);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    c.act(t1, "complete", json!({})).await.expect(200);
    c.act(t2, "claim", json!({})).await.expect(200);
    c.act(t4, "cancel", json!({})).await.expect(200);
    c.post(
        "/orgs/acme/projects/alpha/tasks",
        json!({ "title": "a1", "channel": "web" }),
    )
    .await
    .expect(201);
    c.post("/orgs/acme/projects/beta/tasks", json!({ "title": "b1" }))
        .await
        .expect(201);
    c
}

async fn no_tasks_means_zero_everywhere(app: TestApp) {
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
}

async fn stats_count_by_status_channel_and_recent(app: TestApp) {
    let c = seeded(&app).await;
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
}

async fn one_org_or_project_by_query_or_route(app: TestApp) {
    let c = seeded(&app).await;
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
        stats_of(
            &c.get("/orgs/acme/projects/alpha/tasks/stats")
                .await
                .expect(200)
        ),
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
}

async fn unknown_or_half_scopes_are_refused(app: TestApp) {
    let c = seeded(&app).await;
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
}

async fn a_stranger_counts_only_what_it_may_read(app: TestApp) {
    seeded(&app).await;
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

/// Every stats field, `recent`'s four counts, and one task on `ops` counted
/// by `/tasks/stats` and by its project's stats.
async fn every_stats_field_is_there(app: TestApp) {
    let c = app.actor("agent", "shaper");
    c.create_task(json!({ "title": "Shape", "channel": "ops" }))
        .await;
    let stats = c.get("/tasks/stats").await.expect(200)["stats"].clone();
    for f in STATS_KEYS {
        assert!(stats.get(f).is_some(), "stats lacks {f}");
    }
    for f in RECENT_KEYS {
        assert!(stats["recent"][f].is_u64(), "recent lacks {f}");
    }
    assert_eq!(stats["by_channel"]["ops"], 1);
    assert_eq!(
        c.get("/orgs/default/projects/main/stats").await.expect(200)["stats"]["total"],
        1
    );
}
