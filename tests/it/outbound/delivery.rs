//! Webhook deliveries against a real HTTP receiver: Standard Webhooks
//! headers and signatures (checked with an HMAC of the test's own), the
//! body `/ws` sends, retries with a stable `webhook-id`, the delivery log,
//! redeliveries, redirects not followed, the address rule at delivery
//! time, a slow receiver that holds up only its own webhook, and a webhook
//! disabled after failing too long (with its `webhook.disabled` notice).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::receiver::{Receiver, signed_by};
use crate::common::sql::Sql;
use crate::common::{Backend, Client, Role, TestApp};

crate::on_both_backends!(start = crate::outbound::delivery::quick; retried_deliveries_keep_their_id_and_signature);
crate::on_both_backends!(start = crate::outbound::delivery::quick; redirects_are_not_followed_and_the_delivery_fails);
crate::on_both_backends!(start = crate::outbound::delivery::quick; a_slow_receiver_holds_up_only_its_own_webhook);
crate::on_both_backends!(start = crate::outbound::delivery::quick_disabling; a_webhook_failing_too_long_is_disabled_with_a_notice);
crate::on_both_backends!(start = crate::outbound::delivery::strict_addresses; internal_addresses_are_refused_at_delivery);
crate::on_both_backends!(start = crate::outbound::delivery::quick; a_paused_webhook_is_sent_nothing_of_its_pause);

/// How long anything expected may take on a loaded machine.
const WAIT: Duration = Duration::from_secs(60);

/// Loopback receivers allowed, retries a second apart.
pub async fn quick(backend: Backend) -> Option<TestApp> {
    TestApp::start_with(backend, |c| {
        c.webhook_allow_http = true;
        c.webhook_allow_private = true;
        c.webhook_retry_schedule = ats::config::RetrySchedule::parse("1s,1s,1s").unwrap();
    })
    .await
}

/// The same, a webhook disabled after a second of failures.
pub async fn quick_disabling(backend: Backend) -> Option<TestApp> {
    TestApp::start_with(backend, |c| {
        c.webhook_allow_http = true;
        c.webhook_allow_private = true;
        c.webhook_retry_schedule = ats::config::RetrySchedule::parse("1s,1s,1s,1s,1s").unwrap();
        c.webhook_disable_after = ats::config::Retention::parse("1s").unwrap();
    })
    .await
}

/// `http://` allowed, internal addresses not.
pub async fn strict_addresses(backend: Backend) -> Option<TestApp> {
    TestApp::start_with(backend, |c| {
        c.webhook_allow_http = true;
        c.webhook_retry_schedule = ats::config::RetrySchedule::parse("1s").unwrap();
    })
    .await
}

/// Creates a webhook of acme; returns its id and secret.
async fn webhook(c: &Client, url: &str, events: Value) -> (i64, String) {
    let made = c
        .post(
            "/orgs/acme/webhooks",
            json!({ "url": url, "events": events }),
        )
        .await
        .expect(201);
    (
        made["webhook"]["id"].as_i64().unwrap(),
        made["secret"].as_str().unwrap().to_owned(),
    )
}

/// Creates a task in acme/web; returns its id.
async fn task(c: &Client, title: &str) -> i64 {
    c.post("/orgs/acme/projects/web/tasks", json!({ "title": title }))
        .await
        .expect(201)["task"]["id"]
        .as_i64()
        .unwrap()
}

