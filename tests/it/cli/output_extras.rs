//! Around the output: a closed pipe ends `ats` quietly, a refused `/ws`
//! subscription names its cause (never "HTTP 0"), `--output` is `-f`,
//! ATS_OUTPUT=modern keeps this CLI's own layouts, and the shell completions
//! and manual page are generated.

use crate::common::TestApp;
use crate::common::cli::Cli;

crate::on_both_backends!(
    a_closed_pipe_ends_ats_quietly,
    a_refused_watch_names_the_cause_not_http_0,
    output_is_format_and_modern_keeps_the_new_layouts,
    times_and_data_parts_print_as_the_original,
);

/// `ats --help`, `-h` and `ats help` are laid out as the original's help:
/// title with version, `USAGE:` and its line, the description, `COMMANDS:`,
/// `GLOBAL OPTIONS:`, then `EXAMPLES:`.
#[tokio::test]
async fn help_is_laid_out_as_the_original() {
    let cli = Cli::bare();
    for args in [&["--help"][..], &["-h"], &["help"]] {
        let help = cli.run(args).await.ok();
        let lines: Vec<&str> = help.stdout.lines().collect();
        let at = |heading: &str| {
            lines
                .iter()
                .position(|l| *l == heading)
                .unwrap_or_else(|| panic!("{args:?}: no {heading}: {}", help.stdout))
        };
        let title = lines.iter().find(|l| !l.is_empty()).unwrap();
        assert!(
            title.starts_with("ATS CLI - Agent Task Service Command Line Interface v1."),
            "{args:?}: {title}"
        );
        let usage = at("USAGE:");
        assert_eq!(lines[usage + 1], "  ats <command> [options]");
        let commands = at("COMMANDS:");
        let options = at("GLOBAL OPTIONS:");
        let examples = at("EXAMPLES:");
        assert!(usage < commands && commands < options && options < examples);
        assert!(
            lines[usage + 2..commands]
                .iter()
                .any(|l| l.contains("Agent Task Service")),
            "{args:?}: no description between USAGE and COMMANDS"
        );
        for cmd in ["create", "list", "claim", "message", "watch", "project"] {
            assert!(
                lines[commands..options]
                    .iter()
                    .any(|l| l.trim_start().starts_with(&format!("{cmd} "))),
                "{args:?}: COMMANDS lacks {cmd}"
            );
        }
        for opt in [
            "--url",
            "--org",
            "--project",
            "--format",
            "--actor-id",
            "--verbose",
        ] {
            assert!(
                lines[options..examples].iter().any(|l| l.contains(opt)),
                "{args:?}: GLOBAL OPTIONS lacks {opt}"
            );
        }
        assert!(lines[examples + 1].starts_with("  ats list"), "{args:?}");
    }
}

/// `ats … | head` (the reader gone before or while `ats` writes): exit 0, no panic.
async fn a_closed_pipe_ends_ats_quietly(app: TestApp) {
    let cli = Cli::new(&app.base);
    for i in 0..30 {
        cli.run(&["create", &format!("task {i}")]).await.ok();
    }
    for script in [
        // The reader exits before `ats` prints anything.
        "ats list --all | true",
        "ats list --all -f json | true",
        "ats stats | true",
        "ATS_OUTPUT=modern ats list --all | true",
        // The reader takes one line and leaves; completions are long enough
        // to fill the pipe.
        "ats list --all | head -1",
        "ats completion bash | head -1",
        "ats man | head -1",
    ] {
        let run = cli.sh(script).await;
        assert_eq!(run.code, 0, "{script}: {run:?}");
        assert!(
            !run.stderr.contains("panicked") && !run.stderr.contains("Broken pipe"),
            "{script}: {run:?}"
        );
    }
}

/// The server refuses the subscription itself (the socket is up): the
/// error is its sentence and code, with no made-up HTTP status.
async fn a_refused_watch_names_the_cause_not_http_0(app: TestApp) {
    let cli = Cli::new(&app.base);
    let run = cli
        .run(&["watch", "--org", "nope", "--project", "nope"])
        .await
        .code(1);
    assert!(
        run.stderr
            .lines()
            .any(|l| l
                == "Error: the server refused the subscription: organization 'nope' not found"),
        "{run:?}"
    );
    let modern = cli
        .sh("ATS_OUTPUT=modern ats watch --org nope --project nope")
        .await
        .code(1);
    assert!(
        modern.stderr.contains(
            "the server refused the subscription: organization 'nope' not found (NOT_FOUND)"
        ),
        "{modern:?}"
    );
    assert!(!run.stderr.contains("HTTP 0"), "{run:?}");
    let json = cli
        .run(&["watch", "-f", "json", "--org", "nope", "--project", "nope"])
        .await
        .code(1);
    assert!(!json.stderr.contains("HTTP 0"), "{json:?}");
    assert!(json.stdout.is_empty(), "{json:?}");
}

