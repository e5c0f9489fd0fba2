//! `GET /tasks` (SPEC §6): every filter and sort with data that tells them
//! apart, `count` as the total over all pages, `limit` (default 50, capped
//! at 500) and `offset`.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Client, TestApp};
use crate::rest_tasks::{assert_task, id, keys, set, titles};

/// A page and its paging numbers.
async fn page(c: &Client, query: &str) -> Value {
    let body = c.get(&format!("/tasks?{query}")).await.expect(200);
    assert_eq!(
        keys(&body),
        set(&["tasks", "count", "limit", "offset"]),
        "{body}"
    );
    for t in body["tasks"].as_array().unwrap() {
        assert_task(t);
        assert!(t.get("messages").is_none(), "lists carry no thread");
    }
    body
}

async fn list(c: &Client, query: &str) -> Vec<String> {
    let body = page(c, query).await;
    let t = titles(&body);
    assert_eq!(
        body["count"].as_u64(),
        Some(t.len() as u64),
        "count of {query}"
    );
    t
}

async fn tick() {
    tokio::time::sleep(Duration::from_millis(15)).await;
}

/// `+` must be escaped in a query string.
fn q(time: &Value) -> String {
    time.as_str().unwrap().replace('+', "%2B")
}

async fn filters_and_sorts(app: TestApp) {
    let c = app.actor("agent", "lister");
    let mut made = Vec::new();
    for body in [
        json!({ "title": "apple", "priority": 3, "type": "bug", "channel": "ops",
                "description": "Contains 50% OFF" }),
        json!({ "title": "banana", "priority": 9, "type": "feature", "channel": "ops",
                "description": "path C:\\temp" }),
        json!({ "title": "cherry", "priority": 5, "type": "bug", "channel": "support" }),
        json!({ "title": "date", "priority": 7, "type": "chore", "channel": "web",
                "description": "has under_score here" }),
        json!({ "title": "elder 5000 off", "priority": 1, "type": "feature", "channel": "support" }),
        json!({ "title": "fig underxscore", "priority": 6, "type": "chore", "channel": "web" }),
    ] {
        let mut body = body;
        if body["title"] == "cherry" {
            body["parent_id"] = json!(id(&made[0]));
        }
        made.push(c.create_task(body).await);
        tick().await;
    }
    let [apple, banana, _cherry, date, elder, fig] = <[Value; 6]>::try_from(made).unwrap();
    let (w1, w2) = (
        app.actor("agent", "worker-1"),
        app.actor("agent", "worker-2"),
    );
    w1.post(&format!("/tasks/{}/claim", id(&banana)), json!({}))
        .await
        .expect(200);
    tick().await;
    w2.post(&format!("/tasks/{}/claim", id(&date)), json!({}))
        .await
        .expect(200);
    w2.post(&format!("/tasks/{}/complete", id(&date)), json!({}))
        .await
        .expect(200);
    tick().await;
    c.post(&format!("/tasks/{}/cancel", id(&elder)), json!({}))
        .await
        .expect(200);

    let all = page(&c, "").await;
    assert_eq!(
        (&all["count"], &all["limit"], &all["offset"]),
        (&json!(6), &json!(50), &json!(0))
    );
    // Default order: newest first.
    assert_eq!(
        titles(&all),
        [
            "fig underxscore",
            "elder 5000 off",
            "date",
            "cherry",
            "banana",
            "apple"
        ]
    );

    // status, one and several (spaces around commas are ignored).
    assert_eq!(list(&c, "status=in_progress").await, ["banana"]);
    assert_eq!(list(&c, "status=cancelled").await, ["elder 5000 off"]);
    assert_eq!(
        list(&c, "status=pending,completed&sort_by=title&sort_dir=asc").await,
        ["apple", "cherry", "date", "fig underxscore"]
    );
    assert_eq!(
        list(
            &c,
            "status=in_progress,%20cancelled&sort_by=title&sort_dir=asc"
        )
        .await,
        ["banana", "elder 5000 off"]
    );
    assert!(list(&c, "status=failed,rejected").await.is_empty());
    // type and channel, one and several.
    assert_eq!(list(&c, "type=bug&sort_dir=asc").await, ["apple", "cherry"]);
    assert_eq!(
        list(&c, "type=bug,chore&sort_dir=asc").await,
        ["apple", "cherry", "date", "fig underxscore"]
    );
    assert!(list(&c, "type=nope").await.is_empty());
    assert_eq!(
        list(&c, "channel=support&sort_dir=asc").await,
        ["cherry", "elder 5000 off"]
    );
    assert_eq!(
        list(&c, "channel=ops,web&sort_dir=asc").await,
        ["apple", "banana", "date", "fig underxscore"]
    );
    // assignee_id.
    assert_eq!(list(&c, "assignee_id=worker-1").await, ["banana"]);
    assert_eq!(list(&c, "assignee_id=worker-2").await, ["date"]);
    assert!(list(&c, "assignee_id=lister").await.is_empty());
    // priority, min_priority, max_priority (bounds inclusive).
    assert_eq!(list(&c, "priority=5").await, ["cherry"]);
    assert_eq!(
        list(&c, "min_priority=7&sort_by=priority").await,
        ["banana", "date"]
    );
    assert_eq!(
        list(&c, "max_priority=3&sort_by=priority").await,
        ["apple", "elder 5000 off"]
    );
    assert_eq!(
        list(
            &c,
            "min_priority=3&max_priority=7&sort_by=priority&sort_dir=asc"
        )
        .await,
        ["apple", "cherry", "fig underxscore", "date"]
    );
    // search: title and description, case-insensitive; % _ \ are literal.
    assert_eq!(list(&c, "search=CHERRY").await, ["cherry"]);
    assert_eq!(
        list(&c, "search=off&sort_dir=asc").await,
        ["apple", "elder 5000 off"],
        "title and description, any case"
    );
    assert_eq!(list(&c, "search=50%25").await, ["apple"], "% is literal");
    assert_eq!(
        list(&c, "search=%25").await,
        ["apple"],
        "% alone is literal"
    );
    assert_eq!(
        list(&c, "search=under_score").await,
        ["date"],
        "_ is literal"
    );
    assert_eq!(list(&c, "search=_").await, ["date"], "_ alone is literal");
    assert_eq!(
        list(&c, "search=c:%5Ctemp").await,
        ["banana"],
        "\\ is literal"
    );
    assert!(list(&c, "search=zzz").await.is_empty());
    // created_after / updated_after: strictly after, any offset.
    assert_eq!(
        list(
            &c,
            &format!("created_after={}&sort_dir=asc", q(&date["created_at"]))
        )
        .await,
        ["elder 5000 off", "fig underxscore"]
    );
    let instant = chrono::DateTime::parse_from_rfc3339(date["created_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::FixedOffset::east_opt(2 * 3600).unwrap())
        .to_rfc3339();
    assert!(instant.ends_with("+02:00"));
    assert_eq!(
        list(
            &c,
            &format!("created_after={}&sort_dir=asc", q(&json!(instant)))
        )
        .await,
        ["elder 5000 off", "fig underxscore"],
        "the same instant written with an offset"
    );
    assert_eq!(
        list(
            &c,
            &format!(
                "updated_after={}&sort_by=updated_at&sort_dir=asc",
                q(&fig["updated_at"])
            )
        )
        .await,
        ["banana", "date", "elder 5000 off"]
    );
    // parent_id.
    assert_eq!(
        list(&c, &format!("parent_id={}", id(&apple))).await,
        ["cherry"]
    );
    assert!(
        list(&c, &format!("parent_id={}", id(&banana)))
            .await
            .is_empty()
    );
    // Filters combine with AND.
    assert_eq!(list(&c, "status=pending&channel=support").await, ["cherry"]);
    assert_eq!(
        list(&c, "type=feature&min_priority=2&search=a").await,
        ["banana"]
    );

    // Each sort, both directions.
    let by_created = [
        "apple",
        "banana",
        "cherry",
        "date",
        "elder 5000 off",
        "fig underxscore",
    ];
    let by_updated = [
        "apple",
        "cherry",
        "fig underxscore",
        "banana",
        "date",
        "elder 5000 off",
    ];
    let by_priority = [
        "elder 5000 off",
        "apple",
        "cherry",
        "fig underxscore",
        "date",
        "banana",
    ];
    let by_title = by_created;
    for (key, asc) in [
        ("created_at", by_created),
        ("updated_at", by_updated),
        ("priority", by_priority),
        ("title", by_title),
    ] {
        let mut desc = asc;
        desc.reverse();
        assert_eq!(
            list(&c, &format!("sort_by={key}&sort_dir=asc")).await,
            asc,
            "{key} asc"
        );
        assert_eq!(
            list(&c, &format!("sort_by={key}&sort_dir=desc")).await,
            desc,
            "{key} desc"
        );
        assert_eq!(
            list(&c, &format!("sort_by={key}")).await,
            desc,
            "{key} defaults to desc"
        );
    }

    // count is the total, not the page; offset skips.
    let p = page(&c, "limit=2&offset=2&sort_by=title&sort_dir=asc").await;
    assert_eq!(titles(&p), ["cherry", "date"]);
    assert_eq!(
        (&p["count"], &p["limit"], &p["offset"]),
        (&json!(6), &json!(2), &json!(2))
    );
    let p = page(&c, "limit=1&status=pending").await;
    assert_eq!((titles(&p).len(), &p["count"]), (1, &json!(3)));
    let p = page(&c, "offset=10").await;
    assert_eq!(
        (titles(&p).len(), &p["count"], &p["offset"]),
        (0, &json!(6), &json!(10))
    );
}

async fn project_and_org_filters(app: TestApp) {
    let c = app.actor("human", "olga");
    let home = c.create_task(json!({ "title": "home" })).await;
    c.post("/orgs", json!({ "slug": "acme" })).await.expect(201);
    c.post("/orgs/acme/projects", json!({ "slug": "web" }))
        .await
        .expect(201);
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

async fn default_limit_and_cap(app: TestApp) {
    let c = app.actor("agent", "bulk");
    let tasks: Vec<Value> = (0..520)
        .map(|i| json!({ "title": format!("t{i:03}") }))
        .collect();
    let made = c
        .post("/tasks/bulk", json!({ "tasks": tasks }))
        .await
        .expect(201);
    assert_eq!(made["count"], 520);
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
    // Pages tile the whole list: no task twice, none missing.
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

crate::on_both_backends!(
    filters_and_sorts,
    project_and_org_filters,
    default_limit_and_cap
);
