//! Concurrent claims (SPEC §3): of 50 actors claiming one task at once,
//! exactly one wins; every other gets 409 naming the winner; the task holds
//! one attempt and its history one claim.

use futures_util::future::join_all;
use serde_json::json;

use crate::common::shapes::{events_of, id, read_task, types_of};
use crate::common::{Res, TestApp};

crate::on_both_backends!(fifty_concurrent_claims_have_one_winner);

async fn fifty_concurrent_claims_have_one_winner(app: TestApp) {
    let task = id(&app.client().create_task(json!({ "title": "race" })).await);
    let racers = (0..50).map(|i| {
        let client = app.actor("agent", &format!("racer-{i}"));
        tokio::spawn(async move { (i, client.act(task, "claim", json!({})).await) })
    });
    let results: Vec<(usize, Res)> = join_all(racers).await.into_iter().flatten().collect();
    let winners: Vec<&(usize, Res)> = results.iter().filter(|(_, r)| r.status == 200).collect();
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let winner = format!("racer-{}", winners[0].0);
    let mut conflicts = 0;
    for (_, res) in results.iter().filter(|(_, r)| r.status != 200) {
        let body = res.clone().expect_error(409);
        assert_eq!(body["code"], "CONFLICT");
        let msg = body["error"].as_str().unwrap();
        assert!(msg.contains(&format!("agent:{winner}")), "{msg}");
        conflicts += 1;
    }
    assert_eq!((winners.len(), conflicts), (1, 49));
    let stored = read_task(&app.client(), task).await;
    assert_eq!(stored["status"], "in_progress");
    assert_eq!(stored["assignee_id"], winner.as_str());
    assert_eq!(stored["attempts"], 1);
    let history = events_of(&app.client(), task).await;
    assert_eq!(types_of(&history), ["task.created", "task.claimed"]);
    assert_eq!(history[1]["actor_id"], winner.as_str());
    let claims = history
        .iter()
        .filter(|e| e["type"] == "task.claimed")
        .count();
    assert_eq!(claims, 1);
}
