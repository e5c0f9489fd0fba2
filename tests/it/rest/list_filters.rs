//! `GET /tasks` (SPEC §6): every filter and sort over six tasks that tell them
//! apart, and `count` as the total over all pages.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::shapes::{id, listed as list, tasks_page as page, titles};
use crate::common::{Client, TestApp};

crate::on_both_backends!(
    the_default_page_is_fifty_newest_first,
    status_filters_one_or_several,
    type_and_channel_filters_one_or_several,
    assignee_filter,
    priority_bounds_are_inclusive,
    search_spans_title_and_description_literally,
    created_and_updated_after_are_strict,
    parent_filter_and_filters_combine_with_and,
    each_sort_in_both_directions,
    count_is_the_total_and_offset_skips,
);

async fn tick() {
    tokio::time::sleep(Duration::from_millis(15)).await;
}

/// `+` must be escaped in a query string.
fn q(time: &Value) -> String {
    time.as_str().unwrap().replace('+', "%2B")
}

/// Six tasks by `agent:lister`, made in order: apple, banana (claimed by
/// worker-1), cherry (apple's subtask), date (completed by worker-2), elder
/// (cancelled), fig.
struct Six {
    c: Client,
    apple: Value,
    banana: Value,
    date: Value,
    fig: Value,
}

async fn six(app: &TestApp) -> Six {
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
    w1.act(id(&banana), "claim", json!({})).await.expect(200);
    tick().await;
    w2.act(id(&date), "claim", json!({})).await.expect(200);
    w2.act(id(&date), "complete", json!({})).await.expect(200);
    tick().await;
    c.act(id(&elder), "cancel", json!({})).await.expect(200);
    Six {
        c,
        apple,
        banana,
        date,
        fig,
    }
}

async fn the_default_page_is_fifty_newest_first(app: TestApp) {
    let s = six(&app).await;
    let all = page(&s.c, "").await;
    assert_eq!(
        (&all["count"], &all["limit"], &all["offset"]),
        (&json!(6), &json!(50), &json!(0))
    );
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
}

/// One status and several (spaces around commas are ignored).
async fn status_filters_one_or_several(app: TestApp) {
    let c = six(&app).await.c;
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
}

async fn type_and_channel_filters_one_or_several(app: TestApp) {
    let c = six(&app).await.c;
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
}

async fn assignee_filter(app: TestApp) {
    let c = six(&app).await.c;
    assert_eq!(list(&c, "assignee_id=worker-1").await, ["banana"]);
    assert_eq!(list(&c, "assignee_id=worker-2").await, ["date"]);
    assert!(list(&c, "assignee_id=lister").await.is_empty());
}

async fn priority_bounds_are_inclusive(app: TestApp) {
    let c = six(&app).await.c;
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
}

/// Title and description, case-insensitive; `%`, `_` and `\` are literal.
async fn search_spans_title_and_description_literally(app: TestApp) {
    let c = six(&app).await.c;
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
}

/// Strictly after, written with any offset.
async fn created_and_updated_after_are_strict(app: TestApp) {
    let Six { c, date, fig, .. } = six(&app).await;
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
}

async fn parent_filter_and_filters_combine_with_and(app: TestApp) {
    let Six {
        c, apple, banana, ..
    } = six(&app).await;
    assert_eq!(
        list(&c, &format!("parent_id={}", id(&apple))).await,
        ["cherry"]
    );
    assert!(
        list(&c, &format!("parent_id={}", id(&banana)))
            .await
            .is_empty()
    );
    assert_eq!(list(&c, "status=pending&channel=support").await, ["cherry"]);
    assert_eq!(
        list(&c, "type=feature&min_priority=2&search=a").await,
        ["banana"]
    );
}

async fn each_sort_in_both_directions(app: TestApp) {
    let c = six(&app).await.c;
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
}

async fn count_is_the_total_and_offset_skips(app: TestApp) {
    let c = six(&app).await.c;
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
