//! Relay paging of `tasks` (SPEC §5): `first`/`after` forward and
//! `last`/`before` backward cover every task once, in order, with one cursor
//! per position; windows between cursors; past the end; the default page of 50.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::common::gql::ok;
use crate::common::shapes::strs;
use crate::common::{Client, TestApp};

crate::on_both_backends!(
    forward_pages_cover_every_task_once_in_order,
    backward_pages_meet_the_same_cursors,
    a_window_between_two_cursors_from_either_end,
    past_the_end_and_empty_pages,
    without_first_or_last_a_page_holds_fifty,
);

const PAGE: &str = "query($first: Int, $after: String, $last: Int, $before: String) { tasks(filter: {channels: [\"page\"]}, orderBy: {field: PRIORITY, direction: ASC}, first: $first, after: $after, last: $last, before: $before) { totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { title } } nodes { title } } }";

/// A page: titles, cursors, and pageInfo checked against the edges.
async fn page(c: &Client, vars: Value) -> (Vec<String>, Vec<String>, Value) {
    let conn = ok(c, PAGE, vars.clone()).await["tasks"].clone();
    let edges = conn["edges"].as_array().unwrap();
    let titles: Vec<String> = edges
        .iter()
        .map(|e| e["node"]["title"].as_str().unwrap().to_owned())
        .collect();
    let cursors: Vec<String> = edges
        .iter()
        .map(|e| e["cursor"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(strs(&conn["nodes"], "title"), titles, "nodes = edges.node");
    let info = &conn["pageInfo"];
    if let (Some(first), Some(last)) = (cursors.first(), cursors.last()) {
        assert_eq!(
            (&info["startCursor"], &info["endCursor"]),
            (&json!(first), &json!(last))
        );
    }
    assert_eq!(conn["totalCount"], 23, "{vars}");
    (titles, cursors, info.clone())
}

/// 23 tasks on channel `page`, priorities repeating so that ties are ordered
/// by id; returns `agent:pager` and the titles in order.
async fn twenty_three(app: &TestApp) -> (Client, Vec<String>) {
    let c = app.actor("agent", "pager");
    let tasks: Vec<Value> = (0..23)
        .map(|i| json!({ "title": format!("t{i:02}"), "priority": i % 4 + 1, "channel": "page" }))
        .collect();
    c.post("/tasks/bulk", json!({ "tasks": tasks }))
        .await
        .expect(201);
    let mut all: Vec<(i64, String)> = (0..23).map(|i| (i % 4 + 1, format!("t{i:02}"))).collect();
    all.sort();
    (c, all.into_iter().map(|(_, t)| t).collect())
}

/// Pages forward 5 at a time; returns each title's cursor.
async fn forward(c: &Client, all: &[String]) -> HashMap<String, String> {
    let mut forward = Vec::new();
    let mut cursor_of = HashMap::new();
    let mut after: Option<String> = None;
    for n in 0.. {
        let (titles, cursors, info) = page(c, json!({ "first": 5, "after": after })).await;
        assert_eq!(info["hasPreviousPage"], n > 0);
        let more = info["hasNextPage"].as_bool().unwrap();
        assert_eq!(more, forward.len() + titles.len() < 23);
        for (t, cur) in titles.iter().zip(&cursors) {
            cursor_of.insert(t.clone(), cur.clone());
        }
        forward.extend(titles);
        after = cursors.last().cloned();
        if !more {
            break;
        }
    }
    assert_eq!(
        forward, all,
        "forward pages cover every task once, in order"
    );
    cursor_of
}

async fn forward_pages_cover_every_task_once_in_order(app: TestApp) {
    let (c, all) = twenty_three(&app).await;
    forward(&c, &all).await;
}

async fn backward_pages_meet_the_same_cursors(app: TestApp) {
    let (c, all) = twenty_three(&app).await;
    let cursor_of = forward(&c, &all).await;
    let mut backward: Vec<String> = Vec::new();
    let mut before: Option<String> = None;
    for n in 0.. {
        let (titles, cursors, info) = page(&c, json!({ "last": 5, "before": before })).await;
        assert_eq!(info["hasNextPage"], n > 0);
        for (t, cur) in titles.iter().zip(&cursors) {
            assert_eq!(&cursor_of[t], cur, "one cursor per position");
        }
        let more = info["hasPreviousPage"].as_bool().unwrap();
        assert_eq!(more, backward.len() + titles.len() < 23);
        backward.splice(0..0, titles);
        before = cursors.first().cloned();
        if !more {
            break;
        }
    }
    assert_eq!(
        backward, all,
        "backward pages cover every task once, in order"
    );
}

async fn a_window_between_two_cursors_from_either_end(app: TestApp) {
    let (c, all) = twenty_three(&app).await;
    let cursor_of = forward(&c, &all).await;
    let (c3, c9) = (&cursor_of[&all[3]], &cursor_of[&all[9]]);
    let (w, _, info) = page(&c, json!({ "after": c3, "before": c9 })).await;
    assert_eq!(w, all[4..9]);
    assert_eq!(
        (&info["hasPreviousPage"], &info["hasNextPage"]),
        (&json!(true), &json!(true))
    );
    let (w, _, _) = page(&c, json!({ "after": c3, "before": c9, "first": 2 })).await;
    assert_eq!(w, all[4..6]);
    let (w, _, _) = page(&c, json!({ "after": c3, "before": c9, "last": 2 })).await;
    assert_eq!(w, all[7..9]);
}

async fn past_the_end_and_empty_pages(app: TestApp) {
    let (c, all) = twenty_three(&app).await;
    let cursor_of = forward(&c, &all).await;
    let (w, _, info) = page(&c, json!({ "first": 5, "after": cursor_of[&all[22]] })).await;
    assert!(w.is_empty());
    assert_eq!(info["hasNextPage"], false);
    let (w, _, info) = page(&c, json!({ "first": 0 })).await;
    assert!(w.is_empty());
    assert_eq!(info["hasNextPage"], true);
    let (w, _, _) = page(&c, json!({ "last": 30 })).await;
    assert_eq!(w, all, "last larger than the list");
}

async fn without_first_or_last_a_page_holds_fifty(app: TestApp) {
    let (c, _) = twenty_three(&app).await;
    let more: Vec<Value> = (0..40)
        .map(|i| json!({ "title": format!("d{i}"), "channel": "dflt" }))
        .collect();
    c.post("/tasks/bulk", json!({ "tasks": more }))
        .await
        .expect(201);
    let d = ok(
        &c,
        "{ tasks { totalCount pageInfo { hasNextPage } nodes { id } } }",
        json!({}),
    )
    .await["tasks"]
        .clone();
    assert_eq!(
        (
            &d["totalCount"],
            d["nodes"].as_array().unwrap().len(),
            &d["pageInfo"]["hasNextPage"]
        ),
        (&json!(63), 50, &json!(true))
    );
}
