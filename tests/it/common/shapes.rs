//! The JSON shapes of SPEC §2 and §6, written once: the field lists of a task,
//! an org, a project, a message, an event and the stats, the checks that a
//! value has exactly them, and small readers (`id`, `titles`, `slugs`, …).

use std::collections::BTreeSet;

use serde_json::Value;

use super::client::Client;

/// Every field of a task as REST returns it (SPEC §2, plus `blocked_by` of §3).
pub const TASK_KEYS: [&str; 34] = [
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
    "run_at",
    "retry",
    "due_at",
    "overdue",
    "escalate_after_ms",
    "created_at",
    "updated_at",
    "claimed_at",
    "completed_at",
];

/// Every status (SPEC §3).
pub const STATUSES: [&str; 6] = [
    "pending",
    "in_progress",
    "completed",
    "cancelled",
    "failed",
    "rejected",
];

/// An organization's fields.
pub const ORG_KEYS: [&str; 7] = [
    "id",
    "slug",
    "name",
    "description",
    "created_at",
    "updated_at",
    "role",
];

/// A project's fields.
pub const PROJECT_KEYS: [&str; 8] = [
    "id",
    "org",
    "org_id",
    "slug",
    "name",
    "description",
    "created_at",
    "updated_at",
];

/// The counts `?counts=true` adds to a project.
pub const COUNT_KEYS: [&str; 3] = ["pending_count", "in_progress_count", "total_count"];

/// A message's fields.
pub const MESSAGE_KEYS: [&str; 7] = [
    "id",
    "task_id",
    "actor_type",
    "actor_id",
    "actor_name",
    "parts",
    "created_at",
];

/// An event's fields, as stored and as `/ws` sends it (less `subscription_id`).
pub const EVENT_KEYS: [&str; 12] = [
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
];

/// The fields of `{"stats": …}`.
pub const STATS_KEYS: [&str; 6] = [
    "total",
    "by_status",
    "by_channel",
    "avg_completion_seconds",
    "completed_count",
    "recent",
];

/// The fields of `stats.recent`.
pub const RECENT_KEYS: [&str; 4] = ["created_24h", "completed_24h", "created_7d", "completed_7d"];

/// The keys of a JSON object, sorted.
#[track_caller]
pub fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

/// A sorted key set from a list of names.
pub fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

/// An RFC 3339 UTC time ending in `Z`.
#[track_caller]
pub fn assert_time(v: &Value, what: &str) {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {v}"));
    assert!(
        s.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(s).is_ok(),
        "{what} is not RFC 3339 UTC: {s}"
    );
}

/// A time or null.
#[track_caller]
pub fn assert_opt_time(v: &Value, what: &str) {
    if !v.is_null() {
        assert_time(v, what);
    }
}

/// A time field, parsed: RFC 3339 written in UTC (SPEC §2).
#[track_caller]
pub fn ts(v: &Value) -> chrono::DateTime<chrono::Utc> {
    let t = chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("time: {v}")))
        .unwrap_or_else(|e| panic!("{v} is not RFC 3339: {e}"));
    assert!(
        v.as_str().unwrap().ends_with('Z'),
        "{v} is not written in UTC"
    );
    t.to_utc()
}

#[track_caller]
fn assert_opt_str(v: &Value, what: &str) {
    assert!(
        v.is_null() || v.is_string(),
        "{what} must be string|null: {v}"
    );
}

/// A task object: exactly the SPEC fields, each of the right type.
#[track_caller]
pub fn assert_task(t: &Value) {
    assert_eq!(keys(t), set(&TASK_KEYS), "task keys: {t}");
    assert!(t["id"].as_i64().is_some_and(|id| id > 0), "id: {t}");
    assert!(t["project_id"].is_i64(), "project_id: {t}");
    for f in ["org", "project", "title", "type", "channel", "source_id"] {
        assert!(t[f].as_str().is_some_and(|s| !s.is_empty()), "{f}: {t}");
    }
    let p = t["priority"].as_i64().unwrap();
    assert!((1..=10).contains(&p), "priority: {t}");
    assert!(STATUSES.contains(&t["status"].as_str().unwrap()), "{t}");
    assert!(
        ["human", "agent", "system"].contains(&t["source_type"].as_str().unwrap()),
        "{t}"
    );
    assert!(t["payload"].is_object() && t["outputs"].is_array(), "{t}");
    for f in [
        "description",
        "source_name",
        "assignee_type",
        "assignee_id",
        "assignee_name",
        "reason",
    ] {
        assert_opt_str(&t[f], f);
    }
    for f in ["depends_on", "blocked_by"] {
        assert!(
            t[f].as_array().unwrap().iter().all(Value::is_i64),
            "{f}: {t}"
        );
    }
    assert!(t["parent_id"].is_null() || t["parent_id"].is_i64(), "{t}");
    assert!(t["attempts"].as_i64().is_some_and(|a| a >= 0), "{t}");
    assert!(
        t["max_attempts"].is_null() || t["max_attempts"].is_i64(),
        "{t}"
    );
    assert_time(&t["created_at"], "created_at");
    assert_time(&t["updated_at"], "updated_at");
    for f in ["lease_expires", "run_at", "claimed_at", "completed_at"] {
        assert_opt_time(&t[f], f);
    }
}

/// A single-task read: a task with its `messages` thread added, nothing else.
#[track_caller]
pub fn assert_task_with_messages(t: &Value) {
    assert!(t["messages"].is_array(), "no messages: {t}");
    assert_task(&without_messages(t.clone()));
}

