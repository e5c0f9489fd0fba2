//! GraphQL `stats` and `taskEvents` (SPEC §5, §6): counts by status, channel
//! and recency, scoped and narrowed to what the caller may read (as REST
//! says); the history oldest first, paged by `after`, and each event filter.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::common::gql::{ok, refused};
use crate::common::shapes::{strs, ts};
use crate::common::{Client, TestApp};

crate::on_both_backends!(
    stats_count_by_status_channel_and_recency,
    stats_scope_to_what_the_caller_may_read,
    task_events_is_the_history_oldest_first,
    task_events_pages_by_the_after_cursor,
    each_event_filter_narrows_the_history,
    others_see_only_their_events_and_bad_arguments_are_refused,
);

const STATS: &str = "query($org: String, $project: String) { stats(org: $org, project: $project) { total completedCount avgCompletionSeconds byStatus { status count } byChannel { channel count } recent { created24h completed24h created7d completed7d } } }";
const EVENTS: &str = "query($f: TaskEventFilter, $after: ID, $first: Int) { taskEvents(filter: $f, after: $after, first: $first) { id type taskId channel actor { type id } createdAt task { title } } }";

/// `human:ann` owns so/p; r1 (review), r2, r4 on ops, r3 on support in
/// default/main, s1 on support in so/p. `agent:bob` claims, messages and
/// completes r1, claims and fails r4; ann updates s1. Returns ann, bob, ids.
async fn seeded(app: &TestApp) -> (Client, Client, Vec<Value>) {
    let a = app.actor("human", "ann");
    let b = app.actor("agent", "bob");
    ok(
        &a,
        "mutation { createOrganization(input: {slug: \"so\"}) { organization { slug } } createProject(org: \"so\", input: {slug: \"p\"}) { project { slug } } }",
        json!({}),
    )
    .await;
    let create = "mutation($in: CreateTaskInput!) { createTask(input: $in) { task { id } } }";
    let mut ids = Vec::new();
    for spec in [
        json!({ "title": "r1", "channel": "ops", "type": "review" }),
        json!({ "title": "r2", "channel": "ops" }),
        json!({ "title": "r3", "channel": "support" }),
        json!({ "title": "r4", "channel": "ops" }),
        json!({ "title": "s1", "channel": "support", "org": "so", "project": "p" }),
    ] {
        ids.push(ok(&a, create, json!({ "in": spec })).await["createTask"]["task"]["id"].clone());
    }
    let message =
        "addMessage(taskId: $id, parts: [{type: \"text\", content: \"hi\"}]) { message { id } }";
    for (who, task, field) in [
        (&b, 0, "claimTask(id: $id) { task { id } }"),
        (&b, 0, message),
        (&b, 0, "completeTask(id: $id) { task { id } }"),
        (&b, 3, "claimTask(id: $id) { task { id } }"),
        (&b, 3, "failTask(id: $id) { task { id } }"),
        (
            &a,
            4,
            "updateTask(id: $id, input: {priority: 6}) { task { id } }",
        ),
    ] {
        let mutation = format!("mutation($id: ID!) {{ {field} }}");
        ok(who, &mutation, json!({ "id": ids[task] })).await;
    }
    (a, b, ids)
}

fn as_map(list: &Value, key: &str) -> BTreeMap<String, i64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e[key].as_str().unwrap().to_owned(),
                e["count"].as_i64().unwrap(),
            )
        })
        .collect()
}