/// Waits until the webhook's deliveries satisfy `done`; returns them.
async fn deliveries_until(c: &Client, hook: i64, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let list = c
            .get(&format!("/orgs/acme/webhooks/{hook}/deliveries"))
            .await
            .expect(200)["deliveries"]
            .as_array()
            .unwrap()
            .clone();
        if done(&list) {
            return list;
        }
        assert!(
            Instant::now() < deadline,
            "deliveries never got there: {list:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn retried_deliveries_keep_their_id_and_signature(app: TestApp) {
    let olga = app
        .user("olga")
        .in_org("acme", Role::Owner)
        .with_project("web")
        .await;
    let rx = Receiver::start(&[500, 500, 200]).await;
    let (hook, secret) = webhook(&olga, &rx.url("/hook"), json!(["task.created"])).await;
    let id = task(&olga, "ship it").await;
    // Not asked for: never delivered.
    olga.post(
        &format!("/orgs/acme/projects/web/tasks/{id}/claim"),
        json!({}),
    )
    .await
    .expect(200);
    let got = rx.wait_for(3, WAIT).await;
    let first = &got[0];
    assert!(first.header("webhook-id").starts_with("msg_"), "{first:?}");
    for r in &got[..3] {
        assert_eq!(r.path, "/hook");
        assert_eq!(r.header("webhook-id"), first.header("webhook-id"));
        assert_eq!(r.header("content-type"), "application/json");
        let ts: i64 = r.header("webhook-timestamp").parse().expect("Unix seconds");
        assert!((chrono::Utc::now().timestamp() - ts).abs() < 300, "{ts}");
        assert!(signed_by(&secret, r), "bad signature: {r:?}");
        assert!(!signed_by(
            "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            r
        ));
    }
    // The body is the event object /ws sends.
    let events = olga
        .get(&format!("/orgs/acme/projects/web/tasks/{id}/events"))
        .await
        .expect(200)["events"]
        .clone();
    let created = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "task.created")
        .unwrap()
        .clone();
    assert_eq!(first.json(), created);
    assert_eq!(first.json()["data"]["task"]["id"], id);
    assert_eq!(
        first.header("webhook-id"),
        format!("msg_{hook}_{}", created["id"])
    );
    let list = deliveries_until(&olga, hook, |d| {
        d.first().is_some_and(|d| d["status"] == "succeeded")
    })
    .await;
    assert_eq!(list.len(), 1, "{list:#?}");
    let d = &list[0];
    assert_eq!(d["attempts"], 3);
    assert_eq!(d["last_status"], 200);
    assert_eq!(d["event_id"], created["id"]);
    assert_eq!(d["event_type"], "task.created");
    assert_eq!(d["message_id"], first.header("webhook-id"));
    assert_eq!(d["next_attempt_at"], Value::Null);
    let by_status = olga
        .get(&format!(
            "/orgs/acme/webhooks/{hook}/deliveries?status=failed"
        ))
        .await
        .expect(200);
    assert_eq!(by_status["deliveries"], json!([]));

    // A redelivery: the same message again, one more attempt.
    let again = olga
        .post(
            &format!(
                "/orgs/acme/webhooks/{hook}/deliveries/{}/redeliver",
                d["id"]
            ),
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(again["delivery"]["status"], "pending");
    let got = rx.wait_for(4, WAIT).await;
    assert_eq!(got[3].header("webhook-id"), first.header("webhook-id"));
    assert!(signed_by(&secret, &got[3]));
    deliveries_until(&olga, hook, |d| {
        d[0]["status"] == "succeeded" && d[0]["attempts"] == 4
    })
    .await;

    // After a rotation, both secrets sign (for 24 h).
    let new_secret = olga
        .post(
            &format!("/orgs/acme/webhooks/{hook}/rotate-secret"),
            json!({}),
        )
        .await
        .expect(200)["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    task(&olga, "after rotation").await;
    let got = rx.wait_for(5, WAIT).await;
    assert!(signed_by(&new_secret, &got[4]), "{:?}", got[4]);
    assert!(signed_by(&secret, &got[4]), "{:?}", got[4]);
    assert_eq!(got[4].header("webhook-signature").split(' ').count(), 2);
    // Nothing else came (the claim was not asked for).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(rx.received().len(), 5);
}

async fn redirects_are_not_followed_and_the_delivery_fails(app: TestApp) {
    let olga = app
        .user("olga")
        .in_org("acme", Role::Owner)
        .with_project("web")
        .await;
    let rx = Receiver::start(&[302]).await;
    let (hook, _) = webhook(&olga, &rx.url("/hook"), json!(["task.created"])).await;
    task(&olga, "moved").await;
    // Four attempts (the first and three retries), then failed.
    let list = deliveries_until(&olga, hook, |d| {
        d.first().is_some_and(|d| d["status"] == "failed")
    })
    .await;
    assert_eq!(list[0]["attempts"], 4);
    assert_eq!(list[0]["last_status"], 302);
    assert!(
        list[0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("redirect")),
        "{list:#?}"
    );
    let got = rx.received();
    assert_eq!(got.len(), 4, "{got:#?}");
    assert!(
        got.iter().all(|r| r.path == "/hook"),
        "a redirect was followed: {got:#?}"
    );
    let failed = olga
        .get(&format!(
            "/orgs/acme/webhooks/{hook}/deliveries?status=failed"
        ))
        .await
        .expect(200);
    assert_eq!(failed["deliveries"].as_array().unwrap().len(), 1);
}

async fn a_slow_receiver_holds_up_only_its_own_webhook(app: TestApp) {
    let olga = app
        .user("olga")
        .in_org("acme", Role::Owner)
        .with_project("web")
        .await;
    let slow = Receiver::with_delay(&[200], Duration::from_secs(8)).await;
    let fast = Receiver::start(&[200]).await;
    webhook(&olga, &slow.url("/slow"), json!(["task.created"])).await;
    webhook(&olga, &fast.url("/fast"), json!(["task.created"])).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(task(&olga, &format!("t{i}")).await);
    }
    let got = fast.wait_for(3, WAIT).await;
    // The slow receiver is still on its first delivery (eight seconds each).
    assert!(slow.received().len() <= 1, "{:?}", slow.received().len());
    // In event order.
    let delivered: Vec<i64> = got
        .iter()
        .map(|r| r.json()["task_id"].as_i64().unwrap())
        .collect();
    assert_eq!(delivered, ids);
}

async fn a_webhook_failing_too_long_is_disabled_with_a_notice(app: TestApp) {
    let olga = app
        .user("olga")
        .in_org("acme", Role::Owner)
        .with_project("web")
        .await;
    let down = Receiver::start(&[500]).await;
    let watcher = Receiver::start(&[200]).await;
    let (hook, _) = webhook(&olga, &down.url("/down"), json!(["task.created"])).await;
    let (_, watcher_secret) = webhook(
        &olga,
        &watcher.url("/audit"),
        json!(["audit.webhook.disabled"]),
    )
    .await;
    task(&olga, "doomed").await;
    let deadline = Instant::now() + WAIT;
    let disabled = loop {
        let w = olga
            .get(&format!("/orgs/acme/webhooks/{hook}"))
            .await
            .expect(200)["webhook"]
            .clone();
        if w["active"] == false {
            break w;
        }
        assert!(Instant::now() < deadline, "never disabled: {w}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(disabled["disabled_at"].is_string());
    let audit = olga
        .get("/orgs/acme/audit?action=webhook.disabled")
        .await
        .expect(200);
    let entries = audit["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(entries[0]["actor_type"], "system");
    assert_eq!(entries[0]["target_type"], "webhook");
    assert_eq!(entries[0]["target_id"], hook.to_string());
    // The notice reaches a webhook that asks for it, signed.
    let got = watcher.wait_for(1, WAIT).await;
    assert_eq!(got[0].json()["type"], "audit.webhook.disabled");
    assert_eq!(got[0].json()["id"], entries[0]["id"]);
    assert!(signed_by(&watcher_secret, &got[0]));
    // A disabled webhook gets nothing new.
    let before = down.received().len();
    task(&olga, "ignored").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(down.received().len(), before);
    // Enabled again, it delivers what it still had pending.
    let pending = olga
        .get(&format!(
            "/orgs/acme/webhooks/{hook}/deliveries?status=pending"
        ))
        .await
        .expect(200)["deliveries"]
        .as_array()
        .unwrap()
        .len();
    olga.patch(
        &format!("/orgs/acme/webhooks/{hook}"),
        json!({ "active": true }),
    )
    .await
    .expect(200);
    if pending > 0 {
        down.wait_for(before + 1, WAIT).await;
    }
}

async fn internal_addresses_are_refused_at_delivery(app: TestApp) {
    let olga = app
        .user("olga")
        .in_org("acme", Role::Owner)
        .with_project("web")
        .await;
    let rx = Receiver::start(&[200]).await;
    let port = rx.base.rsplit(':').next().unwrap().to_owned();
    // Saved while it pointed elsewhere; now its name resolves to loopback.
    let (by_name, _) = webhook(&olga, "http://93.184.216.34:9/x", json!(["task.created"])).await;
    let (by_ip, _) = webhook(&olga, "http://93.184.216.34:9/y", json!(["task.created"])).await;
    let sql = Sql::open(&app).await;
    sql.exec(
        "UPDATE webhooks SET url = $1 WHERE id = $2",
        vec![format!("http://localhost:{port}/x").into(), by_name.into()],
    )
    .await;
    sql.exec(
        "UPDATE webhooks SET url = $1 WHERE id = $2",
        vec![format!("http://127.0.0.1:{port}/y").into(), by_ip.into()],
    )
    .await;
    task(&olga, "probe").await;
    for hook in [by_name, by_ip] {
        let list = deliveries_until(&olga, hook, |d| {
            d.first().is_some_and(|d| d["status"] == "failed")
        })
        .await;
        let error = list[0]["last_error"].as_str().unwrap_or_default();
        assert!(error.contains("may not reach"), "{list:#?}");
        assert_eq!(list[0]["last_status"], Value::Null);
    }
    assert!(rx.received().is_empty(), "{:?}", rx.received());
}

/// With its only webhook paused, the server queues nothing (the dispatcher
/// reads no events while no webhook is active); enabled again, the webhook
/// gets what happens from then on, not what happened during the pause.
async fn a_paused_webhook_is_sent_nothing_of_its_pause(app: TestApp) {
    let olga = app
        .user("olga")
        .in_org("acme", Role::Owner)
        .with_project("web")
        .await;
    let receiver = Receiver::start(&[200]).await;
    let (hook, _) = webhook(&olga, &receiver.url("/hook"), json!(["task.created"])).await;
    let path = format!("/orgs/acme/webhooks/{hook}");
    task(&olga, "before").await;
    receiver.wait_for(1, WAIT).await;
    olga.patch(&path, json!({ "active": false }))
        .await
        .expect(200);
    for n in 0..3 {
        task(&olga, &format!("paused {n}")).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    olga.patch(&path, json!({ "active": true }))
        .await
        .expect(200);
    task(&olga, "after").await;
    let got = receiver.wait_for(2, WAIT).await;
    // Time for anything of the pause that would wrongly follow.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let titles: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| {
            r.json()["data"]["task"]["title"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    assert_eq!(titles, ["before", "after"], "{got:?}");
    let listed = deliveries_until(&olga, hook, |d| d.len() == 2).await;
    assert_eq!(listed.len(), 2);
}
