//! The `ats` lifecycle commands against a live server: update, claim with a
//! lease, fail, reopen, reject, cancel, complete with outputs, delete —
//! checking stdout, stderr, exit codes and the server's state.

use serde_json::{Value, json};

use crate::common::TestApp;
use crate::common::cli::Cli;
use crate::common::shapes::read_task;

crate::on_both_backends!(
    update_changes_fields_and_nothing_to_update_is_a_usage_error,
    claim_takes_a_lease_and_a_rival_gets_the_servers_sentence,
    fail_reopen_reject_and_cancel_follow_the_rules,
    complete_takes_outputs_and_a_status_update_follows_the_rules,
    delete_in_json_and_table_form,
);

/// `agent:w1` with a task "Ship it"; returns the user and the task id.
async fn shipping(app: &TestApp) -> (Cli, String) {
    let worker = Cli::new(&app.base)
        .env("ATS_ACTOR_ID", "w1")
        .env("ATS_ACTOR_TYPE", "agent");
    let created = worker
        .run(&["create", "Ship it", "-f", "json"])
        .await
        .ok()
        .json();
    assert_eq!(created["status"], "pending");
    let id = created["id"].as_i64().unwrap().to_string();
    (worker, id)
}

async fn task(app: &TestApp, id: &str) -> Value {
    read_task(&app.client(), id.parse().unwrap()).await
}

async fn update_changes_fields_and_nothing_to_update_is_a_usage_error(app: TestApp) {
    let (worker, id) = shipping(&app).await;
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
}

async fn claim_takes_a_lease_and_a_rival_gets_the_servers_sentence(app: TestApp) {
    let (worker, id) = shipping(&app).await;
    let rival = Cli::new(&app.base).env("ATS_ACTOR_ID", "w2");
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
    assert!(refused.stderr.contains("possible actions"), "{refused:?}");
}

async fn fail_reopen_reject_and_cancel_follow_the_rules(app: TestApp) {
    let (worker, id) = shipping(&app).await;
    worker.run(&["claim", &id]).await.ok();
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
        failed
            .stdout
            .contains(&format!("✓ Task {id} marked as failed")),
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
    let outside = "This task is outside my capabilities";
    worker.run(&["reject", &id, "--reason", outside]).await.ok();
    assert_eq!(task(&app, &id).await["status"], "rejected");
    // Rejected is terminal: cancel is refused, reopen is not.
    let again = worker.run(&["cancel", &id]).await.code(1);
    assert!(again.stderr.contains("rejected"), "{again:?}");
    worker.run(&["reopen", &id]).await.ok();
    worker.run(&["cancel", &id]).await.ok();
    assert_eq!(task(&app, &id).await["status"], "cancelled");
}

/// Outputs given as an array; a status set by `update` goes through the rules.
async fn complete_takes_outputs_and_a_status_update_follows_the_rules(app: TestApp) {
    let (worker, other_id) = shipping(&app).await;
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
}

async fn delete_in_json_and_table_form(app: TestApp) {
    let (worker, id) = shipping(&app).await;
    let other = worker
        .run(&["create", "Second", "-f", "json"])
        .await
        .ok()
        .json();
    let other_id = other["id"].as_i64().unwrap().to_string();
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
