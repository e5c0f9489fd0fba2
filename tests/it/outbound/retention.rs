//! Retention of the outbound tables (`ROW_RULES`): webhook deliveries go
//! after `ATS_RETAIN_WEBHOOK_DELIVERIES` (30 days), audit records after
//! `ATS_RETAIN_AUDIT` (365 days); younger ones stay.

use serde_json::json;

use crate::common::retention::{BATCH, INTERVAL_MS, metric_at};
use crate::common::sql::{Sql, days_ago};
use crate::common::{Backend, Role, TestApp};

crate::on_both_backends!(
    start = crate::outbound::retention::pruning;
    old_deliveries_and_audit_records_are_pruned,
);

/// A pruning server (every 50 ms) that takes loopback webhooks.
pub async fn pruning(backend: Backend) -> Option<TestApp> {
    TestApp::start_with(backend, |c| {
        c.retention_interval_ms = INTERVAL_MS;
        c.retention_batch = BATCH;
        c.webhook_allow_http = true;
        c.webhook_allow_private = true;
    })
    .await
}

async fn old_deliveries_and_audit_records_are_pruned(app: TestApp) {
    let olga = app
        .user("olga")
        .in_org("acme", Role::Owner)
        .with_project("web")
        .await;
    let sql = Sql::open(&app).await;
    olga.post(
        "/orgs/acme/webhooks",
        json!({ "url": "http://127.0.0.1:9/nobody", "events": ["task.created"] }),
    )
    .await
    .expect(201);
    for title in ["a", "b"] {
        olga.post("/orgs/acme/projects/web/tasks", json!({ "title": title }))
            .await
            .expect(201);
    }
    sql.wait_until("both deliveries to be queued", || async {
        sql.int("SELECT COUNT(*) AS n FROM webhook_deliveries", vec![])
            .await
            == 2
    })
    .await;
    let audit_rows = sql.int("SELECT COUNT(*) AS n FROM audit_log", vec![]).await;
    assert!(audit_rows >= 2, "{audit_rows}");
    let oldest_delivery = sql
        .int("SELECT MIN(id) AS n FROM webhook_deliveries", vec![])
        .await;
    let oldest_audit = sql.int("SELECT MIN(id) AS n FROM audit_log", vec![]).await;
    sql.exec(
        "UPDATE webhook_deliveries SET created_at = $1 WHERE id = $2",
        vec![days_ago(31).into(), oldest_delivery.into()],
    )
    .await;
    // 364 days: stays; 366 days: goes.
    sql.exec(
        "UPDATE audit_log SET created_at = $1 WHERE id = $2",
        vec![days_ago(366).into(), oldest_audit.into()],
    )
    .await;
    sql.exec(
        "UPDATE audit_log SET created_at = $1 WHERE id = $2",
        vec![days_ago(364).into(), (oldest_audit + 1).into()],
    )
    .await;
    sql.wait_until("the old delivery and audit record to go", || async {
        sql.int("SELECT COUNT(*) AS n FROM webhook_deliveries", vec![])
            .await
            == 1
            && sql.int("SELECT COUNT(*) AS n FROM audit_log", vec![]).await == audit_rows - 1
    })
    .await;
    for (table, id) in [
        ("webhook_deliveries", oldest_delivery),
        ("audit_log", oldest_audit),
    ] {
        let left = sql
            .int(
                &format!("SELECT COUNT(*) AS n FROM {table} WHERE id = $1"),
                vec![id.into()],
            )
            .await;
        assert_eq!(left, 0, "{table}");
        assert_eq!(
            metric_at(
                &app.base,
                &format!(r#"ats_retention_deleted_rows_total{{table="{table}"}}"#)
            )
            .await,
            1
        );
    }
}