async fn stats_count_by_status_channel_and_recency(app: TestApp) {
    let (a, _, _) = seeded(&app).await;
    let s = ok(&a, STATS, json!({})).await["stats"].clone();
    assert_eq!(s["total"], 5);
    assert_eq!(s["completedCount"], 1);
    assert!(
        s["avgCompletionSeconds"].as_f64().is_some_and(|x| x >= 0.0),
        "{s}"
    );
    let want_status: BTreeMap<String, i64> = [
        ("PENDING", 3),
        ("IN_PROGRESS", 0),
        ("COMPLETED", 1),
        ("CANCELLED", 0),
        ("FAILED", 1),
        ("REJECTED", 0),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(as_map(&s["byStatus"], "status"), want_status);
    assert_eq!(
        as_map(&s["byChannel"], "channel"),
        [("ops".to_owned(), 3), ("support".to_owned(), 2)].into()
    );
    assert_eq!(
        s["recent"],
        json!({ "created24h": 5, "completed24h": 1, "created7d": 5, "completed7d": 1 })
    );
}

/// Scoped, and narrowed to what the caller may read; REST agrees.
async fn stats_scope_to_what_the_caller_may_read(app: TestApp) {
    let (a, b, _) = seeded(&app).await;
    assert_eq!(ok(&b, STATS, json!({})).await["stats"]["total"], 4);
    assert_eq!(
        ok(&a, STATS, json!({ "org": "so" })).await["stats"]["total"],
        1
    );
    assert_eq!(
        ok(&a, STATS, json!({ "org": "default", "project": "main" })).await["stats"]["total"],
        4
    );
    refused(&b, "NOT_FOUND", STATS, json!({ "org": "so" })).await;
    refused(&a, "BAD_REQUEST", STATS, json!({ "project": "p" })).await;
    let rest = b.get("/tasks/stats").await.expect(200)["stats"].clone();
    let g = ok(&b, STATS, json!({})).await["stats"].clone();
    assert_eq!(rest["total"], g["total"]);
    assert_eq!(rest["completed_count"], g["completedCount"]);
    assert_eq!(rest["by_status"]["failed"], 1);
}

fn event_ids(events: &Value) -> Vec<i64> {
    strs(events, "id")
        .iter()
        .map(|i| i.parse().unwrap())
        .collect()
}

async fn task_events_is_the_history_oldest_first(app: TestApp) {
    let (a, _, ids) = seeded(&app).await;
    let everything = ok(&a, EVENTS, json!({})).await["taskEvents"].clone();
    let all: Vec<String> = everything
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["type"].as_str().unwrap(),
                e["task"]["title"].as_str().unwrap()
            )
        })
        .collect();
    let expect = [
        "task.created r1",
        "task.created r2",
        "task.created r3",
        "task.created r4",
        "task.created s1",
        "task.claimed r1",
        "task.message r1",
        "task.completed r1",
        "task.claimed r4",
        "task.failed r4",
        "task.updated s1",
    ];
    assert_eq!(all, expect);
    assert!(event_ids(&everything).windows(2).all(|w| w[0] < w[1]));
    assert_eq!(
        everything[5]["actor"],
        json!({ "type": "AGENT", "id": "bob" })
    );
    assert_eq!(everything[0]["taskId"], ids[0]);
    assert_eq!(everything[2]["channel"], "support");
    ts(&everything[0]["createdAt"]);
}

async fn task_events_pages_by_the_after_cursor(app: TestApp) {
    let (a, _, _) = seeded(&app).await;
    let ev_ids = event_ids(&ok(&a, EVENTS, json!({})).await["taskEvents"]);
    let mut paged: Vec<i64> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page =
            ok(&a, EVENTS, json!({ "after": after, "first": 3 })).await["taskEvents"].clone();
        let got = event_ids(&page);
        assert!(got.len() <= 3);
        if got.is_empty() {
            break;
        }
        after = Some(got.last().unwrap().to_string());
        paged.extend(got);
    }
    assert_eq!(paged, ev_ids, "cursor pages: no gap, no duplicate");
    let last = ev_ids.last().unwrap().to_string();
    assert_eq!(
        ok(&a, EVENTS, json!({ "after": last })).await["taskEvents"],
        json!([])
    );
}

async fn each_event_filter_narrows_the_history(app: TestApp) {
    let (a, _, ids) = seeded(&app).await;
    let titles_for = |filter: Value| {
        let a = a.clone();
        async move {
            let got = ok(&a, EVENTS, json!({ "f": filter })).await["taskEvents"].clone();
            got.as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    format!(
                        "{} {}",
                        e["task"]["title"].as_str().unwrap(),
                        e["type"].as_str().unwrap()
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    let r1 = [
        "r1 task.created",
        "r1 task.claimed",
        "r1 task.message",
        "r1 task.completed",
    ];
    assert_eq!(titles_for(json!({ "taskId": ids[0] })).await, r1);
    assert_eq!(
        titles_for(json!({ "eventTypes": ["task.claimed", "task.failed"] })).await,
        ["r1 task.claimed", "r4 task.claimed", "r4 task.failed"]
    );
    assert_eq!(
        titles_for(json!({ "channels": ["support"] })).await,
        ["r3 task.created", "s1 task.created", "s1 task.updated"]
    );
    assert_eq!(titles_for(json!({ "taskTypes": ["review"] })).await, r1);
    assert_eq!(
        titles_for(json!({ "projects": ["so/p"] })).await,
        ["s1 task.created", "s1 task.updated"]
    );
    assert_eq!(
        titles_for(json!({ "projects": ["default/main"], "eventTypes": ["task.message"] })).await,
        ["r1 task.message"]
    );
}

async fn others_see_only_their_events_and_bad_arguments_are_refused(app: TestApp) {
    let (a, b, _) = seeded(&app).await;
    let theirs = ok(&b, EVENTS, json!({})).await["taskEvents"].clone();
    assert_eq!(theirs.as_array().unwrap().len(), 9, "{theirs}");
    let so = json!({ "f": { "projects": ["so/p"] } });
    refused(&b, "NOT_FOUND", EVENTS, so).await;
    let nope = json!({ "f": { "projects": ["nope"] } });
    refused(&a, "BAD_REQUEST", EVENTS, nope).await;
    refused(&a, "BAD_REQUEST", EVENTS, json!({ "after": "x" })).await;
    refused(&a, "BAD_REQUEST", EVENTS, json!({ "first": 1001 })).await;
}