/// A task read without its `messages` (what the list and the actions return).
pub fn without_messages(mut task: Value) -> Value {
    if let Some(o) = task.as_object_mut() {
        o.remove("messages");
    }
    task
}

/// A `{"task": …}` body: the wrapper and the task; returns the task.
#[track_caller]
pub fn task_of(body: &Value) -> Value {
    assert_eq!(keys(body), set(&["task"]), "wrapper: {body}");
    assert_task(&body["task"]);
    body["task"].clone()
}

/// An organization: exactly its fields, each of the right type.
#[track_caller]
pub fn assert_org(o: &Value) {
    assert_eq!(keys(o), set(&ORG_KEYS), "org keys: {o}");
    assert!(o["id"].is_i64() && o["slug"].is_string() && o["name"].is_string());
    assert!(o["description"].is_null() || o["description"].is_string());
    assert!(o["role"].is_null() || o["role"].is_string());
    assert_time(&o["created_at"], "created_at");
    assert_time(&o["updated_at"], "updated_at");
}

/// A project: exactly its fields (with the counts when `counts`), each of the right type.
#[track_caller]
pub fn assert_project(p: &Value, counts: bool) {
    let mut want = PROJECT_KEYS.to_vec();
    if counts {
        want.extend(COUNT_KEYS);
        for k in COUNT_KEYS {
            assert!(p[k].is_u64(), "{k}: {p}");
        }
    }
    assert_eq!(keys(p), set(&want), "project keys: {p}");
    assert!(p["id"].is_i64() && p["org_id"].is_i64() && p["slug"].is_string());
    assert!(p["org"].is_string() && p["name"].is_string());
    assert!(p["description"].is_null() || p["description"].is_string());
    assert_time(&p["created_at"], "created_at");
    assert_time(&p["updated_at"], "updated_at");
}

/// A stats body: the exact shape of SPEC §6; returns the stats.
#[track_caller]
pub fn stats_of(body: &Value) -> Value {
    assert_eq!(keys(body), set(&["stats"]), "{body}");
    let s = &body["stats"];
    assert_eq!(keys(s), set(&STATS_KEYS), "{s}");
    assert_eq!(keys(&s["by_status"]), set(&STATUSES));
    assert_eq!(keys(&s["recent"]), set(&RECENT_KEYS));
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

/// The `id` of a task (or any record).
#[track_caller]
pub fn id(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("no id: {v}"))
}

/// The titles of a `{"tasks": …}` page, in order.
#[track_caller]
pub fn titles(page: &Value) -> Vec<String> {
    page["tasks"]
        .as_array()
        .unwrap_or_else(|| panic!("no tasks: {page}"))
        .iter()
        .map(|t| t["title"].as_str().unwrap().to_owned())
        .collect()
}

/// The `slug`s of the list under `key` (`organizations`, `projects`).
#[track_caller]
pub fn slugs(list: &Value, key: &str) -> Vec<String> {
    list[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key}: {list}"))
        .iter()
        .map(|o| o["slug"].as_str().unwrap().to_owned())
        .collect()
}

/// The string field `key` of each item of a JSON list (GraphQL lists).
#[track_caller]
pub fn strs<'a>(list: &'a Value, key: &str) -> Vec<&'a str> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|v| v[key].as_str().unwrap_or_else(|| panic!("{key} of {v}")))
        .collect()
}

/// The event types of a task's history (`GET /tasks/:id/events`).
pub async fn event_types(c: &Client, task: i64) -> Vec<String> {
    c.get(&format!("/tasks/{task}/events?limit=1000"))
        .await
        .expect(200)["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

/// The task as `GET /tasks/:id` returns it (with its thread).
pub async fn read_task(c: &Client, task: i64) -> Value {
    c.get(&format!("/tasks/{task}")).await.expect(200)["task"].clone()
}

/// `GET /tasks?{query}`: a page of the SPEC's shape (tasks without their
/// thread, `count`, `limit`, `offset`) and the `next_cursor` of issue 14.
pub async fn tasks_page(c: &Client, query: &str) -> Value {
    let body = c.get(&format!("/tasks?{query}")).await.expect(200);
    assert_eq!(
        keys(&body),
        set(&["tasks", "count", "limit", "offset", "next_cursor"]),
        "{body}"
    );
    for t in body["tasks"].as_array().unwrap() {
        assert_task(t);
        assert!(t.get("messages").is_none(), "lists carry no thread");
    }
    body
}

/// The titles `GET /tasks?{query}` lists, all on one page (`count` says so).
pub async fn listed(c: &Client, query: &str) -> Vec<String> {
    let body = tasks_page(c, query).await;
    let t = titles(&body);
    assert_eq!(
        body["count"].as_u64(),
        Some(t.len() as u64),
        "count of {query}"
    );
    t
}

/// A task's history (`GET /tasks/:id/events`), its events as they are.
pub async fn events_of(c: &Client, task: i64) -> Vec<Value> {
    let body = c.get(&format!("/tasks/{task}/events")).await.expect(200);
    body["events"].as_array().expect("events array").clone()
}

/// The types of `events`, in order.
pub fn types_of(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

/// A task's lease in milliseconds: `lease_expires` − `updated_at`.
#[track_caller]
pub fn lease_ms(task: &Value) -> i64 {
    (ts(&task["lease_expires"]) - ts(&task["updated_at"])).num_milliseconds()
}
