//! Deliveries are durable and taken once: an `ats-server` SIGKILLed between
//! two attempts of a delivery delivers it after a restart, and two servers
//! on one database deliver each event to a webhook exactly once.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::process::ServerProcess as Server;
use crate::common::receiver::{Receiver, signed_by};
use crate::common::{Backend, Role, TestApp, TestDb};

crate::on_both_backends!(start = crate::outbound::durability::two_fast; two_servers_deliver_each_event_once);

const WAIT: Duration = Duration::from_secs(60);

pub async fn two_fast(backend: Backend) -> Option<TestApp> {
    TestApp::start_with(backend, |c| {
        c.webhook_allow_http = true;
        c.webhook_allow_private = true;
        c.webhook_retry_schedule = ats::config::RetrySchedule::parse("1s,1s").unwrap();
    })
    .await
}

async fn two_servers_deliver_each_event_once(app: TestApp) {
    let olga = app
        .user("olga")
        .in_org("acme", Role::Owner)
        .with_project("web")
        .await;
    let replica = app.replica().await;
    let other = olga.at(&replica.base);
    let rx = Receiver::start(&[200]).await;
    let made = olga
        .post(
            "/orgs/acme/webhooks",
            json!({ "url": rx.url("/once"), "events": ["task.created"] }),
        )
        .await
        .expect(201);
    let secret = made["secret"].as_str().unwrap().to_owned();
    const TASKS: usize = 30;
    let mut ids = BTreeSet::new();
    for i in 0..TASKS {
        let c = if i % 2 == 0 { &olga } else { &other };
        let t = c
            .post(
                "/orgs/acme/projects/web/tasks",
                json!({ "title": format!("t{i}") }),
            )
            .await
            .expect(201);
        ids.insert(t["task"]["id"].as_i64().unwrap());
    }
    rx.wait_for(TASKS, WAIT).await;
    // Give a duplicate every chance to show.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = rx.received();
    let delivered: Vec<i64> = got
        .iter()
        .map(|r| r.json()["task_id"].as_i64().unwrap())
        .collect();
    assert_eq!(got.len(), TASKS, "duplicates: {delivered:?}");
    assert_eq!(delivered.iter().copied().collect::<BTreeSet<_>>(), ids);
    let msg_ids: BTreeSet<&str> = got.iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(msg_ids.len(), TASKS);
    assert!(got.iter().all(|r| signed_by(&secret, r)));
}

async fn get(http: &reqwest::Client, base: &str, path: &str) -> Value {
    http.get(format!("{base}{path}"))
        .header("X-Actor-Type", "human")
        .header("X-Actor-ID", "olga")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn post(http: &reqwest::Client, base: &str, path: &str, body: Value) -> Value {
    let resp = http
        .post(format!("{base}{path}"))
        .header("X-Actor-Type", "human")
        .header("X-Actor-ID", "olga")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.unwrap()
}

/// The first delivery of webhook 1 once `done` holds for it.
async fn delivery_until(
    http: &reqwest::Client,
    base: &str,
    hook: i64,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let list = get(
            http,
            base,
            &format!("/orgs/acme/webhooks/{hook}/deliveries"),
        )
        .await;
        let first = list["deliveries"][0].clone();
        if done(&first) {
            return first;
        }
        assert!(Instant::now() < deadline, "never got there: {list}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn killed_mid_retry_still_delivers(backend: Backend) {
    let Some(db) = TestDb::create(backend).await else {
        eprintln!("SKIPPED ({backend:?}): no database");
        return;
    };
    let env = [
        ("ATS_AUTH", "open"),
        ("ATS_WEBHOOK_ALLOW_HTTP", "1"),
        ("ATS_WEBHOOK_ALLOW_PRIVATE", "1"),
        ("ATS_WEBHOOK_RETRY_SCHEDULE", "4s,4s"),
    ];
    let rx = Receiver::start(&[500, 200]).await;
    let http = reqwest::Client::new();
    let mut server = Server::start(&db.url, "webhook_crash_1", &env).await;
    post(&http, &server.base, "/orgs", json!({ "slug": "acme" })).await;
    post(
        &http,
        &server.base,
        "/orgs/acme/projects",
        json!({ "slug": "web" }),
    )
    .await;
    let made = post(
        &http,
        &server.base,
        "/orgs/acme/webhooks",
        json!({ "url": rx.url("/crash"), "events": ["task.created"] }),
    )
    .await;
    let hook = made["webhook"]["id"].as_i64().unwrap();
    let secret = made["secret"].as_str().unwrap().to_owned();
    post(
        &http,
        &server.base,
        "/orgs/acme/projects/web/tasks",
        json!({ "title": "survive" }),
    )
    .await;
    // The first attempt failed and is recorded; the retry is due in 4 s.
    delivery_until(&http, &server.base, hook, |d| {
        d["attempts"] == 1 && d["last_status"] == 500 && d["status"] == "pending"
    })
    .await;
    server.kill();
    assert_eq!(rx.received().len(), 1);
    let server = Server::start(&db.url, "webhook_crash_2", &env).await;
    let got = rx.wait_for(2, WAIT).await;
    assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"));
    assert!(signed_by(&secret, &got[1]));
    let d = delivery_until(&http, &server.base, hook, |d| d["status"] == "succeeded").await;
    assert_eq!(d["attempts"], 2);
    assert_eq!(d["last_status"], 200);
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkilled_mid_retry_still_delivers_sqlite() {
    killed_mid_retry_still_delivers(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkilled_mid_retry_still_delivers_postgres() {
    killed_mid_retry_still_delivers(Backend::Postgres).await;
}
