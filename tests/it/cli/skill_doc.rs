//! Every command of the skill document (`seeds/ats-skill.txt`), run with our
//! `ats`, its human-readable output compared line by line with what the
//! original Node CLI (v1.3) printed for it. Times, ids the server picks and
//! column padding are masked: a time becomes `<TIME>`, a run of two or more
//! spaces becomes two, a rule of `─` becomes `<RULE>`; in the expected lines
//! `<N>` stands for a number and `<*>` for any text.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::TestApp;
use crate::common::cli::{Cli, Run, TempDir};

crate::on_both_backends!(every_command_of_the_skill_document_prints_the_original_lines);

/// `M/D/YYYY, H:MM:SS AM` (toLocaleString) or `H:MM:SS AM` (toLocaleTimeString)
/// at `s`, with the narrow no-break space (U+202F) Node 20 and later print
/// before AM/PM.
fn time_len(s: &[u8]) -> Option<usize> {
    fn digits(s: &[u8], i: usize, min: usize, max: usize) -> Option<usize> {
        let n = s[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        (min..=max).contains(&n).then_some(i + n)
    }
    fn lit(s: &[u8], i: usize, l: &str) -> Option<usize> {
        s[i..].starts_with(l.as_bytes()).then_some(i + l.len())
    }
    fn clock(s: &[u8], i: usize) -> Option<usize> {
        let i = digits(s, i, 1, 2)?;
        let i = lit(s, i, ":")?;
        let i = digits(s, i, 2, 2)?;
        let i = lit(s, i, ":")?;
        let i = digits(s, i, 2, 2)?;
        lit(s, i, "\u{202f}AM").or_else(|| lit(s, i, "\u{202f}PM"))
    }
    let date = || {
        let i = digits(s, 0, 1, 2)?;
        let i = lit(s, i, "/")?;
        let i = digits(s, i, 1, 2)?;
        let i = lit(s, i, "/")?;
        let i = digits(s, i, 4, 4)?;
        let i = lit(s, i, ", ")?;
        clock(s, i)
    };
    date().or_else(|| clock(s, 0))
}

/// One output line, masked as the module says.
fn mask(line: &str) -> String {
    let b = line.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    let mut at_boundary = true;
    while i < b.len() {
        if at_boundary && let Some(n) = time_len(&b[i..]) {
            out.push_str("<TIME>");
            i += n;
            at_boundary = false;
            continue;
        }
        let ch = line[i..].chars().next().unwrap();
        at_boundary = !ch.is_ascii_digit();
        out.push(ch);
        i += ch.len_utf8();
    }
    let trimmed = out.trim_end();
    if !trimmed.is_empty() && trimmed.chars().all(|c| c == '─') {
        return "<RULE>".to_owned();
    }
    let mut collapsed = String::new();
    let mut spaces = 0;
    for ch in trimmed.chars() {
        if ch == ' ' {
            spaces += 1;
            continue;
        }
        match spaces {
            0 => {}
            1 => collapsed.push(' '),
            _ => collapsed.push_str("  "),
        }
        spaces = 0;
        collapsed.push(ch);
    }
    collapsed
}

/// Whether `actual` matches `expected` with its `<N>` and `<*>` wildcards.
fn matches(expected: &str, actual: &str) -> bool {
    if let Some(rest) = expected.strip_prefix("<N>") {
        let n = actual.chars().take_while(char::is_ascii_digit).count();
        return n > 0 && matches(rest, &actual[n..]);
    }
    if let Some(rest) = expected.strip_prefix("<*>") {
        return (0..=actual.len())
            .filter(|i| actual.is_char_boundary(*i))
            .any(|i| matches(rest, &actual[i..]));
    }
    match (expected.chars().next(), actual.chars().next()) {
        (None, None) => true,
        (Some(e), Some(a)) if e == a => matches(&expected[e.len_utf8()..], &actual[a.len_utf8()..]),
        _ => false,
    }
}

/// Compares a run's stdout with the expected lines.
#[track_caller]
fn expect(run: &Run, expected: &[String]) {
    let actual: Vec<String> = run.stdout.lines().map(mask).collect();
    let ok =
        actual.len() == expected.len() && actual.iter().zip(expected).all(|(a, e)| matches(e, a));
    assert!(
        ok,
        "output differs from the original's\n--- expected\n{}\n--- actual (masked)\n{}\n--- raw\n{}",
        expected.join("\n"),
        actual.join("\n"),
        run.stdout
    );
}

macro_rules! lines {
    ($($l:expr),* $(,)?) => { [$(String::from($l)),*] };
}

/// The id in `✓ Task created with ID: N`.
fn created_id(run: &Run) -> String {
    run.stdout
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("✓ Task created with ID: "))
        .unwrap_or_else(|| panic!("no creation line: {run:?}"))
        .to_owned()
}