async fn output_is_format_and_modern_keeps_the_new_layouts(app: TestApp) {
    let cli = Cli::new(&app.base);
    for args in [
        &["--output", "json", "health"][..],
        &["health", "--output", "json"],
        &["health", "--output=json"],
    ] {
        let health = cli.run(args).await.ok().json();
        assert_eq!(health["status"], "ok", "{args:?}");
    }
    cli.run(&["create", "one"]).await.ok();
    let modern = cli.env("ATS_OUTPUT", "modern");
    let stats = modern.run(&["stats"]).await.ok();
    assert!(stats.stdout.starts_with("Total tasks: 1\n"), "{stats:?}");
    let created = modern.run(&["create", "two", "-p", "7"]).await.ok();
    assert!(
        created.stdout.starts_with("✓ Task created with ID: ")
            && created.stdout.contains("  Priority:    7"),
        "{created:?}"
    );
    let id = created
        .stdout
        .lines()
        .next()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_owned();
    let added = modern.run(&["message", "add", &id, "hi"]).await.ok();
    assert!(added.stdout.starts_with("✓ Message "), "{added:?}");
    assert!(!added.stdout.starts_with("✓ Message added"), "{added:?}");
    let current = modern.run(&["project", "current"]).await.ok();
    assert_eq!(current.stdout, "default/main\n  from default\n");
    // The modern watch: no banner on stdout, the event's stored time.
    let dir = crate::common::cli::TempDir::new("modern_watch");
    let (out, err) = (dir.path().join("w.out"), dir.path().join("w.err"));
    let mut child = modern.spawn(&["watch", "--channel", "modern"], &out, &err);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap_or_default();
    while !read(&err).contains("Watching events on") {
        assert!(std::time::Instant::now() < deadline, "{}", read(&err));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The banner is printed before subscribing: wait for the subscription.
    crate::common::watcher::wait_subscribed(&app.base, 1).await;
    modern
        .run(&["create", "seen", "--channel", "modern"])
        .await
        .ok();
    while read(&out).lines().count() < 3 {
        assert!(std::time::Instant::now() < deadline, "{}", read(&out));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let text = read(&out);
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with("[20") && first.ends_with("] task.created"),
        "{text}"
    );
    assert!(
        text.contains("  Status: pending, Channel: modern\n"),
        "{text}"
    );
    // Off a terminal, a bulk creation shows no spinner: stderr stays empty.
    let file = dir.path().join("tasks.json");
    let many: Vec<serde_json::Value> = (0..50)
        .map(|i| serde_json::json!({ "title": format!("bulk {i}") }))
        .collect();
    std::fs::write(&file, serde_json::Value::Array(many).to_string()).unwrap();
    let bulk = modern.run(&["bulk", file.to_str().unwrap()]).await.ok();
    assert!(bulk.stdout.starts_with("✓ Created 50 tasks"), "{bulk:?}");
    assert!(bulk.stderr.is_empty(), "{bulk:?}");
}

/// Completion scripts for every shell clap_complete knows, and the manual
/// page, generated with no server and no configuration.
#[tokio::test]
async fn completions_and_the_manual_page_are_generated() {
    let cli = Cli::bare();
    for (shell, marker) in [
        ("bash", "complete -F _ats"),
        ("zsh", "#compdef ats"),
        ("fish", "complete -c ats"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "edit:completion:arg-completer[ats]"),
    ] {
        let run = cli.run(&["completion", shell]).await.ok();
        assert!(
            run.stdout.contains(marker),
            "{shell}: {}",
            &run.stdout[..200.min(run.stdout.len())]
        );
        for sub in ["claim-next", "project", "watch"] {
            assert!(run.stdout.contains(sub), "{shell} lacks {sub}");
        }
    }
    // bash accepts the script.
    cli.sh("ats completion bash > /tmp/ats_completion_check_$$.bash && bash -n /tmp/ats_completion_check_$$.bash; rm -f /tmp/ats_completion_check_$$.bash")
        .await
        .ok();
    let man = cli.run(&["man"]).await.ok();
    assert!(man.stdout.contains(".TH ats 1"), "{}", man.stdout);
    assert!(man.stdout.contains(".SH SYNOPSIS"), "{}", man.stdout);
    assert!(man.stdout.contains("claim\\-next"), "{}", man.stdout);
    cli.run(&["completion", "tcsh"]).await.code(2);
}

/// Times as Node 20's `toLocaleString()` (U+202F before AM/PM), in the
/// local time zone (TZ), and a data part as `(binary)`, as the original
/// printed them.
async fn times_and_data_parts_print_as_the_original(app: TestApp) {
    let cli = Cli::new(&app.base).env("TZ", "UTC");
    let task = cli
        .run(&["create", "timed", "-f", "json"])
        .await
        .ok()
        .json();
    let id = task["id"].as_i64().unwrap().to_string();
    let created = chrono::DateTime::parse_from_rfc3339(task["created_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    let expected = created
        .format("%-m/%-d/%Y, %-I:%M:%S\u{202f}%p")
        .to_string();
    assert!(expected.contains('\u{202f}'));
    let shown = cli.run(&["get", &id]).await.ok();
    assert!(
        shown
            .stdout
            .lines()
            .any(|l| l == format!("│ Created:     {expected}")),
        "{shown:?}"
    );
    let list = cli.run(&["list"]).await.ok();
    assert!(list.stdout.contains(&expected), "{list:?}");
    assert!(
        !list.stdout.contains(" AM") && !list.stdout.contains(" PM"),
        "{list:?}"
    );
    cli.run(&["message", "add", &id, r#"{"n": 1}"#, "--type", "data"])
        .await
        .ok();
    let thread = cli.run(&["message", "list", &id]).await.ok();
    assert!(
        thread.stdout.lines().any(|l| l == "  [data]: (binary)"),
        "{thread:?}"
    );
    assert!(
        thread
            .stdout
            .lines()
            .any(|l| l.starts_with('[') && l.contains('\u{202f}')),
        "{thread:?}"
    );
}
