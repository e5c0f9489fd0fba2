//! The read path (issue 14): counts kept by the counters stay equal to
//! `COUNT(*)` through every kind of change; REST pages by cursor; task lists
//! are read through indexes, one page at a time (PostgreSQL's plans).

use std::collections::BTreeMap;

use ats::actor::Actor;
use ats::auth::caller::Caller;
use ats::service::{CountFilter, Scope, SortBy, TaskQuery, TaskStatus};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};

use crate::common::observed::{explain, observed, take};
use crate::common::{Client, TestApp};

crate::on_both_backends!(
    counts_stay_exact_under_a_random_mix_of_changes,
    rest_pages_by_cursor_cover_every_task_once,
);

/// A small deterministic generator (no dependency, same run every time).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

/// (project, status, channel) → tasks, counted from `tasks` itself.
async fn counted(db: &DatabaseConnection) -> BTreeMap<(i32, String, String), u64> {
    db.query_all_raw(Statement::from_string(
        db.get_database_backend(),
        "SELECT project_id, status, channel, COUNT(*) AS n FROM tasks \
         GROUP BY project_id, status, channel",
    ))
    .await
    .unwrap()
    .into_iter()
    .map(|r| {
        (
            (
                r.try_get::<i32>("", "project_id").unwrap(),
                r.try_get::<String>("", "status").unwrap(),
                r.try_get::<String>("", "channel").unwrap(),
            ),
            r.try_get::<i64>("", "n").unwrap() as u64,
        )
    })
    .collect()
}

async fn project_ids(db: &DatabaseConnection) -> Vec<i32> {
    db.query_all_raw(Statement::from_string(
        db.get_database_backend(),
        "SELECT id FROM projects",
    ))
    .await
    .unwrap()
    .into_iter()
    .map(|r| r.try_get::<i32>("", "id").unwrap())
    .collect()
}

