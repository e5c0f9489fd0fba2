//! `ats watch`: a session scripted with the CLI printed in order (one JSON
//! object a line, or the table lines executors parse), `--after` replay,
//! `--task`, and the filters. Restarts are in `watch_restarts.rs`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::TestApp;
use crate::common::cli::{Cli, TempDir};
use crate::common::watcher::{Watcher, stored_events, stored_summary, summary, wait_subscribed};

crate::on_both_backends!(
    json_lines_follow_the_session_in_order,
    table_lines_are_the_documented_form,
    after_replays_and_task_narrows,
    watch_filters,
);

/// A JSON and a table watcher, then a session scripted with the CLI as
/// `agent:exec-1` ("Executor One"): one task through nine events, a second
/// created and deleted.
struct Session {
    json_watch: Watcher,
    table_watch: Watcher,
    id: i64,
    expected: [(&'static str, i64); 9],
    _dir: TempDir,
}

async fn session(app: &TestApp) -> Session {
    let dir = TempDir::new("watch");
    let cli = Cli::new(&app.base)
        .env("ATS_ACTOR_TYPE", "agent")
        .env("ATS_ACTOR_ID", "exec-1")
        .env("ATS_ACTOR_NAME", "Executor One");
    let json_watch = Watcher::start(&cli, &dir, "json", &["-f", "json"]);
    let table_watch = Watcher::start(&cli, &dir, "table", &[]);
    wait_subscribed(&app.base, 2).await;
    let session = cli
        .sh(r#"
ID=$(ats create "Deploy v2" --type deployment --channel ops -f json | jq -r .id)
ats claim $ID >/dev/null
ats message add $ID "starting" >/dev/null
ats update $ID --priority 9 >/dev/null
ats complete $ID --outputs '{"ok":true}' >/dev/null
ats reopen $ID --reason again >/dev/null
ats cancel $ID >/dev/null
OTHER=$(ats create "Second" -f json | jq -r .id)
ats delete $OTHER >/dev/null
echo $ID $OTHER
"#)
        .await
        .ok();
    let ids: Vec<i64> = session
        .stdout
        .split_whitespace()
        .map(|s| s.parse().unwrap())
        .collect();
    let (id, other) = (ids[0], ids[1]);
    let expected = [
        ("task.created", id),
        ("task.claimed", id),
        ("task.message", id),
        ("task.updated", id),
        ("task.completed", id),
        ("task.reopened", id),
        ("task.cancelled", id),
        ("task.created", other),
        ("task.deleted", other),
    ];
    Session {
        json_watch,
        table_watch,
        id,
        expected,
        _dir: dir,
    }
}

/// Step: the JSON lines are the session's events, in order, with the
/// documented keys, as stored; returns them.
async fn json_lines(app: &TestApp, s: &Session) -> Vec<Value> {
    let (id, expected) = (s.id, s.expected);
    let lines = s
        .json_watch
        .wait_lines(expected.len(), Duration::from_secs(20))
        .await;
    let got: Vec<(&str, i64)> = lines
        .iter()
        .map(|l| (l["event"].as_str().unwrap(), l["task_id"].as_i64().unwrap()))
        .collect();
    assert_eq!(got, expected);
    // Event ids strictly increase; each line carries the documented keys.
    let event_ids: Vec<i64> = lines.iter().map(|l| l["id"].as_i64().unwrap()).collect();
    assert!(event_ids.windows(2).all(|w| w[0] < w[1]), "{event_ids:?}");
    let first_line = s.json_watch.text().lines().next().unwrap().to_owned();
    assert!(
        first_line.starts_with(r#"{"event":"task.created","task_id":"#),
        "{first_line}"
    );
    let created = &lines[0];
    assert_eq!(created["title"], "Deploy v2");
    assert_eq!(created["status"], "pending");
    assert_eq!(created["channel"], "ops");
    assert_eq!(created["actor_name"], "Executor One");
    assert!(chrono::DateTime::parse_from_rfc3339(created["timestamp"].as_str().unwrap()).is_ok());
    assert_eq!(lines[4]["status"], "completed");
    assert_eq!(
        lines[2]["data"]["message"]["parts"][0]["content"],
        "starting"
    );
    // The same events, as stored.
    let stored = stored_events(&app.base, &[id]).await;
    assert_eq!(
        stored_summary(&stored),
        summary(&lines[..7]),
        "watch and /tasks/{id}/events disagree"
    );
    lines
}

async fn json_lines_follow_the_session_in_order(app: TestApp) {
    let s = session(&app).await;
    json_lines(&app, &s).await;
}

/// The original's banner (connecting, connected, watching, a blank line),
/// then four lines per event (`By:` is known here) and a blank line.
async fn table_lines_are_the_documented_form(app: TestApp) {
    let s = session(&app).await;
    let (id, expected, table_watch) = (s.id, s.expected, &s.table_watch);
    let deadline = Instant::now() + Duration::from_secs(20);
    while table_watch.text().lines().count() < 4 + expected.len() * 5 {
        assert!(
            Instant::now() < deadline,
            "table watch:\n{}",
            table_watch.text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = table_watch.text();
    let all: Vec<&str> = text.lines().collect();
    assert!(
        all[0].starts_with("Connecting to ws://") && all[0].ends_with("/ws..."),
        "{text}"
    );
    assert_eq!(
        all[1..4],
        ["✓ Connected", "Watching for events... (Ctrl+C to stop)", ""]
    );
    let table = &all[4..];
    assert!(
        table[0].starts_with('[') && table[0].ends_with("] task.created"),
        "{text}"
    );
    assert_eq!(table[1], format!("  Task #{id}: Deploy v2"));
    assert_eq!(table[2], "  Status: pending, Channel: ops");
    assert_eq!(table[3], "  By: Executor One");
    assert_eq!(table[4], "");
    assert!(table[5].ends_with("] task.claimed"), "{text}");
    assert_eq!(table[7], "  Status: in_progress, Channel: ops");
}

/// `--after` replays stored events first; `--task` narrows to one task.
async fn after_replays_and_task_narrows(app: TestApp) {
    let s = session(&app).await;
    let lines = json_lines(&app, &s).await;
    let (id, dir) = (s.id, &s._dir);
    let event_ids: Vec<i64> = lines.iter().map(|l| l["id"].as_i64().unwrap()).collect();
    let reader = Cli::new(&app.base);
    let replay = Watcher::start(
        &reader,
        dir,
        "replay",
        &["-f", "json", "--after", &event_ids[6].to_string()],
    );
    let replayed = replay.wait_lines(2, Duration::from_secs(20)).await;
    assert_eq!(summary(&replayed), summary(&lines[7..]));
    let one = Watcher::start(
        &reader,
        dir,
        "one",
        &["-f", "json", "--after", "0", "--task", &id.to_string()],
    );
    let only = one.wait_lines(7, Duration::from_secs(20)).await;
    assert_eq!(summary(&only), summary(&lines[..7]));
}

/// `--channel`, `--type`, `--events` and `ATS_CHANNEL` narrow what is printed.
/// Watchers by channel, type, event types and `ATS_CHANNEL`; then a (support,
/// approval) and b (ops, deploy) each created, claimed and completed, and a
/// last task every watcher sees. Returns the watchers and a, b, last.
async fn filtered(app: &TestApp) -> ([Watcher; 4], TempDir, [i64; 3]) {
    let dir = TempDir::new("watchf");
    let cli = Cli::new(&app.base);
    let by_channel = Watcher::start(
        &cli,
        &dir,
        "channel",
        &["-f", "json", "--channel", "support"],
    );
    let by_type = Watcher::start(&cli, &dir, "type", &["-f", "json", "--type", "approval"]);
    let by_event = Watcher::start(
        &cli,
        &dir,
        "events",
        &["-f", "json", "--events", "task.created,task.completed"],
    );
    let env_cli = Cli::new(&app.base).env("ATS_CHANNEL", "ops");
    let by_env = Watcher::start(&env_cli, &dir, "env", &["-f", "json"]);
    wait_subscribed(&app.base, 4).await;

    let c = app.actor("agent", "seeder");
    let a = c
        .create_task(json!({ "title": "a", "channel": "support", "type": "approval" }))
        .await["id"]
        .as_i64()
        .unwrap();
    let b = c
        .create_task(json!({ "title": "b", "channel": "ops", "type": "deploy" }))
        .await["id"]
        .as_i64()
        .unwrap();
    for id in [a, b] {
        c.post(&format!("/tasks/{id}/claim"), json!({}))
            .await
            .expect(200);
        c.post(&format!("/tasks/{id}/complete"), json!({}))
            .await
            .expect(200);
    }
    // A last event every watcher sees, to know the others arrived.
    let last = c
        .create_task(json!({ "title": "end", "channel": "support", "type": "approval" }))
        .await["id"]
        .as_i64()
        .unwrap();
    ([by_channel, by_type, by_event, by_env], dir, [a, b, last])
}

async fn watch_filters(app: TestApp) {
    let ([by_channel, by_type, by_event, by_env], _dir, [a, b, last]) = filtered(&app).await;
    let pairs = |w: &Watcher| -> Vec<(String, i64)> {
        w.lines()
            .iter()
            .map(|l| {
                (
                    l["event"].as_str().unwrap().to_owned(),
                    l["task_id"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    by_channel.wait_lines(4, Duration::from_secs(20)).await;
    by_type.wait_lines(4, Duration::from_secs(20)).await;
    by_event.wait_lines(5, Duration::from_secs(20)).await;
    by_env.wait_lines(3, Duration::from_secs(20)).await;
    let s = |e: &str, id: i64| (e.to_owned(), id);
    assert_eq!(
        pairs(&by_channel),
        [
            s("task.created", a),
            s("task.claimed", a),
            s("task.completed", a),
            s("task.created", last)
        ]
    );
    assert_eq!(pairs(&by_type), pairs(&by_channel));
    assert_eq!(
        pairs(&by_event),
        [
            s("task.created", a),
            s("task.created", b),
            s("task.completed", a),
            s("task.completed", b),
            s("task.created", last)
        ]
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        pairs(&by_env),
        [
            s("task.created", b),
            s("task.claimed", b),
            s("task.completed", b)
        ]
    );
}
