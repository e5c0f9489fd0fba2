//! `ats list` against a live server: every filter, order and page flag,
//! `ATS_CHANNEL` as the default channel, the table form, and bad filter
//! values refused as usage errors before any request.

use std::time::Duration;

use serde_json::json;

use crate::common::TestApp;
use crate::common::cli::Cli;

crate::on_both_backends!(
    status_channel_type_and_assignee_filters,
    priority_search_and_paging_flags,
    sorts_and_time_and_project_filters,
    ats_channel_is_the_default_channel,
    the_original_table_and_count_line,
    the_table_has_a_header_a_row_per_task_and_the_count,
    bad_filter_values_are_usage_errors,
);

/// The titles `ats list -f json args…` prints.
async fn ids(cli: &Cli, args: &[&str]) -> Vec<String> {
    let mut full = vec!["list", "-f", "json"];
    full.extend_from_slice(args);
    let list = cli.run(&full).await.ok().json();
    list.as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap().to_owned())
        .collect()
}

/// alpha (2, ops, deploy), bravo (8, support, approval), charlie (6, ops,
/// approval; claimed by worker-9), delta (10, support, deploy), made in that
/// order; returns an anonymous user.
async fn four(app: &TestApp) -> Cli {
    let c = app.actor("agent", "seeder");
    for (title, priority, channel, kind) in [
        ("alpha", 2, "ops", "deploy"),
        ("bravo", 8, "support", "approval"),
        ("charlie", 6, "ops", "approval"),
        ("delta", 10, "support", "deploy"),
    ] {
        c.create_task(json!({
            "title": title, "priority": priority, "channel": channel, "type": kind,
            "description": format!("about {title} things"),
        }))
        .await;
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    let list = c.get("/tasks?search=charlie").await.expect(200);
    let charlie = list["tasks"][0]["id"].as_i64().unwrap().to_string();
    let w = Cli::new(&app.base).env("ATS_ACTOR_ID", "worker-9");
    w.run(&["claim", &charlie]).await.ok();
    Cli::new(&app.base)
}

/// By default pending only, newest first.
async fn status_channel_type_and_assignee_filters(app: TestApp) {
    let cli = four(&app).await;
    assert_eq!(ids(&cli, &[]).await, ["delta", "bravo", "alpha"]);
    assert_eq!(
        ids(&cli, &["--all"]).await,
        ["delta", "charlie", "bravo", "alpha"]
    );
    assert_eq!(
        ids(&cli, &["-a", "-r"]).await,
        ["alpha", "bravo", "charlie", "delta"]
    );
    assert_eq!(ids(&cli, &["--status", "in_progress"]).await, ["charlie"]);
    assert_eq!(
        ids(&cli, &["-s", "pending,in_progress", "--channel", "ops"]).await,
        ["charlie", "alpha"]
    );
    assert_eq!(ids(&cli, &["--type", "approval"]).await, ["bravo"]);
    assert_eq!(
        ids(&cli, &["--all", "--assignee", "worker-9"]).await,
        ["charlie"]
    );
}

async fn priority_search_and_paging_flags(app: TestApp) {
    let cli = four(&app).await;
    assert_eq!(ids(&cli, &["-p", "8"]).await, ["bravo"]);
    assert_eq!(ids(&cli, &["-p", "7+"]).await, ["delta", "bravo"]);
    assert_eq!(ids(&cli, &["-a", "-p", "5-8"]).await, ["charlie", "bravo"]);
    assert_eq!(ids(&cli, &["-q", "ALPHA"]).await, ["alpha"]);
    assert_eq!(
        ids(&cli, &["--search", "things", "--limit", "2"]).await,
        ["delta", "bravo"]
    );
    assert_eq!(
        ids(&cli, &["--limit", "2", "--offset", "2"]).await,
        ["alpha"]
    );
}

async fn sorts_and_time_and_project_filters(app: TestApp) {
    let cli = four(&app).await;
    assert_eq!(
        ids(&cli, &["-a", "--sort", "priority"]).await,
        ["delta", "bravo", "charlie", "alpha"]
    );
    assert_eq!(
        ids(&cli, &["-a", "--sort", "priority", "-r"]).await,
        ["alpha", "charlie", "bravo", "delta"]
    );
    assert_eq!(
        ids(&cli, &["-a", "--sort", "title"]).await,
        ["alpha", "bravo", "charlie", "delta"]
    );
    assert_eq!(ids(&cli, &["-a", "--sort", "updated"]).await[0], "charlie");
    assert_eq!(ids(&cli, &["--since", "1h"]).await.len(), 3);
    assert!(ids(&cli, &["-S", "2099-01-01T00:00:00Z"]).await.is_empty());
    assert_eq!(ids(&cli, &["-a", "--updated-since", "30m"]).await.len(), 4);
    assert_eq!(ids(&cli, &["--project-id", "1"]).await.len(), 3);
    assert!(ids(&cli, &["--project-id", "999"]).await.is_empty());
}

/// `ATS_CHANNEL` is the default channel; `--channel` wins over it.
async fn ats_channel_is_the_default_channel(app: TestApp) {
    four(&app).await;
    let ops = Cli::new(&app.base).env("ATS_CHANNEL", "ops");
    assert_eq!(ids(&ops, &[]).await, ["alpha"]);
    assert_eq!(
        ids(&ops, &["--channel", "support"]).await,
        ["delta", "bravo"]
    );
    let created = ops
        .run(&["create", "on ops", "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(created["channel"], "ops");
}

/// By default the original's table: padded columns, a rule, the rows, a
/// blank line and `N task(s) found`; the pending-only note without --all or
/// --status; its own sentence when nothing is pending.
async fn the_original_table_and_count_line(app: TestApp) {
    let mut cli = four(&app).await;
    let table = cli.run(&["list"]).await.ok();
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert!(
        lines[0].starts_with("ID  Title  ")
            && lines[0].contains("  Status   Pri  Type      Channel  Assignee  Created"),
        "{table:?}"
    );
    assert!(lines[1].chars().all(|c| c == '─'), "{table:?}");
    // Three pending (the fourth task is claimed).
    assert_eq!(lines.len(), 2 + 3 + 2, "{table:?}");
    assert_eq!(lines[5], "", "{table:?}");
    assert_eq!(
        lines[6],
        "3 task(s) found (pending only, use --all for all)"
    );
    let all = cli.run(&["list", "--all"]).await.ok();
    assert!(all.stdout.ends_with("\n\n4 task(s) found\n"), "{all:?}");
    let none = cli.run(&["list", "--type", "nothing"]).await.ok();
    assert_eq!(
        none.stdout,
        "No pending tasks. Use --all to see all tasks.\n"
    );
    let none = cli
        .run(&["list", "--type", "nothing", "--status", "pending"])
        .await
        .ok();
    assert_eq!(none.stdout, "No tasks found.\n");
    cli.set_env("ATS_OUTPUT", "modern");
    let modern = cli.run(&["list"]).await.ok();
    assert!(modern.stdout.ends_with("3 of 3 tasks\n"), "{modern:?}");
}

/// ATS_OUTPUT=modern: a narrow terminal gets a table that fits.
async fn the_table_has_a_header_a_row_per_task_and_the_count(app: TestApp) {
    let cli = four(&app).await.env("ATS_OUTPUT", "modern");
    let ops = Cli::new(&app.base).env("ATS_CHANNEL", "ops");
    ops.run(&["create", "on ops"]).await.ok();
    let table = cli.run(&["list"]).await.ok();
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert!(
        lines[0].contains("ID") && lines[0].contains("STATUS") && lines[0].contains("TITLE"),
        "{table:?}"
    );
    assert_eq!(lines.len(), 1 + 4 + 1, "{table:?}");
    assert!(lines[1].contains("on ops"), "{table:?}");
    assert_eq!(*lines.last().unwrap(), "4 of 4 tasks");
    let empty = cli.run(&["list", "--type", "nothing"]).await.ok();
    assert_eq!(empty.stdout.trim(), "No tasks found.");
    let narrow = Cli::new(&app.base)
        .env("COLUMNS", "60")
        .env("ATS_OUTPUT", "modern")
        .run(&["list", "--all"])
        .await
        .ok();
    for line in narrow.stdout.lines() {
        assert!(line.chars().count() <= 60, "line wider than 60: {line:?}");
    }
}

/// Exit 2 before any request.
async fn bad_filter_values_are_usage_errors(app: TestApp) {
    let cli = four(&app).await;
    for bad in [
        ["-p", "11"],
        ["-p", "9-3"],
        ["--since", "yesterday"],
        ["--sort", "size"],
    ] {
        let run = cli.run(&["list", bad[0], bad[1]]).await;
        assert_eq!(run.code, 2, "{bad:?}: {run:?}");
        assert!(run.stdout.is_empty());
    }
}
