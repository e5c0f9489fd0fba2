//! The CLI schedules tasks and gives them deadlines: `ats create …
//! --run-at <time>` / `--in 30m` send `run_at`, `--due-at` / `--due-in`
//! send `due_at`, and `ats get` shows them (table and JSON); a bad `--in`
//! is a usage error that sends nothing.

use crate::common::TestApp;
use crate::common::cli::Cli;
use crate::common::shapes::ts;

crate::on_both_backends!(the_cli_schedules_tasks);

async fn the_cli_schedules_tasks(app: TestApp) {
    let me = Cli::new(&app.base)
        .env("ATS_ACTOR_ID", "w1")
        .env("ATS_ACTOR_TYPE", "agent");
    let at = me
        .run(&[
            "create",
            "Christmas",
            "--run-at",
            "2026-12-24T09:00:00Z",
            "-f",
            "json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(at["run_at"], "2026-12-24T09:00:00.000Z");
    let before = chrono::Utc::now();
    let soon = me
        .run(&["create", "Soon", "--in", "30m", "-f", "json"])
        .await
        .ok()
        .json();
    let ahead = ts(&soon["run_at"]) - before;
    assert!(
        ahead >= chrono::Duration::minutes(29) && ahead <= chrono::Duration::minutes(31),
        "{soon}"
    );
    let id = soon["id"].as_i64().unwrap().to_string();
    let shown = me.run(&["get", &id]).await.ok();
    assert!(shown.stdout.contains("Run at:"), "{}", shown.stdout);
    let claim = me.run(&["claim", &id]).await.code(1);
    assert!(claim.stderr.contains("scheduled to run at"), "{claim:?}");

    let due = me
        .run(&[
            "create",
            "Approve",
            "--due-at",
            "2030-01-01T00:00:00Z",
            "-f",
            "json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(due["due_at"], "2030-01-01T00:00:00.000Z");
    assert_eq!(due["overdue"], false);
    let due_id = due["id"].as_i64().unwrap().to_string();
    let shown = me.run(&["get", &due_id]).await.ok();
    assert!(shown.stdout.contains("Due at:"), "{}", shown.stdout);
    let soon = me
        .run(&["create", "Review", "--due-in", "2h", "-f", "json"])
        .await
        .ok()
        .json();
    let ahead = ts(&soon["due_at"]) - before;
    assert!(ahead >= chrono::Duration::minutes(119), "{soon}");

    let bad = me.run(&["create", "Never", "--in", "soonish"]).await;
    assert_ne!(bad.code, 0, "{bad:?}");
    assert!(bad.stderr.contains("--in"), "{bad:?}");
    let both = me
        .run(&[
            "create",
            "Both",
            "--in",
            "1h",
            "--run-at",
            "2030-01-01T00:00:00Z",
        ])
        .await;
    assert_ne!(both.code, 0, "{both:?}");
    let listed = me.run(&["list", "--all", "-f", "json"]).await.ok().json();
    assert_eq!(listed.as_array().unwrap().len(), 4, "{listed}");
}
