//! A replica plans a transition on the task row it wrote last (so a worker
//! completing what it claimed needs no read), and that row is only a guess:
//! when another replica changed the task since, the transition acts on the
//! task as it is — it refuses what the task as stored refuses, allows what
//! it allows, and writes the events once. Here the HTTP server is one
//! replica and a second service over the same database is the other.

use ats::actor::Actor;
use ats::auth::caller::Caller;
use ats::service::{Action, Ats, Scope};
use serde_json::json;

use crate::common::TestApp;
use crate::common::observed::observed;
use crate::common::shapes::{events_of, read_task, types_of, without_messages};

crate::on_both_backends!(a_remembered_row_changed_elsewhere_is_not_trusted);

/// `action` by agent `who` on the other replica.
async fn elsewhere(other: &Ats, who: &str, id: i64, action: Action) {
    let caller = Caller::Named(Actor::new("agent", who, None).unwrap());
    let viewer = other.viewer(&caller).await.unwrap();
    other
        .transition(&viewer, &Scope::Any, id, action)
        .await
        .unwrap_or_else(|e| panic!("{who} on the other replica: {e}"));
}

async fn a_remembered_row_changed_elsewhere_is_not_trusted(app: TestApp) {
    let creator = app.actor("agent", "creator");
    let (w1, w2) = (app.actor("agent", "w1"), app.actor("agent", "w2"));
    let (other, _) = observed(&app).await;

    // w1 claims here; elsewhere w1 releases it and w2 claims it.
    let id = creator.create_task(json!({ "title": "moved" })).await["id"]
        .as_i64()
        .unwrap();
    w1.act(id, "claim", json!({})).await.expect(200);
    elsewhere(&other, "w1", id, Action::Release { reason: None }).await;
    elsewhere(&other, "w2", id, Action::Claim { lease_ms: None }).await;
    // Here, w1's complete is refused as the task stands (held by w2)…
    let refused = w1.act(id, "complete", json!({})).await.expect_error(409);
    assert!(
        refused["error"].as_str().unwrap().contains("agent:w2"),
        "{refused}"
    );
    // …and w2's, which this replica's memory would refuse, is allowed.
    let done = w2.act(id, "complete", json!({})).await.expect(200)["task"].clone();
    let stored = without_messages(read_task(&creator, id).await);
    assert_eq!(done, stored);
    assert_eq!(stored["status"], "completed");
    assert_eq!(stored["assignee_id"], "w2");
    assert_eq!(stored["attempts"], 2);
    let history = events_of(&creator, id).await;
    assert_eq!(
        types_of(&history),
        [
            "task.created",
            "task.claimed",
            "task.released",
            "task.claimed",
            "task.completed"
        ]
    );
    assert_eq!(history.last().unwrap()["data"]["task"], stored);

    // Cancelled elsewhere: completing here is refused, nothing written.
    let id = creator.create_task(json!({ "title": "cancelled" })).await["id"]
        .as_i64()
        .unwrap();
    w1.act(id, "claim", json!({})).await.expect(200);
    elsewhere(&other, "creator", id, Action::Cancel { reason: None }).await;
    let refused = w1.act(id, "complete", json!({})).await.expect_error(409);
    assert!(
        refused["error"].as_str().unwrap().contains("cancelled"),
        "{refused}"
    );
    let stored = read_task(&creator, id).await;
    assert_eq!(stored["status"], "cancelled");
    assert_eq!(
        types_of(&events_of(&creator, id).await),
        ["task.created", "task.claimed", "task.cancelled"]
    );

    // Renewed elsewhere: the lease renewed here starts from the task as it is.
    let id = creator.create_task(json!({ "title": "renewed" })).await["id"]
        .as_i64()
        .unwrap();
    w1.act(id, "claim", json!({ "lease_duration": 60000 }))
        .await
        .expect(200);
    elsewhere(
        &other,
        "w1",
        id,
        Action::Claim {
            lease_ms: Some(600_000),
        },
    )
    .await;
    let renewed = w1
        .act(id, "claim", json!({ "lease_duration": 120000 }))
        .await
        .expect(200)["task"]
        .clone();
    assert_eq!(renewed, without_messages(read_task(&creator, id).await));
    assert_eq!(
        types_of(&events_of(&creator, id).await),
        [
            "task.created",
            "task.claimed",
            "task.lease_renewed",
            "task.lease_renewed"
        ]
    );
}
