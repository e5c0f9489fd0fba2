//! The `ats` binary against a live server: the seed's "Common Patterns"
//! (create-and-wait, claim-and-process, escalate, jq pipelines), actor
//! identity in open mode, and exit codes — checking stdout, stderr and the
//! server's state. The other command families are in `cli_tasks.rs`,
//! `cli_access.rs`, `cli_config.rs` and `cli_watch.rs`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::TestApp;
use crate::common::cli::{Cli, require_jq};

crate::on_both_backends!(
    pattern_create_and_wait,
    pattern_claim_and_process,
    pattern_escalate,
    pattern_jq_pipelines,
    actor_flags_and_env,
    errors_and_exit_codes,
);

async fn task(app: &TestApp, id: &str) -> Value {
    app.client().get(&format!("/tasks/{id}")).await.expect(200)["task"].clone()
}

/// Pattern 1: create a task for a human, then poll until it is finished.
async fn pattern_create_and_wait(app: TestApp) {
    require_jq();
    let cli = Cli::new(&app.base)
        .env("ATS_ACTOR_TYPE", "agent")
        .env("ATS_ACTOR_ID", "claude-code");
    let human = app.actor("human", "ops-lead");
    // The human answers a moment after the task appears.
    let base = app.base.clone();
    let responder = tokio::spawn(async move {
        let http = reqwest::Client::new();
        for _ in 0..200 {
            let list: Value = http
                .get(format!("{base}/tasks?type=approval"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if let Some(id) = list["tasks"][0]["id"].as_i64() {
                return id;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the task never appeared");
    });
    let script = r#"
TASK_ID=$(ats create "Approve deployment" --type approval --channel ops -f json | jq -r '.id')
echo "Created task: $TASK_ID"
for _ in $(seq 1 300); do
  STATUS=$(ats get $TASK_ID -f json | jq -r '.status')
  if [ "$STATUS" = "completed" ] || [ "$STATUS" = "rejected" ]; then
    echo "Task finished with status: $STATUS"
    exit 0
  fi
  sleep 0.1
done
echo "timed out" >&2
exit 1
"#;
    let waiter = tokio::spawn({
        let script = script.to_owned();
        async move { cli.sh(&script).await }
    });
    let id = responder.await.unwrap();
    human
        .post(&format!("/tasks/{id}/claim"), json!({}))
        .await
        .expect(200);
    human
        .post(
            &format!("/tasks/{id}/complete"),
            json!({ "outputs": { "approved": true } }),
        )
        .await
        .expect(200);
    let run = waiter.await.unwrap().ok();
    assert_eq!(
        run.stdout,
        format!("Created task: {id}\nTask finished with status: completed\n")
    );
    // The confirmation went to stderr, so stdout stayed pure JSON for jq.
    assert!(
        run.stderr
            .contains(&format!("✓ Task created with ID: {id}")),
        "{run:?}"
    );
    let t = task(&app, &id.to_string()).await;
    assert_eq!(t["source_type"], "agent");
    assert_eq!(t["source_id"], "claude-code");
    assert_eq!(t["type"], "approval");
    assert_eq!(t["channel"], "ops");
}

/// Pattern 2: pick the first pending task of a type, claim it, complete it with results.
async fn pattern_claim_and_process(app: TestApp) {
    require_jq();
    let planner = app.actor("agent", "planner");
    planner
        .create_task(json!({ "title": "other", "type": "triage" }))
        .await;
    let review = planner
        .create_task(json!({ "title": "Review PR 7", "type": "code-review" }))
        .await;
    let cli = Cli::new(&app.base)
        .env("ATS_ACTOR_TYPE", "agent")
        .env("ATS_ACTOR_ID", "reviewer");
    let run = cli
        .sh(r#"
TASK_ID=$(ats list --type code-review -f json | jq -r '.[0].id')
ats claim $TASK_ID
ats complete $TASK_ID --outputs '{"review": "LGTM, approved"}'
"#)
        .await
        .ok();
    let id = review["id"].as_i64().unwrap();
    assert!(
        run.stdout.contains(&format!("✓ Task {id} claimed")),
        "{run:?}"
    );
    assert!(
        run.stdout.contains(&format!("✓ Task {id} completed")),
        "{run:?}"
    );
    assert!(run.stdout.contains("Status:      completed"), "{run:?}");
    let t = task(&app, &id.to_string()).await;
    assert_eq!(t["status"], "completed");
    assert_eq!(t["assignee_id"], "reviewer");
    assert_eq!(t["outputs"], json!([{ "review": "LGTM, approved" }]));
    assert_eq!(t["attempts"], 1);
}

/// Pattern 3: escalate to a human with a multi-line JSON payload.
async fn pattern_escalate(app: TestApp) {
    let cli = Cli::new(&app.base)
        .env("ATS_ACTOR_TYPE", "agent")
        .env("ATS_ACTOR_ID", "claude-code")
        .env("ATS_ACTOR_NAME", "Claude Code");
    let run = cli
        .sh(r#"
ats create "Human decision required: Delete production database?" \
  --type escalation \
  --channel urgent \
  --priority 10 \
  --description "The user requested to delete the production database. This requires human approval." \
  --payload '{
"context": "User command: DROP DATABASE production",
"risk_level": "critical",
"suggested_action": "confirm_with_user"
}'
"#)
        .await
        .ok();
    assert!(
        run.stdout.starts_with("✓ Task created with ID: "),
        "{run:?}"
    );
    assert!(run.stdout.contains("Priority:    10"), "{run:?}");
    let list = app.client().get("/tasks?type=escalation").await.expect(200);
    let t = &list["tasks"][0];
    assert_eq!(t["channel"], "urgent");
    assert_eq!(t["priority"], 10);
    assert_eq!(t["status"], "pending");
    assert_eq!(t["source_name"], "Claude Code");
    assert_eq!(t["payload"]["risk_level"], "critical");
    assert!(
        t["description"]
            .as_str()
            .unwrap()
            .contains("human approval")
    );
}

/// Pattern 4: the seed's jq pipelines over `list -f json`.
async fn pattern_jq_pipelines(app: TestApp) {
    require_jq();
    let c = app.actor("agent", "seeder");
    let mut support = Vec::new();
    for (title, priority, channel) in [
        ("a", 9, "support"),
        ("b", 3, "support"),
        ("c", 8, "ops"),
        ("d", 5, "ops"),
    ] {
        let t = c
            .create_task(json!({ "title": title, "priority": priority, "channel": channel }))
            .await;
        if channel == "support" {
            support.push(t["id"].as_i64().unwrap());
        }
    }
    let done = c.create_task(json!({ "title": "e" })).await;
    let id = done["id"].as_i64().unwrap();
    c.post(&format!("/tasks/{id}/claim"), json!({}))
        .await
        .expect(200);
    c.post(&format!("/tasks/{id}/complete"), json!({}))
        .await
        .expect(200);

    let cli = Cli::new(&app.base);
    let urgent = cli
        .sh("ats list -f json | jq -c '[.[] | select(.priority >= 8) | .title] | sort'")
        .await
        .ok();
    assert_eq!(urgent.stdout.trim(), r#"["a","c"]"#);
    let by_status = cli
        .sh("ats list --all -f json | jq -c 'group_by(.status) | map({status: .[0].status, count: length})'")
        .await
        .ok();
    assert_eq!(
        by_status.stdout.trim(),
        r#"[{"status":"completed","count":1},{"status":"pending","count":4}]"#
    );
    let ids = cli
        .sh("ats list --channel support -f json | jq -r '.[].id' | sort -n")
        .await
        .ok();
    let want: Vec<String> = support.iter().map(i64::to_string).collect();
    assert_eq!(ids.stdout.trim(), want.join("\n"));
    // `get -f json | jq '.status'` and `stats -f json`.
    let status = cli
        .sh(&format!("ats get {id} -f json | jq -r '.status'"))
        .await
        .ok();
    assert_eq!(status.stdout.trim(), "completed");
    let stats = cli.run(&["stats", "-f", "json"]).await.ok().json();
    assert_eq!(stats["total"], 5);
    assert_eq!(stats["by_status"]["pending"], 4);
    assert_eq!(stats["by_channel"]["support"], 2);
}

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

/// Exit codes: 1 refused by the server, 2 usage, 3 unreachable.
async fn errors_and_exit_codes(app: TestApp) {
    let cli = Cli::new(&app.base);
    let missing = cli.run(&["get", "424242"]).await.code(1);
    assert_eq!(
        missing.stderr.trim(),
        "Error: task 424242 not found (NOT_FOUND, HTTP 404)"
    );
    assert!(missing.stdout.is_empty());
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

    // Unreachable: a port nobody listens on.
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

    // health and --help, --version work.
    let health = cli.run(&["health", "-f", "json"]).await.ok().json();
    assert_eq!(health["status"], "ok");
    let table = cli.run(&["health"]).await.ok();
    assert!(table.stdout.contains("Status:   ok"), "{table:?}");
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
    assert!(version.stdout.starts_with("ats "), "{version:?}");
    // Colour only on a terminal, and never under NO_COLOR (`script` gives a pty).
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

    // -v shows the HTTP requests on stderr.
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
