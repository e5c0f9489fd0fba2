//! `ats claim-next --limit N` claims a batch through `POST /tasks/claim-batch`,
//! and `--wait MS` waits for work instead of failing at once.

use std::time::Duration;

use serde_json::json;

use crate::common::TestApp;
use crate::common::cli::Cli;
use crate::on_both_backends;

on_both_backends!(claim_next_takes_a_batch_and_waits);

async fn claim_next_takes_a_batch_and_waits(app: TestApp) {
    let seeder = app.actor("human", "seeder");
    for p in [3, 8, 5] {
        seeder
            .create_task(json!({ "title": format!("p{p}"), "channel": "batch", "priority": p }))
            .await;
    }
    let cli = Cli::new(&app.base)
        .env("ATS_ACTOR_TYPE", "agent")
        .env("ATS_ACTOR_ID", "batcher");
    let got = cli
        .run(&[
            "claim-next",
            "--channel",
            "batch",
            "--limit",
            "2",
            "-f",
            "json",
        ])
        .await
        .ok()
        .json();
    let prio: Vec<i64> = got
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["priority"].as_i64().unwrap())
        .collect();
    assert_eq!(prio, vec![8, 5], "the two most urgent, in order");
    assert!(
        got.as_array()
            .unwrap()
            .iter()
            .all(|t| t["assignee_id"] == "batcher")
    );

    let table = cli
        .run(&["claim-next", "--channel", "batch", "--limit", "5"])
        .await
        .ok();
    assert!(table.stdout.contains("p3"), "{table:?}");
    assert!(
        table.stderr.contains("Claimed 1 task(s)") || table.stdout.contains("Claimed 1 task(s)"),
        "{table:?}"
    );
    let empty = cli
        .run(&[
            "claim-next",
            "--channel",
            "batch",
            "--limit",
            "5",
            "-f",
            "json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(empty, json!([]));
    cli.run(&["claim-next", "--limit", "101"]).await.code(1);

    // --wait: the task created while the command waits is claimed.
    let (run, _) = tokio::join!(
        cli.run(&[
            "claim-next",
            "--channel",
            "late",
            "--wait",
            "15000",
            "-f",
            "json"
        ]),
        async {
            tokio::time::sleep(Duration::from_millis(700)).await;
            seeder
                .create_task(json!({ "title": "arrived", "channel": "late" }))
                .await
        }
    );
    assert_eq!(run.ok().json()["title"], "arrived");
}
