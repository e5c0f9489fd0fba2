//! `GET /tasks` (SPEC §6): `limit` (default 50, capped at 500) and `offset`
//! over 520 tasks, the project and org filters, and each filter and sort once
//! more over three tasks, with `count`, `limit` and `offset` in every answer.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::common::shapes::{id, listed as list, tasks_page as page, titles};
use crate::common::{Client, Role, TestApp};

crate::on_both_backends!(
    project_and_org_filters_and_only_what_the_caller_sees,
    limit_defaults_to_fifty_and_is_capped_at_five_hundred,
    pages_tile_the_whole_list,
    each_filter_over_three_tasks,
    sorts_paging_and_the_cap_over_three_tasks,
);

async fn project_and_org_filters_and_only_what_the_caller_sees(app: TestApp) {
    let c = app
        .user("olga")
        .in_org("acme", Role::Owner)
        .with_project("web")
        .await;
    let home = c.create_task(json!({ "title": "home" })).await;
    let away = c
        .post("/orgs/acme/projects/web/tasks", json!({ "title": "away" }))
        .await
        .expect(201)["task"]
        .clone();
    assert_ne!(home["project_id"], away["project_id"]);
    assert_eq!(
        list(&c, &format!("project_id={}", away["project_id"])).await,
        ["away"]
    );
    assert_eq!(
        list(&c, &format!("project_id={}", home["project_id"])).await,
        ["home"]
    );
    assert!(list(&c, "project_id=999999").await.is_empty());
    assert_eq!(list(&c, "org=acme").await, ["away"]);
    assert_eq!(list(&c, "sort_dir=asc").await, ["home", "away"]);
    // Someone outside acme sees only the default org's task.
    assert_eq!(
        list(&app.actor("human", "stranger"), "").await,
        ["home"],
        "reads span only what the caller can see"
    );
}

/// 520 tasks `t000`…`t519` in one bulk create.
async fn five_hundred_twenty(app: &TestApp) -> Client {
    let c = app.actor("agent", "bulk");
    let tasks: Vec<Value> = (0..520)
        .map(|i| json!({ "title": format!("t{i:03}") }))
        .collect();
    let made = c
        .post("/tasks/bulk", json!({ "tasks": tasks }))
        .await
        .expect(201);
    assert_eq!(made["count"], 520);
    c
}

async fn limit_defaults_to_fifty_and_is_capped_at_five_hundred(app: TestApp) {
    let c = five_hundred_twenty(&app).await;
    let p = page(&c, "").await;
    assert_eq!(
        (
            p["tasks"].as_array().unwrap().len(),
            &p["count"],
            &p["limit"],
            &p["offset"]
        ),
        (50, &json!(520), &json!(50), &json!(0))
    );
    let p = page(&c, "limit=1000").await;
    assert_eq!(
        (p["tasks"].as_array().unwrap().len(), &p["limit"]),
        (500, &json!(500)),
        "limit is capped at 500"
    );
    let p = page(&c, "limit=500&offset=500").await;
    assert_eq!(
        (p["tasks"].as_array().unwrap().len(), &p["count"]),
        (20, &json!(520))
    );
}

/// No task on two pages, none missing.
async fn pages_tile_the_whole_list(app: TestApp) {
    let c = five_hundred_twenty(&app).await;
    let mut seen = BTreeSet::new();
    for offset in [0, 200, 400] {
        let p = page(
            &c,
            &format!("limit=200&offset={offset}&sort_by=title&sort_dir=asc"),
        )
        .await;
        for t in p["tasks"].as_array().unwrap() {
            assert!(seen.insert(id(t)), "task {} on two pages", id(t));
        }
    }
    assert_eq!(seen.len(), 520);
    let p = page(&c, "limit=3&sort_by=title&sort_dir=asc&offset=517").await;
    assert_eq!(titles(&p), ["t517", "t518", "t519"]);
}

/// "alpha 100% done" (priority 3, ops, bug), "beta" (9, ops, feature,
/// claimed by worker-x) and "gamma" (5, support, bug, alpha's subtask), by
/// `agent:lister`; returns the lister, alpha's and beta's ids, and the
/// instant between beta and gamma.
async fn three(app: &TestApp) -> (Client, i64, i64, String) {
    let c = app.actor("agent", "lister");
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
    mk(
        "gamma",
        json!({ "priority": 5, "channel": "support", "type": "bug", "parent_id": a }),
    )
    .await;
    app.actor("agent", "worker-x")
        .act(b, "claim", json!({}))
        .await
        .expect(200);
    (c, a, b, cut)
}

async fn each_filter_over_three_tasks(app: TestApp) {
    let (c, a, b, cut) = three(&app).await;
    let q = |query: &str| {
        let c = c.clone();
        let path = format!("/tasks?{query}");
        async move { c.get(&path).await.expect(200) }
    };
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
}

async fn sorts_paging_and_the_cap_over_three_tasks(app: TestApp) {
    let (c, _, _, _) = three(&app).await;
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
}
