//! The `ats` thread, history and workflow commands against a live server:
//! messages (text and data), subtasks, handoffs, dependencies, a task's
//! events, claim-next, and bulk creation from a file or stdin.

use serde_json::json;

use crate::common::TestApp;
use crate::common::cli::Cli;

crate::on_both_backends!(
    messages_take_text_or_data_parts,
    subtasks_by_command_or_parent_flag,
    handoffs_keep_summary_and_next_steps,
    depends_on_names_the_blocker,
    events_list_a_tasks_history_in_order,
    claim_next_takes_the_most_urgent_of_the_channel,
    bulk_creates_from_a_file_or_stdin_all_or_nothing,
);

/// `agent:bot` with a task "Parent"; returns the user and the parent's id.
async fn parent(app: &TestApp) -> (Cli, String) {
    let cli = Cli::new(&app.base)
        .env("ATS_ACTOR_TYPE", "agent")
        .env("ATS_ACTOR_ID", "bot");
    let parent = cli
        .run(&["create", "Parent", "-f", "json"])
        .await
        .ok()
        .json();
    let pid = parent["id"].as_i64().unwrap().to_string();
    (cli, pid)
}

/// Step: a text and a data message on the parent; a bad data part refused.
async fn messages(cli: &Cli, pid: &str) {
    let added = cli
        .run(&["message", "add", pid, "I've started working on this"])
        .await
        .ok();
    assert!(added.stdout.starts_with("✓ Message "), "{added:?}");
    let data = cli
        .run(&[
            "message",
            "add",
            pid,
            r#"{"status": "analyzing", "progress": 50}"#,
            "--type",
            "data",
            "-f",
            "json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(data["parts"][0]["content"]["progress"], 50);
    let bad = cli
        .run(&["message", "add", pid, "not json", "--type", "data"])
        .await
        .code(2);
    assert!(bad.stderr.contains("not valid JSON"), "{bad:?}");
    let msgs = cli
        .run(&["message", "list", pid, "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(msgs.as_array().unwrap().len(), 2);
    assert_eq!(
        msgs[0]["parts"][0]["content"],
        "I've started working on this"
    );
    let table = cli
        .sh(&format!("ATS_OUTPUT=modern ats message list {pid}"))
        .await
        .ok();
    assert!(
        table
            .stdout
            .contains("agent:bot: I've started working on this"),
        "{table:?}"
    );
    let got = cli
        .sh(&format!("ATS_OUTPUT=modern ats get {pid}"))
        .await
        .ok();
    assert!(got.stdout.contains("Messages (2):"), "{got:?}");
    // The original's layout: a header, each message, the count.
    let table = cli.run(&["message", "list", pid]).await.ok();
    assert!(
        table
            .stdout
            .contains(&format!("─── Messages for Task {pid} ───"))
            && table.stdout.contains("\n  I've started working on this\n")
            && table.stdout.ends_with("2 message(s)\n"),
        "{table:?}"
    );
    let got = cli.run(&["get", pid]).await.ok();
    assert!(got.stdout.contains("├─ Messages ─"), "{got:?}");
    let got = cli.run(&["get", pid, "-f", "json"]).await.ok().json();
    assert_eq!(got["messages"].as_array().unwrap().len(), 2);
}

/// Step: a handoff on the parent, listed as JSON and as a table.
async fn handoffs(cli: &Cli, pid: &str) {
    cli.run(&[
        "handoff",
        "add",
        pid,
        "--summary",
        "Halfway there",
        "--next-step",
        "write tests",
        "--next-step",
        "ship",
    ])
    .await
    .ok();
    let hs = cli
        .run(&["handoff", "list", pid, "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(hs[0]["summary"], "Halfway there");
    assert_eq!(hs[0]["next_steps"], json!(["write tests", "ship"]));
    let ht = cli.run(&["handoff", "list", pid]).await.ok();
    assert!(
        ht.stdout.contains("Halfway there") && ht.stdout.contains("  - ship"),
        "{ht:?}"
    );
}

async fn messages_take_text_or_data_parts(app: TestApp) {
    let (cli, pid) = parent(&app).await;
    let pid = pid.as_str();
    messages(&cli, pid).await;
}

async fn subtasks_by_command_or_parent_flag(app: TestApp) {
    let (cli, pid) = parent(&app).await;
    let pid = pid.as_str();
    let sub = cli
        .run(&[
            "subtask",
            "add",
            pid,
            "Child",
            "--priority",
            "7",
            "-f",
            "json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(sub["parent_id"].to_string(), pid);
    let subs = cli
        .run(&["subtask", "list", pid, "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(subs.as_array().unwrap().len(), 1);
    let by_flag = cli
        .run(&["create", "Child 2", "--parent", pid, "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(by_flag["parent_id"].to_string(), pid);
    let children = cli
        .run(&["list", "--parent", pid, "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(children.as_array().unwrap().len(), 2);
}

async fn handoffs_keep_summary_and_next_steps(app: TestApp) {
    let (cli, pid) = parent(&app).await;
    let pid = pid.as_str();
    handoffs(&cli, pid).await;
}

async fn depends_on_names_the_blocker(app: TestApp) {
    let (cli, pid) = parent(&app).await;
    let pid = pid.as_str();
    let blocked = cli
        .run(&["create", "Blocked", "--depends-on", pid, "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(blocked["depends_on"].to_string(), format!("[{pid}]"));
}

async fn events_list_a_tasks_history_in_order(app: TestApp) {
    let (cli, pid) = parent(&app).await;
    let pid = pid.as_str();
    messages(&cli, pid).await;
    handoffs(&cli, pid).await;
    let events = cli.run(&["events", pid, "-f", "json"]).await.ok().json();
    let types: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types[0], "task.created");
    assert!(
        types.contains(&"task.message") && types.contains(&"task.handoff"),
        "{types:?}"
    );
    let first = events[0]["id"].as_i64().unwrap().to_string();
    let later = cli
        .run(&[
            "events", pid, "--after", &first, "--limit", "1", "-f", "json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(later.as_array().unwrap().len(), 1);
    assert_eq!(later[0]["id"], events[1]["id"]);
    let et = cli.run(&["events", pid]).await.ok();
    assert!(
        et.stdout.contains("task.created") && et.stdout.contains("agent:bot"),
        "{et:?}"
    );
}

async fn claim_next_takes_the_most_urgent_of_the_channel(app: TestApp) {
    let (cli, _) = parent(&app).await;
    let c = app.actor("agent", "seeder");
    c.create_task(json!({ "title": "low", "channel": "queue", "priority": 2 }))
        .await;
    let high = c
        .create_task(json!({ "title": "high", "channel": "queue", "priority": 9 }))
        .await;
    let next = cli
        .run(&["claim-next", "--channel", "queue", "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(next["id"], high["id"]);
    assert_eq!(next["assignee_id"], "bot");
    let by_env = Cli::new(&app.base)
        .env("ATS_CHANNEL", "queue")
        .env("ATS_ACTOR_ID", "b2");
    let next = by_env
        .run(&["claim-next", "--lease", "5000", "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(next["title"], "low");
    let none = by_env.run(&["claim-next"]).await.code(1);
    assert!(
        none.stderr.contains("Error: no claimable task matches"),
        "{none:?}"
    );
    let none = cli
        .run(&["claim-next", "--channel", "queue", "--min-priority", "5"])
        .await
        .code(1);
    assert!(none.stdout.is_empty());
}

async fn bulk_creates_from_a_file_or_stdin_all_or_nothing(app: TestApp) {
    let (cli, _) = parent(&app).await;
    let file = cli.work().join("tasks.json");
    std::fs::write(&file, r#"[{"title":"b1"},{"title":"b2","priority":9}]"#).unwrap();
    let bulk = cli
        .run(&["bulk", file.to_str().unwrap(), "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(bulk.as_array().unwrap().len(), 2);
    let piped = cli
        .sh(r#"echo '{"tasks":[{"title":"b3"}]}' | ats bulk - -f json | jq -r '.[0].title'"#)
        .await
        .ok();
    assert_eq!(piped.stdout.trim(), "b3");
    let bad = cli
        .run(&[
            "bulk",
            file.to_str().unwrap(),
            "--url",
            "http://127.0.0.1:1",
        ])
        .await;
    assert_eq!(bad.code, 3);
    let all_or_nothing = cli
        .sh(r#"echo '[{"title":"ok"},{"title":""}]' | ats bulk -"#)
        .await
        .code(1);
    assert!(
        all_or_nothing.stderr.contains("title"),
        "{all_or_nothing:?}"
    );
    assert_eq!(
        app.client()
            .get("/tasks?search=ok&status=pending")
            .await
            .expect(200)["count"],
        0
    );
}