async fn task_ids(c: &Client, path: &str) -> Vec<i64> {
    c.get(&format!(
        "{path}?limit=500&status=pending,in_progress,completed,failed,rejected,cancelled"
    ))
    .await
    .expect(200)["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect()
}

async fn counts_stay_exact_under_a_random_mix_of_changes(app: TestApp) {
    let c = app.actor("agent", "mixer");
    c.post("/orgs", json!({ "slug": "acme" })).await.expect(201);
    for p in ["web", "doomed"] {
        c.post("/orgs/acme/projects", json!({ "slug": p }))
            .await
            .expect(201);
    }
    let (ats, _) = observed(&app).await;
    let db = sea_orm::Database::connect(&app.db.url).await.unwrap();
    let channels = ["a", "b", "c"];
    let places = [
        "/tasks",
        "/orgs/acme/projects/web/tasks",
        "/orgs/acme/projects/doomed/tasks",
    ];
    let mut rng = Lcg(7);
    for step in 0..160 {
        let place = places[rng.below(places.len())];
        let channel = channels[rng.below(channels.len())];
        let ids = task_ids(&c, place).await;
        let pick = |rng: &mut Lcg| (!ids.is_empty()).then(|| ids[rng.below(ids.len())]);
        match rng.below(10) {
            0 => {
                c.post(
                    place,
                    json!({ "title": format!("t{step}"), "channel": channel }),
                )
                .await
                .expect(201);
            }
            1 => {
                let tasks: Vec<Value> = (0..rng.below(5) + 1)
                    .map(|i| json!({ "title": format!("b{step}-{i}"), "channel": channels[i % 3] }))
                    .collect();
                c.post(&format!("{place}/bulk"), json!({ "tasks": tasks }))
                    .await
                    .expect(201);
            }
            2 | 3 => {
                if let Some(id) = pick(&mut rng) {
                    c.act(id, "claim", json!({})).await;
                }
            }
            4 => {
                if let Some(id) = pick(&mut rng) {
                    let action = ["complete", "fail", "reject", "cancel"][rng.below(4)];
                    c.act(id, action, json!({ "reason": "mix" })).await;
                }
            }
            5 => {
                if let Some(id) = pick(&mut rng) {
                    c.patch(&format!("/tasks/{id}"), json!({ "channel": channel }))
                        .await;
                }
            }
            6 => {
                if let Some(id) = pick(&mut rng) {
                    let status = ["pending", "in_progress", "completed"][rng.below(3)];
                    c.patch(&format!("/tasks/{id}"), json!({ "status": status }))
                        .await;
                }
            }
            7 => {
                if let Some(id) = pick(&mut rng) {
                    c.delete(&format!("/tasks/{id}")).await;
                }
            }
            8 => {
                ats.fold_counts().await.unwrap();
            }
            _ => {
                if let Some(id) = pick(&mut rng) {
                    c.act(id, "claim", json!({})).await;
                    c.act(id, "complete", json!({})).await;
                }
            }
        }
        if step % 20 == 19 {
            assert_exact(&ats, &db, &c, step).await;
        }
    }
    // A project deleted with its tasks takes its counts with it.
    c.delete("/orgs/acme/projects/doomed").await.expect(200);
    assert_exact(&ats, &db, &c, 1000).await;
    ats.fold_counts().await.unwrap();
    assert_exact(&ats, &db, &c, 1001).await;
}

/// The counters, read through the service and through REST, equal `COUNT(*)`.
async fn assert_exact(ats: &ats::service::Ats, db: &DatabaseConnection, c: &Client, step: usize) {
    let truth = counted(db).await;
    let tally = ats
        .tally(&CountFilter {
            projects: project_ids(db).await,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(tally.cells, truth, "step {step}: counters vs COUNT(*)");
    let stats = c.get("/tasks/stats").await.expect(200)["stats"].clone();
    for status in TaskStatus::ALL {
        let want: u64 = truth
            .iter()
            .filter(|((_, s, _), _)| s == status.as_str())
            .map(|(_, n)| n)
            .sum();
        assert_eq!(
            stats["by_status"][status.as_str()],
            want,
            "step {step}: stats by_status {status:?}"
        );
        for channel in ["a", "b", "c"] {
            let want: u64 = truth
                .iter()
                .filter(|((_, s, ch), _)| s == status.as_str() && ch == channel)
                .map(|(_, n)| n)
                .sum();
            let page = c
                .get(&format!(
                    "/tasks?status={}&channel={channel}&limit=1",
                    status.as_str()
                ))
                .await
                .expect(200);
            assert_eq!(
                page["count"], want,
                "step {step}: count of {status:?}/{channel}"
            );
        }
    }
    let total: u64 = truth.values().sum();
    assert_eq!(stats["total"], total, "step {step}: stats total");
}

async fn rest_pages_by_cursor_cover_every_task_once(app: TestApp) {
    let c = app.actor("agent", "pager");
    let tasks: Vec<Value> = (0..37)
        .map(|i| json!({ "title": format!("t{i:02}"), "priority": i % 5 + 1, "channel": "cur" }))
        .collect();
    let made = c
        .post("/tasks/bulk", json!({ "tasks": tasks }))
        .await
        .expect(201);
    let mut want: Vec<(i64, i64)> = made["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["priority"].as_i64().unwrap(), t["id"].as_i64().unwrap()))
        .collect();
    // Highest priority first, ties by id descending: the list's own order.
    want.sort_by(|a, b| b.cmp(a));
    for (sort, dir) in [("priority", "desc"), ("created_at", "asc")] {
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..10 {
            let mut path = format!("/tasks?channel=cur&limit=8&sort_by={sort}&sort_dir={dir}");
            if let Some(a) = &after {
                path.push_str(&format!("&after={a}"));
            }
            let page = c.get(&path).await.expect(200);
            assert_eq!(page["count"], 37, "count over all pages");
            seen.extend(
                page["tasks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t["id"].as_i64().unwrap()),
            );
            match page["next_cursor"].as_str() {
                Some(next) => after = Some(next.to_owned()),
                None => break,
            }
        }
        let mut expected: Vec<i64> = want.iter().map(|(_, id)| *id).collect();
        if sort == "created_at" {
            expected.sort();
        }
        assert_eq!(seen, expected, "{sort} {dir}: every task once, in order");
    }
    // A cursor of another order, garbage, or with an offset is refused.
    let first = c
        .get("/tasks?channel=cur&limit=2&sort_by=priority")
        .await
        .expect(200);
    let cursor = first["next_cursor"].as_str().unwrap();
    for bad in [
        format!("/tasks?channel=cur&sort_by=title&after={cursor}"),
        "/tasks?after=garbage".to_owned(),
        format!("/tasks?channel=cur&sort_by=priority&after={cursor}&offset=2"),
    ] {
        let err = c.get(&bad).await.expect_error(400);
        assert_eq!(err["code"], "BAD_REQUEST", "{bad}");
    }
}

/// Every list shape the API offers reads `tasks` through an index, in the
/// list's order, and stops after the page (PostgreSQL's plans after
/// `ANALYZE`, on 60,000 tasks); counts read the counters only.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn task_lists_are_served_by_indexes() {
    let Some(app) = TestApp::start(crate::common::Backend::Postgres).await else {
        eprintln!("SKIPPED (PostgreSQL): ATS_TEST_PG_URL is not set");
        return;
    };
    let c = app.actor("agent", "loader");
    for batch in 0..60 {
        let tasks: Vec<Value> = (0..1000)
            .map(|i| {
                json!({
                    "title": format!("t{batch}-{i}"),
                    "channel": format!("c{}", i % 8),
                    "type": format!("k{}", i % 5),
                    "priority": 1 + i % 10,
                })
            })
            .collect();
        c.post("/tasks/bulk", json!({ "tasks": tasks }))
            .await
            .expect(201);
    }
    let db = sea_orm::Database::connect(&app.db.url).await.unwrap();
    // Statuses and assignees as a working queue has them.
    for sql in [
        "UPDATE tasks SET status = 'completed', assignee_type = 'agent', \
         assignee_id = 'w' || (id % 20), completed_at = updated_at WHERE id % 3 = 0",
        "UPDATE tasks SET status = 'in_progress', assignee_type = 'agent', \
         assignee_id = 'w' || (id % 20) WHERE id % 50 = 1",
        "ANALYZE tasks",
    ] {
        db.execute_unprepared(sql).await.unwrap();
    }
    let (ats, log) = observed(&app).await;
    let viewer = ats
        .viewer(&Caller::Named(Actor::new("agent", "loader", None).unwrap()))
        .await
        .unwrap();
    let pending = vec![TaskStatus::Pending];
    let base = TaskQuery {
        limit: 50,
        ..TaskQuery::default()
    };
    let shapes: Vec<(&str, Scope, TaskQuery)> = vec![
        ("newest first", Scope::Any, base.clone()),
        (
            "pending, oldest first",
            Scope::Any,
            TaskQuery {
                statuses: pending.clone(),
                ascending: true,
                ..base.clone()
            },
        ),
        (
            "pending of a channel, oldest first",
            Scope::Any,
            TaskQuery {
                statuses: pending.clone(),
                channels: vec!["c3".into()],
                ascending: true,
                ..base.clone()
            },
        ),
        (
            "a type, newest first",
            Scope::Any,
            TaskQuery {
                statuses: pending.clone(),
                types: vec!["k2".into()],
                ..base.clone()
            },
        ),
        (
            "an assignee's",
            Scope::Any,
            TaskQuery {
                assignee_id: Some("w7".into()),
                statuses: vec![TaskStatus::Completed],
                ..base.clone()
            },
        ),
        (
            "a project's pending",
            Scope::Project {
                org: "default".into(),
                project: "main".into(),
            },
            TaskQuery {
                statuses: pending.clone(),
                ..base.clone()
            },
        ),
        (
            "pending, most urgent first",
            Scope::Any,
            TaskQuery {
                statuses: pending.clone(),
                sort_by: SortBy::Priority,
                ..base.clone()
            },
        ),
        (
            "recently changed",
            Scope::Any,
            TaskQuery {
                sort_by: SortBy::UpdatedAt,
                ..base.clone()
            },
        ),
    ];
    for (name, scope, q) in shapes {
        // The page, then the page after its last task (a deep cursor).
        for deep in [false, true] {
            let mut q = q.clone();
            q.count = true;
            if deep {
                let mut far = q.clone();
                far.limit = 500;
                far.count = false;
                let page = ats.list_tasks(&viewer, &scope, far).await.unwrap();
                let last = page.tasks.last().expect("a full page");
                q.after = Some(q.sort_by.cursor(last));
            }
            take(&log);
            let by_counters = q.types.is_empty() && q.assignee_id.is_none();
            let page = ats.list_tasks(&viewer, &scope, q).await.unwrap();
            assert!(!page.tasks.is_empty(), "{name}: some tasks");
            let statements = take(&log);
            let select = statements
                .iter()
                .find(|s| s.contains("FROM \"tasks\"") && s.contains("LIMIT"))
                .unwrap_or_else(|| panic!("{name}: the page's query in {statements:#?}"));
            let plan = explain(&db, select).await;
            eprintln!("{name} (deep: {deep}):\n{plan}");
            assert!(!plan.contains("Seq Scan"), "{name}: a scan:\n{plan}");
            assert!(
                !plan.contains("Sort"),
                "{name}: sorted, not read in order:\n{plan}"
            );
            // Status, channel and project filters are counted by the
            // counters; others by an index-only count of `tasks`.
            let counts: Vec<&String> = statements.iter().filter(|s| s.contains("COUNT(")).collect();
            if by_counters {
                assert!(counts.is_empty(), "{name}: counted by a query: {counts:#?}");
            } else {
                for count in counts {
                    let plan = explain(&db, count).await;
                    eprintln!("{name} count:\n{plan}");
                    assert!(
                        !plan.contains("Seq Scan"),
                        "{name}: a counting scan:\n{plan}"
                    );
                }
            }
        }
    }
}
