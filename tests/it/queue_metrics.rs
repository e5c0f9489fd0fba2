//! Queue metrics on `/metrics` (issue 16): pending depth and oldest pending
//! age per org, project and channel, task events per series and type, event
//! delivery lag and reaper lag, with the label sets capped by
//! `ATS_METRICS_MAX_SERIES`.

use std::time::Duration;

use serde_json::json;

use crate::common::shapes::id;
use crate::common::{Backend, TestApp};

crate::on_both_backends!(start = super::start; the_queue_is_measured_per_channel);

/// Three named series at most; the reaper never runs, so an expired lease
/// waits for it.
async fn start(backend: Backend) -> Option<TestApp> {
    TestApp::start_with(backend, |c| {
        c.reaper_interval_ms = 3_600_000;
        c.metrics_max_series = 3;
    })
    .await
}

/// The value of the sample `name{labels…}`, if present.
fn sample(body: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    body.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        let (set, value) = match rest.strip_prefix('{') {
            Some(r) => r.split_once("} ")?,
            None => ("", rest.strip_prefix(' ')?),
        };
        let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        let found: Vec<&str> = set.split(',').filter(|s| !s.is_empty()).collect();
        (found.len() == pairs.len() && pairs.iter().all(|p| found.contains(&p.as_str())))
            .then(|| value.trim().parse().ok())
            .flatten()
    })
}

async fn scrape(app: &TestApp) -> String {
    reqwest::get(format!("{}/metrics", app.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Scrapes until `check` holds (the event counters follow the log, which a
/// replica reads after the write's answer on SQLite), or fails after 5 s.
async fn scrape_until(app: &TestApp, check: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let body = scrape(app).await;
        if check(&body) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the metrics never matched:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn queue(channel: &str) -> Vec<(&'static str, &str)> {
    vec![
        ("org", "default"),
        ("project", "main"),
        ("channel", channel),
    ]
}

fn events<'a>(channel: &'a str, event: &'static str) -> Vec<(&'static str, &'a str)> {
    let mut l = queue(channel);
    l.push(("event", event));
    l
}

async fn the_queue_is_measured_per_channel(app: TestApp) {
    let w = app.actor("agent", "w1");
    let mut alpha = Vec::new();
    for i in 0..3 {
        let t = w
            .create_task(json!({ "title": format!("a{i}"), "channel": "alpha" }))
            .await;
        alpha.push(id(&t));
    }
    for (channel, n) in [("beta", 2), ("gamma", 1), ("delta", 1)] {
        for i in 0..n {
            w.create_task(json!({ "title": format!("{channel}{i}"), "channel": channel }))
                .await;
        }
    }
    // One claim whose 1 s lease runs out, one claim that completes.
    w.act(alpha[0], "claim", json!({ "lease_duration": 1_000 }))
        .await
        .expect(200);
    w.act(alpha[1], "claim", json!({})).await.expect(200);
    w.act(alpha[1], "complete", json!({ "result": {"ok": true} }))
        .await
        .expect(200);
    tokio::time::sleep(Duration::from_millis(1_300)).await;

    let body = scrape_until(&app, |b| {
        sample(
            b,
            "ats_task_events_total",
            &events("alpha", "task.completed"),
        ) == Some(1.0)
    })
    .await;

    // Depth: alpha keeps one pending task (one in progress, one done);
    // the fourth series by depth (gamma, after delta by name) is `_other`.
    let pending = |channel: &str| sample(&body, "ats_queue_pending", &queue(channel));
    assert_eq!(pending("alpha"), Some(1.0), "{body}");
    assert_eq!(pending("beta"), Some(2.0), "{body}");
    assert_eq!(pending("delta"), Some(1.0), "{body}");
    assert_eq!(pending("gamma"), None, "{body}");
    let other = [
        ("org", "_other"),
        ("project", "_other"),
        ("channel", "_other"),
    ];
    assert_eq!(
        sample(&body, "ats_queue_pending", &other),
        Some(1.0),
        "{body}"
    );

    // Age: alpha's remaining task was created before beta's.
    let age = |channel: &str| {
        sample(
            &body,
            "ats_queue_oldest_pending_age_seconds",
            &queue(channel),
        )
        .unwrap()
    };
    assert!(age("beta") >= 1.3 && age("beta") < 60.0, "{body}");
    assert!(age("alpha") >= age("beta"), "{body}");

    // Events, counted from the log: the first three series seen keep their
    // names (alpha, beta, gamma), delta's event counts as `_other`.
    let count = |channel: &str, event: &'static str| {
        sample(&body, "ats_task_events_total", &events(channel, event))
    };
    assert_eq!(count("alpha", "task.created"), Some(3.0), "{body}");
    assert_eq!(count("alpha", "task.claimed"), Some(2.0), "{body}");
    assert_eq!(count("beta", "task.created"), Some(2.0), "{body}");
    assert_eq!(count("gamma", "task.created"), Some(1.0), "{body}");
    assert_eq!(count("delta", "task.created"), None, "{body}");
    let mut other_created = other.to_vec();
    other_created.push(("event", "task.created"));
    assert_eq!(
        sample(&body, "ats_task_events_total", &other_created),
        Some(1.0),
        "{body}"
    );
    let delivered = sample(&body, "ats_event_delivery_lag_seconds_count", &[]).unwrap();
    assert!(delivered >= 10.0, "{body}");

    // The expired lease has waited for the reaper since it ran out.
    let lag = sample(&body, "ats_reaper_lag_seconds", &[]).unwrap();
    assert!((0.2..60.0).contains(&lag), "{body}");

    // Once the pending tasks are claimed, their series disappear.
    for _ in 0..5 {
        w.post("/tasks/claim-next", json!({})).await.expect(200);
    }
    let body = scrape(&app).await;
    assert_eq!(
        sample(&body, "ats_queue_pending", &queue("beta")),
        None,
        "{body}"
    );
    assert!(
        sample(&body, "ats_queue_pending", &queue("alpha")).is_none(),
        "{body}"
    );
}
