//! Who the `ats` CLI acts as in open mode (flags over environment over
//! config), its exit codes (1 refused by the server, 2 usage, 3 unreachable),
//! health, help and version, colour only on a terminal, and `-v`.

use crate::common::TestApp;
use crate::common::cli::Cli;

crate::on_both_backends!(
    actor_flags_and_env,
    server_refusals_exit_1_and_usage_errors_exit_2,
    an_unreachable_server_exits_3,
    health_help_and_version,
    colour_only_on_a_terminal_and_never_under_no_color,
    verbose_shows_the_requests,
);

/// Open mode: who the CLI acts as comes from flags over environment over config.
async fn actor_flags_and_env(app: TestApp) {
    let cli = Cli::new(&app.base);
    let anon = cli
        .run(&["create", "anonymous", "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(
        (anon["source_type"].as_str(), anon["source_id"].as_str()),
        (Some("human"), Some("anonymous"))
    );
    let flagged = cli
        .run(&[
            "create",
            "flagged",
            "--actor-type",
            "agent",
            "--actor-id",
            "claude-code",
            "--actor-name",
            "Claude Code Agent",
            "-f",
            "json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(flagged["source_type"], "agent");
    assert_eq!(flagged["source_id"], "claude-code");
    assert_eq!(flagged["source_name"], "Claude Code Agent");
    let env = Cli::new(&app.base)
        .env("ATS_ACTOR_TYPE", "human")
        .env("ATS_ACTOR_ID", "user-123")
        .env("ATS_ACTOR_NAME", "John Doe");
    let by_env = env.run(&["create", "env", "-f", "json"]).await.ok().json();
    assert_eq!(by_env["source_id"], "user-123");
    assert_eq!(by_env["source_name"], "John Doe");
    // A flag beats the environment.
    let both = env
        .run(&["create", "both", "--actor-id", "user-456", "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(both["source_id"], "user-456");
    assert_eq!(both["source_name"], "John Doe");
    // The global config's actor is used when nothing else names one.
    let configured = Cli::new(&app.base);
    std::fs::create_dir_all(configured.home.path().join(".ats")).unwrap();
    std::fs::write(
        configured.home.path().join(".ats/config"),
        r#"{"organization":"default","project":"main","actor":{"type":"agent","id":"claude-code","name":"Claude Code"}}"#,
    )
    .unwrap();
    let from_file = configured
        .run(&["create", "file", "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(from_file["source_type"], "agent");
    assert_eq!(from_file["source_name"], "Claude Code");
    // The watch connection names the same actor: a message's event says who.
    let id = from_file["id"].as_i64().unwrap().to_string();
    configured.run(&["message", "add", &id, "hi"]).await.ok();
    let events = configured
        .run(&["events", &id, "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(events[1]["actor_id"], "claude-code");
}

async fn server_refusals_exit_1_and_usage_errors_exit_2(app: TestApp) {
    let cli = Cli::new(&app.base);
    let missing = cli.run(&["get", "424242"]).await.code(1);
    // The original's line: the server's sentence alone.
    assert_eq!(missing.stderr.trim(), "Error: task 424242 not found");
    assert!(missing.stdout.is_empty());
    let modern = cli.sh("ATS_OUTPUT=modern ats get 424242").await.code(1);
    assert_eq!(
        modern.stderr.trim(),
        "Error: task 424242 not found (NOT_FOUND, HTTP 404)"
    );
    let invalid = cli.run(&["create", "x", "--priority", "42"]).await.code(1);
    assert!(invalid.stderr.contains("priority"), "{invalid:?}");
    let bad_json = cli
        .run(&["create", "x", "--payload", "{nope"])
        .await
        .code(2);
    assert!(
        bad_json.stderr.contains("--payload is not valid JSON"),
        "{bad_json:?}"
    );
    let no_args = cli.run(&["claim"]).await.code(2);
    assert!(no_args.stderr.contains("Usage"), "{no_args:?}");
    let unknown = cli.run(&["frobnicate"]).await.code(2);
    assert!(!unknown.stderr.is_empty());
    let bad_url = cli.run(&["--url", "ftp://x", "health"]).await.code(2);
    assert!(bad_url.stderr.contains("http://"), "{bad_url:?}");
}

/// A port nobody listens on.
async fn an_unreachable_server_exits_3(app: TestApp) {
    let cli = Cli::new(&app.base);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let down = cli.run(&["--url", &url, "list"]).await.code(3);
    assert!(
        down.stderr
            .contains(&format!("cannot reach the ATS server at {url}")),
        "{down:?}"
    );
    let down = Cli::new(&url).run(&["watch"]).await.code(3);
    assert_contains(&down.stderr, "cannot reach the ATS server");
}

async fn health_help_and_version(app: TestApp) {
    let cli = Cli::new(&app.base);
    let health = cli.run(&["health", "-f", "json"]).await.ok().json();
    assert_eq!(health["status"], "ok");
    let table = cli.run(&["health"]).await.ok();
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(lines[0], "✓ Service is ok", "{table:?}");
    assert!(lines[1].starts_with("  Timestamp: "), "{table:?}");
    assert_eq!(lines.len(), 2, "{table:?}");
    let modern = cli.sh("ATS_OUTPUT=modern ats health").await.ok();
    assert!(modern.stdout.contains("Status:   ok"), "{modern:?}");
    let help = cli.run(&["--help"]).await.ok();
    for cmd in [
        "create",
        "list",
        "watch",
        "project",
        "auth",
        "api-key",
        "guardian",
        "member",
        "invitation",
        "permission",
        "claim-next",
        "subtask",
        "handoff",
        "events",
    ] {
        assert!(
            help.stdout.contains(cmd),
            "--help lacks {cmd}: {}",
            help.stdout
        );
    }
    let version = cli.run(&["--version"]).await.ok();
    // The skill document checks for v1.x; the original printed `ats-cli v1.3.0`.
    assert!(version.stdout.starts_with("ats-cli v1."), "{version:?}");
}

/// `script` gives a pseudo-terminal.
async fn colour_only_on_a_terminal_and_never_under_no_color(app: TestApp) {
    let cli = Cli::new(&app.base);
    let missing = cli.run(&["get", "424242"]).await.code(1);
    let on_tty = cli
        .sh("env -u NO_COLOR TERM=xterm script -qec 'ats get 424242' /dev/null")
        .await
        .code(1);
    assert!(on_tty.stdout.contains("\x1b[31mError:"), "{on_tty:?}");
    let no_color = cli
        .sh("NO_COLOR=1 TERM=xterm script -qec 'ats get 424242' /dev/null")
        .await
        .code(1);
    assert!(
        no_color.stdout.contains("Error: task 424242"),
        "{no_color:?}"
    );
    assert!(!no_color.stdout.contains('\x1b'), "{no_color:?}");
    assert!(
        !missing.stderr.contains('\x1b'),
        "not a terminal: {missing:?}"
    );
}

async fn verbose_shows_the_requests(app: TestApp) {
    let cli = Cli::new(&app.base);
    let verbose = cli.run(&["-v", "health"]).await.ok();
    assert!(
        verbose.stderr.contains("→ GET") && verbose.stderr.contains("/health"),
        "{verbose:?}"
    );
}

#[track_caller]
fn assert_contains(haystack: &str, needle: &str) {
    assert!(haystack.contains(needle), "{needle:?} not in {haystack:?}");
}