/// The row table `create` and `update` print after their confirmation.
fn detail_rows(first: &str, row: &str) -> [String; 4] {
    lines![
        first,
        "ID  Title  Status  Priority  Type  Channel  Source  Assignee  Created  Updated",
        "<RULE>",
        row,
    ]
}

async fn every_command_of_the_skill_document_prints_the_original_lines(app: TestApp) {
    // The skill document's actor (the defaults of its config example).
    let cli = Cli::new(&app.base)
        .env("ATS_ACTOR_TYPE", "agent")
        .env("ATS_ACTOR_ID", "claude-code")
        .env("ATS_ACTOR_NAME", "Claude Code")
        .env("TZ", "UTC");

    // Prerequisites and health.
    let version = cli.run(&["--version"]).await.ok();
    assert!(version.stdout.starts_with("ats-cli v1."), "{version:?}");
    let health = cli.run(&["health"]).await.ok();
    expect(&health, &lines!["✓ Service is ok", "  Timestamp: <*>"]);

    // Task operations.
    expect(
        &cli.run(&["list"]).await.ok(),
        &lines!["No pending tasks. Use --all to see all tasks."],
    );
    let run = cli.run(&["create", "Review the pull request"]).await.ok();
    let a = created_id(&run);
    expect(
        &run,
        &detail_rows(
            &format!("✓ Task created with ID: {a}"),
            &format!(
                "{a}  Review the pull request  pending  5  task  default  Claude Code  <TIME>  <TIME>"
            ),
        ),
    );
    let run = cli
        .run(&[
            "create",
            "Deploy to production",
            "--type",
            "deployment",
            "--channel",
            "ops",
            "--priority",
            "8",
            "--description",
            "Deploy v2.1.0 to production cluster",
        ])
        .await
        .ok();
    let b = created_id(&run);
    expect(
        &run,
        &detail_rows(
            &format!("✓ Task created with ID: {b}"),
            &format!(
                "{b}  Deploy to production  pending  8  deployment  ops  Claude Code  <TIME>  <TIME>"
            ),
        ),
    );
    let run = cli
        .run(&[
            "create",
            "Process data import",
            "--payload",
            r#"{"source": "s3://bucket/data.csv", "rows": 50000}"#,
        ])
        .await
        .ok();
    let c = created_id(&run);
    expect(
        &run,
        &detail_rows(
            &format!("✓ Task created with ID: {c}"),
            &format!(
                "{c}  Process data import  pending  5  task  default  Claude Code  <TIME>  <TIME>"
            ),
        ),
    );
    let json: Value = cli.run(&["get", &a, "-f", "json"]).await.ok().json();
    assert_eq!(json["status"], "pending");
    expect(
        &cli.run(&["get", &b]).await.ok(),
        &lines![
            "",
            "┌─ Task Details ─────────────────────────────────────",
            format!("│ ID:  {b}"),
            "│ Title:  Deploy to production",
            "│ Status:  pending",
            "│ Priority:  8",
            "│ Type:  deployment",
            "│ Channel:  ops",
            "│ Source:  Claude Code (agent)",
            "│ Assignee:  - (-)",
            "│ Created:  <TIME>",
            "│ Updated:  <TIME>",
            "├─ Description ──────────────────────────────────────",
            "│ Deploy v2.1.0 to production cluster",
            "└────────────────────────────────────────────────────",
            "",
        ],
    );
    let get_c = cli.run(&["get", &c]).await.ok();
    let get_c_lines: Vec<&str> = get_c.stdout.lines().collect();
    let rows_first = get_c_lines.get(16).is_some_and(|l| l.contains("rows"));
    assert_eq!(
        get_c_lines[14..],
        [
            "├─ Payload ─────────────────────────────────────────",
            "│ {",
            if rows_first {
                "│   \"rows\": 50000,"
            } else {
                "│   \"source\": \"s3://bucket/data.csv\","
            },
            if rows_first {
                "│   \"source\": \"s3://bucket/data.csv\""
            } else {
                "│   \"rows\": 50000"
            },
            "│ }",
            "└────────────────────────────────────────────────────",
            "",
        ],
        "{get_c:?}"
    );
    let list_header = "ID  Title  Status  Pri  Type  Channel  Assignee  Created";
    expect(
        &cli.run(&["list"]).await.ok(),
        &lines![
            list_header,
            "<RULE>",
            format!("{c}  Process data import  pending  5  task  default  <TIME>"),
            format!("{b}  Deploy to production  pending  8  deployment  ops  <TIME>"),
            format!("{a}  Review the pull request  pending  5  task  default  <TIME>"),
            "",
            "3 task(s) found (pending only, use --all for all)",
        ],
    );
    expect(
        &cli.run(&["list", "--channel", "ops"]).await.ok(),
        &lines![
            list_header,
            "<RULE>",
            format!("{b}  Deploy to production  pending  8  deployment  ops  <TIME>"),
            "",
            "1 task(s) found (pending only, use --all for all)",
        ],
    );
    expect(
        &cli.run(&["list", "--type", "approval"]).await.ok(),
        &lines!["No pending tasks. Use --all to see all tasks."],
    );
    expect(
        &cli.run(&["list", "--status", "in_progress"]).await.ok(),
        &lines!["No tasks found."],
    );
    expect(
        &cli.run(&[
            "list",
            "--status",
            "pending",
            "--channel",
            "ops",
            "--limit",
            "10",
        ])
        .await
        .ok(),
        &lines![
            list_header,
            "<RULE>",
            format!("{b}  Deploy to production  pending  8  deployment  ops  <TIME>"),
            "",
            "1 task(s) found",
        ],
    );
    let titles = cli.sh("ats list -f json | jq -r '.[] | .title'").await.ok();
    assert_eq!(
        titles.stdout,
        "Process data import\nDeploy to production\nReview the pull request\n"
    );
    expect(
        &cli.run(&["update", &a, "--priority", "9"]).await.ok(),
        &detail_rows(
            &format!("✓ Task {a} updated"),
            &format!(
                "{a}  Review the pull request  pending  9  task  default  Claude Code  <TIME>  <TIME>"
            ),
        ),
    );
    expect(
        &cli.run(&[
            "update",
            &a,
            "--title",
            "Updated title",
            "--description",
            "New description",
        ])
        .await
        .ok(),
        &detail_rows(
            &format!("✓ Task {a} updated"),
            &format!("{a}  Updated title  pending  9  task  default  Claude Code  <TIME>  <TIME>"),
        ),
    );
    let claimed = |id: &str| {
        lines![
            format!("✓ Task {id} claimed"),
            "  Assignee: Claude Code",
            "  Lease expires: <TIME>",
        ]
    };
    expect(&cli.run(&["claim", &a]).await.ok(), &claimed(&a));

    // Messages.
    expect(
        &cli.run(&["message", "add", &a, "I've started working on this"])
            .await
            .ok(),
        &lines![
            format!("✓ Message added to task {a}"),
            "ID  From  Content  Time",
            "<RULE>",
            "<N>  Claude Code  I've started working on this  <TIME>",
        ],
    );
    expect(
        &cli.run(&[
            "message",
            "add",
            &a,
            r#"{"status": "analyzing", "progress": 50}"#,
            "--type",
            "data",
        ])
        .await
        .ok(),
        &lines![
            format!("✓ Message added to task {a}"),
            "ID  From  Content  Time",
            "<RULE>",
            "<N>  Claude Code  [data]  <TIME>",
        ],
    );
    expect(
        &cli.run(&["message", "list", &a]).await.ok(),
        &lines![
            "",
            format!("─── Messages for Task {a} ───"),
            "",
            "[<TIME>] Claude Code (agent):",
            "  I've started working on this",
            "",
            "[<TIME>] Claude Code (agent):",
            "  [data]: (binary)",
            "",
            "2 message(s)",
        ],
    );
    let msgs = cli
        .run(&["message", "list", &a, "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(msgs.as_array().map(Vec::len), Some(2));
    expect(
        &cli.run(&["message", "list", &c]).await.ok(),
        &lines!["No messages found."],
    );

    // The rest of the lifecycle.
    expect(
        &cli.run(&[
            "complete",
            &a,
            "--outputs",
            r#"{"result": "Approved", "notes": "LGTM"}"#,
        ])
        .await
        .ok(),
        &lines![format!("✓ Task {a} completed")],
    );
    expect(
        &cli.run(&["claim", &b, "--lease", "120000"]).await.ok(),
        &claimed(&b),
    );
    expect(
        &cli.run(&[
            "fail",
            &b,
            "--reason",
            "Unable to connect to external service",
        ])
        .await
        .ok(),
        &lines![format!("✓ Task {b} marked as failed")],
    );
    expect(
        &cli.run(&[
            "reject",
            &c,
            "--reason",
            "This task is outside my capabilities",
        ])
        .await
        .ok(),
        &lines![format!("✓ Task {c} rejected")],
    );
    expect(
        &cli.run(&["reopen", &b]).await.ok(),
        &lines![format!("✓ Task {b} reopened")],
    );
    expect(
        &cli.run(&["reopen", &c, "--reason", "Need to revisit this task"])
            .await
            .ok(),
        &lines![format!("✓ Task {c} reopened")],
    );
    expect(
        &cli.run(&["cancel", &c]).await.ok(),
        &lines![format!("✓ Task {c} cancelled")],
    );
    expect(
        &cli.run(&["list", "--all"]).await.ok(),
        &lines![
            list_header,
            "<RULE>",
            format!("{c}  Process data import  cancelled  5  task  default  <TIME>"),
            format!("{b}  Deploy to production  pending  8  deployment  ops  <TIME>"),
            format!("{a}  Updated title  completed  9  task  default  Claude Code  <TIME>"),
            "",
            "3 task(s) found",
        ],
    );

    // Statistics.
    let stats = cli.run(&["stats"]).await.ok();
    let mut channel_lines: Vec<String> = stats.stdout.lines().skip(9).take(2).map(mask).collect();
    channel_lines.sort();
    assert_eq!(channel_lines, ["│  default  2", "│  ops  1"], "{stats:?}");
    let without_channels: String = stats
        .stdout
        .lines()
        .enumerate()
        .filter(|(i, _)| !(9..11).contains(i))
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    expect(
        &Run {
            stdout: without_channels,
            ..stats
        },
        &lines![
            "",
            "┌─ Task Statistics ──────────────────────────────────",
            "│ Total Tasks:  3",
            "├─ By Status ────────────────────────────────────────",
            "│  pending  1",
            "│  in_progress  0",
            "│  completed  1",
            "│  cancelled  1",
            "├─ By Channel ───────────────────────────────────────",
            "├─ Performance ──────────────────────────────────────",
            "│  Avg Completion:  <*> minutes",
            "│  Completed Tasks:  1",
            "├─ Recent Activity ──────────────────────────────────",
            "│  Created (24h):  3",
            "│  Completed (24h):  1",
            "│  Created (7d):  3",
            "│  Completed (7d):  1",
            "└────────────────────────────────────────────────────",
            "",
        ],
    );
    assert_eq!(
        cli.run(&["stats", "-f", "json"]).await.ok().json()["total"],
        3
    );
    expect(
        &cli.run(&["delete", &c]).await.ok(),
        &lines![format!("✓ Task {c} deleted")],
    );

    // Actor identity flags.
    let as_agent = cli
        .run(&[
            "list",
            "--actor-type",
            "agent",
            "--actor-id",
            "claude-code",
            "--actor-name",
            "Claude Code Agent",
        ])
        .await
        .ok();
    assert!(
        as_agent
            .stdout
            .ends_with("\n1 task(s) found (pending only, use --all for all)\n")
    );

    // Real-time events.
    let dir = TempDir::new("skill_watch");
    let (out, err) = (dir.path().join("watch.out"), dir.path().join("watch.err"));
    let mut child = cli.spawn(&["watch", "--channel", "support"], &out, &err);
    let read = || std::fs::read_to_string(&out).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !read().contains("(Ctrl+C to stop)") {
        assert!(
            Instant::now() < deadline,
            "watch never connected: {}",
            read()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let s = created_id(
        &cli.run(&["create", "Need help", "--channel", "support"])
            .await
            .ok(),
    );
    while read().lines().count() < 9 {
        assert!(Instant::now() < deadline, "no event: {}", read());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    expect(
        &Run {
            code: 0,
            stdout: read(),
            stderr: String::new(),
        },
        &lines![
            "Connecting to ws://<*>/ws...",
            "✓ Connected",
            "Watching for events... (Ctrl+C to stop)",
            "",
            "[<TIME>] task.created",
            format!("  Task #{s}: Need help"),
            "  Status: pending, Channel: support",
            "  By: Claude Code",
            "",
        ],
    );

    // Project commands.
    expect(
        &cli.run(&[
            "project",
            "create",
            "myorg/myproject",
            "--name",
            "My Project",
            "--description",
            "Project description",
        ])
        .await
        .ok(),
        &lines![
            "Creating organization: myorg",
            "✓ Project created: myorg/myproject"
        ],
    );
    expect(
        &cli.run(&["project", "create", "myorg/other"]).await.ok(),
        &lines!["✓ Project created: myorg/other"],
    );
    expect(
        &cli.run(&["project", "list"]).await.ok(),
        &lines![
            "Project  Name  Pending  Active  Total",
            "<RULE>",
            "default/main *  Main  2  0  3",
            "myorg/myproject  My Project  0  0  0",
            "myorg/other  other  0  0  0",
            "",
            "3 project(s) (* = current)",
        ],
    );
    let rows = cli.run(&["project", "list", "-f", "json"]).await.ok();
    assert!(
        rows.stdout
            .starts_with("[\n  {\n    \"project\": \"default/main *\",\n    \"name\": \"Main\",\n"),
        "{rows:?}"
    );
    let rows = rows.json();
    assert_eq!(
        rows[1],
        serde_json::json!({
            "project": "myorg/myproject", "name": "My Project", "pending_count": 0,
            "in_progress_count": 0, "total_count": 0, "org_slug": "myorg", "project_slug": "myproject",
        })
    );
    let bound = lines![
        "✓ Directory bound to project: myorg/myproject",
        "  Config: <*>/.ats/project.json",
        "",
        "All ats commands in this directory will now use this project.",
    ];
    expect(
        &cli.run(&["project", "init", "myorg/myproject"]).await.ok(),
        &bound,
    );
    let again = cli.run(&["project", "init", "myorg/myproject"]).await;
    assert_ne!(again.code, 0, "{again:?}");
    expect(
        &cli.run(&["project", "init", "myorg/myproject", "--force"])
            .await
            .ok(),
        &bound,
    );
    expect(
        &cli.run(&[
            "project",
            "init",
            "--org",
            "myorg",
            "--project",
            "myproject",
            "--force",
        ])
        .await
        .ok(),
        &bound,
    );
    expect(
        &cli.run(&[
            "project",
            "init",
            "later/soon",
            "--force",
            "--skip-existence-check",
        ])
        .await
        .ok(),
        &lines![
            "✓ Directory bound to project: later/soon",
            "  Config: <*>/.ats/project.json",
            "",
            "All ats commands in this directory will now use this project.",
        ],
    );
    cli.run(&["project", "init", "myorg/myproject", "--force"])
        .await
        .ok();
    expect(
        &cli.run(&["project", "current"]).await.ok(),
        &lines![
            "Current project: myorg/myproject",
            "  Source: <*>/.ats/project.json"
        ],
    );
    let box_of = |global_project: &str, local_project: &str| {
        lines![
            "",
            "┌─ Project Configuration ────────────────────────────",
            format!("│ Current:  {local_project}"),
            "├─ Global Config ────────────────────────────────────",
            "│ Path:  <*>/.ats/config",
            format!("│ Project:  {global_project}"),
            "│ URL:  (default)",
            "├─ Local Config ─────────────────────────────────────",
            "│ Path:  <*>/.ats/project.json",
            format!("│ Project:  {local_project}"),
            "│ URL:  (inherited)",
            "├─ Effective Settings ───────────────────────────────",
            format!("│ Project:  {local_project}"),
            format!("│ URL:  {}", app.base),
            "│ Actor:  Claude Code (agent)",
            "└────────────────────────────────────────────────────",
            "",
        ]
    };
    expect(
        &cli.run(&["project", "show"]).await.ok(),
        &box_of("(not set)", "myorg/myproject"),
    );
    let shown = cli
        .run(&["project", "show", "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(shown["current"], "myorg/myproject");
    // The original's keys are there too.
    assert_eq!(shown["local"]["project"], "myorg/myproject");
    assert!(shown["local"]["url"].is_null(), "{shown}");
    assert!(shown["global"]["project"].is_null(), "{shown}");
    assert_eq!(shown["global"]["url"], "http://127.0.0.1:8080");
    expect(
        &cli.run(&["project", "switch", "myorg/myproject"])
            .await
            .ok(),
        &lines!["✓ Switched to project: myorg/myproject"],
    );
    expect(
        &cli.run(&["project", "rename", "myorg/myproject", "myorg/newslug"])
            .await
            .ok(),
        &lines![
            "✓ Project renamed: myproject → newslug",
            "✓ Project: myorg/newslug",
            "  Updated local config: <*>/.ats/project.json",
            "  Updated global config: <*>/.ats/config",
        ],
    );
    expect(
        &cli.run(&["project", "rename", "myorg/newslug", "--slug", "myproject"])
            .await
            .ok(),
        &lines![
            "✓ Project renamed: newslug → myproject",
            "✓ Project: myorg/myproject",
            "  Updated local config: <*>/.ats/project.json",
            "  Updated global config: <*>/.ats/config",
        ],
    );
    expect(
        &cli.run(&[
            "project",
            "rename",
            "myorg/myproject",
            "--name",
            "New Display Name",
        ])
        .await
        .ok(),
        &lines![
            "✓ Project renamed: myproject → myproject",
            "  Name: New Display Name",
            "✓ Project: myorg/myproject",
        ],
    );
    expect(
        &cli.run(&["project", "rename", "myorg/myproject", "neworg/newproject"])
            .await
            .ok(),
        &lines![
            "✓ Organization renamed: myorg → neworg",
            "✓ Project renamed: myproject → newproject",
            "✓ Project: neworg/newproject",
            "  Updated local config: <*>/.ats/project.json",
            "  Updated global config: <*>/.ats/config",
        ],
    );
    expect(
        &cli.run(&["project", "show"]).await.ok(),
        &box_of("neworg/newproject", "neworg/newproject"),
    );
    // Task commands in the bound directory reach the bound project.
    expect(
        &cli.run(&["list"]).await.ok(),
        &lines!["No pending tasks. Use --all to see all tasks."],
    );
}
