//! The seed's "Common Patterns" with the `ats` binary against a live server:
//! create-and-wait, claim-and-process, escalate, and jq pipelines — checking
//! stdout, stderr and the server's state.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::TestApp;
use crate::common::cli::{Cli, require_jq};
use crate::common::shapes::read_task;

crate::on_both_backends!(
    pattern_create_and_wait,
    pattern_claim_and_process,
    pattern_escalate,
    pattern_jq_pipelines,
);

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
    let t = read_task(&app.client(), id).await;
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
    assert!(run.stdout.contains("  Lease expires: "), "{run:?}");
    let t = read_task(&app.client(), id).await;
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
    // The original's one-row table of the new task follows.
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[1].starts_with("ID  Title "), "{run:?}");
    assert!(lines[1].contains("  Priority  "), "{run:?}");
    assert!(
        lines[3].contains("  10        escalation  urgent  "),
        "{run:?}"
    );
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
