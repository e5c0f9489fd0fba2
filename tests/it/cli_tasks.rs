//! The `ats` task command families against a live server: the lifecycle
//! commands, every `list` filter, the thread/history/workflow commands, and
//! projects and organizations.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::TestApp;
use crate::common::cli::Cli;

crate::on_both_backends!(
    lifecycle_commands,
    list_filters,
    thread_history_and_workflow,
    projects_and_orgs,
);

async fn task(app: &TestApp, id: &str) -> Value {
    app.client().get(&format!("/tasks/{id}")).await.expect(200)["task"].clone()
}

/// update, claim with a lease, fail, reopen, reject, cancel, delete.
async fn lifecycle_commands(app: TestApp) {
    let worker = Cli::new(&app.base)
        .env("ATS_ACTOR_ID", "w1")
        .env("ATS_ACTOR_TYPE", "agent");
    let rival = Cli::new(&app.base).env("ATS_ACTOR_ID", "w2");
    let created = worker
        .run(&["create", "Ship it", "-f", "json"])
        .await
        .ok()
        .json();
    let id = created["id"].as_i64().unwrap().to_string();
    assert_eq!(created["status"], "pending");

    let updated = worker
        .run(&[
            "update",
            &id,
            "--priority",
            "9",
            "--title",
            "Ship it now",
            "--description",
            "today",
            "-f",
            "json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(updated["priority"], 9);
    assert_eq!(updated["title"], "Ship it now");
    let nothing = worker.run(&["update", &id]).await.code(2);
    assert!(nothing.stderr.contains("nothing to update"), "{nothing:?}");

    let claimed = worker
        .run(&["claim", &id, "--lease", "120000", "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(claimed["status"], "in_progress");
    let lease =
        chrono::DateTime::parse_from_rfc3339(claimed["lease_expires"].as_str().unwrap()).unwrap();
    let left = lease
        .signed_duration_since(chrono::Utc::now())
        .num_seconds();
    assert!((100..=121).contains(&left), "lease of 120 s, {left} s left");

    // Someone else's claim is refused with the server's sentence on stderr.
    let refused = rival.run(&["claim", &id]).await.code(1);
    assert!(refused.stdout.is_empty(), "{refused:?}");
    assert!(
        refused.stderr.contains("Error: cannot claim task"),
        "{refused:?}"
    );
    assert!(refused.stderr.contains("w1"), "{refused:?}");
    assert!(refused.stderr.contains("CONFLICT"), "{refused:?}");

    let failed = worker
        .run(&[
            "fail",
            &id,
            "--reason",
            "Unable to connect to external service",
        ])
        .await
        .ok();
    assert!(
        failed.stdout.contains(&format!("✓ Task {id} failed")),
        "{failed:?}"
    );
    let t = task(&app, &id).await;
    assert_eq!(t["status"], "failed");
    assert_eq!(t["reason"], "Unable to connect to external service");

    worker
        .run(&["reopen", &id, "--reason", "Need to revisit this task"])
        .await
        .ok();
    let t = task(&app, &id).await;
    assert_eq!(t["status"], "pending");
    assert_eq!(t["reason"], "Need to revisit this task");
    assert!(t["assignee_id"].is_null());

    worker
        .run(&[
            "reject",
            &id,
            "--reason",
            "This task is outside my capabilities",
        ])
        .await
        .ok();
    assert_eq!(task(&app, &id).await["status"], "rejected");
    // Rejected is terminal: cancel is refused, reopen is not.
    let again = worker.run(&["cancel", &id]).await.code(1);
    assert!(again.stderr.contains("rejected"), "{again:?}");
    worker.run(&["reopen", &id]).await.ok();
    worker.run(&["cancel", &id]).await.ok();
    assert_eq!(task(&app, &id).await["status"], "cancelled");

    // complete with outputs given as an array; status via update goes through the rules.
    let other = worker
        .run(&["create", "Second", "-f", "json"])
        .await
        .ok()
        .json();
    let other_id = other["id"].as_i64().unwrap().to_string();
    let via_update = worker
        .run(&["update", &other_id, "--status", "completed"])
        .await
        .code(1);
    assert!(via_update.stderr.contains("pending"), "{via_update:?}");
    worker.run(&["claim", &other_id]).await.ok();
    let done = worker
        .run(&[
            "complete",
            &other_id,
            "--outputs",
            r#"[{"a":1},{"b":2}]"#,
            "-f",
            "json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(done["outputs"], json!([{ "a": 1 }, { "b": 2 }]));

    let deleted = worker.run(&["delete", &id, "-f", "json"]).await.ok().json();
    assert_eq!(
        deleted,
        json!({ "deleted": true, "id": id.parse::<i64>().unwrap() })
    );
    app.client()
        .get(&format!("/tasks/{id}"))
        .await
        .expect_error(404);
    let gone = worker.run(&["get", &id]).await.code(1);
    assert!(gone.stderr.contains("not found"), "{gone:?}");
    let table = worker.run(&["delete", &other_id]).await.ok();
    assert_eq!(table.stdout.trim(), format!("✓ Task {other_id} deleted"));
}

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

/// Every `list` filter, order and page flag.
async fn list_filters(app: TestApp) {
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
    let cli = Cli::new(&app.base);

    // Default: pending only, newest first.
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
    // ATS_CHANNEL is the default channel; --channel wins over it.
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

    // Table form: a header, one row per task, and the count.
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
    // A narrow terminal gets a table that fits.
    let narrow = Cli::new(&app.base)
        .env("COLUMNS", "60")
        .run(&["list", "--all"])
        .await
        .ok();
    for line in narrow.stdout.lines() {
        assert!(line.chars().count() <= 60, "line wider than 60: {line:?}");
    }

    // Bad filter values are usage errors (exit 2) before any request.
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

/// Messages, task events, subtasks, handoffs, claim-next and bulk creation.
async fn thread_history_and_workflow(app: TestApp) {
    let cli = Cli::new(&app.base)
        .env("ATS_ACTOR_TYPE", "agent")
        .env("ATS_ACTOR_ID", "bot");
    let parent = cli
        .run(&["create", "Parent", "-f", "json"])
        .await
        .ok()
        .json();
    let pid = parent["id"].as_i64().unwrap().to_string();

    // Messages: text and data parts.
    let added = cli
        .run(&["message", "add", &pid, "I've started working on this"])
        .await
        .ok();
    assert!(added.stdout.starts_with("✓ Message "), "{added:?}");
    let data = cli
        .run(&[
            "message",
            "add",
            &pid,
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
        .run(&["message", "add", &pid, "not json", "--type", "data"])
        .await
        .code(2);
    assert!(bad.stderr.contains("not valid JSON"), "{bad:?}");
    let msgs = cli
        .run(&["message", "list", &pid, "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(msgs.as_array().unwrap().len(), 2);
    assert_eq!(
        msgs[0]["parts"][0]["content"],
        "I've started working on this"
    );
    let table = cli.run(&["message", "list", &pid]).await.ok();
    assert!(
        table
            .stdout
            .contains("agent:bot: I've started working on this"),
        "{table:?}"
    );
    let got = cli.run(&["get", &pid]).await.ok();
    assert!(got.stdout.contains("Messages (2):"), "{got:?}");
    let got = cli.run(&["get", &pid, "-f", "json"]).await.ok().json();
    assert_eq!(got["messages"].as_array().unwrap().len(), 2);

    // Subtasks.
    let sub = cli
        .run(&[
            "subtask",
            "add",
            &pid,
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
        .run(&["subtask", "list", &pid, "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(subs.as_array().unwrap().len(), 1);
    let by_flag = cli
        .run(&["create", "Child 2", "--parent", &pid, "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(by_flag["parent_id"].to_string(), pid);
    let children = cli
        .run(&["list", "--parent", &pid, "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(children.as_array().unwrap().len(), 2);

    // Handoffs.
    cli.run(&[
        "handoff",
        "add",
        &pid,
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
        .run(&["handoff", "list", &pid, "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(hs[0]["summary"], "Halfway there");
    assert_eq!(hs[0]["next_steps"], json!(["write tests", "ship"]));
    let ht = cli.run(&["handoff", "list", &pid]).await.ok();
    assert!(
        ht.stdout.contains("Halfway there") && ht.stdout.contains("  - ship"),
        "{ht:?}"
    );

    // Dependencies block claims.
    let blocked = cli
        .run(&["create", "Blocked", "--depends-on", &pid, "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(blocked["depends_on"].to_string(), format!("[{pid}]"));

    // Task events, in order.
    let events = cli.run(&["events", &pid, "-f", "json"]).await.ok().json();
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
            "events", &pid, "--after", &first, "--limit", "1", "-f", "json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(later.as_array().unwrap().len(), 1);
    assert_eq!(later[0]["id"], events[1]["id"]);
    let et = cli.run(&["events", &pid]).await.ok();
    assert!(
        et.stdout.contains("task.created") && et.stdout.contains("agent:bot"),
        "{et:?}"
    );

    // claim-next: the most urgent claimable task of the channel.
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
    assert!(none.stderr.contains("NOT_FOUND"), "{none:?}");
    let none = cli
        .run(&["claim-next", "--channel", "queue", "--min-priority", "5"])
        .await
        .code(1);
    assert!(none.stdout.is_empty());

    // Bulk creation from a file and from stdin.
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

/// Projects and organizations, and the scoped task routes they select.
async fn projects_and_orgs(app: TestApp) {
    let cli = Cli::new(&app.base).env("ATS_ACTOR_ID", "alice");
    cli.run(&[
        "project",
        "create",
        "acme/web",
        "--name",
        "Website",
        "--description",
        "the site",
    ])
    .await
    .ok();
    let p = app
        .actor("human", "alice")
        .get("/orgs/acme/projects/web")
        .await
        .expect(200);
    assert_eq!(p["project"]["name"], "Website");
    assert_eq!(p["project"]["description"], "the site");
    // The org now exists: a second project reuses it.
    let second = cli
        .run(&["project", "create", "acme/api", "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(second["slug"], "api");
    assert_eq!(second["org"], "acme");

    // Scoped task routes with --org/--project.
    let scoped = cli
        .run(&[
            "--org",
            "acme",
            "--project",
            "web",
            "create",
            "Fix login",
            "-f",
            "json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(
        (scoped["org"].as_str(), scoped["project"].as_str()),
        (Some("acme"), Some("web"))
    );
    let id = scoped["id"].as_i64().unwrap().to_string();
    let web = Cli::new(&app.base)
        .env("ATS_ACTOR_ID", "alice")
        .env("ATS_ORG", "acme")
        .env("ATS_PROJECT", "web");
    assert_eq!(
        web.run(&["list", "-f", "json"])
            .await
            .ok()
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    web.run(&["get", &id]).await.ok();
    // In another project the task is not found.
    let api = Cli::new(&app.base)
        .env("ATS_ACTOR_ID", "alice")
        .env("ATS_ORG", "acme")
        .env("ATS_PROJECT", "api");
    api.run(&["get", &id]).await.code(1);
    assert!(
        api.run(&["list", "-f", "json"])
            .await
            .ok()
            .json()
            .as_array()
            .unwrap()
            .is_empty()
    );
    let stats = web.run(&["stats", "-f", "json"]).await.ok().json();
    assert_eq!(stats["total"], 1);

    // project list: every org's projects, with counts, the current one marked.
    let listed = web
        .run(&["project", "list", "-f", "json"])
        .await
        .ok()
        .json();
    let web_row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["org"] == "acme" && p["slug"] == "web")
        .expect("acme/web listed");
    assert_eq!(web_row["pending_count"], 1);
    assert_eq!(web_row["total_count"], 1);
    let table = web.run(&["project", "list"]).await.ok();
    let marked: Vec<&str> = table
        .stdout
        .lines()
        .filter(|l| l.trim_start().starts_with('*'))
        .collect();
    assert_eq!(marked.len(), 1, "{table:?}");
    assert!(
        marked[0].contains("acme/web") && marked[0].contains("Website"),
        "{table:?}"
    );

    // Orgs.
    let orgs = cli.run(&["org", "list", "-f", "json"]).await.ok().json();
    let acme = orgs
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["slug"] == "acme")
        .unwrap();
    assert_eq!(acme["role"], "owner");
    cli.run(&["org", "create", "globex", "--name", "Globex"])
        .await
        .ok();
    let shown = cli
        .run(&["org", "show", "globex", "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(shown["name"], "Globex");
    let renamed = cli
        .run(&[
            "org",
            "update",
            "globex",
            "--name",
            "Globex Corp",
            "-f",
            "json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(renamed["name"], "Globex Corp");

    // Deletes need --yes; then they happen.
    let unconfirmed = cli.run(&["project", "delete", "acme/api"]).await.code(2);
    assert!(unconfirmed.stderr.contains("--yes"), "{unconfirmed:?}");
    app.actor("human", "alice")
        .get("/orgs/acme/projects/api")
        .await
        .expect(200);
    cli.run(&["project", "delete", "acme/api", "--yes"])
        .await
        .ok();
    app.actor("human", "alice")
        .get("/orgs/acme/projects/api")
        .await
        .expect_error(404);
    cli.run(&["org", "delete", "globex"]).await.code(2);
    // Only the owner may delete: someone else cannot even see it.
    let bob = Cli::new(&app.base).env("ATS_ACTOR_ID", "bob");
    let refused = bob.run(&["org", "delete", "globex", "--yes"]).await.code(1);
    assert!(refused.stderr.contains("NOT_FOUND"), "{refused:?}");
    cli.run(&["org", "delete", "globex", "--yes"]).await.ok();
    app.actor("human", "alice")
        .get("/orgs/globex")
        .await
        .expect_error(404);
    // The default project cannot be deleted: the server's sentence, exit 1.
    let default = cli
        .run(&["project", "delete", "default/main", "--yes"])
        .await
        .code(1);
    assert!(default.stderr.starts_with("Error: "), "{default:?}");
}
